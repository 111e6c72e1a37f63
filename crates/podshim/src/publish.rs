//! Events: every lifecycle step is appended to the pod's `events.jsonl`
//! and, when the shim runs under containerd (TTRPC_ADDRESS is set),
//! forwarded to containerd's Events service in order, with retries, from a
//! background task so that no request waits on the supervisor.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::shim_async::{Client, EventsClient};
use podshim_state::{EventDetail, EventLog};
use podshim_types::Topic;
use tokio::sync::mpsc;

/// What happened, with what containerd's event messages carry.
#[derive(Debug, Clone)]
pub enum Happened {
    Create {
        bundle: String,
        pid: i32,
        stdin: String,
        stdout: String,
        stderr: String,
    },
    Start {
        pid: i32,
    },
    Exit {
        exec_id: Option<String>,
        pid: i32,
        code: i32,
        at: SystemTime,
        reason: Option<String>,
    },
    ExecAdded {
        exec_id: String,
    },
    ExecStarted {
        exec_id: String,
        pid: i32,
    },
    Delete {
        pid: i32,
        code: i32,
        at: SystemTime,
    },
    SandboxReady {
        pid: i32,
    },
    PodStopped {
        reason: String,
    },
    /// The OOM killer killed a process of the task's cgroup.
    Oom,
    Paused,
    Resumed,
}

/// Writes the event log and feeds the forwarder.
pub struct Publisher {
    pod: String,
    namespace: String,
    log: EventLog,
    forward: Option<mpsc::UnboundedSender<Envelope>>,
}

impl Publisher {
    pub fn new(pod: String, namespace: String, log: EventLog) -> Self {
        let forward = std::env::var("TTRPC_ADDRESS")
            .ok()
            .filter(|a| !a.is_empty())
            .map(|addr| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(forwarder(addr, rx));
                tx
            });
        Publisher {
            pod,
            namespace,
            log,
            forward,
        }
    }

    /// Writes the event log lines a full disk kept back; true when none is
    /// left.
    pub fn flush(&mut self) -> bool {
        if let Err(e) = self.log.flush() {
            tracing::debug!(pod = %self.pod, "event log still behind: {e}");
        }
        !self.log.is_behind()
    }

    /// Records and publishes one event about task `id` (published even
    /// when the log cannot be written yet).
    pub fn emit(&mut self, id: &str, what: Happened) {
        let (topic, detail) = log_form(&what);
        if let Err(e) = self.log.append(&self.pod, id, topic, detail) {
            tracing::error!(pod = %self.pod, container = id, "event log: {e}");
        }
        let Some(tx) = &self.forward else {
            return;
        };
        if let Some(event) = containerd_form(id, &what) {
            let env = Envelope {
                timestamp: MessageField::some(timestamp(SystemTime::now())),
                namespace: self.namespace.clone(),
                topic: topic.as_str().to_string(),
                event: MessageField::some(event),
                ..Default::default()
            };
            let _ = tx.send(env);
        }
    }
}

fn log_form(what: &Happened) -> (Topic, EventDetail) {
    let d = EventDetail::default();
    match what {
        Happened::Create { pid, .. } => (
            Topic::TaskCreate,
            EventDetail {
                pid: Some(*pid),
                ..d
            },
        ),
        Happened::Start { pid } => (
            Topic::TaskStart,
            EventDetail {
                pid: Some(*pid),
                ..d
            },
        ),
        Happened::Exit {
            exec_id,
            pid,
            code,
            reason,
            ..
        } => (
            Topic::TaskExit,
            EventDetail {
                pid: Some(*pid),
                exec_id: exec_id.clone(),
                exit_status: Some(*code),
                reason: reason.clone(),
            },
        ),
        Happened::ExecAdded { exec_id } => (
            Topic::ExecAdded,
            EventDetail {
                exec_id: Some(exec_id.clone()),
                ..d
            },
        ),
        Happened::ExecStarted { exec_id, pid } => (
            Topic::ExecStarted,
            EventDetail {
                exec_id: Some(exec_id.clone()),
                pid: Some(*pid),
                ..d
            },
        ),
        Happened::Delete { pid, code, .. } => (
            Topic::TaskDelete,
            EventDetail {
                pid: Some(*pid),
                exit_status: Some(*code),
                ..d
            },
        ),
        Happened::SandboxReady { pid } => (
            Topic::SandboxReady,
            EventDetail {
                pid: Some(*pid),
                ..d
            },
        ),
        Happened::PodStopped { reason } => (
            Topic::PodStopped,
            EventDetail {
                reason: Some(reason.clone()),
                ..d
            },
        ),
        Happened::Oom => (Topic::TaskOom, d),
        Happened::Paused => (Topic::TaskPaused, d),
        Happened::Resumed => (Topic::TaskResumed, d),
    }
}

fn containerd_form(id: &str, what: &Happened) -> Option<Any> {
    let id = id.to_string();
    match what {
        Happened::Create {
            bundle,
            pid,
            stdin,
            stdout,
            stderr,
        } => pack(&TaskCreate {
            container_id: id,
            bundle: bundle.clone(),
            pid: *pid as u32,
            io: MessageField::some(TaskIO {
                stdin: stdin.clone(),
                stdout: stdout.clone(),
                stderr: stderr.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        Happened::Start { pid } => pack(&TaskStart {
            container_id: id,
            pid: *pid as u32,
            ..Default::default()
        }),
        Happened::Exit {
            exec_id,
            pid,
            code,
            at,
            ..
        } => pack(&TaskExit {
            container_id: id.clone(),
            id: exec_id.clone().unwrap_or(id),
            pid: *pid as u32,
            exit_status: *code as u32,
            exited_at: MessageField::some(timestamp(*at)),
            ..Default::default()
        }),
        Happened::Delete { pid, code, at } => pack(&TaskDelete {
            container_id: id.clone(),
            id,
            pid: *pid as u32,
            exit_status: *code as u32,
            exited_at: MessageField::some(timestamp(*at)),
            ..Default::default()
        }),
        Happened::ExecAdded { exec_id } => pack(&TaskExecAdded {
            container_id: id,
            exec_id: exec_id.clone(),
            ..Default::default()
        }),
        Happened::ExecStarted { exec_id, pid } => pack(&TaskExecStarted {
            container_id: id,
            exec_id: exec_id.clone(),
            pid: *pid as u32,
            ..Default::default()
        }),
        Happened::Oom => pack(&TaskOOM {
            container_id: id,
            ..Default::default()
        }),
        Happened::Paused => pack(&TaskPaused {
            container_id: id,
            ..Default::default()
        }),
        Happened::Resumed => pack(&TaskResumed {
            container_id: id,
            ..Default::default()
        }),
        // podshim's own topics have no containerd message.
        Happened::SandboxReady { .. } | Happened::PodStopped { .. } => None,
    }
}

/// The protobuf package of every event message here. containerd takes a
/// message's full name as its type URL; it is written out, since asking
/// the message's descriptor builds protobuf's reflection tables for the
/// events file and every file it imports, heap the shim would keep for
/// its whole life.
const EVENTS_PACKAGE: &str = "containerd.events";

fn pack<M: Message>(m: &M) -> Option<Any> {
    Some(Any {
        type_url: format!("{EVENTS_PACKAGE}.{}", M::NAME),
        value: m.write_to_bytes().ok()?,
        ..Default::default()
    })
}

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}

/// Sends envelopes to containerd one by one, reconnecting as needed. An
/// event that still fails after a few tries is dropped with an error in
/// the shim log; the event log keeps it.
async fn forwarder(addr: String, mut rx: mpsc::UnboundedReceiver<Envelope>) {
    let addr = if addr.contains("://") {
        addr
    } else {
        format!("unix://{addr}")
    };
    let mut client: Option<EventsClient> = None;
    while let Some(env) = rx.recv().await {
        let req = ForwardRequest {
            envelope: MessageField::some(env),
            ..Default::default()
        };
        let mut delay = Duration::from_millis(20);
        for attempt in 1..=5 {
            if client.is_none() {
                client = Client::connect(&addr).await.ok().map(EventsClient::new);
            }
            if let Some(c) = &client {
                let ctx = ttrpc::context::with_timeout(Duration::from_secs(5).as_nanos() as i64);
                match c.forward(ctx, &req).await {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!("forward event (attempt {attempt}): {e}");
                        client = None;
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim_protos::protobuf::MessageFull;

    fn named_as_protobuf<M: MessageFull>() {
        let any = pack(&M::new()).unwrap();
        assert_eq!(any.type_url, M::descriptor().full_name());
    }

    #[test]
    fn event_names_are_the_protobuf_full_names() {
        named_as_protobuf::<TaskCreate>();
        named_as_protobuf::<TaskStart>();
        named_as_protobuf::<TaskExit>();
        named_as_protobuf::<TaskDelete>();
        named_as_protobuf::<TaskExecAdded>();
        named_as_protobuf::<TaskExecStarted>();
        named_as_protobuf::<TaskOOM>();
        named_as_protobuf::<TaskPaused>();
        named_as_protobuf::<TaskResumed>();
    }
}
