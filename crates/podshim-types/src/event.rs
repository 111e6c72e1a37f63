//! One line of `events.jsonl`, and the topics, named as containerd names
//! its task events.

use serde::{Deserialize, Serialize};

/// Event topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topic {
    #[serde(rename = "/tasks/create")]
    TaskCreate,
    #[serde(rename = "/tasks/start")]
    TaskStart,
    #[serde(rename = "/tasks/exit")]
    TaskExit,
    #[serde(rename = "/tasks/oom")]
    TaskOom,
    #[serde(rename = "/tasks/delete")]
    TaskDelete,
    #[serde(rename = "/tasks/exec-added")]
    ExecAdded,
    #[serde(rename = "/tasks/exec-started")]
    ExecStarted,
    #[serde(rename = "/tasks/paused")]
    TaskPaused,
    #[serde(rename = "/tasks/resumed")]
    TaskResumed,
    #[serde(rename = "/pod/sandbox-ready")]
    SandboxReady,
    #[serde(rename = "/pod/stopped")]
    PodStopped,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::TaskCreate => "/tasks/create",
            Topic::TaskStart => "/tasks/start",
            Topic::TaskExit => "/tasks/exit",
            Topic::TaskOom => "/tasks/oom",
            Topic::TaskDelete => "/tasks/delete",
            Topic::ExecAdded => "/tasks/exec-added",
            Topic::ExecStarted => "/tasks/exec-started",
            Topic::TaskPaused => "/tasks/paused",
            Topic::TaskResumed => "/tasks/resumed",
            Topic::SandboxReady => "/pod/sandbox-ready",
            Topic::PodStopped => "/pod/stopped",
        }
    }
}

/// One event line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Increases by one per line of a pod's log, across shim restarts.
    pub seq: u64,
    /// RFC 3339, UTC, nanoseconds.
    pub time: String,
    pub pod: String,
    /// The task the event is about (the pod id for the sandbox).
    pub container: String,
    pub topic: Topic,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_serializes_as_containerd_topic() {
        for t in [
            Topic::TaskCreate,
            Topic::TaskStart,
            Topic::TaskExit,
            Topic::TaskOom,
            Topic::TaskDelete,
            Topic::ExecAdded,
            Topic::ExecStarted,
            Topic::TaskPaused,
            Topic::TaskResumed,
            Topic::SandboxReady,
            Topic::PodStopped,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
