//! `podshim exec`: a second process in a running container. The first
//! process enters every namespace of the container's pid 1 (mount last, so
//! its root becomes the container's), forks (a joined pid namespace applies
//! to children), reports the child's pid and exits; the child, reparented to
//! the shim, optionally takes a pseudo-terminal from the container's devpts,
//! applies the process settings and executes.

use std::io::Read;

use nix::unistd::{fork, ForkResult};

use crate::channel::Channel;
use crate::error::SysError;
use crate::msg::{ExecConfig, Report};
use crate::ns::{self, NsKind};

/// Entry point of `podshim exec`; returns the process exit code.
pub fn run() -> i32 {
    let mut chan = match Channel::from_inherited() {
        Ok(c) => c,
        Err(_) => return 2,
    };
    let cfg = match enter(&mut chan) {
        Ok(c) => c,
        Err((stage, e)) => return fail(&mut chan, stage, &e),
    };
    let (gate_r, gate_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(&mut chan, "fork", &SysError::os("pipe", "gate", e)),
    };
    // SAFETY: this process is a fresh exec of our binary and has never
    // started a thread, so the child may run arbitrary code after fork.
    match unsafe { fork() } {
        Err(e) => fail(&mut chan, "fork", &SysError::os("fork", "exec", e)),
        Ok(ForkResult::Parent { child }) => {
            let sent = chan.send(&Report::Child {
                pid: child.as_raw(),
            });
            drop(gate_w);
            i32::from(sent.is_err()) * 2
        }
        Ok(ForkResult::Child) => {
            drop(gate_w);
            let _ = std::fs::File::from(gate_r).read(&mut [0u8; 1]);
            run_process(chan, cfg)
        }
    }
}

fn fail(chan: &mut Channel, stage: &str, e: &SysError) -> i32 {
    let _ = chan.send(&Report::Error {
        stage: stage.to_string(),
        message: e.to_string(),
    });
    1
}

fn enter(chan: &mut Channel) -> Result<ExecConfig, (&'static str, SysError)> {
    let cfg: ExecConfig = match chan.recv() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err((
                "config",
                SysError::Channel("shim closed the channel".into()),
            ))
        }
        Err(e) => return Err(("config", e)),
    };
    crate::fds::cloexec_from(3).map_err(|e| ("fds", e))?;
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
        return fail(&mut chan, "setsid", &SysError::os("setsid", "exec", e));
    }
    if cfg.terminal {
        let pty = match crate::tty::open_pty() {
            Ok(p) => p,
            Err(e) => return fail(&mut chan, "terminal", &e),
        };
        if let Err(e) = chan.send_with_fd(&Report::Terminal, std::os::fd::AsFd::as_fd(&pty.master))
        {
            return fail(&mut chan, "terminal", &e);
        }
        drop(pty.master);
        if let Err(e) = crate::tty::become_terminal_stdio(pty.slave) {
            return fail(&mut chan, "terminal", &e);
        }
    }
    let e = crate::process::exec(&cfg.process);
    fail(&mut chan, "exec", &e);
    127
}
