//! Reading a bundle's config.json and deciding the task's role in its pod
//! from the CRI annotations.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use podshim_sys::msg::NsRequest;
use podshim_sys::ns::NsKind;
use podshim_types::{annotations as ann, Id};

use crate::error::{Result, ShimError};

/// Largest config.json read; larger is refused before parsing, before
/// anything of the task exists.
const MAX_CONFIG: u64 = podshim_sys::channel::MAX_SPEC;

/// What a task is to its pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The pod's infra task: the shim runs a pause for it.
    Sandbox,
    /// A container joining the pod `sandbox`.
    Member { sandbox: String },
    /// A plain OCI container: its namespace list is taken as it stands.
    Standalone,
}

/// uid_map and gid_map texts for a new user namespace.
#[derive(Debug, Clone)]
pub struct IdMaps {
    pub uid: String,
    pub gid: String,
}

#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub role: Role,
}

impl Bundle {
    /// Loads `<dir>/config.json`; errors name the file and what is wrong.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir)
            .map_err(|e| ShimError::InvalidArgument(format!("bundle {}: {e}", dir.display())))?;
        let path = dir.join("config.json");
        let meta = std::fs::metadata(&path).map_err(|e| {
            ShimError::InvalidArgument(format!("bundle config {}: {e}", path.display()))
        })?;
        if meta.len() > MAX_CONFIG {
            return Err(ShimError::InvalidArgument(format!(
                "bundle config {} is {} bytes, over the {MAX_CONFIG} byte limit (8 MiB)",
                path.display(),
                meta.len()
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            ShimError::InvalidArgument(format!("bundle config {}: {e}", path.display()))
        })?;
        let spec: Spec = serde_json::from_slice(&bytes).map_err(|e| {
            ShimError::InvalidArgument(format!(
                "bundle config {} is not a valid OCI spec: {e}",
                path.display()
            ))
        })?;
        let role = role_of(&spec);
        Ok(Bundle { dir, spec, role })
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }

    /// The shim this bundle's task belongs to.
    pub fn group_key(&self, id: &str) -> String {
        ann::group_key(id, |k| self.annotation(k)).to_string()
    }

    /// Checks what a container (not a sandbox) needs to run.
    pub fn check_container(&self) -> Result<()> {
        let p = self.spec.process().as_ref().ok_or_else(|| {
            ShimError::InvalidArgument(format!(
                "{}: config.json has no process",
                self.dir.display()
            ))
        })?;
        if p.args().as_ref().map(|a| a.is_empty()).unwrap_or(true) {
            return Err(ShimError::InvalidArgument(format!(
                "{}: process.args is empty",
                self.dir.display()
            )));
        }
        // What execve and chdir would refuse at Start is refused now.
        let bad = |m: String| {
            Err(ShimError::InvalidArgument(format!(
                "{}: {m}",
                self.dir.display()
            )))
        };
        for (field, list) in [("process.args", p.args()), ("process.env", p.env())] {
            if let Some(v) = list.iter().flatten().find(|v| v.contains('\0')) {
                return bad(format!("{field}: {v:?} contains a NUL byte"));
            }
        }
        if let Some(e) = p.env().iter().flatten().find(|e| !e.contains('=')) {
            return bad(format!("process.env: {e:?} is not KEY=VALUE"));
        }
        if !p.cwd().is_absolute() {
            return bad(format!("process.cwd {} is not absolute", p.cwd().display()));
        }
        self.refuse_unsupported()?;
        if let Some(profile) = self.seccomp() {
            // Compiled here too, so a bad profile fails the create before
            // anything starts, naming the field.
            let filter = podshim_sys::seccomp::compile(profile)
                .map_err(|e| ShimError::InvalidArgument(format!("{}: {e}", self.dir.display())))?;
            if !filter.skipped.is_empty() {
                tracing::warn!(
                    "{}: seccomp rules for syscalls unknown here are left out: {}",
                    self.dir.display(),
                    filter.skipped.join(", ")
                );
            }
        }
        let rootfs = podshim_sys::rootfs::rootfs_path(&self.spec, &self.dir)?;
        if !rootfs.is_dir() {
            return Err(ShimError::InvalidArgument(format!(
                "rootfs {} does not exist or is not a directory",
                rootfs.display()
            )));
        }
        podshim_sys::rootfs::refuse_host_root(&rootfs)?;
        Ok(())
    }

    /// The uid_map and gid_map texts for a new user namespace, from
    /// linux.uidMappings and gidMappings (None when the spec makes none).
    pub fn id_maps(&self, plan: &[NsRequest]) -> Result<Option<IdMaps>> {
        if !plan.iter().any(|r| r.is_new(NsKind::User)) {
            return Ok(None);
        }
        let linux = self.spec.linux().as_ref();
        let uid = linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default();
        let gid = linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default();
        if uid.is_empty() || gid.is_empty() {
            return Err(ShimError::InvalidArgument(format!(
                "{}: a new user namespace needs linux.uidMappings and linux.gidMappings",
                self.dir.display()
            )));
        }
        Ok(Some(IdMaps {
            uid: podshim_sys::userns::map_text(&uid),
            gid: podshim_sys::userns::map_text(&gid),
        }))
    }

    /// linux.seccomp, if any.
    pub fn seccomp(&self) -> Option<&oci_spec::runtime::LinuxSeccomp> {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
    }

    /// Security settings podshim cannot apply yet are refused rather than
    /// silently dropped: a container must never run with less isolation
    /// than its spec asks for.
    fn refuse_unsupported(&self) -> Result<()> {
        let no = |what: &str| {
            Err(ShimError::InvalidArgument(format!(
                "{}: {what} is not supported by podshim yet",
                self.dir.display()
            )))
        };
        for m in self.spec.mounts().iter().flatten() {
            let idmap = m
                .options()
                .iter()
                .flatten()
                .any(|o| o == "idmap" || o == "ridmap" || o.starts_with("idmap="));
            let mapped = m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty())
                || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty());
            if idmap || mapped {
                return no(&format!(
                    "mounts: an idmapped mount ({})",
                    m.destination().display()
                ));
            }
        }
        if let Some(p) = self.spec.process() {
            if p.apparmor_profile().as_ref().is_some_and(|a| !a.is_empty()) {
                return no("process.apparmorProfile");
            }
            if p.selinux_label().as_ref().is_some_and(|a| !a.is_empty()) {
                return no("process.selinuxLabel");
            }
        }
        Ok(())
    }

    /// The spec's namespaces as requests, in the order they are entered.
    /// `pod_pins` fills in the pod's net/ipc/uts for a member that names
    /// them without a path.
    pub fn namespace_plan(
        &self,
        pod_pins: Option<&dyn Fn(&str) -> String>,
    ) -> Result<Vec<NsRequest>> {
        let mut out: Vec<NsRequest> = Vec::new();
        for ns in &self.namespaces() {
            let kind = kind_of(ns.typ())?;
            let path = match ns.path() {
                Some(p) => Some(p.to_string_lossy().into_owned()),
                None => match (pod_pins, kind) {
                    (Some(pin), NsKind::Net | NsKind::Ipc | NsKind::Uts) => {
                        let pinned = pin(kind.proc_name());
                        // The pin itself, not what it links to: a pause
                        // that just died makes the member fail, never
                        // fall back to the host's namespace.
                        if Path::new(&pinned).symlink_metadata().is_err() {
                            // The pod has the host's (hostNetwork, ...):
                            // so has the member.
                            continue;
                        }
                        Some(pinned)
                    }
                    // The pod's user namespace, when it has one.
                    (Some(pin), NsKind::User) => Some(pin(kind.proc_name()))
                        .filter(|p| Path::new(p).symlink_metadata().is_ok()),
                    _ => None,
                },
            };
            if out.iter().any(|r| r.kind == kind) {
                return Err(ShimError::InvalidArgument(format!(
                    "linux.namespaces lists {} twice",
                    kind.proc_name()
                )));
            }
            out.push(NsRequest { kind, path });
        }
        out.sort_by_key(|r| r.kind.join_rank());
        if !out.iter().any(|r| r.is_new(NsKind::Mnt)) {
            return Err(ShimError::InvalidArgument(
                "linux.namespaces: a container needs a new mount namespace".into(),
            ));
        }
        Ok(out)
    }

    /// A hostname needs a UTS namespace of the task's own (new or the
    /// pod's): refused otherwise, as runc refuses it.
    pub fn check_hostname(&self, plan: &[NsRequest]) -> Result<()> {
        match self.spec.hostname().as_deref() {
            Some(h) if !h.is_empty() && !plan.iter().any(|r| r.kind == NsKind::Uts) => {
                Err(ShimError::InvalidArgument(format!(
                    "hostname {h:?}: unable to set a hostname without a private UTS namespace"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The spec's linux.sysctl, checked against the namespaces the task
    /// will have (`plan`): a sysctl that would reach the host is refused,
    /// by name, before anything starts (as runc refuses it).
    pub fn sysctls(&self, plan: &[NsRequest]) -> Result<std::collections::HashMap<String, String>> {
        let sysctl = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.sysctl().clone())
            .unwrap_or_default();
        podshim_sys::sysctl::check("linux.sysctl", &sysctl, |kind| {
            plan.iter().any(|r| r.kind == kind)
        })?;
        Ok(sysctl)
    }

    fn namespaces(&self) -> Vec<oci_spec::runtime::LinuxNamespace> {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default()
    }

    /// The sandbox's net/ipc/uts: joined when the spec gives a path (as
    /// containerd's CRI does for a netns it made), new when it lists the
    /// kind without one, the host's when it does not list it (hostNetwork,
    /// hostIPC: the pause stays where the shim is). A pid
    /// namespace in the sandbox spec (CRI's POD mode, Kubernetes'
    /// shareProcessNamespace) makes the pause pid 1 of the pod's own. A
    /// user namespace comes first: the pod's other namespaces belong to it.
    pub fn sandbox_namespaces(&self) -> Result<Vec<NsRequest>> {
        let list = self.namespaces();
        let mut given = Vec::new();
        for ns in &list {
            let path = ns.path().as_ref().map(|p| p.to_string_lossy().into_owned());
            given.push(NsRequest {
                kind: kind_of(ns.typ())?,
                path,
            });
        }
        let named = |kind: NsKind| given.iter().rev().find(|r| r.kind == kind).cloned();
        let mut out = Vec::new();
        out.extend(given.iter().filter(|r| r.kind == NsKind::User).cloned());
        for kind in [NsKind::Net, NsKind::Ipc, NsKind::Uts] {
            out.extend(named(kind));
        }
        out.extend(given.iter().filter(|r| r.kind == NsKind::Pid).cloned());
        Ok(out)
    }
}

fn role_of(spec: &Spec) -> Role {
    let get = |k: &str| spec.annotations().as_ref().and_then(|a| a.get(k)).cloned();
    match get(ann::CONTAINER_TYPE).as_deref() {
        Some(ann::CONTAINER_TYPE_SANDBOX) => Role::Sandbox,
        _ => match get(ann::SANDBOX_ID) {
            Some(s) => Role::Member { sandbox: s },
            None => Role::Standalone,
        },
    }
}

fn kind_of(t: LinuxNamespaceType) -> Result<NsKind> {
    Ok(match t {
        LinuxNamespaceType::Mount => NsKind::Mnt,
        LinuxNamespaceType::Cgroup => NsKind::Cgroup,
        LinuxNamespaceType::Uts => NsKind::Uts,
        LinuxNamespaceType::Ipc => NsKind::Ipc,
        LinuxNamespaceType::User => NsKind::User,
        LinuxNamespaceType::Pid => NsKind::Pid,
        LinuxNamespaceType::Network => NsKind::Net,
        LinuxNamespaceType::Time => {
            return Err(ShimError::InvalidArgument(
                "linux.namespaces: time namespaces are not supported".into(),
            ))
        }
    })
}

/// Validates a task id from a request.
pub fn task_id(id: &str) -> Result<Id> {
    Id::new(id).map_err(|e| ShimError::InvalidArgument(format!("task id: {e}")))
}
