//! Starting the re-executed children (`podshim pause`, `podshim init`) and
//! the async end of their channel.

use std::os::fd::OwnedFd;

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use podshim_sys::channel::{self, CHILD_FD};
use podshim_sys::spawn::{self, ChildStdio, Reexec};

use crate::bundle::IdMaps;
use crate::error::{Result, ShimError};

/// The binary the children are executed from.
pub const SELF_EXE: &str = "/proc/self/exe";

/// The shim's end of a child channel.
#[derive(Debug)]
pub struct AsyncChannel {
    stream: UnixStream,
}

impl AsyncChannel {
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<()> {
        let frame = channel::encode(msg)?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| ShimError::Internal(format!("channel send: {e}")))
    }

    /// One message, or `None` when every child holding the other end is
    /// gone (for a container's pid 1: it executed the process).
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        Ok(self.recv_with_fd().await?.map(|(m, _)| m))
    }

    /// Sends one message with a file descriptor attached (SCM_RIGHTS).
    pub async fn send_with_fd<T: Serialize>(
        &mut self,
        msg: &T,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let frame = channel::encode(msg)?;
        let fds = [fd.as_raw_fd()];
        let sent = loop {
            self.stream
                .writable()
                .await
                .map_err(|e| ShimError::Internal(format!("channel send: {e}")))?;
            let sock = &self.stream;
            match sock.try_io(tokio::io::Interest::WRITABLE, || {
                let cmsg = [ControlMessage::ScmRights(&fds)];
                let iov = [std::io::IoSlice::new(&frame)];
                sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
                    .map_err(std::io::Error::from)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(ShimError::Internal(format!("channel send: {e}"))),
            }
        };
        if sent < frame.len() {
            self.stream
                .write_all(&frame[sent..])
                .await
                .map_err(|e| ShimError::Internal(format!("channel send: {e}")))?;
        }
        Ok(())
    }

    /// One message and the file descriptor sent with it, if any.
    pub async fn recv_with_fd<T: DeserializeOwned>(
        &mut self,
    ) -> Result<Option<(T, Option<OwnedFd>)>> {
        let got = loop {
            self.stream
                .readable()
                .await
                .map_err(|e| ShimError::Internal(format!("channel recv: {e}")))?;
            let sock = &self.stream;
            match sock.try_io(tokio::io::Interest::READABLE, || {
                channel::recv_header_with_fd(std::os::fd::AsFd::as_fd(sock))
            }) {
                Ok(got) => break got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(ShimError::Internal(format!("channel recv: {e}"))),
            }
        };
        let Some((header, fd)) = got else {
            return Ok(None);
        };
        let len = channel::frame_len(header)?;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| ShimError::Internal(format!("channel recv: {e}")))?;
        Ok(Some((channel::decode(&body)?, fd)))
    }
}

/// A child just started: its pid, a pidfd, and its channel.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub channel: AsyncChannel,
}

/// Re-executes this binary as `podshim <role> <args>`.
pub fn spawn_child(role: &str, args: &[&str], stdio: ChildStdio) -> Result<Spawned> {
    let (ours, theirs) = spawn::channel_pair()?;
    let mut argv = vec![role.to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let pid = spawn::spawn(Reexec {
        exe: SELF_EXE,
        arg0: "podshim",
        args: argv,
        stdio,
        fds: vec![spawn::fd_at(&theirs, CHILD_FD)],
        setsid: false,
        env: Vec::new(),
        env_clear: false,
        cwd: Some("/"),
    })?;
    drop(theirs);
    crate::reaper::track(pid);
    // The child is ours and not yet reaped, so its pid cannot be reused
    // before the pidfd is open.
    let pidfd = podshim_sys::proc::pidfd_open(pid)?;
    ours.set_nonblocking(true)
        .map_err(|e| ShimError::Internal(format!("channel: {e}")))?;
    let stream =
        UnixStream::from_std(ours).map_err(|e| ShimError::Internal(format!("channel: {e}")))?;
    Ok(Spawned {
        pid,
        pidfd,
        channel: AsyncChannel { stream },
    })
}

/// Starts a re-executed child that forks the real process (`init`,
/// `exec`): sends it `cfg`, takes the pid it reports, and waits for the
/// forking parent to exit. After that the reported process is the shim's
/// child (the shim is a subreaper), so its pidfd can be waited on.
pub async fn spawn_forking<C: Serialize>(
    role: &str,
    args: &[&str],
    stdio: ChildStdio,
    cfg: &C,
    maps: Option<&IdMaps>,
) -> Result<(i32, OwnedFd, AsyncChannel)> {
    let Spawned {
        pid: first_pid,
        pidfd: first,
        mut channel,
    } = spawn_child(role, args, stdio)?;
    let mut report = match channel.send(cfg).await {
        Ok(()) => channel.recv::<podshim_sys::msg::Report>().await,
        Err(e) => Err(e),
    };
    use podshim_sys::msg::Report;
    // A new user namespace is mapped from here, the parent namespace.
    if let Ok(Some(Report::UserNs)) = &report {
        report = match map_user_ns(first_pid, maps, &mut channel).await {
            Ok(()) => channel.recv::<Report>().await,
            Err(e) => Err(e),
        };
    }
    if let Ok(Some(Report::Child { pid })) = &report {
        crate::reaper::track(*pid);
    }
    let first_code = crate::reaper::wait_exit(first).await;
    let child = match report {
        Ok(Some(Report::Child { pid })) => pid,
        Ok(Some(Report::Error { stage, message })) => {
            return Err(ShimError::InvalidArgument(format!("{stage}: {message}")))
        }
        Ok(other) => {
            return Err(ShimError::Internal(format!(
                "{role} exited ({first_code:?}) with report {other:?}"
            )))
        }
        Err(e) => return Err(e),
    };
    let pidfd = podshim_sys::proc::pidfd_open(child)?;
    Ok((child, pidfd, channel))
}

/// Writes the maps of the user namespace child `pid` has just made and
/// tells it so.
pub async fn map_user_ns(
    pid: i32,
    maps: Option<&IdMaps>,
    channel: &mut AsyncChannel,
) -> Result<()> {
    let maps = maps.ok_or_else(|| {
        ShimError::InvalidArgument(
            "a new user namespace needs linux.uidMappings and gidMappings".into(),
        )
    })?;
    podshim_sys::userns::write_maps(pid, &maps.uid, &maps.gid)?;
    channel.send(&podshim_sys::msg::Command::UserNsMapped).await
}
