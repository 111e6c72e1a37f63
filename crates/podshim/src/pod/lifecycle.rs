//! The verbs on a live pod, for any process a request names: start, kill,
//! delete, pids, pause/resume, update, stats, reopen of a log. Each asks
//! the status table (`TaskStatus::check`) before it acts.

use std::sync::Arc;
use std::time::SystemTime;

use podshim_types::{TaskStatus, Verb};

use super::process::Exit;
use super::task::Task;
use super::{signal_number, Pod};
use crate::error::{Result, ShimError};
use crate::publish::Happened;

/// How long a Delete waits for a Create it cancelled to clean up.
const CREATE_GIVES_UP: std::time::Duration = std::time::Duration::from_secs(10);

impl Pod {
    /// Start: the sandbox, a container, or one of its exec processes.
    pub async fn start(self: &Arc<Self>, id: &str, exec_id: &str) -> Result<i32> {
        if let (Some(sb), true) = (self.sandbox(), exec_id.is_empty() && id == self.id.as_str()) {
            return self.start_sandbox(&sb).await;
        }
        let task = self.task(id)?;
        if exec_id.is_empty() {
            self.start_container(&task).await
        } else {
            self.start_exec(&task, exec_id).await
        }
    }

    /// Kill: a signal to the process; `all` reaches every process of the
    /// container.
    pub fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let sig = signal_number(signal)?;
        let process = self.process(id, exec_id)?;
        let task = self.task(id).ok().filter(|_| exec_id.is_empty());
        if let (true, Some(_)) = (all, &task) {
            for pid in self.pids(id)? {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::try_from(sig).ok(),
                );
            }
        }
        process.signal(sig)?;
        // A frozen process takes a signal only once thawed.
        if let Some(t) = task {
            if t.init.status() == TaskStatus::Paused && sig == libc::SIGKILL {
                t.cgroup()?.cg.thaw()?;
            }
        }
        Ok(())
    }

    /// The processes of a task.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let process = self.process(id, "")?;
        let view = process.view();
        if view.status == TaskStatus::Stopped || view.pid <= 0 {
            return Ok(Vec::new());
        }
        match self.task(id) {
            Err(_) => Ok(vec![view.pid]),
            Ok(t) if t.own_pid_ns => {
                let inode = podshim_sys::proc::ns_inode(view.pid, "pid")?;
                Ok(podshim_sys::proc::pids_in_pid_ns(inode))
            }
            Ok(_) => Ok(podshim_sys::proc::pids_in_session(view.pid)),
        }
    }

    /// Delete: the process must have stopped (a created one is killed
    /// first). Its pid and exit.
    pub async fn delete(&self, id: &str, exec_id: &str) -> Result<(i32, Exit)> {
        if !exec_id.is_empty() {
            return self.delete_exec(id, exec_id).await;
        }
        if self.is_sandbox(id) {
            return self.delete_sandbox().await;
        }
        // (The sandbox's Create, quick and hook-free, is not cancelled.)
        if let Some(create) = (id != self.id.as_str())
            .then(|| self.cancel_create(id))
            .flatten()
        {
            // A Create under way (its client may be long gone): it kills
            // what it started and removes what it made; then the task is
            // gone, as after any Delete.
            let gave_up = tokio::time::timeout(CREATE_GIVES_UP, create.closed()).await;
            if gave_up.is_err() {
                return Err(ShimError::Internal(format!(
                    "task {id}: its Create did not stop within {CREATE_GIVES_UP:?}"
                )));
            }
            tracing::info!(container = id, "deleted while it was being created");
            return Ok((
                0,
                Exit {
                    code: 137,
                    at: SystemTime::now(),
                },
            ));
        }
        let task = self.task(id)?;
        self.delete_container(&task).await
    }

    async fn delete_exec(&self, id: &str, exec_id: &str) -> Result<(i32, Exit)> {
        let task = self.task(id)?;
        let exec = task.exec(exec_id)?;
        let _g = exec.lifecycle.lock().await;
        exec.check(Verb::Delete)?;
        let exit = match exec.status() {
            // Never started.
            TaskStatus::Created => Exit {
                code: 0,
                at: SystemTime::now(),
            },
            _ => exec.exit().ok_or_else(|| {
                ShimError::FailedPrecondition(format!("exec {exec_id} is exiting"))
            })?,
        };
        task.remove_exec(exec_id);
        Ok((exec.pid(), exit))
    }

    async fn delete_sandbox(&self) -> Result<(i32, Exit)> {
        let sandbox = self
            .sandbox()
            .ok_or_else(|| ShimError::NotFound(format!("sandbox {} not found", self.id)))?;
        let p = sandbox.process.clone();
        let _g = stopped(&p).await?;
        let left: Vec<String> = self.registry().tasks.keys().cloned().collect();
        if !left.is_empty() {
            return Err(ShimError::FailedPrecondition(format!(
                "pod {} still has containers: {}",
                self.id,
                left.join(", ")
            )));
        }
        self.unpin_namespaces();
        if let Some(r) = &sandbox.resources {
            r.remove()
                .await
                .map_err(|e| e.context(&format!("delete {}", self.id)))?;
        }
        crate::fault::point("delete");
        let exit = p.wait().await;
        self.registry().sandbox = None;
        let pid = p.pid();
        self.emit_delete(self.id.as_str(), pid, exit);
        Ok((pid, exit))
    }

    async fn delete_container(&self, task: &Arc<Task>) -> Result<(i32, Exit)> {
        let id = task.id.as_str();
        let _g = stopped(&task.init).await?;
        if let Some(r) = &task.resources {
            r.remove()
                .await
                .map_err(|e| e.context(&format!("delete {id}")))?;
        }
        crate::fault::point("delete");
        let parked = std::mem::take(&mut *task.parked());
        if !parked.is_empty() {
            self.unpark(parked).await;
        }
        let dir = self.paths.container_dir(&task.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(ShimError::Internal(format!("{}: {e}", dir.display())));
            }
        }
        let exit = task.init.wait().await;
        let pid = task.init.pid();
        let state = task.hook_state("stopped");
        crate::hooks::run_logged(&task.hooks, "poststop", &state).await;
        self.registry().tasks.remove(id);
        self.emit_delete(id, pid, exit);
        Ok((pid, exit))
    }

    fn emit_delete(&self, id: &str, pid: i32, exit: Exit) {
        self.emit(
            id,
            Happened::Delete {
                pid,
                code: exit.code,
                at: exit.at,
            },
        );
    }

    /// Pause (freeze) or resume (thaw) a running container.
    pub async fn set_paused(self: &Arc<Self>, id: &str, paused: bool) -> Result<()> {
        let task = self.task(id)?;
        let _g = task.init.lifecycle.lock().await;
        let (verb, to) = if paused {
            (Verb::Pause, TaskStatus::Paused)
        } else {
            (Verb::Resume, TaskStatus::Running)
        };
        task.init.check(verb)?;
        let cg = &task.cgroup()?.cg;
        if paused {
            cg.freeze()?;
        } else {
            cg.thaw()?;
        }
        task.init.st().status = to;
        self.persist_done(&task);
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
        if let (true, Some(sb)) = (id == self.id.as_str(), self.sandbox()) {
            let res = sb
                .resources
                .as_ref()
                .ok_or_else(|| ShimError::FailedPrecondition(format!("task {id} has no cgroup")))?;
            return crate::cgroup::metrics::collect(&res.cg);
        }
        crate::cgroup::metrics::collect(&self.task(id)?.cgroup()?.cg)
    }

    /// Reopens the task's CRI log file (podshim's Update annotation
    /// [`crate::stdio::crilog::REOPEN_ANNOTATION`]).
    pub fn reopen_log(&self, id: &str) -> Result<()> {
        self.process(id, "")?.st().io.reopen_log()
    }

    /// Update: new linux.resources (OCI JSON) for a live container.
    pub async fn update(&self, id: &str, resources: &[u8]) -> Result<()> {
        let task = self.task(id)?;
        let _g = task.init.lifecycle.lock().await;
        task.init.check(Verb::Update)?;
        let r: oci_spec::runtime::LinuxResources =
            serde_json::from_slice(resources).map_err(|e| {
                ShimError::InvalidArgument(format!(
                    "update {id}: resources are not OCI LinuxResources JSON: {e}"
                ))
            })?;
        task.cgroup()?
            .update(&r)
            .await
            .map_err(|e| e.context(&format!("update {id}")))
    }
}

/// Takes the process's lifecycle lock once it may be deleted: a created
/// process is killed and waited for first.
async fn stopped(p: &super::Process) -> Result<tokio::sync::MutexGuard<'_, ()>> {
    let guard = p.lifecycle.lock().await;
    p.check(Verb::Delete)?;
    if p.status() == TaskStatus::Created {
        let _ = p.signal(libc::SIGKILL);
        drop(guard);
        p.wait().await;
        return Ok(p.lifecycle.lock().await);
    }
    Ok(guard)
}
