//! What a child is started with ([`Reexec`]: binary, arguments, stdio,
//! descriptors at fixed numbers, session, environment, directory), the
//! descriptor limit children get back, and std's fork-and-exec for
//! programs that are not podshim's (hooks, logging binaries): between fork
//! and exec that child only sets its RLIMIT_NOFILE and calls
//! dup2/fcntl/setsid, which are async-signal-safe. podshim's own children
//! are started by [`vspawn`](crate::vspawn).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::error::SysError;

/// Where a re-executed child's stdio goes.
#[derive(Debug, Default)]
pub struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// What to start.
#[derive(Debug)]
pub struct Reexec<'a> {
    /// The binary to run; usually `/proc/self/exe`.
    pub exe: &'a str,
    /// argv[0] shown in ps.
    pub arg0: &'a str,
    pub args: Vec<String>,
    pub stdio: ChildStdio,
    /// Fds placed at fixed numbers in the child: (fd, target number).
    pub fds: Vec<(RawFd, RawFd)>,
    /// Start a new session (the daemonized shim).
    pub setsid: bool,
    pub env: Vec<(String, String)>,
    /// Start from an empty environment instead of the caller's.
    pub env_clear: bool,
    pub cwd: Option<&'a str>,
}

/// RLIMIT_NOFILE as this process started with, once it raised its own
/// ([`raise_nofile_limit`]); every child gets it back, so containers and
/// hooks see the limit they would without the shim.
static STARTED_NOFILE: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

/// RLIMIT_NOFILE (soft, hard) as this process started with, when it has
/// raised its own.
pub fn started_nofile() -> Option<(u64, u64)> {
    STARTED_NOFILE.get().copied()
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (the shim
/// holds a descriptor per connection, pipe and pidfd); children are given
/// the old limits back. Returns the new soft limit.
pub fn raise_nofile_limit() -> Result<u64, SysError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| SysError::os("getrlimit", "RLIMIT_NOFILE", e))?;
    let _ = STARTED_NOFILE.set((soft, hard));
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            .map_err(|e| SysError::os("setrlimit", "RLIMIT_NOFILE", e))?;
    }
    Ok(hard)
}

/// Starts the child and returns its pid. The child is not waited for here:
/// the caller opens a pidfd and is its only waiter.
pub fn spawn(r: Reexec<'_>) -> Result<i32, SysError> {
    let mut cmd = Command::new(r.exe);
    cmd.arg0(r.arg0).args(&r.args);
    cmd.stdin(r.stdio.stdin.map(Stdio::from).unwrap_or_else(Stdio::null));
    cmd.stdout(r.stdio.stdout.map(Stdio::from).unwrap_or_else(Stdio::null));
    cmd.stderr(r.stdio.stderr.map(Stdio::from).unwrap_or_else(Stdio::null));
    if r.env_clear {
        cmd.env_clear();
    }
    for (k, v) in &r.env {
        cmd.env(k, v);
    }
    if let Some(cwd) = r.cwd {
        cmd.current_dir(cwd);
    }
    let fds = r.fds.clone();
    let setsid = r.setsid;
    let nofile = STARTED_NOFILE.get().map(|&(soft, hard)| libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    });
    // SAFETY: the closure runs between fork and exec in the child. It only
    // calls getrlimit, setrlimit, dup2, fcntl and setsid, which are
    // async-signal-safe,
    // and allocates nothing (the fd list was cloned before the fork, the
    // limit copied).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(start) = &nofile {
                // Never above what the process may have now (someone may
                // have lowered it since): lowering needs no privilege.
                let mut now = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) == 0 {
                    let l = libc::rlimit {
                        rlim_cur: start.rlim_cur.min(now.rlim_max),
                        rlim_max: start.rlim_max.min(now.rlim_max),
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            if setsid && libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &(src, dst) in &fds {
                if src == dst {
                    let flags = libc::fcntl(src, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(src, dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| SysError::io("spawn", r.exe, e))?;
    // Dropping a std Child neither waits nor kills: the pidfd owner reaps.
    Ok(child.id() as i32)
}

/// A connected socketpair for a child channel: (shim end, child end), both
/// close-on-exec (the child end is dup2'd to a fixed number in the child).
pub fn channel_pair() -> Result<(std::os::unix::net::UnixStream, OwnedFd), SysError> {
    let (a, b) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| SysError::io("socketpair", "channel", e))?;
    Ok((a, OwnedFd::from(b)))
}

/// Convenience for the fds list.
pub fn fd_at(fd: &OwnedFd, target: RawFd) -> (RawFd, RawFd) {
    (fd.as_raw_fd(), target)
}
