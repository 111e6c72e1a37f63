//! A task's control group in every mounted hierarchy: where it lives,
//! making it (remembering which directories podshim made, so teardown
//! removes exactly those), joining it, freezing it, its OOM counter, and
//! removing it. Limits are in [`resources`], device access in [`devices`],
//! OOM notification in [`oom`].
//!
//! The hierarchies are whatever /proc/self/mountinfo shows: pure v1, pure
//! v2, or hybrid (v1 controllers with a v2 hierarchy beside them, as
//! systemd mounts at /sys/fs/cgroup/unified). The task's directory is made
//! in each one, so every tool sees the process where it expects it.
//! Controller files are read and written through cgroups-rs.

pub mod devices;
mod hierarchy;
mod make;
pub mod mounts;
pub mod oom;
pub mod path;
pub mod place;
pub mod resources;

pub use path::{CgroupPath, ScopeUnit};

use hierarchy::{controller_hierarchy, hierarchies, Hierarchy};

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cgroups_rs::freezer::{FreezerController, FreezerState};
use cgroups_rs::Cgroup;

use crate::error::SysError;

/// A task's cgroup.
#[derive(Debug)]
pub struct TaskCgroup {
    rel: String,
    hierarchies: Vec<Hierarchy>,
    handle: Cgroup,
}

impl TaskCgroup {
    /// The handle for `rel` ([`CgroupPath::rel`]), whether or not it exists.
    pub fn open(rel: &str) -> TaskCgroup {
        TaskCgroup {
            rel: rel.to_string(),
            hierarchies: hierarchies(),
            handle: Cgroup::load(controller_hierarchy(), rel),
        }
    }

    /// Makes the cgroup in every hierarchy. Each directory podshim makes
    /// gets a marker in `markers`, so [`remove`](Self::remove) takes away
    /// exactly what podshim made, shared parents included once unused.
    pub fn create(rel: &str, markers: &Path) -> Result<TaskCgroup, SysError> {
        let cg = TaskCgroup::open(rel);
        if cg.hierarchies.is_empty() {
            return Err(SysError::Cgroup {
                path: rel.to_string(),
                message: "no cgroup hierarchy is mounted".into(),
            });
        }
        std::fs::create_dir_all(markers).map_err(|e| SysError::io("create", markers, e))?;
        // A parent another shim removes under us shows up as ENOENT: retry.
        let mut attempt = 0;
        loop {
            match cg.make_dirs(markers) {
                Ok(()) => return Ok(cg),
                Err(e) if attempt < 5 && e.kind() == ErrorKind::NotFound => attempt += 1,
                Err(e) => {
                    let _ = cg.remove(markers);
                    return Err(SysError::Cgroup {
                        path: rel.to_string(),
                        message: format!("make the cgroup: {e}"),
                    });
                }
            }
        }
    }

    fn make_dirs(&self, markers: &Path) -> std::io::Result<()> {
        let parts: Vec<&str> = self.rel.split('/').collect();
        // Levels made in any hierarchy; each gets one (empty) marker file,
        // written once (the marker directory may be on a slow disk), also
        // when a later mkdir fails, so that removal finds what was made.
        let mut made = vec![false; parts.len()];
        let result = self.mkdirs(&parts, &mut made);
        for (i, _) in made.iter().enumerate().filter(|(_, m)| **m) {
            let marker = markers.join(marker_name(&parts[..=i].join("/")));
            match std::fs::File::create_new(&marker) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        result
    }

    fn mkdirs(&self, parts: &[&str], made: &mut [bool]) -> std::io::Result<()> {
        for h in &self.hierarchies {
            if !make::leaf(h, parts, made)? {
                make::path(h, parts, made)?;
            }
        }
        Ok(())
    }

    /// The path relative to the hierarchies' roots.
    pub fn path(&self) -> &str {
        &self.rel
    }

    /// The cgroups-rs handle, for the controllers' files.
    pub fn handle(&self) -> &Cgroup {
        &self.handle
    }

    /// The host has a pure v2 hierarchy.
    pub fn v2(&self) -> bool {
        self.handle.v2()
    }

    /// The task's directory in every hierarchy; a process joins each one
    /// ([`join_self`]).
    pub fn dirs(&self) -> Vec<String> {
        self.hierarchies
            .iter()
            .map(|h| h.root.join(&self.rel).to_string_lossy().into_owned())
            .collect()
    }

    /// The task's directory in the cgroup v2 hierarchy, if the host has one
    /// (pure v2, or the unified hierarchy of a hybrid host).
    pub fn v2_dir(&self) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.v2)
            .map(|h| h.root.join(&self.rel))
    }

    /// The directory whose freezer [`freeze`](Self::freeze) drives (the v2
    /// directory on a pure v2 host, else the v1 freezer's), for CRIU.
    pub fn freezer_dir(&self) -> Option<PathBuf> {
        if self.v2() {
            self.v2_dir()
        } else {
            self.controller_dir("freezer")
        }
    }

    /// The directory that holds the memory controller's files.
    pub fn memory_dir(&self) -> Option<PathBuf> {
        self.controller_dir("memory")
    }

    /// Processes in the cgroup (from the first hierarchy that has it).
    pub fn procs(&self) -> Vec<i32> {
        for d in self.dirs() {
            if let Ok(s) = std::fs::read_to_string(Path::new(&d).join("cgroup.procs")) {
                return s.lines().filter_map(|l| l.trim().parse().ok()).collect();
            }
        }
        Vec::new()
    }

    /// Freezes every process of the cgroup and waits until the kernel says
    /// they are frozen.
    pub fn freeze(&self) -> Result<(), SysError> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<(), SysError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), SysError> {
        let err = |message: String| SysError::Cgroup {
            path: self.rel.clone(),
            message,
        };
        let freezer: &FreezerController = self
            .handle
            .controller_of()
            .ok_or_else(|| err("no freezer controller on this host".into()))?;
        let r = if frozen {
            freezer.freeze()
        } else {
            freezer.thaw()
        };
        r.map_err(|e| err(format!("freezer: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            // FREEZING (v1) counts as neither: wait until it settles.
            let state = if self.v2() {
                self.v2_frozen()
            } else {
                match freezer.state() {
                    Ok(FreezerState::Frozen) => Some(true),
                    Ok(FreezerState::Thawed) => Some(false),
                    _ => None,
                }
            };
            if state == Some(frozen) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(err(format!("freezer: still {state:?} after 5 s")));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn v2_frozen(&self) -> Option<bool> {
        let h = self.hierarchies.iter().find(|h| h.v2)?;
        let events = std::fs::read_to_string(h.root.join(&self.rel).join("cgroup.events")).ok()?;
        events
            .lines()
            .find_map(|l| l.strip_prefix("frozen "))
            .map(|v| v.trim() == "1")
    }

    /// How many processes of the cgroup the OOM killer has killed so far
    /// (v1 `memory.oom_control`, v2 `memory.events`), if the kernel says.
    pub fn oom_kills(&self) -> Option<u64> {
        let dir = self.memory_dir()?;
        let file = if self.v2() {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = std::fs::read_to_string(dir.join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Removes the cgroup in every hierarchy, then each parent podshim made
    /// that is now unused. Processes still inside (a container's children
    /// outliving its pid 1) are killed first.
    pub fn remove(&self, markers: &Path) -> Result<(), SysError> {
        let parts: Vec<&str> = self.rel.split('/').collect();
        for depth in (1..=parts.len()).rev() {
            let prefix = parts[..depth].join("/");
            let marker = markers.join(marker_name(&prefix));
            if !marker.exists() {
                // Never made (a create that failed part way): look higher.
                if self
                    .hierarchies
                    .iter()
                    .all(|h| !h.root.join(&prefix).exists())
                {
                    continue;
                }
                return Ok(());
            }
            let leaf = depth == parts.len();
            let mut busy = false;
            for h in &self.hierarchies {
                let dir = h.root.join(&prefix);
                if let Err(e) = remove_dir(&dir, leaf) {
                    if !leaf {
                        busy = true;
                        break;
                    }
                    return Err(SysError::Cgroup {
                        path: prefix,
                        message: format!("remove {}: {e}", dir.display()),
                    });
                }
            }
            if busy {
                return Ok(());
            }
            let _ = std::fs::remove_file(&marker);
        }
        Ok(())
    }
}

/// Joins the calling process to the cgroup whose directories are `dirs`.
///
/// A single-threaded caller (the re-executed children always are) moves
/// its one thread by writing `0` to a v1 directory's `tasks`: the kernel
/// then needs no stable thread group and skips the global threadgroup
/// lock, whose write side waits out an RCU grace period after a quiet
/// spell (10-13 ms here for a first `cgroup.procs` write, 0.2-0.4 ms
/// this way, Linux 6.18). A v2 directory has no `tasks` file (thread
/// moves there stay inside one domain): it, and every directory of a
/// multi-threaded caller, gets the pid in `cgroup.procs`.
pub fn join_self(dirs: &[String]) -> Result<(), SysError> {
    let single = single_threaded();
    let pid = std::process::id().to_string();
    for d in dirs {
        if single {
            let tasks = Path::new(d).join("tasks");
            match std::fs::OpenOptions::new().write(true).open(&tasks) {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, b"0")
                        .map_err(|e| SysError::io("join cgroup", tasks, e))?;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(SysError::io("join cgroup", tasks, e)),
            }
        }
        let f = Path::new(d).join("cgroup.procs");
        std::fs::write(&f, &pid).map_err(|e| SysError::io("join cgroup", f, e))?;
    }
    Ok(())
}

/// Whether the calling process has one thread.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() == 1)
        .unwrap_or(false)
}

/// Whether podshim made the cgroup level `rel` (it has a marker).
pub fn made_by_us(rel: &str, markers: &Path) -> bool {
    markers.join(marker_name(rel)).exists()
}

/// Every process in `rel` and the cgroups below it (first hierarchy).
pub fn procs_below(rel: &str) -> Vec<i32> {
    fn walk(dir: &Path, out: &mut Vec<i32>) {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(h) = hierarchies().first() {
        walk(&h.root.join(rel), &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The cgroups directly below `rel` (first hierarchy), as relative paths.
pub fn children_of(rel: &str) -> Vec<String> {
    let all = hierarchies();
    let Some(h) = all.first() else {
        return Vec::new();
    };
    std::fs::read_dir(h.root.join(rel))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| format!("{rel}/{}", e.file_name().to_string_lossy()))
        .collect()
}

fn marker_name(prefix: &str) -> String {
    prefix.replace('%', "%25").replace('/', "%2F")
}

/// rmdir, tolerating a cgroup already gone. The leaf's stragglers are
/// killed and waited for (a process leaves its cgroup as it exits, before
/// anyone reaps it).
fn remove_dir(dir: &Path, kill_stragglers: bool) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if kill_stragglers && Instant::now() < deadline => {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                if procs.trim().is_empty() && e.raw_os_error() != Some(libc::EBUSY) {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}
