//! The pod one shim serves: the registry of its tasks (the sandbox, whose
//! process is the pause, and the containers), the pod record, and the
//! records and events each step leaves in the state directory. Each step
//! of the lifecycle lives in a file of its own:
//!
//! - [`process`]: the one process core (pid 1, exec, pause);
//! - [`task`]: a container, built from what its Create knows;
//! - [`sandbox`]: the pause, its namespace pins and the log pipes it holds;
//! - [`container`]: creating and starting a container;
//! - [`exec`]: exec processes;
//! - [`exit`]: the one exit watch, OOM labelling, the pod's death;
//! - [`recover`]: taking a pod over after a shim crash;
//! - [`lifecycle`]: kill, delete, pause/resume, update, stats, pids.

mod checkpoint;
mod container;
mod exec;
mod exit;
mod lifecycle;
mod process;
mod recover;
mod restore;
mod sandbox;
mod task;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use podshim_state::{write_json, PodPaths};
use podshim_sys::msg::RootfsMount;
use podshim_types::{Id, PodRecord};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::bundle::{Bundle, Role};
use crate::error::{Result, ShimError};
use crate::publish::{Happened, Publisher};

pub use process::Process;
pub use sandbox::Sandbox;
pub use task::Task;

struct Registry {
    record: PodRecord,
    sandbox: Option<Arc<Sandbox>>,
    /// Ids whose Create is under way, each with the switch that cancels
    /// it (Delete): a second Create of one fails at once.
    creating: BTreeMap<String, Arc<watch::Sender<bool>>>,
    tasks: BTreeMap<String, Arc<Task>>,
}

/// The pod served by this shim.
pub struct Pod {
    pub namespace: Id,
    pub id: Id,
    pub paths: PodPaths,
    registry: Mutex<Registry>,
    publisher: Mutex<Publisher>,
    /// Notified when Shutdown finds no task left.
    pub shutdown: Notify,
}

/// The reservation of an id for a Create; dropping it lets the id go (and
/// tells a Delete waiting for the Create to give up that it has).
struct Reservation<'a> {
    pod: &'a Pod,
    id: Id,
    cancel: watch::Receiver<bool>,
}

impl Reservation<'_> {
    /// Resolves when a Delete asks this Create to give up.
    async fn cancelled(&mut self) {
        if self.cancel.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.pod.registry().creating.remove(self.id.as_str());
    }
}

impl Pod {
    pub fn new(
        namespace: Id,
        id: Id,
        paths: PodPaths,
        record: PodRecord,
        publisher: Publisher,
    ) -> Arc<Pod> {
        Arc::new(Pod {
            namespace,
            id,
            paths,
            registry: Mutex::new(Registry {
                record,
                sandbox: None,
                creating: BTreeMap::new(),
                tasks: BTreeMap::new(),
            }),
            publisher: Mutex::new(publisher),
            shutdown: Notify::new(),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, id: &str, what: Happened) {
        self.publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .emit(id, what);
    }

    /// Writes the event log lines a full disk kept back; true when none is
    /// left.
    pub(crate) fn flush_events(&self) -> bool {
        self.publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush()
    }

    /// The pod record, as it is now.
    pub(crate) fn record(&self) -> PodRecord {
        self.registry().record.clone()
    }

    pub(crate) fn update_record(&self, f: impl FnOnce(&mut PodRecord)) {
        f(&mut self.registry().record)
    }

    pub fn write_record(&self) -> Result<()> {
        let rec = self.record();
        write_json(&self.paths.record(), &rec)?;
        Ok(())
    }

    /// Writes the container's state.json.
    fn persist(&self, task: &Task) -> Result<()> {
        write_json(&self.paths.container_record(&task.id), &task.record())?;
        Ok(())
    }

    /// Writes the record of a step that has happened (a start, a pause):
    /// when the disk refuses it, the step stands, told from memory, and the
    /// record is written later.
    fn persist_done(self: &Arc<Self>, task: &Arc<Task>) {
        if let Err(e) = self.persist(task) {
            tracing::error!(container = %task.id, "recording: {e}; written when there is room");
            self.record_later(exit::Whose::Init(task.clone()));
        }
    }

    pub(crate) fn sandbox(&self) -> Option<Arc<Sandbox>> {
        self.registry().sandbox.clone()
    }

    fn is_sandbox(&self, id: &str) -> bool {
        id == self.id.as_str() && self.sandbox().is_some()
    }

    /// A container of the pod.
    pub fn task(&self, id: &str) -> Result<Arc<Task>> {
        let reg = self.registry();
        if let Some(t) = reg.tasks.get(id) {
            return Ok(t.clone());
        }
        if reg.creating.contains_key(id) {
            return Err(ShimError::FailedPrecondition(format!(
                "task {id} is being created"
            )));
        }
        Err(ShimError::NotFound(format!(
            "task {id} not found in pod {}",
            self.id
        )))
    }

    /// The process a request names: the task's own (`exec_id` empty) or
    /// one of its exec processes. The sandbox's process is the pause.
    pub fn process(&self, id: &str, exec_id: &str) -> Result<Arc<Process>> {
        if self.is_sandbox(id) {
            if !exec_id.is_empty() {
                return Err(ShimError::NotFound(format!(
                    "exec {exec_id} not found in sandbox {id}"
                )));
            }
            if let Some(sb) = self.sandbox() {
                return Ok(sb.process.clone());
            }
        }
        let task = self.task(id)?;
        if exec_id.is_empty() {
            Ok(task.init.clone())
        } else {
            task.exec(exec_id)
        }
    }

    /// The bundle directory of a task, for State.
    pub fn bundle_of(&self, id: &str) -> String {
        match self.sandbox().filter(|_| id == self.id.as_str()) {
            Some(sb) => sb.bundle.clone(),
            None => self.task(id).map(|t| t.record().bundle).unwrap_or_default(),
        }
    }

    /// How many tasks (the sandbox included) the pod has.
    pub fn task_count(&self) -> usize {
        let reg = self.registry();
        reg.tasks.len() + reg.creating.len() + usize::from(reg.sandbox.is_some())
    }

    /// Reserves `id` for a Create.
    fn reserve(&self, id: &Id) -> Result<Reservation<'_>> {
        let mut reg = self.registry();
        let taken = reg.tasks.contains_key(id.as_str())
            || reg.creating.contains_key(id.as_str())
            || (id == &self.id && reg.sandbox.is_some());
        if taken {
            return Err(ShimError::AlreadyExists(format!(
                "task {id} already exists in pod {}",
                self.id
            )));
        }
        let (tx, cancel) = watch::channel(false);
        reg.creating.insert(id.to_string(), Arc::new(tx));
        Ok(Reservation {
            pod: self,
            id: id.clone(),
            cancel,
        })
    }

    /// Asks the Create under way for `id` to give up; `None` when there is
    /// none. The Create kills what it started and removes what it made;
    /// the returned switch's `closed()` resolves when it has.
    fn cancel_create(&self, id: &str) -> Option<Arc<watch::Sender<bool>>> {
        let tx = self.registry().creating.get(id).cloned()?;
        let _ = tx.send(true);
        Some(tx)
    }

    /// Applies what of a Create's runtime options is the shim's: it moves
    /// into ShimCgroup (every hierarchy where it exists). What is the
    /// task's (IoUid/IoGid, NoNewKeyring) goes into its record at Create.
    pub fn apply_options(&self, o: &crate::options::RuntimeOptions) -> Result<()> {
        for field in &o.ignored {
            tracing::info!(pod = %self.id, "runtime option {field} ignored: podshim runs no runc binary");
        }
        if let Some(cg) = &o.shim_cgroup {
            let rel = cg.trim_start_matches('/');
            if rel.split('/').any(|p| p == ".." || p == ".") {
                return Err(ShimError::InvalidArgument(format!(
                    "runtime option ShimCgroup {cg:?}: not a cgroup path"
                )));
            }
            let dirs: Vec<String> = podshim_sys::cgroup::TaskCgroup::open(rel)
                .dirs()
                .into_iter()
                .filter(|d| Path::new(d).is_dir())
                .collect();
            if dirs.is_empty() {
                return Err(ShimError::InvalidArgument(format!(
                    "runtime option ShimCgroup {cg:?}: no such cgroup"
                )));
            }
            podshim_sys::cgroup::join_self(&dirs).map_err(|e| {
                ShimError::Internal(format!("runtime option ShimCgroup {cg:?}: {e}"))
            })?;
        }
        Ok(())
    }

    /// Whose stdio the shim opens for `task`'s processes: its ids, for a
    /// logging binary, and the IoUid/IoGid owner of its pipes.
    pub(crate) fn stdio_owner<'a>(&'a self, task: &'a Task) -> crate::stdio::Owner<'a> {
        crate::stdio::Owner {
            container: task.id.as_str(),
            namespace: self.namespace.as_str(),
            io: task.io_owner(),
        }
    }

    /// Create: the sandbox gets a pause, a container gets `podshim init`
    /// (or CRIU's restore of a checkpoint).
    pub async fn create(
        self: &Arc<Self>,
        id: &str,
        bundle_dir: &str,
        stdio: [&str; 3],
        terminal: bool,
        from: Source<'_>,
        options: &crate::options::RuntimeOptions,
    ) -> Result<i32> {
        let id = crate::bundle::task_id(id)?;
        let bundle = Bundle::load(Path::new(bundle_dir))?;
        let span = tracing::info_span!("create", namespace = %self.namespace, pod = %self.id, container = %id);
        match bundle.role.clone() {
            Role::Sandbox if terminal => Err(ShimError::InvalidArgument(format!(
                "sandbox {id} cannot have a terminal"
            ))),
            Role::Sandbox if from.checkpoint.is_some() => Err(ShimError::InvalidArgument(format!(
                "sandbox {id} is not restored from a checkpoint (its containers are)"
            ))),
            Role::Sandbox => self.create_sandbox(id, bundle).instrument(span).await,
            role => {
                let stdio = crate::stdio::Stdio::parse(stdio, terminal)?;
                self.create_container(id, bundle, role, stdio, from, options)
                    .instrument(span)
                    .await
            }
        }
    }

    /// Shutdown: honoured only when no task is left.
    pub fn shutdown(&self) -> bool {
        if self.task_count() == 0 {
            self.shutdown.notify_one();
            true
        } else {
            false
        }
    }
}

/// What a container's processes are made from besides its bundle: the
/// rootfs mounts containerd passes, and a checkpoint image to restore.
#[derive(Clone, Copy, Default)]
pub struct Source<'a> {
    pub rootfs: &'a [RootfsMount],
    pub checkpoint: Option<&'a Path>,
}

/// A signal number from a request, checked.
pub(crate) fn signal_number(signal: u32) -> Result<i32> {
    i32::try_from(signal)
        .ok()
        .filter(|s| (1..=64).contains(s))
        .ok_or_else(|| {
            ShimError::InvalidArgument(format!("signal {signal} is not a valid signal number"))
        })
}
