//! The binary every shim process runs from, sealed against the containers.
//! A container can reach the shim's children (an exec child is run as a
//! script's `#!/proc/self/exe` interpreter inside it; a shared pid
//! namespace shows the pause and a waiting init), and through
//! /proc/PID/exe it could open the binary they run. So `podshim start`
//! runs the shim daemon from a read-only view of its own binary: a detached
//! bind mount of it (open_tree, then mount_setattr read-only, nosuid,
//! nodev) that is in no mount table. Every child the daemon re-executes
//! through /proc/self/exe runs from that same view, so a write through any
//! /proc/PID/exe fails with EROFS and no path names the host's file. It
//! costs one mount object per shim, no copy. Where a detached mount cannot
//! be made, a sealed memfd copy (write, grow and shrink sealed) is used.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::SysError;

/// The running binary, as an fd that executes the sealed view of it
/// (exec it as `/proc/self/fd/N`, which [`exec_path`] names).
pub fn sealed_self() -> Result<OwnedFd, SysError> {
    match read_only_view() {
        Ok(fd) => Ok(fd),
        Err(_) => sealed_copy(),
    }
}

/// The path to execute an fd from [`sealed_self`] by.
pub fn exec_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn read_only_view() -> Result<OwnedFd, SysError> {
    let path = c"/proc/self/exe";
    // SAFETY: open_tree takes a NUL-terminated path that outlives the
    // call and returns a new fd or -1; it touches no memory of ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    let fd = Errno::result(fd).map_err(|e| SysError::os("open_tree", "/proc/self/exe", e))?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the fd is open, the empty path is NUL-terminated, and `attr`
    // is a valid mount_attr of the size passed; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(r)
        .map_err(|e| SysError::os("mount_setattr", "read-only view of the binary", e))?;
    Ok(fd)
}

fn sealed_copy() -> Result<OwnedFd, SysError> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let fd = memfd_create(
        c"podshim",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| SysError::os("memfd_create", "podshim", e))?;
    let mut copy = File::from(fd);
    let mut me =
        File::open("/proc/self/exe").map_err(|e| SysError::io("open", "/proc/self/exe", e))?;
    std::io::copy(&mut me, &mut copy).map_err(|e| SysError::io("copy", "/proc/self/exe", e))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
        .map_err(|e| SysError::os("seal", "memfd copy", e))?;
    Ok(OwnedFd::from(copy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sealed_binary_cannot_be_written() {
        // As root the read-only view, otherwise the memfd copy: either
        // way no write can land, and the content is the binary's.
        let fd = sealed_self().unwrap();
        let p = exec_path(&fd);
        let f = File::open(&p).unwrap();
        let read_only = nix::sys::statvfs::fstatvfs(&f)
            .unwrap()
            .flags()
            .contains(nix::sys::statvfs::FsFlags::ST_RDONLY);
        let sealed = nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS)
            .is_ok_and(|s| s & libc::F_SEAL_WRITE != 0);
        assert!(read_only || sealed, "{p} is writable");
        assert!(std::fs::OpenOptions::new().write(true).open(&p).is_err());
        let ours = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), ours);
    }
}
