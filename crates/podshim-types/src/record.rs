//! Records kept in the state directory: `pod.json` for the pod and
//! `containers/<id>/state.json` for each task. Every pid is stored with its
//! start time so that a reused pid is never taken for ours. Reading
//! /proc/PID/stat to check a stamp is the one piece of I/O here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A pid and the start time the kernel gives it (field 22 of /proc/PID/stat,
/// clock ticks since boot). Together they name one process for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStamp {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessStamp {
    /// Parses the start time out of a /proc/PID/stat line. The command name
    /// (field 2) may hold spaces and parentheses, so fields are counted
    /// after its last `)`.
    pub fn parse_start_time(stat: &str) -> Option<u64> {
        let after = &stat[stat.rfind(')')? + 1..];
        // After ")" come fields 3.. ; start time is field 22, index 19 here.
        after.split_whitespace().nth(19)?.parse().ok()
    }

    /// True when /proc shows this very process (a zombie counts).
    pub fn is_alive(&self) -> bool {
        self.read_stat().is_some()
    }

    /// True when the process has ended: gone, replaced by another with the
    /// same pid, or a zombie waiting to be reaped by whoever adopted it.
    pub fn has_exited(&self) -> bool {
        match self.read_stat() {
            None => true,
            Some(stat) => Self::parse_state(&stat) == Some('Z'),
        }
    }

    /// The stat line of this very process, if it still exists.
    fn read_stat(&self) -> Option<String> {
        if self.pid <= 0 {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        (Self::parse_start_time(&stat) == Some(self.start_time)).then_some(stat)
    }

    /// The state letter (field 3) of a stat line.
    pub fn parse_state(stat: &str) -> Option<char> {
        stat[stat.rfind(')')? + 1..]
            .split_whitespace()
            .next()?
            .chars()
            .next()
    }
}

/// Life of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodStatus {
    /// The pause is being set up.
    Creating,
    /// The pause holds the namespaces; containers may join.
    Ready,
    /// The pause is gone.
    Stopped,
}

/// Life of a task, as OCI state names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Creating => "creating",
            TaskStatus::Created => "created",
            TaskStatus::Running => "running",
            TaskStatus::Paused => "paused",
            TaskStatus::Stopped => "stopped",
        }
    }
}

/// `pod.json` in the pod's state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    pub id: String,
    pub namespace: String,
    pub status: PodStatus,
    pub shim: ProcessStamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<ProcessStamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub bundle: String,
    /// Pinned namespaces, by type (`net`, `ipc`, `uts`).
    #[serde(default)]
    pub namespaces: BTreeMap<String, String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// The pause's cgroup (relative path, the same in every hierarchy), so
    /// that a cleanup without the shim can remove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

/// `containers/<id>/state.json`: the OCI state plus what a user asks after a
/// container ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pod: String,
    pub status: TaskStatus,
    /// Host pid of the container's pid 1; 0 before it exists.
    pub pid: i32,
    #[serde(default)]
    pub pid_start_time: u64,
    pub bundle: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it ended when the exit code alone does not say (pod stopped, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// The OOM killer ended the container's pid 1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// The task's cgroup, relative to each hierarchy's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Descriptors of this container's log pipes (stdout, stderr) that the
    /// pause holds, so a new shim can take them back after a crash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parked_fds: Vec<i32>,
    /// The owner (uid, gid) of the stdio pipes and FIFOs of its processes
    /// (runtime options IoUid/IoGid of its Create); root when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_owner: Option<(u32, u32)>,
    /// Its processes keep the session keyring they inherit (runtime option
    /// NoNewKeyring) instead of joining `_ses.<id>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_keyring: bool,
}

impl ContainerRecord {
    /// The process stamp, once the container has a pid.
    pub fn stamp(&self) -> Option<ProcessStamp> {
        (self.pid > 0).then_some(ProcessStamp {
            pid: self.pid,
            start_time: self.pid_start_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(ProcessStamp::parse_start_time(line), Some(987654));
        assert_eq!(ProcessStamp::parse_start_time("garbage"), None);
        assert_eq!(ProcessStamp::parse_state(line), Some('S'));
    }

    #[test]
    fn container_record_uses_oci_field_names() {
        let r = ContainerRecord {
            oci_version: "1.0.2".into(),
            id: "c".into(),
            pod: "p".into(),
            status: TaskStatus::Stopped,
            pid: 42,
            pid_start_time: 7,
            bundle: "/b".into(),
            annotations: BTreeMap::new(),
            stdout: String::new(),
            stderr: String::new(),
            created_at: "t".into(),
            started_at: None,
            finished_at: None,
            exit_code: Some(3),
            exit_reason: None,
            oom_killed: false,
            cgroup: Some("podshim/ns/p/c".into()),
            parked_fds: vec![5, 6],
            io_owner: Some((1000, 1001)),
            no_new_keyring: true,
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ociVersion"], "1.0.2");
        assert_eq!(v["status"], "stopped");
        assert_eq!(v["exit_code"], 3);
        let back: ContainerRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.stamp(),
            Some(ProcessStamp {
                pid: 42,
                start_time: 7
            })
        );
    }
}
