//! Checkpoint with CRIU through the shim's Checkpoint (`podctl
//! checkpoint`, as `ctr task checkpoint --image-path` asks for one) and
//! restore through its Create (`podctl restore`). A dump CRIU refuses
//! leaves the container running, and the error says CRIU's reason; where
//! CRIU can dump (the node VM: criu 3.17 cannot read these hosts'
//! kernel), a counter checkpointed runs on, one checkpointed with exit
//! stops with its exit published, and one restored counts on. Through
//! containerd: tests/checkpoint_containerd.rs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use podshim_tests::*;
use podshim_types::{TaskStatus, Topic};
use serde_json::Value;

/// A container printing 0, 1, 2, ... ten times a second.
fn counter(prefix: &str) -> Value {
    let script = format!("{prefix}i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done");
    container_spec(&["sh", "-c", &script])
}

/// The last number the counter of `name` logged.
fn count(env: &TestEnv, pod: &str, name: &str) -> Option<u64> {
    env.logs(pod, name)
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
}

/// Waits until the counter has logged more than `n`; its count then.
fn past(env: &TestEnv, pod: &str, name: &str, n: Option<u64>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(c) = count(env, pod, name).filter(|c| n.is_none_or(|n| *c > n)) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the counter of {name} stopped at {:?}",
            count(env, pod, name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `name` is recorded stopped; `why` says what should have
/// stopped it.
fn stopped(env: &TestEnv, pod: &str, name: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.container_record(pod, name).status != TaskStatus::Stopped {
        assert!(Instant::now() < deadline, "{name}: {why}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn running_as_before(env: &TestEnv, pod: &str, name: &str, pid: i32) {
    let r = env.container_record(pod, name);
    assert_eq!(r.status, TaskStatus::Running, "{name} after the checkpoint");
    assert_eq!(r.pid, pid, "{name} is another process now");
    assert!(alive(pid), "{name}'s pid 1 {pid} is gone");
}

#[test]
fn a_dump_criu_refuses_leaves_the_container_running_with_criu_s_reason() {
    let mut env = TestEnv::new("ckptrefused");
    // An established TCP connection between two of its processes, dumped
    // without --tcp-established: CRIU refuses it (on a kernel CRIU cannot
    // read, it refuses sooner; the reason is CRIU's either way).
    let tcp =
        "sleep 100000 | nc -l -p 7000 >/dev/null & sleep 0.3; sleep 100000 | nc 127.0.0.1 7000 & ";
    let dir = env.write_pod("ckptrefused", "ckptrefused", &[("app", counter(tcp))]);
    let pod = env.run_pod(&dir);
    // The counter starts once the connection is being made: half a
    // second later it is made.
    let before = past(&env, &pod, "app", Some(5));
    let pid = env.container_record(&pod, "app").pid;
    let image = env.work.join("image");
    let err = env.podctl_err(&["checkpoint", &pod, "app", image.to_str().unwrap()]);
    assert!(
        err.contains("criu exited with") && err.contains("Error (criu/"),
        "not CRIU's reason: {err}"
    );
    eprintln!("refused: {}", err.trim());
    let bundle = env.container_record(&pod, "app").bundle;
    let kept = Path::new(&bundle).join("criu-dump.log");
    assert!(err.contains(&kept.display().to_string()), "{err}");
    assert!(
        kept.is_file(),
        "CRIU's log was not kept at {}",
        kept.display()
    );
    assert!(
        !image.exists(),
        "the failed checkpoint left {}",
        image.display()
    );
    running_as_before(&env, &pod, "app", pid);
    past(&env, &pod, "app", Some(before));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn a_missing_criu_is_named_and_the_container_runs_on() {
    let env = TestEnv::new("ckptnocriu");
    let dir = env.write_pod("ckptnocriu", "ckptnocriu", &[("app", counter(""))]);
    // The shim has the environment of the podctl that started it.
    let out = Command::new(env.podctl_path())
        .args(["run", dir.to_str().unwrap()])
        .envs(env.podctl_env())
        .env("PODSHIM_CRIU", "/nonexistent/criu")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod = "ckptnocriu";
    let before = past(&env, pod, "app", None);
    let pid = env.container_record(pod, "app").pid;
    let image = env.work.join("image");
    let err = env.podctl_err(&["checkpoint", pod, "app", image.to_str().unwrap()]);
    assert!(
        err.contains("checkpoint needs CRIU") && err.contains("/nonexistent/criu"),
        "{err}"
    );
    assert!(!image.exists());
    // A container the pod does not have is named.
    let err = env.podctl_err(&["checkpoint", pod, "nosuch", image.to_str().unwrap()]);
    assert!(err.contains("nosuch"), "{err}");
    running_as_before(&env, pod, "app", pid);
    past(&env, pod, "app", Some(before));
    env.podctl_ok(&["rm", "--timeout", "0", pod]);
    env.finish();
}

#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn a_checkpointed_counter_runs_on_and_one_checkpointed_with_exit_stops() {
    let mut env = TestEnv::new("ckpt");
    let dir = env.write_pod("ckpt", "ckpt", &[("app", counter(""))]);
    let pod = env.run_pod(&dir);
    let before = past(&env, &pod, "app", Some(2));
    let pid = env.container_record(&pod, "app").pid;

    let image = env.work.join("image");
    let begun = Instant::now();
    env.podctl_ok(&["checkpoint", &pod, "app", image.to_str().unwrap()]);
    eprintln!("checkpoint (leave running) took {:?}", begun.elapsed());
    for f in ["inventory.img", "pstree.img", "descriptors.json"] {
        assert!(image.join(f).is_file(), "the image has no {f}");
    }
    let fds: Vec<String> =
        serde_json::from_slice(&std::fs::read(image.join("descriptors.json")).unwrap()).unwrap();
    assert_eq!(fds.len(), 3, "{fds:?}");
    assert!(
        fds[1].starts_with("pipe:["),
        "stdout was a log pipe: {fds:?}"
    );
    running_as_before(&env, &pod, "app", pid);
    past(&env, &pod, "app", Some(before));

    let image2 = env.work.join("image-exit");
    env.podctl_ok(&[
        "checkpoint",
        "--exit",
        &pod,
        "app",
        image2.to_str().unwrap(),
    ]);
    assert!(image2.join("pstree.img").is_file());
    stopped(&env, &pod, "app", "still running after checkpoint --exit");
    assert!(!alive(pid), "pid 1 {pid} outlived checkpoint --exit");
    let r = env.container_record(&pod, "app");
    assert_eq!(
        r.exit_code,
        Some(137),
        "CRIU ends the dumped tree with SIGKILL"
    );
    let events = podshim_state::read_events(&env.pod_dir(&pod).join("events.jsonl")).unwrap();
    let exit = events
        .iter()
        .find(|e| e.container == format!("{pod}-app") && e.topic == Topic::TaskExit)
        .expect("a TaskExit event for the checkpointed container");
    assert_eq!(exit.exit_status, Some(137));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn a_restored_counter_goes_on_from_where_it_was_dumped_in_the_pods_namespaces() {
    let mut env = TestEnv::new("ckptrestore");
    let dir = env.write_pod("ckptrestore", "ckptrestore", &[("app", counter(""))]);
    let pod = env.run_pod(&dir);
    past(&env, &pod, "app", Some(5));
    let old = env.container_record(&pod, "app").pid;
    let image = env.work.join("image");
    env.podctl_ok(&["checkpoint", "--exit", &pod, "app", image.to_str().unwrap()]);
    stopped(&env, &pod, "app", "still running after checkpoint --exit");
    let numbers = |env: &TestEnv| -> Vec<u64> {
        env.logs(&pod, "app")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    // Deleted with the stopped container: its log, kept here.
    let before = numbers(&env);
    let dumped = *before.last().expect("the counter counted");

    let begun = Instant::now();
    env.podctl_ok(&["restore", &pod, "app", image.to_str().unwrap()]);
    eprintln!("restore took {:?}", begun.elapsed());
    let r = env.container_record(&pod, "app");
    assert_eq!(r.status, TaskStatus::Running);
    assert_ne!(r.pid, old);
    assert!(alive(r.pid));
    // The pod's network namespace again; a pid namespace of its own.
    let pause = env.pod_record(&pod).pause.expect("a pause").pid;
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(ns(r.pid, kind), ns(pause, kind), "{kind} is not the pod's");
    }
    assert_ne!(ns(r.pid, "pid"), ns(pause, "pid"));
    assert_ne!(ns(r.pid, "pid"), ns(1, "pid"));
    // Its output goes on from where it was dumped: every number once, in
    // order, no reset.
    let now = past(&env, &pod, "app", Some(dumped + 3));
    let all: Vec<u64> = before.iter().copied().chain(numbers(&env)).collect();
    let want: Vec<u64> = (0..all.len() as u64).collect();
    assert_eq!(all, want, "dumped at {dumped}, restored to {now}");

    env.podctl_ok(&["kill", "--signal", "KILL", &pod, "app"]);
    stopped(&env, &pod, "app", "the restored counter outlived SIGKILL");
    assert_eq!(env.container_record(&pod, "app").exit_code, Some(137));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

/// A restore CRIU refuses (an image without a process tree), on every
/// machine: through `podshim criu` (its own mount namespace, the rootfs
/// there), CRIU's reason comes back and its log is kept; the member is
/// gone with its cgroup and state, nothing is mounted on the host, and
/// the pod runs on.
#[test]
fn a_restore_criu_refuses_names_criu_s_reason_and_leaves_no_member() {
    let mut env = TestEnv::new("ckptbadimage");
    let dir = env.write_pod("ckptbadimage", "ckptbadimage", &[("app", counter(""))]);
    let pod = env.run_pod(&dir);
    past(&env, &pod, "app", None);
    let bundle = env.container_record(&pod, "app").bundle;
    env.podctl_ok(&["kill", "--signal", "KILL", &pod, "app"]);
    stopped(&env, &pod, "app", "the counter outlived SIGKILL");
    // What runc and podshim write beside CRIU's files, and no CRIU image.
    let image = env.work.join("image");
    std::fs::create_dir_all(&image).unwrap();
    std::fs::write(
        image.join("descriptors.json"),
        r#"["/dev/null","pipe:[1]","pipe:[1]"]"#,
    )
    .unwrap();
    let err = env.podctl_err(&["restore", &pod, "app", image.to_str().unwrap()]);
    assert!(err.contains("criu exited with"), "not CRIU's exit: {err}");
    eprintln!("refused: {}", err.trim());
    let kept = Path::new(&bundle).join("criu-restore.log");
    assert!(err.contains(&kept.display().to_string()), "{err}");
    assert!(
        kept.is_file(),
        "CRIU's log was not kept at {}",
        kept.display()
    );
    // No member: no state, no cgroup; the pod's sandbox is still there.
    let state = env
        .state()
        .pod(
            &podshim_types::Id::new("podctl").unwrap(),
            &podshim_types::Id::new(&pod).unwrap(),
        )
        .list_containers()
        .unwrap();
    let app = format!("{pod}-app");
    assert!(
        !state.iter().any(|c| c.as_str() == app),
        "the failed restore left {app}'s state: {state:?}"
    );
    assert!(
        !env.cgroup_file("memory", &pod, &app, "").exists()
            && !env.cgroup_file("unified", &pod, &app, "").exists(),
        "the failed restore left {app}'s cgroup"
    );
    let pause = env.pod_record(&pod).pause.expect("a pause").pid;
    assert!(alive(pause), "the pod's pause is gone");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
