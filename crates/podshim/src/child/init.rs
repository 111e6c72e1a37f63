//! The container-init handshake, from the shim's side: config out; maybe a
//! user namespace to map; the pid of the container's pid 1; maybe the
//! runtime hooks' turn and a terminal; Ready. Start then sends `Start` and
//! takes end of file as "executed". A small state machine over the
//! channel: a report out of turn is an error, never a hang.

use std::os::fd::OwnedFd;

use podshim_sys::msg::{Init, InitCommand, InitConfig, InitReport};

use super::channel::ShimChannel;
use super::unexpected;
use crate::error::{Result, ShimError};

/// What the shim must do next for a container being created.
#[derive(Debug)]
pub enum InitStep {
    /// Write the maps of the user namespace the first process made, then
    /// [`InitHandshake::mapped`].
    MapUserNs,
    /// pid 1 exists (host pid); its parent exits now.
    Forked(i32),
    /// Namespaces made, nothing mounted: run prestart and createRuntime,
    /// then [`InitHandshake::resume`].
    CreateRuntime,
    /// The master of the container's terminal.
    Terminal(OwnedFd),
    /// The rootfs is ready; pid 1 waits for Start.
    Ready,
    /// The child ended without a word before Ready (killed, crashed):
    /// the caller, which holds its process, says how it ended.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Entering,
    Mapping,
    Forked,
    Hooks,
    Ready,
}

/// The shim's side of one container init's conversation.
#[derive(Debug)]
pub struct InitHandshake {
    chan: ShimChannel<Init>,
    phase: Phase,
}

impl InitHandshake {
    /// Sends the config: the child starts entering namespaces.
    pub async fn begin(mut chan: ShimChannel<Init>, cfg: &InitConfig) -> Result<Self> {
        chan.send_config(cfg).await?;
        Ok(InitHandshake {
            chan,
            phase: Phase::Entering,
        })
    }

    /// The next step, from the child's next report.
    pub async fn next(&mut self) -> Result<InitStep> {
        let msg = self.chan.recv().await?;
        self.on(msg)
    }

    fn on(&mut self, msg: Option<(InitReport, Option<OwnedFd>)>) -> Result<InitStep> {
        let Some((report, fd)) = msg else {
            return Ok(InitStep::Ended);
        };
        let (phase, step) = match (self.phase, report) {
            (_, InitReport::Error(e)) => return Err(e.into()),
            (Phase::Entering, InitReport::UserNs) => (Phase::Mapping, InitStep::MapUserNs),
            (Phase::Entering, InitReport::Child { pid }) => (Phase::Forked, InitStep::Forked(pid)),
            (Phase::Forked, InitReport::CreateRuntime) => (Phase::Hooks, InitStep::CreateRuntime),
            (Phase::Forked, InitReport::Terminal) => {
                let master = fd.ok_or_else(|| {
                    ShimError::Internal("container init: a terminal without its master".into())
                })?;
                (Phase::Forked, InitStep::Terminal(master))
            }
            (Phase::Forked, InitReport::Ready) => (Phase::Ready, InitStep::Ready),
            (phase, other) => {
                return Err(unexpected("container init", other, &format!("{phase:?}")))
            }
        };
        self.phase = phase;
        Ok(step)
    }

    fn expect(&self, phase: Phase, what: &str) -> Result<()> {
        if self.phase == phase {
            Ok(())
        } else {
            Err(unexpected(
                "container init",
                what,
                &format!("{:?}", self.phase),
            ))
        }
    }

    /// The user namespace's maps are written.
    pub async fn mapped(&mut self) -> Result<()> {
        self.expect(Phase::Mapping, "maps written")?;
        self.chan.send(&InitCommand::UserNsMapped).await?;
        self.phase = Phase::Entering;
        Ok(())
    }

    /// The runtime hooks succeeded: carry on with `state` for the
    /// createContainer hooks.
    pub async fn resume(&mut self, state: String) -> Result<()> {
        self.expect(Phase::Hooks, "hooks done")?;
        self.chan.send(&InitCommand::Continue { state }).await?;
        self.phase = Phase::Forked;
        Ok(())
    }

    /// Start: pid 1 executes the process. Its channel is close-on-exec, so
    /// end of file means the exec happened; a report means it failed.
    pub async fn start(mut self, state: Option<String>) -> Result<()> {
        self.expect(Phase::Ready, "start")?;
        self.chan.send(&InitCommand::Start { state }).await?;
        crate::fault::point("start");
        match self.chan.recv().await? {
            None => Ok(()),
            Some((InitReport::Error(e), _)) => Err(e.into()),
            Some((other, _)) => Err(unexpected("container init", other, "starting")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::channel::testing::{child, pair, runtime};
    use podshim_sys::msg::ChildError;
    use podshim_sys::SysError;

    fn config() -> InitConfig {
        InitConfig {
            container: "c".into(),
            bundle: "/b".into(),
            spec: oci_spec::runtime::Spec::default(),
            namespaces: Vec::new(),
            terminal: false,
            rootfs_mounts: Vec::new(),
            cgroup: Vec::new(),
            session_keyring: None,
        }
    }

    #[test]
    fn a_full_create_and_start() {
        let rt = runtime();
        let (shim, end) = pair::<Init>(&rt);
        let kid = child(end, |mut c| {
            let cfg = c.config().unwrap();
            assert_eq!(cfg.container, "c");
            c.report(&InitReport::UserNs).unwrap();
            assert_eq!(c.recv().unwrap(), Some(InitCommand::UserNsMapped));
            c.report(&InitReport::Child { pid: 42 }).unwrap();
            c.report(&InitReport::CreateRuntime).unwrap();
            assert_eq!(
                c.recv().unwrap(),
                Some(InitCommand::Continue { state: "s".into() })
            );
            let (r, _w) = nix::unistd::pipe().unwrap();
            c.give_terminal(std::os::fd::AsFd::as_fd(&r)).unwrap();
            c.report(&InitReport::Ready).unwrap();
            assert_eq!(c.recv().unwrap(), Some(InitCommand::Start { state: None }));
            // Dropped: "executed".
        });
        rt.block_on(async {
            let mut hs = InitHandshake::begin(shim, &config()).await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), InitStep::MapUserNs));
            hs.mapped().await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), InitStep::Forked(42)));
            assert!(matches!(hs.next().await.unwrap(), InitStep::CreateRuntime));
            hs.resume("s".into()).await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), InitStep::Terminal(_)));
            assert!(matches!(hs.next().await.unwrap(), InitStep::Ready));
            hs.start(None).await.unwrap();
        });
        kid.join().unwrap();
    }

    #[test]
    fn a_failure_keeps_its_cause_and_an_early_end_is_an_error() {
        let rt = runtime();
        let (shim, end) = pair::<Init>(&rt);
        let kid = child(end, |mut c| {
            c.config().unwrap();
            c.report(&InitReport::Child { pid: 7 }).unwrap();
            let e = SysError::os("mount", "/proc", nix::errno::Errno::EPERM);
            c.report(&InitReport::Error(ChildError::new("rootfs", &e)))
                .unwrap();
        });
        rt.block_on(async {
            let mut hs = InitHandshake::begin(shim, &config()).await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), InitStep::Forked(7)));
            let e = hs.next().await.unwrap_err();
            assert!(matches!(e, ShimError::PermissionDenied(_)), "{e:?}");
            assert!(e.to_string().contains("rootfs: mount /proc"), "{e}");
            // The child is gone: an end, not a hang.
            assert!(matches!(hs.next().await.unwrap(), InitStep::Ended));
        });
        kid.join().unwrap();
    }

    #[test]
    fn reports_out_of_turn_are_refused() {
        let rt = runtime();
        let (shim, end) = pair::<Init>(&rt);
        let kid = child(end, |mut c| {
            c.config().unwrap();
            // Ready before the pid, and a terminal with no master.
            c.report(&InitReport::Ready).unwrap();
        });
        rt.block_on(async {
            let mut hs = InitHandshake::begin(shim, &config()).await.unwrap();
            let e = hs.next().await.unwrap_err();
            assert!(matches!(e, ShimError::Internal(_)), "{e:?}");
            assert!(e.to_string().contains("unexpected Ready"), "{e}");
            // Commands out of turn are refused before they are sent.
            assert!(hs.mapped().await.is_err());
            assert!(hs.resume(String::new()).await.is_err());
        });
        kid.join().unwrap();
    }
}
