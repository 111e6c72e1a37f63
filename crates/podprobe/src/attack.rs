//! What an attacker inside a container does, for the security tests:
//! `exe-watch` looks for other processes' binaries it can reach through
//! /proc/PID/exe and tries to write them; `exchange` swaps two names in a
//! loop (renameat2 RENAME_EXCHANGE), to race a runtime resolving a path in
//! a volume it shares.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// For `secs` seconds, every process whose exe this one can open is
/// reported once: `exe pid=P dev=D ino=I ro=BOOL write=RESULT link=L`.
pub fn exe_watch(secs: u64) -> Result<(), String> {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = BTreeSet::new();
    println!("exe-watch: started");
    while Instant::now() < deadline {
        let Ok(dir) = fs::read_dir("/proc") else {
            continue;
        };
        for e in dir.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) || seen.contains(&pid) {
                continue;
            }
            let exe = format!("/proc/{pid}/exe");
            let Ok(f) = fs::File::open(&exe) else {
                continue;
            };
            let Ok(meta) = f.metadata() else { continue };
            let link = fs::read_link(&exe)
                .map(|l| l.display().to_string())
                .unwrap_or_else(|e| format!("({e})"));
            let ro = nix::sys::statvfs::fstatvfs(&f)
                .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
                .unwrap_or(false);
            // Through the open file, as an attacker keeps it: its own
            // /proc/self/fd link reopened for writing.
            let reopen = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
            let write = match fs::OpenOptions::new().write(true).open(&reopen) {
                Ok(_) => "WRITABLE".to_string(),
                Err(e) => e
                    .raw_os_error()
                    .map(|n| nix::errno::Errno::from_raw(n).to_string())
                    .unwrap_or_else(|| e.to_string()),
            };
            println!(
                "exe pid={pid} dev={} ino={} ro={ro} write={write} link={link}",
                meta.dev(),
                meta.ino()
            );
            seen.insert(pid);
        }
    }
    println!("exe-watch: done");
    Ok(())
}

/// Swaps `a` and `b` until killed (or for `secs` seconds).
pub fn exchange(a: &str, b: &str, secs: u64) -> Result<(), String> {
    use nix::fcntl::{renameat2, RenameFlags};
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    println!("exchange: started");
    while Instant::now() < deadline {
        renameat2(None, a, None, b, RenameFlags::RENAME_EXCHANGE)
            .map_err(|e| format!("exchange {a} {b}: {e}"))?;
        n += 1;
    }
    println!("exchange: {n} swaps");
    Ok(())
}
