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

/// A non-blocking fd that becomes readable on every OOM of the cgroup: a
/// v1 eventfd, or on v2 an inotify watch on `memory.events` (the kernel
/// notifies the file when a count in it changes). `None` where the host
/// has no memory controller.
pub fn watch(cg: &TaskCgroup) -> Result<Option<OwnedFd>, SysError> {
    let Some(dir) = cg.memory_dir() else {
        return Ok(None);
    };
    if cg.v2() {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let events = dir.join("memory.events");
        let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| SysError::os("inotify_init", "oom", e))?;
        ino.add_watch(&events, AddWatchFlags::IN_MODIFY)
            .map_err(|e| SysError::os("inotify_add_watch", events.display(), e))?;
        // The instance lives while any fd of it is open: keep a dup.
        let fd = std::os::fd::AsFd::as_fd(&ino)
            .try_clone_to_owned()
            .map_err(|e| SysError::io("dup inotify fd", &events, e))?;
        return Ok(Some(fd));
    }
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

/// Consumes what the fd from [`watch`] has to say (the eventfd's counter,
/// or the queued inotify events); true when it had fired.
pub fn drain(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 512];
    let mut fired = false;
    while let Ok(n) = nix::unistd::read(fd.as_raw_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        fired = true;
    }
    fired
}
