//! The fault matrix: the shim killed (SIGKILL, injected with
//! PODSHIM_FAULT) at each lifecycle step, and a container init dying during
//! create. After each, the state is consistent (what runs is recorded as
//! running, what is recorded as running runs), the pod can be taken over
//! or removed, and nothing is left.

use std::process::{Command, Output};
use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;

fn podctl_faulty(env: &TestEnv, fault: &str, args: &[&str]) -> Output {
    Command::new(env.podctl_path())
        .args(args)
        .envs(env.podctl_env())
        .env("PODSHIM_FAULT", fault)
        .output()
        .unwrap()
}

/// Every container record agrees with the processes.
fn consistent(env: &TestEnv, pod: &str, names: &[&str]) {
    for name in names {
        let r = env.container_record(pod, name);
        match r.status {
            TaskStatus::Running => {
                assert!(alive(r.pid), "{name} recorded running, pid {} gone", r.pid)
            }
            TaskStatus::Stopped => assert!(r.exit_code.is_some(), "{name} stopped without a code"),
            other => panic!("{name} left {other:?}"),
        }
    }
}

#[test]
fn a_crash_at_every_step_leaves_a_consistent_pod() {
    let env = TestEnv::new("faults");
    let mut injected = 0;
    // Steps of `podctl run`: the run fails, and its cleanup (without a
    // shim) removes everything.
    for fault in ["create-sandbox", "create-container", "start", "init-dies"] {
        let id = format!("f-{fault}");
        let dir = env.write_pod(&id, &id, &[("app", container_spec(&["sleep", "1000"]))]);
        let out = podctl_faulty(&env, fault, &["run", dir.to_str().unwrap()]);
        assert!(!out.status.success(), "{fault}: run succeeded");
        assert!(
            !env.pod_dir(&id).exists(),
            "{fault}: the failed run left its pod: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let leaks = env.leaks();
        assert!(leaks.is_empty(), "{fault}: {leaks:#?}");
        injected += 1;
    }
    // Steps on a running pod: the shim dies, the pod runs on, a new shim
    // takes it over in a consistent state, and removal is clean.
    for fault in ["exec", "delete"] {
        let id = format!("f-{fault}");
        let dir = env.write_pod(
            &id,
            &id,
            &[
                ("app", container_spec(&["sleep", "1000"])),
                ("side", container_spec(&["sleep", "1000"])),
            ],
        );
        let out = podctl_faulty(&env, fault, &["run", dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{fault}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if fault == "delete" {
            // podctl rm sees its shim die and finishes the job without it.
            env.podctl_ok(&["rm", "--timeout", "0", &id]);
            assert!(!env.pod_dir(&id).exists());
            let leaks = env.leaks();
            assert!(leaks.is_empty(), "{fault}: {leaks:#?}");
            injected += 1;
            continue;
        }
        let op = env.podctl(&["exec", &id, "app", "--", "sh", "-c", "sleep 0.2"]);
        assert!(!op.status.success(), "{fault}: the step survived its fault");
        let shim = env.pod_record(&id).shim;
        wait_for(Duration::from_secs(5), "the shim to be gone", || {
            shim.has_exited().then_some(())
        });
        env.podctl_ok(&["recover", &id]);
        let names: Vec<&str> = ["app", "side"]
            .into_iter()
            .filter(|n| {
                env.pod_dir(&id)
                    .join(format!("containers/{id}-{n}"))
                    .exists()
            })
            .collect();
        consistent(&env, &id, &names);
        if fault == "exec" {
            assert_eq!(env.container_record(&id, "app").status, TaskStatus::Running);
            let out = env.podctl_ok(&["exec", &id, "app", "--", "echo", "after"]);
            assert_eq!(out.trim(), "after");
        }
        env.podctl_ok(&["rm", "--timeout", "0", &id]);
        assert!(!env.pod_dir(&id).exists());
        let leaks = env.leaks();
        assert!(leaks.is_empty(), "{fault}: {leaks:#?}");
        injected += 1;
    }
    eprintln!("faults: {injected} injected, 0 leaks");
    env.finish();
}
