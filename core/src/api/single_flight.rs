//! Request coalescing ("single flight"): while one caller computes the answer for a key,
//! callers that arrive with the same key wait for that answer instead of computing it again.
//! The range-query path uses it: a dashboard opened by several people, or many panels
//! refreshed at once with cold caches, sends the same range query many times within the
//! time one evaluation takes; each would otherwise evaluate it in full (measured: 16 clients
//! on a cold 24 h dashboard queued for seconds and held 3.5 GiB).
//!
//! Shared by all executors (the callers of one key may run on different cores). Only a
//! success is shared. A leader that fails or goes away (its client closed the connection)
//! lets its followers compute the answer themselves, so no caller depends on another's
//! client or limits.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use futures_channel::oneshot;
use futures_lite::future;

/// Keys in flight, each with the followers waiting for its leader's answer.
pub struct SingleFlight<K, V> {
    flights: Mutex<HashMap<K, Vec<oneshot::Sender<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight { flights: Mutex::new(HashMap::new()) }
    }
}

/// How a call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// It computed the answer (alone or as the leader of its key).
    Computed,
    /// It waited for a leader that was computing the same key: took its answer, or timed
    /// out waiting.
    Shared,
}

/// Removes the leader's key when it ends without an answer (failure, or its future
/// dropped), which wakes its followers with nothing: they compute for themselves.
struct LeaderGuard<'a, K: Eq + Hash, V> {
    flight: &'a SingleFlight<K, V>,
    key: Option<K>,
}

impl<K: Eq + Hash, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut flights)) = (self.key.take(), self.flight.flights.lock()) {
            flights.remove(&key);
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// Answers `key` with `compute()`, unless a call with the same key is computing it: then
    /// waits for that call's success, at most `wait_limit` (then `on_timeout()`), and calls
    /// `compute()` itself if the leader failed or went away.
    pub async fn run<E, F: Future<Output = Result<V, E>>>(
        &self,
        key: K,
        wait_limit: Duration,
        on_timeout: impl FnOnce() -> E,
        compute: impl FnOnce() -> F,
    ) -> (Result<V, E>, Answered) {
        let follower = match self.flights.lock() {
            Ok(mut flights) => match flights.get_mut(&key) {
                Some(followers) => {
                    let (tx, rx) = oneshot::channel();
                    followers.push(tx);
                    Some(rx)
                }
                None => {
                    flights.insert(key.clone(), Vec::new());
                    None
                }
            },
            // A poisoned map: no coalescing, every caller computes.
            Err(_) => return (compute().await, Answered::Computed),
        };
        if let Some(answer) = follower {
            let waited = future::or(async { Some(answer.await) }, async {
                glommio::timer::sleep(wait_limit).await;
                None
            })
            .await;
            return match waited {
                Some(Ok(value)) => (Ok(value), Answered::Shared),
                Some(Err(oneshot::Canceled)) => (compute().await, Answered::Computed),
                None => (Err(on_timeout()), Answered::Shared),
            };
        }
        let mut guard = LeaderGuard { flight: self, key: Some(key) };
        let result = compute().await;
        if let Ok(value) = &result {
            let followers = match (guard.key.take(), self.flights.lock()) {
                (Some(key), Ok(mut flights)) => flights.remove(&key).unwrap_or_default(),
                _ => Vec::new(),
            };
            for follower in followers {
                // A follower that timed out or went away dropped its receiver: nothing to do.
                let _ = follower.send(value.clone());
            }
        }
        (result, Answered::Computed)
    }

    /// Keys being computed now.
    pub fn in_flight(&self) -> usize {
        self.flights.lock().map_or(0, |flights| flights.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn on_executor<T: 'static>(test: impl std::future::Future<Output = T> + 'static) -> T {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).make().expect("executor").run(test)
    }

    /// A computation that counts its runs, waits for `release`, then answers `value`.
    async fn counted(runs: Rc<Cell<u32>>, release: async_channel::Receiver<()>, value: Result<u32, String>) -> Result<u32, String> {
        runs.set(runs.get() + 1);
        let _ = release.recv().await;
        value
    }

    const LONG: Duration = Duration::from_secs(30);

    type Flight = Rc<SingleFlight<&'static str, u32>>;
    type Call = glommio::Task<(Result<u32, String>, Answered)>;

    /// A task calling `run(key)` whose computation (if it gets to compute) is `counted`.
    fn spawn_call(flight: &Flight, key: &'static str, runs: &Rc<Cell<u32>>, release: &async_channel::Receiver<()>, value: Result<u32, String>) -> Call {
        let (flight, runs, release) = (flight.clone(), runs.clone(), release.clone());
        glommio::spawn_local(async move { flight.run(key, LONG, || "timeout".to_string(), || counted(runs, release, value)).await })
    }

    #[test]
    fn followers_take_the_leaders_answer() {
        on_executor(async {
            let flight = Rc::new(SingleFlight::<&str, u32>::default());
            let runs = Rc::new(Cell::new(0));
            let (release, released) = async_channel::bounded::<()>(1);
            let leader = spawn_call(&flight, "q", &runs, &released, Ok(7));
            futures_lite::future::yield_now().await;
            assert_eq!(flight.in_flight(), 1);
            let followers: Vec<_> = (0..3).map(|_| spawn_call(&flight, "q", &runs, &released, Ok(99))).collect();
            futures_lite::future::yield_now().await;
            release.close(); // every `counted` returns now
            assert_eq!(leader.await, (Ok(7), Answered::Computed));
            for follower in followers {
                assert_eq!(follower.await, (Ok(7), Answered::Shared));
            }
            assert_eq!(runs.get(), 1, "computed once");
            assert_eq!(flight.in_flight(), 0);
        });
    }

    #[test]
    fn a_failed_or_dropped_leader_lets_followers_compute() {
        on_executor(async {
            let flight = Rc::new(SingleFlight::<&str, u32>::default());
            let runs = Rc::new(Cell::new(0));
            // The leader fails: its follower computes for itself.
            let (release, released) = async_channel::bounded::<()>(1);
            let leader = spawn_call(&flight, "q", &runs, &released, Err("bad".into()));
            futures_lite::future::yield_now().await;
            let follower = spawn_call(&flight, "q", &runs, &released, Ok(5));
            futures_lite::future::yield_now().await;
            release.close();
            assert_eq!(leader.await, (Err("bad".to_string()), Answered::Computed));
            assert_eq!(follower.await, (Ok(5), Answered::Computed));
            assert_eq!(runs.get(), 2);
            assert_eq!(flight.in_flight(), 0);

            // The leader's future is dropped (its client went away): same.
            let (_hold, never) = async_channel::bounded::<()>(1);
            let leader = spawn_call(&flight, "r", &runs, &never, Ok(1));
            futures_lite::future::yield_now().await;
            let follower = spawn_call(&flight, "r", &runs, &released, Ok(6)); // `released` is closed: no wait
            futures_lite::future::yield_now().await;
            drop(leader); // cancels the task
            assert_eq!(follower.await, (Ok(6), Answered::Computed));
            assert_eq!(flight.in_flight(), 0);
        });
    }

    #[test]
    fn a_follower_waits_at_most_its_limit() {
        on_executor(async {
            let flight = Rc::new(SingleFlight::<&str, u32>::default());
            let (_hold, never) = async_channel::bounded::<()>(1);
            spawn_call(&flight, "q", &Rc::new(Cell::new(0)), &never, Ok(1)).detach();
            futures_lite::future::yield_now().await;
            let started = std::time::Instant::now();
            let waited = flight.run("q", Duration::from_millis(50), || "timeout".to_string(), || async { Ok(2) }).await;
            assert_eq!(waited, (Err("timeout".to_string()), Answered::Shared));
            assert!(started.elapsed() >= Duration::from_millis(50));
        });
    }
}
