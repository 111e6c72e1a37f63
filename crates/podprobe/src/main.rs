//! podprobe: copied into sample and test rootfs, it reports what the
//! container sees, for tests and for people checking a pod by hand.
//!
//! ```text
//! podprobe report              JSON: pid, ppid, hostname, uid/gid, namespace inodes, cwd, caps
//! podprobe view                JSON: everything the container's confinement shows (see view.rs)
//! podprobe shm-write KEY TEXT  make a SysV shared memory segment KEY holding TEXT
//! podprobe shm-read KEY [SECS] print segment KEY's text, waiting up to SECS for a filled one
//! podprobe exe-watch SECS      try to write every other process's binary (see attack.rs)
//! podprobe exchange A B SECS   swap two names in a loop (see attack.rs)
//! ```

mod attack;
mod view;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("report") | None => {
            println!("{}", report());
            Ok(())
        }
        Some("view") => {
            println!("{}", view::view());
            Ok(())
        }
        Some("shm-write") if args.len() == 3 => shm_write(&args[1], &args[2]),
        Some("shm-read") if args.len() >= 2 => {
            let secs = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0u64);
            shm_read(&args[1], Duration::from_secs(secs)).map(|t| println!("{t}"))
        }
        Some("alloc") if args.len() >= 2 => alloc(&args[1], args.get(2).map(String::as_str)),
        Some("lines") if args.len() == 2 => lines(&args[1]),
        Some("bigline") if args.len() == 2 => bigline(&args[1]),
        Some("exe-watch") if args.len() == 2 => secs(&args[1]).and_then(attack::exe_watch),
        Some("exchange") if args.len() == 4 => secs(&args[3]).and_then(|t| attack::exchange(&args[1], &args[2], t)),
        _ => Err(
            "usage: podprobe report | view | shm-write KEY TEXT | shm-read KEY [SECS] | alloc MIB [--hold] | lines N | bigline BYTES | exe-watch SECS | exchange A B SECS"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podprobe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn status_field(name: &str) -> String {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_default()
}

fn report() -> String {
    let ns: Vec<String> = ["net", "ipc", "uts", "pid", "mnt", "user", "cgroup"]
        .iter()
        .map(|k| {
            let ino = fs::metadata(format!("/proc/self/ns/{k}"))
                .map(|m| m.ino())
                .unwrap_or(0);
            format!("{}:{ino}", json_str(k))
        })
        .collect();
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let fds = fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    format!(
        "{{\"pid\":{},\"ppid\":{},\"hostname\":{},\"uid\":{},\"gid\":{},\"cwd\":{},\"ns\":{{{}}},\"cap_eff\":{},\"open_fds\":{}}}",
        std::process::id(),
        std::os::unix::process::parent_id(),
        json_str(hostname.trim()),
        json_str(&status_field("Uid")),
        json_str(&status_field("Gid")),
        json_str(&cwd),
        ns.join(","),
        json_str(&status_field("CapEff")),
        fds
    )
}

fn parse_key(k: &str) -> Result<i32, String> {
    k.parse().map_err(|_| format!("key {k:?} is not a number"))
}

fn shm_write(key: &str, text: &str) -> Result<(), String> {
    podshim_sys::shm::write_text(parse_key(key)?, text).map_err(|e| e.to_string())
}

fn shm_read(key: &str, wait: Duration) -> Result<String, String> {
    let key = parse_key(key)?;
    let deadline = Instant::now() + wait;
    loop {
        // A segment still empty is one its writer has made and not yet
        // filled (shmget, then the copy): not there yet.
        let text = podshim_sys::shm::read_text(key).map_err(|e| e.to_string())?;
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            return Ok(t);
        }
        if Instant::now() >= deadline {
            return Err(format!("no shared memory segment with key {key}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Allocates and touches MIB mebibytes, one page at a time, printing the
/// total after each MiB; with `--hold`, keeps it and sleeps forever.
fn alloc(mib: &str, hold: Option<&str>) -> Result<(), String> {
    let mib: usize = mib
        .parse()
        .map_err(|_| format!("alloc: {mib:?} is not a number"))?;
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for i in 1..=mib {
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        kept.push(chunk);
        println!("allocated {i} MiB");
    }
    if hold == Some("--hold") {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    drop(kept);
    Ok(())
}

/// Writes N lines, alternating stdout (`out <i>`) and stderr (`err <i>`).
fn lines(n: &str) -> Result<(), String> {
    use std::io::Write;
    let n: u64 = n
        .parse()
        .map_err(|_| format!("lines: {n:?} is not a number"))?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for i in 0..n {
        let r = if i % 2 == 0 {
            writeln!(out, "out {i} the quick brown fox").and_then(|()| out.flush())
        } else {
            writeln!(err, "err {i} jumps over the lazy dog")
        };
        r.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes BYTES of `x` to stdout with no newline.
fn bigline(n: &str) -> Result<(), String> {
    use std::io::Write;
    let n: usize = n
        .parse()
        .map_err(|_| format!("bigline: {n:?} is not a number"))?;
    std::io::stdout()
        .lock()
        .write_all(&vec![b'x'; n])
        .map_err(|e| e.to_string())
}

fn secs(s: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))
}
