//! Runtime handlers as a node's containerd config writes them for podshim:
//! an options table (CRI sends it as runtimeoptions.v1, inline or as a
//! ConfigPath file) whose IoUid/IoGid and NoNewKeyring reach the shim, and
//! a handler of runc's type whose runtime_path is podshim, which is how
//! containerd 2.x asks podshim (`-info`) what it supports and turns on
//! Kubernetes' recursiveReadOnly. Each beside runc's handler.

use k8s_cri::v1::*;
use podshim_tests::containerd::Containerd;
use podshim_tests::cri::*;
use podshim_tests::*;
use serde_json::Value;

/// What a uid-1000 container of `handler` shows.
#[derive(Debug)]
struct Seen {
    /// It could reopen /dev/stdout.
    reopened: bool,
    /// Its stdout's owner, `uid:gid`.
    stdout_owner: String,
    session_keyring: String,
    id: String,
}

/// Runs a uid-1000 container under `handler`; what it saw.
async fn io_and_keyring(
    c: &mut k8s_cri::v1::runtime_service_client::RuntimeServiceClient<tonic::transport::Channel>,
    ctd: &Containerd,
    env: &TestEnv,
    handler: &str,
) -> Seen {
    let (sconfig, logs) = sandbox_for(env, &format!("opt-{handler}"));
    let sandbox = run_sandbox(c, &sconfig, handler, ctd).await;
    let mut config = container_config(
        "probe",
        NamespaceMode::Container,
        "(echo reopened > /dev/stdout) 2>/dev/null || echo refused; \
         echo owner $(stat -L -c %u:%g /proc/$$/fd/1); podprobe view; sleep 1000",
    );
    container_security(&mut config).run_as_user = Some(Int64Value { value: 1000 });
    let id = run_container(c, ctd, &sandbox, &sconfig, config).await;
    let log = logs.join("probe.log");
    let view: Value = serde_json::from_str(&log_line(&log, "session_keyring")).unwrap();
    let reopened = log_line(&log, "re").trim() == "reopened";
    let owner = log_line(&log, "owner ");
    // An exec joins its container's session keyring.
    let r = exec_sync(c, &id, &["podprobe", "view"], 10).await.unwrap();
    let exec_view: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        exec_view["session_keyring"], view["session_keyring"],
        "{handler}: the exec's session keyring"
    );
    tear_down(c, sandbox, vec![id.clone()]).await;
    let seen = Seen {
        reopened,
        stdout_owner: owner.trim().trim_start_matches("owner ").to_string(),
        session_keyring: view["session_keyring"].as_str().unwrap_or("").to_string(),
        id,
    };
    eprintln!("{handler}: {seen:?}");
    seen
}

#[tokio::test(flavor = "current_thread")]
async fn cri_handler_options_reach_the_shim_as_runcs_do() {
    let (env, ctd, mut c, _logs, _bridge_gone) = cri_world("criopts", "pso", 238).await;
    let version = ctd.version();
    // containerd 1.6's runtimeoptions.v1 has no ConfigBody: an inline table
    // does not reach any runtime but runc's there (its ConfigPath does).
    let mut with_options = vec!["podshim-file"];
    if version >= (1, 7) {
        with_options.push("podshim-toml");
    } else {
        eprintln!("containerd {version:?}: no inline options table (ConfigBody) to try");
    }
    // IoUid/IoGid 1000 own the stdout FIFO; NoNewKeyring leaves the
    // container without a session keyring of its own.
    for handler in with_options {
        let s = io_and_keyring(&mut c, &ctd, &env, handler).await;
        assert!(s.reopened, "{handler}: {s:?}");
        assert_eq!(s.stdout_owner, "1000:1000", "{handler}: {s:?}");
        assert_ne!(s.session_keyring, format!("_ses.{}", s.id), "{handler}");
    }
    // Without options, as runc does: the process user gets its stdio (the
    // uid only) and a session keyring named after the container.
    for handler in ["podshim", "runc"] {
        let s = io_and_keyring(&mut c, &ctd, &env, handler).await;
        assert!(s.reopened, "{handler}: {s:?}");
        assert_eq!(s.stdout_owner, "1000:0", "{handler}: {s:?}");
        assert_eq!(s.session_keyring, format!("_ses.{}", s.id), "{handler}");
    }
    env.remove_cgroups_runc_left();
    drop(c);
    ctd.stop();
    env.finish();
}

/// Under `handler`, whether writes are refused at the top of a
/// recursive read-only volume and in a submount it has.
async fn rro_view(
    c: &mut k8s_cri::v1::runtime_service_client::RuntimeServiceClient<tonic::transport::Channel>,
    ctd: &Containerd,
    env: &TestEnv,
    handler: &str,
) -> String {
    let vol = env.work.join(format!("rro-{handler}"));
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    let sub = vol.join("sub");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(ok.success(), "mount a tmpfs at {}", sub.display());
    let (sconfig, logs) = sandbox_for(env, &format!("rro-{handler}"));
    let sandbox = run_sandbox(c, &sconfig, handler, ctd).await;
    let mut config = container_config(
        "rro",
        NamespaceMode::Container,
        "for f in /rro/top /rro/sub/x; do touch $f 2>/dev/null && echo \"$f written\" || echo \"$f refused\"; done | tr '\\n' ' '; echo; sleep 1000",
    );
    config.mounts.push(Mount {
        container_path: "/rro".into(),
        host_path: vol.display().to_string(),
        readonly: true,
        recursive_read_only: true,
        propagation: MountPropagation::PropagationPrivate as i32,
        ..Default::default()
    });
    let id = run_container(c, ctd, &sandbox, &sconfig, config).await;
    // The pod's shim is podshim (its state), not the runc shim.
    let ours = env.root.join("k8s.io").join(&sandbox).is_dir();
    assert_eq!(
        ours,
        handler.starts_with("podshim"),
        "{handler}: whose shim"
    );
    let seen = log_line(&logs.join("rro.log"), "/rro/sub/x");
    tear_down(c, sandbox, vec![id]).await;
    unmount_under(&vol);
    seen.trim().to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn cri_recursive_read_only_through_a_runc_typed_handler() {
    let (env, ctd, mut c, _logs, _bridge_gone) = cri_world("crirro", "psq", 239).await;
    let version = ctd.version();
    if version < (2, 0) {
        // containerd 1.x has no recursiveReadOnly in its CRI, and starts a
        // runc-typed pod's shim from containerd-shim-runc-v2 whatever its
        // runtime_path says.
        eprintln!("containerd {version:?}: no recursiveReadOnly, nothing to try");
    } else {
        // What kubelet reads to allow recursiveReadOnly on a node.
        let status = c
            .status(StatusRequest { verbose: false })
            .await
            .expect("CRI Status")
            .into_inner();
        let rro = |name: &str| {
            status
                .runtime_handlers
                .iter()
                .find(|h| h.name == name)
                .and_then(|h| h.features.as_ref())
                .is_some_and(|f| f.recursive_read_only_mounts)
        };
        eprintln!(
            "recursive read-only mounts: podshim-runc-type {}, runc {}, podshim {}",
            rro("podshim-runc-type"),
            rro("runc"),
            rro("podshim")
        );
        assert!(rro("podshim-runc-type"), "{:?}", status.runtime_handlers);
        assert!(rro("runc"));
        let ours = rro_view(&mut c, &ctd, &env, "podshim-runc-type").await;
        let runc = rro_view(&mut c, &ctd, &env, "runc").await;
        eprintln!("podshim: {ours}; runc: {runc}");
        assert_eq!(ours, "/rro/top refused /rro/sub/x refused");
        assert_eq!(ours, runc);
    }
    env.remove_cgroups_runc_left();
    drop(c);
    ctd.stop();
    env.finish();
}
