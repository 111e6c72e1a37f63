//! `podctl restore POD CONTAINER DIR`: the container brought back from a
//! checkpoint image (`podctl checkpoint`), through the shim's Create with
//! a checkpoint and Start, as containerd's `ctr run --checkpoint` does. A
//! stopped container of that name is deleted first (its log with it, as
//! any delete); the restored one logs to the same CRI log path.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use podshim_types::PodManifest;

use crate::bundles::{bundles_dir, cri_log_uri, MANIFEST_COPY};
use crate::Ctx;

/// Restore a container from a CRIU checkpoint.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// The checkpoint image directory.
    pub dir: PathBuf,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("restore")?;
    let (pod, paths) = c.pod(&a.pod)?;
    let id = c.task(&pod, &a.container)?;
    let image = std::path::absolute(&a.dir).with_context(|| a.dir.display().to_string())?;
    let manifest_path = bundles_dir(&paths).join(MANIFEST_COPY);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("read {}", manifest_path.display()))?;
    let m = PodManifest::parse(&text).with_context(|| manifest_path.display().to_string())?;
    let Some(entry) = m.containers.iter().find(|e| e.name.as_str() == a.container) else {
        bail!("pod {pod} has no container {}", a.container);
    };
    let s = crate::ctx::connect(&paths)?;
    match s.state(id.as_str()) {
        Ok(st)
            if st.status.enum_value_or_default()
                == containerd_shim_protos::api::Status::STOPPED =>
        {
            s.delete(id.as_str())
                .with_context(|| format!("delete the stopped {}", a.container))?;
        }
        Ok(_) => bail!(
            "container {} of pod {pod} is running: `podctl checkpoint --exit` or kill it first",
            a.container
        ),
        Err(e) if crate::shim::is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let log = cri_log_uri(&paths, &id, entry);
    let bundle = bundles_dir(&paths).join(entry.name.as_str());
    s.restore(id.as_str(), &bundle, ["", &log, &log], &image)
        .with_context(|| format!("restore {} from {}", a.container, image.display()))?;
    s.start(id.as_str())
        .with_context(|| format!("start the restored {}", a.container))?;
    Ok(ExitCode::SUCCESS)
}
