//! `podshim exec`: a second process in a running container. The first
//! process enters every namespace of the container's pid 1 (mount last, so
//! its root becomes the container's), forks (a joined pid namespace applies
//! to children), reports the child's pid and exits; the child, reparented to
//! the shim, optionally takes a pseudo-terminal from the container's devpts,
//! applies the process settings and executes.

use crate::fork::{fork_reporting_child, report_failure, Forked};

use crate::channel::Channel;
use crate::error::SysError;
use crate::msg::ExecConfig;
use crate::ns::{self, NsKind};

/// Entry point of `podshim exec`; returns the process exit code.
pub fn run() -> i32 {
    let mut chan = match Channel::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    if let Err(e) = crate::proc::set_undumpable() {
        return report_failure(&mut chan, "prctl", &e);
    }
    let cfg = match enter(&mut chan) {
        Ok(c) => c,
        Err((stage, e)) => return report_failure(&mut chan, stage, &e),
    };
    match fork_reporting_child(&mut chan, "exec") {
        Forked::Parent(code) => code,
        Forked::Child => run_process(chan, cfg),
    }
}

fn enter(chan: &mut Channel) -> Result<ExecConfig, (&'static str, SysError)> {
    let cfg: ExecConfig = chan.recv_config().map_err(|e| ("config", e))?;
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
    crate::cgroup::join_self(&cfg.cgroup).map_err(|e| ("cgroup", e))?;
    let mut files = Vec::new();
    for req in &cfg.namespaces {
        let kind = NsKind::parse(&req.kind).ok_or_else(|| {
            (
                "namespaces",
                SysError::spec("namespaces", format!("unknown type {:?}", req.kind)),
            )
        })?;
        let path = req.path.as_deref().ok_or_else(|| {
            (
                "namespaces",
                SysError::spec("namespaces", "exec joins namespaces by path only"),
            )
        })?;
        files.push(ns::open(kind, path).map_err(|e| ("namespaces", e))?);
    }
    for f in &files {
        ns::join(f).map_err(|e| ("setns", e))?;
    }
    Ok(cfg)
}

fn run_process(mut chan: Channel, cfg: ExecConfig) -> i32 {
    if let Err(e) = nix::unistd::setsid() {
        return report_failure(&mut chan, "setsid", &SysError::os("setsid", "exec", e));
    }
    if cfg.terminal {
        if let Err(e) = crate::tty::give_terminal(&mut chan, Some(&cfg.process)) {
            return report_failure(&mut chan, "terminal", &e);
        }
    }
    let e = crate::process::exec(&cfg.process, cfg.seccomp.as_ref());
    report_failure(&mut chan, "exec", &e);
    127
}
