//! CRIU, as the shim drives it: [`plan`] reads the checkpoint options
//! containerd sends, [`args`] makes the `criu dump` and `criu restore`
//! command lines for a pod member, and this module finds the criu binary
//! and runs it, its reason brought back from its log when it refuses.
//!
//! A pod member's pid 1 is the root of a pid namespace of its own; its
//! network namespace is the pause's, which CRIU is told is external
//! (`extRootNetNS`, runc's key), so a restore joins the pod's instead of
//! making one; its IPC and UTS namespaces are dumped and, on a restore,
//! joined. Bind mounts from the host are external mounts keyed by their
//! destination, as runc keys them.

pub mod args;
pub mod plan;

use std::path::{Path, PathBuf};

pub use args::{dump_args, restore_args, DumpTarget, RestoreTarget, DUMP_LOG, RESTORE_LOG};
pub use plan::{plan, CheckpointPlan};

use podshim_sys::criu::{Criu, CriuConfig, CriuReport};
use podshim_sys::msg::RootfsMount;
use podshim_sys::spawn::ChildStdio;

use crate::child::Child;
use crate::error::{Result, ShimError};

/// The criu binary: `$PODSHIM_CRIU`, else `criu` on PATH.
pub fn binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PODSHIM_CRIU").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ShimError::FailedPrecondition(format!(
                "checkpoint needs CRIU: PODSHIM_CRIU names {}, which is not a file",
                p.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("criu"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ShimError::FailedPrecondition("checkpoint needs CRIU: no criu on PATH".into())
        })
}

/// How criu is started.
pub enum Launch {
    /// As the shim's child, in the shim's namespaces (a dump: CRIU enters
    /// the tree's own).
    Direct,
    /// Through `podshim criu`, in a mount namespace of its own with the
    /// rootfs mounted (a restore; see [`podshim_sys::criu`]). Its
    /// descriptors start at [`podshim_sys::criu::FIRST_INHERITED_FD`].
    WithRootfs {
        rootfs: PathBuf,
        mounts: Vec<RootfsMount>,
    },
}

/// Runs `criu` with `args` and waits for it, descriptors `fds` (fd,
/// number) open in it; a failure is CRIU's own reason (the error lines of
/// its `log`). The log is kept at `keep` (as containerd's runc shim keeps
/// `criu-dump.log` in the bundle), whatever the outcome.
pub async fn run(
    criu: &Path,
    args: Vec<String>,
    launch: Launch,
    fds: Vec<(std::os::fd::RawFd, i32)>,
    log: &Path,
    keep: &Path,
) -> Result<()> {
    // What it says before its log is open (a bad option, say) goes here.
    let said = log.with_extension("stderr");
    let stderr = std::fs::File::create(&said)
        .map_err(|e| ShimError::Internal(format!("{}: {e}", said.display())))?;
    let stdio = ChildStdio {
        stdin: None,
        stdout: None,
        stderr: Some(stderr.into()),
    };
    let code = match launch {
        Launch::Direct => run_direct(criu, args, stdio, fds).await?,
        Launch::WithRootfs { rootfs, mounts } => {
            let cfg = CriuConfig {
                exe: criu.to_path_buf(),
                args,
                rootfs,
                rootfs_mounts: mounts,
            };
            run_in_mount_ns(cfg, stdio, fds).await?
        }
    };
    if code == Some(0) {
        // Kept after a success too, as runc's work directory keeps it.
        let _ = std::fs::copy(log, keep);
        return Ok(());
    }
    let mut text = std::fs::read_to_string(log).unwrap_or_default();
    text.push_str(&std::fs::read_to_string(&said).unwrap_or_default());
    let kept = match std::fs::write(keep, &text) {
        Ok(()) => keep.display().to_string(),
        Err(e) => format!("not kept: {}: {e}", keep.display()),
    };
    Err(ShimError::FailedPrecondition(format!(
        "criu exited with {}: {} (log: {kept})",
        code.map_or("an unknown status".into(), |c| c.to_string()),
        reason(&text),
    )))
}

async fn run_direct(
    criu: &Path,
    args: Vec<String>,
    stdio: ChildStdio,
    fds: Vec<(std::os::fd::RawFd, i32)>,
) -> Result<Option<i32>> {
    let exe = criu.to_string_lossy().into_owned();
    let pid = podshim_sys::spawn::spawn(podshim_sys::spawn::Reexec {
        exe: &exe,
        arg0: "criu",
        args,
        stdio,
        fds,
        setsid: false,
        env: Vec::new(),
        env_clear: false,
        cwd: Some("/"),
    })
    .map_err(|e| ShimError::Internal(format!("run {exe}: {e}")))?;
    // On this one thread, nothing reaps it before it is ours.
    Child::adopt(pid)?.wait().await
}

/// `podshim criu`: its config out; end of file means criu runs (its
/// exit is the child's), a report means it never did.
async fn run_in_mount_ns(
    cfg: CriuConfig,
    stdio: ChildStdio,
    fds: Vec<(std::os::fd::RawFd, i32)>,
) -> Result<Option<i32>> {
    let begun = std::time::Instant::now();
    let (child, mut chan) = crate::child::spawn_passing::<Criu>("criu", &[], stdio, fds)?;
    let said = match chan.send_config(&cfg).await {
        Ok(()) => chan.recv().await,
        Err(e) => Err(e),
    };
    match said {
        Ok(None) => {
            tracing::debug!(after = ?begun.elapsed(), "criu executed");
            let code = child.wait().await;
            tracing::debug!(after = ?begun.elapsed(), ?code, "criu exited");
            code
        }
        Ok(Some((CriuReport::Error(e), _))) => {
            let _ = child.wait().await;
            Err(ShimError::from(e).context("restore: criu child"))
        }
        Err(e) => {
            child.kill_and_wait().await;
            Err(e)
        }
    }
}

/// CRIU's reason from its log: its error lines, without their time stamps.
pub fn reason(log: &str) -> String {
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Error (") && !l.contains("Dumping FAILED"))
        .map(|l| l.split_once(") ").map_or(l, |(_, rest)| rest).trim())
        .take(4)
        .collect();
    if errors.is_empty() {
        log.lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map_or_else(|| "no error in its log".into(), str::to_string)
    } else {
        errors.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_criu_s_error_lines() {
        let log = "(00.009607) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                   (00.009609) Info  something\n\
                   (00.577367) Error (criu/cr-dump.c:2053): Dumping FAILED.\n";
        assert_eq!(
            reason(log),
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds"
        );
        assert_eq!(reason(""), "no error in its log");
        assert_eq!(reason("Usage:\n  criu dump -t PID\n\n"), "criu dump -t PID");
    }
}
