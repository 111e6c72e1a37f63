//! /proc and pidfd helpers: process start times (so a stored pid is never
//! confused with a reused one), pidfds, waiting and signalling through them.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use podshim_types::ProcessStamp;

use crate::error::SysError;

/// Field 22 of /proc/PID/stat: start time in clock ticks after boot.
pub fn start_time(pid: i32) -> Result<u64, SysError> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| SysError::io("read", &path, e))?;
    parse_start_time(&text).ok_or_else(|| SysError::Channel(format!("{path}: unexpected format")))
}

/// See [`ProcessStamp::parse_start_time`].
pub fn parse_start_time(stat: &str) -> Option<u64> {
    ProcessStamp::parse_start_time(stat)
}

/// The stamp of a live process.
pub fn stamp(pid: i32) -> Result<ProcessStamp, SysError> {
    Ok(ProcessStamp {
        pid,
        start_time: start_time(pid)?,
    })
}

/// True when the process the stamp names still exists (a zombie counts).
pub fn is_alive(s: &ProcessStamp) -> bool {
    s.is_alive()
}

/// Makes this process the reaper of orphans among its descendants, so a
/// container's pid 1 becomes our child when the `init` that forked it exits.
pub fn become_subreaper() -> Result<(), SysError> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| SysError::os("prctl", "PR_SET_CHILD_SUBREAPER", e))
}

/// Sets this process's name (what `ps -o comm`, top and /proc/PID/comm
/// show), which a re-exec through /proc/self/exe would leave as "exe".
pub fn set_name(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        let _ = nix::sys::prctl::set_name(&c);
    }
}

/// pidfd_open(2).
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, SysError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1;
    // no memory is shared with the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(SysError::os("pidfd_open", pid, Errno::last()));
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Opens a pidfd for the process a stamp names, checking the start time
/// after opening so that the pidfd cannot refer to a reused pid.
pub fn pidfd_for(s: &ProcessStamp) -> Result<OwnedFd, SysError> {
    let fd = pidfd_open(s.pid)?;
    if start_time(s.pid).ok() != Some(s.start_time) {
        return Err(SysError::os(
            "pidfd_open",
            format!("pid {} (reused)", s.pid),
            Errno::ESRCH,
        ));
    }
    Ok(fd)
}

/// `struct pidfd_info` (linux/pidfd.h, 6.15): what PIDFD_GET_INFO fills.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
    coredump_mask: u32,
    spare1: u32,
}

const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info); the kernel reads
/// the struct's size from the number (an extensible ioctl).
const PIDFD_GET_INFO: u64 =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as u64) << 16) | (0xFF << 8) | 11;

/// The exit code (128 + signal when killed) of a process that is not our
/// child, once whoever reaped it did (Linux 6.15's PIDFD_INFO_EXIT). None
/// while it runs or is not reaped, or on an older kernel.
pub fn foreign_exit_code(pidfd: &OwnedFd) -> Option<i32> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..Default::default()
    };
    // SAFETY: the pidfd is valid for the borrow; the kernel writes at most
    // size_of::<PidfdInfo>() bytes (the size encoded in the request) into
    // `info`, which lives until the call returns.
    let rc = unsafe {
        libc::ioctl(
            pidfd.as_raw_fd(),
            PIDFD_GET_INFO as libc::c_ulong,
            &mut info as *mut PidfdInfo,
        )
    };
    if rc != 0 || info.mask & PIDFD_INFO_EXIT == 0 {
        return None;
    }
    let status = info.exit_code;
    Some(if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    })
}

/// pidfd_getfd(2): a duplicate of descriptor `fd` of the process behind
/// `pidfd` (close-on-exec).
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> Result<OwnedFd, SysError> {
    // SAFETY: plain integers in, a new fd (or -1) out; no memory shared.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if rc < 0 {
        return Err(SysError::os("pidfd_getfd", fd, Errno::last()));
    }
    // SAFETY: the kernel just installed this fd for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// pidfd_send_signal(2). ESRCH (already gone) is reported as such.
pub fn pidfd_signal(pidfd: &OwnedFd, signal: i32) -> Result<(), SysError> {
    // SAFETY: the pidfd is valid for the lifetime of the borrow; a null
    // siginfo asks the kernel to fill it as kill(2) would.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(SysError::os("pidfd_send_signal", signal, Errno::last()));
    }
    Ok(())
}

/// Signals process group `pgid` (best effort: a group already gone is
/// fine). Call only while the group leader is known alive and unreaped, so
/// the id cannot name someone else's group.
pub fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        if let Ok(sig) = nix::sys::signal::Signal::try_from(signal) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), sig);
        }
    }
}

/// How a process ended, as a shell reports it: the exit code, or 128 plus
/// the signal that killed it.
pub fn exit_code_of(code: i32, killed_by: Option<i32>) -> i32 {
    match killed_by {
        Some(sig) => 128 + sig,
        None => code,
    }
}

/// Reaps the child behind `pidfd` if it has exited; `Ok(None)` if it still
/// runs. Only the process's own waiter calls this.
pub fn try_reap(pidfd: &OwnedFd) -> Result<Option<i32>, SysError> {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value and the
    // kernel fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes only into `info`, which lives across the call;
    // P_PIDFD takes the fd as the id.
    let rc = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    if rc < 0 {
        return Err(SysError::os(
            "waitid(P_PIDFD)",
            pidfd.as_raw_fd(),
            Errno::last(),
        ));
    }
    // SAFETY: for a WEXITED waitid the kernel fills si_pid and si_status;
    // si_pid == 0 means nothing was reaped (WNOHANG).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let killed = matches!(info.si_code, libc::CLD_KILLED | libc::CLD_DUMPED);
    Ok(Some(exit_code_of(status, killed.then_some(status))))
}

/// Pids of this process's children (every thread's), from /proc.
pub fn children_of_self() -> Vec<i32> {
    let mut out = Vec::new();
    for task in fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Whether `pid` has exited and waits to be reaped.
pub fn is_zombie(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    ProcessStamp::parse_state(&stat) == Some('Z')
}

/// Reaps child `pid` if it is a zombie; leaves a running one alone.
pub fn reap_if_zombie(pid: i32) {
    if is_zombie(pid) {
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}

/// Host pids of every process in session `sid` (a container without a pid
/// namespace of its own: its pid 1 leads a session).
pub fn pids_in_session(sid: i32) -> Vec<i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let after = &s[s.rfind(')')? + 1..];
                    // state ppid pgrp session
                    after.split_whitespace().nth(3)?.parse::<i32>().ok()
                })
                == Some(sid)
        })
        .collect()
}

/// The inode of namespace `kind` of a process (`/proc/PID/ns/KIND`).
pub fn ns_inode(pid: i32, kind: &str) -> Result<u64, SysError> {
    use std::os::unix::fs::MetadataExt;
    let path = format!("/proc/{pid}/ns/{kind}");
    fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|e| SysError::io("stat", path, e))
}

/// Every host pid whose pid namespace is `pid_ns_inode`, sorted.
pub fn pids_in_pid_ns(pid_ns_inode: u64) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| ns_inode(pid, "pid").ok() == Some(pid_ns_inode))
        .collect();
    pids.sort_unstable();
    pids
}

/// Makes the calling process non-dumpable: its /proc entries (exe, fds,
/// memory) then belong to root and need CAP_SYS_PTRACE to open, so a
/// container cannot reach the runtime binary through a pause, init or exec
/// process it can see (CVE-2019-5736). execve of the container's process
/// sets it back for that process.
pub fn set_undumpable() -> Result<(), SysError> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| SysError::os("prctl", "PR_SET_DUMPABLE", e))
}

/// The id of the mount an fd is on (`mnt_id` in /proc/self/fdinfo), as
/// /proc/self/mountinfo numbers mounts.
pub fn mount_id(fd: &impl std::os::fd::AsRawFd) -> Result<u64, SysError> {
    let p = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(&p).map_err(|e| SysError::io("read", &p, e))?;
    text.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| SysError::os("read", format!("{p}: no mnt_id"), nix::errno::Errno::EINVAL))
}

/// Gives the allocator's free memory back to the system (glibc's
/// malloc_trim), after a burst of buffers was freed.
pub fn trim_heap() {
    // SAFETY: malloc_trim takes a size and only walks the allocator's own
    // free lists; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stamp_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let s = stamp(me).unwrap();
        assert!(is_alive(&s));
        assert!(!is_alive(&ProcessStamp {
            pid: me,
            start_time: s.start_time + 1
        }));
    }

    #[test]
    #[allow(clippy::zombie_processes)] // reaped through the pidfd, which is the point
    fn reaps_through_a_pidfd_with_shell_exit_codes() {
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .spawn()
            .unwrap();
        let fd = pidfd_open(child.id() as i32).unwrap();
        let code = loop {
            if let Some(c) = try_reap(&fd).unwrap() {
                break c;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(code, 3);

        let child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let fd = pidfd_open(child.id() as i32).unwrap();
        pidfd_signal(&fd, libc::SIGKILL).unwrap();
        let code = loop {
            if let Some(c) = try_reap(&fd).unwrap() {
                break c;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(code, 137);
    }
}
