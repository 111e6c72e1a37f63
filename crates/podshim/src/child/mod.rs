//! The shim's children, seen from the shim: one owner for every process it
//! starts or takes over. Spawning gives a [`Child`], which holds the
//! process's pidfd and, while it lives, keeps the orphan reaper off that pid;
//! it is the process's one waiter ([`Child::wait`]). The shim is a child
//! subreaper, so orphans of containers without a pid namespace of their own
//! land here too: [`spawn_orphan_reaper`] reaps those, and only those.
//!
//! The conversations with the re-executed children are driven by one
//! handshake each: [`pause`], [`init`], [`exec`], over a typed
//! [`channel::ShimChannel`].

pub mod channel;
pub mod exec;
pub mod init;
pub mod pause;

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use podshim_sys::channel::CHILD_FD;
use podshim_sys::msg::Conversation;
use podshim_sys::spawn::{self, ChildStdio, Reexec};
use podshim_types::ProcessStamp;
use tokio::io::unix::AsyncFd;

use crate::error::{Result, ShimError};
use channel::ShimChannel;

/// The binary the children are executed from.
pub const SELF_EXE: &str = "/proc/self/exe";

/// Pids a [`Child`] owns. Private: a pid gets in only by becoming a Child
/// and out only when that Child is dropped.
static OWNED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn owned() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    OWNED.lock().unwrap_or_else(|p| p.into_inner())
}

/// One process the shim waits for: its pid and pidfd. Dropping it without
/// waiting hands the pid to the orphan reaper.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    pidfd: OwnedFd,
    /// A process of a crashed shim's, taken over: someone else reaps it.
    foreign: bool,
}

impl Child {
    /// Takes ownership of `pid`, which must be the shim's child or about to
    /// become it (a grandchild whose parent has not exited yet), so that it
    /// cannot be reaped and reused before the pidfd is open.
    pub fn adopt(pid: i32) -> Result<Child> {
        owned().insert(pid);
        match podshim_sys::proc::pidfd_open(pid) {
            Ok(pidfd) => Ok(Child {
                pid,
                pidfd,
                foreign: false,
            }),
            Err(e) => {
                owned().remove(&pid);
                Err(e.into())
            }
        }
    }

    /// A process already started with a pidfd of its own (a hook).
    pub fn from_pidfd(pid: i32, pidfd: OwnedFd) -> Child {
        owned().insert(pid);
        Child {
            pid,
            pidfd,
            foreign: false,
        }
    }

    /// A process a crashed shim left behind, if `stamp` still names it.
    pub fn take_over(stamp: &ProcessStamp) -> Option<Child> {
        if stamp.has_exited() {
            return None;
        }
        let pidfd = podshim_sys::proc::pidfd_for(stamp).ok()?;
        Some(Child {
            pid: stamp.pid,
            pidfd,
            foreign: true,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A second descriptor of the process, to signal it by.
    pub fn signaller(&self) -> Result<OwnedFd> {
        self.pidfd
            .try_clone()
            .map_err(|e| ShimError::Internal(format!("dup pidfd of {}: {e}", self.pid)))
    }

    pub fn kill(&self) {
        let _ = podshim_sys::proc::pidfd_signal(&self.pidfd, libc::SIGKILL);
    }

    /// Resolves when the process has exited, reaping it: its exit code
    /// (128 + signal when killed). For a process taken over from a crashed
    /// shim, the code when the kernel keeps it for pidfds (Linux 6.15+) once
    /// its adopter has reaped it, else `None`.
    pub async fn wait(&self) -> Result<Option<i32>> {
        let foreign = self.foreign;
        // The safe constructor is deprecated because a borrowed raw fd could
        // be closed while registered; a descriptor moved in cannot be, and
        // the replacement (`register`) is an unsafe fn kept out of this crate.
        let fd = self.signaller()?;
        #[allow(deprecated)]
        let afd = AsyncFd::new(fd).map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
        if foreign {
            let _ = afd
                .readable()
                .await
                .map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
            for _ in 0..100 {
                if let Some(code) = podshim_sys::proc::foreign_exit_code(afd.get_ref()) {
                    return Ok(Some(code));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            return Ok(None);
        }
        loop {
            if let Some(code) = podshim_sys::proc::try_reap(afd.get_ref())? {
                return Ok(Some(code));
            }
            let mut guard = afd
                .readable()
                .await
                .map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
            guard.clear_ready();
        }
    }

    /// Kills the process and waits until it is gone.
    pub async fn kill_and_wait(self) {
        self.kill();
        let _ = self.wait().await;
    }

    /// Its exit code if it exits within `d`; else it is killed.
    pub async fn exit_within(self, d: std::time::Duration) -> Option<i32> {
        match tokio::time::timeout(d, self.wait()).await {
            Ok(Ok(code)) => code,
            _ => {
                self.kill_and_wait().await;
                None
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.foreign {
            // Exited while it was ours, its SIGCHLD went by: reap it now,
            // through its own pidfd (a later exit is the orphan reaper's).
            let _ = podshim_sys::proc::try_reap(&self.pidfd);
            owned().remove(&self.pid);
        }
    }
}

/// Re-executes this binary as `podshim <role> <args>`, with the child's end
/// of a channel for conversation `C` on [`CHILD_FD`].
pub fn spawn<C: Conversation>(
    role: &str,
    args: &[&str],
    stdio: ChildStdio,
) -> Result<(Child, ShimChannel<C>)> {
    spawn_passing(role, args, stdio, Vec::new())
}

/// [`spawn`], with descriptors `fds` (fd, number) placed above
/// [`CHILD_FD`] in the child.
pub fn spawn_passing<C: Conversation>(
    role: &str,
    args: &[&str],
    stdio: ChildStdio,
    fds: Vec<(i32, i32)>,
) -> Result<(Child, ShimChannel<C>)> {
    if let Some((_, n)) = fds.iter().find(|(_, n)| *n <= CHILD_FD) {
        return Err(ShimError::Internal(format!(
            "{} child: descriptor {n} would take the channel's place",
            C::NAME
        )));
    }
    let (ours, theirs) = spawn::channel_pair()?;
    let mut placed = vec![spawn::fd_at(&theirs, CHILD_FD)];
    placed.extend(fds);
    let child = spawn_with(role, args, stdio, placed)?;
    drop(theirs);
    Ok((child, ShimChannel::new(ours)?))
}

fn spawn_with(role: &str, args: &[&str], stdio: ChildStdio, fds: Vec<(i32, i32)>) -> Result<Child> {
    let mut argv = vec![role.to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    // The orphan reaper runs on this same thread, so it cannot see the pid
    // between spawn and adopt. posix_spawn: the child, this binary, puts
    // back its descriptor limit itself.
    let pid = podshim_sys::vspawn::spawn_own(Reexec {
        exe: SELF_EXE,
        arg0: "podshim",
        args: argv,
        stdio,
        fds,
        setsid: false,
        env: Vec::new(),
        env_clear: false,
        cwd: Some("/"),
    })?;
    Child::adopt(pid)
}

/// Reaps every exited child of the shim that no [`Child`] owns.
pub fn reap_orphans() {
    let orphans: Vec<i32> = {
        let owned = owned();
        podshim_sys::proc::children_of_self()
            .into_iter()
            .filter(|p| !owned.contains(p))
            .collect()
    };
    for pid in orphans {
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

/// What a child reported that its handshake did not expect.
pub(crate) fn unexpected(who: &str, what: impl std::fmt::Debug, phase: &str) -> ShimError {
    ShimError::Internal(format!("{who}: unexpected {what:?} while {phase}"))
}

/// Writes the maps of the user namespace child `pid` has just made (from
/// the shim, in the parent namespace).
pub fn map_user_ns(pid: i32, maps: Option<&crate::bundle::IdMaps>) -> Result<()> {
    let maps = maps.ok_or_else(|| {
        ShimError::InvalidArgument(
            "a new user namespace needs linux.uidMappings and gidMappings".into(),
        )
    })?;
    podshim_sys::userns::write_maps(pid, &maps.uid, &maps.gid)?;
    Ok(())
}
