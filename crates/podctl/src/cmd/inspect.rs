//! `podctl inspect POD`: the pod's and its containers' records, its network
//! and its state directory, as one JSON document.

use std::process::ExitCode;

use podshim_state::read_json;
use podshim_types::PodRecord;

use crate::Ctx;

/// Pod and container records as JSON.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let (_, paths) = c.pod(&a.pod)?;
    let record: PodRecord = read_json(&paths.record())?;
    let v = serde_json::json!({
        "pod": record,
        "containers": crate::ctx::containers(&paths),
        "network": crate::cni::stored(&paths),
        "state_dir": paths.dir(),
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}
