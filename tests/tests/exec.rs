//! `podctl exec` as a person uses it: a command in a running container with
//! its stdout, stderr and exit code; stdin piped in with -i; a terminal with
//! -t whose size is the caller's and whose exit code comes back.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;

#[test]
fn exec_streams_stdio_and_returns_the_exit_code() {
    let mut env = TestEnv::new("pexec");
    let dir = env.write_pod(
        "execpod",
        "exec-host",
        &[(
            "app",
            container_spec(&["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]),
        )],
    );
    let pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "app running", || {
        (env.container_record(&pod, "app").status == TaskStatus::Running).then_some(())
    });

    let out = env.podctl(&[
        "exec",
        &pod,
        "app",
        "--",
        "sh",
        "-c",
        "echo out-$(hostname); echo err >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out-exec-host\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // -i: our stdin reaches the process, and its end ends the process's.
    let mut child = Command::new(env.podctl_path())
        .args([
            "exec",
            "-i",
            &pod,
            "app",
            "--",
            "sh",
            "-c",
            "cat; echo done",
        ])
        .envs(env.podctl_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line one\nline two\ndone\n"
    );

    // -it under a terminal of 33 rows and 111 columns.
    let cmd = format!(
        "stty rows 33 cols 111; env {} {} exec -it {pod} app -- sh -c 'tty; stty size; exit 5'",
        env_words(&env),
        env.podctl_path().display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(
        text.contains("/dev/pts/"),
        "no terminal in the exec: {text}"
    );
    assert!(
        text.contains("33 111"),
        "the size is not the caller's: {text}"
    );

    // Nothing of the execs stays in the state directory.
    assert!(!env.pod_dir(&pod).join("exec").exists());
    let err = env.podctl_err(&["exec", &pod, "nosuch", "--", "true"]);
    assert!(err.contains("no container nosuch"), "{err}");
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

/// `podctl debug --rootfs DIR`: a temporary container from a tools rootfs
/// in the target's namespaces sees the target's processes and, through
/// /proc/1/root, its files; it is gone when its command ends.
#[test]
fn a_tools_container_debugs_a_container_and_goes() {
    let mut env = TestEnv::new("toolbox");
    let dir = env.write_pod(
        "toolbox",
        "toolbox",
        &[(
            "app",
            container_spec(&[
                "sh",
                "-c",
                "echo secret-of-app > /tmp/marker; exec sleep 4343",
            ]),
        )],
    );
    let pod = env.run_pod(&dir);
    let rootfs = test_rootfs();
    let out = wait_for(Duration::from_secs(10), "the debug output", || {
        let o = env.podctl(&[
            "debug",
            "--rootfs",
            rootfs.to_str().unwrap(),
            &pod,
            "app",
            "--",
            "sh",
            "-c",
            "cat /proc/1/root/tmp/marker; tr '\\0' ' ' < /proc/1/cmdline; echo; hostname; exit 6",
        ]);
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        (t.contains("secret-of-app")).then_some((o.status.code(), t))
    });
    assert_eq!(out.0, Some(6), "{}", out.1);
    assert!(out.1.contains("sleep 4343"), "{}", out.1);
    assert!(
        out.1.contains("toolbox"),
        "not the pod's hostname: {}",
        out.1
    );
    // Gone: no task, no bundle, no cgroup beyond the pod's own.
    let ps = env.podctl_ok(&["ps"]);
    assert!(!ps.contains("debug"), "{ps}");
    assert!(!env.pod_dir(&pod).join("debug").exists());
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
