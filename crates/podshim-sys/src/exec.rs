//! `podshim exec`: a second process in a running container. The first
//! process enters every namespace of the container's pid 1 (mount last, so
//! its root becomes the container's), forks (a joined pid namespace applies
//! to children), reports the child's pid and exits; the child, reparented to
//! the shim, optionally takes a pseudo-terminal from the container's devpts,
//! applies the process settings and executes.

use crate::cgroup::place::{ForkInto, Placement};
use crate::channel::ChildChannel;
use crate::error::SysError;
use crate::fork::{fork_reporting_child, Forked};
use crate::msg::{Exec, ExecConfig};
use crate::ns::{self, NsKind};

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
    let (cfg, placement, late_cgroupns) = match enter(&mut chan) {
        Ok(entered) => entered,
        Err((stage, e)) => return chan.fail(stage, &e),
    };
    match fork_reporting_child(&mut chan, placement.into_fd()) {
        Forked::Parent(code) => code,
        Forked::Child => {
            drop(placement);
            if let Some(f) = late_cgroupns {
                if let Err(e) = ns::join(&f) {
                    return chan.fail("setns", &e);
                }
            }
            run_process(chan, cfg)
        }
    }
}

/// Joins the container's cgroup and namespaces. Without a user namespace
/// the process is forked into the v2 cgroup directly, and joins the
/// container's cgroup namespace once it is there (the namespace returned).
type Entered = (ExecConfig, Placement, Option<ns::NsFile>);

fn enter(chan: &mut Chan) -> Result<Entered, (&'static str, SysError)> {
    let cfg: ExecConfig = chan.config().map_err(|e| ("config", e))?;
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
    let fork_into = !cfg.namespaces.iter().any(|n| n.kind == NsKind::User);
    let fork = if fork_into {
        ForkInto::V2
    } else {
        ForkInto::No
    };
    let placement = Placement::join(&cfg.cgroup, fork).map_err(|e| ("cgroup", e))?;
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
    let mut late_cgroupns = None;
    for f in files {
        if fork_into && f.kind() == NsKind::Cgroup {
            late_cgroupns = Some(f);
            continue;
        }
        ns::join(&f).map_err(|e| ("setns", e))?;
    }
    Ok((cfg, placement, late_cgroupns))
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
        if let Err(e) = crate::keyring::join_session(name, crate::keyring::Join::Existing) {
            return chan.fail("keyring", &e);
        }
    }
    let e = crate::process::exec(&cfg.process, cfg.seccomp.as_ref());
    chan.fail("exec", &e);
    127
}
