//! A process's stdio. The URIs a Create or Exec names are parsed once into
//! [`Target`]s ([`Stdio::parse`]) and checked before anything starts;
//! [`open`] opens them for the process; `copy` runs the copies the shim
//! keeps (stdin feed, terminal), `crilog` writes CRI-format logs and
//! `attach` serves their clients. Layers: `fd` <- `attach` <- `crilog`
//! <- `copy` <- `open`; none reaches back up.

pub mod attach;
pub mod copy;
pub mod crilog;
pub mod fd;
mod open;

use std::path::{Path, PathBuf};

pub use copy::{drain, IoHandle};
pub use open::{open, Owner};

use crate::error::{Result, ShimError};

/// Where one stream of a process goes (or comes from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Nothing: /dev/null.
    None,
    /// A FIFO (containerd's default) or a regular file, a plain path or
    /// `file://PATH`.
    Path(PathBuf),
    /// `cri-log:///PATH?max-size=..&max-files=..`: the shim writes a CRI
    /// log (the URI is read by [`crilog::CriLog::from_uri`]).
    CriLog(String),
    /// `binary:///PATH?k=v`: a logging binary the shim starts.
    Binary(String),
}

impl Target {
    pub fn parse(uri: &str) -> Result<Target> {
        if uri.is_empty() {
            return Ok(Target::None);
        }
        if let Some(p) = uri.strip_prefix("file://") {
            return Ok(Target::Path(PathBuf::from(p)));
        }
        if uri.starts_with("binary://") {
            return Ok(Target::Binary(uri.to_string()));
        }
        if uri.starts_with("cri-log://") {
            return Ok(Target::CriLog(uri.to_string()));
        }
        if let Some((scheme, _)) = uri.split_once("://") {
            return Err(ShimError::InvalidArgument(format!(
                "stdio {uri:?}: unknown scheme {scheme:?}"
            )));
        }
        Ok(Target::Path(PathBuf::from(uri)))
    }

    /// The path of a FIFO or file target.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Target::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// A process's three streams, parsed and checked together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stdio {
    pub stdin: Target,
    pub stdout: Target,
    pub stderr: Target,
    /// As the client gave them, for State.
    pub uris: [String; 3],
    /// The process has a terminal.
    pub terminal: bool,
}

impl Stdio {
    /// Parses `[stdin, stdout, stderr]` for a process with or without a
    /// terminal; refuses combinations that cannot work before anything runs.
    pub fn parse(uris: [&str; 3], terminal: bool) -> Result<Stdio> {
        // On a terminal stderr is the terminal: a stderr path is ignored,
        // as runc's shim ignores it (containerd's Go client names a FIFO it
        // never makes in terminal mode).
        let uris = if terminal {
            [uris[0], uris[1], ""]
        } else {
            uris
        };
        let [stdin, stdout, stderr] = uris.map(Target::parse);
        let (stdin, stdout, stderr) = (stdin?, stdout?, stderr?);
        if matches!(stdin, Target::Binary(_) | Target::CriLog(_)) {
            return Err(ShimError::InvalidArgument(format!(
                "stdio {:?}: binary:// and cri-log:// are for stdout and stderr only",
                uris[0]
            )));
        }
        if matches!(stderr, Target::Binary(_)) && stdout != stderr {
            return Err(ShimError::InvalidArgument(format!(
                "stdio {:?}: a binary:// stderr needs the same stdout, not {:?}",
                uris[2], uris[1]
            )));
        }
        if let Target::CriLog(_) = &stdout {
            // On a terminal stderr is the same stream and may be left out.
            let same = stderr == stdout || (terminal && stderr == Target::None);
            if !same {
                return Err(ShimError::InvalidArgument(format!(
                    "stdio {:?}: a cri-log:// stdout needs the same stderr, not {:?}",
                    uris[1], uris[2]
                )));
            }
        }
        let parsed = Stdio {
            stdin,
            stdout,
            stderr,
            uris: uris.map(str::to_string),
            terminal,
        };
        if terminal {
            parsed.check_terminal()?;
        }
        Ok(parsed)
    }

    /// A terminal process is connected through the shim: its paths must be
    /// FIFOs (a `cri-log://` stdout is logged by the shim).
    fn check_terminal(&self) -> Result<()> {
        let logged = matches!(self.stdout, Target::CriLog(_));
        let streams = [
            (&self.stdin, &self.uris[0]),
            (&self.stdout, &self.uris[1]),
            (&self.stderr, &self.uris[2]),
        ];
        for (target, uri) in streams {
            match target {
                Target::None => {}
                Target::CriLog(_) if logged => {}
                Target::Path(p) if is_fifo(p) => {}
                _ => {
                    return Err(ShimError::InvalidArgument(format!(
                        "stdio {uri}: a terminal needs FIFOs"
                    )))
                }
            }
        }
        Ok(())
    }
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path)
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_once() {
        assert_eq!(Target::parse("").unwrap(), Target::None);
        assert_eq!(
            Target::parse("file:///var/log/x").unwrap(),
            Target::Path("/var/log/x".into())
        );
        assert_eq!(
            Target::parse("/run/f").unwrap(),
            Target::Path("/run/f".into())
        );
        assert!(matches!(
            Target::parse("binary:///bin/logger?a=b").unwrap(),
            Target::Binary(_)
        ));
        assert!(matches!(
            Target::parse("cri-log:///l?max-size=4096").unwrap(),
            Target::CriLog(_)
        ));
        let e = Target::parse("ftp://x").unwrap_err().to_string();
        assert!(e.contains("unknown scheme \"ftp\""), "{e}");
    }

    #[test]
    fn combinations_that_cannot_work_are_refused() {
        let log = "cri-log:///tmp/l";
        assert!(Stdio::parse(["", log, log], false).is_ok());
        let e = Stdio::parse(["", log, "/tmp/e"], false).unwrap_err();
        assert!(e.to_string().contains("needs the same stderr"), "{e}");
        // A terminal has one output stream.
        assert!(Stdio::parse(["", log, ""], true).is_ok());
        let e = Stdio::parse(["binary:///x", "", ""], false).unwrap_err();
        assert!(e.to_string().contains("stdout and stderr only"), "{e}");
        let e = Stdio::parse(["", "/tmp/no-such-fifo", ""], true).unwrap_err();
        assert!(e.to_string().contains("a terminal needs FIFOs"), "{e}");
        // A terminal's stderr path is not looked at: the terminal is stderr.
        let s = Stdio::parse(["", log, "/tmp/never-made-stderr-fifo"], true).unwrap();
        assert_eq!((s.stderr, s.uris[2].as_str()), (Target::None, ""));
    }
}
