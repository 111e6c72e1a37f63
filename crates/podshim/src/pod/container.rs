//! Creating and starting a container: the namespace plan (the pod's pins
//! for a member), the task built whole, `podshim init` driven through its
//! handshake to Ready (hooks, terminal, user namespace maps on the way),
//! the log pipes parked with the pause; Start sends `Start` and takes end
//! of file as executed.

use std::sync::Arc;

use podshim_sys::msg::{InitConfig, NsRequest, RootfsMount};
use podshim_sys::ns::NsKind;
use podshim_sys::proc;
use podshim_types::{Id, PodStatus, TaskStatus, Verb};

use super::exit::Whose;
use super::process::Process;
use super::task::{Starter, Task};
use super::Pod;
use crate::bundle::{Bundle, Role};
use crate::cgroup::TaskResources;
use crate::child::init::{InitHandshake, InitStep};
use crate::child::{self, Child};
use crate::error::{Result, ShimError};
use crate::publish::Happened;
use crate::stdio::{IoHandle, Stdio};

impl Pod {
    /// The namespaces a container of `bundle` enters, in order: a pod
    /// member's shared ones are the pod's pins.
    pub(super) fn namespace_plan(&self, bundle: &Bundle) -> Result<Vec<NsRequest>> {
        let pins = |kind: &str| self.paths.ns_pin(kind).to_string_lossy().into_owned();
        match bundle.role {
            Role::Member { .. } => bundle.namespace_plan(Some(&pins)),
            _ => bundle.namespace_plan(None),
        }
    }

    pub(super) async fn create_container(
        self: &Arc<Self>,
        id: Id,
        bundle: Bundle,
        role: Role,
        stdio: Stdio,
        from: super::Source<'_>,
        options: &crate::options::RuntimeOptions,
    ) -> Result<i32> {
        let (rootfs, checkpoint) = (from.rootfs, from.checkpoint);
        let plan = match &role {
            Role::Member { sandbox } => {
                if sandbox != self.id.as_str() || self.sandbox().is_none() {
                    return Err(ShimError::NotFound(format!(
                        "sandbox {sandbox} of container {id} not found (this shim serves pod {})",
                        self.id
                    )));
                }
                if self.record().status != PodStatus::Ready {
                    return Err(ShimError::FailedPrecondition(format!(
                        "pod {} is stopped",
                        self.id
                    )));
                }
                self.namespace_plan(&bundle)?
            }
            _ => self.namespace_plan(&bundle)?,
        };
        bundle.check_container()?;
        bundle.sysctls(&plan)?;
        bundle.check_hostname(&plan)?;
        let mut reservation = self.reserve(&id)?;
        let what = format!("create {id}");
        let rel = crate::cgroup::path_for(&bundle.spec, &self.namespace, &self.id, &id)?;
        let dir = self.paths.container_dir(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ShimError::Internal(format!("{}: {e}", dir.display())))?;
        let res = match TaskResources::create(&rel, crate::cgroup::MARKERS.into(), &bundle.spec) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.context(&what));
            }
        };
        let own_pid_ns = plan.iter().any(|r| r.is_new(NsKind::Pid));
        let terminal = stdio.terminal;
        let init = Process::task(&id, terminal, stdio.uris.clone());
        let task = Arc::new(
            Task::new(id.clone(), &self.id, &bundle, own_pid_ns, init, res, rel)
                .with_options(options),
        );
        let _g = task.init.lifecycle.lock().await;
        let made = match checkpoint {
            // Not cut short by a Delete (which waits for it): a criu
            // stopped half-way would leave a tree nobody owns.
            Some(image) => {
                self.restore_init(&task, &bundle, &plan, &stdio, rootfs, image)
                    .await
            }
            None => {
                self.start_init(&task, &bundle, plan, &stdio, rootfs, &mut reservation)
                    .await
            }
        };
        let pid1 = match made {
            Ok(pid1) => pid1,
            Err(e) => {
                if let Some(r) = &task.resources {
                    if let Err(e) = r.remove().await {
                        tracing::error!("remove cgroup: {e}");
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.context(&what));
            }
        };
        let pid = pid1.pid();
        self.registry().tasks.insert(id.to_string(), task.clone());
        drop(reservation);
        self.watch(Whose::Init(task.clone()), pid1);
        self.watch_oom(task.resources.as_ref(), id.as_str());
        self.emit(
            id.as_str(),
            Happened::Create {
                bundle: bundle.dir.to_string_lossy().into_owned(),
                pid,
                stdin: stdio.uris[0].clone(),
                stdout: stdio.uris[1].clone(),
                stderr: stdio.uris[2].clone(),
            },
        );
        tracing::info!(pid, "container created");
        Ok(pid)
    }

    /// Runs `podshim init` through to the container's pid 1 being ready.
    /// On failure nothing of it is left running.
    async fn start_init(
        &self,
        task: &Arc<Task>,
        bundle: &Bundle,
        namespaces: Vec<NsRequest>,
        stdio: &Stdio,
        rootfs: &[RootfsMount],
        reservation: &mut super::Reservation<'_>,
    ) -> Result<Child> {
        let terminal = task.init.terminal;
        let (child_stdio, mut io) = if terminal {
            (Default::default(), IoHandle::default())
        } else {
            let who = self.stdio_owner(task);
            tokio::select! {
                r = crate::stdio::open(stdio, &who) => r?,
                () = reservation.cancelled() => return Err(deleted(&task.id)),
            }
        };
        let maps = bundle.id_maps(&namespaces)?;
        let cfg = InitConfig {
            container: task.id.to_string(),
            bundle: bundle.dir.to_string_lossy().into_owned(),
            spec: bundle.spec.clone(),
            namespaces,
            terminal,
            rootfs_mounts: rootfs.to_vec(),
            cgroup: task
                .resources
                .as_ref()
                .map(|r| r.join_dirs())
                .unwrap_or_default(),
            session_keyring: task.session_keyring(),
        };
        let (first, chan) = child::spawn("init", &["--container", task.id.as_str()], child_stdio)?;
        let mut first = Some(first);
        let mut pid1: Option<Child> = None;
        let handshake = async {
            // On disk before the child has its config, so before it makes
            // anything; written while it starts up on another core (it
            // exits if this shim goes before the config).
            self.persist(task)?;
            if let (Some(r), Some(f)) = (&task.resources, &first) {
                // A systemd scope is made around the first process.
                r.place(f.pid(), task.id.as_str()).await?;
            }
            let mut hs = InitHandshake::begin(chan, &cfg).await?;
            loop {
                match hs.next().await? {
                    InitStep::Ended => {
                        return Err(ended(&mut first, &mut pid1, task.resources.as_ref()).await)
                    }
                    InitStep::MapUserNs => {
                        let first_pid = first.as_ref().map(Child::pid).unwrap_or(0);
                        child::map_user_ns(first_pid, maps.as_ref())?;
                        hs.mapped().await?;
                    }
                    InitStep::Forked(pid) => {
                        // Ours before its parent exits, so nothing else
                        // reaps it; on disk before anything can crash.
                        let adopted = Child::adopt(pid)?;
                        let stamp = proc::stamp(pid)?;
                        pid1 = Some(adopted);
                        if let Some(f) = first.take() {
                            let _ = f.wait().await;
                        }
                        task.init.set_pid(pid, stamp.start_time);
                        self.persist(task)?;
                    }
                    InitStep::CreateRuntime => {
                        // Namespaces made, nothing mounted: the runtime
                        // namespace hooks see the container's pid.
                        let state = task.hook_state("creating");
                        crate::hooks::run(&task.hooks, "prestart", &state).await?;
                        crate::hooks::run(&task.hooks, "createRuntime", &state).await?;
                        hs.resume(state).await?;
                    }
                    InitStep::Terminal(master) => io = crate::stdio::copy::terminal(master, stdio)?,
                    InitStep::Ready => {
                        crate::fault::point("create-container");
                        return Ok(hs);
                    }
                }
            }
        };
        // A Delete while it runs stops it: what it started is killed below.
        let handshake = tokio::select! {
            r = handshake => r,
            () = reservation.cancelled() => Err(deleted(&task.id)),
        };
        let hs = match handshake {
            Ok(hs) => hs,
            Err(e) => {
                for c in [first, pid1].into_iter().flatten() {
                    c.kill_and_wait().await;
                }
                io.close_stdin();
                return Err(e);
            }
        };
        let pid1 = pid1.ok_or_else(|| ShimError::Internal("container init: no pid 1".into()))?;
        self.settle_created(task, pid1, io, Starter::Init(hs)).await
    }

    /// A container whose pid 1 is up and waits for Start: its log pipes
    /// parked with the pause, its status Created on disk, attach served.
    pub(super) async fn settle_created(
        &self,
        task: &Arc<Task>,
        pid1: Child,
        mut io: IoHandle,
        how: Starter,
    ) -> Result<Child> {
        let hub = io.hub();
        let parked = self.park(io.take_parkable()).await;
        task.init.set_alive(TaskStatus::Created, pid1.signaller()?);
        task.init.st().io.attach(io);
        *task.parked() = parked;
        task.set_start(how);
        if let Err(e) = self.persist(task) {
            pid1.kill_and_wait().await;
            return Err(e);
        }
        if let Some(hub) = hub {
            // Attach is a convenience: a container runs without it.
            let path = self.paths.container_attach(&task.id);
            if let Err(e) = crate::stdio::attach::listen(hub, path) {
                tracing::warn!("{e}");
            }
        }
        Ok(pid1)
    }

    /// Start of a container: its pid 1 executes the process.
    pub(super) async fn start_container(self: &Arc<Self>, task: &Arc<Task>) -> Result<i32> {
        let _g = task.init.lifecycle.lock().await;
        task.init.check(Verb::Start)?;
        let pid = task.init.pid();
        let how = task.take_start().ok_or_else(|| {
            ShimError::Internal(format!("task {}: start channel missing", task.id))
        })?;
        match how {
            Starter::Init(hs) => {
                let state = (!crate::hooks::of(&task.hooks, "startContainer").is_empty())
                    .then(|| task.hook_state("created"));
                hs.start(state)
                    .await
                    .map_err(|e| e.context(&format!("start {}", task.id)))?;
            }
            Starter::Restored => self.resume_restored(task, pid)?,
        }
        task.init.set_running();
        // It runs: a record the disk refuses now is written later.
        self.persist_done(task);
        self.emit(task.id.as_str(), Happened::Start { pid });
        let state = task.hook_state("running");
        crate::hooks::run_logged(&task.hooks, "poststart", &state).await;
        Ok(pid)
    }
}

/// The error of a Create a Delete stopped.
fn deleted(id: &Id) -> ShimError {
    ShimError::FailedPrecondition(format!("task {id} was deleted while it was being created"))
}

/// The init ended without a word before Ready (a memory limit that kills
/// it, a crash): the error says how it ended, an OOM kill by name, as
/// runc's does.
async fn ended(
    first: &mut Option<Child>,
    pid1: &mut Option<Child>,
    resources: Option<&TaskResources>,
) -> ShimError {
    let e = "container init ended before it was ready";
    let code = match pid1.take().or_else(|| first.take()) {
        Some(c) => c.exit_within(std::time::Duration::from_millis(500)).await,
        None => None,
    };
    let oom = resources.map_or(0, TaskResources::oom_kills);
    match code {
        Some(137) if oom > 0 => ShimError::ResourceExhausted(
            "container init was OOM-killed before it was ready (memory limit too low?)".into(),
        ),
        Some(code) => ShimError::Internal(format!("{e}: it exited with code {code}")),
        None => ShimError::Internal(e.into()),
    }
}
