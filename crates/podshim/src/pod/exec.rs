//! Exec processes: a second process in a running container, joining every
//! namespace of its pid 1 (`podshim exec`), with its own stdio, terminal,
//! exit code and events (exec-added, exec-started, exit). Each is a
//! [`Process`] like the container's own.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use podshim_sys::msg::{ExecConfig, NsRequest};
use podshim_sys::ns::NsKind;
use podshim_types::{Id, TaskStatus, Verb};

use super::exit::Whose;
use super::process::Process;
use super::task::Task;
use super::Pod;
use crate::child::exec::{ExecHandshake, ExecStep};
use crate::child::{self, Child};
use crate::error::{Result, ShimError};
use crate::publish::Happened;
use crate::stdio::{IoHandle, Stdio};

/// The namespaces of `pid` that differ from the shim's own, in the order
/// they are entered (user first, mnt last).
fn namespaces_of(pid: i32) -> Result<Vec<NsRequest>> {
    let mut out = Vec::new();
    for kind in NsKind::ALL {
        let theirs = format!("/proc/{pid}/ns/{}", kind.proc_name());
        let ino = |p: &str| std::fs::metadata(p).map(|m| m.ino());
        let t = ino(&theirs).map_err(|e| ShimError::NotFound(format!("{theirs}: {e}")))?;
        let ours = ino(&format!("/proc/self/ns/{}", kind.proc_name())).unwrap_or(0);
        if t != ours {
            out.push(NsRequest {
                kind,
                path: Some(theirs),
            });
        }
    }
    Ok(out)
}

impl Pod {
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
        task.init.check(Verb::Exec)?;
        let process: oci_spec::runtime::Process = serde_json::from_slice(spec).map_err(|e| {
            ShimError::InvalidArgument(format!("exec {exec_id}: process spec: {e}"))
        })?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(ShimError::InvalidArgument(format!(
                "exec {exec_id}: process.args is empty"
            )));
        }
        let stdio = Stdio::parse(stdio, terminal)?;
        task.add_exec(Arc::new(Process::exec(exec_id.clone(), stdio, process)))?;
        self.emit(
            id,
            Happened::ExecAdded {
                exec_id: exec_id.to_string(),
            },
        );
        Ok(())
    }

    /// Start of an exec process.
    pub(super) async fn start_exec(
        self: &Arc<Self>,
        task: &Arc<Task>,
        exec_id: &str,
    ) -> Result<i32> {
        let exec = task.exec(exec_id)?;
        let _g = exec.lifecycle.lock().await;
        exec.check(Verb::Start)?;
        let container_pid = task.init.pid();
        if task.init.status() != TaskStatus::Running || container_pid <= 0 {
            return Err(ShimError::FailedPrecondition(format!(
                "task {} is not running",
                task.id
            )));
        }
        let (process, stdio) = exec
            .exec_spec
            .clone()
            .ok_or_else(|| ShimError::Internal(format!("exec {exec_id}: no process spec")))?;
        let what = format!("exec {exec_id} in {}", task.id);
        let (child_stdio, mut io) = if exec.terminal {
            (Default::default(), IoHandle::default())
        } else {
            let who = self.stdio_owner(task);
            crate::stdio::open(&stdio, &who).await?
        };
        let cfg = ExecConfig {
            container: task.id.to_string(),
            exec_id: exec_id.to_string(),
            namespaces: namespaces_of(container_pid)?,
            process,
            terminal: exec.terminal,
            seccomp: task.seccomp.clone(),
            cgroup: task
                .resources
                .as_ref()
                .map(|r| r.join_dirs())
                .unwrap_or_default(),
            session_keyring: task.session_keyring(),
        };
        let (first, chan) = child::spawn("exec", &["--exec", exec_id], child_stdio)?;
        crate::fault::point("exec");
        let mut first = Some(first);
        let mut proc: Option<Child> = None;
        let outcome = async {
            let mut hs = ExecHandshake::begin(chan, &cfg).await?;
            loop {
                match hs.next().await? {
                    ExecStep::Forked(pid) => {
                        proc = Some(Child::adopt(pid)?);
                        if let Some(f) = first.take() {
                            let _ = f.wait().await;
                        }
                    }
                    ExecStep::Terminal(master) => {
                        io = crate::stdio::copy::terminal(master, &stdio)?
                    }
                    ExecStep::Executed => return Ok(()),
                }
            }
        }
        .await;
        if let Some(f) = first {
            f.kill_and_wait().await;
        }
        let Some(child) = proc else {
            // Nothing ran: the exec stays created.
            let e = outcome
                .err()
                .unwrap_or_else(|| ShimError::Internal("exec: no process".into()));
            return Err(e.context(&what));
        };
        let pid = child.pid();
        exec.set_pid(pid, 0);
        exec.st().io.attach(io);
        let failed = outcome.is_err();
        exec.set_alive(
            if failed {
                TaskStatus::Stopped
            } else {
                TaskStatus::Running
            },
            child.signaller()?,
        );
        if failed {
            child.kill();
        }
        self.watch(Whose::Exec(task.clone(), exec.clone()), child);
        outcome.map_err(|e| e.context(&what))?;
        self.emit(
            task.id.as_str(),
            Happened::ExecStarted {
                exec_id: exec_id.to_string(),
                pid,
            },
        );
        Ok(pid)
    }
}
