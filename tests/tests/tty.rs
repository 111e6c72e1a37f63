//! Terminal processes as containerd's Go client makes their stdio (what
//! nerdctl and other tools build on): FIFOs for stdin and stdout, and a
//! stderr path it names but never creates in terminal mode. A TTY task and
//! a TTY exec each write 1 MiB through the terminal, take a ResizePty, and
//! their exit codes come back.

use std::io::Read;
use std::path::Path;

use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::MessageField;
use podshim_tests::*;
use serde_json::json;

const SCRIPT: &str =
    "head -c 1048576 /dev/zero | tr '\\0' x; echo; echo END-OF-OUTPUT; sleep 0.2; exit 5";

fn mkfifo(p: &Path) {
    assert!(std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap()
        .success());
}

/// Reads a FIFO until `END-OF-OUTPUT`; how many `x` came.
fn read_all(p: std::path::PathBuf) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut f = std::fs::File::open(&p).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while !String::from_utf8_lossy(&got[got.len().saturating_sub(64)..])
            .contains("END-OF-OUTPUT")
        {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got.iter().filter(|b| **b == b'x').count()
    })
}

#[test]
fn tty_task_and_exec_with_go_client_stdio() {
    let mut env = TestEnv::new("tty");
    let dir = env.write_pod(
        "tty",
        "tty",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let io = env.work.join("io");
    std::fs::create_dir_all(&io).unwrap();
    let fifos = |tag: &str| {
        let (i, o) = (io.join(format!("{tag}-in")), io.join(format!("{tag}-out")));
        mkfifo(&i);
        mkfifo(&o);
        // Named, never made: the Go client's stderr in terminal mode.
        let e = io.join(format!("{tag}-err"));
        (i, o, e)
    };

    let mut spec = container_spec(&["sh", "-c", SCRIPT]);
    spec["process"]["terminal"] = json!(true);
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": pod
    });
    let bundle = env.work.join("ttybundle");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let id = format!("{pod}-tty");
    let (i, o, e) = fifos("task");
    let req = api::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.to_string_lossy().into_owned(),
        terminal: true,
        stdin: i.to_string_lossy().into_owned(),
        stdout: o.to_string_lossy().into_owned(),
        stderr: e.to_string_lossy().into_owned(),
        ..Default::default()
    };
    client
        .create(ctx(), &req)
        .expect("a TTY task with the Go client's stdio");
    let reader = read_all(o);
    let req = api::ResizePtyRequest {
        id: id.clone(),
        width: 100,
        height: 40,
        ..Default::default()
    };
    client
        .resize_pty(ctx(), &req)
        .expect("resize the task's terminal");
    let req = api::StartRequest {
        id: id.clone(),
        ..Default::default()
    };
    client.start(ctx(), &req).unwrap();
    assert_eq!(reader.join().unwrap(), 1 << 20, "the task's output");
    let req = api::WaitRequest {
        id: id.clone(),
        ..Default::default()
    };
    assert_eq!(client.wait(ctx(), &req).unwrap().exit_status, 5);

    // The same for an exec in the idle container.
    let idle = format!("{pod}-idle");
    let (i, o, e) = fifos("exec");
    let process = json!({"args": ["sh", "-c", SCRIPT], "cwd": "/", "terminal": true,
                         "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin:/usr/bin"]});
    let req = api::ExecProcessRequest {
        id: idle.clone(),
        exec_id: "t1".into(),
        terminal: true,
        stdin: i.to_string_lossy().into_owned(),
        stdout: o.to_string_lossy().into_owned(),
        stderr: e.to_string_lossy().into_owned(),
        spec: MessageField::some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
            value: process.to_string().into_bytes(),
            ..Default::default()
        }),
        ..Default::default()
    };
    client
        .exec(ctx(), &req)
        .expect("a TTY exec with the Go client's stdio");
    let reader = read_all(o);
    let req = api::StartRequest {
        id: idle.clone(),
        exec_id: "t1".into(),
        ..Default::default()
    };
    client.start(ctx(), &req).unwrap();
    let req = api::ResizePtyRequest {
        id: idle.clone(),
        exec_id: "t1".into(),
        width: 120,
        height: 30,
        ..Default::default()
    };
    client
        .resize_pty(ctx(), &req)
        .expect("resize the exec's terminal");
    assert_eq!(reader.join().unwrap(), 1 << 20, "the exec's output");
    let req = api::WaitRequest {
        id: idle.clone(),
        exec_id: "t1".into(),
        ..Default::default()
    };
    assert_eq!(client.wait(ctx(), &req).unwrap().exit_status, 5);
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
