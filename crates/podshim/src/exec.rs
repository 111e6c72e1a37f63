//! Exec processes: a second process in a running container, joining every
//! namespace of its pid 1 (`podshim exec`), with its own stdio, terminal,
//! exit code and events (exec-added, exec-started, exit).

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use podshim_sys::msg::{ExecConfig, NsRequest, Report};
use podshim_sys::proc;
use podshim_types::{Id, TaskStatus};
use tokio::sync::watch;
use tracing::Instrument;

use crate::children::spawn_forking;
use crate::error::{Result, ShimError};
use crate::io::IoHandle;
use crate::pod::{context, Exit, Pod, Task};
use crate::publish::Happened;
use crate::reaper::wait_exit;

/// One exec process of a task.
pub struct Exec {
    pub id: Id,
    pub process: oci_spec::runtime::Process,
    pub terminal: bool,
    pub stdio: [String; 3],
    lifecycle: tokio::sync::Mutex<()>,
    state: Mutex<ExecState>,
    exited: watch::Sender<Option<Exit>>,
}

pub struct ExecState {
    pub status: TaskStatus,
    pub pid: i32,
    pidfd: Option<OwnedFd>,
    io: IoHandle,
}

impl Exec {
    pub fn st(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn exit(&self) -> Option<Exit> {
        *self.exited.borrow()
    }

    pub async fn wait(&self) -> Exit {
        crate::pod::wait_exited(&self.exited).await
    }

    /// Signals the exec process and, since it leads a session of its own,
    /// every process of its group: a timed-out exec dies with its children.
    fn signal(&self, sig: i32) -> Result<()> {
        let st = self.st();
        let gone = || ShimError::NotFound(format!("exec {}: process already finished", self.id));
        match &st.pidfd {
            Some(fd) => proc::pidfd_signal(fd, sig)
                .map(|()| proc::signal_group(st.pid, sig))
                .map_err(|e| match e {
                    podshim_sys::SysError::Os {
                        errno: nix::errno::Errno::ESRCH,
                        ..
                    } => gone(),
                    e => e.into(),
                }),
            None if st.status == TaskStatus::Created => Err(ShimError::FailedPrecondition(
                format!("exec {} is not started", self.id),
            )),
            None => Err(gone()),
        }
    }
}

/// The namespaces of `pid` that differ from the shim's own, mount last.
fn namespaces_of(pid: i32) -> Result<Vec<NsRequest>> {
    let mut out = Vec::new();
    // user first (it gives the rights over the rest), mnt last.
    for kind in ["user", "cgroup", "pid", "net", "ipc", "uts", "mnt"] {
        let theirs = format!("/proc/{pid}/ns/{kind}");
        let ino = |p: &str| std::fs::metadata(p).map(|m| m.ino());
        let t = ino(&theirs).map_err(|e| ShimError::NotFound(format!("{theirs}: {e}")))?;
        let ours = ino(&format!("/proc/self/ns/{kind}")).unwrap_or(0);
        if t != ours {
            out.push(NsRequest {
                kind: kind.to_string(),
                path: Some(theirs),
            });
        }
    }
    Ok(out)
}

impl Pod {
    fn exec_of(&self, id: &str, exec_id: &str) -> Result<(Arc<Task>, Arc<Exec>)> {
        let task = self.task(id)?;
        let exec = task
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(exec_id)
            .cloned()
            .ok_or_else(|| ShimError::NotFound(format!("exec {exec_id} not found in task {id}")))?;
        Ok((task, exec))
    }

    /// Exec: registers the process; Start runs it.
    pub fn exec_add(
        &self,
        id: &str,
        exec_id: &str,
        terminal: bool,
        stdio: [&str; 3],
        spec: &[u8],
    ) -> Result<()> {
        let exec_id =
            Id::new(exec_id).map_err(|e| ShimError::InvalidArgument(format!("exec id: {e}")))?;
        let task = self.task(id)?;
        if task.status() != TaskStatus::Running {
            return Err(ShimError::FailedPrecondition(format!(
                "task {id} is {}, exec needs it running",
                task.status().as_str()
            )));
        }
        let process: oci_spec::runtime::Process = serde_json::from_slice(spec).map_err(|e| {
            ShimError::InvalidArgument(format!("exec {exec_id}: process spec: {e}"))
        })?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(ShimError::InvalidArgument(format!(
                "exec {exec_id}: process.args is empty"
            )));
        }
        if terminal {
            crate::stdio::check_terminal(stdio[0], stdio[1], stdio[2])?;
        }
        let exec = Arc::new(Exec {
            id: exec_id.clone(),
            process,
            terminal,
            stdio: stdio.map(str::to_string),
            lifecycle: tokio::sync::Mutex::new(()),
            state: Mutex::new(ExecState {
                status: TaskStatus::Created,
                pid: 0,
                pidfd: None,
                io: IoHandle::default(),
            }),
            exited: watch::channel(None).0,
        });
        {
            let mut execs = task.execs.lock().unwrap_or_else(|p| p.into_inner());
            if execs.contains_key(exec_id.as_str()) {
                return Err(ShimError::AlreadyExists(format!(
                    "exec {exec_id} already exists in task {id}"
                )));
            }
            execs.insert(exec_id.to_string(), exec);
        }
        self.emit(
            id,
            Happened::ExecAdded {
                exec_id: exec_id.to_string(),
            },
        );
        Ok(())
    }

    pub async fn exec_start(self: &Arc<Self>, id: &str, exec_id: &str) -> Result<i32> {
        let (task, exec) = self.exec_of(id, exec_id)?;
        let _g = exec.lifecycle.lock().await;
        if exec.st().status != TaskStatus::Created {
            return Err(ShimError::FailedPrecondition(format!(
                "exec {exec_id} was started already"
            )));
        }
        let container_pid = task.pid();
        if task.status() != TaskStatus::Running || container_pid <= 0 {
            return Err(ShimError::FailedPrecondition(format!(
                "task {id} is not running"
            )));
        }
        let what = format!("exec {exec_id} in {id}");
        let (child_stdio, mut io) = if exec.terminal {
            (Default::default(), IoHandle::default())
        } else {
            let who = crate::stdio::Owner {
                container: id,
                namespace: self.namespace.as_str(),
            };
            crate::stdio::open(&exec.stdio[0], &exec.stdio[1], &exec.stdio[2], &who).await?
        };
        let cfg = ExecConfig {
            container: id.to_string(),
            exec_id: exec_id.to_string(),
            namespaces: namespaces_of(container_pid)?,
            process: exec.process.clone(),
            terminal: exec.terminal,
            seccomp: task.seccomp.get().cloned(),
            cgroup: task
                .resources
                .get()
                .map(|r| r.join_dirs())
                .unwrap_or_default(),
        };
        let (pid, pidfd, mut channel) =
            spawn_forking("exec", &["--exec", exec_id], child_stdio, &cfg, None)
                .await
                .map_err(|e| context(e, &what))?;
        crate::fault::point("exec");
        // End of file: executed. A report: a terminal to connect, or a failure.
        let mut failure = None;
        loop {
            match channel.recv_with_fd::<Report>().await {
                Ok(None) => break,
                Ok(Some((Report::Terminal, Some(master)))) => {
                    match crate::io::terminal(master, &exec.stdio[0], &exec.stdio[1]) {
                        Ok(h) => io = h,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                Ok(Some((Report::Error { stage, message }, _))) => {
                    failure = Some(ShimError::InvalidArgument(format!(
                        "{what}: {stage}: {message}"
                    )));
                    break;
                }
                Ok(Some((other, _))) => {
                    failure = Some(ShimError::Internal(format!("{what}: unexpected {other:?}")));
                    break;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let waiter = pidfd
            .try_clone()
            .map_err(|e| ShimError::Internal(format!("dup pidfd: {e}")))?;
        {
            let mut st = exec.st();
            st.pid = pid;
            st.pidfd = Some(pidfd);
            st.io.attach(io);
            st.status = if failure.is_some() {
                TaskStatus::Stopped
            } else {
                TaskStatus::Running
            };
        }
        self.watch_exec(id, exec.clone(), waiter);
        if let Some(e) = failure {
            let _ = exec.signal(libc::SIGKILL);
            return Err(e);
        }
        self.emit(
            id,
            Happened::ExecStarted {
                exec_id: exec_id.to_string(),
                pid,
            },
        );
        Ok(pid)
    }

    fn watch_exec(self: &Arc<Self>, id: &str, exec: Arc<Exec>, pidfd: OwnedFd) {
        let pod = self.clone();
        let id = id.to_string();
        let span =
            tracing::info_span!("exec-exit", pod = %self.id, container = %id, exec = %exec.id);
        tokio::spawn(
            async move {
                let code = wait_exit(pidfd).await.unwrap_or(255);
                let _g = exec.lifecycle.lock().await;
                let output = exec.st().io.take_output();
                crate::io::drain(output).await;
                exec.st().io.close_stdin();
                let at = SystemTime::now();
                let pid = {
                    let mut st = exec.st();
                    st.status = TaskStatus::Stopped;
                    st.pidfd = None;
                    st.pid
                };
                exec.exited.send_replace(Some(Exit { code, at }));
                tracing::info!(pid, code, "exec exited");
                pod.emit(
                    &id,
                    Happened::Exit {
                        exec_id: Some(exec.id.to_string()),
                        pid,
                        code,
                        at,
                        reason: None,
                    },
                );
            }
            .instrument(span),
        );
    }

    pub fn exec_view(
        &self,
        id: &str,
        exec_id: &str,
    ) -> Result<(Arc<Exec>, TaskStatus, i32, Option<Exit>)> {
        let (_, exec) = self.exec_of(id, exec_id)?;
        let (status, pid) = {
            let st = exec.st();
            (st.status, st.pid)
        };
        let exit = exec.exit();
        Ok((exec, status, pid, exit))
    }

    pub async fn exec_wait(&self, id: &str, exec_id: &str) -> Result<Exit> {
        let (_, exec) = self.exec_of(id, exec_id)?;
        Ok(exec.wait().await)
    }

    pub fn exec_kill(&self, id: &str, exec_id: &str, signal: i32) -> Result<()> {
        let (_, exec) = self.exec_of(id, exec_id)?;
        exec.signal(signal)
    }

    /// Delete of an exec: it must have exited (or never started).
    pub async fn exec_delete(&self, id: &str, exec_id: &str) -> Result<(i32, Exit)> {
        let (task, exec) = self.exec_of(id, exec_id)?;
        let _g = exec.lifecycle.lock().await;
        let (status, pid) = {
            let st = exec.st();
            (st.status, st.pid)
        };
        let exit = match status {
            TaskStatus::Running => {
                return Err(ShimError::FailedPrecondition(format!(
                    "exec {exec_id} is running: kill it first"
                )))
            }
            TaskStatus::Created => Exit {
                code: 0,
                at: SystemTime::now(),
            },
            _ => match exec.exit() {
                Some(e) => e,
                None => {
                    return Err(ShimError::FailedPrecondition(format!(
                        "exec {exec_id} is exiting"
                    )))
                }
            },
        };
        task.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(exec_id);
        Ok((pid, exit))
    }

    pub fn resize_pty(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        if exec_id.is_empty() {
            self.task(id)?.st().io.resize(width, height)
        } else {
            let (_, exec) = self.exec_of(id, exec_id)?;
            let st = exec.st();
            st.io.resize(width, height)
        }
    }

    pub fn close_io(&self, id: &str, exec_id: &str) -> Result<()> {
        if exec_id.is_empty() {
            self.task(id)?.st().io.close_stdin();
        } else {
            let (_, exec) = self.exec_of(id, exec_id)?;
            exec.st().io.close_stdin();
        }
        Ok(())
    }
}
