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

/// CVE-2019-5736's shape, from a container of a shared-pid pod that has
/// CAP_SYS_PTRACE (a common debugging setup): it can open /proc/PID/exe of
/// the shim's processes it sees (the pause, an exec child on its way in)
/// despite their being non-dumpable, and it plants a `#!/proc/self/exe`
/// script for a person to run with `podctl exec`. Whatever of the shim's
/// binary it reaches must be on a read-only mount, never writable, never
/// at the host's path, and the host's file must stay as it was.
#[test]
fn the_shim_binary_cannot_be_written_from_a_container() {
    use std::os::unix::fs::MetadataExt;
    let mut env = TestEnv::new("exeinterp");
    let mut spec = container_spec(&[
        "sh",
        "-c",
        "printf '#!/proc/self/exe\\n' > /tmp/x; chmod +x /tmp/x; exec podprobe exe-watch 120",
    ]);
    spec["process"]["capabilities"] = default_caps_with(&["CAP_SYS_PTRACE"]);
    let dir = env.write_pod_with(
        "exeinterp",
        "exeinterp",
        &[("app", spec)],
        json!({"share_pid_namespace": true}),
    );
    let before = std::fs::read(env.podshim()).unwrap();
    let host = std::fs::metadata(env.podshim()).unwrap();
    let id = format!(" dev={} ino={} ", host.dev(), host.ino());
    let pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "the watcher", || {
        env.logs(&pod, "app")
            .contains("exe-watch: started")
            .then_some(())
    });
    for _ in 0..20 {
        // Were the shim binary the script's interpreter, it would refuse
        // the arguments; the kernel refuses it anyway here. Either way the
        // watcher sees the exec child on its way in.
        let out = env.podctl(&["exec", &pod, "app", "--", "/tmp/x"]);
        assert_ne!(out.status.code(), Some(0), "{out:?}");
    }
    let hits: Vec<String> = wait_for(Duration::from_secs(10), "the pause seen", || {
        let h: Vec<String> = env
            .logs(&pod, "app")
            .lines()
            .filter(|l| l.starts_with("exe ") && l.contains(&id))
            .map(str::to_string)
            .collect();
        (!h.is_empty()).then_some(h)
    });
    assert!(
        hits.iter().any(|h| h.starts_with("exe pid=1 ")),
        "the pause was not reached: {hits:?}"
    );
    let shim_path = env.podshim().display().to_string();
    for h in &hits {
        assert!(!h.contains("WRITABLE"), "the binary was writable: {h}");
        assert!(
            h.contains(" ro=true "),
            "the binary is not on a read-only mount: {h}"
        );
        assert!(!h.contains(&shim_path), "the host's path shows: {h}");
    }
    assert_eq!(std::fs::read(env.podshim()).unwrap(), before);
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

/// Kubernetes' shareProcessNamespace plus CAP_SYS_PTRACE: pid 1 of every
/// member is the pause. Through /proc/1 a member must find nothing of the
/// host: an empty root it cannot write, no capability, no_new_privs, and
/// no descriptor but its stdio and the channel to the shim.
#[test]
fn the_pause_holds_nothing_a_member_could_use() {
    let mut env = TestEnv::new("pauseconf");
    let probe = "echo root=$(ls -A /proc/1/root/ | tr '\\n' ,); \
                 (echo x > /proc/1/root/planted) 2>/dev/null && echo planted || echo plant-refused; \
                 grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/1/status; \
                 for f in /proc/1/fd/*; do echo fd=$(basename $f):$(readlink $f); done; \
                 echo cwd=$(readlink /proc/1/cwd); echo probe-done; sleep 1000";
    let mut spec = container_spec(&["sh", "-c", probe]);
    spec["process"]["capabilities"] = default_caps_with(&["CAP_SYS_PTRACE"]);
    let dir = env.write_pod_with(
        "pauseconf",
        "pauseconf",
        &[("probe", spec)],
        json!({"share_pid_namespace": true}),
    );
    let pod = env.run_pod(&dir);
    let log = wait_for(Duration::from_secs(10), "the probe", || {
        let l = env.logs(&pod, "probe");
        l.contains("probe-done").then_some(l)
    });
    assert!(
        log.contains("root=\n") || log.contains("root=,\n") || log.lines().any(|l| l == "root="),
        "the pause's root shows files: {log}"
    );
    assert!(log.contains("plant-refused"), "{log}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            log.lines()
                .any(|l| l.starts_with(set) && l.ends_with("0000000000000000")),
            "{set} of the pause is not empty: {log}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')),
        "{log}"
    );
    let fds: Vec<&str> = log.lines().filter(|l| l.starts_with("fd=")).collect();
    assert!(!fds.is_empty(), "the pause's fds were not readable: {log}");
    for fd in &fds {
        let target = fd.split_once(':').map(|x| x.1).unwrap_or("");
        assert!(
            target == "/dev/null"
                || target.starts_with("socket:")
                || target.starts_with("pipe:")
                || target.starts_with("anon_inode:"),
            "the pause holds {fd}: {log}"
        );
    }
    assert!(log.contains("cwd=/\n"), "{log}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

/// A shared volume holds `dir` (a directory) and `link` (a symlink to a
/// host directory); a pod with the volume swaps the two names in a loop
/// (renameat2 RENAME_EXCHANGE), racing a runtime that resolves a mount
/// destination under `/vol/dir` and then mounts by name. Every start must
/// either run with its mount where it asked for it, or fail saying the
/// path moved; nothing may be made or mounted on the host. runc 1.1, given
/// the same bundle and the same swapper, is held to running with its mount
/// only: it does make directories on the host here (CVE-2024-45310, fixed
/// in runc 1.1.14), which the test counts and prints.
#[test]
fn a_mount_destination_swapped_for_a_symlink_does_not_escape() {
    let mut env = TestEnv::new("swapdest");
    let rootfs = own_rootfs(&env);
    let vol = env.work.join("vol");
    let host = env.work.join("host-target");
    std::fs::create_dir_all(vol.join("dir")).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    std::os::unix::fs::symlink(&host, vol.join("link")).unwrap();
    let volume =
        json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "rw"]});

    let mut swapper = container_spec(&["podprobe", "exchange", "/vol/dir", "/vol/link", "600"]);
    swapper["mounts"]
        .as_array_mut()
        .unwrap()
        .push(volume.clone());
    let dir = env.write_pod("swapper", "swapper", &[("swap", swapper)]);
    let swapper_pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "the swapper", || {
        env.logs(&swapper_pod, "swap")
            .contains("exchange: started")
            .then_some(())
    });

    let check = "grep -q size=12k /proc/self/mountinfo && echo has-mount || echo NO-MOUNT";
    let mut victim = container_spec(&["sh", "-c", check]);
    victim["root"]["path"] = json!(rootfs);
    let mounts = victim["mounts"].as_array_mut().unwrap();
    mounts.push(volume);
    mounts.push(json!({"destination": "/vol/dir/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=12k"]}));

    const RUNS: usize = 30;
    let (mut ran, mut refused) = (0, 0);
    for i in 0..RUNS {
        let dir = env.write_pod(&format!("victim{i}"), "victim", &[("app", victim.clone())]);
        let out = env.podctl(&["run", dir.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            let pod = format!("victim{i}");
            let rec = wait_for(Duration::from_secs(10), "the check", || {
                let r = env.container_record(&pod, "app");
                (r.status == podshim_types::TaskStatus::Stopped).then_some(r)
            });
            let log = env.logs(&pod, "app");
            assert!(
                log.contains("has-mount"),
                "run {i} started without its mount: {log} {rec:?}"
            );
            env.podctl_ok(&["rm", "--timeout", "0", &pod]);
            ran += 1;
        } else {
            assert!(
                err.contains("possibly malicious path"),
                "run {i}: unclear refusal: {err}"
            );
            refused += 1;
        }
        assert_eq!(
            std::fs::read_dir(&host).unwrap().count(),
            0,
            "run {i} made something on the host"
        );
    }
    eprintln!("podshim: {ran} ran with their mount, {refused} refused");

    // runc 1.1, same volume, same swapper, same destination.
    let bundle = env.work.join("runc-bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let mut spec = victim.clone();
    spec["linux"]["cgroupsPath"] = json!(format!("/{}-runc", env.cgroup_parent));
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let (mut runc_ran, mut runc_refused, mut runc_on_host) = (0, 0, 0);
    for i in 0..RUNS {
        let out = Command::new("runc")
            .arg("--root")
            .arg(env.work.join("runc-state"))
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("swap-{i}"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run runc");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            assert!(
                text.contains("has-mount"),
                "runc run {i} started without its mount: {text}"
            );
            runc_ran += 1;
        } else {
            runc_refused += 1;
        }
        if std::fs::read_dir(&host).unwrap().count() > 0 {
            runc_on_host += 1;
            for e in std::fs::read_dir(&host).unwrap().flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    eprintln!(
        "runc: {runc_ran} ran with their mount, {runc_refused} refused, \
         {runc_on_host} made a directory on the host"
    );
    env.podctl_ok(&["rm", "--timeout", "0", &swapper_pod]);
    assert!(
        host_mounts_under(&env.work).is_empty(),
        "{:?}",
        host_mounts_under(&env.work)
    );
    env.finish();
}

/// A container replaces its /bin/sh; the next person to `podctl debug` it
/// runs that program. It must run confined as the container's own pid 1
/// is (capabilities, no_new_privs, seccomp, cgroup), not as host root;
/// only `--privileged` enters unconfined, and says so.
#[test]
fn podctl_debug_runs_the_containers_programs_confined() {
    let mut env = TestEnv::new("debugsh");
    let rootfs = own_rootfs(&env);
    // The replacement reports how it was run.
    let script = "#!/bin/busybox ash\n\
                  grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status\n\
                  echo \"cgroup=$(tr '\\n' ' ' < /proc/self/cgroup)\"\n";
    let plant =
        "rm /bin/sh; echo \"$SCRIPT\" > /bin/sh; chmod +x /bin/sh; echo planted; exec sleep 1000";
    let mut spec = container_spec(&["/bin/busybox", "ash", "-c", plant]);
    spec["root"] = json!({"path": rootfs, "readonly": false});
    spec["process"]["capabilities"] = default_caps();
    spec["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("SCRIPT={script}")));
    let dir = env.write_pod("debugsh", "debugsh", &[("app", spec)]);
    let pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "the plant", || {
        env.logs(&pod, "app").contains("planted").then_some(())
    });
    let pid1 = env.container_record(&pod, "app").pid;
    let status = std::fs::read_to_string(format!("/proc/{pid1}/status")).unwrap();
    let field = |text: &str, name: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let cgroup = std::fs::read_to_string(format!("/proc/{pid1}/cgroup"))
        .unwrap()
        .lines()
        .collect::<Vec<_>>()
        .join(" ");

    let out = env.podctl(&["debug", &pod, "app"]);
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    for name in ["CapEff", "CapBnd", "NoNewPrivs", "Seccomp"] {
        assert_eq!(field(&seen, name), field(&status, name), "{name}: {seen}");
    }
    assert!(
        seen.contains(&format!("cgroup={cgroup} ")),
        "not in the container's cgroup: {seen} vs {cgroup}"
    );

    // The explicit choice: unconfined, with a warning.
    let out = env.podctl(&["debug", "--privileged", &pod, "app"]);
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("warning: --privileged"), "{err}");
    assert_ne!(field(&seen, "CapEff"), field(&status, "CapEff"), "{seen}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
