//! The accept loop every TCP listener of the server shares (HTTP and gRPC here in
//! `listener`, the Graphite and Influx sockets in the server crate): accepting until
//! shutdown, backing off when accept fails, evening connections out over executors
//! (`balance`), the per-executor cap on open connections, and the drain at shutdown. What
//! each connection then speaks is the caller's [`StartConnection`].

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::{TcpListener, TcpStream};

use crate::balance::{Balance, Placed, Serving};
use crate::listener::Counter;

/// Connections open on one executor under a cap, counted by the [`OpenSlot`]s handed out.
/// Clones share the count (the listeners of one executor that share a cap share one).
#[derive(Clone, Debug)]
pub struct OpenConnections {
    count: Arc<Counter>,
    max: usize,
}

impl OpenConnections {
    /// Counts into `count` (readable from any thread, e.g. for `/metrics`), at most `max`.
    pub fn new(count: Arc<Counter>, max: usize) -> OpenConnections {
        OpenConnections { count, max }
    }

    pub fn get(&self) -> u64 {
        self.count.get()
    }

    /// A slot for one more connection, unless `max` are open.
    fn admit(&self, serving: Option<Serving>) -> Option<OpenSlot> {
        let open = self.count.get();
        if open as usize >= self.max {
            return None;
        }
        self.count.set(open + 1);
        Some(OpenSlot { count: self.count.clone(), _serving: serving })
    }

    /// Waits until every connection has closed or `within` has passed; returns how many
    /// are still open.
    pub async fn drain(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        while self.count.get() > 0 && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        self.count.get()
    }
}

/// One open connection, counted in its executor's [`OpenConnections`] (and, with a
/// balance, as served by this executor) until dropped.
pub struct OpenSlot {
    count: Arc<Counter>,
    _serving: Option<Serving>,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let open = self.count.get();
        debug_assert!(open > 0, "every open connection holds exactly one slot");
        self.count.set(open.saturating_sub(1));
    }
}

/// What a listener does with the connections its accept loop keeps on this executor.
pub trait StartConnection: 'static {
    /// Names the listener in logs ("HTTP", "Graphite").
    fn listener_name(&self) -> &'static str;

    /// Serves `stream` on this executor (spawning its task); `slot` is held until it closes.
    fn start(&self, stream: TcpStream, slot: OpenSlot);

    /// Counts a connection accepted on this executor; `passed_on` when it went to another.
    fn count_accepted(&self, _passed_on: bool) {}

    /// Counts a connection closed unserved because the cap of open connections was reached.
    fn count_over_limit(&self);
}

/// Accepts on `listener` until `shutdown` closes (nothing is ever sent on it). With a
/// `balance`, a connection accepted here while another executor serves fewer is passed
/// there, and connections passed here are started like accepted ones, by a task of their
/// own (an accept in flight must not be dropped for them: its connection would be lost).
/// Returns when both have stopped; connections may still be open (see
/// [`OpenConnections::drain`]).
pub async fn accept_until_shutdown<S: StartConnection>(listener: TcpListener, shutdown: async_channel::Receiver<()>, balance: Option<Balance>, open: OpenConnections, starter: Rc<S>) {
    let balance = balance.map(Rc::new);
    let start = {
        let (open, starter) = (open.clone(), starter.clone());
        move |stream: TcpStream, serving: Option<Serving>| match open.admit(serving) {
            Some(slot) => starter.start(stream, slot),
            None => starter.count_over_limit(),
        }
    };
    let pickup = balance.clone().map(|balance| {
        let (start, shutdown) = (start.clone(), shutdown.clone());
        glommio::spawn_local(async move {
            loop {
                let passed_in = async { Some(balance.passed_in().await) };
                let stopped = async {
                    let _ = shutdown.recv().await;
                    None
                };
                // Cancelling a channel receive loses nothing.
                match future::or(passed_in, stopped).await {
                    Some((stream, serving)) => start(stream, Some(serving)),
                    None => break,
                }
            }
        })
    });
    loop {
        let next = future::or(async { Some(listener.accept().await) }, async {
            let _ = shutdown.recv().await;
            None
        })
        .await;
        let stream = match next {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                // Typically EMFILE/ENFILE: back off briefly instead of spinning.
                tracing::warn!(%error, listener = starter.listener_name(), "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        match &balance {
            None => {
                starter.count_accepted(false);
                start(stream, None);
            }
            Some(balance) => match balance.place(stream) {
                Placed::Here(stream, serving) => {
                    starter.count_accepted(false);
                    start(stream, Some(serving));
                }
                Placed::Passed => starter.count_accepted(true),
            },
        }
    }
    if let Some(pickup) = pickup {
        pickup.await;
    }
}
