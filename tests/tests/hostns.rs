//! Pods in the host's namespaces and pods with sysctls, through podctl:
//! host_network, host_ipc and host_pid put the pause and every member in
//! the host's namespace of that kind (nothing of the host pinned or
//! removed); pod sysctls are set in the pod's namespaces before any
//! container starts, and one that would reach the host is refused by name.

use std::process::Command;
use std::time::Duration;

use podshim_tests::*;
use serde_json::json;

fn report_of(env: &TestEnv, pod: &str, name: &str) -> String {
    wait_for(Duration::from_secs(10), "the report", || {
        let l = env.logs(pod, name);
        l.contains("report-done").then_some(l)
    })
}

#[test]
fn host_namespaces_are_the_hosts_for_the_pause_and_every_member() {
    let mut env = TestEnv::new("hostns");
    // A host SysV segment, for host_ipc to show.
    let out = Command::new("ipcmk").args(["-M", "4096"]).output().unwrap();
    let shmid = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let probe =
        "echo ifaces=$(cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort | tr '\\n' ,); \
                 echo shm=$(awk 'NR>1 {print $2}' /proc/sysvipc/shm | tr '\\n' ,); \
                 echo report-done; sleep 1000";
    let dir = env.write_pod_with(
        "hostns",
        "hostns",
        &[
            ("a", container_spec(&["sh", "-c", probe])),
            ("b", container_spec(&["sleep", "1000"])),
        ],
        json!({"host_network": true, "host_ipc": true, "host_pid": true}),
    );
    let pod = env.run_pod(&dir);
    let me = std::process::id() as i32;
    let pause = env.pod_record(&pod).pause.unwrap().pid;
    for name in ["a", "b"] {
        let pid = env.container_record(&pod, name).pid;
        // hostNetwork brings the host's uts too, as in Kubernetes.
        for ns in ["net", "ipc", "pid", "uts"] {
            assert_eq!(
                ns_inode(pid, ns),
                ns_inode(me, ns),
                "{name}: {ns} is not the host's"
            );
        }
    }
    for ns in ["net", "ipc", "uts"] {
        assert_eq!(ns_inode(pause, ns), ns_inode(me, ns), "the pause: {ns}");
    }
    let report = report_of(&env, &pod, "a");
    let mut host_ifaces: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim().to_string())
        .collect();
    host_ifaces.sort();
    assert!(
        report.contains(&format!("ifaces={},", host_ifaces.join(","))),
        "{report}"
    );
    assert!(
        report.contains(&format!("{shmid},")),
        "host segment {shmid} not seen: {report}"
    );
    // Nothing of the host is pinned.
    let pins = env.pod_dir(&pod).join("ns");
    for ns in ["net", "ipc", "uts"] {
        assert!(!pins.join(ns).exists(), "{ns} of the host pinned");
    }
    let inspect: serde_json::Value =
        serde_json::from_str(&env.podctl_ok(&["inspect", &pod])).unwrap();
    assert!(inspect["network"].is_null(), "{inspect}");
    // A hostname without a UTS namespace of its own is refused, as runc
    // refuses it.
    let mut spec = container_spec(&["true"]);
    spec["hostname"] = json!("mine");
    let dir = env.write_pod_with(
        "hostname",
        "hostname",
        &[("a", spec)],
        json!({"host_network": true}),
    );
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("without a private UTS namespace"), "{err}");
    assert!(!env.pod_dir("hostname").exists());
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    Command::new("ipcrm").args(["-m", &shmid]).status().unwrap();
    env.finish();
}

#[test]
fn pod_sysctls_are_set_in_its_namespaces_and_the_hosts_are_refused() {
    let mut env = TestEnv::new("sysctls");
    let read =
        "echo rmid=$(cat /proc/sys/kernel/shm_rmid_forced) msgmax=$(cat /proc/sys/kernel/msgmax) \
                somaxconn=$(cat /proc/sys/net/core/somaxconn); echo report-done; sleep 1000";
    let host =
        |k: &str| std::fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/"))).unwrap();
    let before = (
        host("kernel.msgmax"),
        host("net.core.somaxconn"),
        host("kernel.panic"),
    );
    let dir = env.write_pod_with(
        "sysctls",
        "sysctls",
        &[
            ("a", container_spec(&["sh", "-c", read])),
            ("b", container_spec(&["sh", "-c", read])),
        ],
        json!({"sysctls": {"kernel.shm_rmid_forced": "1", "kernel.msgmax": "9000",
                           "net.core.somaxconn": "777"}}),
    );
    let pod = env.run_pod(&dir);
    for name in ["a", "b"] {
        let r = report_of(&env, &pod, name);
        assert!(
            r.contains("rmid=1 msgmax=9000 somaxconn=777"),
            "{name}: {r}"
        );
    }
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);

    // Not namespaced, or in a namespace that is the host's: refused by
    // name, nothing started.
    for (i, (extra, key)) in [
        (json!({"sysctls": {"kernel.panic": "5"}}), "kernel.panic"),
        (
            json!({"host_network": true, "sysctls": {"net.core.somaxconn": "1000"}}),
            "net.core.somaxconn",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("badsysctl{i}");
        let dir = env.write_pod_with(&id, &id, &[("a", container_spec(&["true"]))], extra);
        let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
        assert!(err.contains(key), "{err}");
        assert!(!env.pod_dir(&id).exists(), "{id} left its state");
    }
    // A container's own sysctl that would reach the host: refused too.
    let mut spec = container_spec(&["true"]);
    spec["linux"]["sysctl"] = json!({"vm.swappiness": "1"});
    let dir = env.write_pod("ownsysctl", "ownsysctl", &[("a", spec)]);
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(
        err.contains("vm.swappiness") && err.contains("not in a separate"),
        "{err}"
    );
    assert_eq!(
        (
            host("kernel.msgmax"),
            host("net.core.somaxconn"),
            host("kernel.panic")
        ),
        before,
        "a host sysctl changed"
    );
    env.finish();
}
