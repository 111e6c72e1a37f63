//! `podctl debug --rootfs DIR`: a temporary container with a tools rootfs
//! of its own, in the target container's pid, net, ipc and uts namespaces
//! (so the target's processes are its, and the target's root is at
//! /proc/1/root when the target has a pid namespace of its own), made
//! through the shim like any member (its cgroup, the default capabilities,
//! a terminal when podctl has one), and removed when its command ends.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use podshim_state::{read_json, PodPaths};
use podshim_types::{annotations as ann, ContainerRecord, Id, TaskStatus};
use serde_json::{json, Value};

use crate::shim::Shim;

/// The capabilities containerd gives a container by default.
const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The temporary container's spec.
fn spec(pod: &Id, rootfs: &Path, target_pid: i32, cmd: &[String], tty: bool) -> Value {
    let ns = |kind: &str, proc: &str| json!({"type": kind, "path": format!("/proc/{target_pid}/ns/{proc}")});
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": tty,
            "user": {"uid": 0, "gid": 0},
            "args": cmd,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    format!("TERM={}", std::env::var("TERM").unwrap_or_else(|_| "xterm".into()))],
            "cwd": "/",
            "capabilities": {"bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS,
                             "permitted": DEFAULT_CAPS},
            "noNewPrivileges": true
        },
        "root": {"path": rootfs, "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "annotations": {
            ann::CONTAINER_TYPE: ann::CONTAINER_TYPE_CONTAINER,
            ann::SANDBOX_ID: pod.as_str(),
            ann::CONTAINER_NAME: "debug",
        },
        "linux": {
            "namespaces": [ns("pid", "pid"), ns("network", "net"), ns("ipc", "ipc"),
                           ns("uts", "uts"), {"type": "mount"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Runs `cmd` (default sh) in a temporary container from `rootfs` beside
/// container `task` of the pod; its exit code is podctl's.
pub fn run(
    paths: &PodPaths,
    pod: &Id,
    task: &Id,
    rootfs: &Path,
    cmd: Vec<String>,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let rec: ContainerRecord = read_json(&paths.container_record(task))
        .with_context(|| format!("container {task} of pod {pod}"))?;
    if rec.status != TaskStatus::Running || !rec.stamp().is_some_and(|s| s.is_alive()) {
        bail!(
            "container {task} of pod {pod} is not running ({})",
            rec.status.as_str()
        );
    }
    let rootfs = std::fs::canonicalize(rootfs)
        .with_context(|| format!("tools rootfs {}", rootfs.display()))?;
    if !rootfs.is_dir() {
        bail!("tools rootfs {} is not a directory", rootfs.display());
    }
    let cmd = if cmd.is_empty() {
        vec!["sh".to_string()]
    } else {
        cmd
    };
    let tty = std::io::stdin().is_terminal();
    let id = Id::new(&format!("{pod}-debug-{}", std::process::id()))?;
    let dir: PathBuf = paths.dir().join("debug").join(id.as_str());
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = (|| {
        crate::bundles::write_json(
            &dir.join("config.json"),
            &spec(pod, &rootfs, rec.pid, &cmd, tty),
        )?;
        let make = |s: &Shim, stdio: [&str; 3]| -> anyhow::Result<()> {
            s.create(id.as_str(), &dir, stdio, tty)
                .map(drop)
                .with_context(|| format!("create the debug container {id}"))
        };
        crate::cmd::exec::run_process(paths, (id.as_str(), ""), &dir, make, true, tty)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir(paths.dir().join("debug"));
    result
}
