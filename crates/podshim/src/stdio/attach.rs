//! Attaching to a running container whose output the shim logs
//! (`cri-log://`): a unix socket at `P/containers/<id>/attach` where any
//! number of clients receive the output as it is logged and, when the
//! container has a terminal, type into it and resize it.
//!
//! Frames, both ways `[kind u8][length u32 big-endian][payload]`:
//!
//! - shim to client: kind 1 stdout bytes, 2 stderr bytes, 0 the container
//!   has exited (empty; the connection closes after it). A connection that
//!   closes without kind 0 was dropped for reading too slowly.
//! - client to shim: kind 1 bytes for the terminal (ignored for a container
//!   without one). The window size is set with ResizePty, as for any task.
//!
//! A client that does not keep up is disconnected, never waited for: the
//! log and the container go on at their own pace.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::error::{Result, ShimError};

/// Output frames a client may have queued before it is dropped.
const CLIENT_QUEUE: usize = 64;
/// How long one write to a client may wait for it to read.
const STALLED_CLIENT: std::time::Duration = std::time::Duration::from_secs(10);
use podshim_types::attach::{self as wire, FRAME_EXIT, FRAME_INPUT, MAX_INPUT_FRAME};

/// One output frame: kind and bytes.
type Frame = (u8, Vec<u8>);

/// The clients attached to one container's output.
pub struct Hub {
    clients: Mutex<Vec<mpsc::Sender<Frame>>>,
    /// True once the output has ended.
    ended: watch::Sender<bool>,
    /// The terminal master, when the container has one.
    master: OnceLock<Arc<AsyncFd<OwnedFd>>>,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            clients: Mutex::new(Vec::new()),
            ended: watch::channel(false).0,
            master: OnceLock::new(),
        })
    }

    pub fn set_terminal(&self, master: Arc<AsyncFd<OwnedFd>>) {
        let _ = self.master.set(master);
    }

    /// Hands output to every client; one whose queue is full is dropped.
    pub fn publish(&self, stream: u8, data: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.is_empty() || data.is_empty() {
            return;
        }
        clients.retain(|c| c.try_send((stream, data.to_vec())).is_ok());
    }

    /// The output has ended: clients get the exit frame and are let go.
    pub fn end(&self) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for c in clients.drain(..) {
            let _ = c.try_send((FRAME_EXIT, Vec::new()));
        }
        self.ended.send_replace(true);
    }

    fn join(&self) -> Option<mpsc::Receiver<Frame>> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if *self.ended.borrow() {
            return None;
        }
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        clients.push(tx);
        Some(rx)
    }
}

/// Serves `hub` on a socket at `path` until the output ends, then removes
/// the socket.
pub fn listen(hub: Arc<Hub>, path: PathBuf) -> Result<()> {
    let _ = std::fs::remove_file(&path);
    let (address, dir) = podshim_state::paths::socket_address(&path)
        .map_err(|e| ShimError::Internal(format!("attach socket {}: {e}", path.display())))?;
    let listener = UnixListener::bind(&address)
        .map_err(|e| ShimError::Internal(format!("attach socket {}: {e}", path.display())))?;
    drop(dir);
    let mut ended = hub.ended.subscribe();
    tokio::spawn(async move {
        loop {
            if *ended.borrow_and_update() {
                break;
            }
            tokio::select! {
                conn = listener.accept() => match conn {
                    Ok((stream, _)) => serve_client(&hub, stream),
                    Err(e) => {
                        tracing::warn!("attach accept: {e}");
                        break;
                    }
                },
                _ = ended.changed() => {}
            }
        }
        drop(listener);
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

fn serve_client(hub: &Arc<Hub>, stream: UnixStream) {
    let Some(mut output) = hub.join() else {
        return;
    };
    let (mut rd, mut wr) = stream.into_split();
    let master = hub.master.get().cloned();
    let input = tokio::spawn(async move {
        let mut header = [0u8; 5];
        let mut payload = Vec::new();
        while rd.read_exact(&mut header).await.is_ok() {
            let (kind, len) = wire::parse_header(header);
            if len > MAX_INPUT_FRAME {
                return;
            }
            payload.resize(len, 0);
            if rd.read_exact(&mut payload).await.is_err() {
                return;
            }
            if let (Some(m), FRAME_INPUT) = (&master, kind) {
                if super::fd::write_all(m, &payload).await.is_err() {
                    return;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some((kind, data)) = output.recv().await {
            let mut frame = Vec::with_capacity(5 + data.len());
            frame.extend_from_slice(&wire::header(kind, data.len()));
            frame.extend_from_slice(&data);
            // A client that takes no output for this long is let go.
            let sent = tokio::time::timeout(STALLED_CLIENT, wr.write_all(&frame)).await;
            if !matches!(sent, Ok(Ok(()))) || kind == FRAME_EXIT {
                break;
            }
        }
        // The client is let go: its input ends with its output.
        input.abort();
        let _ = wr.shutdown().await;
    });
}
