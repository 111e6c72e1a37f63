//! The shim socket's connections, before ttrpc sees them. Every accepted
//! connection is counted and watched: one that has sent nothing within
//! [`SILENT`] is closed; at the limit ([`MAX_CONNECTIONS`], and never more
//! than half the descriptors the process may have, so pipes, pidfds and
//! FIFOs always find room), or when the process is out of descriptors, the
//! oldest silent one (else the longest idle, if idle for [`IDLE`]) is
//! closed to admit the newcomer; a failed accept backs off instead of
//! spinning. Closing is an end of file on the connection's
//! read side, which ends ttrpc's handling of it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use ttrpc::asynchronous::transport::Listener;

/// Most connections open at once (containerd holds one, podctl one a
/// command).
pub const MAX_CONNECTIONS: usize = 256;
/// A connection that has sent nothing this long after connecting is closed.
pub const SILENT: Duration = Duration::from_secs(10);
/// At the limit, a connection that spoke may be closed only after this long
/// without a byte either way.
pub const IDLE: Duration = Duration::from_secs(300);
/// How long a failed accept waits before the next.
const BACKOFF: Duration = Duration::from_millis(50);

/// What the tracker knows of one connection.
struct Watched {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last: AtomicU64,
    spoke: AtomicBool,
    closed: AtomicBool,
    reader: AtomicWaker,
}

impl Watched {
    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        self.opened
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.reader.wake();
    }
}

/// Every open connection.
#[derive(Default)]
struct Tracker {
    open: Mutex<Vec<Weak<Watched>>>,
}

impl Tracker {
    fn live(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Watched>>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|w| {
            w.upgrade()
                .is_some_and(|c| !c.closed.load(Ordering::SeqCst))
        });
        open
    }

    fn admit(&self) -> Arc<Watched> {
        self.shed(connection_limit().saturating_sub(1));
        self.watch()
    }

    /// Closes connections (silent ones first) until at most `keep` are
    /// open, or none can go.
    fn shed(&self, keep: usize) {
        while self.live().len() > keep {
            if !self.evict_one() {
                return;
            }
        }
    }

    fn watch(&self) -> Arc<Watched> {
        let w = Arc::new(Watched {
            opened: Instant::now(),
            last: AtomicU64::new(0),
            spoke: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        self.live().push(Arc::downgrade(&w));
        w
    }

    /// Closes the oldest connection that never spoke, else the longest idle
    /// one if it has been idle for [`IDLE`]; true when one was closed.
    fn evict_one(&self) -> bool {
        let open: Vec<Arc<Watched>> = self.live().iter().filter_map(Weak::upgrade).collect();
        let silent = open
            .iter()
            .filter(|c| !c.spoke.load(Ordering::Relaxed))
            .min_by_key(|c| c.opened);
        let victim = silent.or_else(|| {
            open.iter()
                .filter(|c| c.idle() >= IDLE)
                .max_by_key(|c| c.idle())
        });
        match victim {
            Some(c) => {
                c.close();
                true
            }
            None => false,
        }
    }

    /// Closes every connection silent for longer than [`SILENT`].
    fn sweep(&self) -> usize {
        let mut n = 0;
        for c in self.live().iter().filter_map(Weak::upgrade) {
            if !c.spoke.load(Ordering::Relaxed) && c.opened.elapsed() >= SILENT {
                c.close();
                n += 1;
            }
        }
        n
    }
}

/// One accepted connection, as ttrpc reads and writes it.
struct Conn {
    stream: UnixStream,
    watched: Arc<Watched>,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.watched.reader.register(cx.waker());
        if self.watched.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watched.spoke.store(true, Ordering::Relaxed);
            self.watched.touch();
        }
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.watched.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.watched.closed.store(true, Ordering::SeqCst);
    }
}

/// How many connections may be open: [`MAX_CONNECTIONS`], or half the
/// process's descriptor limit if that is less.
fn connection_limit() -> usize {
    let fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft as usize)
        .unwrap_or(1024);
    MAX_CONNECTIONS.min(fds / 2).max(1)
}

/// Whether an accept failed for want of descriptors.
fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// The shim socket as ttrpc's listener, with the connections watched.
pub fn watched(listener: std::os::unix::net::UnixListener) -> io::Result<Listener> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let tracker = Arc::new(Tracker::default());
    let sweeper = Arc::downgrade(&tracker);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SILENT / 4);
        loop {
            tick.tick().await;
            let Some(t) = sweeper.upgrade() else { return };
            let n = t.sweep();
            if n > 0 {
                tracing::warn!("closed {n} connections that sent nothing for {SILENT:?}");
            }
        }
    });
    let state = (listener, tracker, None::<Instant>);
    let accepted = futures::stream::unfold(state, |(listener, tracker, mut warned)| async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let watched = tracker.admit();
                    let conn = Conn { stream, watched };
                    return Some((Ok::<_, io::Error>(conn), (listener, tracker, warned)));
                }
                Err(e) => {
                    if out_of_fds(&e) {
                        // Make room (the limit may have been lowered
                        // under us): silent connections go.
                        tracker.shed(connection_limit() / 2);
                    }
                    let now = Instant::now();
                    if warned.is_none_or(|t| now - t > Duration::from_secs(5)) {
                        tracing::warn!("accept on the shim socket: {e}; backing off");
                        warned = Some(now);
                    }
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        }
    });
    Ok(Listener::new(accepted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_connections_go_first_oldest_first() {
        let t = Tracker::default();
        let a = t.watch();
        let b = t.watch();
        let c = t.watch();
        b.spoke.store(true, Ordering::Relaxed);
        assert!(t.evict_one());
        assert!(
            a.closed.load(Ordering::SeqCst),
            "the oldest silent one goes first"
        );
        assert!(t.evict_one());
        assert!(c.closed.load(Ordering::SeqCst));
        // One that spoke and is not idle long stays.
        assert!(!t.evict_one());
        assert!(!b.closed.load(Ordering::SeqCst));
        assert_eq!(t.live().len(), 1);
    }

    #[test]
    fn shedding_stops_at_the_count_asked() {
        let t = Tracker::default();
        let all: Vec<Arc<Watched>> = (0..10).map(|_| t.watch()).collect();
        t.shed(4);
        assert_eq!(t.live().len(), 4);
        assert_eq!(
            all.iter()
                .filter(|w| w.closed.load(Ordering::SeqCst))
                .count(),
            6
        );
    }
}
