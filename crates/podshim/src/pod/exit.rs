//! Exits: the one exit watch every supervised process gets (a container's
//! pid 1, an exec, the pause), the OOM watch and the labelling of an exit
//! as OOMKilled, and the pod's death when the pause goes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use podshim_state::time::rfc3339;
use podshim_types::{PodStatus, TaskStatus};
use tracing::Instrument;

use super::process::{Exit, Process};
use super::sandbox::Sandbox;
use super::task::Task;
use super::Pod;
use crate::cgroup::TaskResources;
use crate::child::Child;
use crate::publish::Happened;

/// Why an exit code is 255 when a crashed shim left the process behind.
pub(super) const LOST_EXIT: &str =
    "exited while no shim was running, or its exit code could not be read: exit code unknown";

/// A kill counted this long before an exit still labels it OOMKilled.
const OOM_WINDOW: Duration = Duration::from_secs(2);

/// Whose process exited.
#[derive(Clone)]
pub(super) enum Whose {
    Pause(Arc<Sandbox>),
    Init(Arc<Task>),
    Exec(Arc<Task>, Arc<Process>),
}

impl Whose {
    fn process(&self) -> &Arc<Process> {
        match self {
            Whose::Pause(s) => &s.process,
            Whose::Init(t) => &t.init,
            Whose::Exec(_, p) => p,
        }
    }

    /// The task id events name.
    fn id(&self, pod: &Pod) -> String {
        match self {
            Whose::Pause(_) => pod.id.to_string(),
            Whose::Init(t) | Whose::Exec(t, _) => t.id.to_string(),
        }
    }

    fn resources(&self) -> Option<&TaskResources> {
        match self {
            Whose::Pause(s) => s.resources.as_ref(),
            Whose::Init(t) => t.resources.as_ref(),
            Whose::Exec(..) => None,
        }
    }
}

/// What is known when a process exits, for its label.
#[derive(Debug, Clone, Default)]
pub(super) struct ExitFacts {
    pub code: i32,
    /// OOM kills were counted in its cgroup at exit or just before.
    pub oom_counted: bool,
    /// The pod stopped (its pause exited) with this reason.
    pub pod_stopped: Option<String>,
    /// What the waiter knows (an exit code lost while no shim ran).
    pub note: Option<String>,
}

/// The exit reason and whether it was an OOM kill: a pid 1 killed by
/// SIGKILL while the OOM killer was counting kills in its cgroup was OOM
/// killed; a pod that stopped says so first.
pub(super) fn label_exit(f: ExitFacts) -> (Option<String>, bool) {
    let oom_killed = f.code == 128 + libc::SIGKILL && f.oom_counted;
    let reason = f
        .pod_stopped
        .map(|r| format!("pod stopped: {r}"))
        .or_else(|| oom_killed.then(|| "OOMKilled".to_string()))
        .or(f.note);
    (reason, oom_killed)
}

impl Pod {
    /// The one waiter of a process: records and tells its exit.
    pub(super) fn watch(self: &Arc<Self>, whose: Whose, child: Child) {
        let pod = self.clone();
        let exec = match &whose {
            Whose::Exec(_, p) => p.exec_id.as_ref().map(|e| e.to_string()),
            _ => None,
        };
        let span =
            tracing::info_span!("exit", pod = %self.id, container = %whose.id(self), exec = ?exec);
        tokio::spawn(
            async move {
                let (code, note) = match child.wait().await {
                    Ok(Some(c)) => (c, None),
                    Ok(None) => (255, Some(LOST_EXIT.to_string())),
                    Err(e) => {
                        tracing::error!("waiting for exit: {e}");
                        (255, Some(format!("{LOST_EXIT}: {e}")))
                    }
                };
                drop(child);
                pod.on_exit(&whose, code, note).await;
            }
            .instrument(span),
        );
    }

    async fn on_exit(self: &Arc<Self>, whose: &Whose, code: i32, note: Option<String>) {
        let p = whose.process();
        let _g = p.lifecycle.lock().await;
        // Output is copied out before the exit is told.
        let output = p.st().io.take_output();
        crate::stdio::drain(output).await;
        p.close_stdin();
        let at = SystemTime::now();
        let id = whose.id(self);
        let (reason, oom_killed) = match whose {
            Whose::Exec(..) => (None, false),
            _ => {
                // An OOM kill is told before the exit it caused (containerd's
                // CRI labels the exit by the OOM event it saw first).
                let oom_now = self.tell_oom(whose.resources(), &id);
                let recent = whose.resources().is_some_and(|r| r.oom_since(OOM_WINDOW));
                let pod_stopped = match whose {
                    Whose::Init(_) => self.record().stop_reason,
                    _ => None,
                };
                label_exit(ExitFacts {
                    code,
                    oom_counted: oom_now || recent,
                    pod_stopped,
                    note,
                })
            }
        };
        let exit = Exit { code, at };
        let pid = p.finish(exit, reason.clone(), oom_killed);
        // The exit is on disk before anyone hears of it, when the disk
        // lets it be: otherwise it is told from memory and written later.
        if let Whose::Pause(_) = whose {
            self.update_record(|r| {
                r.status = PodStatus::Stopped;
                r.stopped_at = Some(rfc3339(at));
                r.stop_reason = Some(format!("pause (pid {pid}) exited with code {code}"));
            });
        }
        if let Err(e) = self.record_exit(whose) {
            tracing::error!("recording exit: {e}; told from memory, written when there is room");
            self.record_later(whose.clone());
        }
        p.tell(exit);
        tracing::info!(pid, code, "exited");
        self.emit(
            &id,
            Happened::Exit {
                exec_id: p.exec_id.as_ref().map(|e| e.to_string()),
                pid,
                code,
                at,
                reason,
            },
        );
        match whose {
            Whose::Pause(_) => self.stop_members(code),
            Whose::Init(t) if !t.own_pid_ns => {
                // No pid namespace ends the container's other processes
                // with its pid 1: they are its session, which pid 1 led.
                for p in podshim_sys::proc::pids_in_session(pid) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            _ => {}
        }
    }

    /// Writes the record an exit (or another step of the process) changed.
    pub(super) fn record_exit(&self, whose: &Whose) -> crate::error::Result<()> {
        match whose {
            Whose::Pause(_) => self.write_record(),
            Whose::Init(t) => self.persist(t),
            Whose::Exec(..) => Ok(()),
        }
    }

    /// A step done (an exit, a start) whose record could not be written (a
    /// full disk): written again, with the event log lines kept back, until
    /// it is (backing off to a try every 10 s), or its task is deleted; the
    /// step itself was told from memory.
    pub(super) fn record_later(self: &Arc<Self>, whose: Whose) {
        let pod = self.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(200);
            loop {
                tokio::time::sleep(pause).await;
                let events = pod.flush_events();
                // Deleted meanwhile: its record went with it.
                let kept = match &whose {
                    Whose::Init(t) => pod.task(t.id.as_str()).is_ok(),
                    Whose::Pause(_) => pod.sandbox().is_some(),
                    Whose::Exec(..) => false,
                };
                if !kept {
                    return;
                }
                if pod.record_exit(&whose).is_ok() && events {
                    tracing::info!(container = %whose.id(&pod), "recorded at last");
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        });
    }

    /// The pause is gone, so the pod is: kill every container.
    pub(super) fn stop_members(&self, pause_code: i32) {
        let reason = self
            .record()
            .stop_reason
            .unwrap_or_else(|| format!("pause exited with code {pause_code}"));
        let members: Vec<Arc<Task>> = self.registry().tasks.values().cloned().collect();
        self.emit(
            self.id.as_str(),
            Happened::PodStopped {
                reason: reason.clone(),
            },
        );
        for t in members {
            if t.init.status() != TaskStatus::Stopped {
                tracing::warn!(container = %t.id, "killing: {reason}");
                let _ = t.init.signal(libc::SIGKILL);
            }
        }
    }

    /// Publishes OOM kills in a cgroup as the kernel reports them (v1
    /// eventfd); on v2 they are counted at exit.
    pub(super) fn watch_oom(self: &Arc<Self>, res: Option<&TaskResources>, id: &str) {
        let Some(res) = res else {
            return;
        };
        let afd = match res.oom_watch_fd() {
            Ok(Some(afd)) => afd,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(container = %id, "no OOM notification: {e}");
                return;
            }
        };
        let pod = self.clone();
        let id = id.to_string();
        let h = tokio::spawn(async move {
            loop {
                let Ok(mut ready) = afd.readable().await else {
                    return;
                };
                if podshim_sys::cgroup::oom::drain(afd.get_ref()) {
                    let task = pod.task(&id).ok();
                    let sandbox = pod.sandbox().filter(|_| id == pod.id.as_str());
                    let res = task
                        .as_ref()
                        .and_then(|t| t.resources.as_ref())
                        .or_else(|| sandbox.as_ref().and_then(|s| s.resources.as_ref()));
                    pod.tell_oom(res, &id);
                } else {
                    ready.clear_ready();
                }
            }
        });
        res.set_oom_watch(h);
    }

    /// Publishes OOM kills not told yet; true when there were some.
    fn tell_oom(&self, res: Option<&TaskResources>, id: &str) -> bool {
        let untold = res.map(|r| r.untold_oom_kills()).unwrap_or(0);
        if untold > 0 {
            tracing::warn!(container = %id, kills = untold, "OOM kill");
            self.emit(id, Happened::Oom);
        }
        untold > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KILLED: i32 = 128 + libc::SIGKILL;

    #[test]
    fn a_sigkill_with_oom_kills_counted_is_oom_killed() {
        let facts = ExitFacts {
            code: KILLED,
            oom_counted: true,
            ..Default::default()
        };
        assert_eq!(label_exit(facts), (Some("OOMKilled".into()), true));
    }

    #[test]
    fn other_exits_are_not_labelled_oom() {
        // A plain kill, and an exit of another kind while kills were counted.
        for (code, oom_counted) in [(KILLED, false), (1, true), (0, false)] {
            let facts = ExitFacts {
                code,
                oom_counted,
                ..Default::default()
            };
            assert_eq!(label_exit(facts), (None, false), "{code} {oom_counted}");
        }
    }

    #[test]
    fn a_stopped_pod_is_named_first_and_a_lost_code_is_said() {
        let facts = ExitFacts {
            code: KILLED,
            oom_counted: true,
            pod_stopped: Some("pause exited".into()),
            note: None,
        };
        assert_eq!(
            label_exit(facts),
            (Some("pod stopped: pause exited".into()), true)
        );
        let facts = ExitFacts {
            code: 255,
            note: Some(LOST_EXIT.into()),
            ..Default::default()
        };
        assert_eq!(label_exit(facts).0.as_deref(), Some(LOST_EXIT));
    }
}
