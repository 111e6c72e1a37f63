//! Paths inside a container's rootfs, resolved by the kernel and never by
//! name twice: the rootfs is held open, every lookup is an openat2 with
//! RESOLVE_IN_ROOT from it (`..` stops at the root, absolute symlinks
//! restart from it, magic links are refused), and what is missing is made
//! with *at() calls on the directory fd just resolved, never following a
//! final symlink and never truncating. The caller then acts on the fd
//! (`/proc/self/fd/N`), so a symlink swapped in between cannot redirect it
//! outside the rootfs.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::error::SysError;

/// Most symlinks followed while making one path (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Lookups retried when the kernel says a rename raced a `..` (EAGAIN).
const MAX_RETRIES: usize = 1000;

/// The rootfs, open.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// What [`Root::make`] makes when a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// The path an fd is at, for acting on it: `/proc/self/fd/N`.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Where an fd is in this mount namespace, as the kernel names it.
pub fn real_path(fd: &OwnedFd) -> Result<PathBuf, SysError> {
    let p = fd_path(fd);
    std::fs::read_link(&p).map_err(|e| SysError::io("readlink", p, e))
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

fn owned(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by openat2, which hands over a new
    // descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The normal components of `p` (`..` kept: the kernel stops it at the
/// root), with `.` and the root dropped.
fn parts(p: &Path) -> Vec<&OsStr> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            Component::ParentDir => Some(OsStr::new("..")),
            _ => None,
        })
        .collect()
}

impl Root {
    pub fn open(path: &Path) -> Result<Root, SysError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SysError::os("open rootfs", path.display(), e))?;
        Ok(Root {
            fd: owned(fd),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `p` (as if the rootfs were `/`) as an O_PATH fd; `None` when
    /// it does not exist.
    pub fn lookup(&self, p: &Path) -> Result<Option<OwnedFd>, SysError> {
        let rel: PathBuf = parts(p).iter().collect();
        let rel = if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel
        };
        let mut tries = 0;
        loop {
            match openat2(self.fd.as_raw_fd(), &rel, how(OFlag::O_PATH)) {
                Ok(fd) => return Ok(Some(owned(fd))),
                Err(Errno::ENOENT) => return Ok(None),
                // A rename or mount anywhere on the machine while `..` was
                // walked: the kernel asks for the lookup again.
                Err(Errno::EAGAIN) if tries < MAX_RETRIES => tries += 1,
                Err(e) => return Err(self.failed("resolve", p, e)),
            }
        }
    }

    fn failed(&self, op: &'static str, p: &Path, e: Errno) -> SysError {
        SysError::os(op, format!("{} in {}", p.display(), self.path.display()), e)
    }

    /// Opens `p`, making it (and every missing directory above it, mode
    /// 0755) when it does not exist: a directory or an empty file. An
    /// existing file is never truncated, a final symlink never followed
    /// when making, and every level is resolved again from the root.
    pub fn make(&self, p: &Path, kind: Kind) -> Result<OwnedFd, SysError> {
        self.make_following(p, kind, 0)
    }

    fn make_following(&self, p: &Path, kind: Kind, links: usize) -> Result<OwnedFd, SysError> {
        if links > MAX_LINKS {
            return Err(self.failed("resolve", p, Errno::ELOOP));
        }
        if let Some(fd) = self.lookup(p)? {
            return Ok(fd);
        }
        let all = parts(p);
        let Some((name, above)) = all.split_last() else {
            return Err(self.failed("resolve", p, Errno::ENOENT));
        };
        let parent: PathBuf = above.iter().collect();
        let dir = self.make_following(&parent, Kind::Dir, links)?;
        let made = match kind {
            Kind::Dir => nix::sys::stat::mkdirat(
                Some(dir.as_raw_fd()),
                *name,
                Mode::from_bits_truncate(0o755),
            ),
            Kind::File => nix::fcntl::openat(
                Some(dir.as_raw_fd()),
                *name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(|fd| drop(owned(fd))),
        };
        match made {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                if let Some(fd) = self.lookup(p)? {
                    return Ok(fd);
                }
                // A symlink to what does not exist yet: make its target,
                // as the kernel resolves it, in the root.
                let target = match nix::fcntl::readlinkat(Some(dir.as_raw_fd()), *name) {
                    Ok(t) => t,
                    // Not a link after all, or gone: swapped meanwhile.
                    Err(Errno::EINVAL | Errno::ENOENT) => return Err(self.moved(p)),
                    Err(e) => return Err(self.failed("readlink", p, e)),
                };
                let next = parent.join(PathBuf::from(target));
                return self.make_following(&next, kind, links + 1);
            }
            Err(e) => return Err(self.failed("create", p, e)),
        }
        // Whatever is there now is resolved from the root; nothing there
        // means a name on the way was swapped meanwhile.
        self.lookup(p)?.ok_or_else(|| self.moved(p))
    }

    fn moved(&self, p: &Path) -> SysError {
        SysError::os(
            "resolve",
            format!(
                "{} in {}: it moved while it was made: possibly malicious path",
                p.display(),
                self.path.display()
            ),
            Errno::EXDEV,
        )
    }

    /// Where `fd` is, checked to be inside the rootfs (it always is when
    /// it came from this root; the check names a path that moved out).
    pub fn inside(&self, fd: &OwnedFd, p: &Path) -> Result<PathBuf, SysError> {
        let real = real_path(fd)?;
        if !real.starts_with(&self.path) {
            return Err(SysError::os(
                "resolve",
                format!(
                    "{} resolved to {} outside the rootfs {}: possibly malicious path",
                    p.display(),
                    real.display(),
                    self.path.display()
                ),
                Errno::EXDEV,
            ));
        }
        Ok(real)
    }

    /// After a mount on `at` (which was at `real`): `p` must now resolve,
    /// from the root, to the root of a mount at `real`. Anything else means
    /// the path was swapped while it was mounted on, and the container
    /// would run without its mount there. Returns the new mount's root, for
    /// a remount or a propagation change.
    pub fn check_mounted(&self, p: &Path, at: &OwnedFd, real: &Path) -> Result<OwnedFd, SysError> {
        let now = self.lookup(p)?;
        let moved = |why: String| {
            SysError::os(
                "mount",
                format!(
                    "{}: {why} while it was mounted on: possibly malicious path",
                    p.display()
                ),
                Errno::EXDEV,
            )
        };
        let Some(now) = now else {
            return Err(moved("it went away".into()));
        };
        let now_real = real_path(&now)?;
        if now_real != real {
            return Err(moved(format!(
                "it resolves to {} now, not {}",
                now_real.display(),
                real.display()
            )));
        }
        if crate::proc::mount_id(&now)? == crate::proc::mount_id(at)? {
            return Err(moved("it is not the new mount".into()));
        }
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("podshim-inroot-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("root/etc")).unwrap();
        d
    }

    #[test]
    fn lookups_and_makes_never_leave_the_root() {
        let d = scratch("stay");
        let root_dir = d.join("root");
        let outside = d.join("outside");
        fs::create_dir_all(&outside).unwrap();
        symlink("/", root_dir.join("up")).unwrap();
        symlink(&outside, root_dir.join("abs")).unwrap();
        symlink("../../../../..", root_dir.join("etc/climb")).unwrap();
        symlink("loop", root_dir.join("loop")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        let real = |p: &str| real_path(&root.lookup(Path::new(p)).unwrap().unwrap()).unwrap();
        assert_eq!(real("/up/etc"), root_dir.join("etc"));
        assert_eq!(real("/etc/climb/etc"), root_dir.join("etc"));
        assert_eq!(real("/../../.."), root_dir);
        assert!(root.lookup(Path::new("/abs")).unwrap().is_none());
        assert!(root.lookup(Path::new("/loop/x")).is_err());

        // Made through an absolute symlink at the host's directory: made
        // inside, nothing outside.
        let fd = root.make(Path::new("/abs/a/b"), Kind::Dir).unwrap();
        assert_eq!(
            real_path(&fd).unwrap(),
            root_dir
                .join(outside.strip_prefix("/").unwrap())
                .join("a/b")
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        let f = root.make(Path::new("/up/etc/file"), Kind::File).unwrap();
        root.inside(&f, Path::new("/up/etc/file")).unwrap();
        assert!(root_dir.join("etc/file").is_file());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_existing_file_is_not_truncated_and_a_planted_link_is_not_followed() {
        let d = scratch("trunc");
        let root_dir = d.join("root");
        fs::write(root_dir.join("etc/keep"), "data").unwrap();
        let victim = d.join("victim");
        fs::write(&victim, "host data").unwrap();
        // A link to a host file, relative so it points out if followed by
        // name: resolved in the root it is a missing path there.
        symlink(&victim, root_dir.join("etc/link")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        root.make(Path::new("/etc/keep"), Kind::File).unwrap();
        assert_eq!(
            fs::read_to_string(root_dir.join("etc/keep")).unwrap(),
            "data"
        );
        let fd = root.make(Path::new("/etc/link"), Kind::File).unwrap();
        root.inside(&fd, Path::new("/etc/link")).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "host data");
        fs::remove_dir_all(&d).unwrap();
    }
}
