//! A container of the pod, built whole from what its Create knows: its
//! cgroup, seccomp profile and hooks, the base of its record, and its pid
//! 1 as a [`Process`]. Its exec processes hang off it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use oci_spec::runtime::{Hooks, LinuxSeccomp};
use podshim_types::{ContainerRecord, Id, TaskStatus};

use super::process::Process;
use crate::bundle::Bundle;
use crate::cgroup::TaskResources;
use crate::child::init::InitHandshake;
use crate::error::{Result, ShimError};

/// One container.
pub struct Task {
    pub id: Id,
    /// The container has a pid namespace of its own: its pid 1 reaps, and
    /// its processes are those of that namespace. Without one they are pid
    /// 1's session, killed with it.
    pub own_pid_ns: bool,
    /// Its pid 1.
    pub init: Arc<Process>,
    execs: Mutex<BTreeMap<String, Arc<Process>>>,
    /// Its cgroup; `None` only for a recovered task whose record had none.
    pub resources: Option<TaskResources>,
    /// The container's seccomp profile, which its execs get too.
    pub seccomp: Option<LinuxSeccomp>,
    pub hooks: Hooks,
    /// What does not change after Create: bundle, annotations, stdio,
    /// created_at, cgroup path.
    base: ContainerRecord,
    /// Numbers of the log pipes the pause holds for it.
    parked: Mutex<Vec<i32>>,
    /// How Start runs it, between Create and Start.
    start: Mutex<Option<Starter>>,
}

/// What Start does to a created container.
pub enum Starter {
    /// Tells the waiting `podshim init` to execute the process.
    Init(InitHandshake),
    /// Resumes the tree CRIU restored stopped.
    Restored,
}

impl Task {
    /// A container about to be created from `bundle` (status creating).
    pub fn new(
        id: Id,
        pod: &Id,
        bundle: &Bundle,
        own_pid_ns: bool,
        init: Process,
        resources: TaskResources,
        cgroup: String,
    ) -> Task {
        let base = ContainerRecord {
            oci_version: bundle.spec.version().clone(),
            id: id.to_string(),
            pod: pod.to_string(),
            status: TaskStatus::Creating,
            pid: 0,
            pid_start_time: 0,
            bundle: bundle.dir.to_string_lossy().into_owned(),
            annotations: bundle
                .spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            stdout: init.stdio[1].clone(),
            stderr: init.stdio[2].clone(),
            created_at: podshim_state::time::now_rfc3339(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            exit_reason: None,
            oom_killed: false,
            cgroup: Some(cgroup),
            parked_fds: Vec::new(),
            io_owner: None,
            no_new_keyring: false,
        };
        Task {
            id,
            own_pid_ns,
            init: Arc::new(init),
            execs: Mutex::new(BTreeMap::new()),
            resources: Some(resources),
            seccomp: bundle.seccomp().cloned(),
            hooks: bundle.spec.hooks().clone().unwrap_or_default(),
            base,
            parked: Mutex::new(Vec::new()),
            start: Mutex::new(None),
        }
    }

    /// What its Create's runtime options ask of its processes: the owner of
    /// their stdio, and whether they keep the inherited session keyring.
    pub fn with_options(mut self, o: &crate::options::RuntimeOptions) -> Task {
        self.base.io_owner = o.io_owner;
        self.base.no_new_keyring = o.no_new_keyring;
        self
    }

    /// The owner of its processes' stdio pipes and FIFOs (IoUid/IoGid).
    pub fn io_owner(&self) -> Option<(u32, u32)> {
        self.base.io_owner
    }

    /// The session keyring its processes join: runc's `_ses.<id>`, unless
    /// its runtime options said NoNewKeyring.
    pub fn session_keyring(&self) -> Option<String> {
        (!self.base.no_new_keyring).then(|| podshim_sys::keyring::name_for(self.id.as_str()))
    }

    /// A container as a crashed shim's record left it.
    pub fn restored(id: Id, rec: &ContainerRecord, own_pid_ns: bool) -> Task {
        let bundle = Bundle::load(std::path::Path::new(&rec.bundle)).ok();
        Task {
            init: Arc::new(Process::restored(&id, rec)),
            id,
            own_pid_ns,
            execs: Mutex::new(BTreeMap::new()),
            resources: rec
                .cgroup
                .as_deref()
                .map(|rel| TaskResources::open(rel, crate::cgroup::MARKERS.into())),
            seccomp: bundle.as_ref().and_then(|b| b.seccomp().cloned()),
            hooks: bundle
                .and_then(|b| b.spec.hooks().clone())
                .unwrap_or_default(),
            base: rec.clone(),
            parked: Mutex::new(rec.parked_fds.clone()),
            start: Mutex::new(None),
        }
    }

    /// state.json as it is now.
    pub fn record(&self) -> ContainerRecord {
        let mut r = self.base.clone();
        let p = self.init.st();
        r.status = p.status;
        r.pid = p.pid;
        r.pid_start_time = p.start_time;
        r.started_at = p.started_at.clone();
        r.finished_at = p.finished_at.clone();
        r.exit_code = p.exit_code;
        r.exit_reason = p.exit_reason.clone();
        r.oom_killed = p.oom_killed;
        r.parked_fds = self.parked().clone();
        r
    }

    pub(crate) fn parked(&self) -> MutexGuard<'_, Vec<i32>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn execs(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Process>>> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Exec process `exec_id`.
    pub fn exec(&self, exec_id: &str) -> Result<Arc<Process>> {
        self.execs().get(exec_id).cloned().ok_or_else(|| {
            ShimError::NotFound(format!("exec {exec_id} not found in task {}", self.id))
        })
    }

    /// Registers an exec process; its id must be new.
    pub(crate) fn add_exec(&self, p: Arc<Process>) -> Result<()> {
        let id = p
            .exec_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let mut execs = self.execs();
        if execs.contains_key(&id) {
            return Err(ShimError::AlreadyExists(format!(
                "exec {id} already exists in task {}",
                self.id
            )));
        }
        execs.insert(id, p);
        Ok(())
    }

    pub(crate) fn remove_exec(&self, exec_id: &str) {
        self.execs().remove(exec_id);
    }

    pub(crate) fn set_start(&self, how: Starter) {
        *self.start.lock().unwrap_or_else(|p| p.into_inner()) = Some(how);
    }

    pub(crate) fn take_start(&self) -> Option<Starter> {
        self.start.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The task's cgroup, for verbs that need one.
    pub fn cgroup(&self) -> Result<&TaskResources> {
        self.resources
            .as_ref()
            .ok_or_else(|| ShimError::FailedPrecondition(format!("task {} has no cgroup", self.id)))
    }

    /// The OCI state a hook reads, with `status` as the hook's stage sees it.
    pub fn hook_state(&self, status: &str) -> String {
        podshim_sys::hooks::state_json(
            self.id.as_str(),
            status,
            self.init.pid(),
            &self.base.bundle,
            &self.base.annotations,
        )
    }
}
