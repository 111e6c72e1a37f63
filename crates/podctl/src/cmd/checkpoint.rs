//! `podctl checkpoint POD CONTAINER DIR`: a CRIU checkpoint of a running
//! container into DIR, through the shim's Checkpoint (as `ctr task
//! checkpoint --image-path` asks for one). The container runs on unless
//! `--exit`; a DIR podctl made is removed again when the dump fails.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use containerd_shim_protos::shim::oci::CheckpointOptions;

use crate::Ctx;

/// Checkpoint a running container with CRIU.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// The directory for the image (made when missing).
    pub dir: PathBuf,
    /// Stop the container once it is dumped.
    #[arg(long)]
    pub exit: bool,
    /// Dump established TCP connections.
    #[arg(long)]
    pub tcp_established: bool,
    /// Dump connections to unix sockets outside the container.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Dump file locks.
    #[arg(long)]
    pub file_locks: bool,
    /// CRIU's work directory (its log stays there).
    #[arg(long)]
    pub work_path: Option<PathBuf>,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("checkpoint")?;
    let (pod, paths) = c.pod(&a.pod)?;
    let id = c.task(&pod, &a.container)?;
    let dir = std::path::absolute(&a.dir).with_context(|| a.dir.display().to_string())?;
    let made = !dir.exists();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let work = a.work_path.as_ref().map(std::path::absolute).transpose()?;
    let options = CheckpointOptions {
        exit: a.exit,
        open_tcp: a.tcp_established,
        external_unix_sockets: a.ext_unix_sk,
        file_locks: a.file_locks,
        work_path: work
            .map(|w| w.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Default::default()
    };
    let s = crate::ctx::connect(&paths)?;
    if let Err(e) = s.checkpoint(id.as_str(), &dir, &options) {
        if made {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return Err(e).with_context(|| format!("checkpoint {} in pod {pod}", a.container));
    }
    Ok(ExitCode::SUCCESS)
}
