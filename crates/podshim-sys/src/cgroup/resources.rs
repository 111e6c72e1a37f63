//! linux.resources onto a task's cgroup, at create and on Update: memory,
//! cpu, cpuset, pids, block I/O, hugetlb, device access ([`super::devices`])
//! and unified key/values (v2). Every write that the kernel refuses is an error naming
//! the field and the value: a limit is either in force or reported.
//!
//! Not applied, as runc 1.1 on a current kernel: kernel memory limits
//! (deprecated, ignored), network classes and rdma. Realtime cpu periods
//! are refused.

use std::path::Path;

use cgroups_rs::blkio::BlkIoController;
use cgroups_rs::cpu::CpuController;
use cgroups_rs::cpuset::CpuSetController;
use cgroups_rs::hugetlb::HugeTlbController;
use cgroups_rs::memory::MemController;
use cgroups_rs::pid::PidController;
use cgroups_rs::MaxValue;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::TaskCgroup;
use crate::error::SysError;

fn refused(field: &str, value: impl std::fmt::Debug, e: impl std::fmt::Display) -> SysError {
    SysError::spec(
        format!("linux.resources.{field}"),
        format!("{value:?} refused: {e}"),
    )
}

fn missing(field: &str, controller: &str) -> SysError {
    SysError::spec(
        format!("linux.resources.{field}"),
        format!("the host has no {controller} controller"),
    )
}

/// Applies `r` to the cgroup. `devices` are the spec's linux.devices, which
/// the container may always use (v1 device controller); `None` leaves the
/// device rules as they are (an Update that does not name devices).
pub fn apply(
    cg: &TaskCgroup,
    r: &LinuxResources,
    devices: Option<&[(char, i64, i64)]>,
) -> Result<(), SysError> {
    if let Some(m) = r.memory() {
        memory(cg, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(cg, c)?;
    }
    if let Some(p) = r.pids() {
        let c: &PidController = cg.handle().controller_of().ok_or(missing("pids", "pids"))?;
        let v = if p.limit() > 0 {
            MaxValue::Value(p.limit())
        } else {
            MaxValue::Max
        };
        c.set_pid_max(v)
            .map_err(|e| refused("pids.limit", p.limit(), e))?;
    }
    if let Some(b) = r.block_io() {
        block_io(cg, b)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        let c: &HugeTlbController = cg
            .handle()
            .controller_of()
            .ok_or(missing("hugepageLimits", "hugetlb"))?;
        let limit = u64::try_from(h.limit()).unwrap_or(u64::MAX);
        c.set_limit_in_bytes(h.page_size(), limit)
            .map_err(|e| refused("hugepageLimits", (h.page_size(), h.limit()), e))?;
    }
    if !cg.v2() {
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(SysError::spec(
                "linux.resources.unified",
                "unified entries need cgroup v2; this host's controllers are v1",
            ));
        }
    } else if let Some(u) = r.unified() {
        unified(cg, u)?;
    }
    if let Some(devices) = devices {
        let rules = super::devices::rules(r.devices().as_deref().unwrap_or_default(), devices)?;
        super::devices::apply(cg, &rules)?;
    }
    Ok(())
}

fn memory(cg: &TaskCgroup, m: &LinuxMemory) -> Result<(), SysError> {
    let c: &MemController = cg
        .handle()
        .controller_of()
        .ok_or(missing("memory", "memory"))?;
    let set_limit = |v: i64| c.set_limit(v).map_err(|e| refused("memory.limit", v, e));
    // OCI swap is memory + swap; v2's memory.swap.max is swap alone.
    let set_swap = |v: i64| {
        let file_value = match (cg.v2(), m.limit()) {
            (true, Some(l)) if v >= 0 && l >= 0 => v.saturating_sub(l).max(0),
            _ => v,
        };
        c.set_memswap_limit(file_value)
            .map_err(|e| refused("memory.swap", v, e))
    };
    let swap = m
        .swap()
        .filter(|_| cg.v2() || cg.has_file("memory", "memory.memsw.limit_in_bytes"));
    match (m.limit(), swap) {
        (Some(l), Some(s)) => {
            // v1 keeps memsw >= limit at every moment: raise memsw first.
            let current = if cg.v2() {
                -1
            } else {
                c.memswap().limit_in_bytes
            };
            if !cg.v2() && (s == -1 || s > current) {
                set_swap(s)?;
                set_limit(l)?;
            } else {
                set_limit(l)?;
                set_swap(s)?;
            }
        }
        (Some(l), None) => set_limit(l)?,
        (None, Some(s)) => set_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        if cg.v2() {
            cg.write_file("memory", "memory.low", &max_or(r))
                .map_err(|e| refused("memory.reservation", r, e))?;
        } else {
            c.set_soft_limit(r)
                .map_err(|e| refused("memory.reservation", r, e))?;
        }
    }
    if let (Some(s), false) = (m.swappiness(), cg.v2()) {
        if s <= 100 {
            c.set_swappiness(s)
                .map_err(|e| refused("memory.swappiness", s, e))?;
        }
    }
    if m.disable_oom_killer() == Some(true) {
        if cg.v2() {
            return Err(SysError::spec(
                "linux.resources.memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            ));
        }
        c.disable_oom_killer()
            .map_err(|e| refused("memory.disableOOMKiller", true, e))?;
    }
    Ok(())
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn cpu(cg: &TaskCgroup, cpu: &LinuxCpu) -> Result<(), SysError> {
    if cpu.realtime_runtime().is_some_and(|v| v != 0)
        || cpu.realtime_period().is_some_and(|v| v != 0)
    {
        return Err(SysError::spec(
            "linux.resources.cpu.realtimeRuntime",
            "realtime cpu scheduling limits are not supported",
        ));
    }
    if cpu.shares().is_some() || cpu.quota().is_some() || cpu.period().is_some() {
        let c: &CpuController = cg.handle().controller_of().ok_or(missing("cpu", "cpu"))?;
        if let Some(s) = cpu.shares().filter(|s| *s > 0) {
            // v2 has weights 1..10000 where v1 had shares 2..262144.
            let v = if cg.v2() {
                1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142
            } else {
                s
            };
            c.set_shares(v).map_err(|e| refused("cpu.shares", s, e))?;
        }
        if cg.v2() {
            c.set_cfs_quota_and_period(cpu.quota(), cpu.period())
                .map_err(|e| refused("cpu.quota", (cpu.quota(), cpu.period()), e))?;
        } else {
            if let Some(p) = cpu.period().filter(|p| *p > 0) {
                c.set_cfs_period(p)
                    .map_err(|e| refused("cpu.period", p, e))?;
            }
            if let Some(q) = cpu.quota().filter(|q| *q != 0) {
                c.set_cfs_quota(q.max(-1))
                    .map_err(|e| refused("cpu.quota", q, e))?;
            }
        }
    }
    let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let c: &CpuSetController = cg
            .handle()
            .controller_of()
            .ok_or(missing("cpu.cpus", "cpuset"))?;
        if let Some(v) = cpus {
            c.set_cpus(v).map_err(|e| refused("cpu.cpus", v, e))?;
        }
        if let Some(v) = mems {
            c.set_mems(v).map_err(|e| refused("cpu.mems", v, e))?;
        }
    }
    Ok(())
}

fn block_io(cg: &TaskCgroup, b: &LinuxBlockIo) -> Result<(), SysError> {
    let c = || -> Result<&BlkIoController, SysError> {
        cg.handle()
            .controller_of()
            .ok_or(missing("blockIO", if cg.v2() { "io" } else { "blkio" }))
    };
    if let Some(w) = b.weight() {
        c()?.set_weight(u64::from(w))
            .map_err(|e| refused("blockIO.weight", w, e))?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            c()?.set_weight_for_device(dev(d.major()), dev(d.minor()), u64::from(w))
                .map_err(|e| refused("blockIO.weightDevice", (d.major(), d.minor(), w), e))?;
        }
    }
    type Setter = fn(&BlkIoController, u64, u64, u64) -> cgroups_rs::error::Result<()>;
    let throttles: [(
        &str,
        &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>,
        Setter,
    ); 4] = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            BlkIoController::throttle_read_bps_for_device,
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            BlkIoController::throttle_write_bps_for_device,
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            BlkIoController::throttle_read_iops_for_device,
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            BlkIoController::throttle_write_iops_for_device,
        ),
    ];
    for (field, list, set) in throttles {
        for d in list.iter().flatten() {
            set(c()?, dev(d.major()), dev(d.minor()), d.rate()).map_err(|e| {
                refused(
                    &format!("blockIO.{field}"),
                    (d.major(), d.minor(), d.rate()),
                    e,
                )
            })?;
        }
    }
    Ok(())
}

fn dev(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn unified(
    cg: &TaskCgroup,
    entries: &std::collections::HashMap<String, String>,
) -> Result<(), SysError> {
    for (key, value) in entries {
        if key.contains('/') || key.starts_with('.') || key.starts_with("cgroup.") {
            return Err(SysError::spec(
                "linux.resources.unified",
                format!("{key:?} is not a controller file"),
            ));
        }
        let controller = key.split('.').next().unwrap_or_default();
        cg.write_file(controller, key, value)
            .map_err(|e| refused(&format!("unified.{key}"), value, e))?;
    }
    Ok(())
}

impl TaskCgroup {
    /// The directory holding `controller`'s files for this cgroup.
    pub(crate) fn controller_dir(&self, controller: &str) -> Option<std::path::PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.root.join(&self.rel))
    }

    pub(crate) fn has_file(&self, controller: &str, file: &str) -> bool {
        self.controller_dir(controller)
            .is_some_and(|d| d.join(file).exists())
    }

    pub(crate) fn write_file(
        &self,
        controller: &str,
        file: &str,
        value: &str,
    ) -> std::io::Result<()> {
        let dir = self.controller_dir(controller).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no {controller} controller"),
            )
        })?;
        std::fs::write(Path::new(&dir).join(file), value)
    }
}
