//! User namespaces. A process that makes one cannot map it itself (beyond
//! its own id), so it asks the shim, which writes `/proc/PID/uid_map` and
//! `gid_map` from the parent namespace, then it becomes root inside.
//! Namespaces made after that belong to the new user namespace, so its
//! root may mount proc, sysfs and mqueue there.

use oci_spec::runtime::LinuxIdMapping;

use crate::error::SysError;

/// `uid_map` / `gid_map` text for OCI mappings: one "inside outside size"
/// line each.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes the maps of the user namespace `pid` is in (the shim does this,
/// from the parent namespace).
pub fn write_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<(), SysError> {
    for (file, text, field) in [
        ("uid_map", uid_map, "linux.uidMappings"),
        ("gid_map", gid_map, "linux.gidMappings"),
    ] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::EPERM) => {
                SysError::spec(field, format!("the kernel refused {:?}: {e}", text.trim()))
            }
            _ => SysError::io("write", &path, e),
        })?;
    }
    Ok(())
}

/// Root of the user namespace the process is now in: no supplementary
/// groups from outside, uid and gid 0.
pub fn become_root() -> Result<(), SysError> {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    // Refused when setgroups is denied in this namespace; nothing to drop then.
    let _ = setgroups(&[]);
    let not_mapped = |what: &str, e| match e {
        nix::errno::Errno::EINVAL => SysError::spec(
            "linux.uidMappings",
            format!("{what} 0 is not mapped in the user namespace"),
        ),
        e => SysError::os("become root in the user namespace", what, e),
    };
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(|e| not_mapped("gid", e))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(|e| not_mapped("uid", e))
}

/// Whether the calling process is in a user namespace other than the
/// initial one (whose uid_map maps everything to itself).
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}
