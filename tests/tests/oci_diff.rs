//! The OCI runtime spec, side by side with runc: each bundle of the corpus
//! runs once under runc and once as a podshim pod member, with `podprobe
//! view` inside reporting what the container sees (ids, groups, capability
//! sets, no_new_privs, seccomp mode and what chosen syscalls return,
//! rlimits, umask, OOM score, mounts, masked and read-only paths, /dev,
//! sysctls, hostname, cwd, environment, open fds). The two reports must be
//! equal but for the differences listed in [`allowed`], each explained.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;
use serde_json::{json, Value};

type Variation = (&'static str, fn(&mut Value, &Path));

/// What some bundles must show, whatever runc does: the corpus is not
/// allowed to pass by both runtimes ignoring a setting.
fn expected(name: &str) -> Vec<(&'static str, &'static str)> {
    match name {
        "base" => vec![("/cap_eff", "0000000000000000"), ("/no_new_privs", "1")],
        "user-1000" => vec![("/uid", "1000 1000 1000 1000")],
        "additional-gids" => vec![("/groups", "10 20 30")],
        "umask-077" => vec![("/umask", "0077")],
        "caps-ambient-non-root" => vec![("/cap_amb", "0000000000000400")],
        "rlimits" => vec![("/rlimits", "Max open files 1024 2048 files")],
        "oom-score-adj" => vec![("/oom_score_adj", "500")],
        "cwd-created" => vec![("/cwd", "/tmp/made/by/runtime")],
        "bind-file" => vec![("/mounts", "/etc/probe-file")],
        "masked-paths" => vec![("/masked/~1proc~1timer_list", "char 1:3")],
        "readonly-paths" => vec![("/readonly/~1proc~1sys~1kernel~1domainname", "EROFS")],
        "devices" => vec![("/dev/probe-zero", "char 1:5 600 1000:1000")],
        "sysctl-net" => vec![("/sysctl/net.core.somaxconn", "1024")],
        "sysctl-ipc" => vec![("/sysctl/kernel.shmmax", "1048576")],
        "cgroup-namespace" => vec![("/cgroup", "0::/")],
        "privileged" => vec![("/no_new_privs", "0")],
        // The container's own view: v1's hierarchies, or v2 itself (its
        // root is the container's cgroup, bound or mounted in its
        // namespace; `allowed` writes either as "(own cgroup)").
        "cgroup-mount" | "cgroup-namespace-mount" if cgroup_v2_only() => {
            vec![("/mounts", "/sys/fs/cgroup root=(own cgroup) cgroup2")]
        }
        "cgroup-mount" | "cgroup-namespace-mount" => {
            vec![("/mounts", "/sys/fs/cgroup/memory")]
        }
        "userns" => vec![("/uid", "0 0 0 0"), ("/cap_eff", "0000000000000000")],
        "userns-user-1000-caps" => vec![("/uid", "1000 1000 1000 1000"), ("/groups", "5")],
        "seccomp-deny-list" => vec![
            ("/seccomp", "2"),
            ("/syscalls/mkdir_tmp", "EACCES"),
            ("/syscalls/chroot", "ENOSYS"),
        ],
        "seccomp-args" => vec![
            ("/syscalls/personality_linux32", "EPERM"),
            ("/syscalls/personality_query", "ok"),
            ("/syscalls/socket_inet", "EAFNOSUPPORT"),
            ("/syscalls/socket_unix", "ok"),
        ],
        "seccomp-allow-list" => vec![("/syscalls/mkdir_tmp", "EPERM")],
        "seccomp-with-no-new-privs-off" => {
            vec![("/no_new_privs", "0"), ("/syscalls/socket_unix", "EPROTO")]
        }
        _ => vec![],
    }
}

/// What may differ, and why.
/// runc's version, as `runc --version` prints it ("runc version 1.1.5+ds1").
fn runc_version() -> (u32, u32, u32) {
    let out = Command::new("runc").arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("0.0.0");
    let mut n = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
    )
}

fn allowed(view: &mut Value, name: &str) {
    let o = view.as_object_mut().unwrap();
    // Where Debian 12's runc 1.1.5 and Debian 13's 1.1.15 differ from each
    // other. 1.1.5 leaks its Go runtime's raised open-files soft limit into
    // the container (podshim gives the limit it was started with, as
    // 1.1.15 does). 1.1.15 makes the container's / private where 1.1.5 and
    // podshim leave it a slave of the host's (a volume's propagation is
    // compared in every version).
    let runc = runc_version();
    if runc < (1, 1, 15) && name != "rlimits" {
        if let Some(l) = o.get_mut("rlimits").and_then(|l| l.as_array_mut()) {
            for r in l.iter_mut() {
                let t = r.as_str().unwrap_or("").to_string();
                if let Some(rest) = t.strip_prefix("Max open files ") {
                    let hard_and_unit = rest.split_once(' ').map(|(_, h)| h).unwrap_or("");
                    *r = json!(format!("Max open files (soft) {hard_and_unit}"));
                }
            }
        }
    }
    if runc >= (1, 1, 15) {
        if let Some(m) = o.get_mut("mounts").and_then(|m| m.as_array_mut()) {
            for l in m.iter_mut() {
                let t = l.as_str().unwrap_or("").to_string();
                if t.starts_with("/ root=") {
                    let (head, _) = t.rsplit_once(' ').unwrap_or((&t, ""));
                    *l = json!(format!("{head} (propagation)"));
                }
            }
        }
    }
    // Each container joins a session keyring named after it
    // (`_ses.<container id>`), and the ids differ; none keeps the
    // session keyring of whoever started the runtime. (A seccomp
    // allow-list without keyctl leaves the probe unable to look.)
    let keyring = o.get_mut("session_keyring").expect("session_keyring");
    if keyring.as_str().is_some_and(|s| s.starts_with("_ses.")) {
        *keyring = json!("_ses.(container id)");
    } else {
        assert!(
            name.starts_with("seccomp"),
            "{name}: session keyring {keyring}"
        );
    }
    // The cgroup paths are each runtime's own naming (runc: cgroupsPath as
    // given; podshim: its pod tree). With a cgroup namespace both see "/".
    if name != "cgroup-namespace" {
        o.remove("cgroup");
    }
    // stdio: runc passes the test's pipes through, podshim gives the CRI
    // log pipes; both are pipes, checked below. stdin: runc hands on the
    // test's /dev/null, podshim gives none (containerd does the same for an
    // empty stdin).
    // In a user namespace /dev/mqueue's group is the one the IPC namespace
    // was made with: runc makes it before taking gid 0 in the user
    // namespace (65534, unmapped), podshim after (0).
    if name.starts_with("userns") {
        if let Some(dev) = o.get_mut("dev").and_then(|d| d.as_object_mut()) {
            dev.remove("mqueue");
        }
    }
    // podctl binds the pod's /etc/hostname, hosts and resolv.conf into
    // every member, as the kubelet does; runc runs the bundle as it is.
    if let Some(m) = o.get_mut("mounts").and_then(|m| m.as_array_mut()) {
        // A cgroup hierarchy's root is the container's own cgroup, which
        // each runtime names its own way (as above).
        for l in m.iter_mut() {
            let Some(text) = l
                .as_str()
                .filter(|t| t.starts_with("/sys/fs/cgroup/") || t.starts_with("/sys/fs/cgroup "))
            else {
                continue;
            };
            let shown: Vec<String> = text
                .split(' ')
                .map(|w| {
                    if w.starts_with("root=") {
                        "root=(own cgroup)".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            *l = json!(shown.join(" "));
        }
        m.retain(|l| {
            let point = l.as_str().unwrap_or("").split(' ').next().unwrap_or("");
            !["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"].contains(&point)
        });
        // On cgroup v2 runc stacks two mounts at /sys/fs/cgroup (a fresh
        // cgroup2, and over it the one the container sees); podshim makes
        // only that one, with nothing of the host's tree underneath. The
        // top one is compared.
        let at_cgroup = |l: &Value| l.as_str().unwrap_or("").starts_with("/sys/fs/cgroup root=");
        while m.iter().filter(|l| at_cgroup(l)).count() > 1 {
            let first = m.iter().position(at_cgroup).unwrap();
            m.remove(first);
        }
        // Without a cgroup namespace runc's top one is cgroup2 mounted
        // afresh, which shows the host's whole tree; podshim binds the
        // container's own directory instead (as its v1 view never shows
        // the host's hierarchy). Type and options must agree.
        if name == "cgroup-mount" {
            for l in m.iter_mut().filter(|l| at_cgroup(l)) {
                // "/sys/fs/cgroup root=(own cgroup) cgroup2 src=... opts=...".
                let t = l.as_str().unwrap_or("").to_string();
                let rest = t.split_once("(own cgroup) ").map(|(_, r)| r).unwrap_or("");
                let fstype = rest.split(' ').next().unwrap_or("");
                let opts = rest
                    .split(' ')
                    .find(|w| w.starts_with("opts="))
                    .unwrap_or("");
                *l = json!(format!("/sys/fs/cgroup root=(own cgroup) {fstype} {opts}"));
            }
        }
    }
    if let Some(fds) = o.get_mut("fds").and_then(|f| f.as_object_mut()) {
        fds.remove("0");
        for fd in ["1", "2"] {
            assert_eq!(fds.remove(fd), Some(json!("pipe")), "{name}: fd {fd}");
        }
    }
}

fn base() -> Value {
    let mut s = container_spec(&["podprobe", "view"]);
    s["hostname"] = json!("diffhost");
    // As containerd writes every spec: all devices denied first.
    s["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    s
}

fn set(spec: &mut Value, pointer: &str, v: Value) {
    *spec
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = v;
}

fn add_mount(spec: &mut Value, m: Value) {
    spec["mounts"].as_array_mut().unwrap().push(m);
}

/// A user namespace mapping container 0-65535 to host 100000-165535.
fn user_namespace(spec: &mut Value) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"]["uidMappings"] = map.clone();
    spec["linux"]["gidMappings"] = map;
}

fn seccomp(spec: &mut Value, profile: Value) {
    spec["linux"]["seccomp"] = profile;
}

const CAPS_ALL_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "permitted",
    "inheritable",
    "ambient",
];

fn corpus() -> Vec<Variation> {
    vec![
        ("base", |_, _| {}),
        ("user-1000", |s, _| {
            set(s, "/process/user", json!({"uid": 1000, "gid": 1000}))
        }),
        ("additional-gids", |s, _| {
            set(
                s,
                "/process/user",
                json!({"uid": 1000, "gid": 100, "additionalGids": [10, 20, 30]}),
            )
        }),
        ("root-with-gid-5", |s, _| {
            set(s, "/process/user", json!({"uid": 0, "gid": 5}))
        }),
        ("umask-077", |s, _| {
            set(s, "/process/user", json!({"uid": 0, "gid": 0, "umask": 63}))
        }),
        ("caps-docker-default", |s, _| {
            s["process"]["capabilities"] = default_caps();
        }),
        ("caps-ambient-non-root", |s, _| {
            let c = json!(["CAP_NET_BIND_SERVICE"]);
            let mut sets = serde_json::Map::new();
            for k in CAPS_ALL_SETS {
                sets.insert(k.into(), c.clone());
            }
            s["process"]["capabilities"] = Value::Object(sets);
            set(s, "/process/user", json!({"uid": 1000, "gid": 1000}));
        }),
        ("caps-none", |s, _| {
            let mut sets = serde_json::Map::new();
            for k in CAPS_ALL_SETS {
                sets.insert(k.into(), json!([]));
            }
            s["process"]["capabilities"] = Value::Object(sets);
        }),
        ("no-new-privs-off", |s, _| {
            set(s, "/process/noNewPrivileges", json!(false))
        }),
        ("rlimits", |s, _| {
            s["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
                {"type": "RLIMIT_NPROC", "soft": 512, "hard": 512},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
            ])
        }),
        ("oom-score-adj", |s, _| {
            s["process"]["oomScoreAdj"] = json!(500)
        }),
        ("env-and-cwd", |s, _| {
            s["process"]["env"].as_array_mut().unwrap().extend([
                json!("A=1"),
                json!("EMPTY="),
                json!("WITH_EQ=a=b"),
            ]);
            set(s, "/process/cwd", json!("/tmp"));
        }),
        ("cwd-created", |s, _| {
            set(s, "/process/cwd", json!("/tmp/made/by/runtime"))
        }),
        ("rootfs-writable", |s, _| {
            set(s, "/root/readonly", json!(false))
        }),
        ("bind-ro", |s, host| {
            add_mount(
                s,
                json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "ro"]}),
            )
        }),
        ("bind-nosuid-nodev-noexec", |s, host| {
            add_mount(
                s,
                json!({"destination": "/data", "type": "bind", "source": host,
                       "options": ["bind", "nosuid", "nodev", "noexec", "rw"]}),
            )
        }),
        ("bind-rslave", |s, host| {
            add_mount(
                s,
                json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "rslave"]}),
            )
        }),
        ("bind-file", |s, host| {
            add_mount(
                s,
                json!({"destination": "/etc/probe-file", "type": "bind",
                       "source": host.join("file"), "options": ["bind", "ro"]}),
            )
        }),
        ("tmpfs-size-mode", |s, _| {
            add_mount(
                s,
                json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "size=1m", "mode=700", "uid=1000", "gid=1000"]}),
            )
        }),
        ("rootfs-propagation-slave", |s, _| {
            s["linux"]["rootfsPropagation"] = json!("slave")
        }),
        ("rootfs-propagation-private", |s, _| {
            s["linux"]["rootfsPropagation"] = json!("private")
        }),
        ("masked-paths", |s, _| {
            s["linux"]["maskedPaths"] = json!([
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/scsi",
                "/sys/firmware",
                "/sys/devices/virtual/powercap"
            ])
        }),
        ("readonly-paths", |s, _| {
            s["linux"]["readonlyPaths"] = json!([
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ])
        }),
        ("no-masks", |s, _| {
            s["linux"]["maskedPaths"] = json!([]);
            s["linux"]["readonlyPaths"] = json!([]);
        }),
        ("devices", |s, _| {
            s["linux"]["devices"] = json!([
                {"path": "/dev/probe-null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/probe-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 384, "uid": 1000, "gid": 1000}
            ]);
            s["linux"]["resources"] = json!({"devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
            ]});
        }),
        // As containerd's CRI writes a privileged container: every
        // capability, no masked or read-only paths, /sys writable, host
        // devices handed over, some of which the container's /dev has.
        ("privileged", |s, _| {
            let all: Vec<Value> = [
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_DAC_READ_SEARCH",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_SETGID",
                "CAP_SETUID",
                "CAP_SETPCAP",
                "CAP_LINUX_IMMUTABLE",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_BROADCAST",
                "CAP_NET_ADMIN",
                "CAP_NET_RAW",
                "CAP_IPC_LOCK",
                "CAP_IPC_OWNER",
                "CAP_SYS_MODULE",
                "CAP_SYS_RAWIO",
                "CAP_SYS_CHROOT",
                "CAP_SYS_PTRACE",
                "CAP_SYS_PACCT",
                "CAP_SYS_ADMIN",
                "CAP_SYS_BOOT",
                "CAP_SYS_NICE",
                "CAP_SYS_TIME",
                "CAP_SYS_TTY_CONFIG",
                "CAP_MKNOD",
                "CAP_LEASE",
                "CAP_AUDIT_WRITE",
                "CAP_AUDIT_CONTROL",
                "CAP_SETFCAP",
                "CAP_MAC_OVERRIDE",
                "CAP_MAC_ADMIN",
                "CAP_SYSLOG",
                "CAP_WAKE_ALARM",
                "CAP_BLOCK_SUSPEND",
                "CAP_AUDIT_READ",
                "CAP_PERFMON",
                "CAP_BPF",
                "CAP_CHECKPOINT_RESTORE",
            ]
            .iter()
            .map(|c| json!(c))
            .collect();
            s["process"]["capabilities"] = json!({
                "bounding": all, "effective": all, "permitted": all
            });
            s["process"]["noNewPrivileges"] = json!(false);
            s["linux"]["maskedPaths"] = json!([]);
            s["linux"]["readonlyPaths"] = json!([]);
            for m in s["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/sys" {
                    m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
                }
            }
            s["linux"]["devices"] = json!([
                {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420, "uid": 0, "gid": 0},
                {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/pts/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 438, "uid": 0, "gid": 0}
            ]);
            s["linux"]["resources"] = json!({"devices": [{"allow": true, "access": "rwm"}]});
        }),
        // containerd's default spec mounts the cgroups: the container's own
        // hierarchies, read-only.
        ("cgroup-mount", |s, _| {
            add_mount(
                s,
                json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
            );
            s["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        }),
        ("sysctl-net", |s, _| {
            s["linux"]["sysctl"] = json!({
                "net.ipv4.ip_unprivileged_port_start": "0",
                "net.ipv4.ping_group_range": "0 2147483647",
                "net.core.somaxconn": "1024"
            })
        }),
        (
            "sysctl-ipc",
            |s, _| {
                s["linux"]["sysctl"] = json!({"kernel.shmmax": "1048576", "kernel.msgmax": "4096"})
            },
        ),
        // Neither sets it: Debian's runc 1.1 does not know the field, and
        // a podshim member shares the pod's UTS namespace.
        ("domainname", |s, _| s["domainname"] = json!("diff.example")),
        ("cgroup-namespace", |s, _| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "cgroup"}))
        }),
        ("cgroup-namespace-mount", |s, _| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "cgroup"}));
            add_mount(
                s,
                json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
            );
        }),
        ("userns", |s, _| user_namespace(s)),
        ("userns-user-1000-caps", |s, _| {
            user_namespace(s);
            set(
                s,
                "/process/user",
                json!({"uid": 1000, "gid": 1000, "additionalGids": [5]}),
            );
            let c = json!(["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]);
            s["process"]["capabilities"] = json!({"bounding": c, "effective": c, "permitted": c});
        }),
        ("seccomp-deny-list", |s, _| {
            seccomp(
                s,
                json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    "syscalls": [
                        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                        {"names": ["mknod", "mknodat"], "action": "SCMP_ACT_ERRNO"},
                        {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
                    ]
                }),
            )
        }),
        ("seccomp-args", |s, _| {
            seccomp(
                s,
                json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                         "args": [{"index": 0, "value": 65535, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}
                    ]
                }),
            )
        }),
        ("seccomp-same-arg-twice", |s, _| {
            seccomp(
                s,
                json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
                    ]
                }),
            )
        }),
        ("seccomp-allow-list", |s, _| {
            seccomp(
                s,
                json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "defaultErrnoRet": 1,
                    "architectures": ["SCMP_ARCH_X86_64"],
                    "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                    "syscalls": [
                        {"names": ALLOW_LIST, "action": "SCMP_ACT_ALLOW"},
                        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
                        {"names": ["nosuch_syscall_podshim"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["getcwd"], "action": "SCMP_ACT_LOG"}
                    ]
                }),
            )
        }),
        ("seccomp-with-no-new-privs-off", |s, _| {
            set(s, "/process/noNewPrivileges", json!(false));
            seccomp(
                s,
                json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                    "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 93}]
                }),
            )
        }),
    ]
}

/// What podprobe and a static Rust program's start-up and exit need, and
/// what execve needs: the allow list of the allow-list profile.
const ALLOW_LIST: &[&str] = &[
    "read",
    "write",
    "openat",
    "open",
    "close",
    "fstat",
    "newfstatat",
    "statx",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "pread64",
    "readv",
    "writev",
    "access",
    "faccessat",
    "faccessat2",
    "pipe2",
    "sched_yield",
    "mremap",
    "madvise",
    "dup",
    "dup2",
    "dup3",
    "getpid",
    "gettid",
    "socket",
    "exit",
    "exit_group",
    "uname",
    "fcntl",
    "getdents64",
    "getcwd",
    "readlink",
    "readlinkat",
    "getuid",
    "getgid",
    "geteuid",
    "getegid",
    "getppid",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "getrandom",
    "sigaltstack",
    "futex",
    "clock_gettime",
    "execve",
    "poll",
    "ppoll",
    "sched_getaffinity",
    "rmdir",
    "unlink",
    "unlinkat",
    "getrlimit",
    // runc's own last steps once the filter is loaded
    "fstatfs",
    "close_range",
    "fchdir",
    "nanosleep",
    "epoll_pwait",
    "epoll_ctl",
    "tgkill",
];

/// Runs the spec under runc; its stdout and exit code.
fn under_runc(env: &TestEnv, n: usize, spec: &Value) -> (String, i32) {
    let dir = env.work.join(format!("runc-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut spec = spec.clone();
    // Debian's runc 1.1 refuses seccomp flags ("not yet supported"):
    // it gets the profile without them, podshim with them; what the
    // process sees is the same (the flags change logging and the
    // speculative store bypass mitigation only).
    if let Some(f) = spec
        .pointer_mut("/linux/seccomp")
        .and_then(|s| s.as_object_mut())
    {
        f.remove("flags");
    }
    // In the test's own cgroup tree, which runc removes when run ends.
    spec["linux"]["cgroupsPath"] = json!(format!("/{}-runc-{n}", env.cgroup_parent));
    std::fs::write(dir.join("config.json"), spec.to_string()).unwrap();
    let out = Command::new("runc")
        .arg("--root")
        .arg(env.work.join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&dir)
        .arg(format!("diff-{n}"))
        .stdin(Stdio::null())
        .output()
        .expect("run runc");
    (
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

/// Runs the spec as the one member of a podshim pod; its log and exit code.
fn under_podshim(env: &mut TestEnv, n: usize, spec: &Value) -> (String, i32) {
    let hostname = spec["hostname"].as_str().unwrap_or("diffhost").to_string();
    // A user namespace is the pod's (as Kubernetes has it): pod.json gets
    // the spec's mappings.
    let extra = match spec.pointer("/linux/uidMappings") {
        Some(uid) => json!({"uid_mappings": uid, "gid_mappings": spec["linux"]["gidMappings"]}),
        None => json!({}),
    };
    let dir = env.write_pod_with(
        &format!("diff{n}"),
        &hostname,
        &[("probe", spec.clone())],
        extra,
    );
    let run = env.podctl(&["run", dir.to_str().unwrap()]);
    if !run.status.success() {
        return (String::from_utf8_lossy(&run.stderr).into_owned(), -1);
    }
    let pod = String::from_utf8_lossy(&run.stdout).trim().to_string();
    assert!(env.pod_record(&pod).pause.is_some(), "pod has a pause");
    let rec = wait_for(Duration::from_secs(20), "the probe to finish", || {
        let r = env.container_record(&pod, "probe");
        (r.status == TaskStatus::Stopped).then_some(r)
    });
    let log = env.logs(&pod, "probe");
    env.podctl_ok(&["rm", &pod]);
    (log, rec.exit_code.unwrap_or(-1))
}

fn parse(name: &str, who: &str, out: &str, code: i32) -> Result<Value, String> {
    if code != 0 {
        return Err(format!("{who} failed ({code}): {out}"));
    }
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{who} printed no report: {out}"))?;
    let mut v: Value = serde_json::from_str(line).map_err(|e| format!("{who}: {e}: {line}"))?;
    allowed(&mut v, name);
    Ok(v)
}

/// The keys (and for objects, the sub-keys) whose values differ.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec![format!("{a} != {b}")];
    };
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if x == y {
            continue;
        }
        match (x, y) {
            (Some(Value::Object(_)), Some(Value::Object(_))) => {
                for d in differences(x.unwrap(), y.unwrap()) {
                    out.push(format!("{k}.{d}"));
                }
            }
            (Some(Value::Array(xa)), Some(Value::Array(ya))) => {
                let only_a: Vec<_> = xa.iter().filter(|v| !ya.contains(v)).collect();
                let only_b: Vec<_> = ya.iter().filter(|v| !xa.contains(v)).collect();
                if only_a.is_empty() && only_b.is_empty() {
                    out.push(format!("{k}: order differs: runc {xa:#?}\npodshim {ya:#?}"));
                } else {
                    out.push(format!(
                        "{k}: runc only {only_a:#?}, podshim only {only_b:#?}"
                    ));
                }
            }
            _ => out.push(format!("{k}: runc {x:?}, podshim {y:?}")),
        }
    }
    out
}

fn host_dir(env: &TestEnv) -> PathBuf {
    let d = env.work.join("host-data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("file"), "from the host\n").unwrap();
    d
}

#[test]
fn every_bundle_sees_what_runc_shows() {
    let mut env = TestEnv::new("ocidiff");
    assert!(
        Command::new("runc").arg("--version").output().is_ok(),
        "runc is needed for the differential tests (make deps installs it)"
    );
    let host = host_dir(&env);
    let corpus = corpus();
    assert!(
        corpus.len() >= 30,
        "the corpus has {} bundles",
        corpus.len()
    );
    let only = std::env::var("OCI_DIFF_ONLY").ok();
    let mut failures = Vec::new();
    for (n, (name, change)) in corpus.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let mut spec = base();
        change(&mut spec, &host);
        let (r_out, r_code) = under_runc(&env, n, &spec);
        let (p_out, p_code) = under_podshim(&mut env, n, &spec);
        let (runc, podshim) = match (
            parse(name, "runc", &r_out, r_code),
            parse(name, "podshim", &p_out, p_code),
        ) {
            (Ok(r), Ok(p)) => (r, p),
            (r, p) => {
                let errs: Vec<String> = [r.err(), p.err()].into_iter().flatten().collect();
                failures.push(format!("{name}:\n  {}", errs.join("\n  ")));
                continue;
            }
        };
        for (pointer, want) in expected(name) {
            let got = podshim
                .pointer(pointer)
                .map(|v| v.to_string())
                .unwrap_or_default();
            if !got.contains(want) {
                failures.push(format!("{name}: {pointer} is {got}, not {want}"));
            }
        }
        let diff = differences(&runc, &podshim);
        if !diff.is_empty() {
            failures.push(format!("{name}:\n  {}", diff.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bundles differ from runc:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    let leftover: Vec<_> = cgroup_dirs_named(&format!("{}-runc-", env.cgroup_parent));
    assert!(leftover.is_empty(), "runc left cgroups: {leftover:?}");
    env.finish();
}

/// Top-level cgroup directories, in every hierarchy, whose name starts
/// with `prefix`.
fn cgroup_dirs_named(prefix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in cgroup_roots() {
        for e in std::fs::read_dir(h).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                out.push(e.path());
            }
        }
    }
    out
}
