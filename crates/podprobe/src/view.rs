//! `podprobe view`: everything a container's process sees of its
//! confinement, as one JSON object, normalised so that two runtimes can be
//! compared: ids, groups, capability sets, no_new_privs, seccomp mode and
//! what chosen syscalls return, rlimits, umask, OOM score, the mount table
//! (no mount ids or devices), masked and read-only paths, /dev, sysctls,
//! hostname, cwd, environment, open file descriptors and the session
//! keyring.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use serde_json::{json, Value};

pub fn view() -> Value {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    env.sort();
    // Read before the probes, which may change what they look at.
    let fds = open_fds();
    json!({
        "uid": field("Uid"),
        "gid": field("Gid"),
        "groups": field("Groups"),
        "umask": field("Umask"),
        "cap_inh": field("CapInh"),
        "cap_prm": field("CapPrm"),
        "cap_eff": field("CapEff"),
        "cap_bnd": field("CapBnd"),
        "cap_amb": field("CapAmb"),
        "no_new_privs": field("NoNewPrivs"),
        "seccomp": field("Seccomp"),
        "oom_score_adj": read_trim("/proc/self/oom_score_adj"),
        "rlimits": rlimits(),
        "hostname": read_trim("/proc/sys/kernel/hostname"),
        "domainname": read_trim("/proc/sys/kernel/domainname"),
        "cwd": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "env": env,
        "fds": fds,
        "mounts": mounts(),
        "masked": masked(),
        "readonly": readonly(),
        "dev": devices("/dev"),
        "dev_pts": devices("/dev/pts"),
        "sysctl": sysctls(),
        "cgroup": read_trim("/proc/self/cgroup"),
        "session_keyring": podshim_sys::keyring::session_description()
            .unwrap_or_else(|| "none".into()),
        "syscalls": probes(),
    })
}

fn read_trim(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("error: {}", errno_name(&e)))
}

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("{}", nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}

fn rlimits() -> Vec<String> {
    fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// fd -> what it is, with the kernel's object numbers left out.
fn open_fds() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(target) = fs::read_link(e.path()) else {
            continue; // the directory being listed, closed already
        };
        let t = target.to_string_lossy().into_owned();
        let t = match t.split_once(":[") {
            Some((kind, _)) => kind.to_string(),
            None => t,
        };
        out.insert(name, t);
    }
    out
}

/// /proc/self/mountinfo without ids and devices: mount point, root within
/// its filesystem, type, source, per-mount and filesystem options, and
/// propagation.
fn mounts() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (left, right) = l.split_once(" - ").unwrap_or((l, ""));
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let prop: Vec<&str> = f
                .iter()
                .skip(6)
                .map(|t| t.split(':').next().unwrap_or(""))
                .collect();
            let prop = if prop.is_empty() {
                "private".to_string()
            } else {
                prop.join(",")
            };
            format!(
                "{} root={} {} src={} opts={} super={} {}",
                f.get(4).unwrap_or(&""),
                f.get(3).unwrap_or(&""),
                r.first().unwrap_or(&""),
                r.get(1).unwrap_or(&""),
                f.get(5).unwrap_or(&""),
                r.get(2).unwrap_or(&""),
                prop
            )
        })
        .collect()
}

const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// What reading each usually masked path gives: its kind and whether it
/// has content.
fn masked() -> BTreeMap<String, String> {
    MASKED
        .iter()
        .map(|p| {
            let what = match fs::metadata(p) {
                Err(e) => format!("error: {}", errno_name(&e)),
                Ok(m) if m.is_dir() => match fs::read_dir(p) {
                    Ok(d) => format!("dir with {} entries", d.count()),
                    Err(e) => format!("dir error: {}", errno_name(&e)),
                },
                Ok(m) if m.file_type().is_char_device() => {
                    format!("char {}:{}", major(m.rdev()), minor(m.rdev()))
                }
                Ok(_) => {
                    let mut buf = [0u8; 1];
                    match fs::File::open(p).and_then(|mut f| std::io::Read::read(&mut f, &mut buf))
                    {
                        Ok(0) => "file, empty".to_string(),
                        Ok(_) => "file with data".to_string(),
                        Err(e) => format!("file error: {}", errno_name(&e)),
                    }
                }
            };
            (p.to_string(), what)
        })
        .collect()
}

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/sys/kernel/domainname",
];

/// Whether each usually read-only path can be opened for writing.
fn readonly() -> BTreeMap<String, String> {
    READONLY
        .iter()
        .map(|p| {
            let target = if fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false) {
                // A directory: try a file in it.
                fs::read_dir(p)
                    .ok()
                    .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.path().is_file())))
                    .map(|e| e.path())
            } else {
                Some(std::path::PathBuf::from(p))
            };
            let what = match target {
                None => "no file".to_string(),
                Some(t) => match fs::OpenOptions::new().write(true).open(&t) {
                    Ok(_) => "writable".to_string(),
                    Err(e) => format!("not writable: {}", errno_name(&e)),
                },
            };
            (p.to_string(), what)
        })
        .collect()
}

fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// The entries of a /dev directory: kind, device numbers, mode and owner,
/// symlink targets.
fn devices(dir: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(m) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        let t = m.file_type();
        let what = if t.is_symlink() {
            format!(
                "link -> {}",
                fs::read_link(e.path()).unwrap_or_default().display()
            )
        } else {
            let kind = if t.is_char_device() {
                format!("char {}:{}", major(m.rdev()), minor(m.rdev()))
            } else if t.is_block_device() {
                format!("block {}:{}", major(m.rdev()), minor(m.rdev()))
            } else if t.is_dir() {
                "dir".to_string()
            } else if t.is_fifo() {
                "fifo".to_string()
            } else if t.is_socket() {
                "socket".to_string()
            } else {
                "file".to_string()
            };
            format!("{kind} {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid())
        };
        out.insert(name, what);
    }
    out
}

const SYSCTLS: &[&str] = &[
    "kernel/shmmax",
    "kernel/msgmax",
    "kernel/domainname",
    "net/core/somaxconn",
    "net/ipv4/ip_forward",
    "net/ipv4/ip_unprivileged_port_start",
    "net/ipv4/ping_group_range",
];

fn sysctls() -> BTreeMap<String, String> {
    SYSCTLS
        .iter()
        .map(|k| (k.replace('/', "."), read_trim(&format!("/proc/sys/{k}"))))
        .collect()
}

/// What a few syscalls a seccomp profile or the capabilities may deny
/// return: "ok" or the errno.
fn probes() -> BTreeMap<&'static str, String> {
    use nix::sys::personality::{self, Persona};
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use nix::sys::stat::{mknod, Mode, SFlag};
    let show = |r: Result<(), nix::errno::Errno>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{e}"),
    };
    let mut out = BTreeMap::new();
    out.insert("personality_query", show(personality::get().map(|_| ())));
    out.insert(
        "personality_linux32",
        show(personality::set(Persona::from_bits_retain(0x0008)).map(|_| ())),
    );
    let dir = format!("/tmp/podprobe-{}", std::process::id());
    out.insert(
        "mkdir_tmp",
        show(nix::unistd::mkdir(
            dir.as_str(),
            Mode::from_bits_truncate(0o700),
        )),
    );
    let _ = fs::remove_dir(&dir);
    let node = format!("/tmp/podprobe-null-{}", std::process::id());
    out.insert(
        "mknod_null",
        show(mknod(
            node.as_str(),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(1, 3),
        )),
    );
    let _ = fs::remove_file(&node);
    // An attacker with CAP_MKNOD: a node of the host's first loop disk, and
    // an open of it where the node could be made (in /dev: /tmp is nodev).
    let disk = format!("/dev/podprobe-disk-{}", std::process::id());
    let made = mknod(
        disk.as_str(),
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(7, 0),
    );
    out.insert("mknod_disk", show(made));
    if made.is_ok() {
        out.insert(
            "open_disk",
            show(
                fs::File::open(&disk)
                    .map(drop)
                    .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))),
            ),
        );
        let _ = fs::remove_file(&disk);
    }
    let sock =
        |family| show(socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map(drop));
    out.insert("socket_inet", sock(AddressFamily::Inet));
    out.insert("socket_unix", sock(AddressFamily::Unix));
    out.insert("chroot", show(nix::unistd::chroot("/")));
    out.insert("getcwd", show(nix::unistd::getcwd().map(drop)));
    out
}
