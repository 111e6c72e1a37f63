//! `podctl events POD [--follow]`: the pod's event log, whole lines only.
//! Following, it keeps the log open and prints lines as they are appended;
//! when the pod is removed it prints what the open file still holds (the
//! last events) and stops.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::Ctx;

/// The pod's event log.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// Keep printing events as they come, until the pod is removed.
    #[arg(short, long)]
    pub follow: bool,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let (_, paths) = c.pod(&a.pod)?;
    let path = paths.events();
    let file = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut pending = String::new();
    let mut out = std::io::stdout().lock();
    loop {
        let n = reader.read_line(&mut pending)?;
        if n > 0 && pending.ends_with('\n') {
            // Only whole, well-formed lines: a torn last line is skipped.
            if serde_json::from_str::<serde_json::Value>(pending.trim_end()).is_ok() {
                out.write_all(pending.as_bytes())?;
            }
            pending.clear();
            continue;
        }
        if n > 0 {
            continue;
        }
        out.flush()?;
        if !a.follow {
            return Ok(ExitCode::SUCCESS);
        }
        if !paths.dir().exists() {
            // Removed: the open file still holds everything written.
            while reader.read_line(&mut pending)? > 0 {
                if pending.ends_with('\n') {
                    out.write_all(pending.as_bytes())?;
                    pending.clear();
                }
            }
            out.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
