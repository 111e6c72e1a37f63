//! A task's cgroup as the shim drives it: made and limited at create,
//! watched for OOM kills, changed by Update, frozen by Pause, and removed
//! at delete. Stats are read in [`metrics`].
//!
//! Where it lives: the spec's linux.cgroupsPath when given (cgroupfs form,
//! as containerd and its CRI pass it); otherwise
//! `<parent>/<namespace>/<pod>/<task>`, the parent being
//! `$PODSHIM_CGROUP_PARENT` or `podshim`, so a pod's tasks share one pod
//! cgroup.

pub mod metrics;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxResources, Spec};
use podshim_sys::cgroup::{self, oom, TaskCgroup};
use podshim_types::Id;
use tokio::io::unix::AsyncFd;

use crate::error::{Result, ShimError};

/// The cgroup path for a task, checked.
pub fn path_for(spec: &Spec, namespace: &Id, pod: &Id, task: &Id) -> Result<String> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty());
    let path = given.unwrap_or_else(|| {
        let parent = std::env::var("PODSHIM_CGROUP_PARENT")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "podshim".into());
        format!("{parent}/{namespace}/{pod}/{task}")
    });
    Ok(cgroup::check_path(&path)?)
}

/// Where the markers of cgroup directories podshim made live. The cgroup
/// tree is one per host, shared by every shim whatever its state root (two
/// pods may share a parent such as containerd's `/k8s.io`), so the markers
/// are too: whichever shim empties a parent podshim made removes it.
pub const MARKERS: &str = "/run/podshim-cgroups";

/// A task's cgroup and what the shim knows about it.
pub struct TaskResources {
    pub cg: TaskCgroup,
    markers: PathBuf,
    /// OOM kills already published.
    oom_told: AtomicU64,
    /// When OOM kills were last published.
    last_oom: Mutex<Option<Instant>>,
    oom_watch: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TaskResources {
    /// Makes the cgroup and applies the spec's linux.resources. On failure
    /// nothing of it remains.
    pub fn create(rel: &str, markers: PathBuf, spec: &Spec) -> Result<TaskResources> {
        let cg = TaskCgroup::create(rel, &markers)?;
        let linux = spec.linux().as_ref();
        let devices: Vec<(char, i64, i64)> = linux
            .and_then(|l| l.devices().clone())
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let t = if d.typ() == oci_spec::runtime::LinuxDeviceType::B {
                    'b'
                } else {
                    'c'
                };
                (t, d.major(), d.minor())
            })
            .collect();
        let applied = match linux.and_then(|l| l.resources().as_ref()) {
            Some(r) => podshim_sys::cgroup::resources::apply(&cg, r, Some(&devices)),
            None => podshim_sys::cgroup::resources::apply(
                &cg,
                &LinuxResources::default(),
                Some(&devices),
            ),
        };
        let res = TaskResources {
            cg,
            markers,
            oom_told: AtomicU64::new(0),
            last_oom: Mutex::new(None),
            oom_watch: Mutex::new(None),
        };
        if let Err(e) = applied {
            let _ = res.remove();
            return Err(ShimError::InvalidArgument(e.to_string()));
        }
        Ok(res)
    }

    /// A task's existing cgroup, as a restarted shim finds it.
    pub fn open(rel: &str, markers: PathBuf) -> TaskResources {
        TaskResources {
            cg: TaskCgroup::open(rel),
            markers,
            oom_told: AtomicU64::new(0),
            last_oom: Mutex::new(None),
            oom_watch: Mutex::new(None),
        }
    }

    /// The directories a process writes its pid to, to join.
    pub fn join_dirs(&self) -> Vec<String> {
        self.cg.dirs()
    }

    /// Update: new limits for a running task. Device rules are left as they
    /// are unless the request names some.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        let devices: Option<&[(char, i64, i64)]> = r
            .devices()
            .as_ref()
            .filter(|d| !d.is_empty())
            .map(|_| &[][..]);
        podshim_sys::cgroup::resources::apply(&self.cg, r, devices)
            .map_err(|e| ShimError::InvalidArgument(e.to_string()))
    }

    /// OOM kills the kernel counted that were not published yet; marks them
    /// published (and when).
    pub fn untold_oom_kills(&self) -> u64 {
        let Some(now) = self.cg.oom_kills() else {
            return 0;
        };
        let before = self.oom_told.fetch_max(now, Ordering::SeqCst);
        let untold = now.saturating_sub(before);
        if untold > 0 {
            *self.last_oom.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        untold
    }

    /// Every OOM kill the kernel counted in the task's cgroup.
    pub fn oom_kills(&self) -> u64 {
        self.cg.oom_kills().unwrap_or(0)
    }

    /// True when OOM kills were published less than `within` ago.
    pub fn oom_since(&self, within: Duration) -> bool {
        self.last_oom
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < within)
    }

    /// The v1 OOM eventfd, when the host has one.
    pub fn oom_eventfd(&self) -> Result<Option<AsyncFd<OwnedFd>>> {
        match oom::v1_eventfd(&self.cg)? {
            // An OwnedFd moved in cannot be closed while registered; see
            // child::Child::wait for why the deprecated constructor is used.
            #[allow(deprecated)]
            Some(fd) => Ok(Some(AsyncFd::new(fd).map_err(|e| {
                ShimError::Internal(format!("watch oom of {}: {e}", self.cg.path()))
            })?)),
            None => Ok(None),
        }
    }

    pub fn set_oom_watch(&self, h: tokio::task::JoinHandle<()>) {
        *self.oom_watch.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
    }

    /// Removes the cgroup (and parents podshim made that are now empty).
    pub fn remove(&self) -> Result<()> {
        if let Some(h) = self
            .oom_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            h.abort();
        }
        Ok(self.cg.remove(&self.markers)?)
    }
}
