//! Fault injection for the fault-matrix tests: a shim whose environment
//! has `PODSHIM_FAULT=<point>` kills itself with SIGKILL when it reaches
//! that point of a lifecycle step, as a crash there would. Points:
//! `create-sandbox` (pause ready, nothing recorded), `create-container`
//! (container init ready, not recorded), `start` (Start sent, not
//! recorded), `exec` (exec process running, not recorded), `delete`
//! (cgroup removed, state directory not); and `init-dies`, read by the
//! container's init itself (podshim-sys), which exits before it is ready.
//! Unset in normal use.

/// The environment variable naming the point.
pub const ENV: &str = "PODSHIM_FAULT";

/// Dies here if this is the injected point.
pub fn point(name: &str) {
    if std::env::var(ENV).is_ok_and(|p| p == name) {
        tracing::warn!("fault injected at {name}: SIGKILL");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
