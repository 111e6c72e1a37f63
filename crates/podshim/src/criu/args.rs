//! The `criu dump` and `criu restore` command lines for a pod member.

use std::path::{Path, PathBuf};

use super::plan::CheckpointPlan;

/// What the container is, as the dump needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpTarget {
    /// Host pid of the container's pid 1.
    pub pid: i32,
    /// Inode of its network namespace when that is not the shim's own
    /// (the pod's, which a restore joins).
    pub external_net: Option<u64>,
    /// Destinations of its bind mounts from the host.
    pub bind_mounts: Vec<String>,
    /// Its standard descriptors that are files of mounts outside its
    /// mount namespace (containerd's FIFOs, a `file://` log), as CRIU keys
    /// external files: `file[MNT_ID:INODE]`, in hex.
    pub external_files: Vec<String>,
    /// Its cgroup's freezer directory: CRIU freezes the tree there (and
    /// leaves it as it found it: containerd pauses a task before its
    /// checkpoint).
    pub freezer: Option<PathBuf>,
}

/// The key CRIU knows the pod's network namespace by (runc's).
pub const NET_KEY: &str = "extRootNetNS";

/// The log CRIU writes in its work directory.
pub const DUMP_LOG: &str = "dump.log";

/// `criu dump` arguments for `target` by `plan`, images in `image`, work
/// files and log in `work`.
pub fn dump_args(
    plan: &CheckpointPlan,
    target: &DumpTarget,
    image: &Path,
    work: &Path,
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "dump".into(),
        "--tree".into(),
        target.pid.to_string(),
        "--images-dir".into(),
        image.display().to_string(),
        "--work-dir".into(),
        work.display().to_string(),
        "--log-file".into(),
        DUMP_LOG.into(),
        "-v4".into(),
        // An optional argument: CRIU takes it only after `=`.
        format!(
            "--manage-cgroups={}",
            plan.cgroups_mode.as_deref().unwrap_or("soft")
        ),
    ];
    if !plan.exit {
        a.push("--leave-running".into());
    }
    for (on, flag) in [
        (plan.open_tcp, "--tcp-established"),
        (plan.external_unix_sockets, "--ext-unix-sk"),
        (plan.terminal, "--shell-job"),
        (plan.file_locks, "--file-locks"),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    if plan.empty_net {
        a.extend(["--empty-ns".into(), "net".into()]);
    }
    if let Some(ino) = target.external_net {
        a.extend(["--external".into(), format!("net[{ino}]:{NET_KEY}")]);
    }
    for dest in &target.bind_mounts {
        a.extend(["--ext-mount-map".into(), format!("{dest}:{dest}")]);
    }
    for key in &target.external_files {
        a.extend(["--external".into(), key.clone()]);
    }
    if let Some(f) = &target.freezer {
        a.extend(["--freeze-cgroup".into(), f.display().to_string()]);
    }
    a
}

/// The log CRIU writes in its work directory on a restore.
pub const RESTORE_LOG: &str = "restore.log";

/// What a restore puts the dumped tree into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreTarget {
    /// The new container's root filesystem.
    pub root: PathBuf,
    /// The fd (in criu) of the pod's network namespace.
    pub net_fd: Option<i32>,
    /// Namespaces joined by path: (kind as CRIU names it, path).
    pub join: Vec<(String, String)>,
    /// Descriptors handed in for the image's external files: (fd in
    /// criu, the key the dump named the file by, `pipe:[INODE]`).
    pub inherit: Vec<(i32, String)>,
    /// Bind mounts of the new spec: (destination, host source).
    pub bind_mounts: Vec<(String, String)>,
    /// The new container's cgroup, relative to the hierarchies' roots.
    pub cgroup: Option<String>,
    /// Where CRIU writes the host pid of the restored pid 1.
    pub pidfile: PathBuf,
}

/// `criu restore` arguments: the tree comes back stopped, its root a child
/// of the caller (`--restore-sibling`), which resumes it at Start.
pub fn restore_args(target: &RestoreTarget, image: &Path, work: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "restore".into(),
        "--images-dir".into(),
        image.display().to_string(),
        "--work-dir".into(),
        work.display().to_string(),
        "--log-file".into(),
        RESTORE_LOG.into(),
        "-v4".into(),
        "--root".into(),
        target.root.display().to_string(),
        "--restore-detached".into(),
        "--restore-sibling".into(),
        "--leave-stopped".into(),
        "--pidfile".into(),
        target.pidfile.display().to_string(),
        "--manage-cgroups=soft".into(),
    ];
    if let Some(cg) = &target.cgroup {
        a.extend([
            "--cgroup-root".into(),
            format!("/{}", cg.trim_start_matches('/')),
        ]);
    }
    if let Some(fd) = target.net_fd {
        a.extend(["--inherit-fd".into(), format!("fd[{fd}]:{NET_KEY}")]);
    }
    for (fd, key) in &target.inherit {
        a.extend(["--inherit-fd".into(), format!("fd[{fd}]:{key}")]);
    }
    for (kind, path) in &target.join {
        a.extend(["--join-ns".into(), format!("{kind}:{path}")]);
    }
    for (dest, source) in &target.bind_mounts {
        a.extend(["--ext-mount-map".into(), format!("{dest}:{source}")]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::plan::plan;
    use super::*;

    #[test]
    fn the_dump_of_a_pod_member_keeps_the_pods_network_outside() {
        let p = plan("/img", None).unwrap();
        let t = DumpTarget {
            pid: 42,
            external_net: Some(4026532190),
            bind_mounts: vec!["/etc/hosts".into()],
            external_files: vec!["file[1c:2a]".into()],
            freezer: Some("/sys/fs/cgroup/p/c".into()),
        };
        let a = dump_args(&p, &t, Path::new("/img"), Path::new("/work"));
        let s = a.join(" ");
        assert!(
            s.starts_with("dump --tree 42 --images-dir /img --work-dir /work"),
            "{s}"
        );
        assert!(s.contains("--leave-running"), "{s}");
        assert!(s.contains("--manage-cgroups=soft"), "{s}");
        assert!(s.contains("--external net[4026532190]:extRootNetNS"), "{s}");
        assert!(s.contains("--ext-mount-map /etc/hosts:/etc/hosts"), "{s}");
        assert!(s.contains("--freeze-cgroup /sys/fs/cgroup/p/c"), "{s}");
        assert!(s.contains("--external file[1c:2a]"), "{s}");
        assert!(
            !s.contains("--tcp-established") && !s.contains("--shell-job"),
            "{s}"
        );

        let exit = CheckpointPlan {
            exit: true,
            terminal: true,
            ..p
        };
        let host_net = DumpTarget {
            external_net: None,
            ..t
        };
        let s = dump_args(&exit, &host_net, Path::new("/img"), Path::new("/work")).join(" ");
        assert!(
            !s.contains("--leave-running") && !s.contains("--external net"),
            "{s}"
        );
        assert!(s.contains("--shell-job"), "{s}");
    }

    #[test]
    fn a_restore_joins_the_pods_namespaces_and_comes_back_stopped() {
        let t = RestoreTarget {
            root: "/rootfs".into(),
            net_fd: Some(3),
            join: vec![("ipc".into(), "/p/ns/ipc".into())],
            inherit: vec![(4, "pipe:[77]".into())],
            bind_mounts: vec![("/etc/hosts".into(), "/p/etc/hosts".into())],
            cgroup: Some("podshim/ns/pod/c".into()),
            pidfile: "/w/pid".into(),
        };
        let s = restore_args(&t, Path::new("/img"), Path::new("/w")).join(" ");
        assert!(
            s.starts_with("restore --images-dir /img --work-dir /w"),
            "{s}"
        );
        for want in [
            "--root /rootfs",
            "--restore-detached --restore-sibling --leave-stopped",
            "--pidfile /w/pid",
            "--cgroup-root /podshim/ns/pod/c",
            "--inherit-fd fd[3]:extRootNetNS",
            "--inherit-fd fd[4]:pipe:[77]",
            "--join-ns ipc:/p/ns/ipc",
            "--ext-mount-map /etc/hosts:/p/etc/hosts",
        ] {
            assert!(s.contains(want), "{want} missing: {s}");
        }
    }
}
