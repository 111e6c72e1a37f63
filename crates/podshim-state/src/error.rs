//! Errors of the state directory; each names the file it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid record: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("socket path {path} is {len} bytes, longer than a unix socket allows (107)")]
    SocketPathTooLong { path: PathBuf, len: usize },
}

impl StateError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StateError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the error means the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StateError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}
