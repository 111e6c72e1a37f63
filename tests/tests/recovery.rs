//! A shim killed with SIGKILL: the pod's containers keep running; `podctl
//! recover` starts the shim again, which takes the pod over from its state
//! directory; a container that exited while no shim was there is recorded
//! with code 255 and the reason; one that exits afterwards has its real
//! exit code recorded; exec, stats and removal work as before.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;

fn kill9(pid: i32) {
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_killed_shim_is_started_again_and_takes_the_pod_over() {
    let mut env = TestEnv::new("recover");
    let dir = env.write_pod(
        "recover",
        "recover",
        &[
            ("steady", container_spec(&["sleep", "1000"])),
            ("doomed", container_spec(&["sleep", "1000"])),
            (
                "later",
                container_spec(&["sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"]),
            ),
            (
                "chatty",
                container_spec(&[
                    "sh",
                    "-c",
                    "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.02; done",
                ]),
            ),
        ],
    );
    let pod = env.run_pod(&dir);
    let shim = env.pod_record(&pod).shim.pid;
    let pause = env.pod_record(&pod).pause.unwrap().pid;
    let pids: Vec<i32> = ["steady", "doomed", "later"]
        .iter()
        .map(|c| env.container_record(&pod, c).pid)
        .collect();

    kill9(shim);
    wait_for(Duration::from_secs(5), "the shim to die", || {
        (!alive(shim)).then_some(())
    });
    // Without a shim the pod runs on.
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pause), "the pause died with its shim");
    for p in &pids {
        assert!(alive(*p), "container {p} died with its shim");
    }
    // One container ends while nobody watches.
    kill9(pids[1]);
    wait_for(Duration::from_secs(5), "doomed to end", || {
        (!alive(pids[1])).then_some(())
    });

    // The chatty container keeps writing into its pipe, which the pause
    // holds: it is not killed by SIGPIPE.
    std::thread::sleep(Duration::from_millis(300));
    let out = env.podctl_ok(&["recover", &pod]);
    assert!(out.contains("started again"), "{out}");
    let new_shim = env.pod_record(&pod).shim.pid;
    assert_ne!(new_shim, shim);
    assert_eq!(env.pod_record(&pod).pause.unwrap().pid, pause);

    let steady = env.container_record(&pod, "steady");
    assert_eq!(steady.status, TaskStatus::Running);
    let doomed = env.container_record(&pod, "doomed");
    assert_eq!(doomed.status, TaskStatus::Stopped);
    assert_eq!(doomed.exit_code, Some(255));
    assert!(
        doomed
            .exit_reason
            .as_deref()
            .unwrap_or("")
            .contains("no shim"),
        "{doomed:?}"
    );

    // The new shim serves the pod: exec, stats, and the exit code of a
    // container that ends now.
    let out = env.podctl_ok(&[
        "exec",
        &pod,
        "steady",
        "--",
        "sh",
        "-c",
        "echo still-$(hostname)",
    ]);
    assert_eq!(out.trim(), "still-recover");
    let stats = env.podctl_ok(&["stats", &pod]);
    assert!(stats.contains("steady"), "{stats}");
    env.podctl_ok(&["kill", &pod, "later"]);
    let later = wait_for(Duration::from_secs(10), "later to stop", || {
        let r = env.container_record(&pod, "later");
        (r.status == TaskStatus::Stopped).then_some(r)
    });
    assert_eq!(later.exit_code, Some(7), "{later:?}");
    let events = env.podctl_ok(&["events", &pod]);
    assert!(events.contains("/tasks/exit"), "{events}");

    // The log goes on where it was: every line, none lost while no shim
    // was there.
    std::thread::sleep(Duration::from_millis(300));
    let chatty = env.container_record(&pod, "chatty");
    assert_eq!(chatty.status, TaskStatus::Running, "{chatty:?}");
    let log = env.logs(&pod, "chatty");
    let numbers: Vec<u64> = log
        .lines()
        .filter_map(|l| l.strip_prefix("line-")?.parse().ok())
        .collect();
    assert!(numbers.len() > 20, "{log}");
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i as u64, "a line lost or repeated around line {i}");
    }

    // A second start of the same shim does nothing.
    let out = env.podctl_ok(&["recover", &pod]);
    assert!(out.contains("is running"), "{out}");
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    assert!(!Path::new(&format!("/proc/{new_shim}")).exists() || !alive(new_shim));
    env.finish();
}

#[test]
fn a_pod_whose_pause_died_without_a_shim_is_recovered_as_stopped() {
    let mut env = TestEnv::new("recoverstop");
    let dir = env.write_pod(
        "recoverstop",
        "recoverstop",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let shim = env.pod_record(&pod).shim.pid;
    let pause = env.pod_record(&pod).pause.unwrap().pid;
    kill9(shim);
    kill9(pause);
    wait_for(Duration::from_secs(5), "shim and pause to die", || {
        (!alive(shim) && !alive(pause)).then_some(())
    });
    env.podctl_ok(&["recover", &pod]);
    let rec = env.pod_record(&pod);
    assert_eq!(rec.status, podshim_types::PodStatus::Stopped);
    assert!(rec.stop_reason.unwrap_or_default().contains("no shim"));
    // Its container is stopped with it, as under a live shim.
    let app = wait_for(Duration::from_secs(5), "the container to stop", || {
        let r = env.container_record(&pod, "app");
        (r.status == TaskStatus::Stopped).then_some(r)
    });
    assert!(app.exit_reason.unwrap_or_default().contains("pod stopped"));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
