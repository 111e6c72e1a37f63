//! A container's resource use from the shim's Stats reply: containerd's
//! cgroups Metrics, v1 or v2, decoded into the few numbers podctl shows.

use anyhow::{bail, Context};
use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::Message;
use serde::Serialize;

/// One container's numbers.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    #[serde(rename = "memory_bytes")]
    pub memory: u64,
    /// `None`: unlimited.
    #[serde(rename = "memory_limit_bytes")]
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
