//! The sandbox: the pod's own process, the pause. Creating it runs the
//! pause handshake (namespaces made or joined, a user namespace mapped, a
//! pid namespace's real pause adopted, the namespaces pinned under `P/ns`);
//! after Ready the pause's channel stays open so that it can hold the
//! containers' log pipes for a shim that might crash.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use podshim_sys::msg::{NsRequest, PauseConfig};
use podshim_sys::ns::{self, NsKind};
use podshim_sys::proc;
use podshim_types::{Id, PodStatus, TaskStatus};

use super::process::Process;
use super::{Pod, Reservation};
use crate::bundle::Bundle;
use crate::cgroup::TaskResources;
use crate::child::pause::{PauseHandshake, PauseLink, PauseStep};
use crate::child::{self, Child};
use crate::error::{Result, ShimError};
use crate::publish::Happened;

/// The kinds of namespace the pod pins.
const PINNED: [NsKind; 4] = [NsKind::User, NsKind::Net, NsKind::Ipc, NsKind::Uts];

/// The pod's sandbox.
pub struct Sandbox {
    /// The pause.
    pub process: Arc<Process>,
    pub resources: Option<TaskResources>,
    pub bundle: String,
    /// The pause's channel after Ready: it holds the containers' log pipes.
    link: tokio::sync::Mutex<Option<PauseLink>>,
}

impl Sandbox {
    pub fn new(id: &Id, bundle: String, resources: Option<TaskResources>) -> Sandbox {
        Sandbox {
            process: Arc::new(Process::task(id, false, Default::default())),
            resources,
            bundle,
            link: tokio::sync::Mutex::new(None),
        }
    }
}

impl Pod {
    pub(super) async fn create_sandbox(self: &Arc<Self>, id: Id, bundle: Bundle) -> Result<i32> {
        if id != self.id {
            return Err(ShimError::InvalidArgument(format!(
                "sandbox {id} does not belong to this shim, which serves pod {}",
                self.id
            )));
        }
        let namespaces = bundle.sandbox_namespaces()?;
        let sysctl = bundle.sysctls(&namespaces)?;
        bundle.check_hostname(&namespaces)?;
        let reservation = self.reserve(&id)?;
        let rel = crate::cgroup::path_for(&bundle.spec, &self.namespace, &self.id, &id)?;
        let res = TaskResources::create(&rel, crate::cgroup::MARKERS.into(), &bundle.spec)
            .map_err(|e| e.context(&format!("create {id}")))?;
        let bundle_dir = bundle.dir.to_string_lossy().into_owned();
        let sandbox = Arc::new(Sandbox::new(&id, bundle_dir.clone(), Some(res)));
        // Recorded with the pause's pid the moment it exists
        // (record_pause), so that a cleanup after a crash finds both.
        self.update_record(|r| r.cgroup = Some(rel.clone()));
        let _g = sandbox.process.lifecycle.lock().await;
        let (pause, link) = match self
            .start_pause(&sandbox, &bundle, namespaces, sysctl)
            .await
        {
            Ok(started) => started,
            Err(e) => {
                if let Some(r) = &sandbox.resources {
                    if let Err(e) = r.remove().await {
                        tracing::error!("remove cgroup: {e}");
                    }
                }
                self.update_record(|r| {
                    r.pause = None;
                    r.cgroup = None;
                });
                let _ = self.write_record();
                return Err(e);
            }
        };
        crate::fault::point("create-sandbox");
        let pid = pause.pid();
        let stamp = proc::stamp(pid)?;
        sandbox.process.set_pid(pid, stamp.start_time);
        sandbox
            .process
            .set_alive(TaskStatus::Created, pause.signaller()?);
        *sandbox.link.lock().await = Some(link);
        self.update_record(|r| {
            r.pause = Some(stamp);
            r.status = PodStatus::Ready;
            r.bundle = bundle_dir.clone();
            r.hostname = bundle.spec.hostname().clone();
            r.namespaces = PINNED
                .iter()
                .map(|k| (k.proc_name(), self.paths.ns_pin(k.proc_name())))
                .filter(|(_, p)| p.symlink_metadata().is_ok())
                .map(|(k, p)| (k.to_string(), p.to_string_lossy().into_owned()))
                .collect();
        });
        self.write_record()?;
        self.install_sandbox(sandbox.clone(), reservation);
        self.watch(super::exit::Whose::Pause(sandbox.clone()), pause);
        self.watch_oom(sandbox.resources.as_ref(), id.as_str());
        self.emit(
            id.as_str(),
            Happened::Create {
                bundle: bundle_dir,
                pid,
                stdin: String::new(),
                stdout: String::new(),
                stderr: String::new(),
            },
        );
        tracing::info!(pid, "pause ready");
        Ok(pid)
    }

    fn install_sandbox(&self, sandbox: Arc<Sandbox>, reservation: Reservation<'_>) {
        self.registry().sandbox = Some(sandbox);
        drop(reservation);
    }

    /// Runs the pause handshake through to Ready; on failure nothing of it
    /// is left running or pinned.
    async fn start_pause(
        &self,
        sandbox: &Sandbox,
        bundle: &Bundle,
        namespaces: Vec<NsRequest>,
        sysctl: std::collections::HashMap<String, String>,
    ) -> Result<(Child, PauseLink)> {
        let ns_dir = self.paths.ns_dir();
        std::fs::create_dir_all(&ns_dir)
            .map_err(|e| ShimError::Internal(format!("{}: {e}", ns_dir.display())))?;
        let (mut pause, chan) =
            child::spawn("pause", &["--pod", self.id.as_str()], Default::default())?;
        self.record_pause(pause.pid());
        let kinds: Vec<NsKind> = PINNED
            .into_iter()
            .filter(|k| namespaces.iter().any(|r| r.kind == *k))
            .collect();
        let cfg = PauseConfig {
            pod: self.id.to_string(),
            hostname: bundle.spec.hostname().clone(),
            cgroup: sandbox
                .resources
                .as_ref()
                .map(|r| r.join_dirs())
                .unwrap_or_default(),
            namespaces,
            sysctl,
        };
        let outcome = async {
            if let Some(r) = &sandbox.resources {
                // A systemd scope is made around the pause.
                r.place(pause.pid(), self.id.as_str()).await?;
            }
            let mut hs = PauseHandshake::begin(chan, &cfg).await?;
            loop {
                match hs.next().await? {
                    PauseStep::MapUserNs => {
                        let maps = bundle.id_maps(&cfg.namespaces)?;
                        child::map_user_ns(pause.pid(), maps.as_ref())?;
                        hs.mapped().await?;
                    }
                    PauseStep::Forked(real) => {
                        // The first process exits; the real pause is ours.
                        let first = std::mem::replace(&mut pause, Child::adopt(real)?);
                        let _ = first.wait().await;
                        self.record_pause(real);
                    }
                    PauseStep::Ready => break,
                }
            }
            // The pod's own namespaces, pinned as links to the real pause's.
            for kind in &kinds {
                ns::pin_of(pause.pid(), *kind, &ns_dir.join(kind.proc_name()))
                    .map_err(|e| ShimError::Internal(format!("pin the pod's namespaces: {e}")))?;
            }
            Ok(hs.into_link())
        }
        .await;
        match outcome {
            Ok(link) => Ok((pause, link)),
            Err(e) => {
                pause.kill_and_wait().await;
                self.unpin_namespaces();
                Err(e)
            }
        }
    }

    /// Puts the pause's pid and start time in the pod record as soon as
    /// it is known (a crash before Ready must not leave it unrecorded).
    fn record_pause(&self, pid: i32) {
        if let Ok(stamp) = proc::stamp(pid) {
            self.update_record(|r| r.pause = Some(stamp));
            if let Err(e) = self.write_record() {
                tracing::error!("recording the pause: {e}");
            }
        }
    }

    pub(super) fn unpin_namespaces(&self) {
        for kind in PINNED {
            if let Err(e) = ns::unpin(&self.paths.ns_pin(kind.proc_name())) {
                tracing::error!(pod = %self.id, "unpin {}: {e}", kind.proc_name());
            }
        }
        let _ = std::fs::remove_dir(self.paths.ns_dir());
    }

    /// Hands the read ends of a container's log pipes to the pause, which
    /// holds them: if this shim dies the pipes keep a reader (the container
    /// is not killed by SIGPIPE) and the next shim takes them back with
    /// pidfd_getfd. Best effort: a container logs without it. The fd
    /// numbers in the pause, to record.
    pub(super) async fn park(&self, fds: Vec<OwnedFd>) -> Vec<i32> {
        if fds.is_empty() {
            return Vec::new();
        }
        let Some(sandbox) = self.sandbox() else {
            return Vec::new();
        };
        let mut guard = sandbox.link.lock().await;
        let Some(link) = guard.as_mut() else {
            return Vec::new();
        };
        let mut held = Vec::new();
        for fd in &fds {
            match link.hold(fd.as_fd()).await {
                Ok(n) => held.push(n),
                Err(_) => break,
            }
        }
        if held.len() != fds.len() {
            tracing::warn!("the pause did not take the log pipes");
        }
        held
    }

    /// The pause lets go of a deleted container's log pipes.
    pub(super) async fn unpark(&self, fds: Vec<i32>) {
        let Some(sandbox) = self.sandbox() else {
            return;
        };
        let mut guard = sandbox.link.lock().await;
        if let Some(link) = guard.as_mut() {
            for fd in fds {
                let _ = link.release(fd).await;
            }
        }
    }

    /// Start of the sandbox: the pause is already up; it is told running.
    pub(super) async fn start_sandbox(&self, sandbox: &Sandbox) -> Result<i32> {
        let p = &sandbox.process;
        let _g = p.lifecycle.lock().await;
        p.check(podshim_types::Verb::Start)?;
        p.set_running();
        let pid = p.pid();
        self.emit(self.id.as_str(), Happened::Start { pid });
        self.emit(self.id.as_str(), Happened::SandboxReady { pid });
        Ok(pid)
    }
}
