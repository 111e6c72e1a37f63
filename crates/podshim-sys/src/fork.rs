//! The fork every re-executed child that enters a pid namespace does
//! (`init`, `exec`, a pause with a pid namespace): the parent reports the
//! child's host pid to the shim and exits; the child waits until that report
//! is sent, so its own reports always come after it. Given a cgroup v2
//! directory, the child is forked straight into it (clone3 with
//! CLONE_INTO_CGROUP), or, on a kernel without clone3, moves itself there.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::{fork, ForkResult, Pid};

use crate::channel::ChildChannel;
use crate::error::SysError;
use crate::msg::Forks;

/// Which side of the fork this is.
pub enum Forked {
    /// The parent: exit with this code (its work is done).
    Parent(i32),
    /// The child: carry on.
    Child,
}

/// Forks; see the module doc. `into`: the cgroup v2 directory the child
/// starts in.
pub fn fork_reporting_child<C: Forks>(
    chan: &mut ChildChannel<C>,
    into: Option<BorrowedFd<'_>>,
) -> Forked {
    let what = C::NAME;
    let (gate_r, gate_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return Forked::Parent(chan.fail("fork", &SysError::os("pipe", what, e))),
    };
    match fork_into(into) {
        Err(e) => Forked::Parent(chan.fail("fork", &SysError::os("fork", what, e))),
        Ok((ForkResult::Parent { child }, _)) => {
            let sent = chan.report(&C::forked(child.as_raw()));
            drop(gate_w);
            Forked::Parent(if sent.is_ok() { 0 } else { 2 })
        }
        Ok((ForkResult::Child, moved)) => {
            drop(gate_w);
            let _ = std::fs::File::from(gate_r).read(&mut [0u8; 1]);
            if let (Some(dir), false) = (into, moved) {
                if let Err(e) = crate::cgroup::place::join_by_fd(dir) {
                    return Forked::Parent(chan.fail("cgroup", &e));
                }
            }
            Forked::Child
        }
    }
}

/// clone3's argument block (linux/sched.h, CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// fork(), the child in cgroup v2 directory `into` when given: true when
/// the fork put it there, false when the child must move itself.
fn fork_into(into: Option<BorrowedFd<'_>>) -> Result<(ForkResult, bool), Errno> {
    let Some(dir) = into else {
        // SAFETY: callers are fresh execs of our binary that never started
        // a thread, so the child may run arbitrary code after fork.
        return unsafe { fork() }.map(|r| (r, false));
    };
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM is fork with arguments: it reads the
    // block above (alive across the call, its size passed) and gives the
    // child a copy of this single-threaded process, as fork does. Unlike
    // glibc's fork it leaves the thread descriptor's cached tid at the
    // parent's, which only raise()/pthread_kill(self) read: our children
    // signal themselves with kill(getpid()) or not at all.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match rc {
        0 => Ok((ForkResult::Child, true)),
        pid if pid > 0 => Ok((
            ForkResult::Parent {
                child: Pid::from_raw(pid as i32),
            },
            true,
        )),
        _ => match Errno::last() {
            // No clone3 (before 5.3) or no CLONE_INTO_CGROUP (before 5.7),
            // or a directory the fork will not enter: fork, and the child
            // moves itself (a write says what is wrong, if anything is).
            Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL | Errno::EOPNOTSUPP => {
                // SAFETY: as for fork above.
                unsafe { fork() }.map(|r| (r, false))
            }
            e => Err(e),
        },
    }
}
