//! The pause handshake, from the shim's side: config out; maybe a user
//! namespace to map; with a pid namespace the pid of the real pause (the
//! first process forks it and exits); Ready. After Ready the channel stays
//! open as a [`PauseLink`]: the shim hands the pause log pipes to hold.

use std::os::fd::BorrowedFd;

use podshim_sys::msg::{Pause, PauseCommand, PauseConfig, PauseReport};

use super::channel::ShimChannel;
use super::unexpected;
use crate::error::{Result, ShimError};

/// What the shim must do next for a pause being set up.
#[derive(Debug)]
pub enum PauseStep {
    /// Write the maps of the pod's new user namespace, then
    /// [`PauseHandshake::mapped`].
    MapUserNs,
    /// The real pause, pid 1 of the pod's pid namespace (host pid); the
    /// first process exits now.
    Forked(i32),
    /// Namespaces made (and pinned, outside a user namespace).
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Entering,
    Mapping,
    Forked,
}

/// The shim's side of the pause's set-up.
#[derive(Debug)]
pub struct PauseHandshake {
    chan: ShimChannel<Pause>,
    phase: Phase,
}

impl PauseHandshake {
    pub async fn begin(mut chan: ShimChannel<Pause>, cfg: &PauseConfig) -> Result<Self> {
        chan.send_config(cfg).await?;
        Ok(PauseHandshake {
            chan,
            phase: Phase::Entering,
        })
    }

    pub async fn next(&mut self) -> Result<PauseStep> {
        let Some((report, _)) = self.chan.recv().await? else {
            return Err(ShimError::Internal(
                "pause ended before it was ready".into(),
            ));
        };
        let (phase, step) = match (self.phase, report) {
            (_, PauseReport::Error(e)) => return Err(ShimError::from(e).context("pause")),
            (Phase::Entering, PauseReport::UserNs) => (Phase::Mapping, PauseStep::MapUserNs),
            (Phase::Entering, PauseReport::Child { pid }) => {
                (Phase::Forked, PauseStep::Forked(pid))
            }
            (Phase::Entering | Phase::Forked, PauseReport::Ready) => (self.phase, PauseStep::Ready),
            (phase, other) => return Err(unexpected("pause", other, &format!("{phase:?}"))),
        };
        self.phase = phase;
        Ok(step)
    }

    pub async fn mapped(&mut self) -> Result<()> {
        if self.phase != Phase::Mapping {
            return Err(unexpected(
                "pause",
                "maps written",
                &format!("{:?}", self.phase),
            ));
        }
        self.chan.send(&PauseCommand::UserNsMapped).await?;
        self.phase = Phase::Entering;
        Ok(())
    }

    /// The pause is ready: its channel from here on.
    pub fn into_link(self) -> PauseLink {
        PauseLink { chan: self.chan }
    }
}

/// The channel to a ready pause, which holds descriptors for the shim.
#[derive(Debug)]
pub struct PauseLink {
    chan: ShimChannel<Pause>,
}

impl PauseLink {
    /// The pause keeps a copy of `fd`; the number it has there.
    pub async fn hold(&mut self, fd: BorrowedFd<'_>) -> Result<i32> {
        self.chan.send_with_fd(&PauseCommand::Hold, fd).await?;
        match self.chan.recv().await? {
            Some((PauseReport::Held { fd }, _)) => Ok(fd),
            other => Err(unexpected("pause", other.map(|(r, _)| r), "holding")),
        }
    }

    /// The pause closes its copy number `fd`.
    pub async fn release(&mut self, fd: i32) -> Result<()> {
        self.chan.send(&PauseCommand::Release { fd }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::channel::testing::{child, pair, runtime};
    use podshim_sys::msg::ChildError;
    use podshim_sys::SysError;
    use std::os::fd::AsFd;

    fn config() -> PauseConfig {
        PauseConfig {
            pod: "p".into(),
            namespaces: Vec::new(),
            hostname: None,
            cgroup: Vec::new(),
            sysctl: Default::default(),
        }
    }

    #[test]
    fn user_ns_pid_ns_ready_then_holding() {
        let rt = runtime();
        let (shim, end) = pair::<Pause>(&rt);
        let kid = child(end, |mut c| {
            c.config().unwrap();
            c.report(&PauseReport::UserNs).unwrap();
            assert_eq!(c.recv().unwrap(), Some(PauseCommand::UserNsMapped));
            c.report(&PauseReport::Child { pid: 5 }).unwrap();
            c.report(&PauseReport::Ready).unwrap();
            let (cmd, fd) = c.recv_with_fd().unwrap().unwrap();
            assert_eq!(cmd, PauseCommand::Hold);
            assert!(fd.is_some());
            c.report(&PauseReport::Held { fd: 12 }).unwrap();
            assert_eq!(c.recv().unwrap(), Some(PauseCommand::Release { fd: 12 }));
        });
        rt.block_on(async {
            let mut hs = PauseHandshake::begin(shim, &config()).await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), PauseStep::MapUserNs));
            hs.mapped().await.unwrap();
            assert!(matches!(hs.next().await.unwrap(), PauseStep::Forked(5)));
            assert!(matches!(hs.next().await.unwrap(), PauseStep::Ready));
            let mut link = hs.into_link();
            let (r, _w) = nix::unistd::pipe().unwrap();
            assert_eq!(link.hold(r.as_fd()).await.unwrap(), 12);
            link.release(12).await.unwrap();
        });
        kid.join().unwrap();
    }

    #[test]
    fn a_pause_that_fails_says_so_with_its_cause() {
        let rt = runtime();
        let (shim, end) = pair::<Pause>(&rt);
        let kid = child(end, |mut c| {
            c.config().unwrap();
            let e = SysError::spec("linux.namespaces", "the pause holds only ...");
            c.report(&PauseReport::Error(ChildError::new("namespaces", &e)))
                .unwrap();
        });
        rt.block_on(async {
            let mut hs = PauseHandshake::begin(shim, &config()).await.unwrap();
            let e = hs.next().await.unwrap_err();
            assert!(matches!(e, ShimError::InvalidArgument(_)), "{e:?}");
            assert!(e.to_string().starts_with("pause: namespaces: spec"), "{e}");
            assert!(hs.mapped().await.is_err());
        });
        kid.join().unwrap();
    }
}
