//! Messages between the shim and its re-executed children (`pause`,
//! `init`). JSON, framed by [`crate::channel`].

use serde::{Deserialize, Serialize};

/// A namespace the child must enter: by path when given, else a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsRequest {
    /// `net`, `ipc`, `uts`, `pid`, `mnt`, `cgroup`, `user`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Shim -> pause.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PauseConfig {
    pub pod: String,
    /// net, ipc and uts, each new or joined.
    pub namespaces: Vec<NsRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Directory where the namespaces are pinned (`P/ns`).
    pub pin_dir: String,
    /// The cgroup to join first, one directory per hierarchy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup: Vec<String>,
}

/// Shim -> init.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitConfig {
    pub container: String,
    /// Absolute bundle directory.
    pub bundle: String,
    /// The OCI spec, as read and checked by the shim.
    pub spec: oci_spec::runtime::Spec,
    /// Namespaces in the order they are entered; those without a path are
    /// unshared.
    pub namespaces: Vec<NsRequest>,
    /// Allocate a pseudo-terminal inside the container for its process.
    #[serde(default)]
    pub terminal: bool,
    /// Mounts that make up the rootfs (containerd's snapshot, e.g. an
    /// overlay), mounted onto `root.path` inside the container's own mount
    /// namespace, so they vanish with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rootfs_mounts: Vec<RootfsMount>,
    /// The cgroup to join before any namespace, one directory per hierarchy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup: Vec<String>,
}

/// One mount of a CreateTaskRequest's `rootfs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsMount {
    #[serde(rename = "type")]
    pub typ: String,
    pub source: String,
    #[serde(default)]
    pub options: Vec<String>,
}

/// Shim -> `podshim exec`: run a second process in a running container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecConfig {
    pub container: String,
    pub exec_id: String,
    /// The container's namespaces to enter (`/proc/PID/ns/*`), mnt last.
    pub namespaces: Vec<NsRequest>,
    /// The process to run, as containerd sends it.
    pub process: oci_spec::runtime::Process,
    /// Allocate a pseudo-terminal inside the container.
    #[serde(default)]
    pub terminal: bool,
    /// The container's cgroup, joined before its namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup: Vec<String>,
    /// The container's seccomp profile: an exec is confined as its pid 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// Child -> shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// init's first process forked the container's pid 1 (host pid).
    Child { pid: i32 },
    /// Set up and waiting: for the pause, namespaces pinned; for a
    /// container, rootfs ready and blocked until [`Command::Start`].
    Ready,
    /// The master side of the pseudo-terminal made inside the container
    /// travels with this message (SCM_RIGHTS).
    Terminal,
    /// The sender has unshared a user namespace: write its uid_map and
    /// gid_map, then send [`Command::UserNsMapped`].
    UserNs,
    /// The container's namespaces are made and nothing is mounted yet:
    /// run the prestart and createRuntime hooks, then send
    /// [`Command::Continue`].
    CreateRuntime,
    /// Something failed; `stage` says where.
    Error { stage: String, message: String },
    /// The pause holds a descriptor as number `fd` (for pidfd_getfd).
    Held { fd: i32 },
}

/// Shim -> container pid 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Execute the container process; `state` (the OCI state JSON) is what
    /// the startContainer hooks read.
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
    },
    /// The createRuntime hooks succeeded; `state` is what the
    /// createContainer hooks read.
    Continue { state: String },
    /// The user namespace's maps are written.
    UserNsMapped,
    /// To the pause: keep the file descriptor sent with this message (the
    /// read end of a container's log pipe), so that the pipe keeps a
    /// reader if the shim dies; answered with [`Report::Held`].
    Hold,
    /// To the pause: close a descriptor it holds.
    Release { fd: i32 },
}
