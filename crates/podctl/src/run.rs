//! `podctl run POD_DIR`: prepare the bundles as containerd would (a copy of
//! each config.json with the CRI annotations, an absolute rootfs path), start
//! the pod's shim, create and start the sandbox, then every container in
//! order. On any failure the pod is removed again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use podshim_state::PodPaths;
use podshim_types::{annotations as ann, Id, PodManifest};
use serde_json::{json, Value};

use crate::args::Args;
use crate::bundles::{bundles_dir, MANIFEST_COPY, SANDBOX_BUNDLE};
use crate::shim::{self, Shim};
use crate::Ctx;

pub fn run(c: &Ctx, a: &mut Args) -> anyhow::Result<std::process::ExitCode> {
    let remove = a.flag(&["--rm"]);
    let dir = PathBuf::from(a.required("POD_DIR")?);
    a.done()?;
    let began = Instant::now();
    let manifest_path = dir.join("pod.json");
    let text = fs::read_to_string(&manifest_path)
        .with_context(|| format!("read {}", manifest_path.display()))?;
    let m = PodManifest::parse(&text).with_context(|| manifest_path.display().to_string())?;
    let paths = c.root.pod(&c.namespace, &m.id);
    if paths.dir().exists() {
        bail!("pod {} already exists (podctl rm {} first)", m.id, m.id);
    }
    // Check every bundle before anything is made.
    let mut bundles = Vec::new();
    for entry in &m.containers {
        let src = dir.join(&entry.bundle);
        let spec = read_spec(&src)?;
        bundles.push((entry, src, spec));
    }

    let made = (|| -> anyhow::Result<Vec<Id>> {
        let bdir = bundles_dir(&paths);
        let sandbox_dir = bdir.join(SANDBOX_BUNDLE);
        fs::create_dir_all(&sandbox_dir)
            .with_context(|| format!("create {}", sandbox_dir.display()))?;
        write_json(&sandbox_dir.join("config.json"), &sandbox_spec(&m)?)?;
        write_json(&bdir.join(MANIFEST_COPY), &serde_json::to_value(&m)?)?;
        let address = shim::start(c, &m.id, &sandbox_dir)?;
        let s = Shim::connect(&address)?;
        let pause = s
            .create(m.id.as_str(), &sandbox_dir, "", "", false)
            .with_context(|| format!("create sandbox {}", m.id))?;
        s.start(m.id.as_str())
            .with_context(|| format!("start sandbox {}", m.id))?;

        // As containerd's CRI does: a shared pid namespace is named by the
        // pause's /proc path, which exists only now.
        let shared_pid = m
            .share_pid_namespace
            .then(|| format!("/proc/{pause}/ns/pid"));
        // The pause holds the network namespace now: attach it (CNI ADD),
        // then write the /etc files that name the pod's address.
        let ports: Vec<Value> = m
            .ports
            .iter()
            .map(|p| {
                json!({"hostPort": p.host_port, "containerPort": p.container_port,
                       "protocol": p.protocol, "hostIP": p.host_ip})
            })
            .collect();
        let network = crate::cni::attach(&paths, m.id.as_str(), &paths.ns_pin("net"), ports)
            .with_context(|| format!("network of pod {}", m.id))?;
        crate::etc::write(&paths, &m, network.as_ref().and_then(|n| n.ip.as_deref()))?;
        let mut prepared = Vec::new();
        for (entry, src, spec) in bundles {
            let id = m.task_id(&entry.name)?;
            let out = bdir.join(entry.name.as_str());
            fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
            let mut spec = member_spec(spec, &src, &m, &entry.name, shared_pid.as_deref())?;
            crate::etc::add_mounts(&mut spec, &paths);
            limits(&mut spec, &m, &id, entry.resources.as_ref())
                .with_context(|| format!("container {}", entry.name))?;
            write_json(&out.join("config.json"), &spec)?;
            let terminal = spec["process"]["terminal"].as_bool().unwrap_or(false);
            prepared.push((id, out, entry, terminal));
        }
        for (id, bundle, entry, terminal) in &prepared {
            // The shim writes the CRI log format with rotation (a terminal's
            // output too) and serves `podctl attach`.
            let log = format!(
                "cri-log://{}?max-size={}&max-files={}",
                paths.container_log(id).display(),
                entry.log_max_size.unwrap_or(10 << 20),
                entry.log_max_files.unwrap_or(5)
            );
            s.create(id.as_str(), bundle, &log, &log, *terminal)
                .with_context(|| format!("create container {id}"))?;
        }
        for (id, _, _, _) in &prepared {
            s.start(id.as_str())
                .with_context(|| format!("start container {id}"))?;
        }
        Ok(prepared.into_iter().map(|(id, _, _, _)| id).collect())
    })();
    let ids = match made {
        Ok(ids) => ids,
        Err(e) => {
            if let Err(e2) = crate::rm::remove_pod(c, &m.id, std::time::Duration::from_secs(2)) {
                eprintln!("podctl: cleaning up after the failed run: {e2:#}");
            }
            return Err(e);
        }
    };
    if remove {
        return wait_and_remove(c, &m.id, &ids, &paths);
    }
    println!("{}", m.id);
    if std::env::var_os("PODCTL_TIMING").is_some() {
        eprintln!(
            "podctl: pod {} started in {:.3} ms",
            m.id,
            began.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `run --rm`: waits for every container, removes the pod, and exits with
/// the first non-zero exit code (0 when all succeeded).
fn wait_and_remove(
    c: &Ctx,
    pod: &Id,
    ids: &[Id],
    paths: &PodPaths,
) -> anyhow::Result<std::process::ExitCode> {
    let s = Shim::connect(&format!("unix://{}", paths.socket()?.display()))?;
    let mut code = 0u32;
    for id in ids {
        let exit = s
            .wait(id.as_str(), std::time::Duration::from_secs(365 * 24 * 3600))
            .with_context(|| format!("wait for {id}"))?
            .unwrap_or(255);
        if code == 0 {
            code = exit;
        }
    }
    crate::rm::remove_pod(c, pod, std::time::Duration::from_secs(2))?;
    Ok(std::process::ExitCode::from(
        u8::try_from(code).unwrap_or(255),
    ))
}

fn read_spec(bundle: &Path) -> anyhow::Result<Value> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if !v.is_object() {
        bail!("{} is not a JSON object", path.display());
    }
    Ok(v)
}

fn write_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(v)?;
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// The sandbox's bundle: the pod's hostname and new net, ipc and uts
/// namespaces (and pid, when shared), as containerd's CRI writes it.
fn sandbox_spec(m: &PodManifest) -> anyhow::Result<Value> {
    let mut namespaces = vec![
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
    ];
    if m.share_pid_namespace {
        namespaces.push(json!({"type": "pid"}));
    }
    let userns = user_namespace(m)?;
    if userns.is_some() {
        namespaces.insert(0, json!({"type": "user"}));
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "hostname": m.hostname(),
        "root": {"path": "rootfs", "readonly": true},
        "annotations": {
            ann::CONTAINER_TYPE: ann::CONTAINER_TYPE_SANDBOX,
            ann::SANDBOX_ID: m.id.as_str(),
            ann::SANDBOX_NAME: m.id.as_str(),
        },
        "linux": {"namespaces": namespaces}
    });
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
fn limits(
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
/// absolute rootfs path, and the pod's pid namespace when it is shared.
fn member_spec(
    mut spec: Value,
    src: &Path,
    m: &PodManifest,
    name: &Id,
    shared_pid: Option<&str>,
) -> anyhow::Result<Value> {
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

/// `podctl recover POD`: after the pod's shim died, starts it again as
/// containerd would; the new shim takes the pod over from its state
/// directory (see podshim's pod recovery). Then prints the pod as `ps` does.
pub fn recover(c: &Ctx, a: &mut Args) -> anyhow::Result<std::process::ExitCode> {
    let (pod, paths) = crate::show::pod_paths(c, &a.required("POD")?)?;
    a.done()?;
    let record: podshim_types::PodRecord = podshim_state::read_json(&paths.record())?;
    if !record.shim.has_exited() {
        println!("pod {pod}: its shim (pid {}) is running", record.shim.pid);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let address = shim::start(c, &pod, &bundles_dir(&paths).join(SANDBOX_BUNDLE))?;
    let s = Shim::connect(&address)?;
    s.state(pod.as_str())
        .with_context(|| format!("the new shim of pod {pod} does not answer"))?;
    println!("pod {pod}: shim started again at {address}");
    Ok(std::process::ExitCode::SUCCESS)
}
