//! `podshim start`: find the shim of this task's pod or start one, and
//! print its address, as containerd's shim v2 expects. Nothing else goes to
//! stdout or stderr on success.
//!
//! The pod is the group key (`io.kubernetes.cri.sandbox-id`, the runc
//! group label, or the task id). The listening socket is bound here, before
//! the daemon is spawned, so the address works as soon as it is printed.

use std::fs::{self, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use podshim_state::StateRoot;
use podshim_sys::spawn::{ChildStdio, Reexec};
use podshim_types::Id;

use crate::bundle::Bundle;
use crate::flags::Flags;

/// Env var carrying the pod id to the daemon.
pub const POD_ENV: &str = "PODSHIM_POD";

pub fn run(flags: &Flags) -> anyhow::Result<()> {
    let bundle_dir = match &flags.bundle {
        Some(b) => PathBuf::from(b),
        None => std::env::current_dir().context("current directory")?,
    };
    // A bundle we cannot read still gets a shim: Create reports the error.
    let group = Bundle::load(&bundle_dir)
        .map(|b| b.group_key(flags.id.as_str()))
        .unwrap_or_else(|_| flags.id.to_string());
    let pod = Id::new(&group).with_context(|| format!("pod id (group key) {group:?}"))?;
    let root = StateRoot::from_env();
    let paths = root.pod(&flags.namespace, &pod);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(paths.dir())
        .with_context(|| format!("create {}", paths.dir().display()))?;
    let sock = paths.socket()?;
    if let Some(parent) = sock.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(parent)
            .with_context(|| format!("create {}", parent.display()))?;
    }
    let address = format!("unix://{}", sock.display());

    // One start at a time per pod, so two never both spawn a daemon.
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.start_lock())
        .with_context(|| format!("open {}", paths.start_lock().display()))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", paths.start_lock().display()))?;

    // containerd 1.6/1.7 reconnect after a restart through the bundle's
    // `address` file, which the shim writes (as containerd's own do).
    // Whole or absent (temp file, rename), but not fsync'd: it is on the
    // start path and means nothing once the machine has gone down.
    let write_address = || {
        let path = bundle_dir.join("address");
        let tmp = bundle_dir.join(format!(".address.tmp.{}", std::process::id()));
        fs::write(&tmp, address.as_bytes())
            .and_then(|()| fs::rename(&tmp, &path))
            .with_context(|| format!("write {}", path.display()))
    };
    if UnixStream::connect(&sock).is_ok() {
        write_address()?;
        println!("{address}");
        return Ok(());
    }
    let _ = fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).with_context(|| format!("bind {}", sock.display()))?;
    let listener = OwnedFd::from(listener);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.shim_log())
        .with_context(|| format!("open {}", paths.shim_log().display()))?;
    let dir = paths.dir().to_string_lossy().into_owned();
    // The daemon, and every child it re-executes, runs from a read-only
    // view of this binary that no container can write through.
    let sealed = podshim_sys::exe::sealed_self().context("seal the shim binary")?;
    let exe = podshim_sys::exe::exec_path(&sealed);
    let spawned = podshim_sys::vspawn::spawn_own(Reexec {
        exe: &exe,
        arg0: "podshim",
        args: flags.to_args("serve"),
        stdio: ChildStdio {
            stdin: None,
            stdout: None,
            stderr: Some(OwnedFd::from(log)),
        },
        fds: vec![(std::os::fd::AsRawFd::as_raw_fd(&listener.as_fd()), 3)],
        setsid: true,
        env: vec![(POD_ENV.to_string(), pod.to_string())],
        env_clear: false,
        cwd: Some(&dir),
    });
    if let Err(e) = spawned {
        let _ = fs::remove_file(&sock);
        return Err(e).context("start the shim daemon");
    }
    write_address()?;
    println!("{address}");
    Ok(())
}
