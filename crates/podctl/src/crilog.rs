//! Reading a container's CRI log as the shim writes it (`<time> <stream>
//! <P|F> <text>`, rotated to `log.1`, `log.2`, ...): its lines parsed, its
//! files oldest first, an entry shown with partial lines joined, and the
//! log followed across rotation until the container has exited.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use podshim_state::read_json;
use podshim_types::{ContainerRecord, TaskStatus};

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

/// What `podctl logs` shows of each entry.
pub struct Options {
    pub timestamps: bool,
    pub since: Option<std::time::SystemTime>,
}

/// Prints one entry as `podctl logs` shows it.
pub fn show(
    out: &mut impl Write,
    e: &Entry<'_>,
    o: &Options,
    at_line_start: &mut bool,
) -> std::io::Result<()> {
    // An entry whose time cannot be read is shown rather than lost.
    let at = crate::values::time(e.time);
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

/// Where containerd's CRI writes the log of container `name` of a pod it
/// made: under the sandbox's log directory (its annotation), as kubelet
/// names it (`<name>.log`, or the newest `<name>/<attempt>.log`).
pub fn cri_log_of(paths: &podshim_state::PodPaths, name: &str) -> Option<PathBuf> {
    let pod: podshim_types::PodRecord = read_json(&paths.record()).ok()?;
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&pod.bundle).join("config.json")).ok()?)
            .ok()?;
    let dir =
        PathBuf::from(spec["annotations"]["io.kubernetes.cri.sandbox-log-directory"].as_str()?);
    let flat = dir.join(format!("{name}.log"));
    if flat.exists() {
        return Some(flat);
    }
    let mut attempts: Vec<(u32, PathBuf)> = std::fs::read_dir(dir.join(name))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".log")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    attempts.sort();
    attempts.pop().map(|(_, p)| p)
}

/// The log files of a container, oldest first.
pub fn files(log: &Path) -> Vec<PathBuf> {
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

/// Prints what is appended to `log`, reopening it when it is rotated,
/// until the container has stopped and nothing more comes.
pub fn follow(
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
}
