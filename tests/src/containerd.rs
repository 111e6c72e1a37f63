//! A private containerd for tests: its own socket, root, state and config,
//! with podshim installed as the runtime `io.containerd.podshim.v1` through
//! a PATH entry of the test's own. Started and stopped by the test.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::TestEnv;

/// The runtime name containerd resolves to `containerd-shim-podshim-v1`.
pub const RUNTIME: &str = "io.containerd.podshim.v1";

/// The options of the CRI handlers `podshim-toml` (the table inline, which
/// containerd 1.7 and later send as runtimeoptions.v1's ConfigBody) and
/// `podshim-file` (the same in a file, its ConfigPath).
pub const OPTIONS_TOML: &str = "IoUid = 1000\nIoGid = 1000\nNoNewKeyring = true\n";

/// The name the test image is imported under.
pub const TEST_IMAGE_NAME: &str = "docker.io/podshim/test:1";
/// The sandbox image (the same rootfs, its command sleeps): podshim runs
/// its own pause, runc runs the image.
pub const TEST_PAUSE_IMAGE_NAME: &str = "docker.io/podshim/test-pause:1";

pub struct Containerd {
    pub dir: PathBuf,
    pub address: String,
    /// The containerd namespace ctr uses: the test's name, so task cgroups
    /// (`/<namespace>/<id>`) never collide between tests running at once.
    pub namespace: String,
    child: Option<Child>,
    /// What podshim gets in its environment: the state root and cgroup parent.
    shim_env: Vec<(String, std::ffi::OsString)>,
}

/// The directory of the containerd under test, when it is not the
/// machine's: `PODSHIM_CONTAINERD_BIN` (containerd, ctr and
/// containerd-shim-runc-v2, as hack/containerd-versions.sh unpacks them).
fn containerd_dir() -> Option<PathBuf> {
    std::env::var_os("PODSHIM_CONTAINERD_BIN").map(PathBuf::from)
}

/// A containerd binary (`containerd`, `ctr`): the one under test.
fn bin(name: &str) -> PathBuf {
    match containerd_dir() {
        Some(d) => d.join(name),
        None => PathBuf::from(name),
    }
}

fn need(name: &str) {
    let found = match containerd_dir() {
        Some(d) => d.join(name).exists(),
        None => std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(name).exists()))
            .unwrap_or(false),
    };
    assert!(
        found,
        "{name} is not installed: `make test` installs it (hack/deps.sh, hack/containerd-versions.sh)"
    );
}

impl Containerd {
    /// Starts containerd for `env` without its CRI plugin; podshim's state
    /// goes to the env's root.
    pub fn start(env: &TestEnv) -> Containerd {
        Self::start_with(
            env,
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
            |_| String::new(),
        )
    }

    /// Starts containerd with its CRI plugin: podshim as the default runtime
    /// (handler `podshim`), CNI from Debian's plugins with a bridge network
    /// of the test's own (named `bridge`, on `subnet`), and the test image
    /// imported, also as the sandbox image.
    pub fn start_cri(env: &TestEnv, bridge: &str, subnet: &str) -> Containerd {
        need("containerd");
        let image = crate::test_image();
        let c = Self::start_with(env, "", |dir| {
            let cni = dir.join("cni");
            std::fs::create_dir_all(&cni).unwrap();
            let conf = format!(
                r#"{{"cniVersion":"0.4.0","name":"podshim-test","plugins":[{{"type":"bridge","bridge":"{bridge}","isGateway":false,"ipMasq":false,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"{subnet}"}}]],"dataDir":"{d}/ipam"}}}}]}}"#,
                d = dir.display()
            );
            std::fs::write(cni.join("10-podshim-test.conflist"), conf).unwrap();
            std::fs::write(dir.join("podshim-options.toml"), OPTIONS_TOML).unwrap();
            let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
            format!(
                "[{cri}]\n  sandbox_image = \"{TEST_PAUSE_IMAGE_NAME}\"\n  restrict_oom_score_adj = true\n  \
                 netns_mounts_under = \"{d}/netns\"\n  \
                 disable_apparmor = true\n  \
                 stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n\
                 [{cri}.cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"{cni}\"\n\
                 [{cri}.containerd]\n  default_runtime_name = \"podshim\"\n\
                 [{cri}.containerd.runtimes.podshim]\n  runtime_type = \"{RUNTIME}\"\n\
                 [{cri}.containerd.runtimes.podshim-toml]\n  runtime_type = \"{RUNTIME}\"\n\
                 [{cri}.containerd.runtimes.podshim-toml.options]\n{OPTIONS_TOML}\
                 [{cri}.containerd.runtimes.podshim-file]\n  runtime_type = \"{RUNTIME}\"\n\
                 [{cri}.containerd.runtimes.podshim-file.options]\n  ConfigPath = \"{d}/podshim-options.toml\"\n\
                 [{cri}.containerd.runtimes.podshim-runc-type]\n  runtime_type = \"io.containerd.runc.v2\"\n  \
                 runtime_path = \"{d}/bin/containerd-shim-podshim-v1\"\n\
                 [{cri}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
                 [{cri}.containerd.runtimes.runc-systemd]\n  runtime_type = \"io.containerd.runc.v2\"\n\
                 [{cri}.containerd.runtimes.runc-systemd.options]\n  SystemdCgroup = true\n",
                cni = cni.display(),
                // CRI pods' network namespaces under the test's own directory
                // (not the machine's /run/netns), where the leak check sees
                // them and teardown removes them.
                d = dir.display(),
            )
        });
        let out = c.ctr(&["-n", "k8s.io", "images", "import", &image.to_string_lossy()]);
        assert!(
            out.status.success(),
            "image import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// `top`: top-level config keys; `tables`: config tables, given the
    /// containerd directory.
    fn start_with(
        env: &TestEnv,
        top: &str,
        tables: impl FnOnce(&std::path::Path) -> String,
    ) -> Containerd {
        need("containerd");
        need("ctr");
        let dir = PathBuf::from(format!(
            "/tmp/podshim-ctd-{}-{}",
            env.name,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::os::unix::fs::symlink(env.podshim(), dir.join("bin/containerd-shim-podshim-v1"))
            .unwrap();
        let address = dir.join("containerd.sock").to_string_lossy().into_owned();
        // NRI's socket is machine-wide (/var/run/nri): off, so that tests
        // running side by side do not collide.
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{top}\
             [grpc]\n  address = \"{address}\"\n[ttrpc]\n  address = \"{address}.ttrpc\"\n\
             [plugins.\"io.containerd.nri.v1.nri\"]\n  disable = true\n{tables}",
            d = dir.display(),
            tables = tables(&dir),
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let mut c = Containerd {
            dir,
            address,
            namespace: env.name.clone(),
            child: None,
            shim_env: vec![
                ("PODSHIM_ROOT".into(), env.root.clone().into_os_string()),
                (
                    "PODSHIM_CGROUP_PARENT".into(),
                    env.cgroup_parent.clone().into(),
                ),
            ],
        };
        c.spawn();
        c
    }

    /// Starts the containerd process on this directory's config and waits
    /// until it answers.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("containerd.log"))
            .unwrap();
        let mut path = format!("{}:", self.dir.join("bin").display());
        if let Some(d) = containerd_dir() {
            // Its own runc shim, not the machine's.
            path.push_str(&format!("{}:", d.display()));
        }
        path.push_str(&std::env::var("PATH").unwrap_or_default());
        let child = Command::new(bin("containerd"))
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .env("PATH", path)
            .envs(self.shim_env.clone())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops containerd (SIGTERM, as a service restart does) and starts it
    /// again on the same root and state; shims and tasks are left alone.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        self.spawn();
    }

    /// Runs `ctr -a ADDRESS args...`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new(bin("ctr"))
            .arg("-a")
            .arg(&self.address)
            .args(args)
            .env("CONTAINERD_NAMESPACE", &self.namespace)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    /// A ctr command line for use under `script` (a terminal) or a shell.
    pub fn ctr_cmdline(&self, args: &str) -> String {
        format!(
            "CONTAINERD_NAMESPACE={} {} -a {} {args}",
            self.namespace,
            bin("ctr").display(),
            self.address
        )
    }

    /// The server's version (major, minor), as `ctr version` prints it.
    pub fn version(&self) -> (u32, u32) {
        let out = String::from_utf8_lossy(&self.ctr(&["version"]).stdout).into_owned();
        let v = out
            .split("Server:")
            .nth(1)
            .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix("Version:")))
            .unwrap_or("")
            .trim()
            .trim_start_matches('v')
            .to_string();
        let mut n = v
            .split(['.', '~', '-', '+'])
            .map(|p| p.parse().unwrap_or(0));
        (n.next().unwrap_or(0), n.next().unwrap_or(0))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// Stops containerd and removes its directory; containers must have
    /// been removed by the test.
    /// Stops containerd; fails when the test left containers (its own
    /// namespace's or CRI's) or CRI network namespaces behind. They are
    /// removed either way.
    pub fn stop(mut self) {
        let mut left = String::new();
        for ns in [self.namespace.clone(), "k8s.io".to_string()] {
            let out = self.ctr(&["-n", &ns, "containers", "list", "-q"]);
            left.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        let netns: Vec<String> = std::fs::read_dir(self.dir.join("netns"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        self.shutdown();
        assert!(
            left.trim().is_empty(),
            "containers left in containerd: {left}"
        );
        assert!(netns.is_empty(), "CRI network namespaces left: {netns:?}");
    }

    fn shutdown(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        crate::unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.shutdown();
    }
}
