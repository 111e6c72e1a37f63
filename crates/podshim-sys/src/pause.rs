//! `podshim pause`: the pod's infra process. Enters (or creates) the pod's
//! net, IPC and UTS namespaces, sets the hostname, brings `lo` up,
//! confines itself (an empty read-only root of its own, no capabilities,
//! no_new_privs, not dumpable), reports ready (the shim then pins its
//! namespaces as links under `P/ns/`),
//! then sleeps: it reaps any child it inherits, holds the log pipes the
//! shim hands it, and exits 0 on SIGTERM or SIGINT.
//!
//! When the sandbox asks for a pid namespace (Kubernetes'
//! shareProcessNamespace, CRI's POD mode), the pause forks once confined:
//! the child is pid 1 of the pod's pid namespace and reaps every orphan of
//! the pod's containers; the parent reports its pid and exits. Without a
//! user namespace, where there is a cgroup v2 hierarchy, the pause forks
//! in any case, the child straight into the pod's v2 cgroup
//! (CLONE_INTO_CGROUP), so nothing is migrated under the global
//! threadgroup lock (the v1 directories are joined one thread at a time,
//! which skips it).

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cgroup::place::{ForkInto, Placement};
use crate::channel::ChildChannel;
use crate::error::SysError;
use crate::fork::{fork_reporting_child, Forked};
use crate::msg::{Pause, PauseCommand, PauseConfig, PauseReport};
use crate::ns::{self, NsKind};

type Chan = ChildChannel<Pause>;

/// Entry point of `podshim pause`; returns the process exit code.
pub fn run() -> i32 {
    let mut chan = match Chan::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    if let Err(e) = crate::proc::set_undumpable() {
        return chan.fail("prctl", &e);
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
    let (pid_ns, placement) = match setup(&mut chan) {
        Ok(set) => set,
        Err((stage, e)) => return chan.fail(stage, &e),
    };
    if pid_ns || placement.into_fd().is_some() {
        if let Forked::Parent(code) = fork_reporting_child(&mut chan, placement.into_fd()) {
            return code;
        }
        drop(placement);
    }
    if chan.report(&PauseReport::Ready).is_err() {
        return 2;
    }
    wait_for_end(&set, chan)
}

/// Joins the cgroup and enters the namespaces. True when a pid
/// namespace was entered or made, so the caller must fork the real pause
/// into it; without a user namespace the real pause is forked into the v2
/// cgroup too (the placement holds its directory), so the pod's start
/// takes the global threadgroup lock nowhere.
fn setup(chan: &mut Chan) -> Result<(bool, Placement), (&'static str, SysError)> {
    let cfg: PauseConfig = chan.config().map_err(|e| ("config", e))?;
    let _ = nix::unistd::chdir("/");
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
    let user_ns = cfg.namespaces.iter().any(|r| r.kind == NsKind::User);
    let fork = if user_ns { ForkInto::No } else { ForkInto::V2 };
    let placement = Placement::join(&cfg.cgroup, fork).map_err(|e| ("cgroup", e))?;

    if let Some(req) = cfg.namespaces.iter().find(|r| {
        !matches!(
            r.kind,
            NsKind::Net | NsKind::Ipc | NsKind::Uts | NsKind::Pid | NsKind::User
        )
    }) {
        return Err((
            "namespaces",
            SysError::spec(
                "linux.namespaces",
                format!(
                    "the pause holds only user, net, ipc, uts and pid, not {}",
                    req.kind.proc_name()
                ),
            ),
        ));
    }
    let entered = ns::enter(&cfg.namespaces, &mut || chan.map_user_ns())?;
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
    let mut keys: Vec<&String> = cfg.sysctl.keys().collect();
    keys.sort();
    for key in keys {
        crate::sysctl::write(key, &cfg.sysctl[key]).map_err(|e| ("sysctl", e))?;
    }
    // The shim pins the namespaces once it knows the real pause.
    confine().map_err(|e| ("confine", e))?;
    let pid_ns = entered.joined.contains(&NsKind::Pid) || fresh.contains(&NsKind::Pid);
    Ok((pid_ns, placement))
}

/// With its namespaces made the pause needs nothing more of the host: an
/// empty read-only root in a mount namespace of its own, no capability
/// (bounding set included), no_new_privs, not dumpable. What a member of
/// the pod can reach of it (ptrace, /proc/1/root, /proc/1/fd) holds
/// nothing: its only descriptors are the channel to the shim and its
/// stdio.
fn confine() -> Result<(), SysError> {
    crate::rootfs::enter_empty_root()?;
    crate::caps::drop_all()?;
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| SysError::os("prctl", "PR_SET_NO_NEW_PRIVS", e))?;
    crate::proc::set_undumpable()
}

/// Sleeps until SIGTERM or SIGINT, reaping children on SIGCHLD and, while
/// the shim keeps the channel open, holding the descriptors it hands over
/// (the read ends of container log pipes, so those pipes keep a reader if
/// the shim dies). The shim going away ends the channel, not the pause,
/// and the descriptors stay held for the next shim to take back.
fn wait_for_end(set: &SigSet, chan: Chan) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use std::os::fd::AsRawFd;
    let Ok(signals) = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC) else {
        return 2;
    };
    let mut chan = Some(chan);
    let mut held: Vec<std::os::fd::OwnedFd> = Vec::new();
    loop {
        let (sig_ready, chan_ready) = {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            if let Some(c) = &chan {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return 2,
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if sig_ready {
            match signals.read_signal() {
                Ok(Some(info)) if info.ssi_signo == Signal::SIGCHLD as u32 => reap_all(),
                Ok(Some(info))
                    if info.ssi_signo == Signal::SIGTERM as u32
                        || info.ssi_signo == Signal::SIGINT as u32 =>
                {
                    return 0
                }
                _ => {}
            }
        }
        if chan_ready {
            let Some(c) = chan.as_mut() else { continue };
            match c.recv_with_fd() {
                Ok(Some((PauseCommand::Hold, Some(fd)))) => {
                    let n = fd.as_raw_fd();
                    held.push(fd);
                    let _ = c.report(&PauseReport::Held { fd: n });
                }
                Ok(Some((PauseCommand::Release { fd }, _))) => {
                    held.retain(|h| h.as_raw_fd() != fd);
                }
                Ok(Some(_)) => {}
                // The shim is gone: keep what is held, stop listening.
                Ok(None) | Err(_) => chan = None,
            }
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
