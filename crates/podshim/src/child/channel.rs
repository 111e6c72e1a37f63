//! The shim's end of a child channel, typed by its conversation: it sends
//! the config and commands of `C` and receives `C`'s reports, with tokio on
//! the shim's one thread. Frames are those of `podshim_sys::channel`.

use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use podshim_sys::channel;
use podshim_sys::msg::Conversation;
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::{Result, ShimError};

fn broken(op: &str, e: impl std::fmt::Display) -> ShimError {
    ShimError::Internal(format!("channel {op}: {e}"))
}

/// The shim's end of conversation `C`.
#[derive(Debug)]
pub struct ShimChannel<C: Conversation> {
    stream: UnixStream,
    _conversation: PhantomData<C>,
}

impl<C: Conversation> ShimChannel<C> {
    pub fn new(stream: std::os::unix::net::UnixStream) -> Result<Self> {
        stream
            .set_nonblocking(true)
            .map_err(|e| broken("setup", e))?;
        Ok(ShimChannel {
            stream: UnixStream::from_std(stream).map_err(|e| broken("setup", e))?,
            _conversation: PhantomData,
        })
    }

    /// The config a child starts from.
    pub async fn send_config(&mut self, cfg: &C::Config) -> Result<()> {
        self.write(cfg).await
    }

    pub async fn send(&mut self, cmd: &C::Command) -> Result<()> {
        self.write(cmd).await
    }

    async fn write<T: Serialize>(&mut self, msg: &T) -> Result<()> {
        let frame = channel::encode(msg)?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| broken("send", e))
    }

    /// Sends a command with a file descriptor attached (SCM_RIGHTS).
    pub async fn send_with_fd(&mut self, cmd: &C::Command, fd: BorrowedFd<'_>) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let frame = channel::encode(cmd)?;
        let fds = [fd.as_raw_fd()];
        let sent = loop {
            self.stream
                .writable()
                .await
                .map_err(|e| broken("send", e))?;
            let sock = &self.stream;
            match sock.try_io(tokio::io::Interest::WRITABLE, || {
                let cmsg = [ControlMessage::ScmRights(&fds)];
                let iov = [std::io::IoSlice::new(&frame)];
                sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
                    .map_err(std::io::Error::from)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(broken("send", e)),
            }
        };
        if sent < frame.len() {
            self.stream
                .write_all(&frame[sent..])
                .await
                .map_err(|e| broken("send", e))?;
        }
        Ok(())
    }

    /// The child's next report and the descriptor sent with it, if any;
    /// `None` when every process holding the child's end is gone (for a
    /// container's pid 1 or an exec: it executed the process).
    pub async fn recv(&mut self) -> Result<Option<(C::Report, Option<OwnedFd>)>> {
        self.read().await
    }

    async fn read<T: DeserializeOwned>(&mut self) -> Result<Option<(T, Option<OwnedFd>)>> {
        let got = loop {
            self.stream
                .readable()
                .await
                .map_err(|e| broken("recv", e))?;
            let sock = &self.stream;
            match sock.try_io(tokio::io::Interest::READABLE, || {
                channel::recv_header_with_fd(std::os::fd::AsFd::as_fd(sock))
            }) {
                Ok(got) => break got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(broken("recv", e)),
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
            .map_err(|e| broken("recv", e))?;
        Ok(Some((channel::decode(&body)?, fd)))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A child played by a thread: the other end of a [`ShimChannel`] as a
    //! blocking `ChildChannel`, for handshake tests that need no root.

    use podshim_sys::channel::{Channel, ChildChannel};
    use podshim_sys::msg::Conversation;

    use super::ShimChannel;

    /// Both ends; the shim's is registered with `rt`.
    pub fn pair<C: Conversation>(
        rt: &tokio::runtime::Runtime,
    ) -> (ShimChannel<C>, ChildChannel<C>) {
        let _in_rt = rt.enter();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        (
            ShimChannel::new(a).unwrap(),
            ChildChannel::new(Channel::new(b)),
        )
    }

    /// Runs `f` as the child on a thread of its own.
    pub fn child<C, F>(end: ChildChannel<C>, f: F) -> std::thread::JoinHandle<()>
    where
        C: Conversation + 'static,
        F: FnOnce(ChildChannel<C>) + Send + 'static,
        ChildChannel<C>: Send,
    {
        std::thread::spawn(move || f(end))
    }

    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}
