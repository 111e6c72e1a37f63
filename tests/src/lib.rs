//! The harness the root integration tests share: a private state root per
//! test, pods written from a template, podctl and a raw ttrpc client, and a
//! leak check run after every test (no process, mount, namespace pin,
//! socket or state directory of the test's may remain).

pub mod containerd;
pub mod cri;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use containerd_shim_protos::TaskClient;
use podshim_state::{read_json, StateRoot};
use podshim_types::{ContainerRecord, Id, PodRecord};
use serde_json::{json, Value};

/// Fails the test loudly when not root: these tests need namespaces and
/// mounts and must never pass by skipping.
pub fn require_root() {
    // The effective uid is the second field of Uid: in /proc/self/status.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("");
    assert_eq!(
        euid, "0",
        "the integration tests need root: run `make test` as root"
    );
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The mount points of the host's cgroup hierarchies (each v1 controller
/// mount and the v2 one), as /proc/self/mountinfo lists them.
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = cgroup_mounts().into_iter().map(|m| m.point).collect();
    out.dedup();
    out
}

/// The host's cgroup mounts (podshim-sys's mountinfo parser).
pub fn cgroup_mounts() -> Vec<podshim_sys::cgroup::mounts::CgroupMount> {
    podshim_sys::cgroup::mounts::mounted().expect("read /proc/self/mountinfo")
}

/// The host has one cgroup hierarchy, v2, at /sys/fs/cgroup (as systemd
/// nodes have it).
pub fn cgroup_v2_only() -> bool {
    cgroup_mounts()
        .iter()
        .any(|m| m.v2 && m.point == Path::new("/sys/fs/cgroup"))
}

/// The directory holding podshim and podctl.
pub fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("PODSHIM_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/debug"));
    assert!(
        dir.join("podshim").exists() && dir.join("podctl").exists(),
        "podshim/podctl not built in {}: run `make test`",
        dir.display()
    );
    dir
}

/// The rootfs test containers run in (busybox + podprobe).
pub fn test_rootfs() -> PathBuf {
    let dir = std::env::var_os("PODSHIM_TEST_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("build/test-rootfs"));
    assert!(
        dir.join("bin/podprobe").exists(),
        "test rootfs {} is missing: run `make test`",
        dir.display()
    );
    dir
}

/// The OCI image archive of the test rootfs (hack/mkimage.sh).
pub fn test_image() -> PathBuf {
    let p = std::env::var_os("PODSHIM_TEST_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("build/test-image.tar"));
    assert!(
        p.exists(),
        "test image {} is missing: run `make test`",
        p.display()
    );
    p
}

/// An OCI spec for a test container running `args` in the test rootfs.
pub fn container_spec(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            "cwd": "/",
            "noNewPrivileges": true
        },
        "root": {"path": test_rootfs(), "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// The capabilities containerd and docker give a container by default, as
/// the process.capabilities of a spec (bounding, effective, permitted).
pub fn default_caps() -> Value {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    json!({"bounding": caps, "effective": caps, "permitted": caps})
}

/// [`default_caps`] and `extra` (bounding, effective, permitted).
pub fn default_caps_with(extra: &[&str]) -> Value {
    let mut caps = default_caps();
    for set in ["bounding", "effective", "permitted"] {
        let list = caps[set].as_array_mut().expect("a capability list");
        list.extend(extra.iter().map(|c| json!(c)));
    }
    caps
}

/// One test's world: a private state root and work directory.
pub struct TestEnv {
    pub name: String,
    /// The cgroup every pod of this test lives under (the shim's
    /// `PODSHIM_CGROUP_PARENT`), in every hierarchy.
    pub cgroup_parent: String,
    pub root: PathBuf,
    pub work: PathBuf,
    bin: PathBuf,
    /// The CNI configuration directory podctl uses; by default one that
    /// does not exist, so no machine-wide network is ever picked up.
    pub cni_conf_dir: PathBuf,
    /// The host's mount points when the test began (outside any test's
    /// own directories): each must still be there at the end.
    host_mounts: Vec<String>,
    finished: bool,
}

/// The host's mount points that no test makes or removes: a test's
/// directories, containerd's and CNI's per-pod mounts are left out.
fn host_mount_points() -> Vec<String> {
    let tmp = std::env::temp_dir().to_string_lossy().into_owned();
    let mut out: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| {
            !p.contains("podshim")
                && !p.starts_with("/run/netns")
                && !p.starts_with("/run/containerd")
                && !p.starts_with("/var/lib/containerd")
                && !p.starts_with(&tmp)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        require_root();
        let bin = bin_dir();
        let tag = format!("{name}-{}", std::process::id());
        let root = PathBuf::from("/run/podshim-test").join(&tag);
        let work = std::env::temp_dir().join(format!("podshim-test-{tag}"));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let host_mounts = host_mount_points();
        TestEnv {
            host_mounts,
            name: name.to_string(),
            cgroup_parent: format!("podshim-test-{tag}"),
            root,
            work,
            bin,
            cni_conf_dir: std::env::temp_dir().join(format!("podshim-test-{tag}-no-cni")),
            finished: false,
        }
    }

    pub fn podshim(&self) -> PathBuf {
        self.bin.join("podshim")
    }

    pub fn state(&self) -> StateRoot {
        StateRoot::new(&self.root)
    }

    pub fn pod_dir(&self, pod: &str) -> PathBuf {
        self.root.join("podctl").join(pod)
    }

    pub fn podctl_path(&self) -> PathBuf {
        self.bin.join("podctl")
    }

    /// The environment podctl runs with in this test.
    pub fn podctl_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("PODSHIM_ROOT", self.root.clone().into_os_string()),
            ("PODSHIM_BIN", self.podshim().into_os_string()),
            ("PODSHIM_CGROUP_PARENT", self.cgroup_parent.clone().into()),
            (
                "PODCTL_CNI_CONF_DIR",
                self.cni_conf_dir.clone().into_os_string(),
            ),
        ]
    }

    /// Runs podctl against this test's root.
    pub fn podctl(&self, args: &[&str]) -> Output {
        Command::new(self.podctl_path())
            .args(args)
            .envs(self.podctl_env())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run podctl")
    }

    /// Runs podctl and returns its stdout; fails the test on error.
    pub fn podctl_ok(&self, args: &[&str]) -> String {
        let out = self.podctl(args);
        assert!(
            out.status.success(),
            "podctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs podctl expecting failure; returns its stderr.
    pub fn podctl_err(&self, args: &[&str]) -> String {
        let out = self.podctl(args);
        assert!(
            !out.status.success(),
            "podctl {args:?} succeeded but should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Writes a pod directory with one bundle per (name, spec).
    pub fn write_pod(&self, id: &str, hostname: &str, containers: &[(&str, Value)]) -> PathBuf {
        self.write_pod_with(id, hostname, containers, json!({}))
    }

    /// As [`write_pod`](Self::write_pod), with more pod.json fields.
    pub fn write_pod_with(
        &self,
        id: &str,
        hostname: &str,
        containers: &[(&str, Value)],
        extra: Value,
    ) -> PathBuf {
        let dir = self.work.join(id.replace('/', "_"));
        std::fs::create_dir_all(&dir).unwrap();
        let entries: Vec<Value> = containers
            .iter()
            .map(|(n, _)| json!({"name": n, "bundle": n}))
            .collect();
        let mut manifest = json!({"id": id, "hostname": hostname, "containers": entries});
        if let (Some(m), Some(e)) = (manifest.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        std::fs::write(
            dir.join("pod.json"),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        for (n, spec) in containers {
            let b = dir.join(n);
            std::fs::create_dir_all(&b).unwrap();
            std::fs::write(
                b.join("config.json"),
                serde_json::to_vec_pretty(spec).unwrap(),
            )
            .unwrap();
        }
        dir
    }

    /// `podctl run`; the pod's id.
    pub fn run_pod(&mut self, dir: &Path) -> String {
        let id = self
            .podctl_ok(&["run", dir.to_str().unwrap()])
            .trim()
            .to_string();
        assert!(self.pod_record(&id).pause.is_some(), "pod has a pause");
        id
    }

    pub fn pod_record(&self, pod: &str) -> PodRecord {
        read_json(&self.pod_dir(pod).join("pod.json")).expect("pod.json")
    }

    pub fn container_record(&self, pod: &str, name: &str) -> ContainerRecord {
        let id = Id::new(&format!("{pod}-{name}")).unwrap();
        let p = self
            .state()
            .pod(&Id::new("podctl").unwrap(), &Id::new(pod).unwrap());
        read_json(&p.container_record(&id)).expect("state.json")
    }

    /// A file of a task's cgroup (podctl's default layout) in the v1
    /// hierarchy mounted at /sys/fs/cgroup/<hierarchy>, or in the one v2
    /// hierarchy at /sys/fs/cgroup.
    pub fn cgroup_file(&self, hierarchy: &str, pod: &str, task: &str, file: &str) -> PathBuf {
        let root = PathBuf::from("/sys/fs/cgroup");
        let root = if cgroup_v2_only() {
            root
        } else {
            root.join(hierarchy)
        };
        root.join(&self.cgroup_parent)
            .join("podctl")
            .join(pod)
            .join(task)
            .join(file)
    }

    /// Removes this test's cgroup directories, deepest first: the pod-level
    /// cgroups runc leaves to kubelet, which removes them. Call it only
    /// after podshim's own were checked gone.
    pub fn remove_cgroups_runc_left(&self) {
        fn rmdir_tree(d: &Path) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rmdir_tree(&e.path());
                }
            }
            let _ = std::fs::remove_dir(d);
        }
        for d in self.cgroups_left() {
            rmdir_tree(&d);
        }
    }

    /// The cgroup directories below this test's top-level ones: a
    /// container's (runc leaves only the top level, its containerd
    /// namespace's, to whoever made the namespace).
    pub fn container_cgroups_left(&self) -> Vec<PathBuf> {
        self.cgroups_left()
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    }

    /// Every cgroup directory of this test, in any hierarchy.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        cgroup_roots()
            .into_iter()
            .flat_map(|h| std::fs::read_dir(h).into_iter().flatten().flatten())
            .filter(|e| e.path().is_dir() && self.owns_cgroup(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect()
    }

    pub fn logs(&self, pod: &str, name: &str) -> String {
        self.podctl_ok(&["logs", pod, name])
    }

    /// A raw ttrpc client to the pod's shim, as containerd would hold.
    pub fn shim_client(&self, pod: &str) -> TaskClient {
        let addr = format!("unix://{}", self.pod_dir(pod).join("shim.sock").display());
        TaskClient::new(ttrpc::Client::connect(&addr).expect("connect to shim"))
    }

    /// Removes what is left and checks that nothing of this test remains.
    pub fn finish(mut self) {
        self.cleanup();
        let leaks = self.leaks();
        // A leak fails the test and is then removed (by Drop, as after any
        // failure), so it never stays on the machine.
        self.finished = leaks.is_empty();
        assert!(
            leaks.is_empty(),
            "test {} left behind: {leaks:#?}",
            self.name
        );
        let _ = std::fs::remove_dir_all(&self.work);
        std::fs::remove_dir_all(&self.root).unwrap();
    }

    /// Whether a top-level cgroup directory is this test's: its cgroup
    /// parent, its containerd namespace (ctr's pods), or a sibling it named
    /// after its parent (`<parent>-runc`, `<parent>-shim`).
    fn owns_cgroup(&self, name: &str) -> bool {
        name == self.cgroup_parent
            || name == self.name
            || name.starts_with(&format!("{}-", self.cgroup_parent))
    }

    fn cleanup(&self) {
        let pods = self
            .state()
            .list_pods(&Id::new("podctl").unwrap())
            .unwrap_or_default();
        for pod in pods {
            let _ = self.podctl(&["rm", "--timeout", "1", pod.as_str()]);
        }
    }

    /// Everything of this test's still on the machine.
    pub fn leaks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ns in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            for e in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                out.push(format!("state directory {}", e.path().display()));
            }
        }
        let root = self.root.to_string_lossy().into_owned();
        let work = self.work.to_string_lossy().into_owned();
        for line in std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
        {
            // The test's state root, and its work directory (volumes and
            // mounts a test made on the host).
            let point = line.split(' ').nth(4).unwrap_or("");
            if line.contains(&root) || point.starts_with(&work) {
                out.push(format!("mount: {line}"));
            }
        }
        // A host mount that went away: a container's unmount reached the
        // host (rshared propagation), the worst leak of all.
        let now = host_mount_points();
        for gone in self.host_mounts.iter().filter(|m| !now.contains(m)) {
            out.push(format!("the host's mount {gone} is gone"));
        }
        let marker = format!("PODSHIM_ROOT={root}");
        for pid in all_pids() {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|e| e == marker.as_bytes()) {
                out.push(format!("process {pid}: {}", cmdline(pid)));
                continue;
            }
            // A container process carries none of our environment: it is
            // ours when it sits in this test's cgroup tree (and, when
            // tracked, in one of its pods' network namespaces; an inode
            // alone can be reused by another test's new namespace).
            let in_our_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.splitn(3, ':').nth(2))
                .any(|path| {
                    let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
                    top == self.cgroup_parent || top == self.name
                });
            // A zombie holds nothing but its pid, and its new parent (the
            // machine's init, after a shim crash) reaps it in its own time.
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()
                        .map(|r| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(false);
            if in_our_cgroup && !zombie {
                out.push(format!(
                    "process {pid} in the test's cgroups: {}",
                    cmdline(pid)
                ));
            }
        }
        for hierarchy in cgroup_roots() {
            for e in std::fs::read_dir(hierarchy).into_iter().flatten().flatten() {
                // The test's pods (podctl: the cgroup parent; ctr: the
                // containerd namespace, which is the test's name).
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() && self.owns_cgroup(&name) {
                    out.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
        out
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if !self.finished {
            // A failed test still must not leave pods running: the orderly
            // teardown first, then whatever of ours is still there.
            self.cleanup();
            let marker = format!("PODSHIM_ROOT={}", self.root.display());
            for pid in all_pids() {
                let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                if env.split(|b| *b == 0).any(|e| e == marker.as_bytes()) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
            }
            self.purge_cgroups();
            self.remove_short_sockets();
            unmount_under(&self.root);
            unmount_under(&self.work);
            let _ = std::fs::remove_dir_all(&self.root);
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

impl TestEnv {
    /// After a failure: the sockets of this test's pods that live outside
    /// the root (paths too long for P/shim.sock go to /run/podshim/s).
    fn remove_short_sockets(&self) {
        for ns in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(ns_id) = Id::new(&ns.file_name().to_string_lossy()) else {
                continue;
            };
            for pod in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                let Ok(pod_id) = Id::new(&pod.file_name().to_string_lossy()) else {
                    continue;
                };
                if let Ok(sock) = self.state().pod(&ns_id, &pod_id).socket() {
                    if !sock.starts_with(&self.root) {
                        let _ = std::fs::remove_file(sock);
                    }
                }
            }
        }
    }

    /// After a failure: every process in the test's cgroups is killed and
    /// the cgroups (and podshim's markers for them) are removed.
    fn purge_cgroups(&self) {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), out);
                }
            }
            out.push(dir.to_path_buf());
        }
        let mut dirs = Vec::new();
        for h in cgroup_roots() {
            for e in std::fs::read_dir(h).into_iter().flatten().flatten() {
                if e.path().is_dir() && self.owns_cgroup(&e.file_name().to_string_lossy()) {
                    walk(&e.path(), &mut dirs);
                }
            }
        }
        for d in &dirs {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        for d in &dirs {
            let _ = std::fs::remove_dir(d);
        }
        for m in std::fs::read_dir("/run/podshim-cgroups")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = m.file_name().to_string_lossy().into_owned();
            if [&self.cgroup_parent, &self.name]
                .iter()
                .any(|t| name == **t || name.starts_with(&format!("{t}%2F")))
            {
                let _ = std::fs::remove_file(m.path());
            }
        }
    }
}

/// Lazily unmounts every mount point under `dir` (deepest first).
pub fn unmount_under(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").args(["-l", &p]).status();
    }
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&p: &i32| p != std::process::id() as i32)
        .collect()
}

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// The inode of namespace `kind` of `pid`.
pub fn ns_inode(pid: i32, kind: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{kind}: {e}"))
        .ino()
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_for<T>(limit: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last JSON line of a log (podprobe's report).
pub fn last_json(log: &str) -> Option<Value> {
    log.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
}

/// A raw ttrpc context with a timeout.
pub fn ctx() -> ttrpc::context::Context {
    ttrpc::context::with_timeout(Duration::from_secs(20).as_nanos() as i64)
}

/// The message of a ttrpc error.
pub fn rpc_message(e: &ttrpc::Error) -> String {
    match e {
        ttrpc::Error::RpcStatus(s) => format!("{:?}: {}", s.code(), s.message()),
        e => e.to_string(),
    }
}

/// Whether `pid` is a process that has not exited (a zombie has).
pub fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

/// `KEY=VALUE ...` of [`TestEnv::podctl_env`], for a shell command line.
pub fn env_words(env: &TestEnv) -> String {
    env.podctl_env()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", v.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The proportional set size (kB) of the shim serving task `id`: the
/// process whose command line is a shim's (`needle` in it: podshim's
/// daemon runs as `podshim ... serve`) with `-id id`.
/// For the numbers a closing note reports; nothing asserts on them.
pub fn shim_pss_kib(needle: &str, id: &str) -> Option<u64> {
    let pid = all_pids().into_iter().find(|p| {
        let c = cmdline(*p);
        c.contains(needle) && c.contains(&format!("-id {id}"))
    })?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
