//! The fork every re-executed child that enters a pid namespace does
//! (`init`, `exec`, a pause with a pid namespace): the parent reports the
//! child's host pid to the shim and exits; the child waits until that report
//! is sent, so its own reports always come after it.

use std::io::Read;

use nix::unistd::{fork, ForkResult};

use crate::channel::ChildChannel;
use crate::error::SysError;
use crate::msg::Conversation;

/// Which side of the fork this is.
pub enum Forked {
    /// The parent: exit with this code (its work is done).
    Parent(i32),
    /// The child: carry on.
    Child,
}

/// Forks; see the module doc.
pub fn fork_reporting_child<C: Conversation>(chan: &mut ChildChannel<C>) -> Forked {
    let what = C::NAME;
    let (gate_r, gate_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return Forked::Parent(chan.fail("fork", &SysError::os("pipe", what, e))),
    };
    // SAFETY: callers are fresh execs of our binary that never started a
    // thread, so the child may run arbitrary code after fork.
    match unsafe { fork() } {
        Err(e) => Forked::Parent(chan.fail("fork", &SysError::os("fork", what, e))),
        Ok(ForkResult::Parent { child }) => {
            let sent = chan.report(&C::forked(child.as_raw()));
            drop(gate_w);
            Forked::Parent(if sent.is_ok() { 0 } else { 2 })
        }
        Ok(ForkResult::Child) => {
            drop(gate_w);
            let _ = std::fs::File::from(gate_r).read(&mut [0u8; 1]);
            Forked::Child
        }
    }
}
