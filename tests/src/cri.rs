//! The CRI tests' world: a client of a test containerd's CRI service, pod
//! and container configs as kubelet writes them, a pod sandbox run under a
//! handler, containers created and started, torn down as kubelet does.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::containerd::{Containerd, TEST_IMAGE_NAME};
use crate::TestEnv;

pub async fn connect(path: String) -> RuntimeServiceClient<Channel> {
    let channel = Endpoint::try_from("http://[::]")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
        .expect("connect to containerd's CRI service");
    RuntimeServiceClient::new(channel)
}

pub fn ns_options(mode: NamespaceMode) -> Option<NamespaceOption> {
    Some(NamespaceOption {
        pid: mode as i32,
        ..Default::default()
    })
}

pub fn sandbox_config(
    name: &str,
    mode: NamespaceMode,
    logs: &str,
    cgroup_parent: &str,
) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("{name}-uid"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: logs.into(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: ns_options(mode),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_config(name: &str, mode: NamespaceMode, script: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: TEST_IMAGE_NAME.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: ns_options(mode),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A test's containerd with the CRI plugin (podshim and runc handlers),
/// its own CNI bridge (`prefix` + pid) and subnet (10.`octet`.x.0/24), a
/// client, and a log directory.
pub async fn cri_world(
    name: &str,
    prefix: &str,
    octet: u32,
) -> (
    TestEnv,
    Containerd,
    RuntimeServiceClient<Channel>,
    std::path::PathBuf,
    DeleteLinkOnDrop,
) {
    let env = TestEnv::new(name);
    let bridge = format!("{prefix}{}", std::process::id() % 100_000);
    let subnet = format!("10.{octet}.{}.0/24", std::process::id() % 250);
    let gone = DeleteLinkOnDrop(bridge.clone());
    let ctd = Containerd::start_cri(&env, &bridge, &subnet);
    let c = connect(ctd.address.clone()).await;
    let logs = env.work.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    (env, ctd, c, logs, gone)
}

/// Runs a pod sandbox under `handler`; its id.
pub async fn run_sandbox(
    c: &mut RuntimeServiceClient<Channel>,
    config: &PodSandboxConfig,
    handler: &str,
    ctd: &Containerd,
) -> String {
    let mut tries = 0;
    loop {
        let r = c
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: handler.into(),
            })
            .await;
        match r {
            Ok(r) => return r.into_inner().pod_sandbox_id,
            // containerd 2.x's CRI learns of an imported image from its
            // events, a moment after the import: it would pull it meanwhile.
            Err(e) if e.message().contains("failed to pull") && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("RunPodSandbox ({handler}): {e}\n{}", ctd.log()),
        }
    }
}

/// Stops and removes the containers (at once), then the sandbox.
pub async fn tear_down(
    c: &mut RuntimeServiceClient<Channel>,
    sandbox: String,
    containers: Vec<String>,
) {
    for id in containers.into_iter().rev() {
        c.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer {id}: {e}"));
        // As kubelet does: a container stopped is removed once containerd
        // has seen its exit (StopContainer can return just before).
        let mut tries = 0;
        loop {
            match c
                .remove_container(RemoveContainerRequest {
                    container_id: id.clone(),
                })
                .await
            {
                Ok(_) => break,
                Err(e) if e.message().contains("still running") && tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("RemoveContainer {id}: {e}"),
            }
        }
    }
    c.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: sandbox.clone(),
    })
    .await
    .unwrap();
    c.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: sandbox,
    })
    .await
    .unwrap();
}

pub async fn exec_sync(
    c: &mut RuntimeServiceClient<Channel>,
    id: &str,
    cmd: &[&str],
    timeout: i64,
) -> Result<ExecSyncResponse, tonic::Status> {
    c.exec_sync(ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout,
    })
    .await
    .map(|r| r.into_inner())
}

pub fn task_pid(ctd: &Containerd, id: &str) -> i32 {
    let out =
        String::from_utf8_lossy(&ctd.ctr(&["-n", "k8s.io", "task", "ls"]).stdout).into_owned();
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("{id} not in ctr task ls: {out}"))
}

/// The CNI bridge the test made is removed however the test ends.
pub struct DeleteLinkOnDrop(pub String);

impl Drop for DeleteLinkOnDrop {
    fn drop(&mut self) {
        // A test that ran no pod never had the bridge made.
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Creates and starts `config` in `sandbox`; the container's id.
pub async fn run_container(
    c: &mut RuntimeServiceClient<Channel>,
    ctd: &Containerd,
    sandbox: &str,
    sconfig: &PodSandboxConfig,
    config: ContainerConfig,
) -> String {
    let name = config
        .metadata
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let id = c
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox.into(),
            config: Some(config),
            sandbox_config: Some(sconfig.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer {name}: {e}\n{}", ctd.log()))
        .into_inner()
        .container_id;
    c.start_container(StartContainerRequest {
        container_id: id.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("StartContainer {name}: {e}\n{}", ctd.log()));
    id
}

/// The first line of CRI log `path` that holds `needle`, once there is one
/// (the log line's timestamp, stream and tag cut off).
pub fn log_line(path: &std::path::Path, needle: &str) -> String {
    crate::wait_for(Duration::from_secs(20), needle, || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .find(|l| l.contains(needle))
            .map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string())
    })
}

/// The security context of a container config (container_config fills it in).
pub fn container_security(c: &mut ContainerConfig) -> &mut LinuxContainerSecurityContext {
    c.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// The security context of a pod sandbox config (sandbox_config fills it in).
pub fn sandbox_security(c: &mut PodSandboxConfig) -> &mut LinuxSandboxSecurityContext {
    c.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// A pod sandbox config `name` (pid mode CONTAINER) with its log directory
/// `logs-NAME` made under the test's work directory and its cgroup parent
/// under the test's; the log directory too.
pub fn sandbox_for(env: &TestEnv, name: &str) -> (PodSandboxConfig, std::path::PathBuf) {
    let logs = env.work.join(format!("logs-{name}"));
    std::fs::create_dir_all(&logs).unwrap();
    let config = sandbox_config(
        name,
        NamespaceMode::Container,
        &logs.to_string_lossy(),
        &format!("/{}/pod-{name}", env.cgroup_parent),
    );
    (config, logs)
}

/// `systemctl show UNIT -p PROP --value`.
pub fn unit_property(unit: &str, prop: &str) -> String {
    let out = std::process::Command::new("systemctl")
        .args(["show", unit, "-p", prop, "--value"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Units whose name holds `needle`, in any state systemd still lists.
pub fn units_named(needle: &str) -> Vec<String> {
    let out = std::process::Command::new("systemctl")
        .args(["list-units", "--all", "--plain", "--no-legend"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}
