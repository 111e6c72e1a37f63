//! Starting podshim's own children (the shim daemon, `pause`, `init`,
//! `exec`) through glibc's posix_spawn, which clones with CLONE_VM and
//! CLONE_VFORK: nothing of the parent is copied and it waits only for the
//! exec. A fork waiting for the exec, as std's spawn does when it has
//! work to run in the child, took 0.57 ms from a process with the shim's
//! 5 MiB of memory against 0.11 ms for posix_spawn (this VM, median of
//! 200), and a pod's start has one per task.
//!
//! posix_spawn places descriptors, sets the session, the directory, the
//! signal mask and SIGPIPE's disposition, but no resource limit: the
//! child, being this binary, puts back the RLIMIT_NOFILE its parent
//! started with itself, first thing ([`restore_nofile`], told by
//! [`NOFILE_ENV`]). Programs that are not podshim's go through
//! [`spawn::spawn`](crate::spawn::spawn).

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::error::SysError;
use crate::spawn::{started_nofile, Reexec};

/// The variable that carries a re-executed child's RLIMIT_NOFILE,
/// `soft:hard`.
pub const NOFILE_ENV: &str = "PODSHIM_NOFILE";

/// Starts `r` and returns its pid once it has executed (an exec that
/// fails is this call's error). The caller opens a pidfd and is its only
/// waiter.
pub fn spawn_own(r: Reexec<'_>) -> Result<i32, SysError> {
    let c = |s: &[u8], what: &str| {
        CString::new(s)
            .map_err(|_| SysError::io("spawn", what, std::io::ErrorKind::InvalidInput.into()))
    };
    let exe = c(r.exe.as_bytes(), r.exe)?;
    let mut argv = vec![c(r.arg0.as_bytes(), "argv[0]")?];
    for a in &r.args {
        argv.push(c(a.as_bytes(), a)?);
    }
    let mut given: Vec<(OsString, OsString)> =
        r.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
    if let Some((soft, hard)) = started_nofile() {
        given.push((NOFILE_ENV.into(), format!("{soft}:{hard}").into()));
    }
    let inherited: Vec<(OsString, OsString)> = (!r.env_clear)
        .then(std::env::vars_os)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !given.iter().any(|(n, _)| n == k))
        .collect();
    let mut envp = Vec::new();
    for (k, v) in inherited.into_iter().chain(given) {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        envp.push(c(&kv, "environment")?);
    }
    let cwd = r.cwd.map(|d| c(d.as_bytes(), d)).transpose()?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| SysError::io("open", "/dev/null", e))?;
    let stdio = |fd: &Option<OwnedFd>| fd.as_ref().map_or(null.as_raw_fd(), |f| f.as_raw_fd());
    let mut moves: Vec<(RawFd, RawFd)> = vec![
        (stdio(&r.stdio.stdin), 0),
        (stdio(&r.stdio.stdout), 1),
        (stdio(&r.stdio.stderr), 2),
    ];
    moves.extend(r.fds.iter().copied());
    // The child's dup2s run in order: a source numbered like a target
    // could be overwritten before its turn, so a source below the highest
    // target is first copied above it (copies closed when this returns).
    // The shim's own sources are all above (its fds 0-3 are taken), so it
    // pays nothing for this.
    let above = moves.iter().map(|&(_, dst)| dst).max().unwrap_or(2) + 1;
    let mut copies: Vec<OwnedFd> = Vec::new();
    for m in moves.iter_mut().filter(|m| m.0 < above) {
        let high = nix::fcntl::fcntl(m.0, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(above))
            .map_err(|e| SysError::os("fcntl", "F_DUPFD_CLOEXEC", e))?;
        // SAFETY: fcntl just returned this new descriptor; nothing else
        // owns it.
        copies.push(unsafe { OwnedFd::from_raw_fd(high) });
        m.0 = high;
    }
    let ptrs = |v: &[CString]| -> Vec<*mut libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr() as *mut libc::c_char)
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect()
    };
    let (argv_p, envp_p) = (ptrs(&argv), ptrs(&envp));
    let mut actions = Actions::new()?;
    for &(src, dst) in &moves {
        actions.dup2(src, dst)?;
    }
    if let Some(dir) = &cwd {
        actions.chdir(dir)?;
    }
    let attrs = Attrs::new(r.setsid)?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is to a live value of the type posix_spawn
    // takes: the initialised actions and attributes, the NUL-terminated
    // path, and argv and envp as NULL-terminated arrays of C strings that
    // outlive the call. posix_spawn reads them and writes only `pid`.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            &actions.0,
            &attrs.0,
            argv_p.as_ptr(),
            envp_p.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(SysError::io(
            "posix_spawn",
            r.exe,
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    Ok(pid)
}

/// Puts back the RLIMIT_NOFILE that [`NOFILE_ENV`] carries, never above
/// what this process may have now, and drops the variable. Call it first
/// thing in a re-executed child, while it has one thread.
pub fn restore_nofile() {
    let Some(value) = std::env::var_os(NOFILE_ENV) else {
        return;
    };
    std::env::remove_var(NOFILE_ENV);
    let value = value.to_string_lossy();
    let Some((soft, hard)) = value.split_once(':') else {
        return;
    };
    let (Ok(soft), Ok(hard)) = (soft.parse::<u64>(), hard.parse::<u64>()) else {
        return;
    };
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, now)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, soft.min(now), hard.min(now));
    }
}

/// posix_spawn's file actions, destroyed on drop.
struct Actions(libc::posix_spawn_file_actions_t);

impl Actions {
    fn new() -> Result<Actions, SysError> {
        // SAFETY: an all-zero posix_spawn_file_actions_t is a valid value
        // to pass to its init function, which is what follows.
        let mut a = Actions(unsafe { std::mem::zeroed() });
        // SAFETY: `a.0` is a live, exclusively borrowed actions object.
        check("posix_spawn_file_actions_init", unsafe {
            libc::posix_spawn_file_actions_init(&mut a.0)
        })?;
        Ok(a)
    }

    fn dup2(&mut self, src: RawFd, dst: RawFd) -> Result<(), SysError> {
        // SAFETY: the actions object was initialised in `new`.
        check("posix_spawn_file_actions_adddup2", unsafe {
            libc::posix_spawn_file_actions_adddup2(&mut self.0, src, dst)
        })
    }

    fn chdir(&mut self, dir: &CString) -> Result<(), SysError> {
        // SAFETY: the actions object was initialised in `new`; glibc
        // copies the NUL-terminated path.
        check("posix_spawn_file_actions_addchdir_np", unsafe {
            libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr())
        })
    }
}

impl Drop for Actions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` and destroyed once, here.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.0);
        }
    }
}

/// posix_spawn's attributes: no signal blocked, SIGPIPE at its default
/// (as std's spawn leaves a child), a new session when asked.
struct Attrs(libc::posix_spawnattr_t);

impl Attrs {
    fn new(setsid: bool) -> Result<Attrs, SysError> {
        // SAFETY: an all-zero posix_spawnattr_t is a valid value to pass
        // to its init function, which is what follows.
        let mut a = Attrs(unsafe { std::mem::zeroed() });
        // SAFETY: `a.0` is a live, exclusively borrowed attributes object.
        check("posix_spawnattr_init", unsafe {
            libc::posix_spawnattr_init(&mut a.0)
        })?;
        let mut flags =
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        if setsid {
            flags |= libc::POSIX_SPAWN_SETSID;
        }
        // SAFETY: the sets are live sigset_t values made empty by
        // sigemptyset before use; the attributes were initialised above
        // and glibc copies what it is given.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            check(
                "posix_spawnattr_setsigmask",
                libc::posix_spawnattr_setsigmask(&mut a.0, &none),
            )?;
            check(
                "posix_spawnattr_setsigdefault",
                libc::posix_spawnattr_setsigdefault(&mut a.0, &pipe),
            )?;
            check(
                "posix_spawnattr_setflags",
                libc::posix_spawnattr_setflags(&mut a.0, flags),
            )?;
        }
        Ok(a)
    }
}

impl Drop for Attrs {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` and destroyed once, here.
        unsafe {
            libc::posix_spawnattr_destroy(&mut self.0);
        }
    }
}

fn check(op: &'static str, rc: libc::c_int) -> Result<(), SysError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SysError::io(
            op,
            "posix_spawn",
            std::io::Error::from_raw_os_error(rc),
        ))
    }
}
