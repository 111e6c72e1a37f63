//! Opening the stdio a Create or Exec names for the process: a FIFO
//! (containerd's default), a regular file, a CRI log's pipes, a logging
//! binary. FIFOs are opened so that the shim never blocks on a missing peer.

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use podshim_sys::spawn::ChildStdio;
use podshim_types::attach::{FRAME_STDERR, FRAME_STDOUT};

use super::copy::IoHandle;
use super::{is_fifo, Stdio, Target};
use crate::error::{Result, ShimError};

/// Opens stdin, stdout and stderr for a process without a terminal.
/// None means /dev/null. stdout and stderr go to the process directly
/// (FIFOs given to the IoUid/IoGid owner); a stdin FIFO is fed through a
/// pipe by the shim, so CloseIO can end it.
///
/// `binary://PATH?k=v` (containerd's logging binaries) starts PATH with the
/// process's stdout and stderr readable on fds 3 and 4, and waits until it
/// closes fd 5 to say it is ready.
pub async fn open(stdio: &Stdio, who: &Owner<'_>) -> Result<(ChildStdio, IoHandle)> {
    let (stdin, mut handle) = open_in(&stdio.stdin)?;
    let (stdout, stderr) = match &stdio.stdout {
        Target::CriLog(uri) => {
            let log = super::crilog::CriLog::from_uri(uri)?;
            let pipe = || {
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                    .map_err(|e| ShimError::Internal(format!("pipe: {e}")))
            };
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            let sources = vec![
                (super::fd::async_fd(out_r)?, FRAME_STDOUT),
                (super::fd::async_fd(err_r)?, FRAME_STDERR),
            ];
            handle.log_output(log, sources);
            let (o, e) = (Some(out_w), Some(err_w));
            give(&o, who.io)?;
            give(&e, who.io)?;
            (o, e)
        }
        Target::Binary(uri) => {
            let (o, e) = binary_logger(uri, who).await?;
            let (o, e) = (Some(o), Some(e));
            give(&o, who.io)?;
            give(&e, who.io)?;
            (o, e)
        }
        out => {
            let (o, e) = (open_out(out)?, open_out(&stdio.stderr)?);
            // A FIFO the process writes to directly is the IoUid/IoGid
            // owner's, as the runc shim's pipes in front of it are; a file
            // keeps its owner.
            for (fd, target) in [(&o, out), (&e, &stdio.stderr)] {
                if target.path().is_some_and(is_fifo) {
                    give(fd, who.io)?;
                }
            }
            (o, e)
        }
    };
    if stdio.stdin.path().is_some_and(is_fifo) {
        // The pipe the shim feeds from the FIFO.
        give(&stdin, who.io)?;
    }
    Ok((
        ChildStdio {
            stdin,
            stdout,
            stderr,
        },
        handle,
    ))
}

/// Whose stdio it is: for a logging binary's environment, and the owner
/// of the pipes the process gets (runtime options IoUid/IoGid; root when
/// none), so a process that is not root can reopen /dev/stdout.
pub struct Owner<'a> {
    pub container: &'a str,
    pub namespace: &'a str,
    pub io: Option<(u32, u32)>,
}

/// Gives a pipe end the process gets to the IoUid/IoGid owner.
fn give(fd: &Option<OwnedFd>, io: Option<(u32, u32)>) -> Result<()> {
    use std::os::fd::AsRawFd;
    if let (Some(fd), Some((uid, gid))) = (fd, io) {
        nix::unistd::fchown(
            fd.as_raw_fd(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| ShimError::Internal(format!("chown a stdio pipe to {uid}:{gid}: {e}")))?;
    }
    Ok(())
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

fn open_in(target: &Target) -> Result<(Option<OwnedFd>, IoHandle)> {
    let Some(path) = target.path() else {
        return Ok((None, IoHandle::default()));
    };
    if is_fifo(path) {
        let (fd, handle) = super::copy::stdin_pipe(path)?;
        return Ok((Some(fd), handle));
    }
    let f = File::open(path).map_err(|e| io_err("stdin", path, e))?;
    Ok((Some(f.into()), IoHandle::default()))
}

fn open_out(target: &Target) -> Result<Option<OwnedFd>> {
    let Some(path) = target.path() else {
        return Ok(None);
    };
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
