//! Checkpoint and restore through containerd, side by side with runc's
//! shim in the same containerd: `ctr task checkpoint` into the content
//! store, `ctr c checkpoint --task` and `ctr c restore --live` of an
//! image's container (its rootfs a snapshot containerd mounts), and CRI's
//! CheckpointContainer through containerd 2.x. They need a kernel CRIU
//! can dump: they run in the node VM (make test-node).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use podshim_tests::containerd::{Containerd, RUNTIME, TEST_IMAGE_NAME};
use podshim_tests::*;

/// A counter for ctr: the token of the process that counts (a fresh
/// start draws a new one) and its count, written to /dev/count (its own
/// tmpfs, which CRIU dumps with it).
const COUNTER: &str = "t=$(cat /proc/sys/kernel/random/uuid); i=0; \
                       while :; do echo \"$t $i\" > /dev/count; i=$((i+1)); sleep 0.1; done";

/// What the counter of ctr task `id` has counted, and its token.
fn counted(ctd: &Containerd, id: &str) -> Option<(String, u64)> {
    let out = ctd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "peek",
        id,
        "/bin/cat",
        "/dev/count",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (token, n) = text.trim().split_once(' ')?;
    Some((token.to_string(), n.parse().ok()?))
}

fn wait_counted(ctd: &Containerd, id: &str, more_than: u64) -> (String, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = counted(ctd, id);
        if let Some(c) = now.as_ref().filter(|(_, n)| *n > more_than) {
            return c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the counter of {id} stopped at {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `out`'s stdout, when it succeeded.
fn ok(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Kills task `id` and removes it and its container.
fn remove(ctd: &Containerd, id: &str) {
    let _ = ctd.ctr(&["task", "kill", "-s", "KILL", id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ctd.ctr(&["task", "rm", id]).status.success() {
        assert!(Instant::now() < deadline, "ctr task rm {id}");
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(ctd.ctr(&["containers", "rm", id]), "ctr containers rm");
}

/// The medians of three, and their ratio, for the log.
fn report(what: &str, times: &mut [Vec<Duration>; 2]) {
    for t in times.iter_mut() {
        t.sort();
    }
    let (ours, runc) = (times[0][1], times[1][1]);
    eprintln!(
        "{what}, median of 3: podshim {ours:?}, runc.v2 {runc:?} (podshim/runc {:.2})",
        ours.as_secs_f64() / runc.as_secs_f64()
    );
}

/// After containerd stopped: nothing of the containers' cgroups left
/// (runc leaves the namespace's level, /<namespace>, to whoever made the
/// namespace), then the usual leak checks.
fn finish(env: TestEnv, ctd: Containerd) {
    ctd.stop();
    let nested = env.container_cgroups_left();
    assert!(nested.is_empty(), "container cgroups left: {nested:?}");
    env.remove_cgroups_runc_left();
    env.finish();
}

#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn ctr_task_checkpoint_through_containerd_side_by_side_with_runc() {
    let env = TestEnv::new("ckptctr");
    let ctd = Containerd::start(&env);
    let rootfs = test_rootfs().to_string_lossy().into_owned();
    // One checkpoint per container (containerd stores each container's
    // spec once: a second checkpoint of it fails with "already exists"),
    // three containers per runtime, the runtimes alternated.
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for (k, runtime) in [RUNTIME, "io.containerd.runc.v2"].into_iter().enumerate() {
            let id = format!("c{k}-{round}");
            let id = id.as_str();
            // No stdio (--null-io); ctr gives a --rootfs container no PATH.
            let run = [
                "run",
                "-d",
                "--null-io",
                "--env",
                "PATH=/bin:/sbin",
                "--runtime",
                runtime,
                "--rootfs",
                &rootfs,
                id,
                "/bin/sh",
                "-c",
                COUNTER,
            ];
            ok(ctd.ctr(&run), "ctr run");
            let (token, n) = wait_counted(&ctd, id, 3);
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
            let after = wait_counted(&ctd, id, n);
            assert_eq!(after.0, token, "{runtime}: the counter started again");
            let tasks = ok(ctd.ctr(&["task", "ls"]), "ctr task ls");
            assert!(
                tasks
                    .lines()
                    .any(|l| l.starts_with(id) && l.contains("RUNNING")),
                "{runtime}: not running after its checkpoint: {tasks}"
            );
            remove(&ctd, id);
            ok(ctd.ctr(&["images", "rm", &name]), "ctr images rm");
        }
    }
    report("ctr task checkpoint", &mut times);
    finish(env, ctd);
}

/// The target of pid 1's fd 1 in ctr task `id`.
fn stdout_of(ctd: &Containerd, id: &str) -> String {
    let peek = [
        "task",
        "exec",
        "--exec-id",
        "fd",
        id,
        "/bin/readlink",
        "/proc/1/fd/1",
    ];
    ok(ctd.ctr(&peek), "readlink /proc/1/fd/1")
}

/// The state of the loopback in ctr task `id`'s network namespace.
fn loopback_of(ctd: &Containerd, id: &str) -> String {
    let peek = [
        "task",
        "exec",
        "--exec-id",
        "lo",
        id,
        "/bin/cat",
        "/sys/class/net/lo/operstate",
    ];
    ok(ctd.ctr(&peek), "cat /sys/class/net/lo/operstate")
}

/// `ctr c checkpoint --task` of a container made from an image, its task
/// gone, then `ctr c restore --live` of the checkpoint as a new container:
/// the same counter counts on from where it was dumped, in a rootfs
/// containerd mounts afresh from the image, its standard output the new
/// task's (podshim hands a container containerd's FIFOs, which CRIU
/// leaves out of the image; runc's shim hands it pipes). Timed with a
/// network namespace of the container's own, and with the host's.
#[test]
#[ignore = "needs a kernel CRIU can dump: runs in the node VM (make test-node)"]
fn ctr_container_restore_counts_on_in_a_fresh_snapshot_side_by_side_with_runc() {
    let env = TestEnv::new("ckptrst");
    let ctd = Containerd::start(&env);
    let image = test_image().to_string_lossy().into_owned();
    ok(ctd.ctr(&["images", "import", &image]), "ctr images import");
    for (net, host) in [
        ("its own network namespace", false),
        ("the host's network", true),
    ] {
        let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        for round in 0..3 {
            for (k, runtime) in [RUNTIME, "io.containerd.runc.v2"].into_iter().enumerate() {
                let id = format!("r{k}-{round}-{}", if host { "host" } else { "own" });
                times[k].push(checkpoint_and_restore(&ctd, runtime, &id, host));
            }
        }
        report(&format!("ctr c restore --live, {net}"), &mut times);
    }
    finish(env, ctd);
}

/// One container of `runtime` checkpointed, removed and restored; the
/// restore's time.
fn checkpoint_and_restore(ctd: &Containerd, runtime: &str, id: &str, host_net: bool) -> Duration {
    let back = format!("{id}-back");
    let reference = format!("localhost/ckpt-{id}:1");
    let mut run = vec!["run", "-d", "--runtime", runtime];
    if host_net {
        run.push("--net-host");
    }
    run.extend([TEST_IMAGE_NAME, id, "/bin/sh", "-c", COUNTER]);
    ok(ctd.ctr(&run), "ctr run");
    // Two seconds of counting: a counter started afresh could not catch
    // up before it is read.
    let (token, n) = wait_counted(ctd, id, 20);
    let stdout_before = stdout_of(ctd, id);
    let lo_before = loopback_of(ctd, id);
    let checkpoint = ["containers", "checkpoint", "--task", id, &reference];
    ok(ctd.ctr(&checkpoint), "ctr c checkpoint --task");
    remove(ctd, id);

    let begun = Instant::now();
    let restore = ["containers", "restore", "--live", &back, &reference];
    ok(ctd.ctr(&restore), "ctr c restore --live");
    let took = begun.elapsed();
    let (again, m) = wait_counted(ctd, &back, n);
    assert_eq!(
        again, token,
        "{runtime}: the restored counter is a new process (it counted {m})"
    );
    let stdout_after = stdout_of(ctd, &back);
    assert_ne!(
        stdout_after, stdout_before,
        "{runtime}: the restored counter writes to the old stdout"
    );
    // A network namespace of its own: podshim has CRIU dump and restore
    // it (its loopback up again); runc leaves every network namespace out
    // (`--empty-ns net`): its loopback comes back down.
    let lo_after = loopback_of(ctd, &back);
    if !host_net {
        eprintln!("{runtime}: loopback {lo_before} before the dump, {lo_after} restored");
    }
    if runtime == RUNTIME {
        assert!(
            stdout_after.ends_with(&format!("{back}-stdout")),
            "podshim: the restored counter's stdout is {stdout_after}, not its FIFO"
        );
        assert_eq!(lo_after, lo_before, "podshim: the restored loopback");
    }
    remove(ctd, &back);
    ok(ctd.ctr(&["images", "rm", &reference]), "ctr images rm");
    took
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
    // The node's systemd, as kubelet with `cgroupDriver: systemd` has it:
    // a kubepods-style slice as the cgroup parent, each container a scope.
    assert!(
        Path::new("/run/systemd/system").is_dir() && cgroup_v2_only(),
        "this test needs a systemd node with cgroup v2 only (make test-node)"
    );
    let top = format!("podshimckpt{}", std::process::id());
    let mut took = Vec::new();
    // podshim, then runc in the same containerd: the same archive; with
    // cgroupfs paths and with the systemd driver.
    for (handler, systemd) in [
        ("podshim", false),
        ("runc", false),
        ("podshim", true),
        ("runc-systemd", true),
    ] {
        let name = format!("ckpt-{handler}-{}", if systemd { "sd" } else { "fs" });
        let (mut sconfig, logs) = sandbox_for(&env, &name);
        if systemd {
            let slice = format!("{top}-besteffort-pod{}.slice", took.len());
            sconfig.linux.as_mut().unwrap().cgroup_parent = slice;
        }
        let sandbox = run_sandbox(&mut c, &sconfig, handler, &ctd).await;
        let script = "i=0; while :; do echo n$i; i=$((i+1)); sleep 0.1; done";
        let config = container_config("counter", NamespaceMode::Container, script);
        let id = run_container(&mut c, &ctd, &sandbox, &sconfig, config).await;
        log_line(&logs.join("counter.log"), "n5");

        let archive = env.work.join(format!("checkpoint-{name}.tar"));
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
        tear_down(&mut c, sandbox, vec![id.clone()]).await;
        if systemd {
            assert_eq!(
                units_named(&id),
                Vec::<String>::new(),
                "{handler}: a scope is left"
            );
        }
        if handler == "podshim" && !systemd {
            assert_eq!(
                env.cgroups_left(),
                Vec::<std::path::PathBuf>::new(),
                "podshim left cgroups"
            );
        }
    }
    for (driver, pair) in ["cgroupfs", "systemd"].iter().zip(took.chunks(2)) {
        eprintln!(
            "CheckpointContainer, {driver}: podshim {:?}, runc {:?} (podshim/runc {:.2})",
            pair[0],
            pair[1],
            pair[0].as_secs_f64() / pair[1].as_secs_f64()
        );
    }
    // The pod slices are kubelet's to remove; here the test's.
    let _ = Command::new("systemctl")
        .args(["stop", &format!("{top}.slice")])
        .status();
    assert_eq!(units_named(&top), Vec::<String>::new(), "slices left");
    ctd.stop();
    env.remove_cgroups_runc_left();
    env.finish();
}
