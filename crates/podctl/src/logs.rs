//! `podctl logs` and `podctl reopen-log`: a container's CRI log as the
//! shim writes it (`<time> <stream> <P|F> <text>`, rotated to `log.1`,
//! `log.2`, ...), read oldest first, partial lines joined, and followed
//! across rotation until the container has exited.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use podshim_state::read_json;
use podshim_types::{ContainerRecord, Id, TaskStatus};

use crate::args::Args;
use crate::Ctx;

/// One line of a CRI log.
#[derive(Debug, PartialEq)]
pub struct Entry<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub full: bool,
    pub text: &'a str,
}

/// Parses `<time> <stream> <P|F> <text>`.
pub fn parse(line: &str) -> Option<Entry<'_>> {
    let mut it = line.splitn(4, ' ');
    let (time, stream, tag) = (it.next()?, it.next()?, it.next()?);
    let text = it.next().unwrap_or("");
    let full = match tag {
        "F" => true,
        "P" => false,
        _ => return None,
    };
    Some(Entry {
        time,
        stream,
        full,
        text,
    })
}

struct Options {
    timestamps: bool,
    since: Option<std::time::SystemTime>,
}

/// Prints one entry as `podctl logs` shows it.
fn show(
    out: &mut impl Write,
    e: &Entry<'_>,
    o: &Options,
    at_line_start: &mut bool,
) -> std::io::Result<()> {
    // An entry whose time cannot be read is shown rather than lost.
    let at = podshim_state::time::parse_rfc3339(e.time);
    if o.since.zip(at).is_some_and(|(since, at)| at < since) {
        return Ok(());
    }
    if o.timestamps && *at_line_start {
        write!(out, "{} ", e.time)?;
    }
    out.write_all(e.text.as_bytes())?;
    if e.full {
        out.write_all(b"\n")?;
    }
    *at_line_start = e.full;
    Ok(())
}

/// The log files of a container, oldest first.
fn files(log: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(dir) = log.parent() {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = f
                .strip_prefix(&format!("{name}."))
                .and_then(|n| n.parse().ok())
            {
                rotated.push((n, e.path()));
            }
        }
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if log.exists() {
        out.push(log.to_path_buf());
    }
    out
}

pub fn logs(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    let follow = a.flag(&["--follow", "-f"]);
    let timestamps = a.flag(&["--timestamps"]);
    let tail: Option<usize> = a
        .option("--tail")?
        .map(|t| {
            t.parse()
                .with_context(|| format!("--tail {t:?} is not a number"))
        })
        .transpose()?;
    let since = a.option("--since")?.map(|t| parse_since(&t)).transpose()?;
    let (pod, paths) = crate::show::pod_paths(c, &a.required("POD")?)?;
    let name = Id::new(&a.required("CONTAINER")?)?;
    a.done()?;
    let id = Id::new(&format!("{pod}-{name}")).with_context(|| format!("container {name:?}"))?;
    let log = paths.container_log(&id);
    let list = files(&log);
    if list.is_empty() && !follow {
        bail!(
            "no log for container {name} of pod {pod} ({})",
            log.display()
        );
    }
    let o = Options { timestamps, since };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut at_start = true;
    // Everything up to now; with --tail only the last N lines of it.
    let mut lines: Vec<String> = Vec::new();
    for f in &list {
        let r = BufReader::new(File::open(f).with_context(|| format!("open {}", f.display()))?);
        for l in r.lines() {
            lines.push(l?);
            if let Some(n) = tail {
                if lines.len() > n * 4 + 1024 {
                    lines.drain(..lines.len() - n);
                }
            }
        }
    }
    if let Some(n) = tail {
        // Count whole lines (F), keeping the partial parts before them.
        let mut full = 0;
        let mut cut = lines.len();
        for (i, l) in lines.iter().enumerate().rev() {
            if parse(l).is_some_and(|e| e.full) {
                full += 1;
                if full > n {
                    break;
                }
            }
            cut = i;
        }
        lines.drain(..cut);
    }
    for l in &lines {
        if let Some(e) = parse(l) {
            show(&mut out, &e, &o, &mut at_start)?;
        }
    }
    out.flush()?;
    if follow {
        follow_log(
            &log,
            &paths.container_record(&id),
            &o,
            &mut out,
            &mut at_start,
        )?;
    }
    Ok(())
}

/// Prints what is appended to `log`, reopening it when it is rotated,
/// until the container has stopped and nothing more comes.
fn follow_log(
    log: &Path,
    record: &Path,
    o: &Options,
    out: &mut impl Write,
    at_start: &mut bool,
) -> anyhow::Result<()> {
    let open = |p: &Path| -> Option<(File, u64)> {
        let f = File::open(p).ok()?;
        let ino = f.metadata().ok()?.ino();
        Some((f, ino))
    };
    let mut cur = open(log);
    if let Some((f, _)) = cur.as_mut() {
        f.seek(SeekFrom::End(0))?;
    }
    let mut partial = String::new();
    loop {
        let stopped = read_json::<ContainerRecord>(record)
            .map(|r| r.status == TaskStatus::Stopped)
            .unwrap_or(true);
        let mut got = false;
        if let Some((f, _)) = cur.as_mut() {
            let mut chunk = String::new();
            f.read_to_string(&mut chunk)?;
            got = !chunk.is_empty();
            partial.push_str(&chunk);
            while let Some(nl) = partial.find('\n') {
                let line: String = partial.drain(..=nl).collect();
                if let Some(e) = parse(line.trim_end_matches('\n')) {
                    show(out, &e, o, at_start)?;
                }
            }
            out.flush()?;
        }
        // Rotated: the path now names a new file; finish the old one first.
        let now = std::fs::metadata(log).map(|m| m.ino()).ok();
        let rotated = match (&cur, now) {
            (Some((_, ino)), Some(n)) => *ino != n,
            (None, Some(_)) => true,
            _ => false,
        };
        if rotated && !got {
            cur = open(log);
            continue;
        }
        if stopped && !got && !rotated {
            return Ok(());
        }
        if !got {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn reopen(c: &Ctx, a: &mut Args) -> anyhow::Result<()> {
    let (pod, paths) = crate::show::pod_paths(c, &a.required("POD")?)?;
    let name = Id::new(&a.required("CONTAINER")?)?;
    a.done()?;
    let s = crate::shim::Shim::connect(&format!("unix://{}", paths.socket()?.display()))?;
    s.reopen_log(&format!("{pod}-{name}"))
        .with_context(|| format!("reopen the log of {name} in pod {pod}"))
}

/// `--since`: an RFC 3339 time, or a duration back from now as kubectl
/// takes it (`90s`, `5m`, `1h30m`).
fn parse_since(t: &str) -> anyhow::Result<std::time::SystemTime> {
    if let Some(at) = podshim_state::time::parse_rfc3339(t) {
        return Ok(at);
    }
    let bad = || anyhow::anyhow!("--since {t:?}: neither an RFC 3339 time nor a duration like 5m");
    let mut total = 0u64;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || t.is_empty() {
        return Err(bad());
    }
    std::time::SystemTime::now()
        .checked_sub(std::time::Duration::from_secs(total))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_parse_and_junk_does_not() {
        let e = parse("2026-11-22T18:00:00.000000001Z stdout F hello world").unwrap();
        assert_eq!((e.stream, e.full, e.text), ("stdout", true, "hello world"));
        let e = parse("2026-11-22T18:00:00.000000001Z stderr P ").unwrap();
        assert_eq!((e.full, e.text), (false, ""));
        assert!(parse("not a log line").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn since_takes_times_and_durations() {
        let now = std::time::SystemTime::now();
        let back = |t: &str| {
            now.duration_since(parse_since(t).unwrap())
                .unwrap()
                .as_secs()
        };
        assert!((5395..5405).contains(&back("1h30m")));
        assert!((85..95).contains(&back("90s")));
        assert!(parse_since("2026-01-01T00:00:00Z").is_ok());
        for bad in [
            "",
            "5",
            "m",
            "5d",
            "yesterday",
            "-5m",
            "99999999999999999999s",
        ] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }
}
