//! Container logs in the CRI format, written by the shim: every line of a
//! busy writer lands once, in order per stream, through rotation; a long
//! line without a newline is split into P parts ending with F; podctl logs
//! reads them back (joined, tailed, followed).

use std::time::Duration;

use podshim_tests::*;
use podshim_types::TaskStatus;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// Every CRI line of a container's log, oldest file first.
fn cri_lines(env: &TestEnv, pod: &str, name: &str) -> (Vec<String>, usize) {
    let dir = env
        .pod_dir(pod)
        .join("containers")
        .join(format!("{pod}-{name}"));
    let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let rank = if n == "log" {
                0
            } else {
                n.strip_prefix("log.")?.parse().ok()?
            };
            Some((rank, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let count = files.len();
    let lines = files
        .iter()
        .flat_map(|(_, p)| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    (lines, count)
}

fn valid_time(t: &str) -> bool {
    // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ
    t.len() == 30
        && t.as_bytes()[4] == b'-'
        && t.as_bytes()[10] == b'T'
        && t.as_bytes()[19] == b'.'
        && t.ends_with('Z')
        && t[20..29].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn every_line_lands_in_order_through_rotation() {
    let mut env = TestEnv::new("crilog");
    let n = 100_000u64;
    let dir = env.write_pod_with(
        "logpod",
        "logpod",
        &[(
            "chatty",
            container_spec(&["podprobe", "lines", &n.to_string()]),
        )],
        json!({}),
    );
    // Small files, enough of them to keep every line.
    let manifest = dir.join("pod.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["containers"][0]["log_max_size"] = json!(256 * 1024);
    m["containers"][0]["log_max_files"] = json!(200);
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let pod = env.run_pod(&dir);
    wait_for(WAIT, "the writer to finish", || {
        (env.container_record(&pod, "chatty").status == TaskStatus::Stopped).then_some(())
    });
    assert_eq!(env.container_record(&pod, "chatty").exit_code, Some(0));

    let (lines, files) = cri_lines(&env, &pod, "chatty");
    assert!(files > 5, "the log did not rotate ({files} files)");
    let (mut next_out, mut next_err) = (0u64, 1u64);
    for l in &lines {
        let mut f = l.splitn(4, ' ');
        let (t, stream, tag, text) = (
            f.next().unwrap(),
            f.next().unwrap(),
            f.next().unwrap(),
            f.next().unwrap_or(""),
        );
        assert!(valid_time(t), "bad timestamp in {l:?}");
        assert_eq!(tag, "F", "{l:?}");
        let i: u64 = text.split(' ').nth(1).unwrap().parse().unwrap();
        match stream {
            "stdout" => {
                assert_eq!(i, next_out, "stdout out of order or lost at {l:?}");
                next_out += 2;
            }
            "stderr" => {
                assert_eq!(i, next_err, "stderr out of order or lost at {l:?}");
                next_err += 2;
            }
            other => panic!("stream {other:?} in {l:?}"),
        }
    }
    assert_eq!((next_out, next_err), (n, n + 1), "lines lost at the end");

    // podctl logs: the text, oldest first; --tail; --follow ends at exit.
    // (The two streams are two pipes: their order in the file is the
    // order the shim read them in.)
    let last_two: String = lines[lines.len() - 2..]
        .iter()
        .map(|l| format!("{}\n", l.splitn(4, ' ').nth(3).unwrap()))
        .collect();
    let text = env.podctl_ok(&["logs", &pod, "chatty", "--tail", "2"]);
    assert_eq!(text, last_two);
    let all = env.podctl_ok(&["logs", &pod, "chatty", "--follow"]);
    assert_eq!(all.lines().count() as u64, n);
    // --since: the lines written at or after a time, given in another zone
    // and to the second too; or a duration back from now.
    let time = |l: &String| l.split(' ').next().unwrap().to_string();
    let mid = time(&lines[lines.len() / 2]);
    let later = lines.iter().filter(|l| time(l) >= mid).count();
    let since = env.podctl_ok(&["logs", &pod, "chatty", "--since", &mid]);
    assert_eq!(since.lines().count(), later);
    let whole_second = format!("{}Z", &mid[..19]);
    let second_start = format!("{}.000000000Z", &mid[..19]);
    let from_second = lines.iter().filter(|l| time(l) >= second_start).count();
    let since = env.podctl_ok(&["logs", &pod, "chatty", "--since", &whole_second]);
    assert_eq!(since.lines().count(), from_second);
    let hour: u32 = mid[11..13].parse().unwrap();
    if hour < 23 {
        // The same second written an hour ahead in a +01:00 zone.
        let zoned = format!("{}{:02}{}+01:00", &mid[..11], hour + 1, &mid[13..19]);
        let since = env.podctl_ok(&["logs", &pod, "chatty", "--since", &zoned]);
        assert_eq!(since.lines().count(), from_second, "{zoned}");
    }
    let recent = env.podctl_ok(&["logs", &pod, "chatty", "--since", "1h"]);
    assert_eq!(recent.lines().count() as u64, n);
    // A reader that stops early (`podctl logs | head -1`): podctl ends
    // quietly with success, never a "Broken pipe" error.
    let mut child = std::process::Command::new(env.podctl_path())
        .args(["logs", &pod, "chatty"])
        .envs(env.podctl_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run podctl logs");
    let mut first = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "podctl logs with its reader gone: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let err = env.podctl_err(&["logs", &pod, "chatty", "--since", "yesterday"]);
    assert!(
        err.contains("--since") && err.contains("yesterday"),
        "{err}"
    );
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

#[test]
fn a_long_line_without_newline_is_split_into_partial_parts() {
    let mut env = TestEnv::new("bigline");
    let dir = env.write_pod(
        "bigpod",
        "bigpod",
        &[("big", container_spec(&["podprobe", "bigline", "1048576"]))],
    );
    let pod = env.run_pod(&dir);
    wait_for(WAIT, "the writer to finish", || {
        (env.container_record(&pod, "big").status == TaskStatus::Stopped).then_some(())
    });
    let (lines, _) = cri_lines(&env, &pod, "big");
    assert!(lines.len() > 1, "not split: {} lines", lines.len());
    let mut total = 0;
    for (i, l) in lines.iter().enumerate() {
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        assert_eq!(f[1], "stdout");
        let last = i == lines.len() - 1;
        assert_eq!(f[2], if last { "F" } else { "P" }, "line {i}");
        assert!(f[3].bytes().all(|b| b == b'x'));
        total += f[3].len();
    }
    assert_eq!(total, 1 << 20);
    // podctl logs joins the parts into the one line.
    let text = env.podctl_ok(&["logs", &pod, "big"]);
    assert_eq!(text.len(), (1 << 20) + 1);
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

#[test]
fn reopen_after_an_outside_rotation_loses_no_line() {
    let mut env = TestEnv::new("reopen");
    let script = "i=0; while [ $i -lt 60 ]; do echo line $i; i=$((i+1)); sleep 0.01; done";
    let dir = env.write_pod(
        "reopod",
        "reopod",
        &[("w", container_spec(&["sh", "-c", script]))],
    );
    let pod = env.run_pod(&dir);
    let log = env
        .pod_dir(&pod)
        .join("containers")
        .join(format!("{pod}-w"))
        .join("log");
    wait_for(WAIT, "some lines", || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        (t.lines().count() >= 5).then_some(())
    });
    // What logrotate does: rename, then tell the writer.
    let moved = log.with_file_name("log.rotated");
    std::fs::rename(&log, &moved).unwrap();
    env.podctl_ok(&["reopen-log", &pod, "w"]);
    wait_for(WAIT, "the writer to finish", || {
        (env.container_record(&pod, "w").status == TaskStatus::Stopped).then_some(())
    });
    let text = std::fs::read_to_string(&moved).unwrap() + &std::fs::read_to_string(&log).unwrap();
    let got: Vec<String> = text
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..60).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    assert!(
        !std::fs::read_to_string(&log).unwrap().is_empty(),
        "nothing went to the reopened file"
    );
    env.podctl_ok(&["rm", &pod]);
    env.finish();
}

#[test]
fn a_flood_of_output_nobody_reads_does_not_stall_the_pod() {
    let mut env = TestEnv::new("flood");
    let dir = env.write_pod(
        "floodpod",
        "floodpod",
        &[
            ("spew", container_spec(&["yes", "a line nobody reads"])),
            (
                "calm",
                container_spec(&["sh", "-c", "echo calm-started; exec sleep 1000"]),
            ),
        ],
    );
    let manifest = dir.join("pod.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["containers"][0]["log_max_size"] = json!(1 << 20);
    m["containers"][0]["log_max_files"] = json!(2);
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    // The sibling is created and started while the flood runs, and the
    // shim still answers: a second pod's worth of requests goes through.
    let pod = env.run_pod(&dir);
    wait_for(WAIT, "the sibling's output", || {
        env.logs(&pod, "calm")
            .contains("calm-started")
            .then_some(())
    });
    let spew_dir = env
        .pod_dir(&pod)
        .join("containers")
        .join(format!("{pod}-spew"));
    wait_for(WAIT, "the flood to rotate its log", || {
        spew_dir.join("log.1").exists().then_some(())
    });
    // An attached client that reads nothing is let go, and the flood and
    // the shim go on.
    let mut idle = std::os::unix::net::UnixStream::connect(spew_dir.join("attach")).unwrap();
    let rotated = std::fs::metadata(spew_dir.join("log.1"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    idle.set_read_timeout(Some(WAIT)).unwrap();
    let mut frames = Vec::new();
    std::io::Read::read_to_end(&mut idle, &mut frames).expect("the idle client was not let go");
    assert_ne!(
        frames.first(),
        Some(&0),
        "an exit frame for a running container"
    );
    wait_for(WAIT, "the log to rotate again", || {
        let m = std::fs::metadata(spew_dir.join("log.1"))
            .ok()?
            .modified()
            .ok()?;
        (m > rotated).then_some(())
    });
    let stats = env.podctl_ok(&["stats", &pod]);
    assert!(stats.contains("spew") && stats.contains("calm"), "{stats}");
    // Bounded: two files of about 1 MiB, however long it runs.
    std::thread::sleep(Duration::from_millis(300));
    let total: u64 = ["log", "log.1", "log.2"]
        .iter()
        .filter_map(|f| std::fs::metadata(spew_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    assert!(total <= 3 << 20, "the log grew to {total} bytes");
    assert!(
        !spew_dir.join("log.2").exists(),
        "more files than asked for"
    );
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    env.finish();
}
