//! OCI mount options (`ro`, `rbind`, `rprivate`, `size=...`) split into
//! what mount(2) takes: flags, propagation and filesystem data.

use nix::mount::MsFlags;

/// Mount options split into what mount(2) takes.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    pub propagation: MsFlags,
    pub data: Vec<String>,
    pub bind: bool,
    /// Attributes for the mount and every mount below it (`rro`,
    /// `rnosuid`, ...: mount_setattr with AT_RECURSIVE), set and cleared.
    pub recursive_set: u64,
    pub recursive_clear: u64,
}

/// The recursive forms of the per-mount flags (Kubernetes'
/// recursiveReadOnly is `rro`): (option, MOUNT_ATTR_* bit, set or clear).
const RECURSIVE: [(&str, u64, bool); 8] = [
    ("rro", libc::MOUNT_ATTR_RDONLY, true),
    ("rrw", libc::MOUNT_ATTR_RDONLY, false),
    ("rnosuid", libc::MOUNT_ATTR_NOSUID, true),
    ("rsuid", libc::MOUNT_ATTR_NOSUID, false),
    ("rnodev", libc::MOUNT_ATTR_NODEV, true),
    ("rdev", libc::MOUNT_ATTR_NODEV, false),
    ("rnoexec", libc::MOUNT_ATTR_NOEXEC, true),
    ("rexec", libc::MOUNT_ATTR_NOEXEC, false),
];

/// The recursive options podshim supports, for the features document.
pub fn recursive_options() -> impl Iterator<Item = &'static str> {
    RECURSIVE.iter().map(|r| r.0)
}

/// Splits OCI mount options into flags, propagation and fs data.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
        bind: false,
        recursive_set: 0,
        recursive_clear: 0,
    };
    for opt in options {
        if let Some(&(_, bit, set)) = RECURSIVE.iter().find(|r| r.0 == opt) {
            if set {
                o.recursive_set |= bit;
                o.recursive_clear &= !bit;
            } else {
                o.recursive_clear |= bit;
                o.recursive_set &= !bit;
            }
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let o = parse_options(&["rbind", "rro", "rnosuid", "rnoexec", "rexec"].map(String::from));
        assert_eq!(
            o.recursive_set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID
        );
        assert_eq!(o.recursive_clear, libc::MOUNT_ATTR_NOEXEC);
        assert!(o.data.is_empty());
    }
}
