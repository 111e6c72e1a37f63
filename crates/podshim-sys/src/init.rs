//! `podshim init`: turns a re-executed, single-threaded copy of the shim
//! into a container. The first process enters the namespaces the shim
//! resolved (joining by path, unsharing the rest), forks the container's
//! pid 1 (a new pid namespace applies to children only), reports its pid
//! and exits; the container is then reparented to the shim, its subreaper.
//! pid 1 builds the rootfs, reports ready, blocks until Start, and executes
//! the container process.

use std::io::Write;
use std::path::Path;

use crate::cgroup::place::{ForkInto, Placement};
use crate::channel::ChildChannel;
use crate::error::SysError;
use crate::fork::{fork_reporting_child, Forked};
use crate::msg::{Init, InitCommand, InitConfig, InitReport, NsRequest};
use crate::ns::NsKind;

type Chan = ChildChannel<Init>;

/// Entry point of `podshim init`; returns the process exit code.
pub fn run() -> i32 {
    let mut chan = match Chan::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    if let Err(e) = crate::proc::set_undumpable() {
        return chan.fail("prctl", &e);
    }
    let (cfg, placement, late_cgroupns) = match first_stage(&mut chan) {
        Ok(staged) => staged,
        Err((stage, e)) => return chan.fail(stage, &e),
    };
    match fork_reporting_child(&mut chan, placement.into_fd()) {
        Forked::Parent(code) => code,
        Forked::Child => {
            drop(placement);
            if late_cgroupns {
                if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP) {
                    return chan.fail("unshare", &SysError::os("unshare", "cgroup", e));
                }
            }
            container_main(chan, cfg)
        }
    }
}

/// Joins the cgroup and enters the namespaces. Without a user namespace,
/// pid 1 is forked into the v2 cgroup directly, and a new cgroup
/// namespace, which is rooted where its maker is, is made by pid 1 once
/// it is there (`true`).
fn first_stage(chan: &mut Chan) -> Result<(InitConfig, Placement, bool), (&'static str, SysError)> {
    let cfg: InitConfig = chan.config().map_err(|e| ("config", e))?;
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
    let ns = |kind: NsKind| cfg.namespaces.iter().find(|n| n.kind == kind);
    let user_ns = ns(NsKind::User).is_some();
    let cgroup_ns = ns(NsKind::Cgroup);
    let fork_into = !user_ns && cgroup_ns.is_none_or(|n| n.path.is_none());
    let fork = if fork_into {
        ForkInto::V2
    } else {
        ForkInto::No
    };
    let placement = Placement::join(&cfg.cgroup, fork).map_err(|e| ("cgroup", e))?;
    let late_cgroupns = fork_into && cgroup_ns.is_some();
    let now: Vec<NsRequest> = cfg
        .namespaces
        .iter()
        .filter(|n| !(late_cgroupns && n.kind == NsKind::Cgroup))
        .cloned()
        .collect();
    crate::ns::enter(&now, &mut || chan.map_user_ns())?;
    Ok((cfg, placement, late_cgroupns))
}

/// The container's pid 1, from fork to execve.
fn container_main(mut chan: Chan, cfg: InitConfig) -> i32 {
    // Fault-matrix tests: a container init that dies during create.
    if std::env::var("PODSHIM_FAULT").is_ok_and(|p| p == "init-dies") {
        return 1;
    }
    let hooks = cfg.spec.hooks().clone().unwrap_or_default();
    let stage_hooks = |h: &Option<Vec<oci_spec::runtime::Hook>>| h.clone().unwrap_or_default();
    let create_container = stage_hooks(hooks.create_container());
    let mut state = String::new();
    if [
        hooks.prestart(),
        hooks.create_runtime(),
        hooks.create_container(),
    ]
    .iter()
    .any(|h| h.as_ref().is_some_and(|h| !h.is_empty()))
    {
        // The shim runs the runtime-namespace hooks now, with our pid.
        if chan.report(&InitReport::CreateRuntime).is_err() {
            return 1;
        }
        match chan.recv() {
            Ok(Some(InitCommand::Continue { state: s })) => state = s,
            _ => return 1,
        }
    }
    let hook_failed = std::cell::Cell::new(false);
    let before_pivot = || {
        crate::hooks::run_all(&create_container, &state, "createContainer")
            .inspect_err(|_| hook_failed.set(true))
    };
    if let Err((stage, e)) = setup_container(&cfg, &before_pivot) {
        let stage = if hook_failed.get() { "hooks" } else { stage };
        return chan.fail(stage, &e);
    }
    if let Some(name) = &cfg.session_keyring {
        let how = crate::keyring::Join::Make {
            in_user_ns: crate::userns::in_user_namespace(),
        };
        if let Err(e) = crate::keyring::join_session(name, how) {
            return chan.fail("keyring", &e);
        }
    }
    if let Some(p) = cfg.spec.process() {
        if let Err(e) = crate::process::check_program(p) {
            return chan.fail("exec", &e);
        }
    }
    if cfg.terminal {
        if let Err(e) = crate::tty::give_terminal(&mut chan, cfg.spec.process().as_ref()) {
            return chan.fail("terminal", &e);
        }
    }
    if chan.report(&InitReport::Ready).is_err() {
        return 1;
    }
    let state = match chan.recv() {
        Ok(Some(InitCommand::Start { state })) => state.unwrap_or_default(),
        // The shim went away or deleted us before Start: nothing to run.
        _ => return 1,
    };
    // startContainer hooks run here, inside the container, their paths
    // resolved in its root.
    let start_container = stage_hooks(hooks.start_container());
    if let Err(e) = crate::hooks::run_all(&start_container, &state, "startContainer") {
        return chan.fail("hooks", &e);
    }
    let process = match cfg.spec.process() {
        Some(p) => p,
        None => return chan.fail("exec", &SysError::spec("process", "missing")),
    };
    let seccomp = cfg.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let e = crate::process::exec(process, seccomp);
    // Flush nothing else to stdio: the error goes back to the shim.
    let _ = std::io::stderr().flush();
    chan.fail("exec", &e);
    127
}

fn setup_container(
    cfg: &InitConfig,
    before_pivot: &dyn Fn() -> Result<(), SysError>,
) -> Result<(), (&'static str, SysError)> {
    nix::unistd::setsid().map_err(|e| ("setsid", SysError::os("setsid", "container", e)))?;
    let owns_mnt = cfg.namespaces.iter().any(|n| n.is_new(NsKind::Mnt));
    if !owns_mnt {
        return Err((
            "rootfs",
            SysError::spec(
                "linux.namespaces",
                "a container needs its own mount namespace",
            ),
        ));
    }
    crate::rootfs::prepare(
        &cfg.spec,
        Path::new(&cfg.bundle),
        &cfg.rootfs_mounts,
        before_pivot,
    )
    .map_err(|e| ("rootfs", e))?;
    let owns_uts = cfg.namespaces.iter().any(|n| n.is_new(NsKind::Uts));
    if owns_uts {
        if let Some(h) = cfg.spec.hostname() {
            nix::unistd::sethostname(h)
                .map_err(|e| ("hostname", SysError::os("sethostname", h, e)))?;
        }
    }
    // A network namespace of its own starts with its loopback down; runc
    // brings it up (its one network), as the pause does for a pod's.
    if cfg.namespaces.iter().any(|n| n.is_new(NsKind::Net)) {
        crate::net::loopback_up().map_err(|e| ("loopback", e))?;
    }
    if let Some(sysctl) = cfg.spec.linux().as_ref().and_then(|l| l.sysctl().clone()) {
        for (key, value) in &sysctl {
            crate::sysctl::write(key, value).map_err(|e| ("sysctl", e))?;
        }
    }
    crate::rootfs::finalize(&cfg.spec).map_err(|e| ("rootfs", e))
}
