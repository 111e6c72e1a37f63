//! CRIU, as the shim drives it: the checkpoint options containerd sends
//! (runc's `containerd.runc.v1.CheckpointOptions`, honoured or refused by
//! name), the `criu dump` and `criu restore` command lines for a pod
//! member, and running criu with its reason brought back from its log
//! when it refuses.
//!
//! A pod member's pid 1 is the root of a pid namespace of its own; its
//! network namespace is the pause's, which CRIU is told is external
//! (`extRootNetNS`, runc's key), so a restore joins the pod's instead of
//! making one; its IPC and UTS namespaces are dumped and, on a restore,
//! joined. Bind mounts from the host are external mounts keyed by their
//! destination, as runc keys them.

use std::path::{Path, PathBuf};

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::oci::CheckpointOptions;

use crate::child::Child;
use crate::error::{Result, ShimError};

/// The type containerd and ctr send a checkpoint's options as.
const OPTIONS_TYPE: &str = "containerd.runc.v1.CheckpointOptions";

/// What a checkpoint is asked to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointPlan {
    /// Stop the container once dumped (runc's `exit`); else it runs on.
    pub exit: bool,
    pub open_tcp: bool,
    pub external_unix_sockets: bool,
    pub terminal: bool,
    pub file_locks: bool,
    /// Namespaces dumped without their contents (CRIU knows only net).
    pub empty_net: bool,
    /// CRIU's --manage-cgroups mode.
    pub cgroups_mode: Option<String>,
    /// Where the image goes (containerd's request path, else the options').
    pub image: PathBuf,
    /// CRIU's work directory, when asked for one.
    pub work: Option<PathBuf>,
}

/// The plan for a Checkpoint request of image path `path` and `options`.
pub fn plan(path: &str, options: Option<&Any>) -> Result<CheckpointPlan> {
    let o = match options.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) {
        None => CheckpointOptions::new(),
        Some(any) => {
            let kind = any.type_url.rsplit('/').next().unwrap_or("");
            if kind != OPTIONS_TYPE {
                return Err(ShimError::InvalidArgument(format!(
                    "checkpoint options of type {kind:?}: podshim reads {OPTIONS_TYPE}"
                )));
            }
            CheckpointOptions::parse_from_bytes(&any.value).map_err(|e| {
                ShimError::InvalidArgument(format!("checkpoint options: {OPTIONS_TYPE}: {e}"))
            })?
        }
    };
    let mut empty_net = false;
    for ns in &o.empty_namespaces {
        match ns.as_str() {
            "network" | "net" => empty_net = true,
            other => {
                return Err(ShimError::InvalidArgument(format!(
                    "checkpoint options: empty_namespaces: {other:?} (CRIU empties only network)"
                )))
            }
        }
    }
    let cgroups_mode = match o.cgroups_mode.as_str() {
        "" => None,
        m @ ("soft" | "full" | "strict" | "ignore") => Some(m.to_string()),
        other => {
            return Err(ShimError::InvalidArgument(format!(
                "checkpoint options: cgroups_mode {other:?} (soft, full, strict or ignore)"
            )))
        }
    };
    let image = if !path.is_empty() {
        path
    } else {
        o.image_path.as_str()
    };
    if image.is_empty() || !Path::new(image).is_absolute() {
        return Err(ShimError::InvalidArgument(format!(
            "checkpoint image path {image:?} is not an absolute path"
        )));
    }
    let work = (!o.work_path.is_empty()).then(|| PathBuf::from(&o.work_path));
    if let Some(w) = work.as_ref().filter(|w| !w.is_absolute()) {
        return Err(ShimError::InvalidArgument(format!(
            "checkpoint options: work_path {:?} is not absolute",
            w.display()
        )));
    }
    Ok(CheckpointPlan {
        exit: o.exit,
        open_tcp: o.open_tcp,
        external_unix_sockets: o.external_unix_sockets,
        terminal: o.terminal,
        file_locks: o.file_locks,
        empty_net,
        cgroups_mode,
        image: PathBuf::from(image),
        work,
    })
}

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

/// The criu binary: `$PODSHIM_CRIU`, else `criu` on PATH.
pub fn binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PODSHIM_CRIU").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ShimError::FailedPrecondition(format!(
                "checkpoint needs CRIU: PODSHIM_CRIU names {}, which is not a file",
                p.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("criu"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ShimError::FailedPrecondition("checkpoint needs CRIU: no criu on PATH".into())
        })
}

/// Runs `criu` with `args` and waits for it; a failure is CRIU's own
/// reason (the error lines of its `log`), the log kept at `keep` (as
/// containerd's runc shim keeps `criu-dump.log` in the bundle).
pub async fn run(
    criu: &Path,
    args: Vec<String>,
    fds: Vec<(std::os::fd::RawFd, i32)>,
    log: &Path,
    keep: &Path,
) -> Result<()> {
    let exe = criu.to_string_lossy().into_owned();
    // What it says before its log is open (a bad option, say) goes here.
    let said = log.with_extension("stderr");
    let stderr = std::fs::File::create(&said)
        .map_err(|e| ShimError::Internal(format!("{}: {e}", said.display())))?;
    let pid = podshim_sys::spawn::spawn(podshim_sys::spawn::Reexec {
        exe: &exe,
        arg0: "criu",
        args,
        stdio: podshim_sys::spawn::ChildStdio {
            stdin: None,
            stdout: None,
            stderr: Some(stderr.into()),
        },
        fds,
        setsid: false,
        env: Vec::new(),
        env_clear: false,
        cwd: Some("/"),
    })
    .map_err(|e| ShimError::Internal(format!("run {exe}: {e}")))?;
    // On this one thread, nothing reaps it before it is ours.
    let child = Child::adopt(pid)?;
    let code = child.wait().await?;
    if code == Some(0) {
        return Ok(());
    }
    let mut text = std::fs::read_to_string(log).unwrap_or_default();
    text.push_str(&std::fs::read_to_string(&said).unwrap_or_default());
    let kept = match std::fs::write(keep, &text) {
        Ok(()) => keep.display().to_string(),
        Err(e) => format!("not kept: {}: {e}", keep.display()),
    };
    Err(ShimError::FailedPrecondition(format!(
        "criu exited with {}: {} (log: {kept})",
        code.map_or("an unknown status".into(), |c| c.to_string()),
        reason(&text),
    )))
}

/// CRIU's reason from its log: its error lines, without their time stamps.
pub fn reason(log: &str) -> String {
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Error (") && !l.contains("Dumping FAILED"))
        .map(|l| l.split_once(") ").map_or(l, |(_, rest)| rest).trim())
        .take(4)
        .collect();
    if errors.is_empty() {
        log.lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map_or_else(|| "no error in its log".into(), str::to_string)
    } else {
        errors.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &CheckpointOptions) -> Any {
        Any {
            type_url: format!("type.googleapis.com/{OPTIONS_TYPE}"),
            value: o.write_to_bytes().unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn options_are_honoured_or_refused_by_name() {
        let mut o = CheckpointOptions::new();
        o.exit = true;
        o.open_tcp = true;
        o.file_locks = true;
        o.empty_namespaces = vec!["network".into()];
        o.cgroups_mode = "ignore".into();
        o.work_path = "/w".into();
        let p = plan("/img", Some(&opts(&o))).unwrap();
        assert!(p.exit && p.open_tcp && p.file_locks && p.empty_net);
        assert!(!p.terminal && !p.external_unix_sockets);
        assert_eq!(p.cgroups_mode.as_deref(), Some("ignore"));
        assert_eq!(p.image, PathBuf::from("/img"));
        assert_eq!(p.work, Some(PathBuf::from("/w")));

        // The request's path wins; the options' image path serves without it.
        o.image_path = "/other".into();
        assert_eq!(
            plan("", Some(&opts(&o))).unwrap().image,
            PathBuf::from("/other")
        );

        let mut bad = CheckpointOptions::new();
        bad.empty_namespaces = vec!["ipc".into()];
        let e = plan("/img", Some(&opts(&bad))).unwrap_err().to_string();
        assert!(e.contains("empty_namespaces") && e.contains("ipc"), "{e}");
        let mut bad = CheckpointOptions::new();
        bad.cgroups_mode = "loose".into();
        let e = plan("/img", Some(&opts(&bad))).unwrap_err().to_string();
        assert!(e.contains("cgroups_mode") && e.contains("loose"), "{e}");
        let e = plan("relative", None).unwrap_err().to_string();
        assert!(e.contains("\"relative\""), "{e}");
        let other = Any {
            type_url: "containerd.linux.runc.CheckpointOptions".into(),
            ..Default::default()
        };
        let e = plan("/img", Some(&other)).unwrap_err().to_string();
        assert!(e.contains("containerd.linux.runc.CheckpointOptions"), "{e}");
    }

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

    #[test]
    fn the_reason_is_criu_s_error_lines() {
        let log = "(00.009607) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                   (00.009609) Info  something\n\
                   (00.577367) Error (criu/cr-dump.c:2053): Dumping FAILED.\n";
        assert_eq!(
            reason(log),
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds"
        );
        assert_eq!(reason(""), "no error in its log");
        assert_eq!(reason("Usage:\n  criu dump -t PID\n\n"), "criu dump -t PID");
    }
}
