//! Waiting for children. Every process the shim starts has exactly one
//! waiter: a task on its own pidfd ([`wait_exit`]). The shim is also a child
//! subreaper, so orphans of containers that have no pid namespace of their
//! own land here; [`reap_orphans`] reaps those, and only those: a pid in
//! the tracked set belongs to its pidfd waiter and is never touched.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;

use crate::error::{Result, ShimError};

/// Pids with a waiter of their own (or about to get one).
static TRACKED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn tracked() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    TRACKED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks `pid` as having its own waiter. Called as soon as the pid is
/// known, before any await, so the orphan reaper never takes it.
pub fn track(pid: i32) {
    tracked().insert(pid);
}

/// The pid a pidfd refers to, from /proc/self/fdinfo.
fn pid_of(pidfd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))?
        .trim()
        .parse()
        .ok()
}

/// Resolves when the process behind `pidfd` has exited, reaping it and
/// giving its exit code (128 + signal when killed).
pub async fn wait_exit(pidfd: OwnedFd) -> Result<i32> {
    let pid = pid_of(&pidfd);
    if let Some(p) = pid {
        track(p);
    }
    // The safe constructor is deprecated because a borrowed raw fd could be
    // closed while registered; an OwnedFd moved in cannot be, and the
    // replacement (`register`) is an unsafe fn we keep out of this crate.
    #[allow(deprecated)]
    let afd = AsyncFd::new(pidfd).map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
    let code = loop {
        if let Some(code) = podshim_sys::proc::try_reap(afd.get_ref())? {
            break code;
        }
        let mut guard = afd
            .readable()
            .await
            .map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
        guard.clear_ready();
    };
    if let Some(p) = pid {
        tracked().remove(&p);
    }
    Ok(code)
}

/// Resolves when a process that is not the shim's child (one a crashed
/// shim left, now reaped by whoever adopted it) has exited: its exit code
/// when the kernel keeps it for pidfds (Linux 6.15+), else None.
pub async fn wait_foreign(pidfd: OwnedFd) -> Result<Option<i32>> {
    // See wait_exit for why the deprecated constructor is used.
    #[allow(deprecated)]
    let afd = AsyncFd::new(pidfd).map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
    let _ = afd
        .readable()
        .await
        .map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
    // Exited; the code is there once the adopter has reaped it.
    for _ in 0..100 {
        if let Some(code) = podshim_sys::proc::foreign_exit_code(afd.get_ref()) {
            return Ok(Some(code));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(None)
}

/// Reaps every exited child of the shim that no waiter tracks.
pub fn reap_orphans() {
    let untracked: Vec<i32> = {
        let t = tracked();
        podshim_sys::proc::children_of_self()
            .into_iter()
            .filter(|p| !t.contains(p))
            .collect()
    };
    for pid in untracked {
        podshim_sys::proc::reap_if_zombie(pid);
    }
}

/// Runs [`reap_orphans`] on every SIGCHLD, for the life of the shim.
pub fn spawn_orphan_reaper() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigchld =
        signal(SignalKind::child()).map_err(|e| ShimError::Internal(format!("SIGCHLD: {e}")))?;
    tokio::spawn(async move {
        while sigchld.recv().await.is_some() {
            reap_orphans();
        }
    });
    Ok(())
}
