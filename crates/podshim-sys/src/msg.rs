//! Messages between the shim and its re-executed children. There are three
//! conversations, each with its own message pair: the pause ([`Pause`]),
//! a container's init ([`Init`]) and an exec process ([`Exec`]). Each
//! starts with the shim sending the child its config, then the child
//! reports and the shim answers with commands. JSON, framed by
//! [`crate::channel`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::SysError;
use crate::ns::NsKind;

/// A namespace the child must enter: by path when given, else a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsRequest {
    pub kind: NsKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl NsRequest {
    /// A new namespace of `kind`.
    pub fn new(kind: NsKind) -> Self {
        NsRequest { kind, path: None }
    }

    /// True for a namespace of `kind` that is made, not joined.
    pub fn is_new(&self, kind: NsKind) -> bool {
        self.kind == kind && self.path.is_none()
    }
}

/// What kind of failure a child reports, so the shim can answer with the
/// right status code (a spec the kernel refuses is the caller's fault; an
/// EPERM from mount is not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorCause {
    /// The spec asks for something that cannot be: `field` names it.
    Spec { field: String },
    /// A system call failed with `errno`.
    Os { errno: i32 },
    /// A file operation failed, with the errno when there was one.
    Io {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno: Option<i32>,
    },
    /// The channel to the shim itself broke or carried nonsense.
    Channel,
    /// A cgroup operation failed.
    Cgroup,
}

/// A failure in a child, as it travels to the shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildError {
    /// Where it failed (`rootfs`, `setns`, `exec`, ...).
    pub stage: String,
    pub cause: ErrorCause,
    pub message: String,
}

impl ChildError {
    pub fn new(stage: &str, e: &SysError) -> Self {
        let cause = match e {
            SysError::Spec { field, .. } => ErrorCause::Spec {
                field: field.clone(),
            },
            SysError::Os { errno, .. } => ErrorCause::Os {
                errno: *errno as i32,
            },
            SysError::Io { source, .. } => ErrorCause::Io {
                errno: source.raw_os_error(),
            },
            SysError::Channel(_) => ErrorCause::Channel,
            SysError::Cgroup { .. } => ErrorCause::Cgroup,
        };
        ChildError {
            stage: stage.to_string(),
            cause,
            message: e.to_string(),
        }
    }

    /// The errno behind the failure, if it was a system call's.
    pub fn errno(&self) -> Option<i32> {
        match self.cause {
            ErrorCause::Os { errno } | ErrorCause::Io { errno: Some(errno) } => Some(errno),
            _ => None,
        }
    }
}

impl std::fmt::Display for ChildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.stage, self.message)
    }
}

/// One conversation between the shim and a kind of child: what the shim
/// sends first, what the child reports, what the shim commands.
pub trait Conversation {
    /// What the child is called in errors.
    const NAME: &'static str;
    type Config: Serialize + DeserializeOwned;
    type Report: Serialize + DeserializeOwned + std::fmt::Debug;
    type Command: Serialize + DeserializeOwned + std::fmt::Debug;
    /// The child failed.
    fn failed(e: ChildError) -> Self::Report;
}

/// A conversation in which the child forks the process that carries on.
pub trait Forks: Conversation {
    /// The child forked it (host pid).
    fn forked(pid: i32) -> Self::Report;
}

/// A conversation in which the child may make a user namespace that the
/// shim maps from outside.
pub trait MapsUserNs: Conversation {
    /// The child has unshared a user namespace: write its maps.
    fn user_ns() -> Self::Report;
    /// The maps are written.
    fn mapped() -> Self::Command;
    fn is_mapped(c: &Self::Command) -> bool;
}

/// A conversation in which the child sends the shim a terminal's master.
pub trait GivesTerminal: Conversation {
    /// Travels with the master (SCM_RIGHTS).
    fn terminal() -> Self::Report;
}

/// The pod's pause: holds the pod's namespaces.
#[derive(Debug)]
pub enum Pause {}

/// Shim -> pause, first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PauseConfig {
    pub pod: String,
    /// user (when the pod has its own), net, ipc, uts and pid, each new or
    /// joined; a kind not listed is the host's (hostNetwork, hostIPC, ...).
    pub namespaces: Vec<NsRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The cgroup to join first, one directory per hierarchy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup: Vec<String>,
    /// The pod's sysctls (the sandbox's linux.sysctl), checked by the shim
    /// to be in namespaces of the pod's own, written once they are entered.
    #[serde(default, skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub sysctl: std::collections::HashMap<String, String>,
}

/// Pause -> shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PauseReport {
    /// A new user namespace is made: map it.
    UserNs,
    /// With a pid namespace the first process forks the real pause (host
    /// pid) and exits.
    Child {
        pid: i32,
    },
    /// Namespaces made and pinned; the pause sleeps from here on.
    Ready,
    /// The pause holds a descriptor as number `fd` (for pidfd_getfd).
    Held {
        fd: i32,
    },
    Error(ChildError),
}

/// Shim -> pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PauseCommand {
    /// The user namespace's maps are written.
    UserNsMapped,
    /// Keep the file descriptor sent with this message (the read end of a
    /// container's log pipe), so that the pipe keeps a reader if the shim
    /// dies; answered with [`PauseReport::Held`].
    Hold,
    /// Close a descriptor held.
    Release { fd: i32 },
}

impl Conversation for Pause {
    const NAME: &'static str = "pause";
    type Config = PauseConfig;
    type Report = PauseReport;
    type Command = PauseCommand;
    fn failed(e: ChildError) -> PauseReport {
        PauseReport::Error(e)
    }
}

impl Forks for Pause {
    fn forked(pid: i32) -> PauseReport {
        PauseReport::Child { pid }
    }
}

impl MapsUserNs for Pause {
    fn user_ns() -> PauseReport {
        PauseReport::UserNs
    }
    fn mapped() -> PauseCommand {
        PauseCommand::UserNsMapped
    }
    fn is_mapped(c: &PauseCommand) -> bool {
        matches!(c, PauseCommand::UserNsMapped)
    }
}

/// A container's init: becomes the container's pid 1.
#[derive(Debug)]
pub enum Init {}

/// Shim -> init, first.
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
    /// The session keyring to join (runc's `_ses.<id>`); none keeps the
    /// inherited one (NoNewKeyring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_keyring: Option<String>,
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

/// Init -> shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InitReport {
    /// A new user namespace is made: map it.
    UserNs,
    /// The first process forked the container's pid 1 (host pid).
    Child {
        pid: i32,
    },
    /// The container's namespaces are made and nothing is mounted yet:
    /// run the prestart and createRuntime hooks, then send
    /// [`InitCommand::Continue`].
    CreateRuntime,
    /// The master side of the container's pseudo-terminal travels with
    /// this message (SCM_RIGHTS).
    Terminal,
    /// Rootfs ready; blocked until [`InitCommand::Start`].
    Ready,
    Error(ChildError),
}

/// Shim -> init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InitCommand {
    /// The user namespace's maps are written.
    UserNsMapped,
    /// The createRuntime hooks succeeded; `state` is what the
    /// createContainer hooks read.
    Continue { state: String },
    /// Execute the container process; `state` (the OCI state JSON) is what
    /// the startContainer hooks read.
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
    },
}

impl Conversation for Init {
    const NAME: &'static str = "container init";
    type Config = InitConfig;
    type Report = InitReport;
    type Command = InitCommand;
    fn failed(e: ChildError) -> InitReport {
        InitReport::Error(e)
    }
}

impl Forks for Init {
    fn forked(pid: i32) -> InitReport {
        InitReport::Child { pid }
    }
}

impl MapsUserNs for Init {
    fn user_ns() -> InitReport {
        InitReport::UserNs
    }
    fn mapped() -> InitCommand {
        InitCommand::UserNsMapped
    }
    fn is_mapped(c: &InitCommand) -> bool {
        matches!(c, InitCommand::UserNsMapped)
    }
}

impl GivesTerminal for Init {
    fn terminal() -> InitReport {
        InitReport::Terminal
    }
}

/// An exec process: a second process in a running container.
#[derive(Debug)]
pub enum Exec {}

/// Shim -> `podshim exec`, first.
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
    /// The container's session keyring, joined as its pid 1 did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_keyring: Option<String>,
}

/// Exec -> shim. End of file after [`ExecReport::Child`] means the process
/// was executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecReport {
    /// The first process forked the exec process (host pid).
    Child {
        pid: i32,
    },
    /// The master of the exec's pseudo-terminal travels with this message.
    Terminal,
    Error(ChildError),
}

/// The shim sends an exec child nothing after its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecCommand {}

impl Conversation for Exec {
    const NAME: &'static str = "exec";
    type Config = ExecConfig;
    type Report = ExecReport;
    type Command = ExecCommand;
    fn failed(e: ChildError) -> ExecReport {
        ExecReport::Error(e)
    }
}

impl Forks for Exec {
    fn forked(pid: i32) -> ExecReport {
        ExecReport::Child { pid }
    }
}

impl GivesTerminal for Exec {
    fn terminal() -> ExecReport {
        ExecReport::Terminal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_kinds_travel_by_their_proc_names() {
        let r = NsRequest {
            kind: NsKind::Mnt,
            path: Some("/proc/1/ns/mnt".into()),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"kind":"mnt","path":"/proc/1/ns/mnt"}"#);
        assert_eq!(serde_json::from_str::<NsRequest>(&text).unwrap(), r);
        let oci: NsRequest = serde_json::from_str(r#"{"kind":"network"}"#).unwrap();
        assert!(oci.is_new(NsKind::Net));
        assert!(serde_json::from_str::<NsRequest>(r#"{"kind":"time"}"#).is_err());
    }

    #[test]
    fn an_error_keeps_its_cause() {
        let e = SysError::os("mount", "/x", nix::errno::Errno::EPERM);
        let c = ChildError::new("rootfs", &e);
        assert_eq!(c.errno(), Some(libc::EPERM));
        let back: InitReport =
            serde_json::from_str(&serde_json::to_string(&InitReport::Error(c.clone())).unwrap())
                .unwrap();
        assert_eq!(back, InitReport::Error(c));
        let s = ChildError::new("rootfs", &SysError::spec("mounts[0]", "bad"));
        assert_eq!(
            s.cause,
            ErrorCause::Spec {
                field: "mounts[0]".into()
            }
        );
        assert_eq!(s.errno(), None);
    }
}
