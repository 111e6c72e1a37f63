//! `podctl kill POD CONTAINER [--signal S]`: a signal to a container's
//! pid 1, through the shim's Kill.

use std::process::ExitCode;

use anyhow::Context;

use crate::Ctx;

/// Signal a container.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// The signal, by name (TERM, SIGKILL) or number.
    #[arg(short, long, default_value = "TERM", value_parser = crate::values::signal)]
    pub signal: i32,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    c.only_own("kill")?;
    let (pod, paths) = c.pod(&a.pod)?;
    let id = c.task(&pod, &a.container)?;
    let s = crate::ctx::connect(&paths)?;
    s.kill(id.as_str(), a.signal as u32)
        .with_context(|| format!("kill {} in pod {pod}", a.container))?;
    Ok(ExitCode::SUCCESS)
}
