//! Namespaces: kinds and their clone flags, joining by path (with a type
//! check), unsharing, and pinning by bind mount so `nsenter --net=PATH`
//! works and the namespace outlives its holder.

use std::fs::{self, File};
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{umount2, MntFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::SysError;

/// A namespace type. On the wire it is the name /proc/PID/ns uses (`net`,
/// `mnt`); the OCI names (`network`, `mount`) are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NsKind {
    User,
    #[serde(alias = "mount")]
    Mnt,
    Pid,
    #[serde(alias = "network")]
    Net,
    Ipc,
    Uts,
    Cgroup,
}

impl NsKind {
    /// Every kind, in the order they are entered ([`NsKind::join_rank`]).
    pub const ALL: [NsKind; 7] = [
        NsKind::User,
        NsKind::Pid,
        NsKind::Net,
        NsKind::Ipc,
        NsKind::Uts,
        NsKind::Cgroup,
        NsKind::Mnt,
    ];

    /// Parses the /proc name (`net`) or the OCI name (`network`, `mount`).
    pub fn parse(name: &str) -> Option<NsKind> {
        Some(match name {
            "user" => NsKind::User,
            "mnt" | "mount" => NsKind::Mnt,
            "pid" => NsKind::Pid,
            "net" | "network" => NsKind::Net,
            "ipc" => NsKind::Ipc,
            "uts" => NsKind::Uts,
            "cgroup" => NsKind::Cgroup,
            _ => return None,
        })
    }

    /// The name under /proc/PID/ns.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsKind::User => "user",
            NsKind::Mnt => "mnt",
            NsKind::Pid => "pid",
            NsKind::Net => "net",
            NsKind::Ipc => "ipc",
            NsKind::Uts => "uts",
            NsKind::Cgroup => "cgroup",
        }
    }

    pub fn clone_flag(self) -> CloneFlags {
        match self {
            NsKind::User => CloneFlags::CLONE_NEWUSER,
            NsKind::Mnt => CloneFlags::CLONE_NEWNS,
            NsKind::Pid => CloneFlags::CLONE_NEWPID,
            NsKind::Net => CloneFlags::CLONE_NEWNET,
            NsKind::Ipc => CloneFlags::CLONE_NEWIPC,
            NsKind::Uts => CloneFlags::CLONE_NEWUTS,
            NsKind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        }
    }

    /// Order of entry: user first (it grants the rights for the rest), mnt
    /// last (paths of the others are resolved in the current mount ns).
    pub fn join_rank(self) -> u8 {
        match self {
            NsKind::User => 0,
            NsKind::Pid => 1,
            NsKind::Net => 2,
            NsKind::Ipc => 3,
            NsKind::Uts => 4,
            NsKind::Cgroup => 5,
            NsKind::Mnt => 6,
        }
    }
}

/// An opened namespace file, checked to be a namespace.
#[derive(Debug)]
pub struct NsFile {
    kind: NsKind,
    path: String,
    file: File,
}

impl NsFile {
    pub fn kind(&self) -> NsKind {
        self.kind
    }
}

/// Opens a namespace path for a later [`join`]. Opening everything before
/// joining anything keeps the paths meaningful.
pub fn open(kind: NsKind, path: &str) -> Result<NsFile, SysError> {
    let file = File::open(path).map_err(|e| SysError::io("open namespace", path, e))?;
    Ok(NsFile {
        kind,
        path: path.to_string(),
        file,
    })
}

/// setns(2) into an opened namespace. The kernel checks the type: a path
/// that is a regular file or a namespace of another type is refused with a
/// message saying which.
pub fn join(ns: &NsFile) -> Result<(), SysError> {
    setns(ns.file.as_fd(), ns.kind.clone_flag()).map_err(|e| {
        let what = format!("{} namespace {}", ns.kind.proc_name(), ns.path);
        match e {
            nix::errno::Errno::EINVAL => SysError::spec(
                "linux.namespaces",
                format!("{what} is not a {} namespace", ns.kind.proc_name()),
            ),
            e => SysError::os("setns", what, e),
        }
    })
}

/// unshare(2) of a set of kinds.
pub fn unshare_kinds(kinds: &[NsKind]) -> Result<(), SysError> {
    let flags = kinds
        .iter()
        .fold(CloneFlags::empty(), |acc, k| acc | k.clone_flag());
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).map_err(|e| {
        let names: Vec<_> = kinds.iter().map(|k| k.proc_name()).collect();
        SysError::os("unshare", names.join(","), e)
    })
}

/// What [`enter`] did.
#[derive(Debug, Default)]
pub struct Entered {
    /// Kinds made new (a new user namespace included).
    pub fresh: Vec<NsKind>,
    /// Kinds joined by path.
    pub joined: Vec<NsKind>,
}

impl Entered {
    /// In a user namespace of the container's or pod's own.
    pub fn user(&self) -> bool {
        self.fresh.contains(&NsKind::User) || self.joined.contains(&NsKind::User)
    }
}

/// Enters `reqs` (sorted by [`NsKind::join_rank`]): every path is opened
/// first; a user namespace given by path is joined first and the process
/// becomes root in it (it then has the rights over the namespaces it owns);
/// the other paths are joined next; a new user namespace is made after the
/// joins (the joined ones may belong to the parent namespace) and mapped by
/// the shim over `chan`; the remaining new namespaces are made last, so
/// they belong to the user namespace.
pub fn enter(
    reqs: &[crate::msg::NsRequest],
    map_user_ns: &mut dyn FnMut() -> Result<(), SysError>,
) -> Result<Entered, (&'static str, SysError)> {
    let mut files = Vec::new();
    let mut out = Entered::default();
    for req in reqs {
        match &req.path {
            Some(p) => files.push(open(req.kind, p).map_err(|e| ("namespaces", e))?),
            None => out.fresh.push(req.kind),
        }
    }
    files.sort_by_key(|f| f.kind.join_rank());
    for f in &files {
        join(f).map_err(|e| ("setns", e))?;
        if f.kind == NsKind::User {
            crate::userns::become_root().map_err(|e| ("user namespace", e))?;
        }
        out.joined.push(f.kind);
    }
    let rest: Vec<NsKind> = out
        .fresh
        .iter()
        .copied()
        .filter(|k| *k != NsKind::User)
        .collect();
    if rest.len() != out.fresh.len() {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| ("user namespace", SysError::os("unshare", "user", e)))?;
        map_user_ns().map_err(|e| ("user namespace", e))?;
        crate::userns::become_root().map_err(|e| ("user namespace", e))?;
    }
    unshare_kinds(&rest).map_err(|e| ("unshare", e))?;
    Ok(out)
}

/// Pins namespace `kind` of the pod's pause `pid` at `target`: a symlink
/// to `/proc/PID/ns/KIND`, which `nsenter --net=TARGET`, CNI plugins and
/// the pod's members open like the namespace itself. A symlink is not a
/// mount: the host's mount table (which every container's new mount
/// namespace copies) does not grow with the number of pods. The namespace
/// lives as long as the pause, which is the pod's life anyway; a dangling
/// pin then fails to open rather than naming another namespace.
pub fn pin_of(pid: i32, kind: NsKind, target: &Path) -> Result<(), SysError> {
    let source = format!("/proc/{pid}/ns/{}", kind.proc_name());
    // symlink(2) makes the link whole or not at all.
    std::os::unix::fs::symlink(&source, target).map_err(|e| SysError::io("create pin", target, e))
}

/// Removes a pin (a symlink, or the bind mount of a pin an older podshim
/// made) and deletes the file. A pin that is already gone is fine
/// (teardown is repeatable).
pub fn unpin(target: &Path) -> Result<(), SysError> {
    match umount2(target, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(SysError::os("umount", target.display(), e)),
    }
    match fs::remove_file(target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SysError::io("remove pin", target, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in [
            NsKind::User,
            NsKind::Mnt,
            NsKind::Pid,
            NsKind::Net,
            NsKind::Ipc,
            NsKind::Uts,
            NsKind::Cgroup,
        ] {
            assert_eq!(NsKind::parse(k.proc_name()), Some(k));
        }
        assert_eq!(NsKind::parse("network"), Some(NsKind::Net));
        assert_eq!(NsKind::parse("mount"), Some(NsKind::Mnt));
        assert_eq!(NsKind::parse("time"), None);
    }

    #[test]
    fn user_first_mount_last() {
        let mut ks = vec![NsKind::Mnt, NsKind::Net, NsKind::User, NsKind::Pid];
        ks.sort_by_key(|k| k.join_rank());
        assert_eq!(
            ks,
            vec![NsKind::User, NsKind::Pid, NsKind::Net, NsKind::Mnt]
        );
    }
}
