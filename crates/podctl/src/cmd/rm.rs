//! `podctl rm POD [--timeout D]`: stop what runs and delete everything of
//! the pod (see [`crate::remove`]).

use std::process::ExitCode;
use std::time::Duration;

use podshim_types::Id;

use crate::Ctx;

/// Stop what runs and delete everything of the pod.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// How long a container gets after TERM before KILL: seconds (0.5) or
    /// a duration (1m); 0 sends KILL at once.
    #[arg(long, default_value = "10", value_parser = crate::values::duration)]
    pub timeout: Duration,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("rm")?;
    let pod = Id::new(&a.pod)?;
    crate::remove::remove_pod(c, &pod, a.timeout)?;
    Ok(ExitCode::SUCCESS)
}
