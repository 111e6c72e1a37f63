//! Crowds at the shim's sockets: idle connections to shim.sock by the
//! thousand (and a shim short of descriptors), and attach clients that
//! never read. The shim must not spin, must keep serving (`podctl exec`),
//! and must not grow without bound or keep what it grew.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use podshim_tests::*;

/// CPU seconds (user + system) the process has used.
fn cpu_secs(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn exec_answers(env: &TestEnv, pod: &str) -> Duration {
    let began = Instant::now();
    let out = env.podctl_ok(&["exec", pod, "app", "--", "echo", "served"]);
    assert_eq!(out, "served\n");
    began.elapsed()
}

#[test]
fn idle_connections_by_the_thousand_are_survived() {
    let mut env = TestEnv::new("idleconns");
    let dir = env.write_pod(
        "idleconns",
        "idleconns",
        &[("app", container_spec(&["sleep", "1000"]))],
    );
    let pod = env.run_pod(&dir);
    let shim = env.pod_record(&pod).shim.pid;
    let sock = env.pod_dir(&pod).join("shim.sock");

    // 1,500 connections that never send a byte.
    let idle: Vec<UnixStream> = (0..1500)
        .map(|_| UnixStream::connect(&sock).expect("connect"))
        .collect();
    let cpu = cpu_secs(shim);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_secs(shim) - cpu;
    assert!(spent < 0.5, "the shim spent {spent:.2} s of CPU in 2 s");
    let took = exec_answers(&env, &pod);
    assert!(took < Duration::from_secs(5), "exec took {took:?}");

    // Short of descriptors (a limit of 128): it backs off, makes room, and
    // serves.
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &shim.to_string(), "--nofile=128:128"])
        .status()
        .unwrap()
        .success();
    assert!(limited, "prlimit");
    let more: Vec<UnixStream> = (0..300)
        .filter_map(|_| UnixStream::connect(&sock).ok())
        .collect();
    let cpu = cpu_secs(shim);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_secs(shim) - cpu;
    assert!(
        spent < 0.5,
        "out of descriptors, the shim spent {spent:.2} s of CPU in 2 s"
    );
    let took = exec_answers(&env, &pod);
    assert!(took < Duration::from_secs(5), "exec took {took:?}");

    // Silent ones are closed after a while: they read end of file.
    std::thread::sleep(Duration::from_secs(12));
    let mut closed = 0;
    for mut c in idle.into_iter().chain(more) {
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [0u8; 1];
        if matches!(c.read(&mut b), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 1700,
        "only {closed} of 1,800 idle connections were closed"
    );
    exec_answers(&env, &pod);
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}

#[test]
fn attach_clients_that_never_read_cost_little_and_go() {
    let mut env = TestEnv::new("slowattach");
    let chatty = container_spec(&[
        "sh",
        "-c",
        "while :; do echo 'chatter chatter chatter chatter chatter'; done",
    ]);
    let dir = env.write_pod("slowattach", "slowattach", &[("app", chatty)]);
    let pod = env.run_pod(&dir);
    let shim = env.pod_record(&pod).shim.pid;
    let task = format!("{pod}-app");
    let sock = env
        .pod_dir(&pod)
        .join("containers")
        .join(&task)
        .join("attach");
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_mib(shim);
    let clients: Vec<UnixStream> = (0..200)
        .filter_map(|_| UnixStream::connect(&sock).ok())
        .collect();
    assert_eq!(clients.len(), 200, "connect");
    std::thread::sleep(Duration::from_secs(3));
    let crowded = rss_mib(shim);
    assert!(
        crowded < before + 40.0,
        "200 slow attach clients grew the shim from {before:.1} to {crowded:.1} MiB"
    );
    // All but 16 were turned away at once: they read end of file.
    let mut refused = 0;
    for c in &clients {
        let mut c = c.try_clone().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [0u8; 1];
        if matches!(c.read(&mut b), Ok(0)) {
            refused += 1;
        }
    }
    assert!(refused >= 184, "{refused} of 200 refused");
    drop(clients);
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_mib(shim);
    assert!(
        after < before + 16.0,
        "after the clients went: {before:.1} -> {after:.1} MiB"
    );
    eprintln!("shim RSS: {before:.1} MiB, with 200 slow clients {crowded:.1}, after {after:.1}");
    // A client that reads still gets output.
    let mut reader = UnixStream::connect(&sock).unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut b = [0u8; 64];
    assert!(reader.read(&mut b).unwrap() > 0);
    drop(reader);
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
