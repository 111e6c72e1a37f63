//! `podctl reopen-log POD CONTAINER`: the shim's ReopenLog, after a
//! rotation done outside the shim.

use std::process::ExitCode;

use anyhow::Context;

use crate::Ctx;

/// Make the shim reopen a container's log file (after an outside rotation).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("reopen-log")?;
    let (pod, paths) = c.pod(&a.pod)?;
    let id = c.task(&pod, &a.container)?;
    let s = crate::ctx::connect(&paths)?;
    s.reopen_log(id.as_str())
        .with_context(|| format!("reopen the log of {} in pod {pod}", a.container))?;
    Ok(ExitCode::SUCCESS)
}
