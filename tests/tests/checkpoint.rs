//! Checkpoint with CRIU through the shim's Checkpoint (`podctl
//! checkpoint`, as `ctr task checkpoint --image-path` asks for one). A dump
//! CRIU refuses leaves the container running, and the error says CRIU's
//! reason; where CRIU can dump (the node VM: criu 3.17 cannot read these
//! hosts' kernel), a counter checkpointed runs on, and one checkpointed
//! with exit stops with its exit published.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use podshim_tests::containerd::{Containerd, RUNTIME};
use podshim_tests::*;
use podshim_types::{TaskStatus, Topic};
use serde_json::Value;

/// A container printing 0, 1, 2, ... ten times a second.
fn counter(prefix: &str) -> Value {
    let script = format!("{prefix}i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done");
    container_spec(&["sh", "-c", &script])
}

/// The last number the counter of `name` logged.
fn count(env: &TestEnv, pod: &str, name: &str) -> Option<u64> {
    env.logs(pod, name)
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
}

/// Waits until the counter has logged more than `n`; its count then.
fn past(env: &TestEnv, pod: &str, name: &str, n: Option<u64>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(c) = count(env, pod, name).filter(|c| n.is_none_or(|n| *c > n)) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the counter of {name} stopped at {:?}",
            count(env, pod, name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `name` is recorded stopped; `why` says what should have
/// stopped it.
fn stopped(env: &TestEnv, pod: &str, name: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.container_record(pod, name).status != TaskStatus::Stopped {
        assert!(Instant::now() < deadline, "{name}: {why}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn running_as_before(env: &TestEnv, pod: &str, name: &str, pid: i32) {
    let r = env.container_record(pod, name);
    assert_eq!(r.status, TaskStatus::Running, "{name} after the checkpoint");
    assert_eq!(r.pid, pid, "{name} is another process now");
    assert!(alive(pid), "{name}'s pid 1 {pid} is gone");
}

#[test]
fn a_dump_criu_refuses_leaves_the_container_running_with_criu_s_reason() {
    let mut env = TestEnv::new("ckptrefused");
    // An established TCP connection between two of its processes, dumped
    // without --tcp-established: CRIU refuses it (on a kernel CRIU cannot
    // read, it refuses sooner; the reason is CRIU's either way).
    let tcp =
        "sleep 100000 | nc -l -p 7000 >/dev/null & sleep 0.3; sleep 100000 | nc 127.0.0.1 7000 & ";
    let dir = env.write_pod("ckptrefused", "ckptrefused", &[("app", counter(tcp))]);
    let pod = env.run_pod(&dir);
    // The counter starts once the connection is being made: half a
    // second later it is made.
    let before = past(&env, &pod, "app", Some(5));
    let pid = env.container_record(&pod, "app").pid;
    let image = env.work.join("image");
    let err = env.podctl_err(&["checkpoint", &pod, "app", image.to_str().unwrap()]);
    assert!(
        err.contains("criu exited with") && err.contains("Error (criu/"),
        "not CRIU's reason: {err}"
    );
    eprintln!("refused: {}", err.trim());
    let bundle = env.container_record(&pod, "app").bundle;
    let kept = Path::new(&bundle).join("criu-dump.log");
    assert!(err.contains(&kept.display().to_string()), "{err}");
    assert!(
        kept.is_file(),
        "CRIU's log was not kept at {}",
        kept.display()
    );
    assert!(
        !image.exists(),
        "the failed checkpoint left {}",
        image.display()
    );
    running_as_before(&env, &pod, "app", pid);
    past(&env, &pod, "app", Some(before));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn a_missing_criu_is_named_and_the_container_runs_on() {
    let env = TestEnv::new("ckptnocriu");
    let dir = env.write_pod("ckptnocriu", "ckptnocriu", &[("app", counter(""))]);
    // The shim has the environment of the podctl that started it.
    let out = Command::new(env.podctl_path())
        .args(["run", dir.to_str().unwrap()])
        .envs(env.podctl_env())
        .env("PODSHIM_CRIU", "/nonexistent/criu")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod = "ckptnocriu";
    let before = past(&env, pod, "app", None);
    let pid = env.container_record(pod, "app").pid;
    let image = env.work.join("image");
    let err = env.podctl_err(&["checkpoint", pod, "app", image.to_str().unwrap()]);
    assert!(
        err.contains("checkpoint needs CRIU") && err.contains("/nonexistent/criu"),
        "{err}"
    );
    assert!(!image.exists());
    // A container the pod does not have is named.
    let err = env.podctl_err(&["checkpoint", pod, "nosuch", image.to_str().unwrap()]);
    assert!(err.contains("nosuch"), "{err}");
    running_as_before(&env, pod, "app", pid);
    past(&env, pod, "app", Some(before));
    env.podctl_ok(&["rm", "--timeout", "0", pod]);
    env.finish();
}

#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn a_checkpointed_counter_runs_on_and_one_checkpointed_with_exit_stops() {
    let mut env = TestEnv::new("ckpt");
    let dir = env.write_pod("ckpt", "ckpt", &[("app", counter(""))]);
    let pod = env.run_pod(&dir);
    let before = past(&env, &pod, "app", Some(2));
    let pid = env.container_record(&pod, "app").pid;

    let image = env.work.join("image");
    let begun = Instant::now();
    env.podctl_ok(&["checkpoint", &pod, "app", image.to_str().unwrap()]);
    eprintln!("checkpoint (leave running) took {:?}", begun.elapsed());
    for f in ["inventory.img", "pstree.img", "descriptors.json"] {
        assert!(image.join(f).is_file(), "the image has no {f}");
    }
    let fds: Vec<String> =
        serde_json::from_slice(&std::fs::read(image.join("descriptors.json")).unwrap()).unwrap();
    assert_eq!(fds.len(), 3, "{fds:?}");
    assert!(
        fds[1].starts_with("pipe:["),
        "stdout was a log pipe: {fds:?}"
    );
    running_as_before(&env, &pod, "app", pid);
    past(&env, &pod, "app", Some(before));

    let image2 = env.work.join("image-exit");
    env.podctl_ok(&[
        "checkpoint",
        "--exit",
        &pod,
        "app",
        image2.to_str().unwrap(),
    ]);
    assert!(image2.join("pstree.img").is_file());
    stopped(&env, &pod, "app", "still running after checkpoint --exit");
    assert!(!alive(pid), "pid 1 {pid} outlived checkpoint --exit");
    let r = env.container_record(&pod, "app");
    assert_eq!(
        r.exit_code,
        Some(137),
        "CRIU ends the dumped tree with SIGKILL"
    );
    let events = podshim_state::read_events(&env.pod_dir(&pod).join("events.jsonl")).unwrap();
    let exit = events
        .iter()
        .find(|e| e.container == format!("{pod}-app") && e.topic == Topic::TaskExit)
        .expect("a TaskExit event for the checkpointed container");
    assert_eq!(exit.exit_status, Some(137));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn a_restored_counter_goes_on_from_where_it_was_dumped_in_the_pods_namespaces() {
    let mut env = TestEnv::new("ckptrestore");
    let dir = env.write_pod("ckptrestore", "ckptrestore", &[("app", counter(""))]);
    let pod = env.run_pod(&dir);
    past(&env, &pod, "app", Some(5));
    let old = env.container_record(&pod, "app").pid;
    let image = env.work.join("image");
    env.podctl_ok(&["checkpoint", "--exit", &pod, "app", image.to_str().unwrap()]);
    stopped(&env, &pod, "app", "still running after checkpoint --exit");
    let numbers = |env: &TestEnv| -> Vec<u64> {
        env.logs(&pod, "app")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    // Deleted with the stopped container: its log, kept here.
    let before = numbers(&env);
    let dumped = *before.last().expect("the counter counted");

    let begun = Instant::now();
    env.podctl_ok(&["restore", &pod, "app", image.to_str().unwrap()]);
    eprintln!("restore took {:?}", begun.elapsed());
    let r = env.container_record(&pod, "app");
    assert_eq!(r.status, TaskStatus::Running);
    assert_ne!(r.pid, old);
    assert!(alive(r.pid));
    // The pod's network namespace again; a pid namespace of its own.
    let pause = env.pod_record(&pod).pause.expect("a pause").pid;
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(ns(r.pid, kind), ns(pause, kind), "{kind} is not the pod's");
    }
    assert_ne!(ns(r.pid, "pid"), ns(pause, "pid"));
    assert_ne!(ns(r.pid, "pid"), ns(1, "pid"));
    // Its output goes on from where it was dumped: every number once, in
    // order, no reset.
    let now = past(&env, &pod, "app", Some(dumped + 3));
    let all: Vec<u64> = before.iter().copied().chain(numbers(&env)).collect();
    let want: Vec<u64> = (0..all.len() as u64).collect();
    assert_eq!(all, want, "dumped at {dumped}, restored to {now}");

    env.podctl_ok(&["kill", "--signal", "KILL", &pod, "app"]);
    stopped(&env, &pod, "app", "the restored counter outlived SIGKILL");
    assert_eq!(env.container_record(&pod, "app").exit_code, Some(137));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

/// What the counter of ctr task `id` has counted (it writes its count to
/// /dev/count, its own tmpfs).
fn counted(ctd: &Containerd, id: &str) -> u64 {
    let out = ctd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "peek",
        id,
        "/bin/cat",
        "/dev/count",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_counted(ctd: &Containerd, id: &str, more_than: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = counted(ctd, id);
        if n > more_than {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "the counter of {id} stopped at {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn ctr_task_checkpoint_through_containerd_side_by_side_with_runc() {
    let env = TestEnv::new("ckptctr");
    let ctd = Containerd::start(&env);
    let rootfs = test_rootfs().to_string_lossy().into_owned();
    let script = "i=0; while :; do echo $i > /dev/count; i=$((i+1)); sleep 0.1; done";
    let ok = |out: std::process::Output, what: &str| -> String {
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // One checkpoint per container (containerd stores each container's
    // spec once: a second checkpoint of it fails with "already exists"),
    // three containers per runtime, the runtimes alternated.
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for (k, runtime) in [RUNTIME, "io.containerd.runc.v2"].into_iter().enumerate() {
            let id = format!("c{k}-{round}");
            let id = id.as_str();
            // No stdio (--null-io): a FIFO or file from the host is a file
            // of a mount outside the container, which CRIU does not dump.
            ok(
                ctd.ctr(&[
                    "run",
                    "-d",
                    "--null-io",
                    // ctr gives a --rootfs container no PATH.
                    "--env",
                    "PATH=/bin:/sbin",
                    "--runtime",
                    runtime,
                    "--rootfs",
                    &rootfs,
                    id,
                    "/bin/sh",
                    "-c",
                    script,
                ]),
                "ctr run",
            );
            let n = wait_counted(&ctd, id, 3);
            // Into containerd's content store, the task running on: a
            // checkpoint image containerd keeps. (--image-path reaches the
            // shim only for runtimes named io.containerd.runc* before
            // containerd 2.0; for others containerd stores the image.)
            let begun = Instant::now();
            let name = ok(ctd.ctr(&["task", "checkpoint", id]), "ctr task checkpoint");
            times[k].push(begun.elapsed());
            assert!(!name.is_empty(), "{runtime}: no checkpoint image named");
            let images = ok(ctd.ctr(&["images", "ls"]), "ctr images ls");
            let row = images
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("{name} not among {images}"));
            assert!(
                row.contains("checkpoint"),
                "{runtime}: not a checkpoint image: {row}"
            );
            wait_counted(&ctd, id, n);
            let tasks = ok(ctd.ctr(&["task", "ls"]), "ctr task ls");
            assert!(
                tasks
                    .lines()
                    .any(|l| l.starts_with(id) && l.contains("RUNNING")),
                "{runtime}: not running after its checkpoint: {tasks}"
            );
            let _ = ctd.ctr(&["task", "kill", "-s", "KILL", id]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ctd.ctr(&["task", "rm", id]).status.success() {
                assert!(Instant::now() < deadline, "{runtime}: task rm");
                std::thread::sleep(Duration::from_millis(50));
            }
            ok(ctd.ctr(&["containers", "rm", id]), "ctr containers rm");
            ok(ctd.ctr(&["images", "rm", &name]), "ctr images rm");
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[1]
        })
        .collect();
    eprintln!(
        "ctr task checkpoint, median of 3: podshim {:?}, runc.v2 {:?} (podshim/runc {:.2})",
        medians[0],
        medians[1],
        medians[0].as_secs_f64() / medians[1].as_secs_f64()
    );
    ctd.stop();
    // runc leaves the namespace's level of its cgroups (/<namespace>) to
    // whoever made the namespace; nothing of the containers may be left.
    let nested: Vec<_> = env
        .cgroups_left()
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    assert!(nested.is_empty(), "container cgroups left: {nested:?}");
    env.remove_cgroups_runc_left();
    env.finish();
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs CRIU and containerd 2.x's CRI: runs in the node VM (make test-node)"]
async fn cri_checkpoint_container_writes_the_archive_kubelet_asks_for() {
    use k8s_cri::v1::*;
    use podshim_tests::cri::*;
    // containerd 2.x implements CheckpointContainer; the node's own is 1.x.
    if std::env::var_os("PODSHIM_CONTAINERD_BIN").is_none() {
        let unstable =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/containerd/unstable/usr/bin");
        assert!(
            unstable.join("containerd").is_file(),
            "no containerd 2.x at {}: `make containerd-versions` unpacks it",
            unstable.display()
        );
        std::env::set_var("PODSHIM_CONTAINERD_BIN", &unstable);
    }
    let (env, ctd, mut c, _logs, _bridge_gone) = cri_world("ckptcri", "pck", 240).await;
    assert!(ctd.version().0 >= 2, "containerd {:?}", ctd.version());
    let mut took = Vec::new();
    // podshim, then runc in the same containerd: the same archive.
    for handler in ["podshim", "runc"] {
        let (sconfig, logs) = sandbox_for(&env, &format!("ckpt-{handler}"));
        let sandbox = run_sandbox(&mut c, &sconfig, handler, &ctd).await;
        let script = "i=0; while :; do echo n$i; i=$((i+1)); sleep 0.1; done";
        let config = container_config("counter", NamespaceMode::Container, script);
        let id = run_container(&mut c, &ctd, &sandbox, &sconfig, config).await;
        log_line(&logs.join("counter.log"), "n5");

        let archive = env.work.join(format!("checkpoint-{handler}.tar"));
        let begun = Instant::now();
        c.checkpoint_container(CheckpointContainerRequest {
            container_id: id.clone(),
            location: archive.to_string_lossy().into_owned(),
            timeout: 120,
        })
        .await
        .unwrap_or_else(|e| panic!("CheckpointContainer ({handler}): {e}\n{}", ctd.log()));
        took.push(begun.elapsed());
        // What kubelet keeps: CRIU's image under checkpoint/, the
        // container's config and spec, its rootfs changes.
        let list = Command::new("tar")
            .arg("-tf")
            .arg(&archive)
            .output()
            .expect("tar");
        let names = String::from_utf8_lossy(&list.stdout).into_owned();
        for want in [
            "checkpoint/pstree.img",
            "checkpoint/inventory.img",
            "config.dump",
            "spec.dump",
        ] {
            assert!(
                names.lines().any(|l| l.trim_start_matches("./") == want),
                "{handler}: {want} not in the archive: {names}"
            );
        }
        // It runs on, counting.
        let status = c
            .container_status(ContainerStatusRequest {
                container_id: id.clone(),
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            status.status.map(|s| s.state),
            Some(ContainerState::ContainerRunning as i32),
            "{handler}"
        );
        let text = std::fs::read_to_string(logs.join("counter.log")).unwrap_or_default();
        let last = text
            .lines()
            .filter_map(|l| l.rsplit(' ').next()?.strip_prefix('n')?.parse::<u64>().ok())
            .max()
            .expect("the counter logged");
        log_line(&logs.join("counter.log"), &format!("n{}", last + 3));
        tear_down(&mut c, sandbox, vec![id]).await;
        if handler == "podshim" {
            assert_eq!(
                env.cgroups_left(),
                Vec::<std::path::PathBuf>::new(),
                "podshim left cgroups"
            );
        }
    }
    eprintln!(
        "CheckpointContainer: podshim {:?}, runc {:?} (podshim/runc {:.2})",
        took[0],
        took[1],
        took[0].as_secs_f64() / took[1].as_secs_f64()
    );
    ctd.stop();
    env.remove_cgroups_runc_left();
    env.finish();
}
