//! The cgroup v2 device filter against the kernel, beside the v1 devices
//! controller with the same rules: a shell in the cgroup tries what an
//! attacker with CAP_MKNOD would (make a block device node, open a device
//! it was not given, write where it may only read) and what every
//! container needs (/dev/null), and each cgroup gives the same answers.
//! On this hybrid host the test cgroup is only in the v2 hierarchy, so the
//! BPF program alone decides there; the node VM runs the same on pure v2.

use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};
use podshim_sys::cgroup::devices::{self, DeviceRule};
use podshim_tests::require_root;

/// Where the hierarchy of `fstype` (with `option` among its super options,
/// for v1) is mounted.
fn hierarchy(fstype: &str, option: Option<&str>) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let rest: Vec<&str> = right.split(' ').collect();
        let ok = rest[0] == fstype && option.is_none_or(|o| rest[2].split(',').any(|x| x == o));
        ok.then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
    })
}

/// A probe: a shell that joins the cgroup, then runs `script`. Returns
/// Ok when it succeeded, Err(true) when the kernel said EPERM.
fn probe(cgroup: &Path, script: &str) -> Result<(), bool> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && {script}",
            cgroup.display()
        ))
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(err.contains("Operation not permitted"))
}

struct Case {
    what: &'static str,
    script: String,
    allowed: bool,
}

fn cases(dir: &Path) -> Vec<Case> {
    let d = dir.display();
    let case = |what, script: String, allowed| Case {
        what,
        script,
        allowed,
    };
    vec![
        case("read /dev/null", format!(": < {d}/null"), true),
        case("write /dev/null", format!("echo x > {d}/null"), true),
        case("mknod /dev/zero", format!("mknod {d}/zero-$$ c 1 5"), true),
        case("read /dev/kmsg (rule: r)", format!(": < {d}/kmsg"), true),
        case("open /dev/kmsg read-write", format!(": <> {d}/kmsg"), false),
        // Making any node is allowed, as runc allows it; opening is not.
        case("mknod /dev/kmsg", format!("mknod {d}/kmsg-$$ c 1 11"), true),
        case(
            "mknod a host disk",
            format!("mknod {d}/disk-$$ b 7 0"),
            true,
        ),
        case(
            "mknod and read a host disk",
            format!("mknod {d}/d-$$ b 7 0 && : < {d}/d-$$"),
            false,
        ),
        case("read a host disk", format!(": < {d}/loop0"), false),
        case("read /dev/mem", format!(": < {d}/mem"), false),
    ]
}

fn kmsg_read_only() -> Vec<DeviceRule> {
    let spec = [LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(11)
        .access("r")
        .build()
        .unwrap()];
    devices::rules(&spec, &[]).unwrap()
}

fn mknod(dir: &Path, name: &str, kind: &str, major: u32, minor: u32) {
    let st = Command::new("mknod")
        .arg(dir.join(name))
        .args([kind, &major.to_string(), &minor.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "mknod {name}");
}

fn answers(cgroup: &Path, cases: &[Case]) -> Vec<(&'static str, bool)> {
    cases
        .iter()
        .map(|c| match probe(cgroup, &c.script) {
            Ok(()) => (c.what, true),
            Err(true) => (c.what, false),
            Err(false) => panic!("{}: failed other than with EPERM", c.what),
        })
        .collect()
}

#[test]
fn the_v2_device_filter_denies_what_v1_denies() {
    require_root();
    let v2 = hierarchy("cgroup2", None).expect("this host has no cgroup v2 hierarchy");
    let name = format!("podshim-test-devices-{}", std::process::id());
    // The nodes live on /dev itself: /tmp may be mounted nodev (Debian 13),
    // where every open of a node fails whatever the cgroup says.
    let work = Path::new("/dev").join(&name);
    std::fs::create_dir_all(&work).unwrap();
    // The nodes are made outside any filtered cgroup.
    mknod(&work, "null", "c", 1, 3);
    mknod(&work, "kmsg", "c", 1, 11);
    mknod(&work, "loop0", "b", 7, 0);
    mknod(&work, "mem", "c", 1, 1);
    let cases = cases(&work);
    let want: Vec<(&str, bool)> = cases.iter().map(|c| (c.what, c.allowed)).collect();

    let v2_dir = v2.join(&name);
    std::fs::create_dir(&v2_dir).unwrap();
    // First a filter that denies /dev/kmsg, then the one to test: the
    // first must be gone (two filters would both have to allow).
    devices::attach_to_dir(&v2_dir, &devices::rules(&[], &[]).unwrap()).unwrap();
    assert!(probe(&v2_dir, &format!(": < {}/kmsg", work.display())).is_err());
    devices::attach_to_dir(&v2_dir, &kmsg_read_only()).unwrap();
    let got_v2 = answers(&v2_dir, &cases);

    // The same rules on the v1 devices controller, where the host has one.
    let v1 = hierarchy("cgroup", Some("devices")).map(|root| {
        let dir = root.join(&name);
        std::fs::create_dir(&dir).unwrap();
        for r in kmsg_read_only() {
            let file = if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            std::fs::write(dir.join(file), r.v1_line()).unwrap();
        }
        let got = answers(&dir, &cases);
        std::fs::remove_dir(&dir).unwrap();
        got
    });

    std::fs::remove_dir(&v2_dir).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    assert!(!v2_dir.exists() && !work.exists());
    assert_eq!(got_v2, want, "cgroup v2 with the BPF filter");
    if let Some(got_v1) = v1 {
        assert_eq!(got_v1, want, "cgroup v1 devices controller");
    }
}

/// The shim loads a filter program once and attaches it to every cgroup
/// that asks for the same rules. Each cgroup must still answer for its
/// own rules: a second cgroup's new rules change nothing in the first,
/// and the same rules put on a cgroup again leave it filtered (the one
/// program it has is not taken away as "replaced").
#[test]
fn a_shared_filter_program_leaves_each_cgroup_its_own_rules() {
    require_root();
    let v2 = hierarchy("cgroup2", None).expect("this host has no cgroup v2 hierarchy");
    let name = format!("podshim-test-devshare-{}", std::process::id());
    let work = Path::new("/dev").join(&name);
    std::fs::create_dir_all(&work).unwrap();
    mknod(&work, "kmsg", "c", 1, 11);
    let read_kmsg = format!(": < {}/kmsg", work.display());
    let (a, b) = (v2.join(format!("{name}-a")), v2.join(format!("{name}-b")));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let defaults = devices::rules(&[], &[]).unwrap();
    // Puts each rule list on its cgroup, then asks both whether kmsg opens.
    let step = |what: &'static str, put: &[(&Path, &[DeviceRule])]| {
        for (dir, rules) in put {
            devices::attach_to_dir(dir, rules).unwrap();
        }
        (what, probe(&a, &read_kmsg), probe(&b, &read_kmsg))
    };
    let kmsg = kmsg_read_only();
    let seen = vec![
        step("both on the defaults", &[(&a, &defaults), (&b, &defaults)]),
        step("the defaults again on a", &[(&a, &defaults)]),
        step("kmsg readable on b", &[(&b, &kmsg)]),
        step("the defaults once more on a", &[(&a, &defaults)]),
    ];
    std::fs::remove_dir(&a).unwrap();
    std::fs::remove_dir(&b).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    assert!(!a.exists() && !b.exists() && !work.exists());
    let denied = Err(true);
    assert_eq!(
        seen,
        vec![
            ("both on the defaults", denied, denied),
            ("the defaults again on a", denied, denied),
            ("kmsg readable on b", denied, Ok(())),
            ("the defaults once more on a", denied, Ok(())),
        ]
    );
}
