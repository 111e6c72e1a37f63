//! `podctl ps`: every pod and container from the state directory (no shim
//! needed): status, pid, exit code and why it stopped, as a table or JSON.

use std::io::Write;
use std::process::ExitCode;

use podshim_state::read_json;
use podshim_types::{PodRecord, PodStatus, TaskStatus};
use serde::Serialize;

use crate::ctx::Format;
use crate::Ctx;

/// Pods and containers: status, pids, exit codes.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// How to print them.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// One line of `ps`.
#[derive(Serialize, Debug)]
struct Row {
    pod: String,
    /// `(pause)` for the pod's own process.
    container: String,
    status: String,
    pid: Option<i32>,
    exit_code: Option<i32>,
    reason: String,
}

/// A status as the user should read it: a live shim keeps the records
/// current; without one, a live status is only the last one known (marked
/// with `mark`).
fn shown(status: &str, live: bool, shim_alive: bool, mark: &str) -> String {
    if live && !shim_alive {
        format!("{status}{mark}")
    } else {
        status.to_string()
    }
}

fn rows(c: &Ctx) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for pod in c.root.list_pods(&c.namespace)? {
        let paths = c.root.pod(&c.namespace, &pod);
        let Ok(r) = read_json::<PodRecord>(&paths.record()) else {
            continue;
        };
        let alive = r.shim.is_alive();
        let status = match r.status {
            PodStatus::Creating => "creating",
            PodStatus::Ready => "ready",
            PodStatus::Stopped => "stopped",
        };
        rows.push(Row {
            pod: pod.to_string(),
            container: "(pause)".into(),
            status: shown(
                status,
                r.status != PodStatus::Stopped,
                alive,
                "?(shim gone)",
            ),
            pid: r.pause.map(|p| p.pid),
            exit_code: None,
            reason: r.stop_reason.clone().unwrap_or_default(),
        });
        for ctr in crate::ctx::containers(&paths) {
            let name = ctr
                .annotations
                .get(podshim_types::annotations::CONTAINER_NAME)
                .cloned()
                .unwrap_or_else(|| ctr.id.clone());
            rows.push(Row {
                pod: pod.to_string(),
                container: name,
                status: shown(
                    ctr.status.as_str(),
                    ctr.status != TaskStatus::Stopped,
                    alive,
                    "?",
                ),
                pid: Some(ctr.pid),
                exit_code: ctr.exit_code,
                reason: ctr.exit_reason.clone().unwrap_or_default(),
            });
        }
    }
    Ok(rows)
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    a.output.print(&rows(c)?, table)
}

fn table(out: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:<20} {:<16} {:>8} {:>5}  REASON",
        "POD", "CONTAINER", "STATUS", "PID", "EXIT"
    )?;
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for r in rows {
        writeln!(
            out,
            "{:<24} {:<20} {:<16} {:>8} {:>5}  {}",
            r.pod,
            r.container,
            r.status,
            dash(r.pid.map(|p| p.to_string())),
            dash(r.exit_code.map(|c| c.to_string())),
            r.reason
        )?;
    }
    Ok(())
}
