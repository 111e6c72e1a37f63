//! Hostile and broken input at the runtime's edges, each answered with a
//! clear error and nothing left behind, the shim serving on: task ids over
//! ttrpc, bundles whose config.json is empty, truncated, huge, deeply
//! nested or of the wrong shape, stdio FIFOs nobody opens, and state files
//! truncated or corrupted under podctl and `podshim delete`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use containerd_shim_protos::api;
use podshim_tests::*;
use podshim_types::TaskStatus;
use serde_json::json;

/// The number of inputs tried, printed for the closing note.
fn tried(what: &str, n: usize) {
    eprintln!("hostile: {what}: {n} inputs");
}

fn member_spec(pod: &str) -> serde_json::Value {
    let mut spec = container_spec(&["sleep", "1000"]);
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": pod
    });
    spec
}

fn bundle_with(env: &TestEnv, name: &str, config: &[u8]) -> PathBuf {
    let dir = env.work.join("bundles").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    dir
}

/// The shim still answers, and its pod has only what it had.
fn shim_unharmed(
    env: &TestEnv,
    client: &containerd_shim_protos::shim::shim_ttrpc::TaskClient,
    pod: &str,
) {
    let req = api::StateRequest {
        id: pod.to_string(),
        ..Default::default()
    };
    let st = client
        .state(ctx(), &req)
        .expect("the shim stopped answering");
    assert_eq!(st.id, pod);
    let dirs: Vec<String> = std::fs::read_dir(env.pod_dir(pod).join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, [format!("{pod}-app")], "something was left: {dirs:?}");
}

#[test]
fn hostile_ids_and_bundles_over_ttrpc() {
    let mut env = TestEnv::new("hostile");
    let dir = env.write_pod(
        "hostile",
        "hostile",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let good = bundle_with(&env, "good", member_spec(&pod).to_string().as_bytes());

    // Ids.
    let long = "x".repeat(10_000);
    let ids = [
        "../evil",
        "a/b",
        "/abs",
        "..",
        ".",
        "x\0y",
        "",
        long.as_str(),
        "a b",
        "ä",
    ];
    for id in ids {
        let req = api::CreateTaskRequest {
            id: id.to_string(),
            bundle: good.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
        assert!(msg.contains("INVALID_ARGUMENT"), "{id:?}: {msg}");
        shim_unharmed(&env, &client, &pod);
    }
    tried("task ids", ids.len());

    // Bundles.
    let nested = format!(
        "{{\"ociVersion\":\"1.0.2\",\"annotations\":{}}}",
        "[".repeat(5000) + &"]".repeat(5000)
    );
    let full = member_spec(&pod).to_string();
    let truncated = &full[..full.len() / 2];
    let mut wrong_types = member_spec(&pod);
    wrong_types["process"]["args"] = json!({"not": "a list"});
    let mut null_root = member_spec(&pod);
    null_root["root"] = json!(null);
    let mut no_process = member_spec(&pod);
    no_process.as_object_mut().unwrap().remove("process");
    let mut empty_args = member_spec(&pod);
    empty_args["process"]["args"] = json!([]);
    let mut nul_arg = member_spec(&pod);
    nul_arg["process"]["args"] = json!(["sle\u{0}ep", "1"]);
    let mut bad_cwd = member_spec(&pod);
    bad_cwd["process"]["cwd"] = json!("relative/dir");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "not a valid OCI spec"),
        (
            "truncated",
            truncated.as_bytes().to_vec(),
            "not a valid OCI spec",
        ),
        ("nested", nested.into_bytes(), "not a valid OCI spec"),
        (
            "not-json",
            b"\xff\xfe garbage".to_vec(),
            "not a valid OCI spec",
        ),
        (
            "wrong-types",
            wrong_types.to_string().into_bytes(),
            "not a valid OCI spec",
        ),
        ("null-root", null_root.to_string().into_bytes(), "root"),
        ("no-process", no_process.to_string().into_bytes(), "process"),
        (
            "empty-args",
            empty_args.to_string().into_bytes(),
            "process.args is empty",
        ),
        ("nul-in-arg", nul_arg.to_string().into_bytes(), "NUL"),
        ("relative-cwd", bad_cwd.to_string().into_bytes(), "cwd"),
    ];
    for (name, bytes, want) in &cases {
        let dir = bundle_with(&env, name, bytes);
        let req = api::CreateTaskRequest {
            id: format!("c-{name}"),
            bundle: dir.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let began = Instant::now();
        let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{name} took {:?}",
            began.elapsed()
        );
        shim_unharmed(&env, &client, &pod);
    }
    // 100 MB of config.json: refused by its size, without reading it.
    let huge = env.work.join("bundles/huge");
    std::fs::create_dir_all(&huge).unwrap();
    std::fs::File::create(huge.join("config.json"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let req = api::CreateTaskRequest {
        id: "c-huge".into(),
        bundle: huge.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
    assert!(msg.contains("byte limit"), "{msg}");
    shim_unharmed(&env, &client, &pod);
    // Valid JSON between the channel's frame limit (16 MiB) and the old
    // bundle limit (64 MiB), and just over the one limit (8 MiB): refused
    // at once, by size, naming it; nothing started, nothing left.
    for (name, size) in [("big", 20usize << 20), ("over", (8 << 20) + 1)] {
        let mut spec = member_spec(&pod);
        spec["annotations"]["pad"] = json!("");
        let base = spec.to_string().len();
        spec["annotations"]["pad"] = json!("x".repeat(size - base));
        let text = spec.to_string();
        assert_eq!(text.len(), size);
        let dir = bundle_with(&env, name, text.as_bytes());
        let req = api::CreateTaskRequest {
            id: format!("c-{name}"),
            bundle: dir.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let began = Instant::now();
        let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
        assert!(msg.contains(&format!("is {size} bytes")), "{name}: {msg}");
        assert!(msg.contains("INVALID_ARGUMENT"), "{name}: {msg}");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            began.elapsed()
        );
        shim_unharmed(&env, &client, &pod);
    }
    // Just under it, the spec crosses the channel and the container runs.
    let mut spec = member_spec(&pod);
    spec["annotations"]["pad"] = json!("x".repeat((8 << 20) - 4096));
    let dir = bundle_with(&env, "under", spec.to_string().as_bytes());
    let req = api::CreateTaskRequest {
        id: "c-under".into(),
        bundle: dir.to_string_lossy().into_owned(),
        ..Default::default()
    };
    client.create(ctx(), &req).expect("an 8 MiB config.json");
    let req = api::DeleteRequest {
        id: "c-under".into(),
        ..Default::default()
    };
    client.delete(ctx(), &req).unwrap();
    shim_unharmed(&env, &client, &pod);
    // An id that is not an id, shown as given in the refusal.
    for id in ["été", "caféine", "a\u{301}b"] {
        let req = api::CreateTaskRequest {
            id: id.into(),
            bundle: dir.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
        assert!(msg.contains(&format!("{id:?}")), "{id}: {msg}");
    }
    // A bundle that is not there, or a file.
    for (name, path) in [
        ("missing", env.work.join("no/such/bundle")),
        ("file", env.work.join("bundles/good/config.json")),
    ] {
        let req = api::CreateTaskRequest {
            id: format!("c-{name}"),
            bundle: path.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
        assert!(msg.contains("INVALID_ARGUMENT"), "{name}: {msg}");
        shim_unharmed(&env, &client, &pod);
    }
    tried("bundles", cases.len() + 3);

    // Requests naming tasks that do not exist, with ids that are not ids.
    for id in ["nosuch", "../x", long.as_str()] {
        let req = api::KillRequest {
            id: id.to_string(),
            signal: 9,
            ..Default::default()
        };
        assert!(client.kill(ctx(), &req).is_err());
        let req = api::DeleteRequest {
            id: id.to_string(),
            ..Default::default()
        };
        assert!(client.delete(ctx(), &req).is_err());
    }
    // Signal numbers that are not signals.
    for signal in [0u32, 65, u32::MAX] {
        let req = api::KillRequest {
            id: format!("{pod}-app"),
            signal,
            ..Default::default()
        };
        let msg = rpc_message(&client.kill(ctx(), &req).unwrap_err());
        assert!(msg.contains("not a valid signal"), "{signal}: {msg}");
    }
    tried("requests", 9);
    assert_eq!(
        env.container_record(&pod, "app").status,
        TaskStatus::Running
    );
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn fifos_nobody_opens_never_block_the_shim() {
    let mut env = TestEnv::new("fifos");
    let dir = env.write_pod(
        "fifos",
        "fifos",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let io = env.work.join("io");
    std::fs::create_dir_all(&io).unwrap();
    let fifo = |name: &str| -> String {
        let p = io.join(name);
        nix_mkfifo(&p);
        p.to_string_lossy().into_owned()
    };
    let mut spec = member_spec(&pod);
    spec["process"]["args"] = json!(["sh", "-c", "echo out; echo err >&2; cat; exit 3"]);
    let bundle = bundle_with(&env, "fifo", spec.to_string().as_bytes());
    let id = "fifo-task".to_string();
    let began = Instant::now();
    let req = api::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.to_string_lossy().into_owned(),
        stdin: fifo("in"),
        stdout: fifo("out"),
        stderr: fifo("err"),
        ..Default::default()
    };
    client
        .create(ctx(), &req)
        .expect("create with unopened FIFOs");
    let req = api::StartRequest {
        id: id.clone(),
        ..Default::default()
    };
    client.start(ctx(), &req).expect("start");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    // Nobody ever writes stdin: CloseIO ends it, and the exit code is kept.
    let req = api::CloseIORequest {
        id: id.clone(),
        stdin: true,
        ..Default::default()
    };
    client.close_io(ctx(), &req).unwrap();
    let req = api::WaitRequest {
        id: id.clone(),
        ..Default::default()
    };
    assert_eq!(client.wait(ctx(), &req).unwrap().exit_status, 3);
    let req = api::DeleteRequest {
        id,
        ..Default::default()
    };
    client.delete(ctx(), &req).unwrap();
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

fn nix_mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn corrupt_state_files_are_survived() {
    let mut env = TestEnv::new("corrupt");
    let dir = env.write_pod(
        "corrupt",
        "corrupt",
        &[
            ("app", container_spec(&["sleep", "1000"])),
            ("b", container_spec(&["sleep", "1000"])),
        ],
    );
    let pod = env.run_pod(&dir);
    let pdir = env.pod_dir(&pod);
    let app_state = pdir.join(format!("containers/{pod}-app/state.json"));
    let b_state = pdir.join(format!("containers/{pod}-b/state.json"));
    let text = std::fs::read_to_string(&app_state).unwrap();
    std::fs::write(&app_state, &text[..text.len() / 3]).unwrap();
    std::fs::write(&b_state, b"\x00\x01 not json at all").unwrap();
    let mut events = std::fs::OpenOptions::new()
        .append(true)
        .open(pdir.join("events.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut events, b"{\"seq\": \"torn\n\xff\xff\n").unwrap();
    // podctl shows what it can and never panics.
    for args in [
        vec!["ps"],
        vec!["inspect", &pod],
        vec!["events", &pod],
        vec!["logs", &pod, "app"],
    ] {
        let out = env.podctl(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The shim keeps serving and removal works.
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);

    // Without a shim: `podshim delete` on corrupt records (as containerd
    // calls it) succeeds and removes what is ours.
    let dir = env.write_pod(
        "corrupt2",
        "corrupt2",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let pdir = env.pod_dir(&pod);
    let shim = env.pod_record(&pod).shim.pid;
    let app_pid = env.container_record(&pod, "app").pid;
    assert!(std::process::Command::new("kill")
        .args(["-9", &shim.to_string()])
        .status()
        .unwrap()
        .success());
    wait_for(Duration::from_secs(5), "the shim to die", || {
        (!Path::new(&format!("/proc/{shim}")).exists()).then_some(())
    });
    std::fs::write(pdir.join(format!("containers/{pod}-app/state.json")), b"{").unwrap();
    let out = env.podctl(&["rm", "--timeout", "0", &pod]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
    // The container whose record was unreadable is still killed: it is in
    // the pod's cgroup, which removal empties.
    wait_for(Duration::from_secs(5), "the container to be gone", || {
        (!Path::new(&format!("/proc/{app_pid}")).exists()).then_some(())
    });
    tried("corrupt state files", 5);
    env.finish();
}
