//! Opening the stdio a Create or Exec names: a FIFO path (containerd's
//! default), a regular file, `file://PATH`. FIFOs are opened so that the
//! shim never blocks on a missing peer.

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use podshim_sys::spawn::ChildStdio;

use crate::error::{Result, ShimError};

/// Opens stdin, stdout and stderr. Empty means /dev/null.
pub fn open(stdin: &str, stdout: &str, stderr: &str) -> Result<ChildStdio> {
    Ok(ChildStdio {
        stdin: open_in(stdin)?,
        stdout: open_out(stdout)?,
        stderr: open_out(stderr)?,
    })
}

fn open_in(uri: &str) -> Result<Option<OwnedFd>> {
    if uri.is_empty() {
        return Ok(None);
    }
    let path = local_path(uri)?;
    let f = if is_fifo(path) {
        // O_NONBLOCK so a FIFO with no writer yet does not block the open;
        // the flag is cleared so the container reads normally.
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| io_err("stdin", path, e))?;
        clear_nonblock(&f, path)?;
        f
    } else {
        File::open(path).map_err(|e| io_err("stdin", path, e))?
    };
    Ok(Some(f.into()))
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

fn clear_nonblock(f: &File, path: &Path) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let flags =
        fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).map_err(|e| io_err("stdin", path, e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(|e| io_err("stdin", path, e.into()))?;
    Ok(())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ShimError {
    ShimError::InvalidArgument(format!("{what} {}: {e}", path.display()))
}
