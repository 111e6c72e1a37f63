//! Stats: a task's cgroup read into containerd's cgroups Metrics message,
//! the v1 message (`io.containerd.cgroups.v1.Metrics`) where the memory
//! controller is v1 (this includes hybrid hosts) and the v2 message
//! (`io.containerd.cgroups.v2.Metrics`) on a pure v2 host, as containerd's
//! own shim answers, so `ctr task metrics` and CRI ContainerStats decode it.

use cgroups_rs::cpu::CpuController;
use cgroups_rs::cpuacct::CpuAcctController;
use cgroups_rs::hugetlb::HugeTlbController;
use cgroups_rs::memory::MemController;
use cgroups_rs::pid::PidController;
use cgroups_rs::MaxValue;
use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use podshim_sys::cgroup::TaskCgroup;

use crate::error::{Result, ShimError};

/// The task's metrics, packed as containerd expects them in StatsResponse.
pub fn collect(cg: &TaskCgroup) -> Result<Any> {
    let (type_url, value) = if cg.v2() {
        (
            "io.containerd.cgroups.v2.Metrics",
            v2_metrics(cg).write_to_bytes(),
        )
    } else {
        (
            "io.containerd.cgroups.v1.Metrics",
            v1_metrics(cg).write_to_bytes(),
        )
    };
    let value = value.map_err(|e| ShimError::Internal(format!("encode metrics: {e}")))?;
    Ok(Any {
        type_url: type_url.into(),
        value,
        ..Default::default()
    })
}

fn limit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn entry(lim: i64, usage: u64, max: u64, failcnt: u64) -> MessageField<v1::MemoryEntry> {
    MessageField::some(v1::MemoryEntry {
        limit: limit(lim),
        usage,
        max,
        failcnt,
        ..Default::default()
    })
}

fn pids_limit(c: &PidController) -> u64 {
    match c.get_pid_max() {
        Ok(MaxValue::Value(v)) => limit(v),
        _ => 0,
    }
}

fn v1_metrics(cg: &TaskCgroup) -> v1::Metrics {
    let h = cg.handle();
    let mut m = v1::Metrics::new();
    if let Some(c) = h.controller_of::<PidController>() {
        m.pids = MessageField::some(v1::PidsStat {
            current: c.get_pid_current().unwrap_or(0),
            limit: pids_limit(c),
            ..Default::default()
        });
    }
    if let Some(c) = h.controller_of::<CpuAcctController>() {
        let a = c.cpuacct();
        let per_cpu = a
            .usage_percpu
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let mut cpu = v1::CPUStat::new();
        cpu.usage = MessageField::some(v1::CPUUsage {
            total: a.usage,
            kernel: a.usage_sys,
            user: a.usage_user,
            per_cpu,
            ..Default::default()
        });
        if let Some(c) = h.controller_of::<CpuController>() {
            let stat = c.cpu().stat;
            let field = |k: &str| {
                stat.lines()
                    .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
                    .unwrap_or(0)
            };
            cpu.throttling = MessageField::some(v1::Throttle {
                periods: field("nr_periods "),
                throttled_periods: field("nr_throttled "),
                throttled_time: field("throttled_time "),
                ..Default::default()
            });
        }
        m.cpu = MessageField::some(cpu);
    }
    if let Some(c) = h.controller_of::<MemController>() {
        let mem = c.memory_stat();
        let s = &mem.stat;
        let swap = c.memswap();
        let kmem = c.kmem_stat();
        m.memory = MessageField::some(v1::MemoryStat {
            cache: s.cache,
            rss: s.rss,
            rss_huge: s.rss_huge,
            mapped_file: s.mapped_file,
            dirty: s.dirty,
            writeback: s.writeback,
            pg_pg_in: s.pgpgin,
            pg_pg_out: s.pgpgout,
            pg_fault: s.pgfault,
            pg_maj_fault: s.pgmajfault,
            inactive_anon: s.inactive_anon,
            active_anon: s.active_anon,
            inactive_file: s.inactive_file,
            active_file: s.active_file,
            unevictable: s.unevictable,
            hierarchical_memory_limit: limit(s.hierarchical_memory_limit),
            hierarchical_swap_limit: limit(s.hierarchical_memsw_limit),
            total_cache: s.total_cache,
            total_rss: s.total_rss,
            total_rss_huge: s.total_rss_huge,
            total_mapped_file: s.total_mapped_file,
            total_dirty: s.total_dirty,
            total_writeback: s.total_writeback,
            total_pg_pg_in: s.total_pgpgin,
            total_pg_pg_out: s.total_pgpgout,
            total_pg_fault: s.total_pgfault,
            total_pg_maj_fault: s.total_pgmajfault,
            total_inactive_anon: s.total_inactive_anon,
            total_active_anon: s.total_active_anon,
            total_inactive_file: s.total_inactive_file,
            total_active_file: s.total_active_file,
            total_unevictable: s.total_unevictable,
            usage: entry(
                mem.limit_in_bytes,
                mem.usage_in_bytes,
                mem.max_usage_in_bytes,
                mem.fail_cnt,
            ),
            swap: entry(
                swap.limit_in_bytes,
                swap.usage_in_bytes,
                swap.max_usage_in_bytes,
                swap.fail_cnt,
            ),
            kernel: entry(
                kmem.limit_in_bytes,
                kmem.usage_in_bytes,
                kmem.max_usage_in_bytes,
                kmem.fail_cnt,
            ),
            ..Default::default()
        });
        m.memory_oom_control = MessageField::some(v1::MemoryOomControl {
            oom_kill_disable: u64::from(mem.oom_control.oom_kill_disable),
            under_oom: u64::from(mem.oom_control.under_oom),
            oom_kill: mem.oom_control.oom_kill,
            ..Default::default()
        });
    }
    if let Some(c) = h.controller_of::<HugeTlbController>() {
        for size in c.get_sizes() {
            m.hugetlb.push(v1::HugetlbStat {
                usage: c.usage_in_bytes(&size).unwrap_or(0),
                max: c.max_usage_in_bytes(&size).unwrap_or(0),
                failcnt: c.failcnt(&size).unwrap_or(0),
                pagesize: size,
                ..Default::default()
            });
        }
    }
    m
}

/// `key value` lines of a v2 file.
fn flat_keyed(cg: &TaskCgroup, file: &str) -> std::collections::HashMap<String, u64> {
    let dir = cg.dirs().into_iter().next().unwrap_or_default();
    std::fs::read_to_string(std::path::Path::new(&dir).join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn single(cg: &TaskCgroup, file: &str) -> u64 {
    let dir = cg.dirs().into_iter().next().unwrap_or_default();
    match std::fs::read_to_string(std::path::Path::new(&dir).join(file)) {
        Ok(s) if s.trim() == "max" => u64::MAX,
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

fn v2_metrics(cg: &TaskCgroup) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    if let Some(c) = cg.handle().controller_of::<PidController>() {
        m.pids = MessageField::some(v2::PidsStat {
            current: c.get_pid_current().unwrap_or(0),
            limit: pids_limit(c),
            ..Default::default()
        });
    }
    let cpu = flat_keyed(cg, "cpu.stat");
    let get = |map: &std::collections::HashMap<String, u64>, k: &str| *map.get(k).unwrap_or(&0);
    m.cpu = MessageField::some(v2::CPUStat {
        usage_usec: get(&cpu, "usage_usec"),
        user_usec: get(&cpu, "user_usec"),
        system_usec: get(&cpu, "system_usec"),
        nr_periods: get(&cpu, "nr_periods"),
        nr_throttled: get(&cpu, "nr_throttled"),
        throttled_usec: get(&cpu, "throttled_usec"),
        ..Default::default()
    });
    let mem = flat_keyed(cg, "memory.stat");
    m.memory = MessageField::some(v2::MemoryStat {
        anon: get(&mem, "anon"),
        file: get(&mem, "file"),
        kernel_stack: get(&mem, "kernel_stack"),
        slab: get(&mem, "slab"),
        sock: get(&mem, "sock"),
        shmem: get(&mem, "shmem"),
        file_mapped: get(&mem, "file_mapped"),
        file_dirty: get(&mem, "file_dirty"),
        file_writeback: get(&mem, "file_writeback"),
        pgfault: get(&mem, "pgfault"),
        pgmajfault: get(&mem, "pgmajfault"),
        inactive_anon: get(&mem, "inactive_anon"),
        active_anon: get(&mem, "active_anon"),
        inactive_file: get(&mem, "inactive_file"),
        active_file: get(&mem, "active_file"),
        unevictable: get(&mem, "unevictable"),
        usage: single(cg, "memory.current"),
        usage_limit: single(cg, "memory.max"),
        swap_usage: single(cg, "memory.swap.current"),
        swap_limit: single(cg, "memory.swap.max"),
        ..Default::default()
    });
    let ev = flat_keyed(cg, "memory.events");
    m.memory_events = MessageField::some(v2::MemoryEvents {
        low: get(&ev, "low"),
        high: get(&ev, "high"),
        max: get(&ev, "max"),
        oom: get(&ev, "oom"),
        oom_kill: get(&ev, "oom_kill"),
        ..Default::default()
    });
    m
}
