//! `podctl update POD CONTAINER`: new limits for a running container,
//! through the shim's Update (an OCI LinuxResources document).

use std::process::ExitCode;

use anyhow::{bail, Context};
use podshim_state::read_json;
use podshim_types::PodManifest;
use serde_json::{json, Map, Value};

use crate::bundles::{bundles_dir, MANIFEST_COPY};
use crate::Ctx;

/// Change a running container's limits.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// Memory limit (64M, 1Gi, 4096; -1: unlimited).
    #[arg(long, value_name = "SIZE", value_parser = crate::values::size, allow_hyphen_values = true)]
    pub memory: Option<i64>,
    /// Memory plus swap limit (-1: unlimited).
    #[arg(long, value_name = "SIZE", value_parser = crate::values::size, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// CPUs' worth of time (1.5), as a quota over the period.
    #[arg(long, value_name = "N", conflicts_with = "cpu_quota", value_parser = cpus)]
    pub cpus: Option<f64>,
    /// CFS quota in microseconds per period (-1: unlimited).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPU weight as cgroup v1 shares.
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// Most processes at once (-1: unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids: Option<i64>,
}

fn cpus(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n > 0.0 && n < 1e6 => Ok(n),
        _ => Err(format!("{s:?} is not a positive number of CPUs")),
    }
}

/// The LinuxResources the options ask for; `None` when they ask nothing.
fn resources(a: &Args) -> Option<Value> {
    let mut mem = Map::new();
    if let Some(m) = a.memory {
        mem.insert("limit".into(), json!(m));
    }
    if let Some(s) = a.memory_swap {
        mem.insert("swap".into(), json!(s));
    }
    let mut cpu = Map::new();
    if let Some(p) = a.cpu_period {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(q) = a.cpu_quota {
        cpu.insert("quota".into(), json!(q));
    } else if let Some(n) = a.cpus {
        let p = a.cpu_period.unwrap_or(100_000);
        cpu.insert("period".into(), json!(p));
        cpu.insert("quota".into(), json!((n * p as f64).round() as i64));
    }
    if let Some(s) = a.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    let mut r = Map::new();
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = a.pids {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    (!r.is_empty()).then_some(Value::Object(r))
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("update")?;
    let Some(r) = resources(&a) else {
        bail!("nothing to update: give --memory, --memory-swap, --cpus, --cpu-quota, --cpu-period, --cpu-shares or --pids");
    };
    let (pod, paths) = c.pod(&a.pod)?;
    let m: PodManifest = read_json(&bundles_dir(&paths).join(MANIFEST_COPY))
        .with_context(|| format!("pod {pod}: its manifest copy"))?;
    if !m.containers.iter().any(|e| e.name.as_str() == a.container) {
        bail!("pod {pod} has no container {}", a.container);
    }
    let id = c.task(&pod, &a.container)?;
    let s = crate::ctx::connect(&paths)?;
    s.update(id.as_str(), &r)
        .with_context(|| format!("update {} in pod {pod}", a.container))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: Args,
    }

    fn res(argv: &[&str]) -> Option<Value> {
        let mut full = vec!["update", "p", "c"];
        full.extend_from_slice(argv);
        resources(&Cli::try_parse_from(full).unwrap().a)
    }

    #[test]
    fn options_become_linux_resources() {
        assert_eq!(res(&[]), None);
        assert_eq!(
            res(&["--memory", "96M", "--cpus", "1.5", "--pids", "70"]),
            Some(json!({"memory": {"limit": 96 << 20},
                        "cpu": {"period": 100000, "quota": 150000},
                        "pids": {"limit": 70}}))
        );
        assert_eq!(
            res(&[
                "--memory-swap",
                "-1",
                "--cpu-quota",
                "-1",
                "--cpu-shares",
                "512"
            ]),
            Some(json!({"memory": {"swap": -1}, "cpu": {"quota": -1, "shares": 512}}))
        );
        assert!(Cli::try_parse_from(["u", "p", "c", "--cpus", "1", "--cpu-quota", "5"]).is_err());
        assert!(Cli::try_parse_from(["u", "p", "c", "--cpus", "0"]).is_err());
    }
}
