//! Copy loops the shim runs for a process's stdio where the process cannot
//! hold the supervisor's FIFO itself: stdin (so CloseIO can end it with an
//! end of file) and the terminal (the pty master, both ways). All
//! non-blocking; a slow or absent reader never blocks the shim.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use podshim_types::attach::FRAME_STDOUT;

use super::attach::Hub;
use super::crilog::CriLog;
use super::fd::{async_fd, read, write_all};
use super::{Stdio, Target};
use crate::error::{Result, ShimError};

/// What keeps a process's copied stdio going.
#[derive(Default)]
pub struct IoHandle {
    /// Dropping it ends the stdin copy, which closes the process's stdin.
    stdin: Option<oneshot::Sender<()>>,
    output: Option<JoinHandle<()>>,
    master: Option<Arc<AsyncFd<OwnedFd>>>,
    /// CloseIO came; it may come before the copy is attached (a client
    /// whose stdin ends at once closes it while Start is still running).
    stdin_closed: bool,
    /// The CRI log the output goes to, for reopen requests.
    log: Option<Arc<std::sync::Mutex<CriLog>>>,
    /// The clients attached to the logged output.
    hub: Option<Arc<Hub>>,
    /// Duplicates of the log pipes' read ends (stdout, stderr), for the
    /// pause to hold.
    parkable: Vec<OwnedFd>,
}

impl IoHandle {
    /// CloseIO: stop feeding stdin, so the process reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin_closed = true;
        self.stdin.take();
    }

    /// Puts the copies of a started process in place, honouring a CloseIO
    /// that came first.
    pub fn attach(&mut self, new: IoHandle) {
        let closed = self.stdin_closed;
        *self = new;
        if closed {
            self.close_stdin();
        }
    }

    /// Output copied into a CRI log, and to attached clients, from
    /// `sources` (stream, fd).
    pub fn log_output(&mut self, log: CriLog, sources: Vec<(Arc<AsyncFd<OwnedFd>>, u8)>) {
        self.parkable = sources
            .iter()
            .filter_map(|(fd, _)| fd.get_ref().try_clone().ok())
            .collect();
        let log = Arc::new(std::sync::Mutex::new(log));
        let hub = Hub::new();
        self.output = Some(super::crilog::spawn_copier(
            log.clone(),
            sources,
            hub.clone(),
        ));
        self.log = Some(log);
        self.hub = Some(hub);
    }

    /// The log pipes' read ends for the pause to hold, once.
    pub fn take_parkable(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.parkable)
    }

    /// Where clients attach to the logged output, if it is logged.
    pub fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.clone()
    }

    /// Reopens the CRI log file (after an outside rotation).
    pub fn reopen_log(&self) -> Result<()> {
        let log = self.log.as_ref().ok_or_else(|| {
            ShimError::FailedPrecondition("the process does not log through the shim".into())
        })?;
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .reopen()
            .map_err(|e| ShimError::Internal(format!("reopen log: {e}")))
    }

    /// The output copy (terminal or CRI log), to be awaited before an exit
    /// is told.
    pub fn take_output(&mut self) -> Option<JoinHandle<()>> {
        self.output.take()
    }

    /// ResizePty. A process without a terminal is refused; one that has
    /// exited keeps its master until delete, so a late resize is harmless.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let master = self
            .master
            .as_ref()
            .ok_or_else(|| ShimError::FailedPrecondition("the process has no terminal".into()))?;
        let clamp = |v: u32| v.min(u16::MAX as u32) as u16;
        podshim_sys::tty::set_window_size(master.get_ref().as_fd(), clamp(height), clamp(width))?;
        Ok(())
    }
}

/// Waits (bounded) until the terminal output is copied out, so that an exit
/// is told after the last byte the process wrote.
pub async fn drain(output: Option<JoinHandle<()>>) {
    if let Some(t) = output {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), t).await;
    }
}

fn fifo_err(path: &Path, e: std::io::Error) -> ShimError {
    ShimError::InvalidArgument(format!("stdio {}: {e}", path.display()))
}

/// Opens a stdin FIFO read-write: the open never blocks, and the shim never
/// sees end of file before CloseIO says so.
fn open_stdin_fifo(path: &Path) -> Result<pipe::Receiver> {
    pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
        .map_err(|e| fifo_err(path, e))
}

/// Feeds a stdin FIFO into a pipe whose read end the process gets.
pub fn stdin_pipe(path: &Path) -> Result<(OwnedFd, IoHandle)> {
    let mut fifo = open_stdin_fifo(path)?;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ShimError::Internal(format!("pipe: {e}")))?;
    let mut sender =
        pipe::Sender::from_owned_fd(w).map_err(|e| ShimError::Internal(format!("pipe: {e}")))?;
    let (stop_tx, mut stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = tokio::select! {
                _ = &mut stop => return,
                n = fifo.read(&mut buf) => n,
            };
            match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if sender.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok((
        r,
        IoHandle {
            stdin: Some(stop_tx),
            ..Default::default()
        },
    ))
}

/// Connects a terminal master to the supervisor's stdio: a stdin FIFO ->
/// master, master -> a stdout FIFO or, for `cri-log://`, the CRI log (as
/// stdout) and the attached clients, who can also type into it.
pub fn terminal(master: OwnedFd, stdio: &Stdio) -> Result<IoHandle> {
    let master = async_fd(master)?;
    let mut handle = IoHandle {
        master: Some(master.clone()),
        ..Default::default()
    };
    if let Target::CriLog(uri) = &stdio.stdout {
        let log = CriLog::from_uri(uri)?;
        handle.log_output(log, vec![(master.clone(), FRAME_STDOUT)]);
        if let Some(hub) = &handle.hub {
            hub.set_terminal(master.clone());
        }
    }
    if let Some(stdin) = stdio.stdin.path() {
        let mut fifo = open_stdin_fifo(stdin)?;
        let (stop_tx, mut stop) = oneshot::channel::<()>();
        handle.stdin = Some(stop_tx);
        let m = master.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let n = tokio::select! {
                    _ = &mut stop => return,
                    n = fifo.read(&mut buf) => n,
                };
                match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if write_all(&m, &buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    if let (Some(stdout), None) = (stdio.stdout.path(), &handle.output) {
        let mut out = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(stdout)
            .map_err(|e| fifo_err(stdout, e))?;
        let m = master;
        handle.output = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            // EIO once the last holder of the slave side is gone.
            while let Ok(n) = read(&m, &mut buf).await {
                if n == 0 || out.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }));
    }
    Ok(handle)
}
