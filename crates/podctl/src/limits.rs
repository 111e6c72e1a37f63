//! `podctl stats` and `podctl update`: a pod's resource use per container
//! (the shim's Stats, decoded from containerd's cgroups Metrics, v1 or v2)
//! and new limits for a running container (the shim's Update).

use std::io::Write;

use anyhow::{bail, Context};
use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::Message;
use podshim_state::read_json;
use podshim_types::{Id, PodManifest};
use serde_json::{json, Map, Value};

use crate::args::Args;
use crate::bundles::{bundles_dir, MANIFEST_COPY};
use crate::shim::Shim;
use crate::Ctx;

/// One container's numbers.
#[derive(Debug, Default, PartialEq)]
pub struct Usage {
    pub memory: u64,
    /// `None`: unlimited.
    pub memory_limit: Option<u64>,
    pub cpu_ns: u64,
    pub pids: u64,
    pub pids_limit: Option<u64>,
    pub oom_kills: u64,
}

/// Decodes a Stats reply.
pub fn decode(type_url: &str, value: &[u8]) -> anyhow::Result<Usage> {
    let unlimited = |l: u64| (l != 0 && l < (1 << 62)).then_some(l);
    if type_url.ends_with("cgroups.v1.Metrics") {
        let m = v1::Metrics::parse_from_bytes(value).context("decode v1 metrics")?;
        Ok(Usage {
            memory: m.memory.usage.usage,
            memory_limit: unlimited(m.memory.usage.limit),
            cpu_ns: m.cpu.usage.total,
            pids: m.pids.current,
            pids_limit: unlimited(m.pids.limit),
            oom_kills: m.memory_oom_control.oom_kill,
        })
    } else if type_url.ends_with("cgroups.v2.Metrics") {
        let m = v2::Metrics::parse_from_bytes(value).context("decode v2 metrics")?;
        Ok(Usage {
            memory: m.memory.usage,
            memory_limit: unlimited(m.memory.usage_limit),
            cpu_ns: m.cpu.usage_usec * 1000,
            pids: m.pids.current,
            pids_limit: unlimited(m.pids.limit),
            oom_kills: m.memory_events.oom_kill,
        })
    } else {
        bail!("unknown metrics type {type_url:?}")
    }
}

fn connect(c: &Ctx, pod: &Id) -> anyhow::Result<(Shim, PodManifest)> {
    let (_, paths) = crate::show::pod_paths(c, pod.as_str())?;
    let m: PodManifest = read_json(&bundles_dir(&paths).join(MANIFEST_COPY))
        .with_context(|| format!("pod {pod}: its manifest copy"))?;
    let s = Shim::connect(&format!("unix://{}", paths.socket()?.display()))?;
    Ok((s, m))
}

fn mib(v: u64) -> String {
    format!("{:.1}MiB", v as f64 / (1024.0 * 1024.0))
}

/// `podctl stats POD [--json]`.
pub fn stats(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    let as_json = a.flag(&["--json"]);
    let pod = Id::new(&a.required("POD")?)?;
    a.done()?;
    let (s, m) = connect(c, &pod)?;
    let mut rows = Vec::new();
    for entry in &m.containers {
        let id = m.task_id(&entry.name)?;
        let any = s
            .stats(id.as_str())
            .with_context(|| format!("stats of {}", entry.name))?;
        rows.push((entry.name.to_string(), decode(&any.type_url, &any.value)?));
    }
    let mut out = std::io::stdout().lock();
    if as_json {
        let v: Vec<Value> = rows
            .iter()
            .map(|(n, u)| {
                json!({"container": n, "memory_bytes": u.memory, "memory_limit_bytes": u.memory_limit,
                       "cpu_ns": u.cpu_ns, "pids": u.pids, "pids_limit": u.pids_limit,
                       "oom_kills": u.oom_kills})
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20} {:>12} {:>12} {:>10} {:>6} {:>8} {:>4}",
        "CONTAINER", "MEMORY", "LIMIT", "CPU", "PIDS", "MAXPIDS", "OOM"
    )?;
    for (n, u) in rows {
        writeln!(
            out,
            "{:<20} {:>12} {:>12} {:>9.3}s {:>6} {:>8} {:>4}",
            n,
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

/// A size like `64M`, `64Mi`, `1G`, `4096`, or `-1` (unlimited), in bytes.
pub fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim_end_matches(['b', 'B']);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("{s:?} is not a size (like 64M, 1G, 4096)"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| anyhow::anyhow!("size {s:?} is out of range"))
}

/// `podctl update POD CONTAINER [--memory SIZE] [--memory-swap SIZE]
/// [--cpus N | --cpu-quota US] [--cpu-period US] [--cpu-shares N] [--pids N]`.
pub fn update(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    let memory = a.option("--memory")?;
    let swap = a.option("--memory-swap")?;
    let cpus = a.option("--cpus")?;
    let quota = a.option("--cpu-quota")?;
    let period = a.option("--cpu-period")?;
    let shares = a.option("--cpu-shares")?;
    let pids = a.option("--pids")?;
    let pod = Id::new(&a.required("POD")?)?;
    let name = Id::new(&a.required("CONTAINER")?)?;
    a.done()?;
    let mut mem = Map::new();
    if let Some(m) = memory {
        mem.insert("limit".into(), json!(parse_bytes(&m)?));
    }
    if let Some(s) = swap {
        mem.insert("swap".into(), json!(parse_bytes(&s)?));
    }
    let mut cpu = Map::new();
    let period_us: Option<u64> = period
        .map(|p| p.parse().with_context(|| format!("--cpu-period {p:?}")))
        .transpose()?;
    if let Some(p) = period_us {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(q) = quota {
        let q: i64 = q.parse().with_context(|| format!("--cpu-quota {q:?}"))?;
        cpu.insert("quota".into(), json!(q));
    } else if let Some(n) = cpus {
        let n: f64 = n.parse().with_context(|| format!("--cpus {n:?}"))?;
        if !(n > 0.0 && n < 1e6) {
            bail!("--cpus must be a positive number");
        }
        let p = period_us.unwrap_or(100_000);
        cpu.insert("period".into(), json!(p));
        cpu.insert("quota".into(), json!((n * p as f64).round() as i64));
    }
    if let Some(s) = shares {
        let s: u64 = s.parse().with_context(|| format!("--cpu-shares {s:?}"))?;
        cpu.insert("shares".into(), json!(s));
    }
    let mut r = Map::new();
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = pids {
        let p: i64 = p.parse().with_context(|| format!("--pids {p:?}"))?;
        r.insert("pids".into(), json!({ "limit": p }));
    }
    if r.is_empty() {
        bail!("nothing to update: give --memory, --memory-swap, --cpus, --cpu-quota, --cpu-period, --cpu-shares or --pids");
    }
    let (s, m) = connect(c, &pod)?;
    if !m.containers.iter().any(|e| e.name == name) {
        bail!("pod {pod} has no container {name}");
    }
    let id = m.task_id(&name)?;
    s.update(id.as_str(), &Value::Object(r))
        .with_context(|| format!("update {name} in pod {pod}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_bytes("512Ki").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }
}
