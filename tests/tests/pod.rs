//! A pod as a user sees it: namespaces shared with the pause and private
//! per container, localhost and SysV IPC across containers, exit codes,
//! events in order, the pod stopping when its pause dies, and nothing left
//! after `podctl rm`.

use std::time::Duration;

use containerd_shim_protos::api;
use podshim_tests::*;
use podshim_types::{TaskStatus, Topic};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn containers_share_the_pause_namespaces_and_own_pid_and_mount() {
    let mut env = TestEnv::new("ns");
    let dir = env.write_pod(
        "nspod",
        "ns-host",
        &[
            ("a", container_spec(&["podprobe", "report"])),
            ("b", container_spec(&["podprobe", "report"])),
        ],
    );
    let pod = env.run_pod(&dir);
    let pause = env.pod_record(&pod).pause.unwrap().pid;
    let reports: Vec<serde_json::Value> = ["a", "b"]
        .iter()
        .map(|c| wait_for(WAIT, "podprobe report", || last_json(&env.logs(&pod, c))))
        .collect();
    for r in &reports {
        for ns in ["net", "ipc", "uts"] {
            assert_eq!(
                r["ns"][ns],
                ns_inode(pause, ns),
                "{ns} namespace is not the pause's: {r}"
            );
        }
        for ns in ["pid", "mnt"] {
            assert_ne!(
                r["ns"][ns],
                ns_inode(pause, ns),
                "{ns} namespace is the pause's: {r}"
            );
            assert_ne!(
                r["ns"][ns],
                ns_inode(std::process::id() as i32, ns),
                "{ns} namespace is the host's"
            );
        }
        assert_eq!(
            r["pid"], 1,
            "the container process is not pid 1 in its namespace: {r}"
        );
        assert_eq!(r["hostname"], "ns-host");
    }
    assert_ne!(reports[0]["ns"]["pid"], reports[1]["ns"]["pid"]);
    assert_ne!(reports[0]["ns"]["mnt"], reports[1]["ns"]["mnt"]);
    // The pinned namespaces are the pause's.
    let pins = env.pod_dir(&pod).join("ns");
    for ns in ["net", "ipc", "uts"] {
        let pinned =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(pins.join(ns)).unwrap());
        assert_eq!(pinned, ns_inode(pause, ns));
    }
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

#[test]
fn localhost_tcp_and_sysv_shared_memory_cross_containers() {
    let mut env = TestEnv::new("net");
    let server = "mkdir -p /tmp/www && echo pong-from-web > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www";
    let client = "until wget -q -O /tmp/page http://127.0.0.1:8080/; do sleep 0.05; done; echo \"got $(cat /tmp/page)\"";
    let dir = env.write_pod(
        "netpod",
        "netpod",
        &[
            ("web", container_spec(&["sh", "-c", server])),
            ("client", container_spec(&["sh", "-c", client])),
            (
                "writer",
                container_spec(&["podprobe", "shm-write", "777", "shared-text"]),
            ),
            (
                "reader",
                container_spec(&["podprobe", "shm-read", "777", "20"]),
            ),
        ],
    );
    let pod = env.run_pod(&dir);
    wait_for(WAIT, "client fetched the page", || {
        env.logs(&pod, "client")
            .contains("got pong-from-web")
            .then_some(())
    });
    // Both ends exit on their own (the reader gives up after 20 s); a
    // failure shows what each printed.
    let exit = |name: &str| {
        wait_for(Duration::from_secs(30), &format!("{name} exit"), || {
            env.container_record(&pod, name).exit_code
        })
    };
    let (writer, reader) = (exit("writer"), exit("reader"));
    let logs = format!(
        "writer exited {writer}: {:?}; reader exited {reader}: {:?}",
        env.logs(&pod, "writer"),
        env.logs(&pod, "reader")
    );
    assert_eq!((writer, reader), (0, 0), "{logs}");
    assert!(env.logs(&pod, "reader").contains("shared-text"), "{logs}");
    // httpd is pid 1 and ignores SIGTERM: rm escalates to SIGKILL.
    env.podctl_ok(&["rm", "--timeout", "0.5", &pod]);
    env.finish();
}

#[test]
fn exit_code_reaches_state_ps_and_events_in_order() {
    let mut env = TestEnv::new("exit");
    let dir = env.write_pod(
        "exitpod",
        "exitpod",
        &[
            ("three", container_spec(&["sh", "-c", "exit 3"])),
            (
                "sleeper",
                container_spec(&["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]),
            ),
        ],
    );
    let pod = env.run_pod(&dir);
    let code = wait_for(WAIT, "exit code in state.json", || {
        env.container_record(&pod, "three").exit_code
    });
    assert_eq!(code, 3);
    let rec = env.container_record(&pod, "three");
    assert_eq!(rec.status, TaskStatus::Stopped);
    assert!(rec.finished_at.is_some());

    let ps = env.podctl_ok(&["ps"]);
    let line = ps
        .lines()
        .find(|l| l.contains(" three "))
        .expect("ps lists the container");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[2], "stopped", "{line}");
    assert_eq!(cols[4], "3", "{line}");

    // Delete the container through the protocol, as containerd does, and
    // read the whole story of it back from the event log.
    let client = env.shim_client(&pod);
    let del = client
        .delete(
            ctx(),
            &api::DeleteRequest {
                id: format!("{pod}-three"),
                ..Default::default()
            },
        )
        .expect("delete");
    assert_eq!(del.exit_status, 3);
    let events = podshim_state::read_events(&env.pod_dir(&pod).join("events.jsonl")).unwrap();
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.container == format!("{pod}-three"))
        .collect();
    let topics: Vec<Topic> = mine.iter().map(|e| e.topic).collect();
    assert_eq!(
        topics,
        vec![
            Topic::TaskCreate,
            Topic::TaskStart,
            Topic::TaskExit,
            Topic::TaskDelete
        ]
    );
    assert_eq!(mine[2].exit_status, Some(3));
    assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(!env
        .pod_dir(&pod)
        .join(format!("containers/{pod}-three"))
        .exists());
    // Delete is not repeatable for a task that is gone: NotFound.
    let again = client
        .delete(
            ctx(),
            &api::DeleteRequest {
                id: format!("{pod}-three"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        rpc_message(&again).contains("NOT_FOUND"),
        "{}",
        rpc_message(&again)
    );

    env.podctl_ok(&["rm", &pod]);
    assert!(
        !env.pod_dir(&pod).exists(),
        "podctl rm left the pod directory"
    );
    env.finish();
}

#[test]
fn pod_stops_when_its_pause_dies() {
    let mut env = TestEnv::new("pause");
    let dir = env.write_pod(
        "pausepod",
        "pausepod",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let before = env.leaks();
    assert!(before.is_empty(), "{before:?}");
    let mounts = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .count()
    };
    let host_mounts = mounts();
    let pod = env.run_pod(&dir);
    // A running pod adds nothing to the host's mount table (which every
    // container's new mount namespace copies): its pins are links.
    assert_eq!(mounts(), host_mounts, "a live pod mounted on the host");
    // The leak check sees a live pod: shim, pause, container, state.
    let live = env.leaks().join("\n");
    for what in ["podshim", "in the test's cgroups", "state directory"] {
        assert!(
            live.contains(what),
            "leak check misses the {what} of a live pod:\n{live}"
        );
    }
    let pause = env.pod_record(&pod).pause.unwrap().pid;
    // SIGKILL the pause as an OOM killer or an admin might.
    let rc = send_sigkill(pause);
    assert!(rc, "kill pause");
    let code = wait_for(WAIT, "container killed with the pod", || {
        env.container_record(&pod, "app").exit_code
    });
    assert_eq!(code, 137);
    let rec = env.container_record(&pod, "app");
    assert!(
        rec.exit_reason.unwrap_or_default().contains("pause"),
        "exit reason names the pause"
    );
    let record = env.pod_record(&pod);
    assert_eq!(record.status, podshim_types::PodStatus::Stopped);
    let events = podshim_state::read_events(&env.pod_dir(&pod).join("events.jsonl")).unwrap();
    let stopped = events
        .iter()
        .find(|e| e.topic == Topic::PodStopped)
        .expect("pod stopped event");
    assert!(
        stopped
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("exited with code 137"),
        "{stopped:?}"
    );
    env.podctl_ok(&["rm", "--timeout", "0.5", &pod]);
    env.finish();
}

/// Sends SIGKILL with the kill(1) command, keeping tests free of unsafe.
fn send_sigkill(pid: i32) -> bool {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn rm_takes_down_running_containers_and_leaves_nothing() {
    let mut env = TestEnv::new("rm");
    let dir = env.write_pod(
        "rmpod",
        "rmpod",
        &[
            // Ignores SIGTERM as pid 1 does by default: rm must escalate.
            ("stubborn", container_spec(&["sleep", "1000"])),
            (
                "polite",
                container_spec(&["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]),
            ),
        ],
    );
    let pod = env.run_pod(&dir);
    let pids: Vec<i32> = ["stubborn", "polite"]
        .iter()
        .map(|c| env.container_record(&pod, c).pid)
        .collect();
    env.podctl_ok(&["rm", "--timeout", "0.5", &pod]);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "container pid {pid} survived rm"
        );
    }
    assert!(env.leaks().is_empty(), "{:?}", env.leaks());
    env.finish();
}

/// The host pid of `pid` as seen inside its own pid namespace (NSpid's last).
fn inner_pid(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    line.split_whitespace().last().unwrap().parse().unwrap()
}

fn zombies_in_pid_ns(inode: u64) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            std::fs::metadata(format!("/proc/{p}/ns/pid"))
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m) == inode)
                .unwrap_or(false)
        })
        .filter(|&p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            podshim_types::ProcessStamp::parse_state(&stat) == Some('Z')
        })
        .collect()
}

#[test]
fn pid_namespace_modes_pod_container_and_node() {
    let mut env = TestEnv::new("pidmodes");
    // POD mode: one pid namespace, the pause is its pid 1 and reaps the
    // orphans containers leave.
    let orphaner = "for i in 1 2 3 4 5; do (sleep 0.1 &); done; exec sleep 1000";
    let dir = env.write_pod_with(
        "sharedpid",
        "sharedpid",
        &[
            ("a", container_spec(&["sh", "-c", orphaner])),
            ("b", container_spec(&["sleep", "1000"])),
        ],
        serde_json::json!({"share_pid_namespace": true}),
    );
    let pod = env.run_pod(&dir);
    let pause = env.pod_record(&pod).pause.unwrap().pid;
    assert_eq!(
        inner_pid(pause),
        1,
        "the pause is not pid 1 of the pod's pid namespace"
    );
    let pidns = ns_inode(pause, "pid");
    for c in ["a", "b"] {
        let pid = env.container_record(&pod, c).pid;
        assert_eq!(
            ns_inode(pid, "pid"),
            pidns,
            "{c} is not in the pod's pid namespace"
        );
        assert_ne!(inner_pid(pid), 1);
    }
    assert_ne!(pidns, ns_inode(std::process::id() as i32, "pid"));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        zombies_in_pid_ns(pidns),
        Vec::<i32>::new(),
        "the pause left zombies"
    );
    env.podctl_ok(&["rm", "--timeout", "0.2", &pod]);

    // CONTAINER mode (the default) and NODE mode (no pid namespace listed).
    let mut node = container_spec(&["sleep", "1000"]);
    node["linux"]["namespaces"] = serde_json::json!([{"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}]);
    let dir = env.write_pod(
        "modes",
        "modes",
        &[("own", container_spec(&["sleep", "1000"])), ("node", node)],
    );
    let pod = env.run_pod(&dir);
    let own = env.container_record(&pod, "own").pid;
    let node = env.container_record(&pod, "node").pid;
    let host = ns_inode(std::process::id() as i32, "pid");
    assert_eq!(inner_pid(own), 1);
    assert_ne!(ns_inode(own, "pid"), host);
    assert_eq!(
        ns_inode(node, "pid"),
        host,
        "NODE mode is not the host's pid namespace"
    );
    env.podctl_ok(&["rm", "--timeout", "0.2", &pod]);
    env.finish();
}

#[test]
fn run_rm_waits_removes_and_returns_the_exit_code() {
    let env = TestEnv::new("runrm");
    let dir = env.write_pod(
        "rmpod",
        "rmpod",
        &[
            ("ok", container_spec(&["true"])),
            ("three", container_spec(&["sh", "-c", "sleep 0.2; exit 3"])),
        ],
    );
    let out = env.podctl(&["run", "--rm", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "podctl run --rm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !env.pod_dir("rmpod").exists(),
        "the pod is still there after run --rm"
    );
    let left = env.cgroups_left();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    env.finish();
}
