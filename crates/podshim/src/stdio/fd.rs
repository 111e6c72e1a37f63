//! Non-blocking descriptors on the shim's runtime: registering one, and
//! reading and writing it without ever blocking the shim's one thread.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;

use crate::error::{Result, ShimError};

/// A non-blocking fd registered with the runtime.
pub fn async_fd(fd: OwnedFd) -> Result<Arc<AsyncFd<OwnedFd>>> {
    podshim_sys::tty::set_nonblocking(fd.as_fd())?;
    // The safe constructor is deprecated because a borrowed raw fd could be
    // closed while registered; an OwnedFd moved in cannot be.
    #[allow(deprecated)]
    let fd =
        AsyncFd::new(fd).map_err(|e| ShimError::Internal(format!("poll registration: {e}")))?;
    Ok(Arc::new(fd))
}

pub async fn read(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| {
            nix::unistd::read(inner.get_ref().as_raw_fd(), buf).map_err(std::io::Error::from)
        }) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

pub async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard
            .try_io(|inner| nix::unistd::write(inner.get_ref(), data).map_err(std::io::Error::from))
        {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}
