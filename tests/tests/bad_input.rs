//! Bad input gets a clear error naming what is wrong, and leaves nothing
//! behind: no state directory, no process, no mount.

use containerd_shim_protos::api;
use podshim_tests::*;
use serde_json::json;

fn assert_no_pod(env: &TestEnv, pod: &str) {
    assert!(
        !env.pod_dir(pod).exists(),
        "a failed run left {}",
        env.pod_dir(pod).display()
    );
    assert!(env.leaks().is_empty(), "{:?}", env.leaks());
}

#[test]
fn missing_or_malformed_config_json() {
    let env = TestEnv::new("badcfg");
    let dir = env.write_pod("nocfg", "nocfg", &[("a", container_spec(&["true"]))]);
    std::fs::remove_file(dir.join("a/config.json")).unwrap();
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("a/config.json") && err.contains("No such file"),
        "{err}"
    );
    assert_no_pod(&env, "nocfg");

    let dir = env.write_pod("badjson", "badjson", &[("a", container_spec(&["true"]))]);
    std::fs::write(dir.join("a/config.json"), b"{\"ociVersion\": ").unwrap();
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("a/config.json") && err.contains("not valid JSON"),
        "{err}"
    );
    assert_no_pod(&env, "badjson");

    // Valid JSON, wrong types: the shim refuses it with the spec's field.
    let mut spec = container_spec(&["true"]);
    spec["process"]["args"] = json!("not-a-list");
    let dir = env.write_pod("badtype", "badtype", &[("a", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("not a valid OCI spec"), "{err}");
    assert_no_pod(&env, "badtype");
    env.finish();
}

/// Security settings not built yet are refused, never silently dropped.
#[test]
fn bad_security_settings_are_refused_by_name() {
    let env = TestEnv::new("unsupported");
    type Case = (&'static str, fn(&mut serde_json::Value), &'static str);
    let cases: Vec<Case> = vec![
        (
            "agent",
            |s| {
                s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "listenerPath": "/run/agent.sock"})
            },
            "linux.seccomp.listenerPath",
        ),
        (
            "notify",
            |s| {
                s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
            },
            "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY",
        ),
        (
            "argindex",
            |s| {
                s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                  "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
            },
            "linux.seccomp.syscalls[0]: args index 7",
        ),
        (
            "errno",
            |s| {
                s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO",
                    "defaultErrnoRet": 70000})
            },
            "linux.seccomp.defaultAction: errnoRet 70000",
        ),
        (
            "idmap",
            |s| {
                s["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/data", "type": "bind", "source": "/tmp",
                    "options": ["rbind", "idmap"]
                }))
            },
            "mounts: an idmapped mount (/data) is not supported",
        ),
        (
            "apparmor",
            |s| s["process"]["apparmorProfile"] = json!("docker-default"),
            "process.apparmorProfile is not supported",
        ),
    ];
    for (id, change, want) in cases {
        let mut spec = container_spec(&["true"]);
        change(&mut spec);
        let dir = env.write_pod(id, id, &[("a", spec)]);
        let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
        assert!(err.contains(want), "{id}: {err}");
        assert_no_pod(&env, id);
    }
    env.finish();
}

#[test]
fn a_seccomp_rule_for_an_unknown_syscall_is_left_out() {
    let env = TestEnv::new("unknownsys");
    let mut spec = container_spec(&["sh", "-c", "mkdir /tmp/x"]);
    spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["nosuch_syscall_podshim", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
        ]
    });
    let dir = env.write_pod("unknownsys", "unknownsys", &[("a", spec)]);
    let out = env.podctl(&["run", "--rm", dir.to_str().unwrap()]);
    // The known names of the rule still apply: mkdir is refused.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_pod(&env, "unknownsys");
    env.finish();
}

#[test]
fn missing_rootfs() {
    let env = TestEnv::new("norootfs");
    let mut spec = container_spec(&["true"]);
    spec["root"]["path"] = json!("/nonexistent/rootfs");
    let dir = env.write_pod("noroot", "noroot", &[("a", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("/nonexistent/rootfs") && err.contains("does not exist"),
        "{err}"
    );
    assert_no_pod(&env, "noroot");
    env.finish();
}

/// The containers of a pod are created side by side: the one that fails
/// is named, and those created beside it are removed with the pod.
#[test]
fn one_failed_create_among_several_names_it_and_leaves_nothing() {
    let env = TestEnv::new("onebad");
    let mut bad = container_spec(&["sleep", "1000"]);
    bad["root"]["path"] = json!("/nonexistent/rootfs-b");
    let dir = env.write_pod(
        "onebad",
        "onebad",
        &[
            ("a", container_spec(&["sleep", "1000"])),
            ("b", bad),
            ("c", container_spec(&["sleep", "1000"])),
        ],
    );
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("create container onebad-b") && err.contains("/nonexistent/rootfs-b"),
        "{err}"
    );
    assert_no_pod(&env, "onebad");
    env.finish();
}

#[test]
fn bad_pod_ids_and_duplicate_names() {
    let env = TestEnv::new("badid");
    for bad in ["../escape", "a/b", "..", &"x".repeat(10_000)] {
        let dir = env.work.join("weird");
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = json!({"id": bad, "containers": [{"name": "a", "bundle": "a"}]});
        std::fs::write(dir.join("pod.json"), manifest.to_string()).unwrap();
        let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
        assert!(err.contains("id"), "{err}");
    }
    let dir = env.write_pod(
        "dup",
        "dup",
        &[
            ("a", container_spec(&["true"])),
            ("a", container_spec(&["true"])),
        ],
    );
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("twice"), "{err}");
    assert_no_pod(&env, "dup");
    // Nothing was created outside the state root either.
    assert!(!std::path::Path::new("/run/podshim-test/escape").exists());
    env.finish();
}

/// A namespace path that is a regular file or a namespace of another type.
#[test]
fn namespace_paths_of_the_wrong_kind() {
    let env = TestEnv::new("badns");
    let mut spec = container_spec(&["true"]);
    spec["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"}, {"type": "ipc", "path": "/proc/self/ns/net"}
    ]);
    let dir = env.write_pod("wrongns", "wrongns", &[("a", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("is not a ipc namespace"), "{err}");
    assert_no_pod(&env, "wrongns");

    let mut spec = container_spec(&["true"]);
    spec["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"}, {"type": "network", "path": "/etc/hostname"}
    ]);
    let dir = env.write_pod("filens", "filens", &[("a", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("/etc/hostname"), "{err}");
    assert_no_pod(&env, "filens");
    env.finish();
}

/// At the protocol level: a container naming a sandbox this shim does not
/// serve, and a container id created twice.
#[test]
fn unknown_sandbox_and_duplicate_container_over_ttrpc() {
    let mut env = TestEnv::new("ttrpcbad");
    let dir = env.write_pod(
        "host",
        "host",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let client = env.shim_client(&pod);

    let bundle = env.work.join("stray");
    std::fs::create_dir_all(&bundle).unwrap();
    let mut spec = container_spec(&["true"]);
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": "no-such-pod"
    });
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    let req = api::CreateTaskRequest {
        id: "stray".into(),
        bundle: bundle.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let err = client.create(ctx(), &req).unwrap_err();
    let msg = rpc_message(&err);
    assert!(
        msg.contains("NOT_FOUND") && msg.contains("no-such-pod"),
        "{msg}"
    );
    assert!(!env.pod_dir(&pod).join("containers/stray").exists());

    // The same id as a running container.
    let existing = env.pod_dir(&pod).join("bundles/app");
    let req = api::CreateTaskRequest {
        id: format!("{pod}-app"),
        bundle: existing.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let err = client.create(ctx(), &req).unwrap_err();
    let msg = rpc_message(&err);
    assert!(msg.contains("ALREADY_EXISTS"), "{msg}");
    // The running container was not disturbed.
    let rec = env.container_record(&pod, "app");
    assert_eq!(rec.status, podshim_types::TaskStatus::Running);

    // An id with a slash never becomes a path.
    let req = api::CreateTaskRequest {
        id: "../../etc".into(),
        bundle: existing.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let msg = rpc_message(&client.create(ctx(), &req).unwrap_err());
    assert!(msg.contains("INVALID_ARGUMENT"), "{msg}");

    env.podctl_ok(&["rm", "--timeout", "0.2", &pod]);
    env.finish();
}
