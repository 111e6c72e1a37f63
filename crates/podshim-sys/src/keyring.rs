//! The container's session keyring: as runc does unless told NoNewKeyring,
//! a container's pid 1 and its execs join a keyring named after the
//! container (`_ses.<id>`) instead of keeping the session keyring they
//! inherit from the shim (and so from containerd and whoever started it),
//! whose keys would otherwise be the container's to use. The new keyring
//! is made searchable by its owner (by anyone, in a user namespace, where
//! the owner is seen through a mapping).

use crate::error::SysError;

const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
#[cfg(feature = "probe")]
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
/// KEY_USR_SEARCH and KEY_OTH_SEARCH.
const USR_SEARCH: u32 = 0x0008_0000;
const OTH_SEARCH: u32 = 0x0000_0008;

/// The name of container `id`'s session keyring.
pub fn name_for(id: &str) -> String {
    format!("_ses.{id}")
}

/// How a process joins its container's session keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// The container's pid 1, which makes the keyring and makes it
    /// searchable (by others too, `in_user_ns`).
    Make { in_user_ns: bool },
    /// An exec, which joins the keyring pid 1 made and changes nothing.
    Existing,
}

/// Joins (making it if there is none) the session keyring `name`. A kernel
/// without keyrings (ENOSYS) is no error, as under runc.
pub fn join_session(name: &str, how: Join) -> Result<(), SysError> {
    let what = "session keyring";
    let cname = std::ffi::CString::new(name)
        .map_err(|_| SysError::spec("keyring", format!("{name:?} has a NUL byte")))?;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads the NUL-terminated name,
    // which outlives the call; it takes no other pointer.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            cname.as_ptr(),
        )
    };
    if serial < 0 {
        let errno = nix::errno::Errno::last();
        if errno == nix::errno::Errno::ENOSYS {
            return Ok(());
        }
        return Err(SysError::os("keyctl join", what, errno));
    }
    let Join::Make { in_user_ns } = how else {
        return Ok(());
    };
    let perm = describe_perm(serial).map_err(|e| SysError::os("keyctl describe", what, e))?;
    let add = if in_user_ns { OTH_SEARCH } else { USR_SEARCH };
    // SAFETY: keyctl(SETPERM) takes two integers, no pointer.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm | add) };
    if rc < 0 {
        return Err(SysError::os(
            "keyctl setperm",
            what,
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// The permission mask of key `serial` (hex, the fourth field).
fn describe_perm(serial: libc::c_long) -> Result<u32, nix::errno::Errno> {
    let text = describe(serial)?;
    text.split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or(nix::errno::Errno::EINVAL)
}

/// The description of the calling process's session keyring (for the test
/// program's view of a container): its name, the last field, which may
/// itself hold a `;`.
#[cfg(feature = "probe")]
pub fn session_description() -> Option<String> {
    let text = describe(KEY_SPEC_SESSION_KEYRING).ok()?;
    text.splitn(5, ';').nth(4).map(str::to_string)
}

/// keyctl(DESCRIBE): `type;uid;gid;perm;description`. A special id such
/// as KEY_SPEC_SESSION_KEYRING names the caller's keyring (the kernel
/// gives it a session keyring if it has none).
fn describe(key: libc::c_long) -> Result<String, nix::errno::Errno> {
    let mut buf = [0u8; 512];
    // SAFETY: keyctl(DESCRIBE) writes at most buf.len() bytes into buf,
    // which lives across the call, and returns the size it needed.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            key,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(nix::errno::Errno::last());
    }
    let text = String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]);
    Ok(text.trim_end_matches('\0').to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_runc() {
        assert_eq!(super::name_for("web"), "_ses.web");
    }
}
