//! `podshim delete`: containerd's cleanup call when a shim is gone (or a
//! start failed). It touches only the task it is called for, is safe to
//! repeat, and prints a DeleteResponse on stdout.
//!
//! A container's process still running (same pid and start time) is
//! killed; its state directory is removed. For the sandbox, the pause is
//! killed and the namespace pins are removed. When the pod has nothing left
//! and no shim serves it, the pod directory goes too.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use containerd_shim_protos::api::DeleteResponse;
use containerd_shim_protos::protobuf::{Message, MessageField};
use podshim_state::{read_json, StateRoot};
use podshim_sys::{ns, proc};
use podshim_types::{ContainerRecord, Id, PodRecord, ProcessStamp};

use crate::bundle::Bundle;
use crate::flags::Flags;
use crate::publish::timestamp;

/// Exit status reported for a process this cleanup had to kill.
const KILLED: i32 = 128 + libc::SIGKILL;

pub fn run(flags: &Flags) -> anyhow::Result<()> {
    let bundle_dir = match &flags.bundle {
        Some(b) => PathBuf::from(b),
        None => std::env::current_dir().context("current directory")?,
    };
    let root = StateRoot::from_env();
    let group = match Bundle::load(&bundle_dir) {
        Ok(b) => b.group_key(flags.id.as_str()),
        // The bundle may be gone already: find the pod holding the task.
        Err(_) => find_pod(&root, flags).unwrap_or_else(|| flags.id.to_string()),
    };
    let pod = Id::new(&group)?;
    let paths = root.pod(&flags.namespace, &pod);
    let mut pid = 0;
    let mut code = KILLED;

    let record_path = paths.container_record(&flags.id);
    let mut cgroup = None;
    match read_json::<ContainerRecord>(&record_path) {
        Ok(rec) => {
            pid = rec.pid;
            if let Some(stamp) = rec.stamp() {
                kill_if_alive(&stamp);
            }
            if let Some(c) = rec.exit_code {
                code = c;
            }
            cgroup = rec.cgroup.clone();
        }
        Err(e) if e.is_not_found() => {}
        // A corrupt record still names a directory we own: remove it.
        Err(e) => eprintln!("podshim delete: {e}"),
    }
    let _ = std::fs::remove_dir_all(paths.container_dir(&flags.id));

    if flags.id == pod {
        if let Ok(rec) = read_json::<PodRecord>(&paths.record()) {
            if let Some(stamp) = rec.pause {
                pid = stamp.pid;
                kill_if_alive(&stamp);
            }
            cgroup = cgroup.or(rec.cgroup);
        }
        for kind in ["user", "net", "ipc", "uts"] {
            let _ = ns::unpin(&paths.ns_pin(kind));
        }
        let _ = std::fs::remove_dir(paths.ns_dir());
    }
    // The sandbox goes last: whatever is still in the pod's cgroup (a
    // container whose record could not be read) is killed, and every
    // cgroup below it removed. Only for a pod level podshim made.
    if flags.id == pod {
        let fs_path = cgroup.as_deref().filter(|r| !r.contains(':'));
        if let Some((pod_level, _)) = fs_path.and_then(|r| r.rsplit_once('/')) {
            let markers = std::path::Path::new(crate::cgroup::MARKERS);
            if podshim_sys::cgroup::made_by_us(pod_level, markers) {
                kill_all(&podshim_sys::cgroup::procs_below(pod_level));
                for child in podshim_sys::cgroup::children_of(pod_level) {
                    remove_cgroup(&child);
                }
            }
        }
    }
    // The task's cgroup and the parents podshim made, once the killed
    // processes have left it.
    if let Some(rel) = cgroup {
        remove_cgroup(&rel);
    }
    remove_pod_if_abandoned(&paths);

    let resp = DeleteResponse {
        pid: pid.max(0) as u32,
        exit_status: code as u32,
        exited_at: MessageField::some(timestamp(SystemTime::now())),
        ..Default::default()
    };
    let bytes = resp.write_to_bytes().context("encode DeleteResponse")?;
    std::io::stdout()
        .write_all(&bytes)
        .context("write DeleteResponse")?;
    Ok(())
}

/// The pod of the namespace that is, or holds, task `flags.id`.
fn find_pod(root: &StateRoot, flags: &Flags) -> Option<String> {
    let pods = root.list_pods(&flags.namespace).ok()?;
    pods.iter()
        .find(|p| **p == flags.id)
        .or_else(|| {
            pods.iter().find(|p| {
                root.pod(&flags.namespace, p)
                    .container_dir(&flags.id)
                    .exists()
            })
        })
        .map(|p| p.to_string())
}

/// SIGKILLs the process if it is still the one recorded, and waits (a
/// little) until it is gone.
fn kill_if_alive(stamp: &ProcessStamp) {
    if let Ok(fd) = proc::pidfd_for(stamp) {
        let _ = proc::pidfd_signal(&fd, libc::SIGKILL);
        use std::os::fd::AsFd;
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16));
    }
}

/// SIGKILLs `pids` and waits (a little) until they are gone.
fn kill_all(pids: &[i32]) {
    for &p in pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for _ in 0..100 {
        if pids
            .iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists() || proc::is_zombie(*p))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Removes a task's cgroup; a process still leaving it gets a moment.
fn remove_cgroup(rel: &str) {
    if let Ok(podshim_sys::cgroup::CgroupPath::Systemd(scope)) =
        podshim_sys::cgroup::CgroupPath::parse(rel)
    {
        // systemd's scope: stopping it kills what is left and removes it.
        let stopped = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::error::ShimError::Internal(e.to_string()))
            .and_then(|rt| rt.block_on(crate::cgroup::systemd::stop(&scope)));
        if let Err(e) = stopped {
            eprintln!("podshim delete: {e}");
        }
        return;
    }
    let cg = podshim_sys::cgroup::TaskCgroup::open(rel);
    let markers = std::path::Path::new(crate::cgroup::MARKERS);
    for _ in 0..50 {
        match cg.remove(markers) {
            Ok(()) => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    if let Err(e) = cg.remove(markers) {
        eprintln!("podshim delete: {e}");
    }
}

/// Removes the pod directory when no container is left in it and its shim
/// is gone.
fn remove_pod_if_abandoned(paths: &podshim_state::PodPaths) {
    let containers_left = paths
        .list_containers()
        .map(|c| !c.is_empty())
        .unwrap_or(true);
    let pins_left = paths.ns_dir().exists();
    let shim_alive = read_json::<PodRecord>(&paths.record())
        .map(|r| proc::is_alive(&r.shim))
        .unwrap_or(false);
    if !containers_left && !pins_left && !shim_alive {
        let _ = std::fs::remove_dir_all(paths.dir());
    }
}
