//! Taking a pod over after a shim crash: the next shim of the pod rebuilds
//! it from the state directory. The pause and the containers whose recorded
//! pid and start time still match are watched again (their exits are
//! recorded as usual); those that ended while no shim was there are
//! recorded with code 255 and the reason. A container created but not
//! started cannot be started any more (its start channel died with the
//! shim) and is killed. Running containers' log pipes are taken back from
//! the pause.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::SystemTime;

use podshim_state::time::rfc3339;
use podshim_sys::proc;
use podshim_types::attach::{FRAME_STDERR, FRAME_STDOUT};
use podshim_types::{ContainerRecord, PodRecord, PodStatus, TaskStatus};

use super::exit::{Whose, LOST_EXIT};
use super::process::{Exit, Process};
use super::sandbox::Sandbox;
use super::task::Task;
use super::Pod;
use crate::cgroup::TaskResources;
use crate::child::Child;
use crate::error::Result;
use crate::stdio::{IoHandle, Target};

impl Pod {
    /// Rebuilds the pod from `old`, the record of the shim that died.
    pub fn recover(self: &Arc<Self>, old: PodRecord) {
        self.update_record(|r| {
            let shim = r.shim;
            *r = old.clone();
            r.shim = shim;
        });
        let now = SystemTime::now();
        if let Some(stamp) = &old.pause {
            let resources = old
                .cgroup
                .as_deref()
                .map(|rel| TaskResources::open(rel, crate::cgroup::MARKERS.into()));
            let sandbox = Arc::new(Sandbox::new(&self.id, old.bundle.clone(), resources));
            sandbox.process.set_pid(stamp.pid, stamp.start_time);
            self.registry().sandbox = Some(sandbox.clone());
            match Child::take_over(stamp) {
                Some(pause) => self.adopt(Whose::Pause(sandbox), pause, TaskStatus::Running),
                None => {
                    lost(&sandbox.process, now);
                    self.update_record(|r| {
                        r.status = PodStatus::Stopped;
                        r.stopped_at = Some(rfc3339(now));
                        r.stop_reason = Some(format!("pause: {LOST_EXIT}"));
                    });
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
            let alive = rec.stamp().and_then(|s| Child::take_over(&s));
            let own_pid_ns = alive.is_some() && {
                let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
                let pause = old.pause.as_ref().map(|p| p.pid).unwrap_or(0);
                ns(rec.pid) != ns(pause) && ns(rec.pid) != ns(std::process::id() as i32)
            };
            let task = Arc::new(Task::restored(id.clone(), &rec, own_pid_ns));
            self.registry().tasks.insert(id.to_string(), task.clone());
            match (rec.status, alive) {
                (TaskStatus::Stopped, _) => {}
                (TaskStatus::Created | TaskStatus::Creating, Some(c)) => {
                    c.kill();
                    self.adopt(Whose::Init(task), c, TaskStatus::Running);
                }
                (status, Some(c)) => {
                    if let Some(pause) = old.pause.as_ref().and_then(|p| proc::pidfd_for(p).ok()) {
                        self.reattach_log(&task, &rec, &pause);
                    }
                    let status = if status == TaskStatus::Paused {
                        status
                    } else {
                        TaskStatus::Running
                    };
                    self.adopt(Whose::Init(task), c, status)
                }
                (_, None) => {
                    lost(&task.init, now);
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
        if self.record().status == PodStatus::Stopped {
            self.stop_members(255);
        }
        tracing::info!(
            tasks = self.task_count(),
            "pod recovered after a shim restart"
        );
    }

    /// Watches a process of a recovered task.
    fn adopt(self: &Arc<Self>, whose: Whose, child: Child, status: TaskStatus) {
        let (process, res, id) = match &whose {
            Whose::Pause(s) => (s.process.clone(), s.resources.as_ref(), self.id.to_string()),
            Whose::Init(t) => (t.init.clone(), t.resources.as_ref(), t.id.to_string()),
            Whose::Exec(..) => return,
        };
        match child.signaller() {
            Ok(fd) => {
                process.set_alive(status, fd);
                self.watch_oom(res, &id);
                self.watch(whose, child);
            }
            Err(e) => tracing::error!(container = %id, "{e}"),
        }
    }

    /// After a shim crash: takes a running container's log pipes back from
    /// the pause and copies them into its log again.
    fn reattach_log(&self, task: &Task, rec: &ContainerRecord, pause: &OwnedFd) {
        let Ok(Target::CriLog(uri)) = Target::parse(&rec.stdout) else {
            return;
        };
        if rec.parked_fds.is_empty() {
            return;
        }
        let attach = || -> Result<IoHandle> {
            let mut sources = Vec::new();
            for (n, stream) in rec.parked_fds.iter().zip([FRAME_STDOUT, FRAME_STDERR]) {
                let fd = proc::pidfd_getfd(pause, *n)?;
                sources.push((crate::stdio::fd::async_fd(fd)?, stream));
            }
            let mut io = IoHandle::default();
            io.log_output(crate::stdio::crilog::CriLog::from_uri(&uri)?, sources);
            // The pause still holds its own copies.
            drop(io.take_parkable());
            Ok(io)
        };
        match attach() {
            Ok(io) => {
                if let Some(hub) = io.hub() {
                    let path = self.paths.container_attach(&task.id);
                    if let Err(e) = crate::stdio::attach::listen(hub, path) {
                        tracing::warn!("{e}");
                    }
                }
                task.init.st().io = io;
            }
            Err(e) => tracing::warn!(container = %task.id, "log not taken back: {e}"),
        }
    }
}

/// A process that ended while no shim ran: stopped, 255, the reason.
fn lost(p: &Process, now: SystemTime) {
    let exit = Exit { code: 255, at: now };
    p.finish(exit, Some(LOST_EXIT.to_string()), false);
    p.tell(exit);
}
