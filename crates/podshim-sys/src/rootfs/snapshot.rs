//! containerd's rootfs mounts (a snapshot: an overlay, a bind of a
//! directory) mounted onto a container's `root.path`. Done in a mount
//! namespace of the container's own (its init) or of a restore's (the
//! `podshim criu` child), never in the host's: the mounts vanish with the
//! namespace that holds them.

use std::fs;
use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::parse_options;
use crate::error::SysError;
use crate::msg::RootfsMount;

/// Makes this mount namespace's `/` rslave: nothing mounted here reaches
/// the host's mount table, what the host mounts later still arrives.
pub fn make_root_rslave() -> Result<(), SysError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("make / ", "rslave", e))
}

/// Mounts `mounts`, in order, onto `rootfs` (made if missing).
pub fn mount_snapshot(rootfs: &Path, mounts: &[RootfsMount]) -> Result<(), SysError> {
    fs::create_dir_all(rootfs).map_err(|e| SysError::io("mkdir", rootfs, e))?;
    for m in mounts {
        let o = parse_options(&m.options);
        let data = o.data.join(",");
        let fstype = (!m.typ.is_empty() && m.typ != "bind").then_some(m.typ.as_str());
        mount(
            Some(m.source.as_str()),
            rootfs,
            fstype,
            o.flags,
            (!data.is_empty()).then_some(data.as_str()),
        )
        .map_err(|e| {
            SysError::os(
                "mount rootfs",
                format!("{} {} on {}", m.typ, m.source, rootfs.display()),
                e,
            )
        })?;
    }
    Ok(())
}
