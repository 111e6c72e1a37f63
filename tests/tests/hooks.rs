//! OCI hooks: every stage runs at its point of the lifecycle, in its
//! namespace, with the container state on stdin; a failing or hanging hook
//! fails the step with an error naming it, and leaves nothing behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podshim_tests::*;
use podshim_types::TaskStatus;
use serde_json::{json, Value};

/// A host script that appends "<stage> <hostname> <state JSON>" to `log`.
fn recorder(env: &TestEnv, log: &Path) -> PathBuf {
    let script = env.work.join("record-hook");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nstate=$(cat)\necho \"$1 $(hostname) $state\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    chmod_x(&script);
    script
}

fn chmod_x(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn hook(path: &Path, stage: &str) -> Value {
    json!({"path": path, "args": ["record-hook", stage], "env": ["PATH=/usr/bin:/bin"]})
}

#[test]
fn every_stage_runs_in_order_with_the_state_on_stdin() {
    let env = TestEnv::new("hooks");
    let log = env.work.join("hooks.log");
    let rec = recorder(&env, &log);
    // startContainer runs inside the container: its path is in the rootfs
    // and it writes where the container process can show it.
    let mut spec = container_spec(&["sh", "-c", "cat /tmp/start-state; echo; exec sleep 1000"]);
    spec["hooks"] = json!({
        "prestart": [hook(&rec, "prestart")],
        "createRuntime": [hook(&rec, "createRuntime")],
        "createContainer": [hook(&rec, "createContainer")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start-state"]}],
        "poststart": [hook(&rec, "poststart")],
        "poststop": [hook(&rec, "poststop")]
    });
    let dir = env.write_pod("hookpod", "hook-pod-host", &[("app", spec)]);
    let mut env = env;
    let pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "the startContainer state", || {
        env.logs(&pod, "app").contains("\"status\"").then_some(())
    });
    let record = env.container_record(&pod, "app");
    assert_eq!(record.status, TaskStatus::Running);
    // startContainer read the state, status "created", inside.
    let logged = env.logs(&pod, "app");
    let start: Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
    assert_eq!(start["status"], "created", "{start}");
    assert_eq!(start["pid"], record.pid, "{start}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(String, String, Value)> = text
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, ' ');
            let stage = f.next().unwrap().to_string();
            let host = f.next().unwrap().to_string();
            let state: Value = serde_json::from_str(f.next().unwrap()).unwrap();
            (stage, host, state)
        })
        .collect();
    let stages: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        stages,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ],
        "{text}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (stage, hostname, state) in &lines {
        let want_status = match stage.as_str() {
            "poststart" => "running",
            "poststop" => "stopped",
            _ => "creating",
        };
        assert_eq!(state["status"], want_status, "{stage}: {state}");
        assert_eq!(state["id"], format!("{pod}-app"), "{stage}: {state}");
        assert_eq!(state["pid"], record.pid, "{stage}: {state}");
        assert!(
            state["bundle"].as_str().unwrap().ends_with("/app"),
            "{state}"
        );
        // createContainer runs in the container's namespaces (the pod's
        // UTS), the others in the runtime's.
        let want_host = if stage == "createContainer" {
            "hook-pod-host"
        } else {
            host.trim()
        };
        assert_eq!(hostname, want_host, "{stage} ran in the wrong namespace");
    }
    env.finish();
}

/// No process of ours whose command line holds `marker` is left.
fn processes_with(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
fn a_failing_or_hanging_hook_fails_the_step_and_leaves_nothing() {
    let env = TestEnv::new("badhooks");
    let cases = [
        (
            "fails",
            json!({"createRuntime": [{"path": "/bin/sh",
                "args": ["sh", "-c", "echo no network for you >&2; exit 3"]}]}),
            vec![
                "hooks.createRuntime[0]",
                "exited with code 3",
                "no network for you",
            ],
        ),
        (
            "hangs",
            json!({"prestart": [{"path": "/bin/sh", "timeout": 1,
                "args": ["sh", "-c", "sleep 987654 & sleep 987654"]}]}),
            vec!["hooks.prestart[0]", "did not finish within 1 s"],
        ),
        (
            "inside",
            json!({"createContainer": [{"path": "/bin/false"}]}),
            vec!["hooks.createContainer[0]", "/bin/false exited with code 1"],
        ),
        (
            "relative",
            json!({"createRuntime": [{"path": "bin/true"}]}),
            vec!["hooks.createRuntime[0]", "not absolute"],
        ),
        (
            "starting",
            json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]}),
            vec!["hooks.startContainer[0]", "exited with code 4"],
        ),
    ];
    for (id, hooks, want) in cases {
        let mut spec = container_spec(&["sleep", "1000"]);
        spec["hooks"] = hooks;
        let dir = env.write_pod(id, id, &[("app", spec)]);
        let began = Instant::now();
        let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
        for w in want {
            assert!(err.contains(w), "{id}: {w:?} not in {err}");
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{id} took {:?}",
            began.elapsed()
        );
        assert!(!env.pod_dir(id).exists(), "{id} left its pod directory");
        assert!(env.leaks().is_empty(), "{id}: {:?}", env.leaks());
    }
    assert_eq!(
        processes_with("987654"),
        Vec::<String>::new(),
        "the hung hook's processes live on"
    );
    env.finish();
}

#[test]
fn a_failing_poststart_hook_is_only_logged() {
    let mut env = TestEnv::new("poststart");
    let mut spec = container_spec(&["sleep", "1000"]);
    spec["hooks"] =
        json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]});
    let dir = env.write_pod("poststart", "poststart", &[("app", spec)]);
    let pod = env.run_pod(&dir);
    assert_eq!(
        env.container_record(&pod, "app").status,
        TaskStatus::Running
    );
    let shim_log = std::fs::read_to_string(env.pod_dir(&pod).join("shim.log")).unwrap();
    assert!(shim_log.contains("hooks.poststart[0]"), "{shim_log}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
