//! A pod's bundles as podctl writes them, as containerd's CRI would: where
//! they live in the pod's state directory (for every command that reads
//! them), the sandbox's bundle made from pod.json, and each member's
//! config.json with the CRI annotations, an absolute rootfs path, the pod's
//! user and pid namespaces, its cgroup layout and pod.json's limits.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use podshim_state::PodPaths;
use podshim_types::{annotations as ann, Id, PodManifest};
use serde_json::{json, Value};

/// Where podctl keeps the bundles it made for a pod.
pub fn bundles_dir(p: &PodPaths) -> PathBuf {
    p.dir().join("bundles")
}

/// The sandbox bundle's directory name under [`bundles_dir`].
pub const SANDBOX_BUNDLE: &str = "_sandbox";

/// The copy of pod.json kept under [`bundles_dir`] (container names start
/// with a letter or digit, so neither name can clash with a bundle).
pub const MANIFEST_COPY: &str = "_pod.json";

/// Where the shim writes a container's output: its CRI log, rotated as
/// the pod's manifest asks (a terminal's output too); `podctl attach`
/// is served from it.
pub fn cri_log_uri(p: &PodPaths, id: &Id, entry: &podshim_types::ContainerEntry) -> String {
    format!(
        "cri-log://{}?max-size={}&max-files={}",
        p.container_log(id).display(),
        entry.log_max_size.unwrap_or(10 << 20),
        entry.log_max_files.unwrap_or(5)
    )
}

pub fn read_spec(bundle: &Path) -> anyhow::Result<Value> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if !v.is_object() {
        bail!("{} is not a JSON object", path.display());
    }
    Ok(v)
}

pub fn write_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(v)?;
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// The sandbox's bundle: the pod's hostname, its sysctls, and new net, ipc
/// and uts namespaces (and pid, when shared) but those it takes from the
/// host, as containerd's CRI writes it (hostNetwork: no network entry).
pub fn sandbox_spec(m: &PodManifest) -> anyhow::Result<Value> {
    let mut namespaces = Vec::new();
    if !m.host_network {
        namespaces.push(json!({"type": "network"}));
    }
    if !m.host_ipc {
        namespaces.push(json!({"type": "ipc"}));
    }
    // hostNetwork brings the host's UTS namespace, as Kubernetes has it:
    // the node's hostname.
    if !m.host_network {
        namespaces.push(json!({"type": "uts"}));
    }
    if m.share_pid_namespace {
        namespaces.push(json!({"type": "pid"}));
    }
    let userns = user_namespace(m)?;
    if userns.is_some() {
        namespaces.insert(0, json!({"type": "user"}));
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "annotations": {
            ann::CONTAINER_TYPE: ann::CONTAINER_TYPE_SANDBOX,
            ann::SANDBOX_ID: m.id.as_str(),
            ann::SANDBOX_NAME: m.id.as_str(),
        },
        "linux": {"namespaces": namespaces}
    });
    if !m.host_network {
        spec["hostname"] = json!(m.hostname());
    }
    if !m.sysctls.is_empty() {
        spec["linux"]["sysctl"] = json!(m.sysctls);
    }
    if let Some((uid, gid)) = userns {
        spec["linux"]["uidMappings"] = uid;
        spec["linux"]["gidMappings"] = gid;
    }
    limits(&mut spec, m, &m.id, None)?;
    Ok(spec)
}

/// pod.json's id mappings, both or neither.
fn user_namespace(m: &PodManifest) -> anyhow::Result<Option<(Value, Value)>> {
    match (&m.uid_mappings, &m.gid_mappings) {
        (None, None) => Ok(None),
        (Some(u), Some(g)) => Ok(Some((u.clone(), g.clone()))),
        _ => anyhow::bail!("pod.json: uid_mappings and gid_mappings go together"),
    }
}

/// The pod's cgroup layout and pod.json's limits: with a cgroup_parent,
/// every task's cgroup is `<parent>/<pod>/<task>` (a bundle's own
/// cgroupsPath wins); `resources` is laid over linux.resources key by key.
pub fn limits(
    spec: &mut Value,
    m: &PodManifest,
    task: &Id,
    resources: Option<&Value>,
) -> anyhow::Result<()> {
    let linux = spec
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("config.json is not an object"))?
        .entry("linux")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("config.json: linux is not an object"))?;
    if let Some(parent) = &m.cgroup_parent {
        linux
            .entry("cgroupsPath")
            .or_insert_with(|| json!(format!("{}/{}/{task}", parent.trim_end_matches('/'), m.id)));
    }
    if let Some(extra) = resources {
        let extra = extra
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("pod.json: resources is not an object"))?;
        let r = linux
            .entry("resources")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("config.json: linux.resources is not an object"))?;
        for (k, v) in extra {
            r.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

/// A member's bundle: its own config.json with the pod annotations, an
/// absolute rootfs path, and the pod's pid namespace when it is shared (the
/// host's with host_pid; the shim puts a member of a host_network or
/// host_ipc pod in the host's of those itself).
pub fn member_spec(
    mut spec: Value,
    src: &Path,
    m: &PodManifest,
    name: &Id,
    shared_pid: Option<&str>,
) -> anyhow::Result<Value> {
    if m.host_pid {
        if let Some(list) = spec
            .pointer_mut("/linux/namespaces")
            .and_then(|n| n.as_array_mut())
        {
            list.retain(|ns| ns["type"] != "pid");
        }
    }
    // In a pod with a user namespace every member joins it (the shim puts
    // in the pod's), with the same mappings, as containerd's CRI writes it.
    if let Some((uid, gid)) = user_namespace(m)? {
        let linux = spec
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("config.json is not an object"))?
            .entry("linux")
            .or_insert_with(|| json!({}));
        let list = linux
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("config.json: linux is not an object"))?
            .entry("namespaces")
            .or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            if !list.iter().any(|n| n["type"] == "user") {
                list.insert(0, json!({"type": "user"}));
            }
        }
        linux["uidMappings"] = uid;
        linux["gidMappings"] = gid;
    }
    if let Some(path) = shared_pid {
        let list = spec
            .pointer_mut("/linux/namespaces")
            .and_then(|n| n.as_array_mut());
        for ns in list.into_iter().flatten() {
            if ns.get("type").and_then(|t| t.as_str()) == Some("pid") {
                ns["path"] = json!(path);
            }
        }
    }
    let src = fs::canonicalize(src).with_context(|| format!("bundle {}", src.display()))?;
    let root = spec
        .get_mut("root")
        .and_then(|r| r.as_object_mut())
        .ok_or_else(|| anyhow::anyhow!("{}/config.json has no root", src.display()))?;
    let rootfs = root
        .get("path")
        .and_then(|p| p.as_str())
        .ok_or_else(|| anyhow::anyhow!("{}/config.json: root.path is missing", src.display()))?;
    let abs = if Path::new(rootfs).is_absolute() {
        PathBuf::from(rootfs)
    } else {
        src.join(rootfs)
    };
    root.insert("path".into(), json!(abs));
    let obj = spec
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("config.json is not an object"))?;
    let anns = obj.entry("annotations").or_insert_with(|| json!({}));
    let anns = anns.as_object_mut().ok_or_else(|| {
        anyhow::anyhow!(
            "{}/config.json: annotations is not an object",
            src.display()
        )
    })?;
    anns.insert(
        ann::CONTAINER_TYPE.into(),
        json!(ann::CONTAINER_TYPE_CONTAINER),
    );
    anns.insert(ann::SANDBOX_ID.into(), json!(m.id.as_str()));
    anns.insert(ann::SANDBOX_NAME.into(), json!(m.id.as_str()));
    anns.insert(ann::CONTAINER_NAME.into(), json!(name.as_str()));
    Ok(spec)
}
