//! The exec handshake, from the shim's side: config out; the exec
//! process's pid; maybe its terminal; then end of file, which means it
//! executed (the channel is close-on-exec), or a failure.

use std::os::fd::OwnedFd;

use podshim_sys::msg::{Exec, ExecConfig, ExecReport};

use super::channel::ShimChannel;
use super::unexpected;
use crate::error::{Result, ShimError};

/// What the shim must do next for an exec being started.
#[derive(Debug)]
pub enum ExecStep {
    /// The exec process exists (host pid); its parent exits now.
    Forked(i32),
    /// The master of its terminal.
    Terminal(OwnedFd),
    /// It executed the process.
    Executed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Entering,
    Forked,
    Executed,
}

/// The shim's side of one exec's conversation.
#[derive(Debug)]
pub struct ExecHandshake {
    chan: ShimChannel<Exec>,
    phase: Phase,
}

impl ExecHandshake {
    pub async fn begin(mut chan: ShimChannel<Exec>, cfg: &ExecConfig) -> Result<Self> {
        chan.send_config(cfg).await?;
        Ok(ExecHandshake {
            chan,
            phase: Phase::Entering,
        })
    }

    pub async fn next(&mut self) -> Result<ExecStep> {
        let msg = self.chan.recv().await?;
        let (phase, step) = match (self.phase, msg) {
            (_, Some((ExecReport::Error(e), _))) => return Err(e.into()),
            (Phase::Entering, None) => {
                return Err(ShimError::Internal("exec ended before it forked".into()))
            }
            (Phase::Entering, Some((ExecReport::Child { pid }, _))) => {
                (Phase::Forked, ExecStep::Forked(pid))
            }
            (Phase::Forked, Some((ExecReport::Terminal, fd))) => {
                let master = fd.ok_or_else(|| {
                    ShimError::Internal("exec: a terminal without its master".into())
                })?;
                (Phase::Forked, ExecStep::Terminal(master))
            }
            (Phase::Forked, None) => (Phase::Executed, ExecStep::Executed),
            (phase, other) => {
                return Err(unexpected(
                    "exec",
                    other.map(|(r, _)| r),
                    &format!("{phase:?}"),
                ))
            }
        };
        self.phase = phase;
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::channel::testing::{child, pair, runtime};
    use podshim_sys::msg::ChildError;
    use podshim_sys::SysError;

    fn config() -> ExecConfig {
        ExecConfig {
            container: "c".into(),
            exec_id: "e".into(),
            namespaces: Vec::new(),
            process: oci_spec::runtime::Process::default(),
            terminal: true,
            cgroup: Vec::new(),
            seccomp: None,
            session_keyring: None,
        }
    }

    #[test]
    fn forked_terminal_then_executed() {
        let rt = runtime();
        let (shim, end) = pair::<Exec>(&rt);
        let kid = child(end, |mut c| {
            assert_eq!(c.config().unwrap().exec_id, "e");
            c.report(&ExecReport::Child { pid: 9 }).unwrap();
            let (r, _w) = nix::unistd::pipe().unwrap();
            c.give_terminal(std::os::fd::AsFd::as_fd(&r)).unwrap();
        });
        rt.block_on(async {
            let mut hs = ExecHandshake::begin(shim, &config()).await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), ExecStep::Forked(9)));
            assert!(matches!(hs.next().await.unwrap(), ExecStep::Terminal(_)));
            assert!(matches!(hs.next().await.unwrap(), ExecStep::Executed));
        });
        kid.join().unwrap();
    }

    #[test]
    fn a_missing_binary_is_not_found_and_an_early_end_is_an_error() {
        let rt = runtime();
        let (shim, end) = pair::<Exec>(&rt);
        let kid = child(end, |mut c| {
            c.config().unwrap();
            c.report(&ExecReport::Child { pid: 9 }).unwrap();
            let e = SysError::io(
                "execve",
                "/bin/nope",
                std::io::Error::from_raw_os_error(libc::ENOENT),
            );
            c.report(&ExecReport::Error(ChildError::new("exec", &e)))
                .unwrap();
        });
        rt.block_on(async {
            let mut hs = ExecHandshake::begin(shim, &config()).await.unwrap();
            hs.next().await.unwrap();
            let e = hs.next().await.unwrap_err();
            assert!(matches!(e, ShimError::NotFound(_)), "{e:?}");
        });
        kid.join().unwrap();
        let rt = runtime();
        let (shim, end) = pair::<Exec>(&rt);
        let kid = child(end, |mut c| {
            c.config().unwrap();
        });
        rt.block_on(async {
            let mut hs = ExecHandshake::begin(shim, &config()).await.unwrap();
            let e = hs.next().await.unwrap_err();
            assert!(e.to_string().contains("before it forked"), "{e}");
        });
        kid.join().unwrap();
    }
}
