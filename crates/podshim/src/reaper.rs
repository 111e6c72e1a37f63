//! Waiting for a child through its own pidfd. The shim is a child
//! subreaper and every process it waits for has exactly one waiter here;
//! there is no catch-all waitpid(-1).

use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;

use crate::error::{Result, ShimError};

/// Resolves when the process behind `pidfd` has exited, reaping it and
/// giving its exit code (128 + signal when killed).
pub async fn wait_exit(pidfd: OwnedFd) -> Result<i32> {
    // The safe constructor is deprecated because a borrowed raw fd could be
    // closed while registered; an OwnedFd moved in cannot be, and the
    // replacement (`register`) is an unsafe fn we keep out of this crate.
    #[allow(deprecated)]
    let afd = AsyncFd::new(pidfd).map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
    loop {
        if let Some(code) = podshim_sys::proc::try_reap(afd.get_ref())? {
            return Ok(code);
        }
        let mut guard = afd
            .readable()
            .await
            .map_err(|e| ShimError::Internal(format!("watch pidfd: {e}")))?;
        guard.clear_ready();
    }
}
