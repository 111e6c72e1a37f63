//! The cgroup file systems a mount table shows: each v1 hierarchy and the
//! v2 one, read from /proc/self/mountinfo by one parser that the task
//! cgroup, the container's cgroup view and the tests share.

use std::path::PathBuf;

/// One cgroup mount of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// The directory of the hierarchy it shows (mountinfo's root field):
    /// `/` for a hierarchy's own mount, else a bind of a subdirectory.
    pub root: String,
    /// cgroup2, not a v1 hierarchy.
    pub v2: bool,
    /// A v1 mount's controllers and `name=` option (its super options
    /// without the generic ones); empty for v2.
    pub controllers: Vec<String>,
}

/// The cgroup mounts of `mountinfo`, in its order.
pub fn parse(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo.lines().filter_map(parse_line).collect()
}

/// The cgroup mounts of this process's mount namespace.
pub fn mounted() -> std::io::Result<Vec<CgroupMount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

fn parse_line(line: &str) -> Option<CgroupMount> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mut rest = right.split(' ');
    let fstype = rest.next()?;
    let v2 = match fstype {
        "cgroup" => false,
        "cgroup2" => true,
        _ => return None,
    };
    let (root, point) = (fields.get(3)?, fields.get(4)?);
    let supers = rest.nth(1).unwrap_or("");
    let controllers = if v2 {
        Vec::new()
    } else {
        supers
            .split(',')
            .filter(|o| {
                !matches!(*o, "rw" | "ro" | "relatime" | "noatime" | "clone_children")
                    && !o.starts_with("xattr")
                    && !o.starts_with("release_agent=")
            })
            .map(str::to_string)
            .collect()
    };
    Some(CgroupMount {
        point: PathBuf::from(unescape(point)),
        root: unescape(root),
        v2,
        controllers,
    })
}

/// mountinfo writes a space, tab, newline and backslash in a path as an
/// octal escape (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
37 31 0:32 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children
90 80 0:32 /kubepods/pod1 /run/x\\040y rw - cgroup cgroup rw,cpuset
";

    #[test]
    fn v1_and_v2_mounts_are_told_apart() {
        let m = parse(HYBRID);
        assert_eq!(m.len(), 5);
        assert!(m[0].v2 && m[0].controllers.is_empty());
        assert_eq!(m[0].point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[1].controllers, ["name=systemd"]);
        assert_eq!(m[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m[3].controllers, ["cpuset"]);
        // A bind of a subdirectory, with an escaped space in its point.
        assert_eq!(m[4].root, "/kubepods/pod1");
        assert_eq!(m[4].point, PathBuf::from("/run/x y"));
    }

    #[test]
    fn a_pure_v2_host_has_one() {
        let m = parse(
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        );
        assert_eq!(m.len(), 1);
        assert!(m[0].v2);
        assert_eq!(m[0].root, "/");
    }
}
