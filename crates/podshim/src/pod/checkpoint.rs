//! Checkpoint of a running (or paused: containerd pauses a task before
//! it asks) pod member: its process tree dumped by CRIU
//! into the image directory the request names, running on afterwards
//! unless the options say exit (then CRIU kills it and its exit is
//! published as any other). A dump CRIU refuses leaves the container
//! running; the error carries CRIU's reason and where its log was kept.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use podshim_sys::msg::NsRequest;
use podshim_sys::ns::NsKind;
use podshim_types::Verb;
use tracing::Instrument;

use super::Pod;
use crate::bundle::Bundle;
use crate::criu::{self, CheckpointPlan, DumpTarget};
use crate::error::{Result, ShimError};

/// The stdio of pid 1 at the dump, as runc records it (`descriptors.json`
/// in the image: what fds 0, 1 and 2 were), for a restore to reconnect.
pub(super) const DESCRIPTORS: &str = "descriptors.json";

/// Which of pid 1's standard descriptors CRIU left out as external files
/// (fd, CRIU's key), podshim's own addition to the image, for a restore
/// to hand the new container's stdio in their place.
pub(super) const EXTERNAL_STDIO: &str = "podshim-external-stdio.json";

impl Pod {
    /// Checkpoint of container `id` by `plan`.
    pub async fn checkpoint(self: &Arc<Self>, id: &str, plan: CheckpointPlan) -> Result<()> {
        if id == self.id.as_str() && self.sandbox().is_some() {
            return Err(ShimError::FailedPrecondition(format!(
                "{id} is the pod's sandbox (its pause): checkpoint its containers"
            )));
        }
        let task = self.task(id)?;
        let span = tracing::info_span!("checkpoint", pod = %self.id, container = %id);
        async {
            let _g = task.init.lifecycle.lock().await;
            task.init.check(Verb::Checkpoint)?;
            if !task.own_pid_ns {
                return Err(ShimError::FailedPrecondition(format!(
                    "container {id} shares the pod's pid namespace: podshim checkpoints \
                     only a container that is pid 1 of its own"
                )));
            }
            let criu = criu::binary()?;
            let bundle = Bundle::load(Path::new(&task.record().bundle))?;
            let pid = task.init.pid();
            let external_stdio = external_files(pid);
            let mut external_files: Vec<String> =
                external_stdio.iter().map(|(_, k)| k.clone()).collect();
            external_files.sort();
            external_files.dedup();
            let target = DumpTarget {
                pid,
                external_net: external_net(pid, &self.namespace_plan(&bundle)?)?,
                bind_mounts: bind_mounts(&bundle),
                external_files,
                freezer: task.resources.as_ref().and_then(|r| r.cg.freezer_dir()),
            };
            make_dir(&plan.image)?;
            let (work, ours) = match &plan.work {
                Some(w) => (w.clone(), false),
                None => (self.paths.container_dir(&task.id).join("criu-work"), true),
            };
            make_dir(&work)?;
            let outcome = async {
                write_descriptors(pid, &plan.image)?;
                let path = plan.image.join(EXTERNAL_STDIO);
                podshim_state::write_json(&path, &external_stdio)
                    .map_err(|e| ShimError::Internal(format!("{}: {e}", path.display())))?;
                let args = criu::dump_args(&plan, &target, &plan.image, &work);
                let log = work.join(criu::DUMP_LOG);
                let kept = bundle.dir.join("criu-dump.log");
                criu::run(&criu, args, criu::Launch::Direct, Vec::new(), &log, &kept).await
            }
            .await;
            if ours {
                let _ = std::fs::remove_dir_all(&work);
            }
            outcome?;
            tracing::info!(pid, exit = plan.exit, image = %plan.image.display(), "checkpointed");
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// The inode of `pid`'s network namespace when it joined one by path (a
/// pod member: the pod's; a spec's path), which a restore joins again, as
/// runc decides. A namespace of its own is CRIU's to dump; the host's
/// (no network namespace in the spec) is CRIU's own.
fn external_net(pid: i32, plan: &[NsRequest]) -> Result<Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    if !plan
        .iter()
        .any(|n| n.kind == NsKind::Net && n.path.is_some())
    {
        return Ok(None);
    }
    let p = format!("/proc/{pid}/ns/net");
    std::fs::metadata(&p)
        .map(|m| Some(m.ino()))
        .map_err(|e| ShimError::Internal(format!("{p}: {e}")))
}

/// `pid`'s standard descriptors that are files of a mount its mount
/// namespace does not have (containerd's stdio FIFOs, a log file), with
/// CRIU's keys for them. CRIU leaves those out of the image as external
/// (containerd's runc shim gives a container pipes instead; podshim hands
/// it the FIFOs).
fn external_files(pid: i32) -> Vec<(i32, String)> {
    use std::os::unix::fs::MetadataExt;
    let mounts: std::collections::HashSet<u64> =
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
    (0..3)
        .filter_map(|fd| {
            let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            // pipe:[N], socket:[N], anon_inode:... are not files.
            if !target.is_absolute() {
                return None;
            }
            let ino = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"))
                .ok()?
                .ino();
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            let mnt: u64 = info
                .lines()
                .find_map(|l| l.strip_prefix("mnt_id:"))?
                .trim()
                .parse()
                .ok()?;
            (!mounts.contains(&mnt)).then(|| (fd, format!("file[{mnt:x}:{ino:x}]")))
        })
        .collect()
}

/// Destinations of the spec's bind mounts (from the host, so external to
/// the container's mount namespace).
fn bind_mounts(bundle: &Bundle) -> Vec<String> {
    bind_mount_sources(bundle)
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// The spec's bind mounts: (destination, host source).
pub(super) fn bind_mount_sources(bundle: &Bundle) -> Vec<(String, String)> {
    bundle
        .spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| {
            m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind")
        })
        .map(|m| {
            let source = m
                .source()
                .as_ref()
                .map(|s| s.to_string_lossy().into_owned());
            (
                m.destination().to_string_lossy().into_owned(),
                source.unwrap_or_default(),
            )
        })
        .collect()
}

fn make_dir(dir: &PathBuf) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ShimError::Internal(format!("{}: {e}", dir.display())))
}

/// runc's `descriptors.json`: the targets of pid 1's fds 0, 1 and 2.
fn write_descriptors(pid: i32, image: &Path) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let path = image.join(DESCRIPTORS);
    podshim_state::write_json(&path, &fds)
        .map_err(|e| ShimError::Internal(format!("{}: {e}", path.display())))
}
