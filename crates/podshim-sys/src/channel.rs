//! The parent<->child channel: a socketpair carrying length-prefixed JSON
//! (4-byte big-endian length, then the bytes). The blocking side used by the
//! children lives here; the shim reads the same frames with tokio.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use serde::{de::DeserializeOwned, Serialize};

use crate::error::SysError;

/// The fd number a re-executed child finds its channel on.
pub const CHILD_FD: RawFd = 3;

/// Largest frame accepted (a spec with many mounts is a few hundred KiB).
pub const MAX_FRAME: usize = 16 << 20;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Report;

    #[test]
    fn round_trip_and_eof() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Channel::new(a), Channel::new(b));
        a.send(&Report::Child { pid: 42 }).unwrap();
        a.send(&Report::Error {
            stage: "mount".into(),
            message: "x".into(),
        })
        .unwrap();
        drop(a);
        assert_eq!(b.recv::<Report>().unwrap(), Some(Report::Child { pid: 42 }));
        assert!(matches!(
            b.recv::<Report>().unwrap(),
            Some(Report::Error { .. })
        ));
        assert_eq!(b.recv::<Report>().unwrap(), None);
    }

    #[test]
    fn refuses_huge_frames() {
        assert!(frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
        assert_eq!(frame_len(5u32.to_be_bytes()).unwrap(), 5);
    }
}
