//! The loopback interface of a new network namespace starts down; the pause
//! brings it up with SIOCSIFFLAGS.

use std::os::fd::AsRawFd;

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::error::SysError;

/// Sets IFF_UP on `lo` in the current network namespace.
pub fn loopback_up() -> Result<(), SysError> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| SysError::os("socket", "AF_INET for ioctl", e))?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from `req` and writes the flags
    // into it; `req` outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(SysError::os(
            "ioctl(SIOCGIFFLAGS)",
            "lo",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: after SIOCGIFFLAGS the union holds ifru_flags.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above, with the flags to set.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(SysError::os(
            "ioctl(SIOCSIFFLAGS)",
            "lo",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}
