//! The state directory's filesystem full: a container's exit is never
//! lost. It is answered to Wait and State from memory at once, published,
//! and the records and the event log are written once there is room again;
//! the pod is removable all along.

use std::process::Command;
use std::time::Duration;

use containerd_shim_protos::api;
use podshim_tests::*;
use podshim_types::TaskStatus;

/// A small tmpfs over the test's state root, removed at the end.
struct SmallRoot(std::path::PathBuf);

impl SmallRoot {
    fn mount(env: &TestEnv, size: &str) -> SmallRoot {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&env.root)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs on {}", env.root.display());
        SmallRoot(env.root.clone())
    }
}

impl Drop for SmallRoot {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn an_exit_on_a_full_disk_is_not_lost() {
    let mut env = TestEnv::new("diskfull");
    let small = SmallRoot::mount(&env, "3m");
    // Fills the state directory's filesystem with its log, then exits 3.
    let filler = container_spec(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 60000 ]; do echo 'filling the disk with a log line of some length, over and over again'; i=$((i+1)); done; sleep 0.5; exit 3",
    ]);
    let idle = container_spec(&["sleep", "1000"]);
    let dir = env.write_pod(
        "diskfull",
        "diskfull",
        &[("idle", idle), ("filler", filler)],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let id = format!("{pod}-filler");
    let req = api::WaitRequest {
        id: id.clone(),
        ..Default::default()
    };
    let waited = client
        .wait(ttrpc::context::with_timeout(20_000_000_000), &req)
        .expect("Wait answers on a full disk");
    assert_eq!(waited.exit_status, 3);
    let st = client
        .state(
            ctx(),
            &api::StateRequest {
                id: id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(st.exit_status, 3);
    assert!(st.exited_at.is_some(), "{st:?}");
    let df = Command::new("df").arg(&env.root).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&df.stdout));
    // Room again (the log emptied: the shim holds it open), the record
    // follows.
    let logs = env.pod_dir(&pod).join("containers").join(&id);
    for e in std::fs::read_dir(&logs).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("log") {
            std::fs::OpenOptions::new()
                .write(true)
                .open(e.path())
                .unwrap()
                .set_len(0)
                .unwrap();
        }
    }
    let rec = wait_for(Duration::from_secs(10), "the exit on disk", || {
        let r = env.container_record(&pod, "filler");
        (r.status == TaskStatus::Stopped).then_some(r)
    });
    assert_eq!(rec.exit_code, Some(3));
    let events = std::fs::read_to_string(env.pod_dir(&pod).join("events.jsonl")).unwrap();
    assert!(events.contains("exit"), "{events}");

    // A container created while there is room, started when there is not.
    let mut spec = container_spec(&["sleep", "1000"]);
    spec["annotations"] = serde_json::json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": pod
    });
    let bundle = env.work.join("late");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let later = format!("{pod}-later");
    let req = api::CreateTaskRequest {
        id: later.clone(),
        bundle: bundle.to_string_lossy().into_owned(),
        ..Default::default()
    };
    client
        .create(ctx(), &req)
        .expect("create while there is room");

    // Full again, by a file: every other write meets ENOSPC.
    let fill = env.root.join("fill");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", fill.display()))
        .output();
    // An exec needs no room (its FIFOs take none): it runs.
    assert_eq!(
        env.podctl_ok(&["exec", &pod, "idle", "--", "echo", "hi"]),
        "hi\n"
    );
    // Start, pause and resume happen; their records follow later.
    let status = |id: &str| {
        client
            .state(
                ctx(),
                &api::StateRequest {
                    id: id.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .status
            .value()
    };
    let req = api::StartRequest {
        id: later.clone(),
        ..Default::default()
    };
    client.start(ctx(), &req).expect("start on a full disk");
    assert_eq!(status(&later), api::Status::RUNNING as i32);
    let req = api::PauseRequest {
        id: later.clone(),
        ..Default::default()
    };
    client.pause(ctx(), &req).expect("pause on a full disk");
    assert_eq!(status(&later), api::Status::PAUSED as i32);
    let req = api::ResumeRequest {
        id: later.clone(),
        ..Default::default()
    };
    client.resume(ctx(), &req).expect("resume on a full disk");
    assert_eq!(status(&later), api::Status::RUNNING as i32);
    // A Create cannot write its record: refused whole.
    let late = format!("{pod}-late");
    let req = api::CreateTaskRequest {
        id: late.clone(),
        bundle: bundle.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let e = client.create(ctx(), &req).unwrap_err();
    assert!(
        rpc_message(&e).contains("No space left"),
        "{}",
        rpc_message(&e)
    );
    assert!(!env.pod_dir(&pod).join("containers").join(&late).exists());
    // A kill's exit is told from memory.
    let idle_id = format!("{pod}-idle");
    env.podctl_ok(&["kill", &pod, "idle", "--signal", "KILL"]);
    let req = api::WaitRequest {
        id: idle_id,
        ..Default::default()
    };
    let waited = client
        .wait(ttrpc::context::with_timeout(10_000_000_000), &req)
        .expect("Wait answers on a full disk");
    assert_eq!(waited.exit_status, 137);
    // And the pod goes, full disk or not.
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    drop(small);
    env.finish();
}
