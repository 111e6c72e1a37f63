//! `podctl run POD_DIR`: prepare the bundles as containerd would (a copy of
//! each config.json with the CRI annotations, an absolute rootfs path), start
//! the pod's shim, create and start the sandbox, create the containers side
//! by side, then start them in order. On any failure the pod is removed
//! again.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use podshim_state::PodPaths;
use podshim_types::{ContainerEntry, Id, PodManifest};
use serde_json::{json, Value};

use crate::bundles::{
    bundles_dir, cri_log_uri, limits, member_spec, read_spec, sandbox_spec, write_json,
    MANIFEST_COPY, SANDBOX_BUNDLE,
};
use crate::shim::{self, Shim};
use crate::Ctx;

/// Start the pod described by POD_DIR/pod.json and print its id.
///
/// On any failure what was made of the pod is removed again.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Wait for every container to exit, remove the pod, and exit with the
    /// first non-zero exit code.
    #[arg(long)]
    pub rm: bool,
    /// A directory with pod.json and the bundles it names.
    pub pod_dir: PathBuf,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("run")?;
    let remove = a.rm;
    let dir = a.pod_dir;
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
            .create(m.id.as_str(), &sandbox_dir, ["", "", ""], false)
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
        // A host_network pod has the host's interfaces: nothing to attach.
        let network = if m.host_network {
            None
        } else {
            crate::cni::attach(&paths, m.id.as_str(), &paths.ns_pin("net"), ports)
                .with_context(|| format!("network of pod {}", m.id))?
        };
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
        // Created side by side, so that one container's init starting up
        // overlaps the shim's work for the next; started in order.
        let create = |(id, bundle, entry, terminal): &(Id, PathBuf, &ContainerEntry, bool)| {
            let log = cri_log_uri(&paths, id, entry);
            s.create(id.as_str(), bundle, ["", &log, &log], *terminal)
                .with_context(|| format!("create container {id}"))
                .map(drop)
        };
        match prepared.as_slice() {
            [one] => create(one)?,
            all => std::thread::scope(|scope| {
                let running: Vec<_> = all.iter().map(|p| scope.spawn(move || create(p))).collect();
                // Every create has ended (made or undone) before the first
                // error is returned and the pod removed.
                let results: Vec<_> = running.into_iter().map(|h| h.join()).collect();
                results.into_iter().try_for_each(|r| {
                    r.unwrap_or_else(|_| Err(anyhow::anyhow!("a create thread panicked")))
                })
            })?,
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
            if let Err(e2) = crate::remove::remove_pod(c, &m.id, Duration::from_secs(2)) {
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
    Ok(ExitCode::SUCCESS)
}

/// `run --rm`: waits for every container, removes the pod, and exits with
/// the first non-zero exit code (0 when all succeeded).
fn wait_and_remove(c: &Ctx, pod: &Id, ids: &[Id], paths: &PodPaths) -> anyhow::Result<ExitCode> {
    let s = crate::ctx::connect(paths)?;
    let mut code = 0u32;
    for id in ids {
        let exit = s
            .wait(id.as_str(), Duration::from_secs(365 * 24 * 3600))
            .with_context(|| format!("wait for {id}"))?
            .unwrap_or(255);
        if code == 0 {
            code = exit;
        }
    }
    crate::remove::remove_pod(c, pod, Duration::from_secs(2))?;
    Ok(crate::ctx::exit_code(code))
}
