//! Evens out connections over executors. The kernel spreads new connections over the
//! executors' SO_REUSEPORT listeners by a hash of their addresses, so 50 long-lived
//! remote_write connections may well split 20/30 between two cores: the core with 30 then
//! decodes half again as much while the other waits. An executor that accepts a connection
//! while another serves fewer passes it there, before reading a byte of it.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use glommio::net::TcpStream;

/// Connections passed to one executor and not picked up yet, at most (past it, the
/// accepting executor serves the connection itself).
const INBOX_CAPACITY: usize = 1024;

struct Shared {
    /// Connections each executor serves, counting those on their way to it.
    serving: Vec<AtomicUsize>,
    inboxes: Vec<async_channel::Sender<OwnedFd>>,
}

/// One executor's member of a listening address's balance (`Balance::group`).
pub struct Balance {
    shared: Arc<Shared>,
    index: usize,
    inbox: async_channel::Receiver<OwnedFd>,
}

/// Counts a connection as served by one executor until dropped.
pub struct Serving {
    shared: Arc<Shared>,
    index: usize,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.shared.serving[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where `Balance::place` put an accepted connection.
pub enum Placed {
    Here(TcpStream, Serving),
    /// Passed to the executor that served fewest.
    Passed,
}

impl Balance {
    /// The members for `executors` executors, in executor order.
    pub fn group(executors: usize) -> Vec<Balance> {
        let (inboxes, receivers): (Vec<_>, Vec<_>) = (0..executors).map(|_| async_channel::bounded(INBOX_CAPACITY)).unzip();
        let shared = Arc::new(Shared { serving: (0..executors).map(|_| AtomicUsize::new(0)).collect(), inboxes });
        receivers.into_iter().enumerate().map(|(index, inbox)| Balance { shared: shared.clone(), index, inbox }).collect()
    }

    /// Keeps a connection this executor accepted, or passes it to the executor that serves
    /// fewest when that is fewer than this one does.
    pub fn place(&self, stream: TcpStream) -> Placed {
        let serving = &self.shared.serving;
        let mine = serving[self.index].load(Ordering::Relaxed);
        // The fewest served, this executor first among equals.
        let fewest = (0..serving.len()).map(|i| (serving[i].load(Ordering::Relaxed), i != self.index, i)).min();
        match fewest {
            Some((count, _, target)) if target != self.index && count < mine => {
                serving[target].fetch_add(1, Ordering::Relaxed);
                match self.pass(&stream, target) {
                    Ok(()) => Placed::Passed,
                    Err(()) => {
                        serving[target].fetch_sub(1, Ordering::Relaxed);
                        Placed::Here(stream, self.serve_here())
                    }
                }
            }
            _ => Placed::Here(stream, self.serve_here()),
        }
    }

    /// Hands `target` its own copy of the socket; this executor's is closed when `stream`
    /// drops, which leaves the connection open.
    fn pass(&self, stream: &TcpStream, target: usize) -> Result<(), ()> {
        // SAFETY: `stream` owns this descriptor and outlives the borrow, which is only
        // duplicated here.
        let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
        let copy = fd.try_clone_to_owned().map_err(|error| tracing::debug!(%error, "cannot duplicate a socket to pass it on"))?;
        self.shared.inboxes[target].try_send(copy).map_err(|_| ())
    }

    fn serve_here(&self) -> Serving {
        self.shared.serving[self.index].fetch_add(1, Ordering::Relaxed);
        Serving { shared: self.shared.clone(), index: self.index }
    }

    /// Waits for the next connection another executor passes here (already counted as
    /// served here). Cancelling the wait loses nothing: the connection stays queued.
    pub async fn passed_in(&self) -> (TcpStream, Serving) {
        match self.inbox.recv().await {
            // SAFETY: the descriptor is a connected TCP socket, owned by `fd` and given up
            // to the stream, which closes it.
            Ok(fd) => (unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) }, Serving { shared: self.shared.clone(), index: self.index }),
            // Every sender lives in `shared`, which this member holds: never closed.
            Err(_) => futures_lite::future::pending().await,
        }
    }

    /// A view of the group's counts that stays valid after the member moved to its executor.
    pub fn watch(&self) -> Watch {
        Watch(self.shared.clone())
    }
}

/// Reads a balance group's counts from any thread.
pub struct Watch(Arc<Shared>);

impl Watch {
    /// Connections each executor serves now, in executor order.
    pub fn serving(&self) -> Vec<usize> {
        self.0.serving.iter().map(|count| count.load(Ordering::Relaxed)).collect()
    }
}
