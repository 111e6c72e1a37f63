//! Container logs in the CRI format, written by the shim as conmon does:
//! `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`, one line per line the
//! process wrote; a line longer than [`MAX_LINE`] goes out in `P` (partial)
//! parts ending with an `F` part, and what is left without a newline when
//! the stream ends is written as `F`. The file is rotated at a size limit
//! (`log` -> `log.1` -> ... keeping `max_files` files) and can be reopened
//! on request, for rotation done by someone else.
//!
//! Asked for with `cri-log:///ABS/PATH?max-size=BYTES&max-files=N` as both
//! the stdout and the stderr of a Create (podctl does); reopened by an
//! Update whose annotations hold [`REOPEN_ANNOTATION`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use podshim_types::attach::FRAME_STDERR;

use super::attach::Hub;
use crate::error::{Result, ShimError};

/// Update annotation that makes the shim reopen a task's log file.
pub const REOPEN_ANNOTATION: &str = "io.podshim.log/reopen";

/// Longest line written whole; longer ones are split into P parts.
pub const MAX_LINE: usize = 16 * 1024;

const DEFAULT_MAX_SIZE: u64 = 10 << 20;
const DEFAULT_MAX_FILES: u32 = 5;

/// An open CRI log file.
pub struct CriLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl CriLog {
    /// From a `cri-log://` URI.
    pub fn from_uri(uri: &str) -> Result<CriLog> {
        let rest = &uri["cri-log://".len()..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let bad = |m: String| ShimError::InvalidArgument(format!("stdio {uri:?}: {m}"));
        if !Path::new(path).is_absolute() {
            return Err(bad("cri-log:// needs an absolute path".into()));
        }
        let (mut max_size, mut max_files) = (DEFAULT_MAX_SIZE, DEFAULT_MAX_FILES);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "max-size" => {
                    max_size =
                        v.parse().ok().filter(|s| *s >= 4096).ok_or_else(|| {
                            bad(format!("max-size {v:?}: a number of bytes >= 4096"))
                        })?
                }
                "max-files" => {
                    max_files = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| bad(format!("max-files {v:?}: 1 to 1000")))?
                }
                _ => return Err(bad(format!("unknown option {k:?}"))),
            }
        }
        let path = PathBuf::from(path);
        let file = open_append(&path).map_err(|e| bad(e.to_string()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(CriLog {
            path,
            file,
            size,
            max_size,
            max_files,
        })
    }

    /// Writes CRI lines (one write per file), rotating where a file fills.
    fn write_lines(&mut self, stream: &str, lines: &[(bool, Vec<u8>)]) -> std::io::Result<()> {
        let time = podshim_state::time::now_rfc3339();
        let mut buf = Vec::new();
        for (full, text) in lines {
            let len = (time.len() + stream.len() + 4 + text.len() + 1) as u64;
            if self.size + buf.len() as u64 > 0
                && self.size + buf.len() as u64 + len > self.max_size
            {
                self.file.write_all(&buf)?;
                buf.clear();
                self.rotate()?;
            }
            buf.extend_from_slice(time.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(stream.as_bytes());
            buf.extend_from_slice(if *full { b" F " } else { b" P " });
            buf.extend_from_slice(text);
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// `log.N-1` -> `log.N`, ..., `log` -> `log.1`, and a new `log`.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(numbered(self.max_files - 1));
        for i in (1..self.max_files - 1).rev() {
            let _ = std::fs::rename(numbered(i), numbered(i + 1));
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.reopen()
    }

    /// Opens the path again (after someone else renamed the file).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file = open_append(&self.path)?;
        self.size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Cuts a byte stream into CRI lines.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Feeds bytes; calls `out(full, text)` for every line or part ready.
    fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(bool, &[u8])) {
        while let Some(nl) = data.iter().position(|b| *b == b'\n') {
            self.pending.extend_from_slice(&data[..nl]);
            self.flush_parts(out);
            out(true, &self.pending);
            self.pending.clear();
            data = &data[nl + 1..];
        }
        self.pending.extend_from_slice(data);
        self.flush_parts(out);
    }

    /// Parts of a long line go out as they fill, keeping the rest.
    fn flush_parts(&mut self, out: &mut impl FnMut(bool, &[u8])) {
        while self.pending.len() > MAX_LINE {
            out(false, &self.pending[..MAX_LINE]);
            self.pending.drain(..MAX_LINE);
        }
    }

    /// End of stream: what is left is the last line.
    fn finish(&mut self, out: &mut impl FnMut(bool, &[u8])) {
        if !self.pending.is_empty() {
            out(true, &self.pending);
            self.pending.clear();
        }
    }
}

/// Copies a process's output into `log` and to the clients attached to
/// `hub` until every source ends: stdout and stderr pipes, or a terminal
/// master (logged as stdout). The hub is told when all have ended.
pub fn spawn_copier(
    log: Arc<Mutex<CriLog>>,
    sources: Vec<(Arc<AsyncFd<OwnedFd>>, u8)>,
    hub: Arc<Hub>,
) -> JoinHandle<()> {
    let mut tasks = Vec::new();
    for (afd, stream) in sources {
        let name = if stream == FRAME_STDERR {
            "stderr"
        } else {
            "stdout"
        };
        let (log, hub) = (log.clone(), hub.clone());
        tasks.push(tokio::spawn(async move {
            let mut lines = Lines::default();
            let mut buf = vec![0u8; 64 * 1024];
            let mut ready: Vec<(bool, Vec<u8>)> = Vec::new();
            let write = |log: &Mutex<CriLog>, ready: &mut Vec<(bool, Vec<u8>)>| {
                let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = l.write_lines(name, ready) {
                    tracing::error!("log {}: {e}", l.path.display());
                }
                ready.clear();
            };
            // A terminal master reads EIO once the last holder of its
            // slave side is gone: the end of its output.
            loop {
                match super::fd::read(&afd, &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        lines.feed(&buf[..n], &mut |full, t| ready.push((full, t.to_vec())));
                        write(&log, &mut ready);
                        hub.publish(stream, &buf[..n]);
                        // A process that writes without pause must not keep
                        // the shim's one thread from its other work.
                        tokio::task::yield_now().await;
                    }
                }
            }
            lines.finish(&mut |full, t| ready.push((full, t.to_vec())));
            write(&log, &mut ready);
        }));
    }
    tokio::spawn(async move {
        for t in tasks {
            let _ = t.await;
        }
        hub.end();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(chunks: &[&[u8]]) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        let mut l = Lines::default();
        for c in chunks {
            l.feed(c, &mut |f, t| out.push((f, t.to_vec())));
        }
        l.finish(&mut |f, t| out.push((f, t.to_vec())));
        out
    }

    #[test]
    fn lines_split_across_reads_and_long_lines_in_parts() {
        assert_eq!(
            cut(&[b"a\nb", b"c\n", b"tail"]),
            vec![
                (true, b"a".to_vec()),
                (true, b"bc".to_vec()),
                (true, b"tail".to_vec())
            ]
        );
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let parts = cut(&[&long]);
        assert_eq!(parts.len(), 3);
        assert!(!parts[0].0 && !parts[1].0 && parts[2].0);
        assert_eq!(parts[2].1.len(), 5);
        assert_eq!(cut(&[b"\n"]), vec![(true, Vec::new())]);
    }
}
