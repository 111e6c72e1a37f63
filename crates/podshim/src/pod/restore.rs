//! A pod member created from a checkpoint (a Create whose `checkpoint`
//! names an image directory: `ctr run --checkpoint`, `ctr c restore`,
//! `podctl restore`). Its cgroup and stdio are made as for any container;
//! then CRIU, run by `podshim criu` with containerd's rootfs mounts (if
//! any) mounted in a mount namespace of its own, restores the dumped tree
//! into them, stopped: the pod's network namespace handed in by fd, its
//! IPC and UTS namespaces joined by path, its own pid and mount namespaces
//! restored from the image, the image's stdio (pipes, or containerd's
//! FIFOs left out as external files) replaced by the new container's. Its
//! pid 1 is this shim's child (`--restore-sibling`); Start resumes the
//! tree (SIGCONT to every process of its pid namespace).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use podshim_sys::msg::{NsRequest, RootfsMount};
use podshim_sys::ns::NsKind;
use podshim_sys::proc;

use super::checkpoint::{DESCRIPTORS, EXTERNAL_STDIO};
use super::task::{Starter, Task};
use super::Pod;
use crate::bundle::Bundle;
use crate::child::Child;
use crate::criu::{self, RestoreTarget};
use crate::error::{Result, ShimError};
use crate::stdio::Stdio;

impl Pod {
    /// CRIU restores the tree of `image` as `task`'s; its pid 1, stopped.
    pub(super) async fn restore_init(
        &self,
        task: &Arc<Task>,
        bundle: &Bundle,
        namespaces: &[NsRequest],
        stdio: &Stdio,
        rootfs: &[RootfsMount],
        image: &Path,
    ) -> Result<Child> {
        let refuse = |why: &str| {
            Err(ShimError::FailedPrecondition(format!(
                "restore of {} from {}: {why}",
                task.id,
                image.display()
            )))
        };
        if task.init.terminal {
            return refuse("a container with a terminal is not restored by podshim");
        }
        if namespaces.iter().any(|n| n.kind == NsKind::User) {
            return refuse("a container with a user namespace is not restored by podshim");
        }
        if !task.own_pid_ns {
            return refuse("podshim restores a container only as pid 1 of its own pid namespace");
        }
        let rel = task.record().cgroup.unwrap_or_default();
        if podshim_sys::cgroup::CgroupPath::parse(&rel)
            .map(|p| !matches!(p, podshim_sys::cgroup::CgroupPath::Fs { .. }))
            .unwrap_or(true)
        {
            return refuse("a restore into a systemd scope is not built yet (cgroupfs paths only)");
        }
        let root = podshim_sys::rootfs::rootfs_path(&bundle.spec, &bundle.dir)
            .map_err(|e| ShimError::from(e).context("restore"))?;
        let descriptors: Vec<String> =
            podshim_state::read_json(&image.join(DESCRIPTORS)).map_err(|e| {
                ShimError::InvalidArgument(format!(
                    "{} is not a checkpoint podshim or runc made: {e}",
                    image.display()
                ))
            })?;
        // A runc image has none: its stdio were pipes.
        let external: Vec<(usize, String)> =
            podshim_state::read_json(&image.join(EXTERNAL_STDIO)).unwrap_or_default();
        let criu = criu::binary()?;
        let who = self.stdio_owner(task);
        let (child_stdio, io) = crate::stdio::open(stdio, &who).await?;
        tracing::debug!("stdio open");

        // In criu (above its channel): the network namespace the member
        // joins (the pod's; none for a host-network pod, whose dump left it
        // out too), then the new stdio, each in place of the image's pipe
        // or external file it was.
        let net: Option<OwnedFd> = namespaces
            .iter()
            .find(|n| n.kind == NsKind::Net)
            .and_then(|n| n.path.as_ref())
            .map(|path| {
                std::fs::File::open(path)
                    .map(OwnedFd::from)
                    .map_err(|e| ShimError::Internal(format!("network namespace {path}: {e}")))
            })
            .transpose()?;
        let first = podshim_sys::criu::FIRST_INHERITED_FD;
        let mut fds: Vec<_> = net.iter().map(|fd| (fd.as_raw_fd(), first)).collect();
        let mut inherit = Vec::new();
        let ours = [&child_stdio.stdin, &child_stdio.stdout, &child_stdio.stderr];
        for (n, fd) in ours.into_iter().enumerate() {
            let Some(fd) = fd else { continue };
            let key = match (descriptors.get(n), external.iter().find(|(f, _)| *f == n)) {
                (_, Some((_, key))) => key,
                (Some(key), None) if key.starts_with("pipe:") => key,
                _ => continue,
            };
            if !inherit.iter().any(|(_, k)| k == key) {
                let at = first + 1 + n as i32;
                fds.push((fd.as_raw_fd(), at));
                inherit.push((at, key.clone()));
            }
        }
        let join = namespaces
            .iter()
            .filter_map(|n| {
                let kind = match n.kind {
                    NsKind::Ipc => "ipc",
                    NsKind::Uts => "uts",
                    _ => return None,
                };
                n.path.clone().map(|p| (kind.to_string(), p))
            })
            .collect();
        let work = self.paths.container_dir(&task.id).join("criu-work");
        std::fs::create_dir_all(&work)
            .map_err(|e| ShimError::Internal(format!("{}: {e}", work.display())))?;
        let target = RestoreTarget {
            root,
            net_fd: net.is_some().then_some(first),
            join,
            inherit,
            bind_mounts: super::checkpoint::bind_mount_sources(bundle),
            cgroup: Some(rel),
            pidfile: work.join("restored.pid"),
        };
        let args = criu::restore_args(&target, image, &work);
        let log = work.join(criu::RESTORE_LOG);
        let kept = bundle.dir.join("criu-restore.log");
        let launch = criu::Launch::WithRootfs {
            rootfs: target.root.clone(),
            mounts: rootfs.to_vec(),
        };
        let restored = criu::run(&criu, args, launch, fds, &log, &kept).await;
        drop(net);
        drop(child_stdio);
        let pid = restored.and_then(|()| {
            std::fs::read_to_string(&target.pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .ok_or_else(|| ShimError::Internal("criu restore wrote no pid".into()))
        });
        let _ = std::fs::remove_dir_all(&work);
        let pid = pid?;
        // A child of this shim (restore-sibling), stopped: nothing reaps
        // it before it is ours.
        let pid1 = Child::adopt(pid)?;
        let stamp = match proc::stamp(pid) {
            Ok(s) => s,
            Err(e) => {
                pid1.kill_and_wait().await;
                return Err(e.into());
            }
        };
        task.init.set_pid(pid, stamp.start_time);
        tracing::info!(pid, image = %image.display(), "restored from a checkpoint");
        self.settle_created(task, pid1, io, Starter::Restored).await
    }

    /// Start of a restored container: every process of its pid namespace
    /// continues.
    pub(super) fn resume_restored(&self, task: &Task, pid: i32) -> Result<()> {
        let inode = proc::ns_inode(pid, "pid")?;
        for p in proc::pids_in_pid_ns(inode) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGCONT,
            );
        }
        tracing::debug!(container = %task.id, "restored tree resumed");
        Ok(())
    }
}
