//! File descriptor hygiene: close-on-exec flags, so no fd of the shim
//! reaches a container process.

use std::os::fd::RawFd;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use crate::error::SysError;

pub fn set_cloexec(fd: RawFd) -> Result<(), SysError> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(drop)
        .map_err(|e| SysError::os("fcntl(FD_CLOEXEC)", fd, e))
}

/// Marks every fd from `first` upwards close-on-exec (close_range, Linux
/// 5.11+), so whatever the process inherited is gone after execve.
pub fn cloexec_from(first: RawFd) -> Result<(), SysError> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags;
    // it takes plain integers and touches no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(SysError::os(
            "close_range",
            first,
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Takes ownership of an fd this process inherited at a fixed number (the
/// shim daemon's listening socket), after checking that it is open, and
/// marks it close-on-exec.
pub fn take_inherited(fd: RawFd) -> Result<std::os::fd::OwnedFd, SysError> {
    use std::os::fd::FromRawFd;
    set_cloexec(fd)?;
    // SAFETY: fcntl above proved the fd is open; it was placed here by our
    // parent for this process alone and nothing else in it owns the fd.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Opens `name` relative to the directory `dir` (openat), close-on-exec.
pub fn open_in(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
    flags: nix::fcntl::OFlag,
) -> Result<std::os::fd::OwnedFd, nix::errno::Errno> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: openat just returned this fd; nothing else in the process
    // knows it, so the OwnedFd is its only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
