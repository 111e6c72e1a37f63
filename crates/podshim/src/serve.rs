//! `podshim serve`: the daemon `start` spawns. One per pod, a
//! current-thread tokio runtime, the ttrpc Task service on the socket it
//! inherited as fd 3. It exits when Shutdown finds no task left, removing
//! the pod's state directory on the way out.

use std::sync::Arc;

use anyhow::Context;
use containerd_shim_protos::shim_async::create_task;
use podshim_state::{time::now_rfc3339, EventLog, StateRoot};
use podshim_types::{Id, PodRecord, PodStatus};
use ttrpc::asynchronous::Server;

use crate::flags::Flags;
use crate::pod::Pod;
use crate::publish::Publisher;
use crate::service::TaskService;

pub fn run(flags: &Flags) -> anyhow::Result<()> {
    let pod_id =
        std::env::var(crate::start::POD_ENV).context("serve is started by `podshim start`")?;
    let pod_id = Id::new(&pod_id)?;
    let listener = podshim_sys::fds::take_inherited(3).context("listening socket on fd 3")?;
    podshim_sys::proc::become_subreaper()?;
    // A descriptor per connection, pipe and pidfd: as many as allowed
    // (children get the old limit back).
    let nofile = podshim_sys::spawn::raise_nofile_limit()?;
    // -debug or PODSHIM_LOG=debug|trace|info|warn|error.
    let level = std::env::var("PODSHIM_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(if flags.debug {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        });
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        // On a full disk a log line is lost, never the task writing it
        // (the default reports the failure with eprintln!, which panics).
        .log_internal_errors(false)
        .init();
    tracing::debug!(nofile, "descriptor limit");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(serve(flags, pod_id, listener))
}

async fn serve(flags: &Flags, pod_id: Id, listener: std::os::fd::OwnedFd) -> anyhow::Result<()> {
    let root = StateRoot::from_env();
    let paths = root.pod(&flags.namespace, &pod_id);
    let log = EventLog::open(&paths.events())?;
    let publisher = Publisher::new(pod_id.to_string(), flags.namespace.to_string(), log);
    let record = PodRecord {
        id: pod_id.to_string(),
        namespace: flags.namespace.to_string(),
        status: PodStatus::Creating,
        shim: podshim_sys::proc::stamp(std::process::id() as i32)?,
        pause: None,
        hostname: None,
        bundle: String::new(),
        namespaces: Default::default(),
        created_at: now_rfc3339(),
        stopped_at: None,
        stop_reason: None,
        cgroup: None,
    };
    // A record whose shim is gone: this shim takes the pod over.
    let previous = podshim_state::read_json::<PodRecord>(&paths.record())
        .ok()
        .filter(|r| r.shim.has_exited());
    let pod = Pod::new(
        flags.namespace.clone(),
        pod_id.clone(),
        paths.clone(),
        record,
        publisher,
    );
    match previous {
        Some(old) => {
            tracing::warn!(pod = %pod_id, old_shim = old.shim.pid, "the pod's shim died: recovering");
            pod.recover(old);
        }
        None => pod.write_record()?,
    }
    crate::child::spawn_orphan_reaper()?;

    let listener = std::os::unix::net::UnixListener::from(listener);
    let listener = crate::listen::watched(listener).context("ttrpc listener")?;
    let mut server = Server::new()
        .add_listener(listener)
        .register_service(create_task(Arc::new(TaskService { pod: pod.clone() })));
    server.start().await.context("start ttrpc server")?;
    tracing::info!(pod = %pod_id, "shim serving");

    pod.shutdown.notified().await;
    tracing::info!(pod = %pod_id, "shutting down: no task left");
    // Let the Shutdown reply leave, stop accepting, and go: open
    // connections end with the process (containerd takes a closed
    // connection after Shutdown as success). The reply is queued by the
    // handler's task as it returns and written by its connection's writer
    // task: on this one-thread runtime, each yield runs every task woken
    // before it, so a few run both (a 2 ms sleep here cost 3 ms of every
    // pod's teardown, the timer's granularity).
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    server.stop_listen().await;
    if let Ok(sock) = paths.socket() {
        let _ = std::fs::remove_file(sock);
    }
    if let Err(e) = std::fs::remove_dir_all(paths.dir()) {
        tracing::error!(pod = %pod_id, "remove {}: {e}", paths.dir().display());
    }
    Ok(())
}
