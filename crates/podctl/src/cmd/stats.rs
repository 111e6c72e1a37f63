//! `podctl stats POD`: memory, cpu, pids and OOM kills per container, from
//! the shim's Stats, as a table or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use podshim_state::read_json;
use podshim_types::PodManifest;
use serde::Serialize;

use crate::bundles::{bundles_dir, MANIFEST_COPY};
use crate::ctx::Format;
use crate::metrics::Usage;
use crate::Ctx;

/// Memory, cpu, pids and OOM kills per container.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// How to print them.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Serialize)]
struct Row {
    container: String,
    #[serde(flatten)]
    usage: Usage,
}

fn mib(v: u64) -> String {
    format!("{:.1}MiB", v as f64 / (1024.0 * 1024.0))
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let (pod, paths) = c.pod(&a.pod)?;
    let m: PodManifest = read_json(&bundles_dir(&paths).join(MANIFEST_COPY))
        .with_context(|| format!("pod {pod}: its manifest copy"))?;
    let s = crate::ctx::connect(&paths)?;
    let mut rows = Vec::new();
    for entry in &m.containers {
        let id = m.task_id(&entry.name)?;
        let any = s
            .stats(id.as_str())
            .with_context(|| format!("stats of {}", entry.name))?;
        rows.push(Row {
            container: entry.name.to_string(),
            usage: crate::metrics::decode(&any.type_url, &any.value)?,
        });
    }
    a.output.print(&rows, table)
}

fn table(out: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>12} {:>12} {:>10} {:>6} {:>8} {:>4}",
        "CONTAINER", "MEMORY", "LIMIT", "CPU", "PIDS", "MAXPIDS", "OOM"
    )?;
    for Row {
        container,
        usage: u,
    } in rows
    {
        writeln!(
            out,
            "{:<20} {:>12} {:>12} {:>9.3}s {:>6} {:>8} {:>4}",
            container,
            mib(u.memory),
            u.memory_limit.map(mib).unwrap_or_else(|| "-".into()),
            u.cpu_ns as f64 / 1e9,
            u.pids,
            u.pids_limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            u.oom_kills
        )?;
    }
    Ok(())
}
