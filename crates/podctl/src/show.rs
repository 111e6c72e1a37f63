//! Read-only views from the state directory: `ps`, `inspect`, `events`,
//! `logs`. None of them needs the shim.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use podshim_state::{read_json, PodPaths};
use podshim_types::{ContainerRecord, Id, PodRecord, PodStatus, TaskStatus};

use crate::args::Args;
use crate::Ctx;

/// A pod's id and paths; an error when there is no such pod.
pub(crate) fn pod_paths(c: &Ctx, pod: &str) -> anyhow::Result<(Id, PodPaths)> {
    let id = Id::new(pod).with_context(|| format!("pod id {pod:?}"))?;
    let paths = c.root.pod(&c.namespace, &id);
    if !paths.record().exists() {
        bail!("pod {id} not found");
    }
    Ok((id, paths))
}

fn containers(paths: &PodPaths) -> Vec<ContainerRecord> {
    paths
        .list_containers()
        .unwrap_or_default()
        .iter()
        .filter_map(|id| read_json::<ContainerRecord>(&paths.container_record(id)).ok())
        .collect()
}

/// A pod's status as the user should read it: a live shim keeps the
/// records current; without one, "running" is only a last known state.
fn pod_status(r: &PodRecord) -> String {
    let s = match r.status {
        PodStatus::Creating => "creating",
        PodStatus::Ready => "ready",
        PodStatus::Stopped => "stopped",
    };
    if r.status != PodStatus::Stopped && !r.shim.is_alive() {
        format!("{s}?(shim gone)")
    } else {
        s.to_string()
    }
}

pub fn ps(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    a.done()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<24} {:<20} {:<16} {:>8} {:>5}  REASON",
        "POD", "CONTAINER", "STATUS", "PID", "EXIT"
    )?;
    for pod in c.root.list_pods(&c.namespace)? {
        let paths = c.root.pod(&c.namespace, &pod);
        let Ok(r) = read_json::<PodRecord>(&paths.record()) else {
            continue;
        };
        let pause = r
            .pause
            .map(|p| p.pid.to_string())
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<24} {:<20} {:<16} {:>8} {:>5}  {}",
            pod,
            "(pause)",
            pod_status(&r),
            pause,
            "-",
            r.stop_reason.as_deref().unwrap_or("")
        )?;
        for ctr in containers(&paths) {
            let name = ctr
                .annotations
                .get(podshim_types::annotations::CONTAINER_NAME)
                .cloned()
                .unwrap_or_else(|| ctr.id.clone());
            let exit = ctr
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into());
            let status = if ctr.status != TaskStatus::Stopped && !r.shim.is_alive() {
                format!("{}?", ctr.status.as_str())
            } else {
                ctr.status.as_str().to_string()
            };
            writeln!(
                out,
                "{:<24} {:<20} {:<16} {:>8} {:>5}  {}",
                pod,
                name,
                status,
                ctr.pid,
                exit,
                ctr.exit_reason.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

pub fn inspect(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    let pod = a.required("POD")?;
    a.done()?;
    let (_, paths) = pod_paths(c, &pod)?;
    let record: PodRecord = read_json(&paths.record())?;
    let v = serde_json::json!({
        "pod": record,
        "containers": containers(&paths),
        "network": crate::cni::stored(&paths),
        "state_dir": paths.dir(),
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Prints the event log. With `--follow`, keeps the log open and prints
/// lines as they are appended; when the pod is removed it prints what the
/// open file still holds (the last events) and stops.
pub fn events(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    use std::io::BufRead;
    let follow = a.flag(&["--follow", "-f"]);
    let pod = a.required("POD")?;
    a.done()?;
    let (_, paths) = pod_paths(c, &pod)?;
    let path = paths.events();
    let file = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut pending = String::new();
    let mut out = std::io::stdout().lock();
    loop {
        let n = reader.read_line(&mut pending)?;
        if n > 0 && pending.ends_with('\n') {
            // Only whole, well-formed lines: a torn last line is skipped.
            if serde_json::from_str::<serde_json::Value>(pending.trim_end()).is_ok() {
                out.write_all(pending.as_bytes())?;
            }
            pending.clear();
            continue;
        }
        if n > 0 {
            continue;
        }
        out.flush()?;
        if !follow {
            return Ok(());
        }
        if !paths.dir().exists() {
            // Removed: the open file still holds everything written.
            while reader.read_line(&mut pending)? > 0 {
                if pending.ends_with('\n') {
                    out.write_all(pending.as_bytes())?;
                    pending.clear();
                }
            }
            out.flush()?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
