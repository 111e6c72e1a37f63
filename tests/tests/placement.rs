//! Where a pod's processes start: forked straight into their cgroup v2
//! directory (clone3 with CLONE_INTO_CGROUP), so the v2 cgroup.procs is
//! never written for them; the v1 hierarchies of a hybrid host are joined
//! by the single-threaded child moving its one thread (`0` into `tasks`).
//! Neither takes the kernel's global threadgroup lock, whose first taking
//! after a quiet spell waits out an RCU grace period. Watched with strace
//! while a pod starts, a container is created and started and an exec
//! runs, then checked where the processes are.

use std::process::{Command, Stdio};
use std::time::Duration;

use containerd_shim_protos::api;
use podshim_tests::*;
use serde_json::json;

/// The v2 mount point: /sys/fs/cgroup on a pure v2 host, else the one
/// mounted beside the v1 hierarchies.
fn v2_mount() -> String {
    cgroup_mounts()
        .into_iter()
        .find(|m| m.v2)
        .map(|m| m.point.display().to_string())
        .expect("this host has no cgroup v2 hierarchy mounted")
}

/// strace following children (`-f`), with descriptors shown as paths
/// (`-y`), watching forks and writes into `log`.
fn strace(log: &std::path::Path) -> Command {
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-qq",
        "-y",
        "-e",
        "trace=clone3,write",
        "-e",
        "signal=none",
    ])
    .arg("-o")
    .arg(log)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// The forks into a cgroup (clone3 with CLONE_INTO_CGROUP) in `trace`.
fn forks_into_cgroups(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter(|l| l.contains("clone3(") && l.contains("CLONE_INTO_CGROUP"))
        .collect()
}

#[test]
fn a_containers_processes_are_forked_into_their_v2_cgroup() {
    let mut env = TestEnv::new("place");
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is not installed (hack/deps.sh installs it)"
    );
    let dir = env.write_pod(
        "place",
        "place",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let shim = env.pod_record(&pod).shim.pid;
    let log = env.work.join("strace.log");
    let mut strace = strace(&log)
        .args(["-p", &shim.to_string()])
        .spawn()
        .expect("run strace");
    wait_for(Duration::from_secs(10), "strace to attach", || {
        let status = std::fs::read_to_string(format!("/proc/{shim}/status")).ok()?;
        status
            .lines()
            .any(|l| l.starts_with("TracerPid:") && l.trim_end() != "TracerPid:\t0")
            .then_some(())
    });

    // A container created and started, and an exec, while strace watches.
    let client = env.shim_client(&pod);
    let mut spec = container_spec(&["sleep", "1000"]);
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": pod
    });
    let bundle = env.work.join("late");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let id = format!("{pod}-late");
    let req = api::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let late = client.create(ctx(), &req).expect("create").pid as i32;
    let req = api::StartRequest {
        id: id.clone(),
        ..Default::default()
    };
    client.start(ctx(), &req).expect("start");
    env.podctl_ok(&["exec", &pod, "idle", "--", "true"]);
    let _ = Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let _ = strace.wait();

    let trace = std::fs::read_to_string(&log).unwrap();
    let v2 = v2_mount();
    let into = forks_into_cgroups(&trace);
    // pid 1 of the new container, and the exec (strace shows the cgroup
    // only as a descriptor number; where they landed is checked below).
    assert!(into.len() >= 2, "clone3 into a cgroup: {into:#?}\n{trace}");
    let v2_writes: Vec<&str> = trace
        .lines()
        .filter(|l| {
            l.contains("write(") && l.contains(&format!("<{v2}/")) && l.contains("cgroup.procs>")
        })
        .collect();
    assert!(
        v2_writes.is_empty(),
        "the v2 cgroup.procs was written: {v2_writes:#?}"
    );
    // And that is where they are: the late container's pid 1 in its own
    // cgroup on every hierarchy.
    let rel = env
        .container_record(&pod, "late")
        .cgroup
        .unwrap_or_default();
    let cgroups = std::fs::read_to_string(format!("/proc/{late}/cgroup")).unwrap();
    let rel = rel.trim_start_matches('/');
    assert!(
        cgroups
            .lines()
            .all(|l| l.ends_with(rel) || l.ends_with(":/"))
            && cgroups.contains(rel),
        "pid {late} is in {cgroups}, not {rel}"
    );
    let v2_line = cgroups.lines().find(|l| l.starts_with("0::")).unwrap();
    assert!(v2_line.ends_with(rel), "v2: {v2_line}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

/// Nothing of a pod's start is migrated under the global lock: the pause
/// and pid 1 are forked into their v2 cgroup, and where v1 hierarchies
/// exist (hybrid here, pure v2 in the node VM) they are joined by `0`
/// written to `tasks`; no cgroup.procs is ever written.
#[test]
fn a_pod_starts_without_a_cgroup_procs_write() {
    let env = TestEnv::new("placev2");
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is not installed (hack/deps.sh installs it)"
    );
    let dir = env.write_pod(
        "placev2",
        "placev2",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let log = env.work.join("strace.log");
    // The whole start under strace: podctl, the shim it starts, and every
    // child of the shim.
    let mut strace = strace(&log)
        .arg(env.podctl_path())
        .args(["run", dir.to_str().unwrap()])
        .envs(env.podctl_env())
        .stdin(Stdio::null())
        .spawn()
        .expect("run strace");
    // strace ends with the last process it follows, and the shim outlives
    // podctl: the start is over when the container runs; the removal then
    // ends the shim, and strace with it.
    let pod = "placev2";
    let state = env
        .pod_dir(pod)
        .join("containers")
        .join(format!("{pod}-idle"))
        .join("state.json");
    wait_for(Duration::from_secs(30), "the pod up", || {
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state).ok()?).ok()?;
        (rec["status"] == "running").then_some(())
    });
    let pause = env.pod_record(pod).pause.expect("a pause").pid;
    env.podctl_ok(&["rm", "--timeout", "0", pod]);
    let _ = strace.wait();
    let trace = std::fs::read_to_string(&log).unwrap();
    let writes: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("write(") && l.contains("cgroup.procs>"))
        .collect();
    assert!(writes.is_empty(), "cgroup.procs written: {writes:#?}");
    // Every v1 hierarchy of the pod's cgroup, for the pause and for pid 1,
    // joined by a thread moving itself.
    let v1 = cgroup_mounts().iter().filter(|m| !m.v2).count();
    let tasks: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("write(") && l.contains("/tasks>"))
        .collect();
    assert_eq!(tasks.len(), 2 * v1, "tasks writes: {tasks:#?}");
    assert!(
        tasks.iter().all(|l| l.contains(r#", "0", 1)"#)),
        "a tasks write that is not the caller's own thread: {tasks:#?}"
    );
    let into = forks_into_cgroups(&trace).len();
    assert!(
        into >= 2,
        "the pause and pid 1 forked into their cgroups:\n{trace}"
    );
    assert!(
        trace.contains(&format!(" = {pause}")),
        "the pause {pause} is not one of the forks:\n{trace}"
    );
    env.finish();
}
