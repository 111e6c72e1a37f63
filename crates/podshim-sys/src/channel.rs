//! The parent<->child channel: a socketpair carrying length-prefixed JSON
//! (4-byte big-endian length, then the bytes). The blocking side used by the
//! children lives here, typed by its conversation ([`ChildChannel`]); the
//! shim reads the same frames with tokio.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use serde::{de::DeserializeOwned, Serialize};

use crate::error::SysError;
use crate::msg::{ChildError, Conversation, GivesTerminal, MapsUserNs};

/// The fd number a re-executed child finds its channel on.
pub const CHILD_FD: RawFd = 3;

/// Largest frame accepted (a spec with many mounts is a few hundred KiB).
pub const MAX_FRAME: usize = 16 << 20;

/// Largest config.json a task may have: the spec crosses the channel in
/// one frame with the rest of its child's config, so this is the one limit
/// a bundle is checked against before anything starts (half a frame
/// leaves room for the rest, and for what re-encoding adds).
pub const MAX_SPEC: u64 = (MAX_FRAME / 2) as u64;

/// Encodes one frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, SysError> {
    let body = serde_json::to_vec(msg).map_err(|e| SysError::Channel(format!("encode: {e}")))?;
    if body.len() > MAX_FRAME {
        return Err(SysError::Channel(format!(
            "message of {} bytes is over the {MAX_FRAME} byte limit",
            body.len()
        )));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses a frame header; refuses oversized frames.
pub fn frame_len(header: [u8; 4]) -> Result<usize, SysError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(SysError::Channel(format!(
            "peer announced a {len} byte message, over the {MAX_FRAME} byte limit"
        )));
    }
    Ok(len)
}

/// Decodes a frame body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, SysError> {
    serde_json::from_slice(body).map_err(|e| SysError::Channel(format!("decode: {e}")))
}

/// Blocking end of a channel, used inside the children.
#[derive(Debug)]
pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    pub fn new(stream: UnixStream) -> Self {
        Channel { stream }
    }

    /// Takes the channel a re-executed child inherited on [`CHILD_FD`] and
    /// marks it close-on-exec, so the container process never holds it.
    pub fn from_inherited() -> Result<Self, SysError> {
        crate::fds::set_cloexec(CHILD_FD)?;
        // SAFETY: the shim put a socket on CHILD_FD before exec; nothing
        // else in this fresh process owns that fd, so ownership moves here.
        let owned = unsafe { OwnedFd::from_raw_fd(CHILD_FD) };
        Ok(Channel {
            stream: UnixStream::from(owned),
        })
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), SysError> {
        let frame = encode(msg)?;
        self.stream
            .write_all(&frame)
            .map_err(|e| SysError::Channel(format!("send: {e}")))
    }

    /// Sends one message with a file descriptor attached (SCM_RIGHTS).
    pub fn send_with_fd<T: Serialize>(
        &mut self,
        msg: &T,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), SysError> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let frame = encode(msg)?;
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(&frame)];
        let sent = sendmsg::<()>(
            self.stream.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| SysError::Channel(format!("sendmsg: {e}")))?;
        if sent < frame.len() {
            self.stream
                .write_all(&frame[sent..])
                .map_err(|e| SysError::Channel(format!("send: {e}")))?;
        }
        Ok(())
    }

    /// Receives the message a child starts from; the shim closing the
    /// channel first is an error.
    pub fn recv_config<T: DeserializeOwned>(&mut self) -> Result<T, SysError> {
        self.recv()?
            .ok_or_else(|| SysError::Channel("shim closed the channel".into()))
    }

    /// The socket, to poll.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.stream)
    }

    /// Receives one message and the file descriptor sent with it, if any;
    /// `Ok(None)` when the peer closed its end.
    pub fn recv_with_fd<T: DeserializeOwned>(
        &mut self,
    ) -> Result<Option<(T, Option<OwnedFd>)>, SysError> {
        let got = recv_header_with_fd(self.as_fd())
            .map_err(|e| SysError::Channel(format!("recv: {e}")))?;
        let Some((header, fd)) = got else {
            return Ok(None);
        };
        let len = frame_len(header)?;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| SysError::Channel(format!("recv: {e}")))?;
        decode(&body).map(|m| Some((m, fd)))
    }

    /// Receives one message; `Ok(None)` when the peer closed its end.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, SysError> {
        let mut header = [0u8; 4];
        match self.stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(SysError::Channel(format!("recv: {e}"))),
        }
        let len = frame_len(header)?;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| SysError::Channel(format!("recv: {e}")))?;
        decode(&body).map(Some)
    }
}

/// A message and the descriptor that came with it, if any.
pub type WithFd<T> = (T, Option<OwnedFd>);

/// A child's end of its conversation `C`: it reads its config and the
/// shim's commands and sends its reports, nothing else.
#[derive(Debug)]
pub struct ChildChannel<C: Conversation> {
    chan: Channel,
    _conversation: std::marker::PhantomData<C>,
}

impl<C: Conversation> ChildChannel<C> {
    pub fn new(chan: Channel) -> Self {
        ChildChannel {
            chan,
            _conversation: std::marker::PhantomData,
        }
    }

    /// The channel inherited on [`CHILD_FD`] (see [`Channel::from_inherited`]).
    pub fn from_inherited() -> Result<Self, SysError> {
        Channel::from_inherited().map(Self::new)
    }

    /// The config the shim sends first.
    pub fn config(&mut self) -> Result<C::Config, SysError> {
        self.chan.recv_config()
    }

    pub fn report(&mut self, r: &C::Report) -> Result<(), SysError> {
        self.chan.send(r)
    }

    pub fn report_with_fd(
        &mut self,
        r: &C::Report,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), SysError> {
        self.chan.send_with_fd(r, fd)
    }

    /// The shim's next command; `None` when it closed the channel.
    pub fn recv(&mut self) -> Result<Option<C::Command>, SysError> {
        self.chan.recv()
    }

    pub fn recv_with_fd(&mut self) -> Result<Option<WithFd<C::Command>>, SysError> {
        self.chan.recv_with_fd()
    }

    /// The socket, to poll.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.chan.as_fd()
    }

    /// Reports a failure at `stage`; the exit code for it.
    pub fn fail(&mut self, stage: &str, e: &SysError) -> i32 {
        let _ = self.report(&C::failed(ChildError::new(stage, e)));
        1
    }
}

impl<C: MapsUserNs> ChildChannel<C> {
    /// Has the shim map the user namespace just made, and waits for it.
    pub fn map_user_ns(&mut self) -> Result<(), SysError> {
        self.report(&C::user_ns())?;
        match self.recv()? {
            Some(c) if C::is_mapped(&c) => Ok(()),
            other => Err(SysError::Channel(format!(
                "expected the user namespace maps, got {other:?}"
            ))),
        }
    }
}

impl<C: GivesTerminal> ChildChannel<C> {
    /// Sends the master of a terminal.
    pub fn give_terminal(&mut self, master: std::os::fd::BorrowedFd<'_>) -> Result<(), SysError> {
        self.report_with_fd(&C::terminal(), master)
    }
}

/// Reads a frame header with recvmsg, taking a file descriptor sent with
/// it (SCM_RIGHTS), from a socket in non-blocking mode. `Ok(None)` at end
/// of file; `WouldBlock` when nothing is there yet. The body is read after
/// with ordinary reads.
pub fn recv_header_with_fd(
    sock: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<Option<([u8; 4], Option<OwnedFd>)>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut header = [0u8; 4];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut header)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_WAITALL,
    )
    .map_err(std::io::Error::from)?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed this fd in our table for
                // us (SCM_RIGHTS); nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if fd.is_none() {
                    fd = Some(owned);
                }
            }
        }
    }
    let n = msg.bytes;
    if n == 0 {
        return Ok(None);
    }
    if n < 4 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "short frame header",
        ));
    }
    Ok(Some((header, fd)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Init, InitReport as Report};

    #[test]
    fn round_trip_and_eof() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (ChildChannel::<Init>::new(Channel::new(a)), Channel::new(b));
        a.report(&Report::Child { pid: 42 }).unwrap();
        assert_eq!(a.fail("mount", &SysError::Channel("x".into())), 1);
        drop(a);
        assert_eq!(b.recv::<Report>().unwrap(), Some(Report::Child { pid: 42 }));
        assert!(matches!(
            b.recv::<Report>().unwrap(),
            Some(Report::Error(ChildError { stage, .. })) if stage == "mount"
        ));
        assert_eq!(b.recv::<Report>().unwrap(), None);
    }

    #[test]
    fn a_descriptor_travels_with_its_message() {
        use std::io::Write as _;
        use std::os::fd::AsFd;
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = Channel::new(a);
        let (r, w) = nix::unistd::pipe().unwrap();
        a.send_with_fd(&Report::Terminal, w.as_fd()).unwrap();
        drop(w);
        let (header, fd) = recv_header_with_fd(b.as_fd()).unwrap().unwrap();
        let len = frame_len(header).unwrap();
        let mut body = vec![0u8; len];
        (&b).read_exact(&mut body).unwrap();
        assert_eq!(decode::<Report>(&body).unwrap(), Report::Terminal);
        let mut passed = std::fs::File::from(fd.expect("fd passed"));
        passed.write_all(b"x").unwrap();
        let mut got = [0u8; 1];
        std::fs::File::from(r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"x");
    }

    #[test]
    fn refuses_huge_frames() {
        assert!(frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
        assert_eq!(frame_len(5u32.to_be_bytes()).unwrap(), 5);
    }
}
