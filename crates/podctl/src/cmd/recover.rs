//! `podctl recover POD`: after the pod's shim died, starts it again as
//! containerd would; the new shim takes the pod over from its state
//! directory (see podshim's pod recovery).

use std::process::ExitCode;

use anyhow::Context;

use crate::bundles::{bundles_dir, SANDBOX_BUNDLE};
use crate::shim::{self, Shim};
use crate::Ctx;

/// Start the pod's shim again after it died.
///
/// The new shim takes the pod over; exits while it was gone are recorded
/// as 255.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("recover")?;
    let (pod, paths) = c.pod(&a.pod)?;
    let record: podshim_types::PodRecord = podshim_state::read_json(&paths.record())?;
    if !record.shim.has_exited() {
        println!("pod {pod}: its shim (pid {}) is running", record.shim.pid);
        return Ok(ExitCode::SUCCESS);
    }
    let address = shim::start(c, &pod, &bundles_dir(&paths).join(SANDBOX_BUNDLE))?;
    let s = Shim::connect(&address)?;
    s.state(pod.as_str())
        .with_context(|| format!("the new shim of pod {pod} does not answer"))?;
    println!("pod {pod}: shim started again at {address}");
    Ok(ExitCode::SUCCESS)
}
