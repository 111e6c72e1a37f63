//! Resources as a user relies on them: a memory limit that OOM-kills the
//! container and says so (event, state, podctl), a pids limit that stops a
//! fork bomb, limits readable in the cgroup files before and after Update,
//! Stats that move, Pause/Resume through the freezer, and no cgroup left
//! in any hierarchy after the pod is removed.

use std::time::Duration;

use containerd_shim_protos::api;
use podshim_tests::*;
use podshim_types::{TaskStatus, Topic};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn with_resources(mut spec: Value, resources: Value) -> Value {
    spec["linux"]["resources"] = resources;
    spec
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The freezer's state as v1 says it: FROZEN or THAWED (v2's
/// cgroup.freeze 1 or 0).
fn frozen(env: &TestEnv, pod: &str, task: &str) -> String {
    if cgroup_v2_only() {
        match read(&env.cgroup_file("freezer", pod, task, "cgroup.freeze")).as_str() {
            "1" => "FROZEN".into(),
            "0" => "THAWED".into(),
            other => panic!("cgroup.freeze says {other:?}"),
        }
    } else {
        read(&env.cgroup_file("freezer", pod, task, "freezer.state"))
    }
}

fn stats(env: &TestEnv, pod: &str) -> Vec<Value> {
    serde_json::from_str(&env.podctl_ok(&["stats", pod, "-o", "json"])).unwrap()
}

fn stat_of(env: &TestEnv, pod: &str, name: &str, key: &str) -> u64 {
    stats(env, pod)
        .iter()
        .find(|s| s["container"] == name)
        .and_then(|s| s[key].as_u64())
        .unwrap_or_else(|| panic!("no {key} for {name}"))
}

fn rm_and_check(env: TestEnv, pod: &str) {
    // `sleep` as pid 1 ignores SIGTERM: do not wait long for it.
    env.podctl_ok(&["rm", "--timeout", "1", pod]);
    let left = env.cgroups_left();
    assert!(left.is_empty(), "cgroups left after rm: {left:?}");
    env.finish();
}

#[test]
fn memory_limit_oom_kills_the_container_and_says_so() {
    let mut env = TestEnv::new("oom");
    let limit = json!({"memory": {"limit": 16 << 20, "swap": 16 << 20}});
    let dir = env.write_pod(
        "oompod",
        "oompod",
        &[
            (
                "hog",
                with_resources(container_spec(&["podprobe", "alloc", "64"]), limit),
            ),
            ("calm", container_spec(&["sleep", "1000"])),
        ],
    );
    let pod = env.run_pod(&dir);
    let rec = wait_for(WAIT, "hog to exit", || {
        let r = env.container_record(&pod, "hog");
        (r.status == TaskStatus::Stopped).then_some(r)
    });
    assert_eq!(
        rec.exit_code,
        Some(137),
        "hog did not die by SIGKILL: {rec:?}"
    );
    assert!(
        rec.oom_killed,
        "state.json does not say OOM-killed: {rec:?}"
    );
    assert_eq!(rec.exit_reason.as_deref(), Some("OOMKilled"));
    let log = env.logs(&pod, "hog");
    assert!(
        log.contains("allocated 8 MiB") && !log.contains("allocated 64 MiB"),
        "hog was not stopped by its limit: {log}"
    );

    let events = podshim_state::read_events(&env.pod_dir(&pod).join("events.jsonl")).unwrap();
    let hog = format!("{pod}-hog");
    let oom = events
        .iter()
        .position(|e| e.container == hog && e.topic == Topic::TaskOom)
        .unwrap_or_else(|| panic!("no /tasks/oom event for hog: {events:#?}"));
    let exit = events
        .iter()
        .position(|e| e.container == hog && e.topic == Topic::TaskExit)
        .expect("no exit event for hog");
    assert!(oom < exit, "the OOM event came after the exit event");
    assert!(
        !events
            .iter()
            .any(|e| e.container != hog && e.topic == Topic::TaskOom),
        "an OOM event for a container that was not OOM-killed"
    );

    let ps = env.podctl_ok(&["ps"]);
    let hog_line = ps.lines().find(|l| l.contains(" hog ")).unwrap();
    assert!(hog_line.contains("OOMKilled"), "podctl ps: {ps}");
    let calm = env.container_record(&pod, "calm");
    assert_eq!(
        calm.status,
        TaskStatus::Running,
        "the sibling stopped: {calm:?}"
    );

    // A plain kill afterwards is not an OOM kill.
    env.podctl_ok(&["kill", &pod, "calm", "--signal", "KILL"]);
    let calm = wait_for(WAIT, "calm to exit", || {
        let r = env.container_record(&pod, "calm");
        (r.status == TaskStatus::Stopped).then_some(r)
    });
    assert_eq!(calm.exit_code, Some(137));
    assert!(!calm.oom_killed, "a SIGKILL was labelled OOM: {calm:?}");
    rm_and_check(env, &pod);
}

#[test]
fn pids_limit_stops_a_fork_bomb_and_the_pod_stays_healthy() {
    let mut env = TestEnv::new("pids");
    let bomb =
        "i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); done; echo spawned; sleep 1000";
    let dir = env.write_pod(
        "bombpod",
        "bombpod",
        &[
            (
                "bomb",
                with_resources(
                    container_spec(&["sh", "-c", bomb]),
                    json!({"pids": {"limit": 8}}),
                ),
            ),
            (
                "web",
                container_spec(&[
                    "sh",
                    "-c",
                    "mkdir -p /tmp/w && echo ok > /tmp/w/i && exec httpd -f -p 127.0.0.1:8080 -h /tmp/w",
                ]),
            ),
        ],
    );
    let pod = env.run_pod(&dir);
    wait_for(WAIT, "the bomb to hit its limit", || {
        let events = read(&env.cgroup_file("pids", &pod, &format!("{pod}-bomb"), "pids.events"));
        (events != "max 0").then_some(())
    });
    let current = stat_of(&env, &pod, "bomb", "pids");
    assert!(current <= 8, "{current} processes under a limit of 8");
    assert_eq!(
        read(&env.cgroup_file("pids", &pod, &format!("{pod}-bomb"), "pids.max")),
        "8"
    );
    // The rest of the pod still forks and serves.
    assert_eq!(
        env.container_record(&pod, "web").status,
        TaskStatus::Running
    );
    let client = env.write_pod(
        "bombpod-probe",
        "probe",
        &[("c", container_spec(&["true"]))],
    );
    let probe = env.run_pod(&client);
    wait_for(WAIT, "a new pod to run beside the bomb", || {
        let r = env.container_record(&probe, "c");
        (r.status == TaskStatus::Stopped).then_some(())
    });
    assert_eq!(env.container_record(&probe, "c").exit_code, Some(0));
    env.podctl_ok(&["rm", &probe]);
    rm_and_check(env, &pod);
}

#[test]
fn limits_read_back_from_the_cgroup_and_follow_update() {
    let mut env = TestEnv::new("limits");
    let resources = json!({
        "memory": {"limit": 48 << 20, "reservation": 8 << 20},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000},
        "pids": {"limit": 50}
    });
    let dir = env.write_pod(
        "limpod",
        "limpod",
        &[(
            "app",
            with_resources(container_spec(&["sleep", "1000"]), resources),
        )],
    );
    let pod = env.run_pod(&dir);
    let task = format!("{pod}-app");
    let file = |h: &str, f: &str| read(&env.cgroup_file(h, &pod, &task, f));
    let v2 = cgroup_v2_only();
    // The limits as the host's files say them: v1's, or v2's memory.max,
    // memory.low, cpu.weight (512 shares is weight 20) and cpu.max.
    let memory = || {
        file(
            "memory",
            if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            },
        )
    };
    let cpu = || {
        if v2 {
            file("cpu", "cpu.max")
        } else {
            format!(
                "{} {}",
                file("cpu", "cpu.cfs_quota_us"),
                file("cpu", "cpu.cfs_period_us")
            )
        }
    };
    assert_eq!(memory(), (48u64 << 20).to_string());
    if v2 {
        assert_eq!(file("memory", "memory.low"), (8u64 << 20).to_string());
        assert_eq!(file("cpu", "cpu.weight"), "20");
    } else {
        assert_eq!(
            file("memory", "memory.soft_limit_in_bytes"),
            (8u64 << 20).to_string()
        );
        assert_eq!(file("cpu", "cpu.shares"), "512");
    }
    assert_eq!(cpu(), "20000 100000");
    assert_eq!(file("pids", "pids.max"), "50");
    // The container's process is in that cgroup, in every hierarchy.
    let pid = env.container_record(&pod, "app").pid;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        assert!(
            line.ends_with(&format!("{}/podctl/{pod}/{task}", env.cgroup_parent)),
            "pid {pid} is not in its cgroup: {line}"
        );
    }

    env.podctl_ok(&[
        "update", &pod, "app", "--memory", "96M", "--cpus", "1.5", "--pids", "70",
    ]);
    assert_eq!(memory(), (96u64 << 20).to_string());
    assert_eq!(cpu(), "150000 100000");
    assert_eq!(file("pids", "pids.max"), "70");
    assert_eq!(
        stat_of(&env, &pod, "app", "memory_limit_bytes"),
        96u64 << 20
    );

    // A limit the kernel refuses is an error, and the old one stays. (v1
    // refuses a limit below what the cgroup uses; v2 takes it and reclaims
    // or OOM-kills, under runc as here.)
    if !v2 {
        let err = env.podctl_err(&["update", &pod, "app", "--memory", "4K"]);
        assert!(err.contains("memory.limit"), "unclear error: {err}");
        assert_eq!(memory(), (96u64 << 20).to_string());
    }
    let err = env.podctl_err(&["update", &pod, "app", "--memory", "lots"]);
    assert!(err.contains("lots"), "unclear error: {err}");
    rm_and_check(env, &pod);
}

#[test]
fn stats_move_and_pause_freezes() {
    let mut env = TestEnv::new("stats");
    // Allocates 32 MiB when told to (SIGUSR1 to its pid 1, the shell).
    let script =
        "trap 'podprobe alloc 32 --hold' USR1; echo waiting; while true; do sleep 0.05; done";
    let dir = env.write_pod(
        "statpod",
        "statpod",
        &[("app", container_spec(&["sh", "-c", script]))],
    );
    let pod = env.run_pod(&dir);
    wait_for(WAIT, "the shell to set its trap", || {
        env.logs(&pod, "app").contains("waiting").then_some(())
    });
    let before = stat_of(&env, &pod, "app", "memory_bytes");
    assert!(
        before < 16 << 20,
        "already {before} bytes before allocating"
    );
    env.podctl_ok(&["kill", &pod, "app", "--signal", "USR1"]);
    let after = wait_for(WAIT, "memory use to grow", || {
        let m = stat_of(&env, &pod, "app", "memory_bytes");
        (m >= before + (30 << 20)).then_some(m)
    });
    assert!(after > before);
    assert!(stat_of(&env, &pod, "app", "pids") >= 2);
    assert!(stat_of(&env, &pod, "app", "cpu_ns") > 0);

    // Pause and Resume over the shim protocol, as containerd sends them.
    let task = format!("{pod}-app");
    let client = env.shim_client(&pod);
    let state = |c: &containerd_shim_protos::TaskClient| {
        c.state(
            ctx(),
            &api::StateRequest {
                id: task.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .status
        .enum_value_or_default()
    };
    client
        .pause(
            ctx(),
            &api::PauseRequest {
                id: task.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(frozen(&env, &pod, &task), "FROZEN");
    assert_eq!(state(&client), api::Status::PAUSED);
    let cpu = stat_of(&env, &pod, "app", "cpu_ns");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stat_of(&env, &pod, "app", "cpu_ns"),
        cpu,
        "a frozen container used cpu"
    );
    client
        .resume(
            ctx(),
            &api::ResumeRequest {
                id: task.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(frozen(&env, &pod, &task), "THAWED");
    assert_eq!(state(&client), api::Status::RUNNING);
    let events = podshim_state::read_events(&env.pod_dir(&pod).join("events.jsonl")).unwrap();
    let topics: Vec<Topic> = events
        .iter()
        .filter(|e| e.container == task)
        .map(|e| e.topic)
        .collect();
    assert!(
        topics.ends_with(&[Topic::TaskPaused, Topic::TaskResumed]),
        "{topics:?}"
    );
    // Resuming a running task is refused.
    let err = client
        .resume(
            ctx(),
            &api::ResumeRequest {
                id: task.clone(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(rpc_message(&err).contains("not paused"), "{err:?}");
    rm_and_check(env, &pod);
}

#[test]
fn bad_cgroup_settings_are_refused_and_leave_nothing() {
    let env = TestEnv::new("badcg");
    // podctl run's error for a pod of one container with this spec.
    let refused = |pod: &str, spec: Value| {
        let dir = env.write_pod(pod, pod, &[("a", spec)]);
        env.podctl_err(&["run", dir.to_str().unwrap()])
    };
    if !std::path::Path::new("/run/systemd/system").is_dir() {
        // The systemd driver where systemd is not init (the node VM tests
        // it where it is).
        let mut systemd = container_spec(&["true"]);
        systemd["linux"]["cgroupsPath"] = json!("system.slice:podshim:x");
        let err = refused("sdpod", systemd);
        assert!(
            err.contains("linux.cgroupsPath") && err.contains("systemd"),
            "unclear error: {err}"
        );
    }
    if !cgroup_v2_only() {
        let unified = json!({"unified": {"memory.max": "1000000"}});
        let err = refused(
            "unifiedpod",
            with_resources(container_spec(&["true"]), unified),
        );
        assert!(err.contains("unified"), "unclear error: {err}");
    }
    let cpus = json!({"cpu": {"cpus": "4096-5000"}});
    let err = refused("cpupod", with_resources(container_spec(&["true"]), cpus));
    assert!(err.contains("cpu.cpus"), "unclear error: {err}");
    let left = env.cgroups_left();
    assert!(left.is_empty(), "cgroups left after failed runs: {left:?}");
    env.finish();
}

/// A memory limit too low for the container's init to get as far as its
/// process: the Create fails saying the init was OOM-killed and naming the
/// memory limit, and leaves nothing. runc 1.1, same spec, fails a step
/// later (it sets the limit after its init joined the cgroup) and names
/// the memory limit too.
#[test]
fn a_limit_too_low_to_start_names_the_oom_kill() {
    let env = TestEnv::new("oomcreate");
    let spec = with_resources(
        container_spec(&["true"]),
        json!({"memory": {"limit": 1, "swap": 1}}),
    );
    let dir = env.write_pod("oomcreate", "oomcreate", &[("tiny", spec.clone())]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("OOM-killed") && err.contains("memory limit"),
        "podshim: {err}"
    );
    assert!(env.cgroups_left().is_empty(), "{:?}", env.cgroups_left());

    let bundle = env.work.join("runc-oom");
    std::fs::create_dir_all(&bundle).unwrap();
    let mut runc_spec = spec;
    runc_spec["linux"]["cgroupsPath"] = json!(format!("/{}-runc", env.cgroup_parent));
    std::fs::write(bundle.join("config.json"), runc_spec.to_string()).unwrap();
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(env.work.join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg("oom-create")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run runc");
    let runc_err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("podshim: {err}\nrunc: {runc_err}");
    assert!(!out.status.success());
    assert!(runc_err.contains("memory limit"), "runc: {runc_err}");
    env.finish();
}
