//! One spec mount, made inside the rootfs: its destination resolved (and
//! made) through [`Root`], the mount made onto that fd (`/proc/self/fd/N`),
//! then checked to be where the destination resolves now; a bind's extra
//! flags and a propagation change are applied to the new mount's root.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

use super::inroot::{fd_path, Kind, Root};
use super::options::parse_options;
use crate::error::SysError;

/// `own_cgroup_ns`: the container has a cgroup namespace of its own.
pub fn mount_one(
    m: &Mount,
    root: &Root,
    bundle: &Path,
    own_cgroup_ns: bool,
) -> Result<(), SysError> {
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(SysError::spec(
            "mounts.destination",
            format!("{} is not absolute", dest.display()),
        ));
    }
    let typ = m.typ().clone().unwrap_or_default();
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let is_bind = opts.bind || typ == "bind";
    let what = format!("{} on {}", typ, dest.display());

    if typ == "cgroup" {
        let source = m
            .source()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cgroup".into());
        return super::cgroupfs::mount(root, dest, &source, &opts, own_cgroup_ns);
    }
    let mounted = if is_bind {
        let src = m.source().clone().ok_or_else(|| {
            SysError::spec(
                "mounts.source",
                format!("bind mount {} has no source", dest.display()),
            )
        })?;
        let src = if src.is_absolute() {
            src
        } else {
            bundle.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| SysError::io("bind source", &src, e))?;
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let base = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        let new = mount_at(root, dest, kind, |target| {
            mount(Some(&src), target, None::<&str>, base, None::<&str>).map_err(|e| {
                SysError::os(
                    "bind mount",
                    format!("{} on {}", src.display(), dest.display()),
                    e,
                )
            })
        })?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            let target = fd_path(&new);
            // In a user namespace the flags the source had are locked: a
            // remount must keep them.
            let locked = if crate::userns::in_user_namespace() {
                super::mount_flags_of(&target)?
            } else {
                MsFlags::empty()
            };
            mount(
                None::<&str>,
                &target,
                None::<&str>,
                extra | locked | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(|e| SysError::os("remount", &what, e))?;
        }
        new
    } else {
        let (fstype, data) = match typ.as_str() {
            // A cgroup2 view (pure v2 hosts) is not built yet: an empty
            // read-only directory, never the host's hierarchy.
            "cgroup2" => ("tmpfs".to_string(), "mode=755".to_string()),
            "" => {
                return Err(SysError::spec(
                    "mounts.type",
                    format!("mount on {} has no type", dest.display()),
                ))
            }
            t => (t.to_string(), opts.data.join(",")),
        };
        let flags = if fstype == "tmpfs" && typ == "cgroup2" {
            opts.flags | MsFlags::MS_RDONLY
        } else {
            opts.flags
        };
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&fstype));
        let in_userns = crate::userns::in_user_namespace();
        let mut sys_bound = false;
        let new = mount_at(root, dest, Kind::Dir, |target| {
            let r = mount(
                Some(&source),
                target,
                Some(fstype.as_str()),
                flags,
                (!data.is_empty()).then_some(data.as_str()),
            );
            match r {
                // sysfs needs a network namespace of the user namespace's
                // own; in one that joined the host's, the host's /sys is
                // bound read-only instead, as runc does.
                Err(Errno::EPERM) if fstype == "sysfs" && in_userns => {
                    sys_bound = true;
                    mount(
                        Some("/sys"),
                        target,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    )
                    .map_err(|e| SysError::os("bind /sys", &what, e))
                }
                Err(Errno::EPERM) if fstype == "mqueue" && in_userns => Err(SysError::spec(
                    "mounts",
                    format!(
                        "{what}: mqueue needs an IPC namespace of the container's user \
                         namespace (give the pod the user namespace)"
                    ),
                )),
                r => r.map_err(|e| SysError::os("mount", &what, e)),
            }
        })?;
        if sys_bound {
            let target = fd_path(&new);
            let locked = super::mount_flags_of(&target)?;
            mount(
                None::<&str>,
                &target,
                None::<&str>,
                locked
                    | MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| SysError::os("remount /sys read-only", &what, e))?;
        }
        new
    };
    if opts.recursive_set != 0 || opts.recursive_clear != 0 {
        set_recursive(&mounted, opts.recursive_set, opts.recursive_clear)
            .map_err(|e| SysError::os("mount_setattr", &what, e))?;
    }
    if !opts.propagation.is_empty() {
        mount(
            None::<&str>,
            &fd_path(&mounted),
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )
        .map_err(|e| SysError::os("set propagation", &what, e))?;
    }
    Ok(())
}

/// Sets and clears mount attributes on the mount `root` is the root of and
/// every mount below it (mount_setattr, AT_RECURSIVE): `rro` makes a
/// volume read-only with its submounts, which a bind remount cannot.
fn set_recursive(root: &std::os::fd::OwnedFd, set: u64, clear: u64) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the fd is open, the empty path is NUL-terminated, and `attr`
    // is a valid mount_attr of the size passed; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            root.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// Resolves (and makes) `dest` inside the root, runs `mount` on the fd's
/// path, and checks the mount is where `dest` resolves now; the new mount's
/// root.
fn mount_at(
    root: &Root,
    dest: &Path,
    kind: Kind,
    mount: impl FnOnce(&Path) -> Result<(), SysError>,
) -> Result<std::os::fd::OwnedFd, SysError> {
    let at = root.make(dest, kind)?;
    let real = root.inside(&at, dest)?;
    mount(&fd_path(&at))?;
    root.check_mounted(dest, &at, &real)
}
