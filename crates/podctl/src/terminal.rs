//! The caller's terminal for `exec -t` and `attach`: raw mode while a
//! container's terminal is in use (restored on drop), its size (sent to the
//! shim at start and on every SIGWINCH), and non-blocking reads.

use std::io::Write;
use std::os::fd::AsFd;

use nix::sys::termios::{self, SetArg, Termios};

use crate::shim::Shim;

/// Sends our terminal's size now and on every SIGWINCH.
pub fn follow_window_size(address: &str, task: &str, exec_id: &str) {
    let Ok(s) = Shim::connect(address) else {
        return;
    };
    let send = |s: &Shim, task: &str, exec_id: &str| {
        if let Some((rows, cols)) = window_size() {
            let _ = s.resize(task, exec_id, rows, cols);
        }
    };
    send(&s, task, exec_id);
    let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGWINCH]) else {
        return;
    };
    let (task, exec_id) = (task.to_string(), exec_id.to_string());
    std::thread::spawn(move || {
        for _ in signals.forever() {
            send(&s, &task, &exec_id);
        }
    });
}

/// Our terminal in raw mode, restored on drop.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    pub fn enter() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Puts a descriptor in non-blocking mode.
pub fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// The caller's terminal size as (rows, columns), when stdin is one.
pub fn window_size() -> Option<(u16, u16)> {
    let (terminal_size::Width(cols), terminal_size::Height(rows)) =
        terminal_size::terminal_size_of(std::io::stdin())?;
    (rows > 0).then_some((rows, cols))
}
