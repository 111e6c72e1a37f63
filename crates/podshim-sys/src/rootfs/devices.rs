//! The container's device nodes: the default set every container gets
//! (null, zero, full, random, urandom, tty and the /dev/fd links) and the
//! spec's linux.devices, made inside the rootfs through [`Root`] (mknodat
//! on the resolved /dev, never a path followed twice), or bound from the
//! host's node where mknod is refused (a user namespace).

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::inroot::{fd_path, Kind, Root};
use crate::error::SysError;

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

pub fn create_default_devices(root: &Root, has_devpts: bool) -> Result<(), SysError> {
    let dev = root.make(Path::new("/dev"), Kind::Dir)?;
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = Path::new("/dev").join(name);
        if root.lookup(&path)?.is_some() {
            continue;
        }
        make_node(root, &dev, &path, SFlag::S_IFCHR, (major, minor), 0o666)?;
    }
    let links: [(&str, &str); 6] = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        // As runc: where the kernel has /proc/kcore.
        ("core", "/proc/kcore"),
    ];
    for (name, target) in links {
        if (name == "ptmx" && !has_devpts) || (name == "core" && !Path::new(target).exists()) {
            continue;
        }
        match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SysError::os("symlink", format!("/dev/{name}"), e)),
        }
    }
    Ok(())
}

/// mknod in `dir` (the resolved parent of `path`), falling back to
/// bind-mounting the host's node where mknod is refused (a user namespace,
/// a nodev mount). True when what is there is to be kept as it is: the
/// host's node, bound (its owner and mode are the host's), or a node that
/// existed already (a privileged container is given every host device,
/// some of which its /dev has, such as /dev/pts/ptmx: kept, as runc keeps
/// them).
fn make_node(
    root: &Root,
    dir: &OwnedFd,
    path: &Path,
    kind: SFlag,
    (major, minor): (u64, u64),
    mode: u32,
) -> Result<bool, SysError> {
    let name = path.file_name().unwrap_or(OsStr::new("."));
    match mknodat(
        Some(dir.as_raw_fd()),
        name,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    ) {
        Ok(()) => {
            // mknod honours the umask; set the mode the spec asked for, on
            // what the path resolves to inside the rootfs.
            use std::os::unix::fs::PermissionsExt;
            let node = resolved(root, path)?;
            std::fs::set_permissions(fd_path(&node), std::fs::Permissions::from_mode(mode))
                .map_err(|e| SysError::io("chmod", path, e))?;
            Ok(false)
        }
        Err(Errno::EEXIST) => Ok(true),
        Err(Errno::EPERM) => {
            let host = find_host_node(kind, major, minor)
                .ok_or_else(|| SysError::os("mknod", path.display(), Errno::EPERM))?;
            let at = root.make(path, Kind::File)?;
            let real = root.inside(&at, path)?;
            mount(
                Some(&host),
                &fd_path(&at),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| SysError::os("bind mount", path.display(), e))?;
            root.check_mounted(path, &at, &real)?;
            Ok(true)
        }
        Err(e) => Err(SysError::os("mknod", path.display(), e)),
    }
}

fn resolved(root: &Root, path: &Path) -> Result<OwnedFd, SysError> {
    root.lookup(path)?
        .ok_or_else(|| SysError::os("resolve", path.display(), Errno::ENOENT))
}

fn find_host_node(kind: SFlag, major: u64, minor: u64) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let want = makedev(major, minor);
    std::fs::read_dir("/dev")
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

pub fn create_device(root: &Root, d: &LinuxDevice) -> Result<(), SysError> {
    let path = d.path();
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(SysError::spec(
                "linux.devices.type",
                format!("{}: type 'a' is not a device", path.display()),
            ))
        }
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dir = root.make(parent, Kind::Dir)?;
    let bound = make_node(
        root,
        &dir,
        path,
        kind,
        (d.major() as u64, d.minor() as u64),
        d.file_mode().unwrap_or(0o666),
    )?;
    if bound {
        return Ok(());
    }
    let uid = d.uid().map(nix::unistd::Uid::from_raw);
    let gid = d.gid().map(nix::unistd::Gid::from_raw);
    let node = resolved(root, path)?;
    nix::unistd::chown(&fd_path(&node), uid, gid)
        .map_err(|e| SysError::os("chown", path.display(), e))
}
