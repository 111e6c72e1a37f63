//! A task's cgroup as the shim drives it: made and limited at create,
//! watched for OOM kills, changed by Update, frozen by Pause, and removed
//! at delete. Stats are read in [`metrics`].
//!
//! Where it lives: the spec's linux.cgroupsPath when given, in cgroupfs
//! form (made by podshim) or systemd's `slice:prefix:name` (a scope unit
//! systemd makes, [`systemd`]), as containerd's CRI passes them; otherwise
//! `<parent>/<namespace>/<pod>/<task>`, the parent being
//! `$PODSHIM_CGROUP_PARENT` or `podshim`, so a pod's tasks share one pod
//! cgroup.

pub mod metrics;
pub mod systemd;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxResources, Spec};
use podshim_sys::cgroup::{oom, CgroupPath, ScopeUnit, TaskCgroup};
use podshim_types::Id;
use tokio::io::unix::AsyncFd;

use crate::error::{Result, ShimError};

/// The cgroup path for a task, checked, as the records keep it: the
/// cgroupfs path relative to the hierarchies' roots, or the systemd form
/// `slice:prefix:name` as the spec gave it.
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
    Ok(match CgroupPath::parse(&path)? {
        CgroupPath::Fs { rel } => rel,
        CgroupPath::Systemd(_) => path,
    })
}

/// Where the markers of cgroup directories podshim made live. The cgroup
/// tree is one per host, shared by every shim whatever its state root (two
/// pods may share a parent such as containerd's `/k8s.io`), so the markers
/// are too: whichever shim empties a parent podshim made removes it.
pub const MARKERS: &str = "/run/podshim-cgroups";

/// What Create asked for, kept until the task's first process is placed
/// in a systemd scope (the scope needs a pid, the limits need the scope).
struct Pending {
    resources: LinuxResources,
    devices: Vec<(char, i64, i64)>,
}

/// A task's cgroup and what the shim knows about it.
pub struct TaskResources {
    pub cg: TaskCgroup,
    /// The transient unit systemd keeps the cgroup in (systemd driver).
    scope: Option<ScopeUnit>,
    pending: Mutex<Option<Pending>>,
    markers: PathBuf,
    /// OOM kills already published.
    oom_told: AtomicU64,
    /// When OOM kills were last published.
    last_oom: Mutex<Option<Instant>>,
    oom_watch: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn spec_devices(spec: &Spec) -> Vec<(char, i64, i64)> {
    spec.linux()
        .as_ref()
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
        .collect()
}

impl TaskResources {
    fn new(cg: TaskCgroup, scope: Option<ScopeUnit>, markers: PathBuf) -> TaskResources {
        TaskResources {
            cg,
            scope,
            pending: Mutex::new(None),
            markers,
            oom_told: AtomicU64::new(0),
            last_oom: Mutex::new(None),
            oom_watch: Mutex::new(None),
        }
    }

    /// Makes the cgroup and applies the spec's linux.resources; on failure
    /// nothing of it remains. For a systemd path nothing is made yet: the
    /// scope comes with the task's first process ([`place`](Self::place)).
    pub fn create(path: &str, markers: PathBuf, spec: &Spec) -> Result<TaskResources> {
        let resources = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        let devices = spec_devices(spec);
        if let CgroupPath::Systemd(scope) = CgroupPath::parse(path)? {
            let cg = TaskCgroup::open(&scope.rel);
            if !systemd::available() {
                return Err(ShimError::InvalidArgument(format!(
                    "spec: linux.cgroupsPath: {path:?} is a systemd path, and podshim's \
                     systemd driver needs systemd as init and cgroup v2 only; this host \
                     has {}",
                    if systemd::booted() {
                        "cgroup v1 controllers"
                    } else {
                        "no systemd"
                    }
                )));
            }
            let res = TaskResources::new(cg, Some(scope), markers);
            *res.pending.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Pending { resources, devices });
            return Ok(res);
        }
        let cg = TaskCgroup::create(path, &markers)?;
        let applied = podshim_sys::cgroup::resources::apply(&cg, &resources, Some(&devices));
        let res = TaskResources::new(cg, None, markers);
        if let Err(e) = applied {
            let _ = res.cg.remove(&res.markers);
            return Err(ShimError::InvalidArgument(e.to_string()));
        }
        Ok(res)
    }

    /// Puts the task's first process (`pid`, not yet in any container
    /// namespace) in its systemd scope, then applies the limits there. A
    /// cgroupfs task's process joins by itself: nothing to do.
    pub async fn place(&self, pid: i32, id: &str) -> Result<()> {
        let Some(scope) = &self.scope else {
            return Ok(());
        };
        let Some(p) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(());
        };
        systemd::start(scope, pid as u32, id, Some(&p.resources)).await?;
        if let Err(e) =
            podshim_sys::cgroup::resources::apply(&self.cg, &p.resources, Some(&p.devices))
        {
            let _ = systemd::stop(scope).await;
            return Err(ShimError::InvalidArgument(e.to_string()));
        }
        Ok(())
    }

    /// A task's existing cgroup, as a restarted shim finds it (`path` as
    /// the record keeps it).
    pub fn open(path: &str, markers: PathBuf) -> TaskResources {
        match CgroupPath::parse(path) {
            Ok(CgroupPath::Systemd(scope)) => {
                TaskResources::new(TaskCgroup::open(&scope.rel), Some(scope), markers)
            }
            _ => TaskResources::new(TaskCgroup::open(path), None, markers),
        }
    }

    /// The directories a process writes its pid to, to join.
    pub fn join_dirs(&self) -> Vec<String> {
        self.cg.dirs()
    }

    /// Update: new limits for a running task. Device rules are left as they
    /// are unless the request names some.
    pub async fn update(&self, r: &LinuxResources) -> Result<()> {
        if let Some(scope) = &self.scope {
            systemd::update(scope, r).await?;
        }
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

    /// What becomes readable on an OOM of the cgroup, when the host has a
    /// memory controller.
    pub fn oom_watch_fd(&self) -> Result<Option<AsyncFd<OwnedFd>>> {
        match oom::watch(&self.cg)? {
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

    /// Removes the cgroup (and parents podshim made that are now empty);
    /// a systemd scope is stopped, and systemd removes its directory.
    pub async fn remove(&self) -> Result<()> {
        if let Some(h) = self
            .oom_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            h.abort();
        }
        match &self.scope {
            Some(scope)
                if self
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_none() =>
            {
                systemd::stop(scope).await
            }
            // Never started: nothing was made.
            Some(_) => Ok(()),
            None => Ok(self.cg.remove(&self.markers)?),
        }
    }
}
