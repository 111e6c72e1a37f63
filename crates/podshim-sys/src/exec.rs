//! `podshim exec`: a second process in a running container. The first
//! process enters every namespace of the container's pid 1 (mount last, so
//! its root becomes the container's), forks (a joined pid namespace applies
//! to children), reports the child's pid and exits; the child, reparented to
//! the shim, optionally takes a pseudo-terminal from the container's devpts,
//! applies the process settings and executes.

use crate::channel::ChildChannel;
use crate::error::SysError;
use crate::fork::{fork_reporting_child, Forked};
use crate::msg::{Exec, ExecConfig};
use crate::ns;

type Chan = ChildChannel<Exec>;

/// Entry point of `podshim exec`; returns the process exit code.
pub fn run() -> i32 {
    let mut chan = match Chan::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    if let Err(e) = crate::proc::set_undumpable() {
        return chan.fail("prctl", &e);
    }
    let cfg = match enter(&mut chan) {
        Ok(c) => c,
        Err((stage, e)) => return chan.fail(stage, &e),
    };
    match fork_reporting_child(&mut chan) {
        Forked::Parent(code) => code,
        Forked::Child => run_process(chan, cfg),
    }
}

fn enter(chan: &mut Chan) -> Result<ExecConfig, (&'static str, SysError)> {
    let cfg: ExecConfig = chan.config().map_err(|e| ("config", e))?;
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
    crate::cgroup::join_self(&cfg.cgroup).map_err(|e| ("cgroup", e))?;
    let mut files = Vec::new();
    for req in &cfg.namespaces {
        let path = req.path.as_deref().ok_or_else(|| {
            (
                "namespaces",
                SysError::spec("namespaces", "exec joins namespaces by path only"),
            )
        })?;
        files.push(ns::open(req.kind, path).map_err(|e| ("namespaces", e))?);
    }
    for f in &files {
        ns::join(f).map_err(|e| ("setns", e))?;
    }
    Ok(cfg)
}

fn run_process(mut chan: Chan, cfg: ExecConfig) -> i32 {
    if let Err(e) = nix::unistd::setsid() {
        return chan.fail("setsid", &SysError::os("setsid", "exec", e));
    }
    if cfg.terminal {
        if let Err(e) = crate::tty::give_terminal(&mut chan, Some(&cfg.process)) {
            return chan.fail("terminal", &e);
        }
    }
    if let Some(name) = &cfg.session_keyring {
        let in_user_ns = crate::userns::in_user_namespace();
        if let Err(e) = crate::keyring::join_session(name, in_user_ns) {
            return chan.fail("keyring", &e);
        }
    }
    let e = crate::process::exec(&cfg.process, cfg.seccomp.as_ref());
    chan.fail("exec", &e);
    127
}
