//! Clients that go away mid-request (containerd crashing, `ctr` being
//! interrupted, a deadline): a Create runs on without its client and
//! completes or rolls back; a Delete of a task whose Create is stuck kills
//! and removes it; no request leaves a zombie, a cgroup or a record.

use std::time::{Duration, Instant};

use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::MessageField;
use containerd_shim_protos::shim::shim_ttrpc::TaskClient;
use podshim_tests::*;
use serde_json::json;

/// A member bundle whose createRuntime hook sleeps `secs` (the Create is
/// held there, its init waiting).
fn slow_bundle(env: &TestEnv, pod: &str, name: &str, secs: u32) -> String {
    let mut spec = container_spec(&["sleep", "1000"]);
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": pod
    });
    if secs > 0 {
        spec["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", secs.to_string()], "timeout": 120}
        ]});
    }
    let dir = env.work.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), spec.to_string()).unwrap();
    dir.to_string_lossy().into_owned()
}

fn create(client: &TaskClient, id: &str, bundle: &str, deadline: Duration) -> Result<u32, String> {
    let req = api::CreateTaskRequest {
        id: id.into(),
        bundle: bundle.into(),
        ..Default::default()
    };
    let c = ttrpc::context::with_timeout(deadline.as_nanos() as i64);
    client
        .create(c, &req)
        .map(|r| r.pid)
        .map_err(|e| rpc_message(&e))
}

fn state(client: &TaskClient, id: &str) -> Result<api::StateResponse, ttrpc::Error> {
    let req = api::StateRequest {
        id: id.into(),
        ..Default::default()
    };
    client.state(ctx(), &req)
}

fn delete(client: &TaskClient, id: &str) -> Result<api::DeleteResponse, ttrpc::Error> {
    let req = api::DeleteRequest {
        id: id.into(),
        ..Default::default()
    };
    client.delete(ctx(), &req)
}

/// The shim's children that are zombies.
fn zombies_of(shim: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
            let mut f = rest.split_whitespace();
            let state = f.next();
            let ppid = f.next().and_then(|p| p.parse::<i32>().ok());
            state == Some("Z") && ppid == Some(shim)
        })
        .collect()
}

#[test]
fn a_create_whose_client_goes_away_completes() {
    let mut env = TestEnv::new("gonecreate");
    let dir = env.write_pod(
        "gonecreate",
        "gonecreate",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let bundle = slow_bundle(&env, &pod, "slow", 2);
    let id = format!("{pod}-slow");
    let err = create(&client, &id, &bundle, Duration::from_millis(300)).unwrap_err();
    assert!(
        err.to_lowercase().contains("deadline") || err.contains("timeout"),
        "{err}"
    );
    // The Create runs on: meanwhile the task is being created ...
    let e = state(&client, &id).unwrap_err();
    assert!(
        rpc_message(&e).contains("being created"),
        "{}",
        rpc_message(&e)
    );
    // ... and then it is, as if its client had stayed.
    let st = wait_for(Duration::from_secs(10), "the create to finish", || {
        state(&client, &id).ok()
    });
    assert_eq!(st.status.value(), api::Status::CREATED as i32, "{st:?}");
    assert!(st.pid > 0);
    let d = delete(&client, &id).unwrap();
    assert_eq!(d.pid, st.pid);
    let shim = env.pod_record(&pod).shim.pid;
    assert_eq!(zombies_of(shim), Vec::<i32>::new());
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn a_create_stuck_without_its_client_is_deleted() {
    let mut env = TestEnv::new("stuckcreate");
    let dir = env.write_pod(
        "stuckcreate",
        "stuckcreate",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let bundle = slow_bundle(&env, &pod, "stuck", 100);
    let id = format!("{pod}-stuck");
    create(&client, &id, &bundle, Duration::from_millis(300)).unwrap_err();
    // Its init is there, waiting on the hook.
    let task_dir = env.pod_dir(&pod).join("containers").join(&id);
    wait_for(Duration::from_secs(5), "the stuck init", || {
        task_dir.exists().then_some(())
    });
    // A second Create of the id is refused at once.
    let began = Instant::now();
    let err = create(&client, &id, &bundle, Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    assert!(began.elapsed() < Duration::from_secs(2));
    // Delete stops it: killed, removed, and the id free again.
    let began = Instant::now();
    let d = delete(&client, &id).expect("delete of a task being created");
    assert_eq!(d.exit_status, 137);
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let e = state(&client, &id).unwrap_err();
    assert!(rpc_message(&e).contains("not found"), "{}", rpc_message(&e));
    assert!(!task_dir.exists(), "its state directory is left");
    let shim = env.pod_record(&pod).shim.pid;
    assert_eq!(zombies_of(shim), Vec::<i32>::new());
    let quick = slow_bundle(&env, &pod, "quick", 0);
    let pid = create(&client, &id, &quick, Duration::from_secs(10)).expect("create again");
    assert!(pid > 0);
    delete(&client, &id).unwrap();
    // podctl rm of a pod with a stuck Create does not hang either.
    create(&client, &id, &bundle, Duration::from_millis(300)).unwrap_err();
    let began = Instant::now();
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    env.finish();
}

/// Every lifecycle request, each from a client that gives up after 1 ms
/// (ttrpc drops the request at its deadline): the step still happens,
/// whole, and the next client finds it done.
#[test]
fn every_request_completes_after_its_client_has_gone() {
    let mut env = TestEnv::new("gonereqs");
    let dir = env.write_pod(
        "gonereqs",
        "gonereqs",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let gone = || ttrpc::context::with_timeout(1_000_000);
    let id = format!("{pod}-late");
    let bundle = slow_bundle(&env, &pod, "late", 0);
    let status = |client: &TaskClient| state(client, &id).map(|s| s.status.value()).ok();
    let eventually = |what: &str, want: api::Status| {
        wait_for(Duration::from_secs(10), what, || {
            (status(&client) == Some(want as i32)).then_some(())
        })
    };

    let _ = create(&client, &id, &bundle, Duration::from_millis(1));
    eventually("created", api::Status::CREATED);
    let _ = client.start(
        gone(),
        &api::StartRequest {
            id: id.clone(),
            ..Default::default()
        },
    );
    eventually("running", api::Status::RUNNING);
    let _ = client.pause(
        gone(),
        &api::PauseRequest {
            id: id.clone(),
            ..Default::default()
        },
    );
    eventually("paused", api::Status::PAUSED);
    let _ = client.resume(
        gone(),
        &api::ResumeRequest {
            id: id.clone(),
            ..Default::default()
        },
    );
    eventually("resumed", api::Status::RUNNING);
    // An exec added and started by clients that are gone: it runs, and
    // the next client gets its exit.
    let any = |type_url: &str, v: serde_json::Value| Any {
        type_url: type_url.into(),
        value: v.to_string().into_bytes(),
        ..Default::default()
    };
    let process = json!({"args": ["sh", "-c", "exit 4"], "cwd": "/",
                         "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin:/usr/bin"]});
    let _ = client.exec(
        gone(),
        &api::ExecProcessRequest {
            id: id.clone(),
            exec_id: "e1".into(),
            spec: MessageField::some(any(
                "types.containerd.io/opencontainers/runtime-spec/1/Process",
                process,
            )),
            ..Default::default()
        },
    );
    let exec_state = || {
        client
            .state(
                ctx(),
                &api::StateRequest {
                    id: id.clone(),
                    exec_id: "e1".into(),
                    ..Default::default()
                },
            )
            .ok()
    };
    wait_for(Duration::from_secs(10), "the exec added", exec_state);
    let _ = client.start(
        gone(),
        &api::StartRequest {
            id: id.clone(),
            exec_id: "e1".into(),
            ..Default::default()
        },
    );
    let waited = client
        .wait(
            ctx(),
            &api::WaitRequest {
                id: id.clone(),
                exec_id: "e1".into(),
                ..Default::default()
            },
        )
        .expect("the exec's exit");
    assert_eq!(waited.exit_status, 4);
    // An Update from a client that is gone: the limit is set.
    let _ = client.update(
        gone(),
        &api::UpdateTaskRequest {
            id: id.clone(),
            resources: MessageField::some(any(
                "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                json!({"pids": {"limit": 50}}),
            )),
            ..Default::default()
        },
    );
    let pids_max = env.cgroup_file("pids", &pod, &id, "pids.max");
    wait_for(Duration::from_secs(10), "the update", || {
        (std::fs::read_to_string(&pids_max).ok()?.trim() == "50").then_some(())
    });
    let _ = client.kill(
        gone(),
        &api::KillRequest {
            id: id.clone(),
            signal: 9,
            ..Default::default()
        },
    );
    eventually("stopped", api::Status::STOPPED);
    let st = state(&client, &id).unwrap();
    assert_eq!(st.exit_status, 137, "{st:?}");
    let _ = client.delete(
        gone(),
        &api::DeleteRequest {
            id: id.clone(),
            ..Default::default()
        },
    );
    wait_for(Duration::from_secs(10), "deleted", || {
        state(&client, &id).is_err().then_some(())
    });
    let e = state(&client, &id).unwrap_err();
    assert!(rpc_message(&e).contains("not found"), "{}", rpc_message(&e));
    let shim = env.pod_record(&pod).shim.pid;
    assert_eq!(zombies_of(shim), Vec::<i32>::new());
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
