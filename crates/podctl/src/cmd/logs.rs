//! `podctl logs POD CONTAINER`: a container's stdout and stderr from its
//! CRI log (rotated files too), oldest first; `--tail`, `--since`,
//! `--timestamps` and `--follow` as kubectl's logs takes them.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context};

use crate::crilog::{self, Options};
use crate::Ctx;

/// A container's stdout/stderr (its CRI log, rotated files too).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pod's id.
    pub pod: String,
    /// The container's name in the pod.
    pub container: String,
    /// Keep printing what the container writes, until it has exited.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines since an RFC 3339 time or a duration ago (5m, 1h30m).
    #[arg(long, value_name = "WHEN", value_parser = crate::values::since)]
    pub since: Option<SystemTime>,
    /// Put each line's time before it.
    #[arg(long)]
    pub timestamps: bool,
}

pub fn run(c: &Ctx, a: Args) -> anyhow::Result<ExitCode> {
    let (pod, paths) = c.pod(&a.pod)?;
    let id = c.task(&pod, &a.container)?;
    let mut log = paths.container_log(&id);
    if !log.exists() {
        // A pod containerd's CRI made: containerd writes the log, where
        // kubelet asked for it.
        if let Some(cri) = crilog::cri_log_of(&paths, &a.container) {
            log = cri;
        }
    }
    let list = crilog::files(&log);
    if list.is_empty() && !a.follow {
        bail!(
            "no log for container {} of pod {pod} ({})",
            a.container,
            log.display()
        );
    }
    let o = Options {
        timestamps: a.timestamps,
        since: a.since,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut at_start = true;
    // Everything up to now; with --tail only the last N lines of it.
    let mut lines: Vec<String> = Vec::new();
    for f in &list {
        let r = BufReader::new(File::open(f).with_context(|| format!("open {}", f.display()))?);
        for l in r.lines() {
            lines.push(l?);
            if let Some(n) = a.tail {
                // Bounded memory for a long log: far more than N is kept.
                if lines.len() > n * 4 + 1024 {
                    lines.drain(..lines.len() - n);
                }
            }
        }
    }
    if let Some(n) = a.tail {
        lines.drain(..tail_start(&lines, n));
    }
    for l in &lines {
        if let Some(e) = crilog::parse(l) {
            crilog::show(&mut out, &e, &o, &mut at_start)?;
        }
    }
    out.flush()?;
    if a.follow {
        crilog::follow(
            &log,
            &paths.container_record(&id),
            &o,
            &mut out,
            &mut at_start,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the last `n` whole lines begin: whole lines (F) are counted, the
/// partial parts (P) before each are kept with it.
fn tail_start(lines: &[String], n: usize) -> usize {
    let mut full = 0;
    let mut cut = lines.len();
    for (i, l) in lines.iter().enumerate().rev() {
        if crilog::parse(l).is_some_and(|e| e.full) {
            full += 1;
            if full > n {
                break;
            }
        }
        cut = i;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_whole_lines_with_their_parts() {
        let t = "2026-11-22T18:00:00Z";
        let lines: Vec<String> = [
            format!("{t} stdout F one"),
            format!("{t} stdout P tw"),
            format!("{t} stdout F o"),
            format!("{t} stdout F three"),
        ]
        .into();
        assert_eq!(tail_start(&lines, 0), 4);
        assert_eq!(tail_start(&lines, 1), 3);
        assert_eq!(tail_start(&lines, 2), 1);
        assert_eq!(tail_start(&lines, 9), 0);
    }
}
