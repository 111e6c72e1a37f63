//! Pseudo-terminals made inside a container: the pair is opened from the
//! container's own /dev/ptmx (its devpts), the slave becomes the process's
//! controlling terminal and stdio, the master goes to the shim.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

use crate::error::SysError;

/// A master/slave pair.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a new pseudo-terminal in the current mount namespace.
pub fn open_pty() -> Result<Pty, SysError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| SysError::os("open", "/dev/ptmx", e))?;
    grantpt(&master).map_err(|e| SysError::os("grantpt", "/dev/ptmx", e))?;
    unlockpt(&master).map_err(|e| SysError::os("unlockpt", "/dev/ptmx", e))?;
    let name = ptsname_r(&master).map_err(|e| SysError::os("ptsname", "/dev/ptmx", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SysError::os("open", &name, e))?;
    // SAFETY: open returned a fresh fd that nothing else owns.
    let slave = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
    // SAFETY: the PtyMaster owns its fd; into_raw_fd hands that ownership over.
    let master = unsafe {
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(
            master,
        ))
    };
    Ok(Pty { master, slave })
}

/// Makes `slave` the controlling terminal of this session leader and its
/// stdin, stdout and stderr.
pub fn become_terminal_stdio(slave: OwnedFd) -> Result<(), SysError> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal); the fd is
    // valid for the duration of the call.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(SysError::os(
            "ioctl(TIOCSCTTY)",
            "pty",
            nix::errno::Errno::last(),
        ));
    }
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard fds, which this process owns;
        // the new fds do not carry close-on-exec.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(SysError::os("dup2", target, nix::errno::Errno::last()));
        }
    }
    Ok(())
}

/// Opens a pty in the current mount namespace, sizes it as the process's
/// `consoleSize` asks (so the size is right before the process runs), sends
/// its master to the shim (the conversation's terminal report, with the fd)
/// and makes the slave this session leader's terminal and stdio.
pub fn give_terminal<C: crate::msg::GivesTerminal>(
    chan: &mut crate::channel::ChildChannel<C>,
    process: Option<&oci_spec::runtime::Process>,
) -> Result<(), SysError> {
    let pty = open_pty()?;
    if let Some(size) = process.and_then(|p| p.console_size()) {
        let rows = u16::try_from(size.height()).unwrap_or(u16::MAX);
        let cols = u16::try_from(size.width()).unwrap_or(u16::MAX);
        if rows > 0 && cols > 0 {
            set_window_size(pty.master.as_fd(), rows, cols)?;
        }
    }
    chan.give_terminal(pty.master.as_fd())?;
    drop(pty.master);
    become_terminal_stdio(pty.slave)
}

/// Sets the window size of the terminal behind `master`.
pub fn set_window_size(master: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), SysError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives
    // the call.
    if unsafe { libc::ioctl(master.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(SysError::os(
            "ioctl(TIOCSWINSZ)",
            "pty",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// The window size (rows, columns) of the terminal `fd` is, if it is one.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the pointer, which outlives
    // the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Puts an fd in non-blocking mode (for the shim's copy loops).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), SysError> {
    use nix::fcntl::{fcntl, FcntlArg};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)
        .map_err(|e| SysError::os("fcntl", "F_GETFL", e))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map_err(|e| SysError::os("fcntl", "F_SETFL", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_size_is_set_on_the_pair() {
        let pty = open_pty().unwrap();
        set_window_size(pty.master.as_fd(), 33, 111).unwrap();
        let mut ws: libc::winsize = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
        let rc = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        assert_eq!(rc, 0);
        assert_eq!((ws.ws_row, ws.ws_col), (33, 111));
    }
}
