//! The pod one shim serves: its tasks (the sandbox, whose process is the
//! pause, and the containers), their lifecycle from create to delete, and
//! the records and events each step leaves in the state directory.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use podshim_state::{time::rfc3339, write_json, PodPaths};
use podshim_sys::msg::{Command, InitConfig, PauseConfig, Report, RootfsMount};
use podshim_sys::{ns, proc};
use podshim_types::{ContainerRecord, Id, PodRecord, PodStatus, TaskStatus};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::bundle::{Bundle, Role};
use crate::children::{map_user_ns, spawn_child, spawn_forking, AsyncChannel, Spawned};
use crate::error::{Result, ShimError};
use crate::io::IoHandle;
use crate::publish::{Happened, Publisher};
use crate::reaper::wait_exit;
use crate::resources::TaskResources;

/// How a task ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: i32,
    pub at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The pod's infra task; its process is the pause.
    Sandbox,
    Container {
        own_pid_ns: bool,
    },
}

/// Why an exit code is 255 when a crashed shim left the process behind.
const LOST_EXIT: &str =
    "exited while no shim was running, or its exit code could not be read: exit code unknown";

/// One task of the pod.
pub struct Task {
    pub id: Id,
    pub kind: Kind,
    /// The container process has a terminal.
    pub terminal: bool,
    /// Held across each lifecycle step (create, start, exit, delete) so
    /// their records and events never interleave.
    lifecycle: tokio::sync::Mutex<()>,
    state: Mutex<TaskState>,
    exited: watch::Sender<Option<Exit>>,
    /// Exec processes, by exec id.
    pub(crate) execs: Mutex<BTreeMap<String, Arc<crate::exec::Exec>>>,
    /// The task's cgroup, once made.
    pub(crate) resources: OnceLock<TaskResources>,
    /// When an OOM kill in the task's cgroup was last published.
    last_oom: Mutex<Option<Instant>>,
    /// The container's seccomp profile, which its execs get too.
    pub(crate) seccomp: OnceLock<oci_spec::runtime::LinuxSeccomp>,
    /// The container's OCI hooks.
    hooks: OnceLock<oci_spec::runtime::Hooks>,
}

pub(crate) struct TaskState {
    pub(crate) record: ContainerRecord,
    /// For signals; `None` once the process is reaped.
    pidfd: Option<OwnedFd>,
    /// The container pid 1's channel, kept until Start.
    start: Option<AsyncChannel>,
    /// Copied stdio (stdin feed, terminal).
    pub(crate) io: IoHandle,
}

/// A snapshot of a task for State and friends.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub record: ContainerRecord,
    pub exit: Option<Exit>,
}

impl Task {
    fn new(id: Id, kind: Kind, terminal: bool, record: ContainerRecord) -> Arc<Task> {
        Arc::new(Task {
            id,
            kind,
            terminal,
            lifecycle: tokio::sync::Mutex::new(()),
            state: Mutex::new(TaskState {
                record,
                pidfd: None,
                start: None,
                io: IoHandle::default(),
            }),
            exited: watch::channel(None).0,
            execs: Mutex::new(BTreeMap::new()),
            resources: OnceLock::new(),
            last_oom: Mutex::new(None),
            seccomp: OnceLock::new(),
            hooks: OnceLock::new(),
        })
    }

    pub(crate) fn st(&self) -> MutexGuard<'_, TaskState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> TaskView {
        TaskView {
            record: self.st().record.clone(),
            exit: *self.exited.borrow(),
        }
    }

    pub(crate) fn status(&self) -> TaskStatus {
        self.st().record.status
    }

    pub(crate) fn pid(&self) -> i32 {
        self.st().record.pid
    }

    fn signal(&self, sig: i32) -> Result<()> {
        let st = self.st();
        match &st.pidfd {
            Some(fd) => proc::pidfd_signal(fd, sig).map_err(|e| match e {
                podshim_sys::SysError::Os {
                    errno: nix::errno::Errno::ESRCH,
                    ..
                } => ShimError::NotFound(format!("task {}: process already finished", self.id)),
                e => e.into(),
            }),
            None => Err(ShimError::NotFound(format!(
                "task {}: process already finished",
                self.id
            ))),
        }
    }

    /// Waits until the task's process has exited.
    pub async fn wait(&self) -> Exit {
        wait_exited(&self.exited).await
    }
}

/// Waits until an exit is recorded in `exited`.
pub(crate) async fn wait_exited(exited: &watch::Sender<Option<Exit>>) -> Exit {
    let mut rx = exited.subscribe();
    loop {
        if let Some(e) = *rx.borrow_and_update() {
            return e;
        }
        if rx.changed().await.is_err() {
            // The sender outlives every waiter; unreachable in practice.
            return Exit {
                code: 255,
                at: SystemTime::now(),
            };
        }
    }
}

struct Inner {
    record: PodRecord,
    tasks: BTreeMap<String, Arc<Task>>,
}

/// The pod served by this shim.
pub struct Pod {
    pub namespace: Id,
    pub id: Id,
    pub paths: PodPaths,
    inner: Mutex<Inner>,
    publisher: Mutex<Publisher>,
    /// Notified when Shutdown finds no task left.
    pub shutdown: Notify,
    /// The pause's channel after Ready: it holds the containers' log pipes.
    pause_channel: tokio::sync::Mutex<Option<AsyncChannel>>,
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
            inner: Mutex::new(Inner {
                record,
                tasks: BTreeMap::new(),
            }),
            publisher: Mutex::new(publisher),
            shutdown: Notify::new(),
            pause_channel: tokio::sync::Mutex::new(None),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, id: &str, what: Happened) {
        self.publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .emit(id, what);
    }

    pub fn task(&self, id: &str) -> Result<Arc<Task>> {
        self.inner()
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| ShimError::NotFound(format!("task {id} not found in pod {}", self.id)))
    }

    pub fn task_count(&self) -> usize {
        self.inner().tasks.len()
    }

    pub fn write_record(&self) -> Result<()> {
        let rec = self.inner().record.clone();
        write_json(&self.paths.record(), &rec)?;
        Ok(())
    }

    fn persist(&self, task: &Task) -> Result<()> {
        match task.kind {
            Kind::Sandbox => self.write_record(),
            Kind::Container { .. } => {
                let rec = task.st().record.clone();
                write_json(&self.paths.container_record(&task.id), &rec)?;
                Ok(())
            }
        }
    }

    /// Reserves `id` so that a second Create of it fails at once.
    fn reserve(
        &self,
        id: &Id,
        kind: Kind,
        bundle: &Bundle,
        stdio: [&str; 3],
        terminal: bool,
    ) -> Result<Arc<Task>> {
        let mut inner = self.inner();
        if inner.tasks.contains_key(id.as_str()) {
            return Err(ShimError::AlreadyExists(format!(
                "task {id} already exists in pod {}",
                self.id
            )));
        }
        let record = ContainerRecord {
            oci_version: bundle.spec.version().clone(),
            id: id.to_string(),
            pod: self.id.to_string(),
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
            stdout: stdio[1].to_string(),
            stderr: stdio[2].to_string(),
            created_at: podshim_state::time::now_rfc3339(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            exit_reason: None,
            oom_killed: false,
            cgroup: None,
            parked_fds: Vec::new(),
        };
        let _ = stdio[0];
        let task = Task::new(id.clone(), kind, terminal, record);
        inner.tasks.insert(id.to_string(), task.clone());
        Ok(task)
    }

    fn unreserve(&self, id: &Id) {
        self.inner().tasks.remove(id.as_str());
    }

    /// Create: the sandbox gets a pause, a container gets `podshim init`.
    pub async fn create(
        self: &Arc<Self>,
        id: &str,
        bundle_dir: &str,
        stdio: [&str; 3],
        terminal: bool,
        rootfs: &[RootfsMount],
    ) -> Result<i32> {
        let id = crate::bundle::task_id(id)?;
        let bundle = Bundle::load(Path::new(bundle_dir))?;
        let span = tracing::info_span!("create", namespace = %self.namespace, pod = %self.id, container = %id);
        match bundle.role.clone() {
            Role::Sandbox if terminal => Err(ShimError::InvalidArgument(format!(
                "sandbox {id} cannot have a terminal"
            ))),
            Role::Sandbox => self.create_sandbox(id, bundle).instrument(span).await,
            role => {
                self.create_container(id, bundle, role, stdio, terminal, rootfs)
                    .instrument(span)
                    .await
            }
        }
    }

    async fn create_sandbox(self: &Arc<Self>, id: Id, bundle: Bundle) -> Result<i32> {
        if id != self.id {
            return Err(ShimError::InvalidArgument(format!(
                "sandbox {id} does not belong to this shim, which serves pod {}",
                self.id
            )));
        }
        let namespaces = bundle.sandbox_namespaces()?;
        let task = self.reserve(&id, Kind::Sandbox, &bundle, ["", "", ""], false)?;
        let _g = task.lifecycle.lock().await;
        if let Err(e) = self.make_cgroup(&task, &bundle) {
            self.unreserve(&id);
            return Err(e);
        }
        // Recorded with the pause's pid the moment it exists (record_pause),
        // so that a cleanup after a crash finds both.
        self.inner().record.cgroup = task.st().record.cgroup.clone();
        match self.start_pause(&task, &bundle, namespaces).await {
            Ok((pid, pidfd)) => {
                crate::fault::point("create-sandbox");
                let waiter = pidfd
                    .try_clone()
                    .map_err(|e| ShimError::Internal(format!("dup pidfd: {e}")))?;
                let stamp = proc::stamp(pid)?;
                {
                    let mut st = task.st();
                    st.record.status = TaskStatus::Created;
                    st.record.pid = pid;
                    st.record.pid_start_time = stamp.start_time;
                    st.pidfd = Some(pidfd);
                }
                {
                    let mut inner = self.inner();
                    let r = &mut inner.record;
                    r.pause = Some(stamp);
                    r.cgroup = task.st().record.cgroup.clone();
                    r.status = PodStatus::Ready;
                    r.bundle = bundle.dir.to_string_lossy().into_owned();
                    r.hostname = bundle.spec.hostname().clone();
                    r.namespaces = ["user", "net", "ipc", "uts"]
                        .iter()
                        .filter(|k| self.paths.ns_pin(k).exists())
                        .map(|k| {
                            (
                                k.to_string(),
                                self.paths.ns_pin(k).to_string_lossy().into_owned(),
                            )
                        })
                        .collect();
                }
                self.write_record()?;
                self.watch(task.clone(), waiter);
                self.watch_oom(&task);
                self.emit(
                    id.as_str(),
                    Happened::Create {
                        bundle: bundle.dir.to_string_lossy().into_owned(),
                        pid,
                        stdin: String::new(),
                        stdout: String::new(),
                        stderr: String::new(),
                    },
                );
                tracing::info!(pid, "pause ready");
                Ok(pid)
            }
            Err(e) => {
                self.drop_cgroup(&task);
                self.unreserve(&id);
                {
                    let mut inner = self.inner();
                    inner.record.pause = None;
                    inner.record.cgroup = None;
                }
                let _ = self.write_record();
                Err(e)
            }
        }
    }

    /// Makes the task's cgroup with the spec's limits.
    fn make_cgroup(&self, task: &Task, bundle: &Bundle) -> Result<()> {
        let rel = crate::resources::path_for(&bundle.spec, &self.namespace, &self.id, &task.id)?;
        let res = TaskResources::create(&rel, crate::resources::MARKERS.into(), &bundle.spec)
            .map_err(|e| context(e, &format!("create {}", task.id)))?;
        task.st().record.cgroup = Some(rel);
        let _ = task.resources.set(res);
        Ok(())
    }

    /// Removes the task's cgroup after a failed create.
    fn drop_cgroup(&self, task: &Task) {
        if let Some(r) = task.resources.get() {
            if let Err(e) = r.remove() {
                tracing::error!(container = %task.id, "remove cgroup: {e}");
            }
        }
    }

    /// Publishes OOM kills in the task's cgroup as the kernel reports them
    /// (v1 eventfd); on v2 they are counted at exit.
    fn watch_oom(self: &Arc<Self>, task: &Arc<Task>) {
        let Some(res) = task.resources.get() else {
            return;
        };
        let afd = match res.oom_eventfd() {
            Ok(Some(afd)) => afd,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(container = %task.id, "no OOM notification: {e}");
                return;
            }
        };
        let (pod, t) = (self.clone(), task.clone());
        let h = tokio::spawn(async move {
            loop {
                let Ok(mut ready) = afd.readable().await else {
                    return;
                };
                if podshim_sys::cgroup::oom::drain(afd.get_ref()) {
                    pod.tell_oom(&t);
                } else {
                    ready.clear_ready();
                }
            }
        });
        res.set_oom_watch(h);
    }

    /// Publishes OOM kills not told yet; true when there were some.
    fn tell_oom(&self, task: &Task) -> bool {
        let untold = task
            .resources
            .get()
            .map(|r| r.untold_oom_kills())
            .unwrap_or(0);
        if untold > 0 {
            *task.last_oom.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            tracing::warn!(container = %task.id, kills = untold, "OOM kill");
            self.emit(task.id.as_str(), Happened::Oom);
        }
        untold > 0
    }

    async fn start_pause(
        &self,
        task: &Task,
        bundle: &Bundle,
        namespaces: Vec<podshim_sys::msg::NsRequest>,
    ) -> Result<(i32, OwnedFd)> {
        let ns_dir = self.paths.ns_dir();
        let (pid, pidfd, channel) = self
            .start_pause_inner(task, bundle, namespaces, &ns_dir)
            .await?;
        *self.pause_channel.lock().await = Some(channel);
        Ok((pid, pidfd))
    }

    async fn start_pause_inner(
        &self,
        task: &Task,
        bundle: &Bundle,
        namespaces: Vec<podshim_sys::msg::NsRequest>,
        ns_dir: &Path,
    ) -> Result<(i32, OwnedFd, AsyncChannel)> {
        std::fs::create_dir_all(ns_dir)
            .map_err(|e| ShimError::Internal(format!("{}: {e}", ns_dir.display())))?;
        let Spawned {
            mut pid,
            mut pidfd,
            mut channel,
        } = spawn_child("pause", &["--pod", self.id.as_str()], Default::default())?;
        self.record_pause(pid);
        let cfg = PauseConfig {
            pod: self.id.to_string(),
            namespaces,
            hostname: bundle.spec.hostname().clone(),
            pin_dir: ns_dir.to_string_lossy().into_owned(),
            cgroup: task
                .resources
                .get()
                .map(|r| r.join_dirs())
                .unwrap_or_default(),
        };
        let mut outcome = match channel.send(&cfg).await {
            Ok(()) => channel.recv::<Report>().await,
            Err(e) => Err(e),
        };
        let user_ns = cfg.namespaces.iter().any(|r| r.kind == "user");
        if let Ok(Some(Report::UserNs)) = outcome {
            let maps = bundle.id_maps(&cfg.namespaces);
            outcome = match maps {
                Ok(maps) => match map_user_ns(pid, maps.as_ref(), &mut channel).await {
                    Ok(()) => channel.recv::<Report>().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
        }
        // With a pid namespace the pause forks: the child is the real pause.
        if let Ok(Some(Report::Child { pid: child })) = outcome {
            crate::reaper::track(child);
            let _ = wait_exit(pidfd).await;
            match proc::pidfd_open(child) {
                Ok(fd) => {
                    pid = child;
                    pidfd = fd;
                    self.record_pause(pid);
                    outcome = channel.recv::<Report>().await;
                }
                Err(e) => {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(child),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    self.unpin_namespaces();
                    return Err(e.into());
                }
            }
        }
        let failure = match outcome {
            Ok(Some(Report::Ready)) if !user_ns => return Ok((pid, pidfd, channel)),
            // In its user namespace the pause cannot mount on the host.
            Ok(Some(Report::Ready)) => match pin_from_outside(pid, ns_dir).await {
                Ok(()) => return Ok((pid, pidfd, channel)),
                Err(e) => e,
            },
            Ok(Some(Report::Error { stage, message })) => {
                ShimError::InvalidArgument(format!("pause: {stage}: {message}"))
            }
            Ok(other) => ShimError::Internal(format!("pause: unexpected report {other:?}")),
            Err(e) => e,
        };
        let _ = proc::pidfd_signal(&pidfd, libc::SIGKILL);
        let _ = wait_exit(pidfd).await;
        self.unpin_namespaces();
        Err(failure)
    }

    /// Hands the read ends of a container's log pipes to the pause, which
    /// holds them: if this shim dies the pipes keep a reader (the container
    /// is not killed by SIGPIPE) and the next shim takes them back with
    /// pidfd_getfd. Best effort: a container logs without it. The fd
    /// numbers in the pause, to record.
    async fn park(&self, task: &Task, fds: Vec<OwnedFd>) -> Vec<i32> {
        if fds.is_empty() {
            return Vec::new();
        }
        let mut guard = self.pause_channel.lock().await;
        let Some(chan) = guard.as_mut() else {
            return Vec::new();
        };
        let mut held = Vec::new();
        for fd in &fds {
            use std::os::fd::AsFd;
            if chan.send_with_fd(&Command::Hold, fd.as_fd()).await.is_err() {
                break;
            }
            match chan.recv::<Report>().await {
                Ok(Some(Report::Held { fd })) => held.push(fd),
                _ => break,
            }
        }
        drop(guard);
        if held.len() != fds.len() {
            tracing::warn!(container = %task.id, "the pause did not take the log pipes");
        }
        held
    }

    /// The pause lets go of a deleted container's log pipes.
    async fn unpark(&self, task: &Task) {
        let fds = std::mem::take(&mut task.st().record.parked_fds);
        let mut guard = self.pause_channel.lock().await;
        if let Some(chan) = guard.as_mut() {
            for fd in fds {
                let _ = chan.send(&Command::Release { fd }).await;
            }
        }
    }

    /// After a shim crash: takes a running container's log pipes back from
    /// the pause and copies them into its log again.
    fn reattach_log(&self, task: &Task, rec: &ContainerRecord, pause: &OwnedFd) {
        if rec.parked_fds.is_empty() || !rec.stdout.starts_with("cri-log://") {
            return;
        }
        let attach = || -> Result<IoHandle> {
            let mut sources = Vec::new();
            for (n, stream) in rec
                .parked_fds
                .iter()
                .zip([crate::attach::STREAM_STDOUT, crate::attach::STREAM_STDERR])
            {
                let fd = proc::pidfd_getfd(pause, *n)?;
                sources.push((crate::io::async_fd(fd)?, stream));
            }
            let mut io = IoHandle::default();
            io.log_output(crate::crilog::CriLog::from_uri(&rec.stdout)?, sources);
            // The pause still holds its own copies.
            drop(io.take_parkable());
            Ok(io)
        };
        match attach() {
            Ok(io) => {
                if let Some(hub) = io.hub() {
                    if let Err(e) =
                        crate::attach::listen(hub, self.paths.container_attach(&task.id))
                    {
                        tracing::warn!("{e}");
                    }
                }
                task.st().io = io;
            }
            Err(e) => tracing::warn!(container = %task.id, "log not taken back: {e}"),
        }
    }

    /// Puts the pause's pid and start time in the pod record as soon as
    /// it is known (a crash before Ready must not leave it unrecorded).
    fn record_pause(&self, pid: i32) {
        if let Ok(stamp) = proc::stamp(pid) {
            self.inner().record.pause = Some(stamp);
            if let Err(e) = self.write_record() {
                tracing::error!("recording the pause: {e}");
            }
        }
    }

    fn unpin_namespaces(&self) {
        for kind in ["user", "net", "ipc", "uts"] {
            if let Err(e) = ns::unpin(&self.paths.ns_pin(kind)) {
                tracing::error!(pod = %self.id, "unpin {kind}: {e}");
            }
        }
        let _ = std::fs::remove_dir(self.paths.ns_dir());
    }

    async fn create_container(
        self: &Arc<Self>,
        id: Id,
        bundle: Bundle,
        role: Role,
        stdio: [&str; 3],
        terminal: bool,
        rootfs: &[RootfsMount],
    ) -> Result<i32> {
        let pins = |kind: &str| self.paths.ns_pin(kind).to_string_lossy().into_owned();
        let plan = match &role {
            Role::Member { sandbox } => {
                if sandbox != self.id.as_str()
                    || self.inner().tasks.get(sandbox).map(|t| t.kind) != Some(Kind::Sandbox)
                {
                    return Err(ShimError::NotFound(format!(
                        "sandbox {sandbox} of container {id} not found (this shim serves pod {})",
                        self.id
                    )));
                }
                if self.inner().record.status != PodStatus::Ready {
                    return Err(ShimError::FailedPrecondition(format!(
                        "pod {} is stopped",
                        self.id
                    )));
                }
                bundle.namespace_plan(Some(&pins))?
            }
            _ => bundle.namespace_plan(None)?,
        };
        bundle.check_container()?;
        let own_pid_ns = plan.iter().any(|r| r.kind == "pid" && r.path.is_none());
        let task = self.reserve(
            &id,
            Kind::Container { own_pid_ns },
            &bundle,
            stdio,
            terminal,
        )?;
        let _g = task.lifecycle.lock().await;
        if let Some(profile) = bundle.seccomp() {
            let _ = task.seccomp.set(profile.clone());
        }
        if let Some(hooks) = bundle.spec.hooks() {
            let _ = task.hooks.set(hooks.clone());
        }
        let dir = self.paths.container_dir(&id);
        let result = async {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ShimError::Internal(format!("{}: {e}", dir.display())))?;
            self.make_cgroup(&task, &bundle)?;
            self.persist(&task)?;
            self.start_init(&task, &bundle, plan, stdio, terminal, rootfs)
                .await
        }
        .await;
        match result {
            Ok((pid, waiter)) => {
                self.watch(task.clone(), waiter);
                self.watch_oom(&task);
                self.emit(
                    id.as_str(),
                    Happened::Create {
                        bundle: bundle.dir.to_string_lossy().into_owned(),
                        pid,
                        stdin: stdio[0].to_string(),
                        stdout: stdio[1].to_string(),
                        stderr: stdio[2].to_string(),
                    },
                );
                tracing::info!(pid, "container created");
                Ok(pid)
            }
            Err(e) => {
                self.drop_cgroup(&task);
                self.unreserve(&id);
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Runs `podshim init` through to the container's pid 1 being ready.
    /// On failure nothing of it is left running.
    async fn start_init(
        &self,
        task: &Arc<Task>,
        bundle: &Bundle,
        namespaces: Vec<podshim_sys::msg::NsRequest>,
        stdio: [&str; 3],
        terminal: bool,
        rootfs: &[RootfsMount],
    ) -> Result<(i32, OwnedFd)> {
        let (child_stdio, mut io) = if terminal {
            crate::stdio::check_terminal(stdio[0], stdio[1], stdio[2])?;
            (Default::default(), IoHandle::default())
        } else {
            let who = crate::stdio::Owner {
                container: task.id.as_str(),
                namespace: self.namespace.as_str(),
            };
            crate::stdio::open(stdio[0], stdio[1], stdio[2], &who).await?
        };
        let cfg = InitConfig {
            container: task.id.to_string(),
            bundle: bundle.dir.to_string_lossy().into_owned(),
            spec: bundle.spec.clone(),
            namespaces,
            terminal,
            rootfs_mounts: rootfs.to_vec(),
            cgroup: task
                .resources
                .get()
                .map(|r| r.join_dirs())
                .unwrap_or_default(),
        };
        let maps = bundle.id_maps(&cfg.namespaces)?;
        let (child, pidfd, mut channel) = spawn_forking(
            "init",
            &["--container", task.id.as_str()],
            child_stdio,
            &cfg,
            maps.as_ref(),
        )
        .await
        .map_err(|e| context(e, &format!("create {}", task.id)))?;
        let stamp = proc::stamp(child);
        let mut failure = stamp
            .as_ref()
            .err()
            .map(|e| ShimError::Internal(e.to_string()));
        // On disk before anything else can fail or crash: a cleanup without
        // this shim must find the process to kill.
        if let Ok(s) = &stamp {
            {
                let mut st = task.st();
                st.record.pid = child;
                st.record.pid_start_time = s.start_time;
            }
            if let Err(e) = self.persist(task) {
                failure = Some(e);
            }
        }
        while failure.is_none() {
            match channel.recv_with_fd::<Report>().await {
                Ok(Some((Report::Ready, _))) => {
                    crate::fault::point("create-container");
                    break;
                }
                Ok(Some((Report::CreateRuntime, _))) => {
                    // Namespaces made, nothing mounted: the runtime-namespace
                    // hooks see the container's pid.
                    task.st().record.pid = child;
                    let hooks = task.hooks.get().cloned().unwrap_or_default();
                    let state = crate::hooks::state(task, "creating");
                    let ran = async {
                        crate::hooks::run(&hooks, "prestart", &state).await?;
                        crate::hooks::run(&hooks, "createRuntime", &state).await?;
                        channel.send(&Command::Continue { state }).await
                    };
                    if let Err(e) = ran.await {
                        failure = Some(context(e, &format!("create {}", task.id)));
                    }
                }
                Ok(Some((Report::Terminal, Some(master)))) => {
                    match crate::io::terminal(master, stdio[0], stdio[1]) {
                        Ok(h) => io = h,
                        Err(e) => failure = Some(e),
                    }
                }
                Ok(Some((Report::Error { stage, message }, _))) => {
                    failure = Some(ShimError::InvalidArgument(format!(
                        "create {}: {stage}: {message}",
                        task.id
                    )))
                }
                Ok(other) => {
                    failure = Some(ShimError::Internal(format!(
                        "create {}: container init ended with report {:?}",
                        task.id,
                        other.map(|o| o.0)
                    )))
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            let _ = proc::pidfd_signal(&pidfd, libc::SIGKILL);
            let _ = wait_exit(pidfd).await;
            io.close_stdin();
            return Err(e);
        }
        let stamp = stamp?;
        let hub = io.hub();
        let parked = self.park(task, io.take_parkable()).await;
        let waiter = pidfd
            .try_clone()
            .map_err(|e| ShimError::Internal(format!("dup pidfd: {e}")))?;
        {
            let mut st = task.st();
            st.record.status = TaskStatus::Created;
            st.record.pid = child;
            st.record.pid_start_time = stamp.start_time;
            st.pidfd = Some(pidfd);
            st.start = Some(channel);
            st.io.attach(io);
            st.record.parked_fds = parked;
        }
        if let Err(e) = self.persist(task) {
            let _ = task.signal(libc::SIGKILL);
            let _ = wait_exit(waiter).await;
            return Err(e);
        }
        if let Some(hub) = hub {
            // Attach is a convenience: a container runs without it.
            if let Err(e) = crate::attach::listen(hub, self.paths.container_attach(&task.id)) {
                tracing::warn!("{e}");
            }
        }
        Ok((child, waiter))
    }

    /// The one waiter of a task's process.
    fn watch(self: &Arc<Self>, task: Arc<Task>, pidfd: OwnedFd) {
        let pod = self.clone();
        let span = tracing::info_span!("exit", pod = %self.id, container = %task.id);
        tokio::spawn(
            async move {
                let code = match wait_exit(pidfd).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!("waiting for exit: {e}");
                        255
                    }
                };
                pod.on_exit(&task, code).await;
            }
            .instrument(span),
        );
    }

    async fn on_exit(&self, task: &Arc<Task>, code: i32) {
        self.on_exit_noted(task, code, None).await
    }

    /// A process a crashed shim left behind exited (`code` None: its code
    /// is lost): recorded as 255 with the reason.
    fn watch_foreign(self: &Arc<Self>, task: Arc<Task>, pidfd: OwnedFd) {
        let pod = self.clone();
        let span = tracing::info_span!("exit", pod = %self.id, container = %task.id);
        tokio::spawn(
            async move {
                let (code, note) = match crate::reaper::wait_foreign(pidfd).await {
                    Ok(Some(c)) => (c, None),
                    Ok(None) => (255, Some(LOST_EXIT.to_string())),
                    Err(e) => (255, Some(format!("{LOST_EXIT}: {e}"))),
                };
                pod.on_exit_noted(&task, code, note).await;
            }
            .instrument(span),
        );
    }

    /// After a shim crash, the next shim of the pod rebuilds it from the
    /// state directory: the pause and the containers whose recorded pid
    /// and start time still match are watched again (their exits are
    /// recorded as usual); those that ended while no shim was there are
    /// recorded with code 255 and the reason. A container created but not
    /// started cannot be started any more (its start channel died with the
    /// shim) and is killed.
    pub fn recover(self: &Arc<Self>, old: PodRecord) {
        let markers = std::path::PathBuf::from(crate::resources::MARKERS);
        {
            let mut inner = self.inner();
            let shim = inner.record.shim;
            inner.record = old.clone();
            inner.record.shim = shim;
        }
        let now = SystemTime::now();
        let gone = |task: &Arc<Task>, reason: &str| {
            let mut st = task.st();
            st.record.status = TaskStatus::Stopped;
            st.record.exit_code = Some(255);
            st.record.finished_at = Some(rfc3339(now));
            st.record.exit_reason = Some(reason.to_string());
            drop(st);
            task.exited.send_replace(Some(Exit { code: 255, at: now }));
        };
        if let Some(stamp) = &old.pause {
            let record = ContainerRecord {
                oci_version: "1.0.2".into(),
                id: self.id.to_string(),
                pod: self.id.to_string(),
                status: TaskStatus::Running,
                pid: stamp.pid,
                pid_start_time: stamp.start_time,
                bundle: old.bundle.clone(),
                annotations: Default::default(),
                stdout: String::new(),
                stderr: String::new(),
                created_at: old.created_at.clone(),
                started_at: None,
                finished_at: None,
                exit_code: None,
                exit_reason: None,
                oom_killed: false,
                cgroup: old.cgroup.clone(),
                parked_fds: Vec::new(),
            };
            let task = Task::new(self.id.clone(), Kind::Sandbox, false, record);
            if let Some(rel) = &old.cgroup {
                let _ = task
                    .resources
                    .set(TaskResources::open(rel, markers.clone()));
            }
            self.inner().tasks.insert(self.id.to_string(), task.clone());
            match proc::pidfd_for(stamp).ok().filter(|_| !stamp.has_exited()) {
                Some(fd) => self.adopt(&task, fd),
                None => {
                    gone(&task, LOST_EXIT);
                    let mut inner = self.inner();
                    inner.record.status = PodStatus::Stopped;
                    inner.record.stopped_at = Some(rfc3339(now));
                    inner.record.stop_reason = Some(format!("pause: {LOST_EXIT}"));
                }
            }
        }
        for id in self.paths.list_containers().unwrap_or_default() {
            let rec = match podshim_state::read_json::<ContainerRecord>(
                &self.paths.container_record(&id),
            ) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(container = %id, "not recovered: {e}");
                    continue;
                }
            };
            let alive = rec
                .stamp()
                .filter(|s| !s.has_exited())
                .and_then(|s| proc::pidfd_for(&s).ok());
            let own_pid_ns = alive.is_some() && {
                let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
                let pause = old.pause.as_ref().map(|p| p.pid).unwrap_or(0);
                ns(rec.pid) != ns(pause) && ns(rec.pid) != ns(std::process::id() as i32)
            };
            let status = rec.status;
            let task = Task::new(
                id.clone(),
                Kind::Container { own_pid_ns },
                false,
                rec.clone(),
            );
            if let Some(rel) = &rec.cgroup {
                let _ = task
                    .resources
                    .set(TaskResources::open(rel, markers.clone()));
            }
            if let Ok(b) = Bundle::load(Path::new(&rec.bundle)) {
                if let Some(p) = b.seccomp() {
                    let _ = task.seccomp.set(p.clone());
                }
                if let Some(h) = b.spec.hooks() {
                    let _ = task.hooks.set(h.clone());
                }
            }
            self.inner().tasks.insert(id.to_string(), task.clone());
            match (status, alive) {
                (TaskStatus::Stopped, _) => {
                    let code = rec.exit_code.unwrap_or(255);
                    task.exited.send_replace(Some(Exit { code, at: now }));
                }
                (TaskStatus::Created | TaskStatus::Creating, Some(fd)) => {
                    let _ = proc::pidfd_signal(&fd, libc::SIGKILL);
                    self.adopt(&task, fd);
                }
                (_, Some(fd)) => {
                    if let Some(pause) = old.pause.as_ref().and_then(|p| proc::pidfd_for(p).ok()) {
                        self.reattach_log(&task, &rec, &pause);
                    }
                    self.adopt(&task, fd)
                }
                (_, None) => {
                    gone(&task, LOST_EXIT);
                    if let Err(e) = self.persist(&task) {
                        tracing::error!(container = %id, "{e}");
                    }
                }
            }
        }
        if let Err(e) = self.write_record() {
            tracing::error!("{e}");
        }
        // A pod whose pause is gone stops, as when the pause dies under a
        // shim: its containers are killed.
        if self.inner().record.status == PodStatus::Stopped {
            self.stop_members(255);
        }
        tracing::info!(
            tasks = self.task_count(),
            "pod recovered after a shim restart"
        );
    }

    /// Watches a process of a recovered task.
    fn adopt(self: &Arc<Self>, task: &Arc<Task>, fd: OwnedFd) {
        match fd.try_clone() {
            Ok(waiter) => {
                {
                    let mut st = task.st();
                    st.pidfd = Some(fd);
                    if st.record.status != TaskStatus::Paused {
                        st.record.status = TaskStatus::Running;
                    }
                }
                self.watch_foreign(task.clone(), waiter);
                self.watch_oom(task);
            }
            Err(e) => tracing::error!(container = %task.id, "dup pidfd: {e}"),
        }
    }

    async fn on_exit_noted(&self, task: &Arc<Task>, code: i32, note: Option<String>) {
        let _g = task.lifecycle.lock().await;
        // Terminal output is copied out before the exit is told.
        let output = task.st().io.take_output();
        crate::io::drain(output).await;
        task.st().io.close_stdin();
        let at = SystemTime::now();
        // An OOM kill is told before the exit it caused (containerd's CRI
        // labels the exit by the OOM event it saw first).
        let oom_now = self.tell_oom(task);
        let oom_recent = task
            .last_oom
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < Duration::from_secs(2));
        let oom_killed = code == 128 + libc::SIGKILL && (oom_now || oom_recent);
        let mut reason = match task.kind {
            Kind::Sandbox => None,
            Kind::Container { .. } => self
                .inner()
                .record
                .stop_reason
                .clone()
                .map(|r| format!("pod stopped: {r}")),
        };
        if oom_killed && reason.is_none() {
            reason = Some("OOMKilled".to_string());
        }
        if reason.is_none() {
            reason = note;
        }
        let pid = {
            let mut st = task.st();
            st.record.status = TaskStatus::Stopped;
            st.record.exit_code = Some(code);
            st.record.finished_at = Some(rfc3339(at));
            st.record.exit_reason = reason.clone();
            st.record.oom_killed = oom_killed;
            st.pidfd = None;
            st.start = None;
            st.record.pid
        };
        if task.kind == Kind::Sandbox {
            let reason = format!("pause (pid {pid}) exited with code {code}");
            let mut inner = self.inner();
            inner.record.status = PodStatus::Stopped;
            inner.record.stopped_at = Some(rfc3339(at));
            inner.record.stop_reason = Some(reason);
        }
        // The exit is on disk before anyone hears of it.
        if let Err(e) = self.persist(task) {
            tracing::error!("recording exit: {e}");
        }
        task.exited.send_replace(Some(Exit { code, at }));
        tracing::info!(pid, code, "exited");
        self.emit(
            task.id.as_str(),
            Happened::Exit {
                exec_id: None,
                pid,
                code,
                at,
                reason,
            },
        );
        if task.kind == Kind::Sandbox {
            self.stop_members(code);
        }
        if task.kind == (Kind::Container { own_pid_ns: false }) {
            // No pid namespace ends the container's other processes with
            // its pid 1: they are its session, which pid 1 led.
            for p in proc::pids_in_session(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// The pause is gone, so the pod is: kill every container.
    fn stop_members(&self, pause_code: i32) {
        let (reason, members): (String, Vec<Arc<Task>>) = {
            let inner = self.inner();
            (
                inner
                    .record
                    .stop_reason
                    .clone()
                    .unwrap_or_else(|| format!("pause exited with code {pause_code}")),
                inner
                    .tasks
                    .values()
                    .filter(|t| t.kind != Kind::Sandbox)
                    .cloned()
                    .collect(),
            )
        };
        self.emit(
            self.id.as_str(),
            Happened::PodStopped {
                reason: reason.clone(),
            },
        );
        for t in members {
            if t.status() != TaskStatus::Stopped {
                tracing::warn!(container = %t.id, "killing: {reason}");
                let _ = t.signal(libc::SIGKILL);
            }
        }
    }

    pub async fn start(&self, id: &str) -> Result<i32> {
        let task = self.task(id)?;
        let _g = task.lifecycle.lock().await;
        let status = task.status();
        if status != TaskStatus::Created {
            return Err(ShimError::FailedPrecondition(format!(
                "task {id} is {}, not created",
                status.as_str()
            )));
        }
        let pid = task.pid();
        if let Kind::Container { .. } = task.kind {
            let chan = task.st().start.take();
            let mut chan = chan
                .ok_or_else(|| ShimError::Internal(format!("task {id}: start channel missing")))?;
            let hooks = task.hooks.get();
            let state = hooks
                .is_some_and(|h| !crate::hooks::of(h, "startContainer").is_empty())
                .then(|| crate::hooks::state(&task, "created"));
            chan.send(&Command::Start { state }).await?;
            crate::fault::point("start");
            // End of file: the container's pid 1 executed the process (its
            // channel was close-on-exec). A report means exec failed.
            match chan.recv::<Report>().await? {
                None => {}
                Some(Report::Error { stage, message }) => {
                    return Err(ShimError::InvalidArgument(format!(
                        "start {id}: {stage}: {message}"
                    )))
                }
                Some(other) => {
                    return Err(ShimError::Internal(format!(
                        "start {id}: unexpected {other:?}"
                    )))
                }
            }
        }
        task.st().record.status = TaskStatus::Running;
        task.st().record.started_at = Some(podshim_state::time::now_rfc3339());
        self.persist(&task)?;
        self.emit(id, Happened::Start { pid });
        if let Some(hooks) = task.hooks.get() {
            let state = crate::hooks::state(&task, "running");
            crate::hooks::run_logged(hooks, "poststart", &state).await;
        }
        if task.kind == Kind::Sandbox {
            self.emit(id, Happened::SandboxReady { pid });
        }
        Ok(pid)
    }

    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        let task = self.task(id)?;
        let sig = i32::try_from(signal)
            .ok()
            .filter(|s| (1..=64).contains(s))
            .ok_or_else(|| {
                ShimError::InvalidArgument(format!("signal {signal} is not a valid signal number"))
            })?;
        if all {
            if let Kind::Container { .. } = task.kind {
                for pid in self.pids(id)? {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::try_from(sig).ok(),
                    );
                }
            }
        }
        task.signal(sig)?;
        // A frozen process takes a signal only once thawed.
        if task.status() == TaskStatus::Paused && sig == libc::SIGKILL {
            if let Ok(r) = self.cgroup_of(&task) {
                r.cg.thaw()?;
            }
        }
        Ok(())
    }

    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let task = self.task(id)?;
        let view = task.view();
        if view.record.status == TaskStatus::Stopped || view.record.pid <= 0 {
            return Ok(Vec::new());
        }
        match task.kind {
            Kind::Container { own_pid_ns: true } => {
                let inode = proc::ns_inode(view.record.pid, "pid")?;
                Ok(proc::pids_in_pid_ns(inode))
            }
            Kind::Container { own_pid_ns: false } => Ok(proc::pids_in_session(view.record.pid)),
            Kind::Sandbox => Ok(vec![view.record.pid]),
        }
    }

    /// Delete: the task must have stopped (a created one is killed first).
    pub async fn delete(&self, id: &str) -> Result<(i32, Exit)> {
        let task = self.task(id)?;
        let mut guard = task.lifecycle.lock().await;
        match task.status() {
            TaskStatus::Running | TaskStatus::Paused => {
                return Err(ShimError::FailedPrecondition(format!(
                    "task {id} is running: kill it before delete"
                )))
            }
            TaskStatus::Creating => {
                return Err(ShimError::FailedPrecondition(format!(
                    "task {id} is being created"
                )))
            }
            TaskStatus::Created => {
                let _ = task.signal(libc::SIGKILL);
                drop(guard);
                task.wait().await;
                guard = task.lifecycle.lock().await;
            }
            TaskStatus::Stopped => {}
        }
        if task.kind == Kind::Sandbox {
            let left: Vec<String> = self
                .inner()
                .tasks
                .values()
                .filter(|t| t.kind != Kind::Sandbox)
                .map(|t| t.id.to_string())
                .collect();
            if !left.is_empty() {
                return Err(ShimError::FailedPrecondition(format!(
                    "pod {} still has containers: {}",
                    self.id,
                    left.join(", ")
                )));
            }
            self.unpin_namespaces();
        }
        if let Some(r) = task.resources.get() {
            r.remove()
                .map_err(|e| context(e, &format!("delete {id}")))?;
        }
        crate::fault::point("delete");
        if !task.st().record.parked_fds.is_empty() {
            self.unpark(&task).await;
        }
        if task.kind != Kind::Sandbox {
            let dir = self.paths.container_dir(&task.id);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(ShimError::Internal(format!("{}: {e}", dir.display())));
                }
            }
        }
        let exit = task.wait().await;
        let pid = task.pid();
        if let Some(hooks) = task.hooks.get() {
            let state = crate::hooks::state(&task, "stopped");
            crate::hooks::run_logged(hooks, "poststop", &state).await;
        }
        self.inner().tasks.remove(id);
        self.emit(
            id,
            Happened::Delete {
                pid,
                code: exit.code,
                at: exit.at,
            },
        );
        drop(guard);
        Ok((pid, exit))
    }

    fn cgroup_of<'a>(&self, task: &'a Task) -> Result<&'a TaskResources> {
        task.resources
            .get()
            .ok_or_else(|| ShimError::FailedPrecondition(format!("task {} has no cgroup", task.id)))
    }

    /// Pause (freeze) or resume (thaw) a running task's processes.
    pub async fn set_paused(&self, id: &str, paused: bool) -> Result<()> {
        let task = self.task(id)?;
        let _g = task.lifecycle.lock().await;
        let (from, to) = if paused {
            (TaskStatus::Running, TaskStatus::Paused)
        } else {
            (TaskStatus::Paused, TaskStatus::Running)
        };
        let status = task.status();
        if status != from {
            return Err(ShimError::FailedPrecondition(format!(
                "task {id} is {}, not {}",
                status.as_str(),
                from.as_str()
            )));
        }
        let cg = &self.cgroup_of(&task)?.cg;
        if paused {
            cg.freeze()?;
        } else {
            cg.thaw()?;
        }
        task.st().record.status = to;
        self.persist(&task)?;
        self.emit(
            id,
            if paused {
                Happened::Paused
            } else {
                Happened::Resumed
            },
        );
        Ok(())
    }

    /// Stats: the task's cgroup metrics.
    pub fn stats(
        &self,
        id: &str,
    ) -> Result<containerd_shim_protos::protobuf::well_known_types::any::Any> {
        let task = self.task(id)?;
        crate::metrics::collect(&self.cgroup_of(&task)?.cg)
    }

    /// Reopens the task's CRI log file (podshim's Update annotation
    /// [`crate::crilog::REOPEN_ANNOTATION`]).
    pub fn reopen_log(&self, id: &str) -> Result<()> {
        self.task(id)?.st().io.reopen_log()
    }

    /// Update: new linux.resources (OCI JSON) for a live task.
    pub async fn update(&self, id: &str, resources: &[u8]) -> Result<()> {
        let task = self.task(id)?;
        let _g = task.lifecycle.lock().await;
        if task.status() == TaskStatus::Stopped {
            return Err(ShimError::FailedPrecondition(format!(
                "task {id} has stopped"
            )));
        }
        let r: oci_spec::runtime::LinuxResources =
            serde_json::from_slice(resources).map_err(|e| {
                ShimError::InvalidArgument(format!(
                    "update {id}: resources are not OCI LinuxResources JSON: {e}"
                ))
            })?;
        self.cgroup_of(&task)?
            .update(&r)
            .map_err(|e| context(e, &format!("update {id}")))
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

/// A signal number from a request, checked.
pub(crate) fn signal_number(signal: u32) -> Result<i32> {
    i32::try_from(signal)
        .ok()
        .filter(|s| (1..=64).contains(s))
        .ok_or_else(|| {
            ShimError::InvalidArgument(format!("signal {signal} is not a valid signal number"))
        })
}

/// Prefixes an error's message, keeping its kind.
pub(crate) fn context(e: ShimError, what: &str) -> ShimError {
    match e {
        ShimError::InvalidArgument(m) => ShimError::InvalidArgument(format!("{what}: {m}")),
        ShimError::NotFound(m) => ShimError::NotFound(format!("{what}: {m}")),
        ShimError::AlreadyExists(m) => ShimError::AlreadyExists(format!("{what}: {m}")),
        ShimError::FailedPrecondition(m) => ShimError::FailedPrecondition(format!("{what}: {m}")),
        ShimError::Unimplemented(m) => ShimError::Unimplemented(format!("{what}: {m}")),
        ShimError::Internal(m) => ShimError::Internal(format!("{what}: {m}")),
    }
}

/// Pins the user, net, ipc and uts namespaces of `pid` in `dir` with
/// `podshim pin`, a fresh process in the host's mount namespace.
async fn pin_from_outside(pid: i32, dir: &Path) -> Result<()> {
    let dir = dir.to_string_lossy().into_owned();
    let args: Vec<&str> = vec![&dir, "user", "net", "ipc", "uts"];
    let pid_arg = pid.to_string();
    let mut all = vec![pid_arg.as_str()];
    all.extend(args);
    // Its errors go to the shim's own log.
    let stdio = podshim_sys::spawn::ChildStdio {
        stderr: std::os::fd::AsFd::as_fd(&std::io::stderr())
            .try_clone_to_owned()
            .ok(),
        ..Default::default()
    };
    let Spawned { pidfd, .. } = spawn_child("pin", &all, stdio)?;
    match wait_exit(pidfd).await? {
        0 => Ok(()),
        code => Err(ShimError::Internal(format!(
            "podshim pin {pid} exited with code {code} (see the shim log)"
        ))),
    }
}
