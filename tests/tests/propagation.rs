//! Mount propagation of volumes, as Kubernetes asks for it: None
//! (`rprivate`), HostToContainer (`rslave`) and Bidirectional (`rshared`),
//! with a mount made on the host after start (and one made inside for
//! rshared); and recursive read-only volumes (`rro`), whose submounts
//! refuse writes too, where `ro` leaves them writable.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use podshim_tests::*;
use serde_json::json;

fn sh(cmd: &str) {
    let ok = Command::new("sh")
        .args(["-c", cmd])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{cmd}");
}

/// Unmounts everything at or under `dir` on the host.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        unmount_under(&self.0);
    }
}

fn mounted_in(env: &TestEnv, pod: &str, name: &str, at: &str) -> bool {
    let out = env.podctl_ok(&["exec", pod, name, "--", "cat", "/proc/self/mountinfo"]);
    out.lines().any(|l| l.split(' ').nth(4) == Some(at))
}

#[test]
fn volumes_propagate_as_asked() {
    let mut env = TestEnv::new("propagation");
    let vol = env.work.join("vol");
    let _gone = Unmount(env.work.clone());
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    std::fs::create_dir_all(vol.join("in")).unwrap();
    let v = vol.display();
    sh(&format!("mount --bind {v} {v} && mount --make-shared {v}"));
    let mut containers = Vec::new();
    for (name, prop) in [
        ("private", "rprivate"),
        ("slave", "rslave"),
        ("shared", "rshared"),
    ] {
        let mut spec = container_spec(&["sleep", "1000"]);
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "rw", prop]
        }));
        if name == "shared" {
            // It mounts inside, as a CSI node plugin does.
            spec["process"]["capabilities"] = default_caps_with(&["CAP_SYS_ADMIN"]);
        }
        containers.push((name, spec));
    }
    let dir = env.write_pod_with("propagation", "propagation", &containers, json!({}));
    // As containerd's CRI does for a Bidirectional mount.
    for (name, _) in &containers {
        let p = dir.join(name).join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        if *name == "shared" {
            spec["linux"]["rootfsPropagation"] = json!("rshared");
        }
        std::fs::write(&p, spec.to_string()).unwrap();
    }
    let pod = env.run_pod(&dir);

    // A mount on the host after start.
    sh(&format!("mount -t tmpfs -o size=1k tmpfs {v}/sub"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !mounted_in(&env, &pod, "private", "/vol/sub"),
        "rprivate saw the host's mount"
    );
    assert!(
        mounted_in(&env, &pod, "slave", "/vol/sub"),
        "rslave did not see the host's mount"
    );
    assert!(
        mounted_in(&env, &pod, "shared", "/vol/sub"),
        "rshared did not see the host's mount"
    );

    // A mount inside the rshared one reaches the host, and only it.
    env.podctl_ok(&[
        "exec", &pod, "shared", "--", "mount", "-t", "tmpfs", "-o", "size=2k", "tmpfs", "/vol/in",
    ]);
    std::thread::sleep(Duration::from_millis(100));
    let host_in = vol.join("in");
    let on_host = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*host_in.to_string_lossy()));
    assert!(
        on_host,
        "the rshared container's mount did not reach the host"
    );
    assert!(
        mounted_in(&env, &pod, "slave", "/vol/in"),
        "rslave did not get it through the host"
    );
    assert!(!mounted_in(&env, &pod, "private", "/vol/in"));

    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    drop(_gone);
    env.finish();
}

#[test]
fn a_recursive_read_only_volume_refuses_writes_in_its_submounts() {
    let mut env = TestEnv::new("rro");
    let vol = env.work.join("vol");
    let _gone = Unmount(env.work.clone());
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    let v = vol.display();
    sh(&format!("mount -t tmpfs -o size=64k tmpfs {v}/sub"));
    let probe = "touch /v/sub/x 2>/dev/null && echo sub-writable || echo sub-refused; \
                 touch /v/y 2>/dev/null && echo top-writable || echo top-refused; echo report-done; sleep 1000";
    let mut containers = Vec::new();
    for (name, ro) in [("rro", "rro"), ("ro", "ro")] {
        let mut spec = container_spec(&["sh", "-c", probe]);
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/v", "type": "bind", "source": vol, "options": ["rbind", ro]
        }));
        containers.push((name, spec));
    }
    let dir = env.write_pod("rro", "rro", &containers);
    let pod = env.run_pod(&dir);
    let report = |name: &str| {
        wait_for(Duration::from_secs(10), "the probe", || {
            let l = env.logs(&pod, name);
            l.contains("report-done").then_some(l)
        })
    };
    let rro = report("rro");
    assert!(
        rro.contains("sub-refused") && rro.contains("top-refused"),
        "rro: {rro}"
    );
    let ro = report("ro");
    assert!(
        ro.contains("sub-writable") && ro.contains("top-refused"),
        "ro: {ro}"
    );
    assert!(!Path::new(&vol.join("sub/x")).exists() || ro.contains("sub-writable"));
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    drop(_gone);
    env.finish();
}
