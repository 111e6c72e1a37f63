//! SysV shared memory, as podprobe uses it to show that a pod's containers
//! share one IPC namespace: a segment holding a short text.

use crate::error::SysError;

/// Size of the segments made here.
pub const SEGMENT_SIZE: usize = 4096;

/// Creates (or reuses) segment `key` and stores `text` in it, NUL-terminated.
pub fn write_text(key: i32, text: &str) -> Result<(), SysError> {
    if text.len() >= SEGMENT_SIZE {
        return Err(SysError::spec(
            "text",
            format!("longer than {} bytes", SEGMENT_SIZE - 1),
        ));
    }
    // SAFETY: shmget takes plain integers.
    let id = unsafe { libc::shmget(key, SEGMENT_SIZE, libc::IPC_CREAT | 0o666) };
    if id < 0 {
        return Err(SysError::os("shmget", key, nix::errno::Errno::last()));
    }
    // SAFETY: attaching a segment we just got; the kernel picks the address.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if addr as isize == -1 {
        return Err(SysError::os("shmat", key, nix::errno::Errno::last()));
    }
    // SAFETY: the segment is SEGMENT_SIZE bytes, text plus its NUL fits
    // (checked above), and the mapping stays attached until shmdt.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), addr as *mut u8, text.len());
        *(addr as *mut u8).add(text.len()) = 0;
        libc::shmdt(addr);
    }
    Ok(())
}

/// Reads the text of segment `key`; `Ok(None)` when there is no such segment.
pub fn read_text(key: i32) -> Result<Option<String>, SysError> {
    // SAFETY: shmget takes plain integers; without IPC_CREAT it only looks.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id < 0 {
        return match nix::errno::Errno::last() {
            nix::errno::Errno::ENOENT => Ok(None),
            e => Err(SysError::os("shmget", key, e)),
        };
    }
    let mut ds = std::mem::MaybeUninit::<libc::shmid_ds>::zeroed();
    // SAFETY: IPC_STAT writes one shmid_ds into the buffer, which outlives the call.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, ds.as_mut_ptr()) } < 0 {
        return Err(SysError::os(
            "shmctl(IPC_STAT)",
            key,
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: initialised by IPC_STAT above.
    let size = unsafe { ds.assume_init() }.shm_segsz;
    // SAFETY: attaching read-only; the kernel picks the address.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        return Err(SysError::os("shmat", key, nix::errno::Errno::last()));
    }
    // SAFETY: the mapping is `size` bytes long and stays attached until
    // shmdt below; the slice is not used after that.
    let text = unsafe {
        let bytes = std::slice::from_raw_parts(addr as *const u8, size);
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(size);
        let t = String::from_utf8_lossy(&bytes[..end]).into_owned();
        libc::shmdt(addr);
        t
    };
    Ok(Some(text))
}
