//! What must not reach the host from inside a container: mount
//! destinations are resolved inside the rootfs even through symlinks aimed
//! at host paths, a rootfs that resolves to the host's `/` is refused, no
//! host fd is open in a container process (init or exec), and the runtime
//! binary behind the pause and init cannot be opened from the container.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;
use serde_json::{json, Value};

/// A private, writable copy of the test rootfs.
fn own_rootfs(env: &TestEnv) -> PathBuf {
    let dst = env.work.join("rootfs");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(test_rootfs())
        .arg(&dst)
        .status()
        .unwrap()
        .success();
    assert!(ok, "copy the test rootfs");
    dst
}

fn host_mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| m.starts_with(&*dir.to_string_lossy()))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn mount_destinations_through_symlinks_stay_inside_the_rootfs() {
    let mut env = TestEnv::new("symlinkdest");
    let rootfs = own_rootfs(&env);
    let host = env.work.join("host-target");
    std::fs::create_dir_all(&host).unwrap();
    // Absolute and climbing symlinks, both aimed at the host directory.
    std::os::unix::fs::symlink(&host, rootfs.join("abs")).unwrap();
    let climb = format!("../../../../../../../../..{}", host.display());
    std::os::unix::fs::symlink(&climb, rootfs.join("climb")).unwrap();
    let mut spec = container_spec(&["sh", "-c", "cat /proc/self/mountinfo; sleep 1000"]);
    spec["root"]["path"] = json!(rootfs);
    for dest in ["/abs/x", "/climb/y"] {
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
        }));
    }
    let dir = env.write_pod("symlinkdest", "symlinkdest", &[("app", spec)]);
    let pod = env.run_pod(&dir);
    wait_for(
        Duration::from_secs(10),
        "the container's mount table",
        || env.logs(&pod, "app").contains("/proc").then_some(()),
    );
    // The host directory got nothing: no entry, no mount.
    let made: Vec<_> = std::fs::read_dir(&host).unwrap().flatten().collect();
    assert!(made.is_empty(), "created on the host: {made:?}");
    assert!(host_mounts_under(&host).is_empty());
    // Inside, both mounts landed on the resolved paths within the rootfs.
    let inside = env.logs(&pod, "app");
    for name in ["x", "y"] {
        let want = format!("{}/{name} ", host.display());
        assert!(
            inside.contains(&want),
            "no mount at {want} inside: {inside}"
        );
    }
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn a_rootfs_that_resolves_to_the_host_root_is_refused() {
    let env = TestEnv::new("rootlink");
    let link = env.work.join("rootlink");
    std::os::unix::fs::symlink("/", &link).unwrap();
    let mut spec = container_spec(&["true"]);
    spec["root"]["path"] = json!(link);
    let dir = env.write_pod("rootlink", "rootlink", &[("app", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("resolves to the host's /"), "{err}");
    assert!(!env.pod_dir("rootlink").exists());
    // A symlink to a real rootfs is followed, as runc does.
    let link = env.work.join("goodlink");
    std::os::unix::fs::symlink(test_rootfs(), &link).unwrap();
    let mut spec = container_spec(&["true"]);
    spec["root"]["path"] = json!(link);
    let dir = env.write_pod("goodlink", "goodlink", &[("app", spec)]);
    let out = env.podctl(&["run", "--rm", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.finish();
}

/// The fds a `podprobe view` report shows, but for stdio and the
/// directory it lists them with.
fn extra_fds(view: &Value) -> Vec<String> {
    view["fds"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            !["0", "1", "2"].contains(&k.as_str()) && !v.as_str().unwrap().contains("/fd")
        })
        .map(|(k, v)| format!("{k} -> {v}"))
        .collect()
}

#[test]
fn no_host_fd_reaches_init_or_exec() {
    let mut env = TestEnv::new("fdleak");
    let dir = env.write_pod(
        "fdleak",
        "fdleak",
        &[(
            "app",
            container_spec(&["sh", "-c", "podprobe view; exec sleep 1000"]),
        )],
    );
    let pod = env.run_pod(&dir);
    let init: Value = wait_for(Duration::from_secs(10), "the report", || {
        let l = env.logs(&pod, "app");
        serde_json::from_str(l.lines().next()?).ok()
    });
    assert_eq!(extra_fds(&init), Vec::<String>::new(), "init: {init}");
    assert_eq!(init["cwd"], "/");
    let out = env.podctl_ok(&["exec", &pod, "app", "--", "podprobe", "view"]);
    let exec: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(extra_fds(&exec), Vec::<String>::new(), "exec: {exec}");
    assert_eq!(exec["cwd"], "/");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn the_runtime_binary_behind_pause_and_init_is_out_of_reach() {
    let mut env = TestEnv::new("exeguard");
    // A shared pid namespace: pid 1 is the pause, which runs podshim; the
    // second container is created, not started, so its init (podshim too)
    // is visible while it waits.
    let probe = "echo \"control readlink=$(readlink /proc/$$/exe)\"; \
                 for p in /proc/[0-9]*; do \
                   case $(cat $p/comm 2>/dev/null) in podshim*|exe) \
                     echo \"$p readlink=$(readlink $p/exe 2>&1 || echo denied)\"; \
                     (echo x >> $p/exe) 2>/dev/null && echo \"$p WRITTEN\" || echo \"$p write refused\";; \
                   esac; done; echo probe-done; sleep 1000";
    let dir = env.write_pod_with(
        "exeguard",
        "exeguard",
        &[("probe", container_spec(&["sh", "-c", probe]))],
        json!({"share_pid_namespace": true}),
    );
    let before = std::fs::read(env.podshim()).unwrap();
    let pod = env.run_pod(&dir);
    let log = wait_for(Duration::from_secs(10), "the probe", || {
        let l = env.logs(&pod, "probe");
        l.contains("probe-done").then_some(l)
    });
    assert_eq!(
        env.container_record(&pod, "probe").status,
        TaskStatus::Running
    );
    // The probe can read its own exe link: the refusals below are ours.
    assert!(log.contains("control readlink=/bin/"), "{log}");
    assert!(
        log.contains("/proc/1 readlink=denied"),
        "the pause is not hidden: {log}"
    );
    assert!(log.contains("/proc/1 write refused"), "{log}");
    assert!(!log.contains("WRITTEN"), "{log}");
    let shim_path = env.podshim().display().to_string();
    assert!(
        !log.contains(&shim_path),
        "the binary's path is readable: {log}"
    );
    assert_eq!(std::fs::read(env.podshim()).unwrap(), before);
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
