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
//! log and the container go on at their own pace. At most [`MAX_CLIENTS`]
//! are attached to a container at once (more are closed at once), each
//! with at most [`CLIENT_BYTES`] of output queued; the output is shared
//! between the clients' queues, not copied per client, and the heap is
//! trimmed when a client is let go.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::error::{Result, ShimError};

/// Most clients attached to one container at once.
pub const MAX_CLIENTS: usize = 16;
/// Most output bytes queued for one client before it is let go.
pub const CLIENT_BYTES: usize = 1 << 20;
/// How long one write to a client may wait for it to read.
const STALLED_CLIENT: std::time::Duration = std::time::Duration::from_secs(10);
use podshim_types::attach::{self as wire, FRAME_EXIT, FRAME_INPUT, MAX_INPUT_FRAME};

/// One output frame: kind and bytes, shared by every client's queue.
type Frame = (u8, Arc<[u8]>);

/// One attached client's queue.
struct Client {
    frames: mpsc::UnboundedSender<Frame>,
    /// Bytes queued and not yet written to the client.
    queued: Arc<AtomicUsize>,
}

impl Client {
    /// Queues a frame; false when the client is gone or too far behind.
    fn offer(&self, frame: &Frame) -> bool {
        let len = frame.1.len();
        if self.queued.load(Ordering::SeqCst) + len > CLIENT_BYTES {
            return false;
        }
        self.queued.fetch_add(len, Ordering::SeqCst);
        self.frames.send(frame.clone()).is_ok()
    }
}

/// The clients attached to one container's output.
pub struct Hub {
    clients: Mutex<Vec<Client>>,
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
        let frame: Frame = (stream, Arc::from(data));
        let before = clients.len();
        clients.retain(|c| c.offer(&frame));
        if clients.len() < before {
            tracing::warn!(
                "attach: let go of {} clients that fell behind",
                before - clients.len()
            );
        }
    }

    /// The output has ended: clients get the exit frame and are let go.
    pub fn end(&self) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for c in clients.drain(..) {
            let _ = c.frames.send((FRAME_EXIT, Arc::from(&[][..])));
        }
        self.ended.send_replace(true);
    }

    /// A new client's queue and its byte count; `None` when the output
    /// has ended or [`MAX_CLIENTS`] are attached.
    fn join(&self) -> Option<(mpsc::UnboundedReceiver<Frame>, Arc<AtomicUsize>)> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain(|c| !c.frames.is_closed());
        if *self.ended.borrow() || clients.len() >= MAX_CLIENTS {
            return None;
        }
        let (frames, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        clients.push(Client {
            frames,
            queued: queued.clone(),
        });
        Some((rx, queued))
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
    let Some((mut output, queued)) = hub.join() else {
        tracing::warn!("attach: {MAX_CLIENTS} clients attached already, one more refused");
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
            queued.fetch_sub(data.len(), Ordering::SeqCst);
            if !matches!(sent, Ok(Ok(()))) || kind == FRAME_EXIT {
                break;
            }
        }
        // The client is let go: its input ends with its output, and what
        // it held goes back to the system.
        input.abort();
        let _ = wr.shutdown().await;
        drop(output);
        podshim_sys::proc::trim_heap();
    });
}
