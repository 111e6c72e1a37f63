//! `podctl attach` as a person uses it: to a container started with a
//! terminal (type into it, see its output at the caller's size, detach
//! with Ctrl-P Ctrl-Q and come back, its exit code as podctl's), and to a
//! container without one (its output as it comes, its exit code).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;

/// podctl attach under a terminal of 33x111 (driven by `script`), with our
/// pipe as its keyboard and everything it shows collected.
struct Session {
    child: Child,
    shown: Arc<Mutex<String>>,
}

impl Session {
    fn start(env: &TestEnv, pod: &str, name: &str) -> Session {
        let cmd = format!(
            "stty rows 33 cols 111; env {} {} attach {pod} {name}",
            env_words(env),
            env.podctl_path().display()
        );
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let shown = Arc::new(Mutex::new(String::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Session { child, shown }
    }

    fn type_in(&mut self, keys: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(keys).unwrap();
        stdin.flush().unwrap();
    }

    fn wait_shown(&self, text: &str) {
        wait_for(Duration::from_secs(10), text, || {
            self.shown.lock().unwrap().contains(text).then_some(())
        });
    }

    fn exit_code(mut self) -> (Option<i32>, String) {
        let status = wait_for(Duration::from_secs(10), "podctl attach exits", || {
            self.child.try_wait().unwrap()
        });
        drop(self.child.stdin.take());
        let shown = self.shown.lock().unwrap().clone();
        (status.code(), shown)
    }
}

#[test]
fn attach_to_a_terminal_container_detach_and_come_back() {
    let mut env = TestEnv::new("pattach");
    let mut shell = container_spec(&["sh"]);
    shell["process"]["terminal"] = true.into();
    shell["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push("TERM=xterm".into());
    let dir = env.write_pod("attachpod", "attach-host", &[("shell", shell)]);
    let pod = env.run_pod(&dir);
    wait_for(Duration::from_secs(10), "shell running", || {
        (env.container_record(&pod, "shell").status == TaskStatus::Running).then_some(())
    });

    // Type a command, see its output, detach: the shell keeps running.
    let mut first = Session::start(&env, &pod, "shell");
    first.type_in(b"echo first-$((40+2))\n");
    first.wait_shown("first-42");
    first.type_in(&[0x10, 0x11]);
    let (code, shown) = first.exit_code();
    assert_eq!(code, Some(0), "detach is not a clean exit: {shown}");
    assert_eq!(
        env.container_record(&pod, "shell").status,
        TaskStatus::Running,
        "detaching stopped the container"
    );

    // Come back: the terminal has our size; its exit code is ours.
    let mut second = Session::start(&env, &pod, "shell");
    second.type_in(b"stty size; tty; exit 3\n");
    let (code, shown) = second.exit_code();
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("33 111"), "not the caller's size: {shown}");
    assert!(shown.contains("/dev/pts/"), "no terminal: {shown}");

    // What was typed and shown is in the container's log, as stdout.
    let log = env.logs(&pod, "shell");
    assert!(log.contains("first-42"), "{log}");
    let err = env.podctl_err(&["attach", &pod, "shell"]);
    assert!(err.contains("not running"), "{err}");
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

#[test]
fn attach_without_a_terminal_streams_output_until_the_exit() {
    let mut env = TestEnv::new("pattachout");
    let dir = env.write_pod(
        "attachout",
        "attach-out",
        &[(
            "talker",
            container_spec(&[
                "sh",
                "-c",
                "i=0; while true; do echo tick-$i; echo tock-$i >&2; i=$((i+1)); sleep 0.1; done",
            ]),
        )],
    );
    let pod = env.run_pod(&dir);
    let child = Command::new(env.podctl_path())
        .args(["attach", &pod, "talker"])
        .envs(env.podctl_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let some output pass through the attach, then end the container.
    std::thread::sleep(Duration::from_millis(800));
    env.podctl_ok(&["kill", &pod, "talker", "--signal", "KILL"]);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(137), "{stderr}");
    let ticks: Vec<&str> = stdout.lines().collect();
    assert!(ticks.len() >= 3, "too little output attached: {stdout}");
    // Lines arrive whole and in order, each stream on its own.
    let first: u32 = ticks[0].strip_prefix("tick-").unwrap().parse().unwrap();
    for (i, line) in ticks.iter().enumerate() {
        assert_eq!(*line, format!("tick-{}", first + i as u32), "{stdout}");
    }
    assert!(stderr.contains("tock-"), "{stderr}");
    assert!(!stderr.contains("tick-") && !stdout.contains("tock-"));
    // The socket is gone with the output.
    let sockets: Vec<_> = walk(&env.pod_dir(&pod))
        .into_iter()
        .filter(|p| p.ends_with("attach"))
        .collect();
    assert!(sockets.is_empty(), "{sockets:?}");
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
