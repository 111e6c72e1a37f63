//! The last steps of a container's pid 1 before execve: rlimits, OOM score,
//! working directory, umask, user and groups, capabilities,
//! no_new_privs, the seccomp filter, environment, and the lookup of argv[0]
//! on the spec's PATH.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{LinuxSeccomp, PosixRlimitType, Process};

use crate::caps::{self, CapSets};
use crate::error::SysError;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Applies `process` to the calling process, confines it with `seccomp`,
/// and executes it. Returns only on failure.
pub fn exec(process: &Process, seccomp: Option<&LinuxSeccomp>) -> SysError {
    match prepare_and_exec(process, seccomp) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn prepare_and_exec(
    p: &Process,
    seccomp: Option<&LinuxSeccomp>,
) -> Result<std::convert::Infallible, SysError> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(SysError::spec("process.args", "empty: nothing to run"));
    }
    let filter = seccomp.map(crate::seccomp::compile).transpose()?;
    let no_new_privs = p.no_new_privileges().unwrap_or(false);
    // Without no_new_privs loading needs CAP_SYS_ADMIN, so it comes before
    // the user and capabilities change (the profile must allow what
    // follows, as with runc); with it, as late as possible.
    if let (Some(f), false) = (&filter, no_new_privs) {
        f.load()?;
    }
    let env: Vec<String> = p.env().clone().unwrap_or_default();
    let argv: Vec<CString> = args
        .iter()
        .map(|a| cstring("process.args", a))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env
        .iter()
        .map(|e| cstring("process.env", e))
        .collect::<Result<_, _>>()?;

    for rl in p.rlimits().iter().flatten() {
        let res = rlimit_resource(rl.typ());
        setrlimit(res, rl.soft(), rl.hard())
            .map_err(|e| SysError::os("setrlimit", format!("{:?}", rl.typ()), e))?;
    }
    if let Some(adj) = p.oom_score_adj() {
        set_oom_score_adj(adj)?;
    }
    let cwd = p.cwd();
    nix::unistd::chdir(cwd.as_path())
        .map_err(|e| SysError::os("chdir", format!("process.cwd {}", cwd.display()), e))?;

    let user = p.user();
    if let Some(m) = user.umask() {
        umask(Mode::from_bits_truncate(m));
    }
    // No capabilities object means none at all, as runc reads it.
    let capsets = match p.capabilities() {
        Some(c) => {
            let names = |s: &Option<oci_spec::runtime::Capabilities>| -> Vec<String> {
                s.iter().flatten().map(|c| c.to_string()).collect()
            };
            let m =
                |field: &str, v: Vec<String>| caps::mask_of(field, v.iter().map(|s| s.as_str()));
            CapSets {
                bounding: m("process.capabilities.bounding", names(c.bounding()))?,
                effective: m("process.capabilities.effective", names(c.effective()))?,
                permitted: m("process.capabilities.permitted", names(c.permitted()))?,
                inheritable: m("process.capabilities.inheritable", names(c.inheritable()))?,
                ambient: m("process.capabilities.ambient", names(c.ambient()))?,
            }
        }
        None => CapSets::default(),
    };
    caps::limit_bounding(capsets.bounding)?;
    give_stdio_to(user.uid());
    nix::sys::prctl::set_keepcaps(true).map_err(|e| SysError::os("prctl", "PR_SET_KEEPCAPS", e))?;
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&gids).map_err(|e| SysError::os("setgroups", format!("{gids:?}"), e))?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(|e| SysError::os("setresgid", user.gid(), e))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| SysError::os("setresuid", user.uid(), e))?;
    caps::apply(&capsets)?;
    nix::sys::prctl::set_keepcaps(false)
        .map_err(|e| SysError::os("prctl", "PR_SET_KEEPCAPS", e))?;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| SysError::os("prctl", "PR_SET_NO_NEW_PRIVS", e))?;
        if let Some(f) = &filter {
            f.load()?;
        }
    }

    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let program = find_program(&args[0], path_var).ok_or_else(|| {
        SysError::spec(
            "process.args",
            format!("{:?}: executable file not found in $PATH", args[0]),
        )
    })?;
    let program = cstring("process.args", &program.to_string_lossy())?;
    nix::unistd::execve(&program, &argv, &envp)
        .map_err(|e| SysError::os("exec", format!("{:?}", args[0]), e))
}

/// As runc does before it changes user: stdin, stdout and stderr become
/// the process user's (the uid only; the group stays), unless they are
/// /dev/null or already its, so a process that is not root can reopen
/// /dev/stdout (a FIFO or pipe only root could open otherwise). Where the
/// kernel says no (an owner not mapped in the user namespace, a seccomp
/// profile, a read-only /dev), the descriptor is left as it is.
fn give_stdio_to(uid: u32) {
    use nix::sys::stat::{fstat, stat, SFlag};
    let null = stat("/dev/null").ok().map(|s| s.st_rdev);
    for fd in 0..=2 {
        let Ok(st) = fstat(fd) else { continue };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let is_null = kind == SFlag::S_IFCHR && Some(st.st_rdev) == null;
        if st.st_uid == uid || is_null {
            continue;
        }
        let _ = nix::unistd::fchown(fd, Some(Uid::from_raw(uid)), None);
    }
}

fn cstring(field: &str, s: &str) -> Result<CString, SysError> {
    CString::new(s).map_err(|_| SysError::spec(field, format!("{s:?} contains a NUL byte")))
}

/// Where `name` is found: as given when it holds a `/`, else the first
/// executable regular file on `path`.
/// The process's program, looked up in the container's root (after
/// pivot_root) as execve will find it: through the spec's PATH, or as the
/// path it is, relative to process.cwd. Done before the init reports ready,
/// so a missing program fails the Create, as runc's does.
pub fn check_program(p: &Process) -> Result<(), SysError> {
    let args = p.args().clone().unwrap_or_default();
    let Some(name) = args.first() else {
        return Err(SysError::spec("process.args", "empty: nothing to run"));
    };
    let env = p.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    if !name.contains('/') {
        return match find_program(name, path_var) {
            Some(_) => Ok(()),
            None => Err(SysError::spec(
                "process.args",
                format!("{name:?}: executable file not found in $PATH ({path_var})"),
            )),
        };
    }
    let full = p.cwd().join(name);
    match std::fs::metadata(&full) {
        Ok(m) if m.is_dir() => Err(SysError::spec(
            "process.args",
            format!("{name:?}: is a directory"),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(SysError::spec("process.args", format!("{name:?}: {e}"))),
    }
}

pub fn find_program(name: &str, path: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Writes the OOM score. A value below the shim's own needs
/// CAP_SYS_RESOURCE; without it the value is raised to the shim's own, as
/// containerd's restrict_oom_score_adj does.
fn set_oom_score_adj(adj: i32) -> Result<(), SysError> {
    let path = "/proc/self/oom_score_adj";
    match std::fs::write(path, adj.to_string()) {
        Ok(()) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EACCES) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            let own = std::fs::read_to_string(path).map_err(|e| SysError::io("read", path, e))?;
            let own: i32 = own.trim().parse().unwrap_or(0);
            if adj >= own {
                return Err(SysError::io("write", path, e));
            }
            Ok(())
        }
        Err(e) => Err(SysError::io("write", path, e)),
    }
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_lookup_follows_path() {
        assert_eq!(find_program("/bin/sh", ""), Some(PathBuf::from("/bin/sh")));
        assert_eq!(
            find_program("sh", "/nonexistent:/bin"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_program("no-such-program-here", DEFAULT_PATH), None);
    }
}
