//! `podshim pause`: the pod's infra process. Enters (or creates) the pod's
//! net, IPC and UTS namespaces, sets the hostname, brings `lo` up, pins the
//! namespaces under `P/ns/`, reports ready, then sleeps in sigwait: it reaps
//! any child it inherits and exits 0 on SIGTERM or SIGINT.
//!
//! When the sandbox asks for a pid namespace (Kubernetes'
//! shareProcessNamespace, CRI's POD mode), the pause forks after pinning:
//! the child is pid 1 of the pod's pid namespace and reaps every orphan of
//! the pod's containers; the parent reports its pid and exits.

use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::channel::Channel;
use crate::error::SysError;
use crate::fork::{fork_reporting_child, report_failure, Forked};
use crate::msg::{PauseConfig, Report};
use crate::ns::{self, NsKind};

/// Entry point of `podshim pause`; returns the process exit code.
pub fn run() -> i32 {
    let mut chan = match Channel::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    if let Err(e) = crate::proc::set_undumpable() {
        return report_failure(&mut chan, "prctl", &e);
    }
    // Signals are taken synchronously from here on.
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    if set.thread_block().is_err() {
        return 2;
    }
    let forks = match setup(&mut chan) {
        Ok(forks) => forks,
        Err((stage, e)) => return report_failure(&mut chan, stage, &e),
    };
    if forks {
        if let Forked::Parent(code) = fork_reporting_child(&mut chan, "pause") {
            return code;
        }
    }
    if chan.send(&Report::Ready).is_err() {
        return 2;
    }
    drop(chan);
    wait_for_end(&set)
}

/// Enters the namespaces and pins them; true when a pid namespace was
/// entered or made, so the caller must fork the real pause into it.
fn setup(chan: &mut Channel) -> Result<bool, (&'static str, SysError)> {
    let cfg: PauseConfig = chan.recv_config().map_err(|e| ("config", e))?;
    let _ = nix::unistd::chdir("/");
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
    crate::cgroup::join_self(&cfg.cgroup).map_err(|e| ("cgroup", e))?;

    for req in &cfg.namespaces {
        NsKind::parse(&req.kind)
            .filter(|k| {
                matches!(
                    k,
                    NsKind::Net | NsKind::Ipc | NsKind::Uts | NsKind::Pid | NsKind::User
                )
            })
            .ok_or_else(|| {
                (
                    "namespaces",
                    SysError::spec(
                        "linux.namespaces",
                        format!(
                            "the pause holds only user, net, ipc, uts and pid, not {:?}",
                            req.kind
                        ),
                    ),
                )
            })?;
    }
    let entered = ns::enter(chan, &cfg.namespaces)?;
    let fresh = &entered.fresh;
    if fresh.contains(&NsKind::Uts) {
        if let Some(h) = &cfg.hostname {
            nix::unistd::sethostname(h)
                .map_err(|e| ("hostname", SysError::os("sethostname", h, e)))?;
        }
    }
    if fresh.contains(&NsKind::Net) {
        crate::net::loopback_up().map_err(|e| ("loopback", e))?;
    }
    // In a user namespace the host's mounts are out of reach: the shim
    // pins the namespaces then.
    if !entered.user() {
        let pin_dir = Path::new(&cfg.pin_dir);
        for kind in [NsKind::Net, NsKind::Ipc, NsKind::Uts] {
            ns::pin_self(kind, &pin_dir.join(kind.proc_name())).map_err(|e| ("pin", e))?;
        }
    }
    Ok(entered.joined.contains(&NsKind::Pid) || fresh.contains(&NsKind::Pid))
}

fn wait_for_end(set: &SigSet) -> i32 {
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => reap_all(),
            Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => return 0,
            _ => {}
        }
    }
}

/// Reaps every exited child: the pause is the reaper of whatever it
/// inherits and has no other waiter to race with.
fn reap_all() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}
