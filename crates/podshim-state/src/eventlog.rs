//! The append-only event log, `events.jsonl`: one JSON object a line, with a
//! sequence number that keeps increasing across shim restarts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use podshim_types::{EventRecord, Topic};

use crate::error::StateError;
use crate::time::now_rfc3339;

/// Writer side of a pod's event log. One per shim.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    next_seq: u64,
    /// Lines a full disk kept back, in order, written before the next one.
    pending: Vec<u8>,
}

/// Most bytes of events kept back for a full disk; past it the oldest
/// kept-back line is dropped (and the drop is an error of its own).
const MAX_PENDING: usize = 1 << 20;

/// What an event is about, besides its topic.
#[derive(Debug, Default, Clone)]
pub struct EventDetail {
    pub pid: Option<i32>,
    pub exec_id: Option<String>,
    pub exit_status: Option<i32>,
    pub reason: Option<String>,
}

impl EventLog {
    /// Opens (or creates) the log; the next seq follows the last good line.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let last = read_events(path)
            .or_else(|e| {
                if e.is_not_found() {
                    Ok(Vec::new())
                } else {
                    Err(e)
                }
            })?
            .last()
            .map(|e| e.seq)
            .unwrap_or(0);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| StateError::io("open", path, e))?;
        // A crash mid-write may have left a torn last line: end it, so the
        // next event starts on a line of its own.
        if ends_without_newline(&mut file).map_err(|e| StateError::io("read", path, e))? {
            file.write_all(b"\n")
                .map_err(|e| StateError::io("append", path, e))?;
        }
        Ok(EventLog {
            path: path.to_path_buf(),
            file,
            next_seq: last + 1,
            pending: Vec::new(),
        })
    }

    /// Appends one event and returns its record. On a full disk the line is
    /// kept and written (whole, in order) before the next one or by
    /// [`flush`](Self::flush); the error says it is late, not lost.
    pub fn append(
        &mut self,
        pod: &str,
        container: &str,
        topic: Topic,
        detail: EventDetail,
    ) -> Result<EventRecord, StateError> {
        let rec = EventRecord {
            seq: self.next_seq,
            time: now_rfc3339(),
            pod: pod.to_string(),
            container: container.to_string(),
            topic,
            pid: detail.pid,
            exec_id: detail.exec_id,
            exit_status: detail.exit_status,
            reason: detail.reason,
        };
        let mut line = serde_json::to_vec(&rec).map_err(|source| StateError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        self.next_seq += 1;
        if self.pending.len() + line.len() > MAX_PENDING {
            let cut = self
                .pending
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.pending.len(), |i| i + 1);
            self.pending.drain(..cut);
        }
        self.pending.extend_from_slice(&line);
        self.flush()?;
        Ok(rec)
    }

    /// Writes the lines kept back, one write each (on an O_APPEND file a
    /// reader never sees half a line from us, unless the disk fills in the
    /// middle of one: its rest follows when there is room).
    pub fn flush(&mut self) -> Result<(), StateError> {
        while !self.pending.is_empty() {
            let end = self
                .pending
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.pending.len(), |i| i + 1);
            match self.file.write(&self.pending[..end]) {
                Ok(0) => {
                    return Err(StateError::io(
                        "append",
                        &self.path,
                        std::io::Error::from(std::io::ErrorKind::WriteZero),
                    ))
                }
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StateError::io("append", &self.path, e)),
            }
        }
        Ok(())
    }

    /// Whether lines are kept back, waiting for room.
    pub fn is_behind(&self) -> bool {
        !self.pending.is_empty()
    }
}

fn ends_without_newline(file: &mut File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Reads every complete, well-formed line of a log. A torn last line (a
/// crash mid-write) is skipped, not fatal.
pub fn read_events(path: &Path) -> Result<Vec<EventRecord>, StateError> {
    let bytes = std::fs::read(path).map_err(|e| StateError::io("read", path, e))?;
    Ok(parse_events(&bytes))
}

/// The well-formed lines of an event log's bytes; anything else (a torn
/// line, bytes that are not UTF-8 or not an event) is skipped.
pub fn parse_events(bytes: &[u8]) -> Vec<EventRecord> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<EventRecord>(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_continues_after_reopen_and_torn_lines_are_skipped() {
        let d = std::env::temp_dir().join(format!("podshim-evlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("events.jsonl");
        let mut log = EventLog::open(&p).unwrap();
        log.append("p", "c", Topic::TaskCreate, EventDetail::default())
            .unwrap();
        log.append(
            "p",
            "c",
            Topic::TaskStart,
            EventDetail {
                pid: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        drop(log);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"seq\": 9")
            .unwrap();
        let mut log = EventLog::open(&p).unwrap();
        let r = log
            .append(
                "p",
                "c",
                Topic::TaskExit,
                EventDetail {
                    exit_status: Some(3),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(r.seq, 3);
        let all = read_events(&p).unwrap();
        let topics: Vec<_> = all.iter().map(|e| (e.seq, e.topic)).collect();
        assert_eq!(
            topics,
            vec![
                (1, Topic::TaskCreate),
                (2, Topic::TaskStart),
                (3, Topic::TaskExit)
            ]
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
