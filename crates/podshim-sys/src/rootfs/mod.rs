//! The container's filesystem view, built inside its fresh mount namespace:
//! the rootfs mounts, the spec's mounts ([`mounts`]: destinations resolved
//! by the kernel inside the rootfs, [`inroot`]), the /dev nodes
//! ([`devices`]), pivot_root, masked and read-only paths, a read-only root.

mod cgroupfs;
pub mod devices;
pub mod inroot;
pub mod mounts;
pub mod options;
pub mod snapshot;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

use crate::error::SysError;
pub use options::{parse_options, MountOptions};

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
    // What the container's mounts share with the host: rslave unless the
    // spec asks (rshared for a Bidirectional volume, as containerd's CRI
    // writes it).
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
    let shared = propagation.contains(MsFlags::MS_SHARED);
    if !rootfs_mounts.is_empty() {
        // Nothing of ours may reach the host's mount table: with rslave
        // nothing propagates out; with rshared (the host's shared mounts
        // stay peers, for Bidirectional volumes) the mount the rootfs is
        // on is made private first, as runc does.
        if shared {
            fs::create_dir_all(&rootfs).map_err(|e| SysError::io("mkdir", &rootfs, e))?;
            make_parent_private(&rootfs)?;
        } else {
            snapshot::make_root_rslave()?;
        }
        snapshot::mount_snapshot(&rootfs, rootfs_mounts)?;
    }
    refuse_host_root(&rootfs)?;
    let rootfs = fs::canonicalize(&rootfs).map_err(|e| SysError::io("rootfs", &rootfs, e))?;
    if !rootfs.is_dir() {
        return Err(SysError::spec(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .map_err(|e| SysError::os("make / ", "propagation", e))?;
    if shared {
        // pivot_root refuses a shared parent, and the rootfs bind must not
        // propagate out.
        make_parent_private(&rootfs)?;
    }
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("bind mount rootfs", rootfs.display(), e))?;

    // Opened after the bind: every path below resolves on the bind.
    let root = inroot::Root::open(&rootfs)?;
    let own_cgroup_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup)
        });
    let mut has_devpts = false;
    for m in spec.mounts().iter().flatten() {
        mounts::mount_one(m, &root, bundle, own_cgroup_ns)?;
        has_devpts |= m.typ().as_deref() == Some("devpts");
    }
    devices::create_default_devices(&root, has_devpts)?;
    if let Some(devs) = spec.linux().as_ref().and_then(|l| l.devices().clone()) {
        for d in &devs {
            devices::create_device(&root, d)?;
        }
    }
    drop(root);

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

/// After hostname and sysctls: the standard descriptors that are the
/// host's /dev/null reopened on the container's, read-only and masked
/// paths, then a read-only root, in runc's order (so the mount tables
/// match).
pub fn finalize(spec: &Spec) -> Result<(), SysError> {
    reopen_dev_null()?;
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
            mount_flags_of(Path::new("/"))?
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

/// A standard descriptor the shim gave as the host's /dev/null (no stdin,
/// say) is put on the container's own /dev/null, as runc does: nothing
/// of the container then holds a file of a mount outside its mount
/// namespace, which CRIU could not dump.
fn reopen_dev_null() -> Result<(), SysError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    const NULL: u64 = (1 << 8) | 3; // 1:3 in the old encoding, as st_rdev has it
    let is_null = |m: &fs::Metadata| m.file_type().is_char_device() && m.rdev() == NULL;
    // No /dev/null of its own: nothing to put the descriptors on.
    if !fs::metadata("/dev/null").is_ok_and(|m| is_null(&m)) {
        return Ok(());
    }
    for fd in 0..=2 {
        // A null opened outside is one whatever its inode (a bind of the
        // host's node is the same inode on another mount).
        if !fs::metadata(format!("/proc/self/fd/{fd}")).is_ok_and(|m| is_null(&m)) {
            continue;
        }
        let null = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| SysError::io("open", "/dev/null", e))?;
        // SAFETY: dup2 onto a standard descriptor this process owns, from
        // a descriptor that is open for the duration of the call.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) } < 0 {
            return Err(SysError::os("dup2", fd, nix::errno::Errno::last()));
        }
    }
    Ok(())
}

/// Makes the mount `path` is on private (in this mount namespace only),
/// when it is shared.
fn make_parent_private(path: &Path) -> Result<(), SysError> {
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| SysError::io("read", "/proc/self/mountinfo", e))?;
    // The longest mount point that is a prefix of the path.
    let parent = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let point = f.get(4)?;
            let shared = f
                .iter()
                .skip(6)
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"));
            path.starts_with(point).then(|| (point.to_string(), shared))
        })
        .max_by_key(|(p, _)| p.len());
    if let Some((point, true)) = parent {
        mount(
            None::<&str>,
            point.as_str(),
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| SysError::os("make private", &point, e))?;
    }
    Ok(())
}

/// Leaves the host's filesystem for good: a private mount namespace whose
/// root is an empty, read-only tmpfs, the old root detached. For the
/// pause, which needs no file once its namespaces are pinned; a member of
/// the pod that reaches it (/proc/1/root in a shared pid namespace) finds
/// nothing there.
pub fn enter_empty_root() -> Result<(), SysError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| SysError::os("unshare", "mount namespace", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("make / ", "rprivate", e))?;
    // /proc always exists; in this private namespace it is only a place.
    let at = Path::new("/proc");
    let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        locked,
        Some("size=4k,nr_inodes=1,mode=0555"),
    )
    .map_err(|e| SysError::os("mount", "the empty root", e))?;
    pivot(at)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        locked | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|e| SysError::os("remount read-only", "the empty root", e))
}

fn pivot(rootfs: &Path) -> Result<(), SysError> {
    use std::os::fd::AsRawFd;
    // The old root, to come back to: after pivot_root(".", ".") it is
    // stacked on the new root, and only from inside it does "." name it.
    let old_root = fs::File::open("/").map_err(|e| SysError::io("open", "/", e))?;
    nix::unistd::chdir(rootfs).map_err(|e| SysError::os("chdir", rootfs.display(), e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| SysError::os("pivot_root", rootfs.display(), e))?;
    nix::unistd::fchdir(old_root.as_raw_fd()).map_err(|e| SysError::os("fchdir", "old root", e))?;
    drop(old_root);
    // Detach the old root, made rslave first: with rshared root
    // propagation (a Bidirectional volume) its mounts are peers of the
    // host's, and the detach would take the host's /sys/fs/cgroup, /proc
    // and the rest with it. The new root keeps its propagation.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("make the old root", "rslave", e))?;
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
            | mount_flags_of(Path::new(p))?,
        None::<&str>,
    )
    .map_err(|e| SysError::os("remount read-only", p, e))
}

/// The per-mount flags of the mount `p` is on.
fn mount_flags_of(p: &Path) -> Result<MsFlags, SysError> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let st = statvfs(p).map_err(|e| SysError::os("statvfs", p.display(), e))?;
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
