//! Opening the stdio a Create or Exec names: a FIFO path (containerd's
//! default), a regular file, `file://PATH`. FIFOs are opened so that the
//! shim never blocks on a missing peer.

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

use crate::io::IoHandle;
use std::path::Path;

use podshim_sys::spawn::ChildStdio;

use crate::error::{Result, ShimError};

/// Opens stdin, stdout and stderr for a process without a terminal.
/// Empty means /dev/null. stdout and stderr go to the process directly; a
/// stdin FIFO is fed through a pipe by the shim, so CloseIO can end it.
pub fn open(stdin: &str, stdout: &str, stderr: &str) -> Result<(ChildStdio, IoHandle)> {
    let (stdin, handle) = open_in(stdin)?;
    Ok((
        ChildStdio {
            stdin,
            stdout: open_out(stdout)?,
            stderr: open_out(stderr)?,
        },
        handle,
    ))
}

fn open_in(uri: &str) -> Result<(Option<OwnedFd>, IoHandle)> {
    if uri.is_empty() {
        return Ok((None, IoHandle::default()));
    }
    let path = local_path(uri)?;
    if is_fifo(path) {
        let (fd, handle) = crate::io::stdin_pipe(&path.to_string_lossy())?;
        return Ok((Some(fd), handle));
    }
    let f = File::open(path).map_err(|e| io_err("stdin", path, e))?;
    Ok((Some(f.into()), IoHandle::default()))
}

/// Checks that the paths a terminal process will be connected to are
/// usable, before anything is started.
pub fn check_terminal(stdin: &str, stdout: &str, stderr: &str) -> Result<()> {
    for uri in [stdin, stdout, stderr] {
        if uri.is_empty() {
            continue;
        }
        let path = local_path(uri)?;
        if !is_fifo(path) {
            return Err(ShimError::InvalidArgument(format!(
                "stdio {uri}: a terminal needs FIFOs"
            )));
        }
    }
    Ok(())
}

fn open_out(uri: &str) -> Result<Option<OwnedFd>> {
    if uri.is_empty() {
        return Ok(None);
    }
    let path = local_path(uri)?;
    let f = if is_fifo(path) {
        // Read-write never blocks and never fails for want of a reader.
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_err("stdout/stderr", path, e))?
    } else {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err("stdout/stderr", parent, e))?;
        }
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(|e| io_err("stdout/stderr", path, e))?
    };
    Ok(Some(f.into()))
}

fn local_path(uri: &str) -> Result<&Path> {
    if let Some(p) = uri.strip_prefix("file://") {
        return Ok(Path::new(p));
    }
    if uri.starts_with("binary://") {
        return Err(ShimError::Unimplemented(format!(
            "stdio {uri:?}: binary:// logging is not supported yet"
        )));
    }
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err(ShimError::InvalidArgument(format!(
            "stdio {uri:?}: unknown scheme {scheme:?}"
        )));
    }
    Ok(Path::new(uri))
}

fn is_fifo(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ShimError {
    ShimError::InvalidArgument(format!("{what} {}: {e}", path.display()))
}
