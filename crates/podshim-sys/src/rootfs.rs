//! The container's filesystem view, built inside its fresh mount namespace:
//! the spec's mounts (destinations resolved inside the rootfs, even through
//! symlinks), the default /dev nodes, pivot_root, masked and read-only
//! paths, a read-only root.

use std::fs;
use std::os::unix::fs::{symlink, DirBuilderExt, FileTypeExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::error::SysError;

/// Most symlinks followed while resolving one path (as the kernel's 40,
/// with room for long chains in images).
const MAX_SYMLINKS: usize = 255;

/// Resolves `unsafe_path` as if `root` were `/`: `..` stops at the root
/// and absolute symlinks restart from it, so the result never leaves
/// `root`. Missing components are kept as they are.
pub fn resolve_in_root(root: &Path, unsafe_path: &Path) -> Result<PathBuf, SysError> {
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = components_rev(unsafe_path);
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            done.pop();
            continue;
        }
        if comp == "." || comp.is_empty() {
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&done);
        candidate.push(&comp);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(SysError::spec(
                        "mounts",
                        format!(
                            "{}: too many levels of symbolic links",
                            unsafe_path.display()
                        ),
                    ));
                }
                let target = fs::read_link(&candidate)
                    .map_err(|e| SysError::io("readlink", &candidate, e))?;
                if target.is_absolute() {
                    done.clear();
                }
                todo.extend(components_rev(&target));
            }
            _ => done.push(comp),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&done);
    Ok(out)
}

fn components_rev(p: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

/// Mount options split into what mount(2) takes.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    pub propagation: MsFlags,
    pub data: Vec<String>,
    pub bind: bool,
}

/// Splits OCI mount options into flags, propagation and fs data.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
        bind: false,
    };
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty())
            }
            "rbind" => {
                o.bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            "private" => {
                o.propagation |= MsFlags::MS_PRIVATE;
                continue;
            }
            "rprivate" => {
                o.propagation |= MsFlags::MS_PRIVATE | MsFlags::MS_REC;
                continue;
            }
            "shared" => {
                o.propagation |= MsFlags::MS_SHARED;
                continue;
            }
            "rshared" => {
                o.propagation |= MsFlags::MS_SHARED | MsFlags::MS_REC;
                continue;
            }
            "slave" => {
                o.propagation |= MsFlags::MS_SLAVE;
                continue;
            }
            "rslave" => {
                o.propagation |= MsFlags::MS_SLAVE | MsFlags::MS_REC;
                continue;
            }
            "unbindable" => {
                o.propagation |= MsFlags::MS_UNBINDABLE;
                continue;
            }
            "runbindable" => {
                o.propagation |= MsFlags::MS_UNBINDABLE | MsFlags::MS_REC;
                continue;
            }
            other => {
                o.data.push(other.to_string());
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o
}

/// The rootfs directory of a spec, absolute.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, SysError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SysError::spec("root", "missing"))?;
    let p = root.path();
    Ok(if p.is_absolute() {
        p.clone()
    } else {
        bundle.join(p)
    })
}

/// A rootfs that is (or links to) the host's `/` would hand the container
/// the host: refused.
pub fn refuse_host_root(rootfs: &Path) -> Result<(), SysError> {
    let real = fs::canonicalize(rootfs).map_err(|e| SysError::io("rootfs", rootfs, e))?;
    if real == Path::new("/") {
        return Err(SysError::spec(
            "root.path",
            format!("{} resolves to the host's /", rootfs.display()),
        ));
    }
    Ok(())
}

/// Builds the container's filesystem and pivots into it. Runs in the
/// container's pid 1, in its own mount namespace. `before_pivot` runs when
/// everything is mounted, just before pivot_root (the createContainer
/// hooks).
pub fn prepare(
    spec: &Spec,
    bundle: &Path,
    rootfs_mounts: &[crate::msg::RootfsMount],
    before_pivot: &dyn Fn() -> Result<(), SysError>,
) -> Result<(), SysError> {
    let rootfs = rootfs_path(spec, bundle)?;
    if !rootfs_mounts.is_empty() {
        // Nothing of ours may reach the host's mount table.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| SysError::os("make / ", "rslave", e))?;
        fs::create_dir_all(&rootfs).map_err(|e| SysError::io("mkdir", &rootfs, e))?;
        for m in rootfs_mounts {
            let o = parse_options(&m.options);
            let data = o.data.join(",");
            let fstype = (!m.typ.is_empty() && m.typ != "bind").then_some(m.typ.as_str());
            mount(
                Some(m.source.as_str()),
                &rootfs,
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
    }
    refuse_host_root(&rootfs)?;
    let rootfs = fs::canonicalize(&rootfs).map_err(|e| SysError::io("rootfs", &rootfs, e))?;
    if !rootfs.is_dir() {
        return Err(SysError::spec(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    // Nothing we mount may propagate back to the host.
    let propagation = match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    {
        Some(p) => {
            let o = parse_options(std::slice::from_ref(&p));
            if o.propagation.is_empty() {
                return Err(SysError::spec(
                    "linux.rootfsPropagation",
                    format!("unknown value {p:?}"),
                ));
            }
            o.propagation
        }
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .map_err(|e| SysError::os("make / ", "propagation", e))?;
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("bind mount rootfs", rootfs.display(), e))?;

    let mut has_devpts = false;
    for m in spec.mounts().iter().flatten() {
        mount_one(m, &rootfs, bundle)?;
        has_devpts |= m.typ().as_deref() == Some("devpts");
    }
    create_default_devices(&rootfs, has_devpts)?;
    if let Some(devs) = spec.linux().as_ref().and_then(|l| l.devices().clone()) {
        for d in &devs {
            create_device(&rootfs, d)?;
        }
    }

    before_pivot()?;
    pivot(&rootfs)?;

    // A missing working directory is made, as runc does; inside the new
    // root, so no part of it can resolve outside.
    if let Some(cwd) = spec.process().as_ref().map(|p| p.cwd()) {
        if cwd.is_absolute() && !cwd.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(cwd)
                .map_err(|e| SysError::io("create process.cwd", cwd, e))?;
        }
    }

    Ok(())
}

/// After hostname and sysctls: read-only and masked paths, then a
/// read-only root, in runc's order (so the mount tables match).
pub fn finalize(spec: &Spec) -> Result<(), SysError> {
    if let Some(linux) = spec.linux() {
        for p in linux.readonly_paths().iter().flatten() {
            readonly_path(p)?;
        }
        for p in linux.masked_paths().iter().flatten() {
            mask_path(p)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let locked = if crate::userns::in_user_namespace() {
            mount_flags_of("/")?
        } else {
            MsFlags::empty()
        };
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            locked | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| SysError::os("remount / read-only", "/", e))?;
    }
    Ok(())
}

fn mount_one(m: &Mount, rootfs: &Path, bundle: &Path) -> Result<(), SysError> {
    let dest_rel = m.destination();
    if !dest_rel.is_absolute() {
        return Err(SysError::spec(
            "mounts.destination",
            format!("{} is not absolute", dest_rel.display()),
        ));
    }
    let dest = resolve_in_root(rootfs, dest_rel)?;
    let typ = m.typ().clone().unwrap_or_default();
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let is_bind = opts.bind || typ == "bind";
    let what = format!("{} on {}", typ, dest_rel.display());

    if is_bind {
        let src = m.source().clone().ok_or_else(|| {
            SysError::spec(
                "mounts.source",
                format!("bind mount {} has no source", dest_rel.display()),
            )
        })?;
        let src = if src.is_absolute() {
            src
        } else {
            bundle.join(src)
        };
        let meta = fs::metadata(&src).map_err(|e| SysError::io("bind source", &src, e))?;
        make_mount_point(&dest, meta.is_dir())?;
        let base = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mount(Some(&src), &dest, None::<&str>, base, None::<&str>).map_err(|e| {
            SysError::os(
                "bind mount",
                format!("{} on {}", src.display(), dest_rel.display()),
                e,
            )
        })?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            // In a user namespace the flags the source had are locked: a
            // remount must keep them.
            let locked = if crate::userns::in_user_namespace() {
                mount_flags_of(&dest.to_string_lossy())?
            } else {
                MsFlags::empty()
            };
            mount(
                None::<&str>,
                &dest,
                None::<&str>,
                extra | locked | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(|e| SysError::os("remount", &what, e))?;
        }
    } else {
        make_mount_point(&dest, true)?;
        let (fstype, data) = match typ.as_str() {
            // The container's own cgroup view arrives with cgroup support;
            // until then it gets an empty read-only directory, never the
            // host's hierarchy.
            "cgroup" | "cgroup2" => ("tmpfs".to_string(), "mode=755".to_string()),
            "" => {
                return Err(SysError::spec(
                    "mounts.type",
                    format!("mount on {} has no type", dest_rel.display()),
                ))
            }
            t => (t.to_string(), opts.data.join(",")),
        };
        let flags = if fstype == "tmpfs" && (typ == "cgroup" || typ == "cgroup2") {
            opts.flags | MsFlags::MS_RDONLY
        } else {
            opts.flags
        };
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&fstype));
        let mounted = mount(
            Some(&source),
            &dest,
            Some(fstype.as_str()),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        );
        match mounted {
            // sysfs needs a network namespace of the user namespace's own;
            // in one that joined the host's, the host's /sys is bound
            // read-only instead, as runc does.
            Err(Errno::EPERM) if fstype == "sysfs" && crate::userns::in_user_namespace() => {
                bind_sys_read_only(&dest).map_err(|e| SysError::os("bind /sys", &what, e))?
            }
            Err(Errno::EPERM) if fstype == "mqueue" && crate::userns::in_user_namespace() => {
                return Err(SysError::spec(
                    "mounts",
                    format!(
                        "{what}: mqueue needs an IPC namespace of the container's user \
                         namespace (give the pod the user namespace)"
                    ),
                ))
            }
            r => r.map_err(|e| SysError::os("mount", &what, e))?,
        }
    }
    if !opts.propagation.is_empty() {
        mount(
            None::<&str>,
            &dest,
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )
        .map_err(|e| SysError::os("set propagation", &what, e))?;
    }
    Ok(())
}

fn bind_sys_read_only(dest: &Path) -> Result<(), Errno> {
    mount(
        Some("/sys"),
        dest,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    let locked = mount_flags_of(&dest.to_string_lossy()).map_err(|_| Errno::EIO)?;
    mount(
        None::<&str>,
        dest,
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
}

fn make_mount_point(dest: &Path, dir: bool) -> Result<(), SysError> {
    if dir {
        fs::create_dir_all(dest).map_err(|e| SysError::io("mkdir", dest, e))
    } else {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| SysError::io("mkdir", parent, e))?;
        }
        if fs::symlink_metadata(dest).is_err() {
            fs::File::create(dest).map_err(|e| SysError::io("create", dest, e))?;
        }
        Ok(())
    }
}

/// (name, major, minor) of the nodes every container gets, in runc's
/// order (bound from the host in a user namespace, they show in the mount
/// table in this order).
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("random", 1, 8),
    ("full", 1, 7),
    ("tty", 5, 0),
    ("zero", 1, 5),
    ("urandom", 1, 9),
];

fn create_default_devices(rootfs: &Path, has_devpts: bool) -> Result<(), SysError> {
    let dev = resolve_in_root(rootfs, Path::new("/dev"))?;
    fs::create_dir_all(&dev).map_err(|e| SysError::io("mkdir", &dev, e))?;
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = dev.join(name);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        let _bound = make_node(&path, SFlag::S_IFCHR, major, minor, 0o666)?;
    }
    let links: [(&str, &str); 5] = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ];
    for (name, target) in links {
        if name == "ptmx" && !has_devpts {
            continue;
        }
        let path = dev.join(name);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        symlink(target, &path).map_err(|e| SysError::io("symlink", &path, e))?;
    }
    Ok(())
}

/// mknod, falling back to bind-mounting the host's node where mknod is
/// refused (a user namespace, a nodev mount). True when it is the host's
/// node, bound: its owner and mode are the host's to keep.
fn make_node(
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
) -> Result<bool, SysError> {
    match mknod(
        path,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    ) {
        Ok(()) => {
            // mknod honours the umask; set the mode the spec asked for.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| SysError::io("chmod", path, e))?;
            Ok(false)
        }
        Err(Errno::EPERM) => {
            let host = find_host_node(kind, major, minor)
                .ok_or_else(|| SysError::os("mknod", path.display(), Errno::EPERM))?;
            fs::File::create(path).map_err(|e| SysError::io("create", path, e))?;
            mount(
                Some(&host),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| SysError::os("bind mount", path.display(), e))?;
            Ok(true)
        }
        Err(e) => Err(SysError::os("mknod", path.display(), e)),
    }
}

fn find_host_node(kind: SFlag, major: u64, minor: u64) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let want = makedev(major, minor);
    fs::read_dir("/dev")
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let m = e.metadata().ok()?;
            let is_kind = if kind == SFlag::S_IFCHR {
                m.file_type().is_char_device()
            } else {
                m.file_type().is_block_device()
            };
            (is_kind && m.rdev() == want).then(|| e.path())
        })
}

fn create_device(rootfs: &Path, d: &LinuxDevice) -> Result<(), SysError> {
    let path = resolve_in_root(rootfs, d.path())?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| SysError::io("mkdir", parent, e))?;
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(SysError::spec(
                "linux.devices.type",
                format!("{}: type 'a' is not a device", d.path().display()),
            ))
        }
    };
    if fs::symlink_metadata(&path).is_ok() {
        let _ = fs::remove_file(&path);
    }
    let bound = make_node(
        &path,
        kind,
        d.major() as u64,
        d.minor() as u64,
        d.file_mode().unwrap_or(0o666),
    )?;
    if bound {
        return Ok(());
    }
    let uid = d.uid().map(nix::unistd::Uid::from_raw);
    let gid = d.gid().map(nix::unistd::Gid::from_raw);
    nix::unistd::chown(&path, uid, gid).map_err(|e| SysError::os("chown", path.display(), e))
}

fn pivot(rootfs: &Path) -> Result<(), SysError> {
    nix::unistd::chdir(rootfs).map_err(|e| SysError::os("chdir", rootfs.display(), e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| SysError::os("pivot_root", rootfs.display(), e))?;
    // The old root is stacked under the new one at "."; detach it.
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| SysError::os("umount", "old root", e))?;
    nix::unistd::chdir("/").map_err(|e| SysError::os("chdir", "/", e))
}

fn mask_path(p: &str) -> Result<(), SysError> {
    let meta = match fs::metadata(p) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    let r = if meta.is_dir() {
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    r.map_err(|e| SysError::os("mask", p, e))
}

fn readonly_path(p: &str) -> Result<(), SysError> {
    if fs::symlink_metadata(p).is_err() {
        return Ok(());
    }
    mount(
        Some(p),
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("bind", p, e))?;
    // The remount keeps what the mount had (nosuid, nodev, noexec ... of
    // /proc): a bind remount sets every flag anew.
    mount(
        None::<&str>,
        p,
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_REC
            | mount_flags_of(p)?,
        None::<&str>,
    )
    .map_err(|e| SysError::os("remount read-only", p, e))
}

/// The per-mount flags of the mount `p` is on.
fn mount_flags_of(p: &str) -> Result<MsFlags, SysError> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let st = statvfs(p).map_err(|e| SysError::os("statvfs", p, e))?;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs_flag) {
            out |= ms_flag;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_cannot_leave_the_root() {
        let d = std::env::temp_dir().join(format!("podshim-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("etc")).unwrap();
        symlink("/", d.join("up")).unwrap();
        symlink("../../../../tmp", d.join("etc/rel")).unwrap();
        symlink("loop", d.join("loop")).unwrap();
        assert_eq!(
            resolve_in_root(&d, Path::new("/up/etc/x")).unwrap(),
            d.join("etc/x")
        );
        assert_eq!(
            resolve_in_root(&d, Path::new("/etc/rel/y")).unwrap(),
            d.join("tmp/y")
        );
        assert_eq!(
            resolve_in_root(&d, Path::new("/../../proc")).unwrap(),
            d.join("proc")
        );
        assert!(resolve_in_root(&d, Path::new("/loop/x")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(
            &[
                "rbind",
                "ro",
                "nosuid",
                "rprivate",
                "size=65536k",
                "mode=755",
                "rw",
            ]
            .map(String::from),
        );
        assert!(o.bind);
        assert_eq!(
            o.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_NOSUID
        );
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(o.data, vec!["size=65536k", "mode=755"]);
    }
}
