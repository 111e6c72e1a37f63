//! How a re-executed child (`pause`, `init`, `exec`) puts the process it
//! forks in the task's cgroup. The single-threaded child joins the v1
//! directories itself, one thread at a time (`tasks`, see
//! [`super::join_self`]), and the fork inherits them. The v2 directory is
//! entered by the fork itself, clone3 with CLONE_INTO_CGROUP (Linux 5.7),
//! which spares a migration (a write to cgroup.procs takes the cgroup
//! threadgroup lock for writing, whose first taking after a quiet spell
//! waits out an RCU grace period); where clone3 is missing, the child
//! writes its own pid through the directory's descriptor. Forking into
//! the directory needs the permission checks to pass with the caller's
//! own credentials and cgroup namespace, so it is used only where no user
//! namespace is involved and a cgroup namespace is made after the fork,
//! not joined before it; otherwise every directory is joined first, as
//! before.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;

use crate::error::SysError;

/// Whether the fork may go into the v2 directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkInto {
    /// No: every directory is written now.
    No,
    /// Yes: the v1 directories are written now, the v2 one is forked into.
    V2,
}

/// The cgroup a forked process starts in.
#[derive(Debug, Default)]
pub struct Placement {
    /// The v2 directory, to fork into; none when everything was joined.
    v2: Option<OwnedFd>,
}

impl Placement {
    /// Joins the caller to `dirs` (one per hierarchy), except, as `fork`
    /// allows it, the v2 directory, which is kept open for the fork
    /// ([`Placement::into_fd`]).
    pub fn join(dirs: &[String], fork: ForkInto) -> Result<Placement, SysError> {
        let (v2, v1): (Vec<&String>, Vec<&String>) = match fork {
            ForkInto::No => (Vec::new(), dirs.iter().collect()),
            _ => dirs.iter().partition(|d| is_v2(d)),
        };
        let v1: Vec<String> = v1.into_iter().cloned().collect();
        super::join_self(&v1)?;
        let v2 = match v2.first() {
            Some(d) => Some(OwnedFd::from(
                std::fs::File::open(d.as_str()).map_err(|e| SysError::io("open", d.as_str(), e))?,
            )),
            None => None,
        };
        Ok(Placement { v2 })
    }

    /// The v2 directory the fork goes into, if any.
    pub fn into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.v2.as_ref().map(|f| f.as_fd())
    }
}

/// The forked child's own move into `dir` (a v2 directory's descriptor),
/// where the fork could not do it.
pub fn join_by_fd(dir: BorrowedFd<'_>) -> Result<(), SysError> {
    let procs = crate::fds::open_in(dir, "cgroup.procs", OFlag::O_WRONLY)
        .map_err(|e| SysError::os("open", "cgroup.procs", e))?;
    std::io::Write::write_all(&mut std::fs::File::from(procs), b"0")
        .map_err(|e| SysError::io("join cgroup", "cgroup.procs", e))
}

/// Whether `dir` is on a cgroup2 file system.
fn is_v2(dir: &str) -> bool {
    nix::sys::statfs::statfs(dir)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}
