//! The pod manifest podctl reads: `bundles/<pod>/pod.json`. A pod is a
//! directory holding this file and one OCI bundle per container.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::id::{Id, IdError};

/// `pod.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodManifest {
    /// The pod id: also the sandbox task id and the shim's group key.
    pub id: Id,
    /// Hostname set in the pod's UTS namespace; defaults to the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Containers in start order.
    pub containers: Vec<ContainerEntry>,
    /// One pid namespace for the whole pod, whose pid 1 is the pause
    /// (Kubernetes' shareProcessNamespace). Containers whose spec lists a
    /// pid namespace join it; without the option each has its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_pid_namespace: bool,
    /// The cgroup under which the pod's cgroup (`<parent>/<pod>`) is made,
    /// holding one child per task; without it the shim's default
    /// (`$PODSHIM_CGROUP_PARENT` or `podshim`, then `/podctl/<pod>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// A user namespace for the whole pod (Kubernetes' hostUsers: false):
    /// OCI id mappings (`containerID`, `hostID`, `size`). The pod's other
    /// namespaces belong to it and every container joins it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_mappings: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid_mappings: Option<serde_json::Value>,
    /// Host ports forwarded to the pod (CNI portmap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// /etc/resolv.conf of the pod; without it the host's, minus loopback
    /// name servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    /// The host's network namespace for the pod (Kubernetes' hostNetwork):
    /// no CNI network, the host's interfaces and ports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
    /// The host's IPC namespace (hostIPC).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_ipc: bool,
    /// The host's pid namespace for every container (hostPID).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_pid: bool,
    /// Sysctls of the pod, set in its namespaces before any container
    /// starts (Kubernetes' securityContext.sysctls); only those of a
    /// namespace the pod does not share with the host.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sysctls: std::collections::BTreeMap<String, String>,
}

/// One host port forwarded to a container port of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` (default) or `udp`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// The host address to listen on; every address when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

fn default_protocol() -> String {
    "tcp".into()
}

/// The pod's resolver settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub searches: Vec<String>,
    #[serde(default)]
    pub options: Vec<String>,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerEntry {
    /// Name inside the pod; the task id is `<pod>-<name>`.
    pub name: Id,
    /// Bundle directory (config.json + rootfs), relative to the pod directory.
    pub bundle: String,
    /// Limits (OCI linux.resources) laid over the bundle's own, key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<serde_json::Value>,
    /// The CRI log file rotates at this size (bytes; default 10 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_max_size: Option<u64>,
    /// Log files kept, the live one included (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_max_files: Option<u32>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("pod.json is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("pod.json lists no containers")]
    NoContainers,
    #[error("pod.json names container {0:?} twice")]
    DuplicateName(String),
    #[error("pod.json: container {name:?} has an empty bundle path")]
    EmptyBundle { name: String },
    #[error(
        "pod.json: hostname {0:?} is not a valid hostname (1-64 bytes, letters, digits, '-', '.')"
    )]
    BadHostname(String),
    #[error("pod.json: task id for container {name:?}: {source}")]
    TaskId { name: String, source: IdError },
    #[error("pod.json: ports: {0}")]
    BadPort(String),
    #[error("pod.json: {0}")]
    Conflict(&'static str),
}

impl PodManifest {
    /// Parses and checks a manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let m: PodManifest = serde_json::from_str(text)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        if self.containers.is_empty() {
            return Err(ManifestError::NoContainers);
        }
        let mut seen = HashSet::new();
        for c in &self.containers {
            if !seen.insert(c.name.as_str()) {
                return Err(ManifestError::DuplicateName(c.name.to_string()));
            }
            if c.bundle.trim().is_empty() {
                return Err(ManifestError::EmptyBundle {
                    name: c.name.to_string(),
                });
            }
            self.task_id(&c.name)
                .map_err(|source| ManifestError::TaskId {
                    name: c.name.to_string(),
                    source,
                })?;
        }
        if self.host_pid && self.share_pid_namespace {
            return Err(ManifestError::Conflict(
                "host_pid and share_pid_namespace exclude each other",
            ));
        }
        if self.host_network && !self.ports.is_empty() {
            return Err(ManifestError::Conflict(
                "host_network pods listen on the host's ports themselves: no ports to forward",
            ));
        }
        let host = self.hostname();
        let ok = !host.is_empty()
            && host.len() <= 64
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(ManifestError::BadHostname(host.to_string()));
        }
        let mut taken = HashSet::new();
        for p in &self.ports {
            if p.host_port == 0 || p.container_port == 0 {
                return Err(ManifestError::BadPort(format!(
                    "{} -> {}: port 0",
                    p.host_port, p.container_port
                )));
            }
            if p.protocol != "tcp" && p.protocol != "udp" {
                return Err(ManifestError::BadPort(format!(
                    "protocol {:?} is neither tcp nor udp",
                    p.protocol
                )));
            }
            if !p.host_ip.is_empty() && p.host_ip.parse::<std::net::IpAddr>().is_err() {
                return Err(ManifestError::BadPort(format!(
                    "host_ip {:?} is not an address",
                    p.host_ip
                )));
            }
            if !taken.insert((p.host_port, p.protocol.clone(), p.host_ip.clone())) {
                return Err(ManifestError::BadPort(format!(
                    "host port {}/{} is mapped twice",
                    p.host_port, p.protocol
                )));
            }
        }
        Ok(())
    }

    /// The hostname of the pod.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or(self.id.as_str())
    }

    /// The task id podctl gives container `name` of this pod.
    pub fn task_id(&self, name: &Id) -> Result<Id, IdError> {
        Id::new(&format!("{}-{}", self.id, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_pod() {
        let m = PodManifest::parse(
            r#"{"id":"web-sidecar","containers":[{"name":"web","bundle":"web"},{"name":"client","bundle":"client"}]}"#,
        )
        .unwrap();
        assert_eq!(m.hostname(), "web-sidecar");
        assert_eq!(
            m.task_id(&m.containers[1].name).unwrap().as_str(),
            "web-sidecar-client"
        );
    }

    #[test]
    fn refuses_bad_pods() {
        for (text, want) in [
            (r#"{"id":"../x","containers":[]}"#, "not valid"),
            (r#"{"id":"a/b","containers":[]}"#, "not valid"),
            (r#"{"id":"p","containers":[]}"#, "no containers"),
            (
                r#"{"id":"p","containers":[{"name":"a","bundle":"a"},{"name":"a","bundle":"b"}]}"#,
                "twice",
            ),
            (
                r#"{"id":"p","hostname":"bad host","containers":[{"name":"a","bundle":"a"}]}"#,
                "hostname",
            ),
            (
                r#"{"id":"p","containers":[{"name":"a","bundle":""}]}"#,
                "empty bundle",
            ),
            (
                r#"{"id":"p","containers":[{"name":"a","bundle":"a","x":1}]}"#,
                "unknown field",
            ),
            ("", "not valid"),
        ] {
            let err = PodManifest::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
