//! One process core for every process the shim supervises: a container's
//! pid 1, an exec process and the pause. It holds the pid and start time,
//! a descriptor to signal by, the copied stdio, the status, the lifecycle
//! lock and the exit that Wait callers wait for. Its one waiter is the
//! exit watch in [`super::exit`].

use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use podshim_state::time::{now_rfc3339, rfc3339};
use podshim_sys::proc;
use podshim_types::{ContainerRecord, Id, TaskStatus, Verb};
use tokio::sync::watch;

use crate::error::{Result, ShimError};
use crate::stdio::{IoHandle, Stdio};

/// How a process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: i32,
    pub at: SystemTime,
}

/// A snapshot of a process for State.
#[derive(Debug, Clone)]
pub struct ProcessView {
    pub status: TaskStatus,
    pub pid: i32,
    pub exit: Option<Exit>,
    pub stdio: [String; 3],
    pub terminal: bool,
}

/// What changes in a process's life.
pub(crate) struct ProcessState {
    pub status: TaskStatus,
    pub pid: i32,
    pub start_time: u64,
    /// To signal by; `None` before it exists and once it is reaped.
    signaller: Option<OwnedFd>,
    /// Copied stdio (stdin feed, terminal, log).
    pub io: IoHandle,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_reason: Option<String>,
    pub oom_killed: bool,
}

/// One supervised process.
pub struct Process {
    /// `task X` or `exec Y`, for messages.
    what: String,
    /// `None` for a task's own process.
    pub exec_id: Option<Id>,
    pub terminal: bool,
    pub stdio: [String; 3],
    /// An exec leads a session of its own: a signal reaches its group.
    group_signals: bool,
    /// What an exec process runs, and its stdio, parsed at Exec.
    pub(crate) exec_spec: Option<(oci_spec::runtime::Process, Stdio)>,
    /// Held across each step of its life (create, start, exit, delete) so
    /// records and events never interleave.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    state: Mutex<ProcessState>,
    exited: watch::Sender<Option<Exit>>,
}

impl Process {
    fn build(what: String, exec_id: Option<Id>, terminal: bool, stdio: [String; 3]) -> Process {
        Process {
            what,
            group_signals: exec_id.is_some(),
            exec_spec: None,
            exec_id,
            terminal,
            stdio,
            lifecycle: tokio::sync::Mutex::new(()),
            state: Mutex::new(ProcessState {
                status: TaskStatus::Creating,
                pid: 0,
                start_time: 0,
                signaller: None,
                io: IoHandle::default(),
                started_at: None,
                finished_at: None,
                exit_code: None,
                exit_reason: None,
                oom_killed: false,
            }),
            exited: watch::channel(None).0,
        }
    }

    /// The process of task `id` (a container's pid 1 or the pause).
    pub fn task(id: &Id, terminal: bool, stdio: [String; 3]) -> Process {
        Process::build(format!("task {id}"), None, terminal, stdio)
    }

    /// Exec process `exec_id`, registered, not started.
    pub fn exec(exec_id: Id, stdio: Stdio, spec: oci_spec::runtime::Process) -> Process {
        let mut p = Process::build(
            format!("exec {exec_id}"),
            Some(exec_id),
            stdio.terminal,
            stdio.uris.clone(),
        );
        p.exec_spec = Some((spec, stdio));
        p.st().status = TaskStatus::Created;
        p
    }

    /// A task's process as a crashed shim's record left it.
    pub fn restored(id: &Id, rec: &ContainerRecord) -> Process {
        let p = Process::task(
            id,
            false,
            [String::new(), rec.stdout.clone(), rec.stderr.clone()],
        );
        {
            let mut st = p.st();
            st.status = rec.status;
            st.pid = rec.pid;
            st.start_time = rec.pid_start_time;
            st.started_at = rec.started_at.clone();
            st.finished_at = rec.finished_at.clone();
            st.exit_code = rec.exit_code;
            st.exit_reason = rec.exit_reason.clone();
            st.oom_killed = rec.oom_killed;
        }
        if rec.status == TaskStatus::Stopped {
            p.exited.send_replace(Some(Exit {
                code: rec.exit_code.unwrap_or(255),
                at: SystemTime::now(),
            }));
        }
        p
    }

    pub(crate) fn st(&self) -> MutexGuard<'_, ProcessState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> ProcessView {
        let st = self.st();
        ProcessView {
            status: st.status,
            pid: st.pid,
            exit: *self.exited.borrow(),
            stdio: self.stdio.clone(),
            terminal: self.terminal,
        }
    }

    pub fn status(&self) -> TaskStatus {
        self.st().status
    }

    pub fn pid(&self) -> i32 {
        self.st().pid
    }

    /// FailedPrecondition unless the status allows `verb`.
    pub fn check(&self, verb: Verb) -> Result<()> {
        self.status()
            .check(verb)
            .map_err(|r| ShimError::FailedPrecondition(format!("{} {r}", self.what)))
    }

    /// The process exists: its pid and start time, recorded as soon as
    /// known.
    pub fn set_pid(&self, pid: i32, start_time: u64) {
        let mut st = self.st();
        st.pid = pid;
        st.start_time = start_time;
    }

    /// Created (or, for a process taken over, as it was) with a
    /// descriptor to signal it by.
    pub fn set_alive(&self, status: TaskStatus, signaller: OwnedFd) {
        let mut st = self.st();
        st.status = status;
        st.signaller = Some(signaller);
    }

    /// It runs: Start has happened.
    pub fn set_running(&self) {
        let mut st = self.st();
        st.status = TaskStatus::Running;
        st.started_at = Some(now_rfc3339());
    }

    /// Sends `sig`; a process that has finished is NotFound, one not
    /// started yet FailedPrecondition.
    pub fn signal(&self, sig: i32) -> Result<()> {
        let st = self.st();
        let gone = || ShimError::NotFound(format!("{}: process already finished", self.what));
        match &st.signaller {
            Some(fd) => {
                proc::pidfd_signal(fd, sig).map_err(|e| match e {
                    podshim_sys::SysError::Os {
                        errno: nix::errno::Errno::ESRCH,
                        ..
                    } => gone(),
                    e => e.into(),
                })?;
                if self.group_signals {
                    proc::signal_group(st.pid, sig);
                }
                Ok(())
            }
            None if st.status == TaskStatus::Created => Err(ShimError::FailedPrecondition(
                format!("{} is not started", self.what),
            )),
            None => Err(gone()),
        }
    }

    /// Records the exit in the process (not yet told to anyone).
    pub(crate) fn finish(&self, exit: Exit, reason: Option<String>, oom_killed: bool) -> i32 {
        let mut st = self.st();
        st.status = TaskStatus::Stopped;
        st.exit_code = Some(exit.code);
        st.finished_at = Some(rfc3339(exit.at));
        st.exit_reason = reason;
        st.oom_killed = oom_killed;
        st.signaller = None;
        st.pid
    }

    /// Wakes every Wait caller with `exit`.
    pub(crate) fn tell(&self, exit: Exit) {
        self.exited.send_replace(Some(exit));
    }

    /// The exit, once there is one.
    pub fn exit(&self) -> Option<Exit> {
        *self.exited.borrow()
    }

    /// Waits until the process has exited.
    pub async fn wait(&self) -> Exit {
        let mut rx = self.exited.subscribe();
        loop {
            if let Some(e) = *rx.borrow_and_update() {
                return e;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as the process; unreachable.
                return Exit {
                    code: 255,
                    at: SystemTime::now(),
                };
            }
        }
    }

    /// ResizePty.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.st().io.resize(width, height)
    }

    /// CloseIO of stdin.
    pub fn close_stdin(&self) {
        self.st().io.close_stdin();
    }
}
