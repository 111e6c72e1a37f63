//! containerd 1.6 drives podshim as the runtime io.containerd.podshim.v1,
//! through ctr, as a user would: output and exit codes, exec with stdin and
//! a terminal, events in order, and a pod made of annotated containers in
//! one shim. A private containerd per test; nothing left behind.

use std::process::{Command, Stdio};
use std::time::Duration;

use podshim_tests::containerd::{Containerd, RUNTIME};
use podshim_tests::*;

fn rootfs() -> String {
    test_rootfs().to_string_lossy().into_owned()
}

fn run_args<'a>(rootfs: &'a str, extra: &[&'a str], id: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--runtime", RUNTIME, "--rootfs"];
    v.extend_from_slice(extra);
    v.push(rootfs);
    v.push(id);
    v.extend_from_slice(cmd);
    v
}

fn remove(ctd: &Containerd, id: &str) {
    let _ = ctd.ctr(&["task", "kill", "-s", "KILL", id]);
    for _ in 0..100 {
        if ctd.ctr(&["task", "rm", id]).status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = ctd.ctr(&["containers", "rm", id]);
    assert!(
        out.status.success(),
        "ctr containers rm {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ctr_run_returns_output_and_exit_codes() {
    let env = TestEnv::new("ctrrun");
    let ctd = Containerd::start(&env);
    let r = rootfs();
    let out = ctd.ctr(&run_args(
        &r,
        &["--rm"],
        "hello",
        &["echo", "hi from podshim"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hi from podshim"
    );
    let out = ctd.ctr(&run_args(&r, &["--rm"], "three", &["sh", "-c", "exit 3"]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ctd.stop();
    env.finish();
}

#[test]
fn ctr_exec_exit_codes_stdin_and_terminal() {
    let env = TestEnv::new("ctrexec");
    let ctd = Containerd::start(&env);
    let r = rootfs();
    let out = ctd.ctr(&run_args(&r, &["-d"], "box", &["sleep", "1000"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = ctd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "box",
        "sh",
        "-c",
        "echo exec-out; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "exec-out");

    // The exec shares the container's pid namespace: it sees pid 1.
    let out = ctd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e2",
        "box",
        "cat",
        "/proc/1/cmdline",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .replace('\0', " ")
            .trim(),
        "sleep 1000"
    );

    // stdin reaches the exec and its end reaches it too (CloseIO).
    let mut child = Command::new("ctr")
        .env("CONTAINERD_NAMESPACE", &ctd.namespace)
        .args([
            "-a",
            &ctd.address,
            "task",
            "exec",
            "--exec-id",
            "e3",
            "box",
            "cat",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"through stdin\n").unwrap();
    }
    let out = wait_output(child, Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "through stdin");

    // A terminal exec answers a command, with the caller's window size.
    let cmd = format!(
        "stty rows 33 cols 111; {} task exec -t --exec-id e4 box sh -c 'sleep 0.3; tty; stty size; exit 5'",
        ctd.ctr_cmdline("")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("/dev/pts/"), "no tty in the exec: {text}");
    assert!(
        text.contains("33 111"),
        "window size did not follow: {text}"
    );

    let ps = String::from_utf8_lossy(&ctd.ctr(&["task", "ps", "box"]).stdout).into_owned();
    assert!(
        ps.lines().count() >= 2,
        "ctr task ps lists no process: {ps}"
    );
    remove(&ctd, "box");
    ctd.stop();
    env.finish();
}

fn wait_output(child: std::process::Child, limit: Duration) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("command did not finish within {limit:?}");
        }
    }
}

#[test]
fn ctr_events_come_in_order() {
    let env = TestEnv::new("ctrevents");
    let ctd = Containerd::start(&env);
    let events = Command::new("ctr")
        .args(["-a", &ctd.address, "events"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let r = rootfs();
    let out = ctd.ctr(&run_args(&r, &["--rm"], "evt", &["sh", "-c", "exit 4"]));
    assert_eq!(out.status.code(), Some(4));
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-TERM", &events.id().to_string()])
        .status();
    let out = events.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let topics: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"evt\"") && l.contains("/tasks/"))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .collect();
    assert_eq!(
        topics,
        vec![
            "/tasks/create",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete"
        ],
        "{text}"
    );
    let exit = text.lines().find(|l| l.contains("/tasks/exit")).unwrap();
    assert!(exit.contains("\"exit_status\":4"), "{exit}");
    ctd.stop();
    env.finish();
}

#[test]
fn annotated_containers_form_one_pod_in_one_shim() {
    let env = TestEnv::new("ctrpod");
    let ctd = Containerd::start(&env);
    let r = rootfs();
    let sandbox = [
        "--annotation",
        "io.kubernetes.cri.container-type=sandbox",
        "--annotation",
        "io.kubernetes.cri.sandbox-id=pod1",
        "-d",
    ];
    let out = ctd.ctr(&run_args(&r, &sandbox, "pod1", &["sleep", "1000"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let member = [
        "--annotation",
        "io.kubernetes.cri.container-type=container",
        "--annotation",
        "io.kubernetes.cri.sandbox-id=pod1",
        "-d",
    ];
    for id in ["c1", "c2"] {
        let out = ctd.ctr(&run_args(&r, &member, id, &["sleep", "1000"]));
        assert!(
            out.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pid_of = |id: &str| -> i32 {
        let out = String::from_utf8_lossy(&ctd.ctr(&["task", "ls"]).stdout).into_owned();
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("{id} not in ctr task ls: {out}"))
    };
    let pause = pid_of("pod1");
    let (c1, c2) = (pid_of("c1"), pid_of("c2"));
    for ns in ["net", "ipc", "uts"] {
        assert_eq!(ns_inode(c1, ns), ns_inode(pause, ns), "{ns}");
        assert_eq!(ns_inode(c2, ns), ns_inode(pause, ns), "{ns}");
    }
    for ns in ["pid", "mnt"] {
        assert_ne!(ns_inode(c1, ns), ns_inode(c2, ns), "{ns}");
        assert_ne!(ns_inode(c1, ns), ns_inode(pause, ns), "{ns}");
    }
    // One shim serves the three tasks: all are its children.
    let parent = |pid: i32| -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(parent(c1), parent(pause));
    assert_eq!(parent(c2), parent(pause));
    let shim = parent(pause);
    assert!(std::fs::read_to_string(format!("/proc/{shim}/cmdline"))
        .unwrap()
        .contains("serve"));

    for id in ["c1", "c2", "pod1"] {
        remove(&ctd, id);
    }
    ctd.stop();
    env.finish();
}

/// containerd's `binary://` log URI: the shim starts the logging binary
/// with the container's stdout and stderr on fds 3 and 4.
#[test]
fn binary_log_uri_feeds_a_logging_binary() {
    let env = TestEnv::new("ctrbinlog");
    let ctd = Containerd::start(&env);
    let logger = env.work.join("logger.sh");
    std::fs::write(
        &logger,
        "#!/bin/sh\nout=$2\ncat <&3 >\"$out.out\" 5>&- &\ncat <&4 >\"$out.err\" 5>&- &\nexec 5>&-\nwait\n",
    )
    .unwrap();
    std::fs::set_permissions(&logger, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let base = env.work.join("captured");
    let uri = format!("binary://{}?path={}", logger.display(), base.display());
    let r = rootfs();
    let out = ctd.ctr(&run_args(
        &r,
        &["--rm", "--log-uri", &uri],
        "logged",
        &["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 2"],
    ));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |ext: &str| {
        wait_for(Duration::from_secs(5), "logger output", || {
            std::fs::read_to_string(format!("{}.{ext}", base.display()))
                .ok()
                .filter(|t| !t.is_empty())
        })
    };
    assert_eq!(read("out").trim(), "to-stdout");
    assert_eq!(read("err").trim(), "to-stderr");
    ctd.stop();
    env.finish();
}

#[test]
fn ctr_metrics_pause_and_resume_use_the_task_cgroup() {
    let env = TestEnv::new("ctrcg");
    let ctd = Containerd::start(&env);
    let r = rootfs();
    let out = ctd.ctr(&run_args(&r, &["-d"], "cg", &["sleep", "1000"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ctr names the cgroup /<namespace>/<id>; the task's process is in it.
    let pid = wait_for(Duration::from_secs(10), "the task's pid", || {
        let out = String::from_utf8_lossy(&ctd.ctr(&["task", "ls"]).stdout).into_owned();
        out.lines()
            .find(|l| l.split_whitespace().next() == Some("cg"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<i32>().ok())
    });
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2 = cgroup_v2_only();
    let line = if v2 {
        format!("0::/{}/cg", ctd.namespace)
    } else {
        format!(":memory:/{}/cg", ctd.namespace)
    };
    assert!(cgroups.contains(&line), "{cgroups}");

    let out = ctd.ctr(&["task", "metrics", "--format", "json", "cg"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data: serde_json::Value = serde_json::from_str(&text).expect("metrics JSON");
    // containerd's v1 Metrics, or the v2 message on a v2 host.
    let usage = if v2 {
        &data["memory"]["usage"]
    } else {
        &data["memory"]["usage"]["usage"]
    };
    assert!(usage.as_u64().unwrap_or(0) > 0, "no memory usage in {text}");
    assert_eq!(data["pids"]["current"], 1, "{text}");

    let status = || {
        let out = String::from_utf8_lossy(&ctd.ctr(&["task", "ls"]).stdout).into_owned();
        out.lines()
            .find(|l| l.split_whitespace().next() == Some("cg"))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
            .unwrap_or_default()
    };
    assert!(ctd.ctr(&["task", "pause", "cg"]).status.success());
    assert_eq!(status(), "PAUSED");
    let (freezer, frozen) = if cgroup_v2_only() {
        (
            format!("/sys/fs/cgroup/{}/cg/cgroup.freeze", ctd.namespace),
            "1",
        )
    } else {
        (
            format!("/sys/fs/cgroup/freezer/{}/cg/freezer.state", ctd.namespace),
            "FROZEN",
        )
    };
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), frozen);
    assert!(ctd.ctr(&["task", "resume", "cg"]).status.success());
    assert_eq!(status(), "RUNNING");
    remove(&ctd, "cg");
    ctd.stop();
    env.finish();
}

#[test]
fn a_containerd_restart_leaves_running_pods_alone() {
    let env = TestEnv::new("ctdrestart");
    let mut ctd = Containerd::start(&env);
    let rootfs = rootfs();
    let out = ctd.ctr(&run_args(
        &rootfs,
        &["-d"],
        "survivor",
        &["sh", "-c", "trap 'exit 9' TERM; sleep 1000 & wait"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = env
        .root
        .join(&env.name)
        .join("survivor/containers/survivor/state.json");
    let pid = wait_for(Duration::from_secs(10), "the task to run", || {
        let r: podshim_types::ContainerRecord = podshim_state::read_json(&state).ok()?;
        (r.status == podshim_types::TaskStatus::Running).then_some(r.pid)
    });
    let shim = podshim_state::read_json::<podshim_types::PodRecord>(
        &env.root.join(&env.name).join("survivor/pod.json"),
    )
    .unwrap()
    .shim;

    ctd.restart();
    let shim_log = std::fs::read_to_string(env.root.join(&env.name).join("survivor/shim.log"))
        .unwrap_or_default();
    assert!(
        alive(pid),
        "the container died with containerd: {shim_log}\n{}",
        ctd.log()
            .lines()
            .filter(|l| !l.contains("skip loading") && !l.contains("devmapper"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!shim.has_exited(), "the shim died with containerd");
    // The restarted containerd finds the task through its shim, and drives
    // it to the end.
    let tasks = String::from_utf8_lossy(&ctd.ctr(&["task", "ls"]).stdout).into_owned();
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with("survivor") && l.contains("RUNNING")),
        "{tasks}"
    );
    let out = ctd.ctr(&["task", "kill", "survivor"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = wait_for(Duration::from_secs(10), "the exit", || {
        let r: podshim_types::ContainerRecord = podshim_state::read_json(&state).ok()?;
        r.exit_code
    });
    assert_eq!(code, 9);
    remove(&ctd, "survivor");
    ctd.stop();
    env.finish();
}

/// A ctr container gets a network namespace of its own: its loopback is
/// up (runc's one network), side by side with runc in the same containerd.
#[test]
fn a_network_namespace_of_its_own_has_its_loopback_up_as_under_runc() {
    let env = TestEnv::new("ctrlo");
    let ctd = Containerd::start(&env);
    let r = rootfs();
    // Up: IFF_UP on lo (operstate "unknown": lo has no carrier to report);
    // bound and reached over 127.0.0.1.
    let script = "cat /sys/class/net/lo/operstate; \
                  nc -l -p 7000 & sleep 0.3; echo hi | nc -w 1 127.0.0.1 7000 && echo reached";
    let mut seen = Vec::new();
    for (runtime, id) in [
        (RUNTIME, "lo-podshim"),
        ("io.containerd.runc.v2", "lo-runc"),
    ] {
        let out = ctd.ctr(&[
            "run",
            "--rm",
            // ctr gives a --rootfs container no PATH.
            "--env",
            "PATH=/bin:/sbin",
            "--runtime",
            runtime,
            "--rootfs",
            &r,
            id,
            "/bin/sh",
            "-c",
            script,
        ]);
        assert!(
            out.status.success(),
            "{runtime}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert!(
        seen[1].contains("unknown") && seen[1].contains("reached"),
        "runc: {}",
        seen[1]
    );
    assert_eq!(seen[0], seen[1], "podshim's loopback is not runc's");
    ctd.stop();
    // runc leaves its namespace's cgroup level (/<namespace>) behind; no
    // container's may be left.
    let nested = env.container_cgroups_left();
    assert!(nested.is_empty(), "container cgroups left: {nested:?}");
    env.remove_cgroups_runc_left();
    env.finish();
}
