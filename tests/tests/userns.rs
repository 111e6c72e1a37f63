//! User namespaces: a pod with one (Kubernetes' hostUsers: false), whose
//! other namespaces belong to it and which every container and exec joins;
//! a container with its own in a plain pod; mappings the kernel refuses.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;
use serde_json::{json, Value};

fn mapping(host: u32) -> Value {
    json!([{"containerID": 0, "hostID": host, "size": 65536}])
}

fn own_user_ns() -> String {
    std::fs::read_link("/proc/self/ns/user")
        .unwrap()
        .display()
        .to_string()
}

fn link(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn a_pod_in_a_user_namespace() {
    let mut env = TestEnv::new("userns");
    let shared = env.work.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::chown(&shared, Some(100_000), Some(100_000)).unwrap();
    let mut writer = container_spec(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; echo hi > /tmp/shared/from-root; exec sleep 1000",
    ]);
    writer["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/tmp/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]
    }));
    let dir = env.write_pod_with(
        "usernspod",
        "usernspod",
        &[
            ("writer", writer),
            ("other", container_spec(&["sleep", "1000"])),
        ],
        json!({"uid_mappings": mapping(100_000), "gid_mappings": mapping(100_000)}),
    );
    let pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "the writer's output", || {
        env.logs(&pod, "writer").contains('\n').then_some(())
    });
    let log = env.logs(&pod, "writer");
    let fields: Vec<&str> = log.split_whitespace().collect();
    assert_eq!(fields, ["0", "100000", "65536", "0"], "{log}");

    let pause = env.pod_record(&pod).pause.unwrap().pid;
    let writer = env.container_record(&pod, "writer");
    let other = env.container_record(&pod, "other");
    assert_eq!(other.status, TaskStatus::Running);
    let host_user = own_user_ns();
    assert_ne!(
        link(pause, "user"),
        host_user,
        "the pause is in the host's user namespace"
    );
    for c in [writer.pid, other.pid] {
        assert_eq!(link(c, "user"), link(pause, "user"));
        assert_eq!(link(c, "net"), link(pause, "net"));
        // Root inside is host uid 100000 outside.
        let status = std::fs::read_to_string(format!("/proc/{c}/status")).unwrap();
        assert!(status.contains("Uid:\t100000\t100000"), "{status}");
    }
    // What root in the pod writes is owned by its host uid.
    let made = std::fs::metadata(shared.join("from-root")).unwrap();
    assert_eq!((made.uid(), made.gid()), (100_000, 100_000));
    // The pod's user namespace is pinned beside the others.
    assert!(env.pod_dir(&pod).join("ns/user").exists());

    // An exec joins the pod's user namespace.
    let out = env.podctl_ok(&[
        "exec",
        &pod,
        "other",
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", "100000", "65536"], "{out}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn a_container_with_its_own_user_namespace_in_a_plain_pod() {
    let mut env = TestEnv::new("ownuserns");
    let mut spec = container_spec(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; grep -c '^[0-9]* [0-9]* [0-9:]* [^ ]* /sys ' /proc/self/mountinfo; \
         exec sleep 1000",
    ]);
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    // mqueue needs an IPC namespace of the user namespace's own, and this
    // container joins the pod's (refused with a clear error).
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "mqueue");
    spec["linux"]["uidMappings"] = mapping(200_000);
    spec["linux"]["gidMappings"] = mapping(200_000);
    let dir = env.write_pod("ownuserns", "ownuserns", &[("app", spec)]);
    let pod = env.run_pod(&dir);
    let log = wait_for(Duration::from_secs(10), "the output", || {
        let l = env.logs(&pod, "app");
        (l.lines().count() >= 2).then_some(l)
    });
    let fields: Vec<&str> = log.split_whitespace().collect();
    // /sys is there: the host's, bound read-only, since the pod's network
    // namespace is not the user namespace's to mount sysfs for.
    assert_eq!(fields, ["0", "200000", "65536", "1"], "{log}");
    let pid = env.container_record(&pod, "app").pid;
    assert_ne!(link(pid, "user"), own_user_ns());
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn mappings_the_kernel_refuses_fail_by_name_and_leave_nothing() {
    let env = TestEnv::new("badmaps");
    // Overlapping ranges.
    let overlapping = json!([
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 500, "hostID": 300000, "size": 1000}
    ]);
    let dir = env.write_pod_with(
        "overlap",
        "overlap",
        &[("app", container_spec(&["true"]))],
        json!({"uid_mappings": overlapping, "gid_mappings": mapping(100_000)}),
    );
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("linux.uidMappings"), "{err}");
    assert!(!env.pod_dir("overlap").exists());
    // Root not mapped: nobody to be inside.
    let no_root = json!([{"containerID": 1000, "hostID": 100000, "size": 10}]);
    let dir = env.write_pod_with(
        "noroot",
        "noroot",
        &[("app", container_spec(&["true"]))],
        json!({"uid_mappings": no_root.clone(), "gid_mappings": no_root}),
    );
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("0 is not mapped in the user namespace"),
        "{err}"
    );
    assert!(!env.pod_dir("noroot").exists());
    // A new user namespace without mappings.
    let mut spec = container_spec(&["true"]);
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let dir = env.write_pod("nomaps", "nomaps", &[("app", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("needs linux.uidMappings and linux.gidMappings"),
        "{err}"
    );
    assert!(!env.pod_dir("nomaps").exists());
    assert!(env.leaks().is_empty(), "{:?}", env.leaks());
    env.finish();
}
