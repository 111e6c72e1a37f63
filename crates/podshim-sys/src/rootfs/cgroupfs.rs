//! A `cgroup` mount (what containerd's default spec puts at /sys/fs/cgroup),
//! as runc makes it. On a pure cgroup v2 host: cgroup2 itself, mounted
//! afresh in the container's cgroup namespace (so its root is the
//! container's cgroup, with its own memory.max, cpu.max, pids.max), or
//! without one the container's own directory bound. On a host with v1
//! hierarchies: a tmpfs, and in
//! it every v1 hierarchy of the host under its own name, each showing only
//! the container's own cgroup (its memory.limit_in_bytes, cpu.cfs_quota_us,
//! pids.max, as Java, Go and .NET runtimes read them), read-only when the
//! spec's mount is. Without a cgroup namespace of its own the container's
//! directory is bound (the process joined it already, so /proc/self/cgroup
//! names it); with one, each hierarchy is mounted afresh, which the kernel
//! roots at the namespace's cgroup. The host's hierarchy itself is never
//! reachable.

use std::path::{Path, PathBuf};

use nix::mount::{mount as sys_mount, MsFlags};

use super::inroot::{fd_path, Kind, Root};
use super::options::MountOptions;
use crate::error::SysError;

/// One v1 hierarchy of the host: its mount point, its name under
/// /sys/fs/cgroup, and its super options (`cpu`, `name=systemd`).
struct Hierarchy {
    point: PathBuf,
    name: String,
    controllers: String,
}

/// The host's cgroup mounts, read once: its v1 hierarchies, and where its
/// v2 hierarchy is mounted, if it has one.
fn hierarchies() -> Result<(Vec<Hierarchy>, Option<PathBuf>), SysError> {
    let mounts = crate::cgroup::mounts::mounted()
        .map_err(|e| SysError::io("read", "/proc/self/mountinfo", e))?;
    let mut v1 = Vec::new();
    let mut v2 = None;
    for m in mounts {
        if m.v2 {
            v2.get_or_insert(m.point);
            continue;
        }
        let Some(name) = m.point.file_name() else {
            continue;
        };
        let name = name.to_string_lossy().into_owned();
        v1.push(Hierarchy {
            name,
            controllers: m.controllers.join(","),
            point: m.point,
        });
    }
    Ok((v1, v2))
}

/// This process's cgroup in the hierarchy with `controllers`, from the
/// text of /proc/self/cgroup.
fn own_path(cgroups: &str, controllers: &str) -> Option<String> {
    cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
        (ctrl == controllers).then(|| path.to_string())
    })
}

/// `source`: the spec mount's source, the name a fresh v2 mount gets.
/// `own_ns`: the container has a cgroup namespace of its own (the spec
/// lists one), so each hierarchy is mounted afresh.
pub fn mount(
    root: &Root,
    dest: &Path,
    source: &str,
    opts: &MountOptions,
    own_ns: bool,
) -> Result<(), SysError> {
    let (found, v2) = hierarchies()?;
    if found.is_empty() {
        return mount_v2(root, dest, source, opts, own_ns, v2);
    }
    mount_v1(root, dest, opts, own_ns, found)
}

fn mount_v2(
    root: &Root,
    dest: &Path,
    source: &str,
    opts: &MountOptions,
    own_ns: bool,
    v2: Option<PathBuf>,
) -> Result<(), SysError> {
    let what = format!("cgroup2 on {}", dest.display());
    let base = opts.flags & !(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC);
    let ro = opts.flags & MsFlags::MS_RDONLY;
    let at = root.make(dest, Kind::Dir)?;
    let real = root.inside(&at, dest)?;
    let target = fd_path(&at);
    if own_ns {
        // Rooted by the kernel at the namespace's cgroup: the container's.
        sys_mount(
            Some(source),
            &target,
            Some("cgroup2"),
            base | ro,
            None::<&str>,
        )
        .map_err(|e| SysError::os("mount", &what, e))?;
        root.check_mounted(dest, &at, &real)?;
        return Ok(());
    }
    let point = v2.ok_or_else(|| SysError::os("mount", &what, nix::errno::Errno::ENOENT))?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| SysError::io("read", "/proc/self/cgroup", e))?;
    let own = own_path(&cgroups, "").unwrap_or_else(|| "/".into());
    let source = point.join(own.trim_start_matches('/'));
    sys_mount(
        Some(&source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::os("mount", &what, e))?;
    let new = root.check_mounted(dest, &at, &real)?;
    sys_mount(
        None::<&str>,
        &fd_path(&new),
        None::<&str>,
        base | ro | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
        None::<&str>,
    )
    .map_err(|e| SysError::os("remount", &what, e))
}

fn mount_v1(
    root: &Root,
    dest: &Path,
    opts: &MountOptions,
    own_ns: bool,
    found: Vec<Hierarchy>,
) -> Result<(), SysError> {
    let what = format!("cgroup on {}", dest.display());
    let base = opts.flags & !(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC);
    let tmpfs_flags = base;
    let at = root.make(dest, Kind::Dir)?;
    let real = root.inside(&at, dest)?;
    sys_mount(
        Some("tmpfs"),
        &fd_path(&at),
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )
    .map_err(|e| SysError::os("mount", &what, e))?;
    root.check_mounted(dest, &at, &real)?;
    let fresh = own_ns;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| SysError::io("read", "/proc/self/cgroup", e))?;
    for h in found {
        let sub = dest.join(&h.name);
        let at = root.make(&sub, Kind::Dir)?;
        let real = root.inside(&at, &sub)?;
        let target = fd_path(&at);
        let r = if fresh {
            // A named hierarchy is its name's, as runc mounts it.
            let source = h.controllers.strip_prefix("name=").unwrap_or("cgroup");
            sys_mount(
                Some(source),
                &target,
                Some("cgroup"),
                base | (opts.flags & MsFlags::MS_RDONLY),
                Some(h.controllers.as_str()),
            )
        } else {
            let Some(path) = own_path(&cgroups, &h.controllers) else {
                continue;
            };
            let source = h.point.join(path.trim_start_matches('/'));
            sys_mount(
                Some(&source),
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
        };
        r.map_err(|e| {
            SysError::os(
                "mount",
                format!("cgroup {} on {}", h.name, sub.display()),
                e,
            )
        })?;
        let new = root.check_mounted(&sub, &at, &real)?;
        if !fresh {
            sys_mount(
                None::<&str>,
                &fd_path(&new),
                None::<&str>,
                base | (opts.flags & MsFlags::MS_RDONLY) | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(|e| SysError::os("remount", format!("cgroup {}", h.name), e))?;
        }
    }
    Ok(())
}
