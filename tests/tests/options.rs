//! The runc shim's runtime options (`containerd.runc.v1.Options`) as
//! containerd sends them with a Create: IoUid/IoGid own the stdio pipes
//! (a container user that is not root can reopen /dev/stdout), ShimCgroup
//! moves the shim, SystemdCgroup and NoPivotRoot are refused by name.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::oci::Options;
use podshim_tests::*;
use serde_json::json;

fn options(o: Options) -> MessageField<Any> {
    MessageField::some(Any {
        type_url: "containerd.runc.v1.Options".into(),
        value: o.write_to_bytes().unwrap(),
        ..Default::default()
    })
}

#[test]
fn runc_options_are_honoured_or_refused_by_name() {
    let mut env = TestEnv::new("options");
    let dir = env.write_pod(
        "options",
        "options",
        &[("idle", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);
    let mut spec = container_spec(&[
        "sh",
        "-c",
        "echo reopened > /dev/stdout && echo ok-done; sleep 1000",
    ]);
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": pod
    });
    let bundle = env.work.join("io");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let log = env.work.join("io.log");
    let uri = format!("cri-log://{}", log.display());

    // ShimCgroup: a cgroup the caller made, in every hierarchy.
    let shim_cg = format!("/{}-shim", env.cgroup_parent);
    let hierarchies = cgroup_roots();
    for h in &hierarchies {
        let d = h.join(shim_cg.trim_start_matches('/'));
        std::fs::create_dir_all(&d).unwrap();
        // A v1 cpuset takes no process before it has cpus and mems.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(h.join(f)) {
                std::fs::write(d.join(f), v.trim()).unwrap();
            }
        }
    }
    let id = format!("{pod}-io");
    let req = api::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.to_string_lossy().into_owned(),
        stdout: uri.clone(),
        stderr: uri,
        options: options(Options {
            io_uid: 1000,
            io_gid: 1000,
            shim_cgroup: shim_cg.clone(),
            binary_name: "runc".into(),
            no_new_keyring: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let pid = client
        .create(ctx(), &req)
        .expect("create with runc options")
        .pid;
    let out = std::fs::metadata(format!("/proc/{pid}/fd/1")).unwrap();
    assert_eq!((out.uid(), out.gid()), (1000, 1000), "stdout pipe owner");
    let shim = env.pod_record(&pod).shim.pid;
    let cgroups = std::fs::read_to_string(format!("/proc/{shim}/cgroup")).unwrap();
    assert!(
        cgroups.contains(&shim_cg),
        "the shim is not in ShimCgroup: {cgroups}"
    );
    let req = api::StartRequest {
        id: id.clone(),
        ..Default::default()
    };
    client.start(ctx(), &req).unwrap();
    let text = wait_for(Duration::from_secs(10), "the output", || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        t.contains("ok-done").then_some(t)
    });
    assert!(text.contains("stdout F reopened"), "{text}");

    // What the options gave the task is its own and outlives its shim:
    // after a restart an exec's stdout is still IoUid/IoGid's (not only
    // its user's, 1000:0), and it keeps the inherited session keyring.
    let probe = |env: &TestEnv| {
        env.podctl_ok(&[
            "exec",
            &pod,
            "io",
            "--",
            "sh",
            "-c",
            "stat -L -c %u:%g /proc/$$/fd/1; podprobe view",
        ])
    };
    let before = probe(&env);
    assert!(before.starts_with("1000:1000\n"), "{before}");
    assert!(!before.contains(&format!("\"_ses.{id}\"")), "{before}");
    drop(client);
    assert!(std::process::Command::new("kill")
        .args(["-9", &shim.to_string()])
        .status()
        .unwrap()
        .success());
    wait_for(Duration::from_secs(5), "the shim gone", || {
        (!alive(shim)).then_some(())
    });
    env.podctl_ok(&["recover", &pod]);
    let client = env.shim_client(&pod);
    let after = probe(&env);
    assert_eq!(
        after.lines().next(),
        before.lines().next(),
        "after a restart: {after}"
    );
    assert!(!after.contains(&format!("\"_ses.{id}\"")), "{after}");

    for (o, field) in [
        (
            Options {
                systemd_cgroup: true,
                ..Default::default()
            },
            "SystemdCgroup",
        ),
        (
            Options {
                no_pivot_root: true,
                ..Default::default()
            },
            "NoPivotRoot",
        ),
    ] {
        let req = api::CreateTaskRequest {
            id: format!("{pod}-refused"),
            bundle: bundle.to_string_lossy().into_owned(),
            options: options(o),
            ..Default::default()
        };
        let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
        assert!(
            msg.contains(field) && msg.contains("INVALID_ARGUMENT"),
            "{msg}"
        );
    }
    let req = api::KillRequest {
        id: id.clone(),
        signal: 9,
        ..Default::default()
    };
    client.kill(ctx(), &req).unwrap();
    let req = api::WaitRequest {
        id: id.clone(),
        ..Default::default()
    };
    client.wait(ctx(), &req).unwrap();
    let req = api::DeleteRequest {
        id,
        ..Default::default()
    };
    client.delete(ctx(), &req).unwrap();
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    // The shim is gone from its cgroup: remove what the test made.
    for h in &hierarchies {
        let d = h.join(shim_cg.trim_start_matches('/'));
        wait_for(Duration::from_secs(5), "the shim cgroup empty", || {
            std::fs::remove_dir(&d).ok()
        });
    }
    env.finish();
}

/// `containerd-shim-podshim-v1 -info`, as containerd 2.x runs it: options
/// on stdin, a RuntimeInfo on stdout whose features document lists what
/// podshim supports (rro among the mount options, so containerd enables
/// recursive read-only mounts); options a Create would refuse fail it.
#[test]
fn info_answers_what_containerd_2_asks() {
    use containerd_shim_protos::types::introspection::RuntimeInfo;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let env = TestEnv::new("info");
    let run = |input: Vec<u8>| {
        let mut child = Command::new(env.podshim())
            .arg("-info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    };
    let opts = Any {
        type_url: "containerd.runc.v1.Options".into(),
        value: Options {
            io_uid: 5,
            ..Default::default()
        }
        .write_to_bytes()
        .unwrap(),
        ..Default::default()
    };
    let out = run(opts.write_to_bytes().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = RuntimeInfo::parse_from_bytes(&out.stdout).unwrap();
    assert_eq!(info.name, "io.containerd.podshim.v1");
    assert!(!info.version.version.is_empty());
    assert_eq!(info.options.type_url, "containerd.runc.v1.Options");
    assert_eq!(
        info.features.type_url,
        "types.containerd.io/opencontainers/runtime-spec/1/features/Features"
    );
    let features: serde_json::Value = serde_json::from_slice(&info.features.value).unwrap();
    assert!(
        features["mountOptions"]
            .as_array()
            .unwrap()
            .contains(&json!("rro")),
        "{features}"
    );
    // Nothing on stdin is fine too.
    assert!(run(Vec::new()).status.success());
    let refused = Any {
        type_url: "containerd.runc.v1.Options".into(),
        value: Options {
            systemd_cgroup: true,
            ..Default::default()
        }
        .write_to_bytes()
        .unwrap(),
        ..Default::default()
    };
    let out = run(refused.write_to_bytes().unwrap());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SystemdCgroup"));
    env.finish();
}
