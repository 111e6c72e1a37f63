//! OOM notification. On a v1 memory controller the kernel signals an
//! eventfd registered through `cgroup.event_control` each time the cgroup
//! hits its limit; on v2 the shim watches `memory.events` (its `oom_kill`
//! count) instead, and on both the count is read once more at exit, before
//! the cgroup is removed, so no kill goes unreported.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::TaskCgroup;
use crate::error::SysError;

/// A non-blocking eventfd that becomes readable on every OOM of the
/// cgroup (v1), or `None` where the host has no such notification (v2, or
/// no memory controller).
pub fn v1_eventfd(cg: &TaskCgroup) -> Result<Option<OwnedFd>, SysError> {
    if cg.v2() {
        return Ok(None);
    }
    let Some(dir) = cg.memory_dir() else {
        return Ok(None);
    };
    let control = dir.join("memory.oom_control");
    let watched = std::fs::File::open(&control).map_err(|e| SysError::io("open", &control, e))?;
    let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
        .map_err(|e| SysError::os("eventfd", "oom", e))?;
    let reg = dir.join("cgroup.event_control");
    let line = format!("{} {}", efd.as_raw_fd(), watched.as_raw_fd());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&reg)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| SysError::io("register oom event", &reg, e))?;
    Ok(Some(OwnedFd::from(efd)))
}

/// Consumes the eventfd's counter; true when it had fired.
pub fn drain(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 8];
    matches!(nix::unistd::read(fd.as_raw_fd(), &mut buf), Ok(8))
}
