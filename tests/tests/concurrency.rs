//! Many pods at once from several clients: 50 pods created, exec'ed into
//! and removed concurrently by 5 clients, 10 rounds (PODSHIM_CONC_ROUNDS
//! overrides). Every operation succeeds or fails cleanly, and afterwards
//! the shared leak check finds no process, mount, namespace pin, cgroup,
//! socket or state directory of ours.

use std::sync::Mutex;
use std::time::Instant;

use podshim_tests::*;
use podshim_types::TaskStatus;

const PODS: usize = 50;
const CLIENTS: usize = 5;

#[test]
fn fifty_pods_from_five_clients_ten_rounds() {
    let env = TestEnv::new("conc");
    let rounds: usize = std::env::var("PODSHIM_CONC_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let dirs: Vec<_> = (0..PODS)
        .map(|i| {
            env.write_pod(
                &format!("conc{i}"),
                &format!("conc-{i}"),
                &[
                    ("app", container_spec(&["sleep", "1000"])),
                    ("side", container_spec(&["sleep", "1000"])),
                ],
            )
        })
        .collect();
    let failures = Mutex::new(Vec::<String>::new());
    let mut ops = 0usize;
    let began = Instant::now();
    for round in 0..rounds {
        // Each phase: the clients split the pods among them and go at once.
        let phase = |what: &str, op: &(dyn Fn(usize) -> Result<(), String> + Sync)| {
            std::thread::scope(|s| {
                for c in 0..CLIENTS {
                    let failures = &failures;
                    s.spawn(move || {
                        for i in (c..PODS).step_by(CLIENTS) {
                            if let Err(e) = op(i) {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("round {round} {what} conc{i}: {e}"));
                            }
                        }
                    });
                }
            });
        };
        phase("run", &|i| {
            let out = env.podctl(&["run", dirs[i].to_str().unwrap()]);
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            env.pod_record(&format!("conc{i}"))
                .pause
                .ok_or("no pause")?;
            Ok(())
        });
        phase("exec", &|i| {
            let pod = format!("conc{i}");
            let out = env.podctl(&[
                "exec",
                &pod,
                "side",
                "--",
                "sh",
                "-c",
                "echo exec-$(hostname)",
            ]);
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() || text.trim() != format!("exec-conc-{i}") {
                return Err(format!(
                    "exit {:?}, stdout {text:?}, stderr {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            if env.container_record(&pod, "app").status != TaskStatus::Running {
                return Err("app is not running".into());
            }
            Ok(())
        });
        phase("rm", &|i| {
            let out = env.podctl(&["rm", "--timeout", "0", &format!("conc{i}")]);
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            Ok(())
        });
        ops += 3 * PODS;
        // Nothing of this round is left before the next starts.
        let leaks = env.leaks();
        assert!(leaks.is_empty(), "round {round} left: {leaks:#?}");
    }
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "concurrency: {rounds} rounds, {ops} operations, {} failed, {:.1} s",
        failures.len(),
        began.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    env.finish();
}
