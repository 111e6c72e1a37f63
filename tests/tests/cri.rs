//! Kubernetes pods through containerd's CRI plugin with podshim as the
//! runtime handler: RunPodSandbox, CreateContainer, StartContainer,
//! ContainerStatus, ExecSync (with a timeout that takes the exec's whole
//! process tree down), Exec streamed over WebSocket as kubectl does, the CRI
//! log file, ContainerStats, UpdateContainerResources (read back from the
//! cgroup under a kubelet-style cgroup parent), StopContainer,
//! StopPodSandbox and RemovePodSandbox, for each pid namespace mode.

use std::time::Duration;

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use podshim_tests::containerd::Containerd;
use podshim_tests::cri::*;
use podshim_tests::*;
use tonic::transport::Channel;

#[tokio::test(flavor = "current_thread")]
async fn cri_pods_in_every_pid_namespace_mode() {
    let (env, ctd, mut c, logs, _bridge_gone) = cri_world("cri", "psb", 231).await;

    for (mode, tag) in [
        (NamespaceMode::Pod, "pod"),
        (NamespaceMode::Container, "container"),
        (NamespaceMode::Node, "node"),
    ] {
        let logdir = logs.join(tag);
        std::fs::create_dir_all(&logdir).unwrap();
        // As kubelet's cgroupfs driver names a pod's cgroup.
        let pod_cgroup = format!("/{}/pod-{tag}", env.cgroup_parent);
        let sconfig = sandbox_config(
            &format!("cri-{tag}"),
            mode,
            &logdir.to_string_lossy(),
            &pod_cgroup,
        );
        let sandbox = run_sandbox(&mut c, &sconfig, "podshim", &ctd).await;
        let pause = task_pid(&ctd, &sandbox);

        let mut ids = Vec::new();
        for name in ["app", "side"] {
            let script = format!("trap 'exit 0' TERM; echo hello-from-{name}; sleep 1000 & wait");
            let id = c
                .create_container(CreateContainerRequest {
                    pod_sandbox_id: sandbox.clone(),
                    config: Some(container_config(name, mode, &script)),
                    sandbox_config: Some(sconfig.clone()),
                })
                .await
                .unwrap_or_else(|e| panic!("CreateContainer {name} ({tag}): {e}\n{}", ctd.log()))
                .into_inner()
                .container_id;
            c.start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("StartContainer {name} ({tag}): {e}"));
            ids.push(id);
        }
        let status = c
            .container_status(ContainerStatusRequest {
                container_id: ids[0].clone(),
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap();
        assert_eq!(
            status.state,
            ContainerState::ContainerRunning as i32,
            "{tag}"
        );

        // The pod shares net/ipc/uts with its pause whatever the pid mode.
        let app = task_pid(&ctd, &ids[0]);
        for ns in ["net", "ipc", "uts"] {
            assert_eq!(ns_inode(app, ns), ns_inode(pause, ns), "{tag}: {ns}");
        }
        // What pid 1 is tells the pid namespace mode.
        let pid1 = exec_sync(&mut c, &ids[0], &["cat", "/proc/1/cmdline"], 10)
            .await
            .unwrap();
        let pid1 = String::from_utf8_lossy(&pid1.stdout).replace('\0', " ");
        match mode {
            NamespaceMode::Pod => assert!(
                pid1.contains("pause"),
                "POD: pid 1 is {pid1:?}, not the pause"
            ),
            NamespaceMode::Container => assert!(
                pid1.starts_with("sh -c trap"),
                "CONTAINER: pid 1 is {pid1:?}"
            ),
            _ => {
                assert_eq!(
                    ns_inode(app, "pid"),
                    ns_inode(std::process::id() as i32, "pid"),
                    "NODE: not the host's pid namespace"
                );
            }
        }
        let ok = exec_sync(&mut c, &ids[0], &["sh", "-c", "echo out; exit 3"], 10)
            .await
            .unwrap();
        assert_eq!(
            (ok.exit_code, String::from_utf8_lossy(&ok.stdout).trim()),
            (3, "out")
        );

        // A timed-out exec is killed with every process it started.
        let marker = format!("sleep 31{}", mode as i32);
        let script = format!("{marker} & {marker} & wait");
        let timed_out = exec_sync(&mut c, &ids[0], &["sh", "-c", &script], 1).await;
        assert!(timed_out.is_err(), "{tag}: exec did not time out");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let left = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == marker)
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(left, 0, "{tag}: the timed-out exec left {left} processes");

        // The CRI log file holds the container's output.
        let log = std::fs::read_to_string(logdir.join("app.log")).unwrap_or_default();
        assert!(
            log.contains("stdout F hello-from-app"),
            "{tag}: CRI log: {log:?}"
        );

        // Exec (kubectl exec): the streaming URL runs the command in the
        // container; stdout, stderr and the exit code come back.
        let url = c
            .exec(ExecRequest {
                container_id: ids[0].clone(),
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out-$(hostname); echo err >&2; exit 4".into(),
                ],
                stdout: true,
                stderr: true,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("Exec ({tag}): {e}"))
            .into_inner()
            .url;
        let streamed = tokio::task::spawn_blocking(move || stream_exec(&url))
            .await
            .unwrap();
        assert_eq!(
            streamed.0.trim(),
            format!("out-cri-{tag}"),
            "{tag}: exec stdout"
        );
        assert_eq!(streamed.1.trim(), "err", "{tag}: exec stderr");
        assert_eq!(streamed.2, Some(4), "{tag}: exec exit code");

        // ContainerStats and UpdateContainerResources reach the cgroup.
        let stats = c
            .container_stats(ContainerStatsRequest {
                container_id: ids[0].clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("ContainerStats ({tag}): {e}"))
            .into_inner()
            .stats
            .unwrap();
        let mem = stats
            .memory
            .and_then(|m| m.working_set_bytes)
            .map(|v| v.value);
        assert!(mem.unwrap_or(0) > 0, "{tag}: no memory in ContainerStats");
        let cpu = stats
            .cpu
            .and_then(|c| c.usage_core_nano_seconds)
            .map(|v| v.value);
        assert!(cpu.unwrap_or(0) > 0, "{tag}: no cpu in ContainerStats");
        c.update_container_resources(UpdateContainerResourcesRequest {
            container_id: ids[0].clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: 96 << 20,
                cpu_period: 100_000,
                cpu_quota: 50_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("UpdateContainerResources ({tag}): {e}"));
        eprintln!(
            "{tag}: shim PSS {:?} kB (cgroupfs)",
            shim_pss_kib("podshim", &sandbox)
        );
        let pid = task_pid(&ctd, &ids[0]);
        let mine = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let cg = format!("{pod_cgroup}/{}", ids[0]);
        // The limits as the host's files say them (v1, or v2's memory.max
        // and cpu.max), and as the container reads them inside.
        let v2 = cgroup_v2_only();
        let (line, mem_file, cpu_file, inside_cmd) = if v2 {
            (
                format!("0::{cg}"),
                format!("/sys/fs/cgroup{cg}/memory.max"),
                format!("/sys/fs/cgroup{cg}/cpu.max"),
                "cat /sys/fs/cgroup/memory.max; ls /sys/fs/cgroup | grep -c podshim-test",
            )
        } else {
            (
                format!(":memory:{cg}"),
                format!("/sys/fs/cgroup/memory{cg}/memory.limit_in_bytes"),
                format!("/sys/fs/cgroup/cpu{cg}/cpu.cfs_quota_us"),
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/fs/cgroup/memory | grep -c podshim-test",
            )
        };
        assert!(mine.contains(&line), "{tag}: {mine}");
        let limit = std::fs::read_to_string(&mem_file)
            .unwrap_or_else(|e| panic!("{tag}: the container's cgroup {cg}: {e}"));
        assert_eq!(limit.trim(), (96u64 << 20).to_string(), "{tag}");
        let quota = std::fs::read_to_string(&cpu_file).unwrap();
        let want_quota = if v2 { "50000 100000" } else { "50000" };
        assert_eq!(quota.trim(), want_quota, "{tag}");
        // Inside, /sys/fs/cgroup is the container's own (what Java, Go and
        // .NET read their limits from), never the host's tree.
        let inside = exec_sync(&mut c, &ids[0], &["sh", "-c", inside_cmd], 10)
            .await
            .unwrap();
        let inside = String::from_utf8_lossy(&inside.stdout).into_owned();
        assert_eq!(
            inside.split_whitespace().collect::<Vec<_>>(),
            [(96u64 << 20).to_string().as_str(), "0"],
            "{tag}: the container's cgroup view: {inside}"
        );

        for id in &ids {
            c.stop_container(StopContainerRequest {
                container_id: id.clone(),
                timeout: 2,
            })
            .await
            .unwrap();
            c.remove_container(RemoveContainerRequest {
                container_id: id.clone(),
            })
            .await
            .unwrap();
        }
        c.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: sandbox.clone(),
        })
        .await
        .unwrap();
        c.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: sandbox.clone(),
        })
        .await
        .unwrap();
    }
    drop(c);
    ctd.stop();
    env.finish();
}

/// Reads a CRI streaming exec as kubectl does over WebSocket
/// (`v4.channel.k8s.io`: one byte of channel, then data; channel 3 carries
/// the final status): stdout, stderr and the exit code.
fn stream_exec(url: &str) -> (String, String, Option<i32>) {
    use tungstenite::client::IntoClientRequest;
    let ws = url.replacen("http://", "ws://", 1);
    let mut req = ws.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v4.channel.k8s.io".parse().unwrap(),
    );
    let host = req.uri().authority().unwrap().to_string();
    let tcp = std::net::TcpStream::connect(host).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut sock, _) = tungstenite::client(req, tcp).expect("websocket handshake");
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        match sock.read() {
            Ok(tungstenite::Message::Binary(data)) if !data.is_empty() => match data[0] {
                1 => out.extend_from_slice(&data[1..]),
                2 => err.extend_from_slice(&data[1..]),
                3 => status.extend_from_slice(&data[1..]),
                _ => {}
            },
            Ok(tungstenite::Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // A non-zero exit is a Failure status whose cause ExitCode holds it.
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap_or_default();
    let code = match status["status"].as_str() {
        Some("Success") => Some(0),
        _ => status["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["reason"] == "ExitCode")
            .and_then(|c| c["message"].as_str()?.parse().ok()),
    };
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        code,
    )
}

/// What one pod shows under a runtime handler: for a hostNetwork+hostIPC
/// pod, whether its container is in the host's net and ipc namespaces; for
/// a pod with sysctls, what its container reads back.
async fn host_and_sysctl_view(
    c: &mut RuntimeServiceClient<Channel>,
    ctd: &Containerd,
    env: &TestEnv,
    handler: &str,
) -> (bool, bool, String) {
    let logs = env.work.join(format!("logs-{handler}"));
    std::fs::create_dir_all(&logs).unwrap();
    let me = std::process::id() as i32;
    let run = |name: String, host: bool, sysctls: Vec<(&str, &str)>| {
        let mut config = sandbox_config(
            &name,
            NamespaceMode::Container,
            &logs.to_string_lossy(),
            &format!("/{}/pod-{name}", env.cgroup_parent),
        );
        let linux = config.linux.as_mut().unwrap();
        linux.sysctls = sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if host {
            // As kubelet: a hostNetwork pod gets no hostname of its own.
            config.hostname = String::new();
            let ns = sandbox_security(&mut config)
                .namespace_options
                .as_mut()
                .unwrap();
            ns.network = NamespaceMode::Node as i32;
            ns.ipc = NamespaceMode::Node as i32;
        }
        config
    };
    let mut out = (false, false, String::new());
    for (i, host) in [true, false].into_iter().enumerate() {
        let name = format!("hs-{handler}-{i}");
        let sysctls = if host {
            vec![]
        } else {
            vec![("kernel.shm_rmid_forced", "1"), ("kernel.msgmax", "9000")]
        };
        let sconfig = run(name.clone(), host, sysctls);
        let sandbox = run_sandbox(c, &sconfig, handler, ctd).await;
        let mut cconfig = container_config("app", NamespaceMode::Container, "sleep 1000");
        if host {
            let ns = container_security(&mut cconfig)
                .namespace_options
                .as_mut()
                .unwrap();
            ns.network = NamespaceMode::Node as i32;
            ns.ipc = NamespaceMode::Node as i32;
        }
        let id = run_container(c, ctd, &sandbox, &sconfig, cconfig).await;
        let pid = task_pid(ctd, &id);
        if host {
            out.0 = ns_inode(pid, "net") == ns_inode(me, "net");
            out.1 = ns_inode(pid, "ipc") == ns_inode(me, "ipc");
        } else {
            let r = exec_sync(
                c,
                &id,
                &[
                    "sh",
                    "-c",
                    "echo $(cat /proc/sys/kernel/shm_rmid_forced) $(cat /proc/sys/kernel/msgmax)",
                ],
                10,
            )
            .await
            .unwrap();
            out.2 = String::from_utf8_lossy(&r.stdout).trim().to_string();
        }
        tear_down(c, sandbox, vec![id]).await;
        if handler == "podshim" {
            assert_eq!(
                env.cgroups_left(),
                Vec::<std::path::PathBuf>::new(),
                "podshim left cgroups"
            );
        }
    }
    out
}

/// hostNetwork + hostIPC pods and pod sysctls through containerd's CRI,
/// side by side with runc (io.containerd.runc.v2) in the same containerd.
#[tokio::test(flavor = "current_thread")]
async fn cri_host_namespaces_and_sysctls_as_runc_has_them() {
    let (env, ctd, mut c, _logs, _bridge_gone) = cri_world("crihost", "psh", 232).await;
    let ours = host_and_sysctl_view(&mut c, &ctd, &env, "podshim").await;
    assert_eq!(
        env.cgroups_left(),
        Vec::<std::path::PathBuf>::new(),
        "podshim left cgroups"
    );
    let runc = host_and_sysctl_view(&mut c, &ctd, &env, "runc").await;
    // runc leaves the pod-level cgroups it made to kubelet, which removes
    // them: so does the test, deepest first.
    env.remove_cgroups_runc_left();
    eprintln!("podshim {ours:?}, runc {runc:?}");
    assert_eq!(ours, (true, true, "1 9000".to_string()), "podshim");
    assert_eq!(ours, runc, "podshim and runc differ");
    drop(c);
    ctd.stop();
    env.finish();
}

/// A process whose binary is not in the image fails when CRI makes its
/// task (StartContainer: the runtime's Create), naming it, under podshim as
/// under runc.
#[tokio::test(flavor = "current_thread")]
async fn cri_a_missing_binary_fails_the_create_as_under_runc() {
    let (env, ctd, mut c, logs, _bridge_gone) = cri_world("crimissing", "psm", 233).await;
    let mut seen = Vec::new();
    for handler in ["podshim", "runc"] {
        let sconfig = sandbox_config(
            &format!("miss-{handler}"),
            NamespaceMode::Container,
            &logs.to_string_lossy(),
            &format!("/{}/pod-miss-{handler}", env.cgroup_parent),
        );
        let sandbox = run_sandbox(&mut c, &sconfig, handler, &ctd).await;
        for (i, program) in ["/no/such/binary", "nosuchcommand"].into_iter().enumerate() {
            let mut config = container_config(&format!("m{i}"), NamespaceMode::Container, "");
            config.command = vec![program.into()];
            // CRI makes the task (the runtime's Create) at StartContainer.
            let id = c
                .create_container(CreateContainerRequest {
                    pod_sandbox_id: sandbox.clone(),
                    config: Some(config),
                    sandbox_config: Some(sconfig.clone()),
                })
                .await
                .unwrap_or_else(|e| panic!("{handler}: CreateContainer: {e}"))
                .into_inner()
                .container_id;
            let started = c
                .start_container(StartContainerRequest {
                    container_id: id.clone(),
                })
                .await;
            let _ = c
                .remove_container(RemoveContainerRequest { container_id: id })
                .await;
            let err = match started {
                Err(e) => e.message().to_string(),
                Ok(_) => panic!("{handler}: StartContainer of {program} succeeded"),
            };
            assert!(err.contains(program), "{handler}: {err}");
            seen.push(format!("{handler} {program}: {err}"));
        }
        tear_down(&mut c, sandbox, Vec::new()).await;
        if handler == "podshim" {
            assert_eq!(
                env.cgroups_left(),
                Vec::<std::path::PathBuf>::new(),
                "podshim left cgroups"
            );
        }
    }
    eprintln!("{}", seen.join("\n"));
    // runc's pod cgroups are kubelet's to remove.
    env.remove_cgroups_runc_left();
    drop(c);
    ctd.stop();
    env.finish();
}

/// A privileged container (CRI hands it every host device, some of which
/// its /dev has already): it starts, sees the host's devices and has every
/// capability, under podshim as under runc.
#[tokio::test(flavor = "current_thread")]
async fn cri_a_privileged_container_starts_as_under_runc() {
    let (env, ctd, mut c, logs, _bridge_gone) = cri_world("cripriv", "psp", 234).await;
    let host_capeff = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let mut seen = Vec::new();
    for handler in ["podshim", "runc"] {
        let mut sconfig = sandbox_config(
            &format!("priv-{handler}"),
            NamespaceMode::Container,
            &logs.to_string_lossy(),
            &format!("/{}/pod-priv-{handler}", env.cgroup_parent),
        );
        let sctx = sandbox_security(&mut sconfig);
        sctx.privileged = true;
        let sandbox = run_sandbox(&mut c, &sconfig, handler, &ctd).await;
        let mut config = container_config("priv", NamespaceMode::Container, "sleep 1000");
        container_security(&mut config).privileged = true;
        let id = run_container(&mut c, &ctd, &sandbox, &sconfig, config).await;
        let r = exec_sync(
            &mut c,
            &id,
            &["sh", "-c", "test -c /dev/kmsg && echo kmsg; grep CapEff /proc/self/status | cut -f2; test -c /dev/pts/ptmx && echo ptmx"],
            10,
        )
        .await
        .unwrap();
        let out = String::from_utf8_lossy(&r.stdout).into_owned();
        seen.push((handler, out.clone()));
        assert!(out.contains("kmsg"), "{handler}: no host device: {out}");
        assert!(
            out.contains(&host_capeff),
            "{handler}: not every capability: {out}"
        );
        tear_down(&mut c, sandbox, vec![id]).await;
        if handler == "podshim" {
            assert_eq!(
                env.cgroups_left(),
                Vec::<std::path::PathBuf>::new(),
                "podshim left cgroups"
            );
        }
    }
    eprintln!("{seen:?}");
    assert_eq!(seen[0].1, seen[1].1, "podshim and runc differ");
    env.remove_cgroups_runc_left();
    drop(c);
    ctd.stop();
    env.finish();
}

/// The three propagation modes of a volume through CRI, as kubelet asks
/// for them (None, HostToContainer, Bidirectional on one shared host
/// directory), after start: what sees a mount made on the host, and
/// whether a mount made inside the Bidirectional one reaches the host.
async fn propagation_view(
    c: &mut RuntimeServiceClient<Channel>,
    ctd: &Containerd,
    env: &TestEnv,
    handler: &str,
) -> Vec<bool> {
    let vol = env.work.join(format!("vol-{handler}"));
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    std::fs::create_dir_all(vol.join("in")).unwrap();
    let v = vol.display().to_string();
    let sh = |cmd: String| {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &cmd])
                .status()
                .unwrap()
                .success(),
            "{cmd}"
        )
    };
    sh(format!("mount --bind {v} {v} && mount --make-shared {v}"));
    let (mut sconfig, _logs) = sandbox_for(env, &format!("prop-{handler}"));
    sandbox_security(&mut sconfig).privileged = true;
    let sandbox = run_sandbox(c, &sconfig, handler, ctd).await;
    let mut config = container_config("prop", NamespaceMode::Container, "sleep 1000");
    container_security(&mut config).privileged = true;
    for (at, p) in [
        ("/priv", MountPropagation::PropagationPrivate),
        ("/slave", MountPropagation::PropagationHostToContainer),
        ("/shared", MountPropagation::PropagationBidirectional),
    ] {
        config.mounts.push(Mount {
            container_path: at.into(),
            host_path: v.clone(),
            propagation: p as i32,
            ..Default::default()
        });
    }
    let id = run_container(c, ctd, &sandbox, &sconfig, config).await;
    sh(format!("mount -t tmpfs -o size=1k tmpfs {v}/sub"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = exec_sync(
        c,
        &id,
        &[
            "sh",
            "-c",
            "mount -t tmpfs -o size=2k tmpfs /shared/in; cat /proc/self/mountinfo",
        ],
        10,
    )
    .await
    .unwrap();
    let info = String::from_utf8_lossy(&r.stdout).into_owned();
    let has = |at: &str| info.lines().any(|l| l.split(' ').nth(4) == Some(at));
    let host_has = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*format!("{v}/in")));
    let view = vec![
        has("/priv/sub"),
        has("/slave/sub"),
        has("/shared/sub"),
        host_has,
    ];
    tear_down(c, sandbox, vec![id]).await;
    unmount_under(&vol);
    view
}

#[tokio::test(flavor = "current_thread")]
async fn cri_volume_propagation_as_under_runc() {
    let (env, ctd, mut c, _logs, _bridge_gone) = cri_world("criprop", "psr", 235).await;
    let ours = propagation_view(&mut c, &ctd, &env, "podshim").await;
    assert_eq!(
        env.cgroups_left(),
        Vec::<std::path::PathBuf>::new(),
        "podshim left cgroups"
    );
    let runc = propagation_view(&mut c, &ctd, &env, "runc").await;
    env.remove_cgroups_runc_left();
    eprintln!(
        "private sub, slave sub, shared sub, inside on host: podshim {ours:?}, runc {runc:?}"
    );
    assert_eq!(ours, vec![false, true, true, true], "podshim");
    assert_eq!(ours, runc, "podshim and runc differ");
    drop(c);
    ctd.stop();
    env.finish();
}

/// An ephemeral debug container as `kubectl debug --target` makes it (CRI's
/// TARGET pid mode): it joins the target container's pid namespace and
/// sees its processes, under podshim as under runc.
#[tokio::test(flavor = "current_thread")]
async fn cri_a_debug_container_joins_its_targets_pid_namespace() {
    let (env, ctd, mut c, logs, _bridge_gone) = cri_world("critarget", "pst", 236).await;
    let mut seen = Vec::new();
    for handler in ["podshim", "runc"] {
        let sconfig = sandbox_config(
            &format!("target-{handler}"),
            NamespaceMode::Container,
            &logs.to_string_lossy(),
            &format!("/{}/pod-target-{handler}", env.cgroup_parent),
        );
        let sandbox = run_sandbox(&mut c, &sconfig, handler, &ctd).await;
        let mut ids: Vec<String> = Vec::new();
        for name in ["app", "debug"] {
            let script = if name == "app" {
                "exec sleep 4242"
            } else {
                "sleep 1000"
            };
            let mut config = container_config(name, NamespaceMode::Container, script);
            if name == "debug" {
                let ns = container_security(&mut config)
                    .namespace_options
                    .as_mut()
                    .unwrap();
                ns.pid = NamespaceMode::Target as i32;
                ns.target_id = ids[0].clone();
            }
            let id = c
                .create_container(CreateContainerRequest {
                    pod_sandbox_id: sandbox.clone(),
                    config: Some(config),
                    sandbox_config: Some(sconfig.clone()),
                })
                .await
                .unwrap_or_else(|e| panic!("{handler}: CreateContainer {name}: {e}"))
                .into_inner()
                .container_id;
            c.start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{handler}: StartContainer {name}: {e}\n{}", ctd.log()));
            ids.push(id);
        }
        let app = task_pid(&ctd, &ids[0]);
        let debug = task_pid(&ctd, &ids[1]);
        assert_eq!(
            ns_inode(app, "pid"),
            ns_inode(debug, "pid"),
            "{handler}: not the target's pid namespace"
        );
        let r = exec_sync(&mut c, &ids[1], &["cat", "/proc/1/cmdline"], 10)
            .await
            .unwrap();
        let pid1 = String::from_utf8_lossy(&r.stdout).replace('\0', " ");
        assert!(pid1.contains("sleep 4242"), "{handler}: pid 1 is {pid1:?}");
        seen.push(pid1.trim().to_string());
        tear_down(&mut c, sandbox, ids).await;
        if handler == "podshim" {
            assert_eq!(
                env.cgroups_left(),
                Vec::<std::path::PathBuf>::new(),
                "podshim left cgroups"
            );
        }
    }
    assert_eq!(seen[0], seen[1]);
    env.remove_cgroups_runc_left();
    drop(c);
    ctd.stop();
    env.finish();
}

/// podctl on a node: `--namespace k8s.io` reads the pods containerd's CRI
/// runs with podshim (ps, inspect, logs, events), debugs them (exec), and
/// refuses to change them (they are containerd's).
#[tokio::test(flavor = "current_thread")]
async fn podctl_reads_the_pods_containerd_runs() {
    let (env, ctd, mut c, logs, _bridge_gone) = cri_world("crictl", "psc", 237).await;
    let sconfig = sandbox_config(
        "readme",
        NamespaceMode::Container,
        &logs.to_string_lossy(),
        &format!("/{}/pod-readme", env.cgroup_parent),
    );
    let sandbox = run_sandbox(&mut c, &sconfig, "podshim", &ctd).await;
    let id = run_container(
        &mut c,
        &ctd,
        &sandbox,
        &sconfig,
        container_config(
            "app",
            NamespaceMode::Container,
            "echo hello-from-app; sleep 1000",
        ),
    )
    .await;
    let k8s = |args: &[&str]| {
        let mut all = vec!["--namespace", "k8s.io"];
        all.extend_from_slice(args);
        env.podctl(&all)
    };
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let ps = k8s(&["ps"]);
    let ps_text = text(&ps);
    assert!(
        ps.status.success() && ps_text.contains(&sandbox) && ps_text.contains(" app "),
        "{ps_text}"
    );
    let inspect = k8s(&["inspect", &sandbox]);
    assert!(inspect.status.success(), "{}", text(&inspect));
    let log = wait_for(Duration::from_secs(10), "the log", || {
        let o = k8s(&["logs", &sandbox, "app"]);
        let t = text(&o);
        (o.status.success() && t.contains("hello-from-app")).then_some(t)
    });
    assert!(log.contains("hello-from-app"));
    let exec = k8s(&["exec", &sandbox, "app", "--", "echo", "debugging"]);
    assert_eq!(text(&exec).trim(), "debugging");
    let events = k8s(&["events", &sandbox]);
    assert!(text(&events).contains("/tasks/start"), "{}", text(&events));
    for verb in [
        vec!["rm", sandbox.as_str()],
        vec!["kill", sandbox.as_str(), "app"],
    ] {
        let o = k8s(&verb);
        assert!(
            !o.status.success() && text(&o).contains("containerd's"),
            "{verb:?}: {}",
            text(&o)
        );
    }
    tear_down(&mut c, sandbox, vec![id]).await;
    drop(c);
    ctd.stop();
    env.finish();
}

/// A systemd node's CRI pod, as kubelet with `cgroupDriver: systemd` asks
/// for it (a kubepods-style nested slice as the cgroup parent, so
/// containerd passes `slice:cri-containerd:id`), under podshim and under
/// runc with SystemdCgroup, side by side: each container in its own scope
/// unit with its limits as unit properties and cgroup files, read back
/// inside at /sys/fs/cgroup; Update; ContainerStats; a block device node
/// refused; an OOM kill reported as OOMKilled; and every scope gone after.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs systemd as init and cgroup v2 only: make test-node runs it"]
async fn cri_the_systemd_cgroup_driver_as_under_runc() {
    assert!(
        std::path::Path::new("/run/systemd/system").is_dir() && cgroup_v2_only(),
        "this test needs a systemd node with cgroup v2 only (make test-node)"
    );
    let (env, ctd, mut c, logs, _bridge_gone) = cri_world("crisd", "psd", 236).await;
    let top = format!("podshimtest{}", std::process::id());
    let mut seen = Vec::new();
    for handler in ["podshim", "runc-systemd"] {
        let short = if handler == "podshim" { "a" } else { "b" };
        let slice = format!("{top}-besteffort-pod{short}.slice");
        let sconfig = sandbox_config(
            &format!("sd-{short}"),
            NamespaceMode::Container,
            &logs.to_string_lossy(),
            &slice,
        );
        let sandbox = run_sandbox(&mut c, &sconfig, handler, &ctd).await;
        let mut config = container_config("app", NamespaceMode::Container, "sleep 1000");
        config.linux.as_mut().unwrap().resources = Some(LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            ..Default::default()
        });
        let id = c
            .create_container(CreateContainerRequest {
                pod_sandbox_id: sandbox.clone(),
                config: Some(config),
                sandbox_config: Some(sconfig.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("{handler}: CreateContainer: {e}\n{}", ctd.log()))
            .into_inner()
            .container_id;
        c.start_container(StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("{handler}: StartContainer: {e}\n{}", ctd.log()));
        let unit = format!("cri-containerd-{id}.scope");
        let dir = format!(
            "/{top}.slice/{top}-besteffort.slice/{slice}/{unit}",
            slice = slice
        );
        assert_eq!(
            unit_property(&unit, "ActiveState"),
            "active",
            "{handler}: {unit}"
        );
        assert_eq!(unit_property(&unit, "Slice"), slice, "{handler}");
        let pid = task_pid(&ctd, &id);
        let mine = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert_eq!(mine.trim(), format!("0::{dir}"), "{handler}");
        let file = |f: &str| {
            std::fs::read_to_string(format!("/sys/fs/cgroup{dir}/{f}"))
                .unwrap_or_else(|e| panic!("{handler}: {dir}/{f}: {e}"))
                .trim()
                .to_string()
        };
        let r = exec_sync(
            &mut c,
            &id,
            &[
                "sh",
                "-c",
                "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max",
            ],
            10,
        )
        .await
        .unwrap();
        let inside = String::from_utf8_lossy(&r.stdout)
            .trim()
            .replace('\n', " | ");
        let mut outcome = vec![
            format!("memory.max {}", file("memory.max")),
            format!("cpu.max {}", file("cpu.max")),
            format!("MemoryMax {}", unit_property(&unit, "MemoryMax")),
            format!("inside {inside}"),
        ];
        c.update_container_resources(UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: 96 << 20,
                cpu_period: 100_000,
                cpu_quota: 50_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{handler}: UpdateContainerResources: {e}"));
        outcome.push(format!("updated memory.max {}", file("memory.max")));
        outcome.push(format!(
            "updated MemoryMax {}",
            unit_property(&unit, "MemoryMax")
        ));
        let stats = c
            .container_stats(ContainerStatsRequest {
                container_id: id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{handler}: ContainerStats: {e}"))
            .into_inner()
            .stats
            .unwrap();
        let mem = stats
            .memory
            .and_then(|m| m.working_set_bytes)
            .map(|v| v.value)
            .unwrap_or(0);
        outcome.push(format!("stats memory > 0: {}", mem > 0));
        // Pause and resume (ctr: CRI has none) freeze the scope's cgroup.
        let frozen = || {
            file("cgroup.events")
                .lines()
                .find(|l| l.starts_with("frozen "))
                .unwrap_or("")
                .to_string()
        };
        for verb in ["pause", "resume"] {
            let out = ctd.ctr(&["-n", "k8s.io", "task", verb, &id]);
            assert!(out.status.success(), "{handler}: ctr task {verb}: {out:?}");
            outcome.push(format!("{verb}: {}", frozen()));
        }
        let shim = if handler == "podshim" {
            "podshim"
        } else {
            "containerd-shim-runc-v2"
        };
        eprintln!(
            "{handler}: shim PSS {:?} kB (systemd driver)",
            shim_pss_kib(shim, &sandbox)
        );
        // An attacker with CAP_MKNOD makes a node of a host disk and opens
        // it; /dev/null still works.
        let r = exec_sync(
            &mut c,
            &id,
            &[
                "sh",
                "-c",
                "mknod /dev/d b 7 0; head -c1 /dev/d; echo x > /dev/null && echo null-ok",
            ],
            10,
        )
        .await
        .unwrap();
        outcome.push(format!(
            "disk: {} | {}",
            String::from_utf8_lossy(&r.stdout).trim(),
            String::from_utf8_lossy(&r.stderr)
                .trim()
                .replace("head: /dev/d: ", "")
        ));
        // A container over its limit is OOM-killed and says so.
        let mut hog = container_config("hog", NamespaceMode::Container, "podprobe alloc 64 --hold");
        hog.linux.as_mut().unwrap().resources = Some(LinuxContainerResources {
            memory_limit_in_bytes: 16 << 20,
            ..Default::default()
        });
        hog.log_path = "hog.log".into();
        let hog_id = run_container(&mut c, &ctd, &sandbox, &sconfig, hog).await;
        let mut reason = String::new();
        for _ in 0..200 {
            let st = c
                .container_status(ContainerStatusRequest {
                    container_id: hog_id.clone(),
                    verbose: false,
                })
                .await
                .unwrap()
                .into_inner()
                .status
                .unwrap();
            if st.state == ContainerState::ContainerExited as i32 {
                reason = st.reason;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        outcome.push(format!("hog: {reason}"));
        tear_down(&mut c, sandbox, vec![id.clone(), hog_id.clone()]).await;
        for gone in [&id, &hog_id] {
            assert_eq!(
                units_named(gone),
                Vec::<String>::new(),
                "{handler}: a scope is left"
            );
        }
        seen.push((handler, outcome));
    }
    eprintln!("{seen:#?}");
    let podshim = &seen[0].1;
    assert_eq!(podshim[0], format!("memory.max {}", 64u64 << 20));
    assert_eq!(podshim[1], "cpu.max 50000 100000");
    assert_eq!(podshim[3], format!("inside {} | 50000 100000", 64u64 << 20));
    assert_eq!(podshim[4], format!("updated memory.max {}", 96u64 << 20));
    assert_eq!(podshim[7], "pause: frozen 1");
    assert_eq!(podshim[8], "resume: frozen 0");
    assert!(podshim[9].contains("Operation not permitted") && podshim[9].contains("null-ok"));
    assert_eq!(podshim[10], "hog: OOMKilled");
    assert_eq!(seen[0].1[..10], seen[1].1[..10], "podshim and runc differ");
    // containerd's runc shim reads the OOM from memory.events beside the
    // exit, and under the node VM's emulation the exit sometimes wins: its
    // reason is then Error (seen on Debian 12, Dec 2). podshim's is
    // OOMKilled every time (above).
    assert!(
        ["hog: OOMKilled", "hog: Error"].contains(&seen[1].1[10].as_str()),
        "runc: {}",
        seen[1].1[10]
    );
    // The pod slices are kubelet's to remove; here the test's.
    let _ = std::process::Command::new("systemctl")
        .args(["stop", &format!("{top}.slice")])
        .status();
    assert_eq!(units_named(&top), Vec::<String>::new(), "slices left");
    drop(c);
    ctd.stop();
    env.finish();
}
