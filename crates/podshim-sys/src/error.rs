//! Errors of the Linux layer. Each names the operation and what it acted on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{op} {what}: {errno}")]
    Os {
        op: &'static str,
        what: String,
        errno: nix::errno::Errno,
    },
    #[error("channel: {0}")]
    Channel(String),
    #[error("cgroup {path}: {message}")]
    Cgroup { path: String, message: String },
    #[error("spec: {field}: {message}")]
    Spec { field: String, message: String },
}

impl SysError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SysError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn os(op: &'static str, what: impl std::fmt::Display, errno: nix::errno::Errno) -> Self {
        SysError::Os {
            op,
            what: what.to_string(),
            errno,
        }
    }

    pub fn spec(field: impl Into<String>, message: impl Into<String>) -> Self {
        SysError::Spec {
            field: field.into(),
            message: message.into(),
        }
    }
}
