//! Removing a pod, for `podctl rm` and a failed or finished `podctl run`:
//! the containerd sequence (kill, wait, delete each container, then the
//! network, then the sandbox, then shutdown); when the shim is gone it falls
//! back to `podshim delete` per task, as containerd does after a shim crash.

use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use podshim_state::{read_json, PodPaths};
use podshim_types::{Id, PodManifest, PodRecord, ProcessStamp};

use crate::bundles::{bundles_dir, MANIFEST_COPY, SANDBOX_BUNDLE};
use crate::shim::{code_of, is_not_found, Shim};
use crate::Ctx;

/// Task ids of a pod's containers in reverse start order (from the
/// manifest copy podctl keeps), then any other the state directory holds.
fn member_ids(c: &Ctx, pod: &Id) -> Vec<String> {
    let paths = c.root.pod(&c.namespace, pod);
    let manifest = std::fs::read_to_string(bundles_dir(&paths).join(MANIFEST_COPY))
        .ok()
        .and_then(|t| PodManifest::parse(&t).ok());
    let mut ids: Vec<String> = manifest
        .iter()
        .flat_map(|m| {
            m.containers
                .iter()
                .rev()
                .filter_map(|e| m.task_id(&e.name).ok())
        })
        .map(|id| id.to_string())
        .collect();
    for id in paths.list_containers().unwrap_or_default() {
        if !ids.contains(&id.to_string()) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// Stops and deletes everything of the pod; nothing of it remains after.
pub fn remove_pod(c: &Ctx, pod: &Id, timeout: Duration) -> anyhow::Result<()> {
    let paths = c.root.pod(&c.namespace, pod);
    if !paths.dir().exists() {
        bail!("pod {pod} not found");
    }
    let mut tasks = member_ids(c, pod);
    tasks.push(pod.to_string());
    let record: Option<PodRecord> = read_json(&paths.record()).ok();
    let shim = paths
        .socket()
        .ok()
        .and_then(|s| Shim::connect(&format!("unix://{}", s.display())).ok());
    let via_shim = match shim {
        Some(s) => remove_through_shim(&s, pod, &paths, &tasks, timeout, record.as_ref()),
        None => Err(anyhow::anyhow!("no shim")),
    };
    if let Err(e) = via_shim {
        // The shim is gone (or died under us): clean up without it. A
        // live shim's error stands.
        let dead = record.as_ref().is_none_or(|r| {
            wait_gone(&r.shim, Duration::from_secs(2));
            r.shim.has_exited()
        });
        if !dead {
            return Err(e);
        }
        remove_without_shim(c, pod, &paths, &tasks)?;
    }
    match std::fs::remove_dir_all(paths.dir()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("remove {}", paths.dir().display())),
    }
}

/// What a task was when its stop signal went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopping {
    /// There is no such task.
    Gone,
    /// Signalled.
    Signalled,
    /// Its Create is under way (its client may be gone): Delete stops it.
    Creating,
}

/// Sends the stop signal (TERM, or KILL with a zero timeout).
fn signal_stop(s: &Shim, id: &str, timeout: Duration) -> anyhow::Result<Stopping> {
    match s.state(id) {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(Stopping::Gone),
        Err(e) if code_of(&e) == Some(ttrpc::Code::FAILED_PRECONDITION) => {
            return Ok(Stopping::Creating)
        }
        Err(e) => return Err(e),
    }
    let sig = if timeout.is_zero() {
        libc::SIGKILL
    } else {
        libc::SIGTERM
    };
    match s.kill(id, sig as u32) {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(Stopping::Signalled)
}

/// Waits up to `timeout` for a signalled task, kills it if it is still
/// there, and deletes it; a task being created is deleted at once.
fn wait_and_delete(s: &Shim, id: &str, how: Stopping, timeout: Duration) -> anyhow::Result<()> {
    if how == Stopping::Signalled && (timeout.is_zero() || s.wait(id, timeout)?.is_none()) {
        match s.kill(id, libc::SIGKILL as u32) {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        s.wait(id, Duration::from_secs(30))?;
    }
    s.delete(id)?;
    Ok(())
}

/// Waits up to `limit` for the shim to exit, woken by its pidfd.
fn wait_gone(shim: &ProcessStamp, limit: Duration) {
    let Some(pid) = rustix::process::Pid::from_raw(shim.pid) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return; // gone already
    };
    // The pid may name another process by now: the stamp decides.
    if shim.has_exited() {
        return;
    }
    let deadline = Instant::now() + limit;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Containers first, all signalled before any is waited for; the network;
/// the sandbox last; then the shim is told to go.
fn remove_through_shim(
    s: &Shim,
    pod: &Id,
    paths: &PodPaths,
    tasks: &[String],
    timeout: Duration,
    record: Option<&PodRecord>,
) -> anyhow::Result<()> {
    let (sandbox, members) = tasks.split_last().unwrap_or((&tasks[0], &[]));
    for (i, group) in [members, std::slice::from_ref(sandbox)].iter().enumerate() {
        if i == 1 {
            // The containers are gone; the network namespace is still
            // pinned: take it off its network (CNI DEL).
            crate::cni::detach_stored(paths).context("network")?;
        }
        // Every one signalled before any is waited for. A task whose State
        // fails is still waited for and deleted.
        let live: Vec<(&String, Stopping)> = group
            .iter()
            .map(|id| {
                (
                    id,
                    signal_stop(s, id, timeout).unwrap_or(Stopping::Signalled),
                )
            })
            .filter(|(_, how)| *how != Stopping::Gone)
            .collect();
        for (id, how) in live {
            wait_and_delete(s, id, how, timeout).with_context(|| format!("remove task {id}"))?;
        }
    }
    if let Err(e) = s.shutdown(pod.as_str()) {
        // The shim may close the connection as it exits.
        if !e.to_string().contains("closed") {
            return Err(e).context("shutdown shim");
        }
    }
    if let Some(r) = record {
        wait_gone(&r.shim, Duration::from_secs(5));
    }
    Ok(())
}

/// No shim (it crashed): off the network first, while the pin holds the
/// namespace, then task by task with `podshim delete`, as containerd does.
fn remove_without_shim(
    c: &Ctx,
    pod: &Id,
    paths: &PodPaths,
    tasks: &[String],
) -> anyhow::Result<()> {
    crate::cni::detach_stored(paths).context("network")?;
    for id in tasks {
        let bundle = if id == pod.as_str() {
            bundles_dir(paths).join(SANDBOX_BUNDLE)
        } else {
            bundles_dir(paths).join(id.strip_prefix(&format!("{pod}-")).unwrap_or(id))
        };
        let cwd = if bundle.is_dir() {
            bundle
        } else {
            paths.dir().to_path_buf()
        };
        let status = Command::new(&c.shim)
            .args([
                "-namespace",
                c.namespace.as_str(),
                "-id",
                id,
                "-address",
                "",
                "delete",
            ])
            .current_dir(&cwd)
            .env("PODSHIM_ROOT", c.root.path())
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("run {} delete", c.shim))?;
        if !status.success() {
            bail!("{} delete {id} failed", c.shim);
        }
    }
    Ok(())
}
