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
    }
}
