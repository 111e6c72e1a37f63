//! `podshim criu`: CRIU run in a mount namespace of its own, for a restore
//! whose rootfs containerd mounts (a snapshot). The shim mounts a
//! container's rootfs only inside that container's mount namespace, so
//! CRIU, which restores the tree's mounts on top of `--root`, needs the
//! rootfs mounted where it looks: this child unshares a mount namespace,
//! makes `/` rslave (nothing reaches the host), mounts the snapshot at the
//! bundle's rootfs and executes criu. The restored tree's mount namespace
//! holds the rootfs from then on; the child's namespace ends with criu.
//!
//! The conversation: the shim sends a [`CriuConfig`]; the child reports
//! an error, or nothing (end of file: criu runs, its exit status is the
//! child's). Descriptors CRIU inherits sit above [`CHILD_FD`] and stay
//! open across the exec.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use nix::sched::{unshare, CloneFlags};
use serde::{Deserialize, Serialize};

use crate::channel::{ChildChannel, CHILD_FD};
use crate::error::SysError;
use crate::msg::{ChildError, Conversation, RootfsMount};

/// The CRIU child.
#[derive(Debug)]
pub enum Criu {}

/// Shim -> `podshim criu`, first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CriuConfig {
    /// The criu binary.
    pub exe: PathBuf,
    /// Its arguments (after argv[0]).
    pub args: Vec<String>,
    /// Where the snapshot goes (the bundle's rootfs, criu's `--root`).
    pub rootfs: PathBuf,
    /// containerd's rootfs mounts; none: the rootfs is a directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rootfs_mounts: Vec<RootfsMount>,
}

/// `podshim criu` -> shim: only a failure before criu runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CriuReport {
    Error(ChildError),
}

/// The shim sends the CRIU child nothing after its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CriuCommand {}

impl Conversation for Criu {
    const NAME: &'static str = "criu";
    type Config = CriuConfig;
    type Report = CriuReport;
    type Command = CriuCommand;
    fn failed(e: ChildError) -> CriuReport {
        CriuReport::Error(e)
    }
}

/// The first descriptor CRIU inherits from the shim.
pub const FIRST_INHERITED_FD: i32 = CHILD_FD + 1;

/// Entry point of `podshim criu`; returns the exit code when criu could
/// not be executed.
pub fn run() -> i32 {
    let mut chan = match ChildChannel::<Criu>::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    let cfg = match chan.config() {
        Ok(c) => c,
        Err(e) => return chan.fail("config", &e),
    };
    if let Err((stage, e)) = mount_rootfs(&cfg) {
        return chan.fail(stage, &e);
    }
    // On success exec does not return; the channel closes with it.
    let e = std::process::Command::new(&cfg.exe)
        .arg0("criu")
        .args(&cfg.args)
        .exec();
    chan.fail("exec", &SysError::io("exec", &cfg.exe, e))
}

fn mount_rootfs(cfg: &CriuConfig) -> Result<(), (&'static str, SysError)> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| ("unshare", SysError::os("unshare", "mnt", e)))?;
    crate::rootfs::snapshot::make_root_rslave().map_err(|e| ("propagation", e))?;
    if !cfg.rootfs_mounts.is_empty() {
        crate::rootfs::snapshot::mount_snapshot(&cfg.rootfs, &cfg.rootfs_mounts)
            .map_err(|e| ("rootfs", e))?;
    }
    Ok(())
}
