//! The systemd cgroup driver: a task whose cgroupsPath is
//! `slice:prefix:name` lives in a transient scope unit that systemd makes
//! over D-Bus (the system bus, as runc's driver talks to it), with
//! Delegate=yes so the directory below the unit is the shim's to write.
//! Limits systemd knows are unit properties too, so a daemon-reload does
//! not put back systemd's values; the shim still writes every cgroup file
//! itself. Stopping the unit removes the cgroup.

use std::time::Duration;

use futures::StreamExt;
use oci_spec::runtime::LinuxResources;
use podshim_sys::cgroup::ScopeUnit;
use zbus::zvariant::{OwnedObjectPath, Value};

use crate::error::{Result, ShimError};

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;

    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Value<'_>)],
        aux: &[(&str, &[(&str, Value<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: &[(&str, Value<'_>)],
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    fn job_removed(&self, id: u32, job: OwnedObjectPath, unit: String, result: String);
}

/// How long a start or stop job may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether this host runs systemd as its init (sd_booted's test).
pub fn booted() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// Whether the driver works here: systemd as init and cgroup v2 only.
pub fn available() -> bool {
    booted() && cgroups_rs::hierarchies::is_cgroup2_unified_mode()
}

fn dbus_error(unit: &str, what: &str, e: zbus::Error) -> ShimError {
    let text = format!("systemd: {what} {unit}: {e}");
    match &e {
        zbus::Error::MethodError(name, _, _) if name.as_str().ends_with("UnitExists") => {
            ShimError::AlreadyExists(text)
        }
        zbus::Error::MethodError(name, _, _)
            if name.as_str().ends_with("InvalidArgs")
                || name.as_str().ends_with("PropertyReadOnly") =>
        {
            ShimError::InvalidArgument(text)
        }
        _ => ShimError::Internal(text),
    }
}

async fn manager(unit: &str) -> Result<ManagerProxy<'static>> {
    let conn = zbus::Connection::system()
        .await
        .map_err(|e| dbus_error(unit, "connect to the system bus for", e))?;
    let m = ManagerProxy::new(&conn)
        .await
        .map_err(|e| dbus_error(unit, "reach the manager for", e))?;
    // Without a subscriber systemd sends no job signals.
    m.subscribe()
        .await
        .map_err(|e| dbus_error(unit, "subscribe for", e))?;
    Ok(m)
}

/// Runs `call` (which queues a job) and waits until systemd says the job
/// is done.
async fn run_job<F>(m: &ManagerProxy<'static>, unit: &str, what: &str, call: F) -> Result<()>
where
    F: std::future::Future<Output = zbus::Result<OwnedObjectPath>>,
{
    let mut removed = m
        .receive_job_removed()
        .await
        .map_err(|e| dbus_error(unit, "watch jobs for", e))?;
    let job = call.await.map_err(|e| dbus_error(unit, what, e))?;
    let wait = async {
        while let Some(signal) = removed.next().await {
            let Ok(args) = signal.args() else { continue };
            if args.job == job {
                return Some(args.result);
            }
        }
        None
    };
    match tokio::time::timeout(JOB_TIMEOUT, wait).await {
        Ok(Some(r)) if r == "done" => Ok(()),
        Ok(Some(r)) => Err(ShimError::Internal(format!(
            "systemd: {what} {unit}: the job ended {r:?}"
        ))),
        Ok(None) => Err(ShimError::Internal(format!(
            "systemd: {what} {unit}: the bus closed before the job ended"
        ))),
        Err(_) => Err(ShimError::Internal(format!(
            "systemd: {what} {unit}: no answer in {} s",
            JOB_TIMEOUT.as_secs()
        ))),
    }
}

/// Starts the scope with `pid` in it and the limits of `r` as properties.
pub async fn start(
    scope: &ScopeUnit,
    pid: u32,
    id: &str,
    r: Option<&LinuxResources>,
) -> Result<()> {
    let m = manager(&scope.unit).await?;
    let mut props: Vec<(&str, Value<'_>)> = vec![
        (
            "Description",
            Value::from(format!("podshim container {id}")),
        ),
        ("Slice", Value::from(scope.slice.as_str())),
        ("Delegate", Value::from(true)),
        ("PIDs", Value::from(vec![pid])),
        ("DefaultDependencies", Value::from(false)),
        ("MemoryAccounting", Value::from(true)),
        ("CPUAccounting", Value::from(true)),
        ("IOAccounting", Value::from(true)),
        ("TasksAccounting", Value::from(true)),
    ];
    props.extend(
        r.map(limits)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::from(v))),
    );
    run_job(&m, &scope.unit, "start", async {
        m.start_transient_unit(&scope.unit, "replace", &props, &[])
            .await
    })
    .await
}

/// New limits on a running scope (runtime only, as runc sets them).
pub async fn update(scope: &ScopeUnit, r: &LinuxResources) -> Result<()> {
    let props: Vec<(&str, Value<'_>)> = limits(r)
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    if props.is_empty() {
        return Ok(());
    }
    let m = manager(&scope.unit).await?;
    m.set_unit_properties(&scope.unit, true, &props)
        .await
        .map_err(|e| dbus_error(&scope.unit, "set properties of", e))
}

/// Stops the scope (killing what is left in it) and forgets a failed
/// state, so nothing of it stays in `systemctl list-units`.
pub async fn stop(scope: &ScopeUnit) -> Result<()> {
    let m = manager(&scope.unit).await?;
    let stopped = run_job(&m, &scope.unit, "stop", async {
        m.stop_unit(&scope.unit, "replace").await
    })
    .await;
    let stopped = match stopped {
        // Gone already (it ended when its last process did).
        Err(ShimError::Internal(t)) if t.contains("NoSuchUnit") || t.contains("not loaded") => {
            Ok(())
        }
        other => other,
    };
    let _ = m.reset_failed_unit(&scope.unit).await;
    stopped
}

/// The limits of `r` that systemd has unit properties for, as runc's
/// systemd driver sets them on cgroup v2. u64::MAX is "infinity".
pub fn limits(r: &LinuxResources) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    let max = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            out.push(("MemoryMax", max(l)));
        }
        if let Some(l) = m.reservation().filter(|l| *l != 0) {
            out.push(("MemoryLow", max(l)));
        }
        // OCI swap is memory + swap; systemd's is swap alone.
        if let Some(s) = m.swap().filter(|s| *s != 0) {
            let v = match m.limit() {
                _ if s < 0 => u64::MAX,
                Some(l) if l > 0 => (s - l).max(0) as u64,
                _ => s as u64,
            };
            out.push(("MemorySwapMax", v));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s > 0) {
            out.push(("CPUWeight", 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142));
        }
        let period = c.period().filter(|p| *p > 0).unwrap_or(100_000);
        match c.quota() {
            Some(q) if q > 0 => {
                // systemd keeps CPU quota in 10 ms steps per second: round
                // up, so the limit is never tighter than asked.
                let per_sec = (q as u64 * 1_000_000).div_ceil(period).div_ceil(10_000) * 10_000;
                out.push(("CPUQuotaPerSecUSec", per_sec));
                out.push(("CPUQuotaPeriodUSec", period));
            }
            Some(q) if q < 0 => out.push(("CPUQuotaPerSecUSec", u64::MAX)),
            _ => {}
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            out.push(("TasksMax", max(p.limit())));
        }
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        // blkio weight 10..1000 onto io.weight 1..10000, as runc maps it.
        let w = u64::from(w).clamp(10, 1000);
        out.push(("IOWeight", 1 + (w - 10) * 9999 / 990));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn limits_become_the_properties_runc_sets() {
        let r = resources(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1048576},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "pids": {"limit": 64},
            "blockIO": {"weight": 500}
        }));
        let got = limits(&r);
        let get = |k: &str| got.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("MemoryMax"), Some(67108864));
        assert_eq!(get("MemorySwapMax"), Some(67108864));
        assert_eq!(get("MemoryLow"), Some(1048576));
        assert_eq!(get("CPUWeight"), Some(39));
        assert_eq!(get("CPUQuotaPerSecUSec"), Some(500_000));
        assert_eq!(get("CPUQuotaPeriodUSec"), Some(100_000));
        assert_eq!(get("TasksMax"), Some(64));
        assert_eq!(get("IOWeight"), Some(4950));
    }

    #[test]
    fn unlimited_is_infinity_and_quota_rounds_up_to_10ms() {
        let r = resources(serde_json::json!({
            "memory": {"limit": -1, "swap": -1},
            "cpu": {"quota": 12345, "period": 100000},
            "pids": {"limit": -1}
        }));
        let got = limits(&r);
        let get = |k: &str| got.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("MemoryMax"), Some(u64::MAX));
        assert_eq!(get("MemorySwapMax"), Some(u64::MAX));
        assert_eq!(get("TasksMax"), Some(u64::MAX));
        assert_eq!(get("CPUQuotaPerSecUSec"), Some(130_000));
        assert!(limits(&LinuxResources::default()).is_empty());
    }
}
