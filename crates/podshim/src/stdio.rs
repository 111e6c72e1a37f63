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
///
/// `binary://PATH?k=v` (containerd's logging binaries) starts PATH with the
/// process's stdout and stderr readable on fds 3 and 4, and waits until it
/// closes fd 5 to say it is ready.
pub async fn open(
    stdin: &str,
    stdout: &str,
    stderr: &str,
    who: &Owner<'_>,
) -> Result<(ChildStdio, IoHandle)> {
    let (stdin, mut handle) = open_in(stdin)?;
    let (stdout, stderr) = if stdout.starts_with("cri-log://") {
        if stderr != stdout {
            return Err(ShimError::InvalidArgument(format!(
                "stdio {stdout:?}: a cri-log:// stdout needs the same stderr, not {stderr:?}"
            )));
        }
        let log = crate::crilog::CriLog::from_uri(stdout)?;
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| ShimError::Internal(format!("pipe: {e}")))
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let sources = vec![
            (crate::io::async_fd(out_r)?, crate::attach::STREAM_STDOUT),
            (crate::io::async_fd(err_r)?, crate::attach::STREAM_STDERR),
        ];
        handle.log_output(log, sources);
        (Some(out_w), Some(err_w))
    } else if stdout.starts_with("binary://") {
        let (o, e) = binary_logger(stdout, who).await?;
        (Some(o), Some(e))
    } else {
        (open_out(stdout)?, open_out(stderr)?)
    };
    Ok((
        ChildStdio {
            stdin,
            stdout,
            stderr,
        },
        handle,
    ))
}

/// Whose stdio it is, for a logging binary's environment.
pub struct Owner<'a> {
    pub container: &'a str,
    pub namespace: &'a str,
}

async fn binary_logger(uri: &str, who: &Owner<'_>) -> Result<(OwnedFd, OwnedFd)> {
    let rest = &uri["binary://".len()..];
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || !Path::new(path).is_absolute() {
        return Err(ShimError::InvalidArgument(format!(
            "stdio {uri:?}: binary:// needs an absolute path"
        )));
    }
    let mut args = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        args.push(percent_decode(k));
        if !v.is_empty() {
            args.push(percent_decode(v));
        }
    }
    let pipe = || {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| ShimError::Internal(format!("pipe: {e}")))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    use std::os::fd::AsRawFd;
    let logger = podshim_sys::spawn::spawn(podshim_sys::spawn::Reexec {
        exe: path,
        arg0: path,
        args,
        stdio: Default::default(),
        fds: vec![
            (out_r.as_raw_fd(), 3),
            (err_r.as_raw_fd(), 4),
            (ready_w.as_raw_fd(), 5),
        ],
        setsid: false,
        env: vec![
            ("CONTAINER_ID".into(), who.container.to_string()),
            ("CONTAINER_NAMESPACE".into(), who.namespace.to_string()),
        ],
        env_clear: false,
        cwd: None,
    })?;
    // The logger is reaped by the shim's orphan reaper when it exits.
    drop((out_r, err_r, ready_w));
    let mut ready = tokio::net::unix::pipe::Receiver::from_owned_fd(ready_r)
        .map_err(|e| ShimError::Internal(format!("pipe: {e}")))?;
    let mut b = [0u8; 1];
    use tokio::io::AsyncReadExt;
    match tokio::time::timeout(std::time::Duration::from_secs(10), ready.read(&mut b)).await {
        Ok(_) => Ok((out_w, err_w)),
        Err(_) => {
            // Not ready means not used: stop it (the orphan reaper reaps it).
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(logger),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err(ShimError::Internal(format!(
                "stdio {uri:?}: the logging binary did not signal ready within 10 s"
            )))
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    if stdout.starts_with("cri-log://") {
        // The shim logs the terminal and serves attach; stderr is the same
        // stream on a terminal.
        if !stderr.is_empty() && stderr != stdout {
            return Err(ShimError::InvalidArgument(format!(
                "stdio {stdout:?}: a cri-log:// stdout needs the same stderr, not {stderr:?}"
            )));
        }
        return check_terminal(stdin, "", "");
    }
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
        return Err(ShimError::InvalidArgument(format!(
            "stdio {uri:?}: binary:// is for stdout and stderr only"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
