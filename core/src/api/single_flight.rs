//! Request coalescing ("single flight"): while one caller computes the answer for a key,
//! callers that arrive with the same key wait for that answer instead of computing it again.
//! Only a success is shared, and a shared answer misses at most the writes acknowledged in
//! the `join_window` before the follower arrived (see `SingleFlight::run`).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use futures_lite::future;

/// Coalesces calls with equal keys. Shared by all executors (the callers of one key may run
/// on different cores). The range-query path uses it: a dashboard opened by several people,
/// or many panels refreshed at once with cold caches, sends the same range query many times
/// within the time one evaluation takes; each would otherwise evaluate it in full (measured:
/// 16 clients on a cold 24 h dashboard queued for seconds and held 3.5 GiB).
///
/// Only a success is shared. A leader that fails or goes away (its client closed the
/// connection) lets its followers compute the answer themselves, so no caller depends on
/// another's client or limits.
pub struct SingleFlight<K, V> {
    join_window: Duration,
    flights: Mutex<Flights<K, V>>,
}

/// One key's current flight: its leader's id, when and in which epoch it started, who
/// waits for it.
struct Flight<V> {
    id: u64,
    started: Instant,
    epoch: u64,
    followers: Vec<oneshot::Sender<V>>,
}

struct Flights<K, V> {
    next_id: u64,
    by_key: HashMap<K, Flight<V>>,
    /// Followers of flights replaced by a newer flight of their key (past the join window),
    /// by flight id, until their leader ends.
    retired: HashMap<u64, Vec<oneshot::Sender<V>>>,
}

impl<K: Eq + Hash, V> Flights<K, V> {
    /// The followers of flight `id` of `key`, which ends now.
    fn end(&mut self, key: &K, id: u64) -> Vec<oneshot::Sender<V>> {
        if self.by_key.get(key).is_some_and(|flight| flight.id == id) {
            self.by_key.remove(key).map(|flight| flight.followers).unwrap_or_default()
        } else {
            self.retired.remove(&id).unwrap_or_default()
        }
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

/// Ends the leader's flight when it ends without an answer (failure, or its future
/// dropped), which wakes its followers with nothing: they compute for themselves.
struct LeaderGuard<'a, K: Eq + Hash, V> {
    flight: &'a SingleFlight<K, V>,
    key: Option<K>,
    id: u64,
}

impl<K: Eq + Hash, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut flights)) = (self.key.take(), self.flight.flights.lock()) {
            drop(flights.end(&key, self.id));
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// Calls with equal keys share a flight that started less than `join_window` ago.
    pub fn new(join_window: Duration) -> Self {
        let flights = Flights { next_id: 0, by_key: HashMap::new(), retired: HashMap::new() };
        SingleFlight { join_window, flights: Mutex::new(flights) }
    }

    /// Answers `key` with `compute()`, unless a call with the same key started computing it
    /// in `epoch` or less than the join window ago: then waits for that call's success, at
    /// most `wait_limit` (then `on_timeout()`), and calls `compute()` itself if the leader
    /// failed or went away.
    ///
    /// Every call states an epoch (the range-query path: write requests answered so far). A
    /// flight that started in the caller's own epoch is safe to join: nothing was written in
    /// between, so the leader's answer holds everything the follower could expect. Otherwise
    /// the call starts a new flight for the key (the old one still answers its own
    /// followers). The leader reads its data after it starts, so a shared answer misses at
    /// most the writes acknowledged in the join window before the follower arrived. (Without
    /// these rules, a follower of a 30 s evaluation could miss 30 s of acknowledged writes.)
    pub async fn run<E, F: Future<Output = Result<V, E>>>(
        &self,
        key: K,
        epoch: u64,
        wait_limit: Duration,
        on_timeout: impl FnOnce() -> E,
        compute: impl FnOnce() -> F,
    ) -> (Result<V, E>, Answered) {
        let role = match self.flights.lock() {
            Ok(mut flights) => {
                let flights = &mut *flights;
                match flights.by_key.get_mut(&key) {
                    Some(flight) if flight.epoch == epoch || flight.started.elapsed() < self.join_window => {
                        let (tx, rx) = oneshot::channel();
                        flight.followers.push(tx);
                        Err(rx)
                    }
                    current => {
                        let id = flights.next_id;
                        flights.next_id += 1;
                        let fresh = Flight { id, started: Instant::now(), epoch, followers: Vec::new() };
                        match current {
                            // Too old to join: it keeps answering its own followers.
                            Some(old) => {
                                let old = std::mem::replace(old, fresh);
                                flights.retired.insert(old.id, old.followers);
                            }
                            None => {
                                flights.by_key.insert(key.clone(), fresh);
                            }
                        }
                        Ok(id)
                    }
                }
            }
            // A poisoned map: no coalescing, every caller computes.
            Err(_) => return (compute().await, Answered::Computed),
        };
        let id = match role {
            Ok(id) => id,
            Err(answer) => {
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
        };
        let mut guard = LeaderGuard { flight: self, key: Some(key), id };
        let result = compute().await;
        if let Ok(value) = &result {
            let followers = match (guard.key.take(), self.flights.lock()) {
                (Some(key), Ok(mut flights)) => flights.end(&key, id),
                _ => Vec::new(),
            };
            for follower in followers {
                // A follower that timed out or went away dropped its receiver: nothing to do.
                let _ = follower.send(value.clone());
            }
        }
        (result, Answered::Computed)
    }

    /// Flights in progress (current and replaced ones).
    pub fn in_flight(&self) -> usize {
        self.flights.lock().map_or(0, |flights| flights.by_key.len() + flights.retired.len())
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
        spawn_call_in(flight, key, 0, runs, release, value)
    }

    /// `spawn_call` in a given epoch.
    fn spawn_call_in(flight: &Flight, key: &'static str, epoch: u64, runs: &Rc<Cell<u32>>, release: &async_channel::Receiver<()>, value: Result<u32, String>) -> Call {
        let (flight, runs, release) = (flight.clone(), runs.clone(), release.clone());
        glommio::spawn_local(async move { flight.run(key, epoch, LONG, || "timeout".to_string(), || counted(runs, release, value)).await })
    }

    #[test]
    fn followers_take_the_leaders_answer() {
        on_executor(async {
            let flight = Rc::new(SingleFlight::<&str, u32>::new(LONG));
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
            let flight = Rc::new(SingleFlight::<&str, u32>::new(LONG));
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
            let flight = Rc::new(SingleFlight::<&str, u32>::new(LONG));
            let (_hold, never) = async_channel::bounded::<()>(1);
            spawn_call(&flight, "q", &Rc::new(Cell::new(0)), &never, Ok(1)).detach();
            futures_lite::future::yield_now().await;
            let started = std::time::Instant::now();
            let waited = flight.run("q", 0, Duration::from_millis(50), || "timeout".to_string(), || async { Ok(2) }).await;
            assert_eq!(waited, (Err("timeout".to_string()), Answered::Shared));
            assert!(started.elapsed() >= Duration::from_millis(50));
        });
    }

    #[test]
    fn a_flight_older_than_the_join_window_is_not_joined() {
        on_executor(async {
            let flight = Rc::new(SingleFlight::<&str, u32>::new(Duration::from_millis(50)));
            let runs = Rc::new(Cell::new(0));
            let (release, released) = async_channel::bounded::<()>(1);
            let old_leader = spawn_call(&flight, "q", &runs, &released, Ok(1));
            futures_lite::future::yield_now().await;
            let old_follower = spawn_call(&flight, "q", &runs, &released, Ok(99));
            futures_lite::future::yield_now().await;
            glommio::timer::sleep(Duration::from_millis(60)).await;
            // Past the window and after a write (epoch 1): a new flight, whose follower gets
            // the new leader's answer.
            let new_leader = spawn_call_in(&flight, "q", 1, &runs, &released, Ok(2));
            futures_lite::future::yield_now().await;
            let new_follower = spawn_call_in(&flight, "q", 1, &runs, &released, Ok(98));
            futures_lite::future::yield_now().await;
            assert_eq!(flight.in_flight(), 2);
            release.close();
            assert_eq!(old_leader.await, (Ok(1), Answered::Computed));
            assert_eq!(old_follower.await, (Ok(1), Answered::Shared));
            assert_eq!(new_leader.await, (Ok(2), Answered::Computed));
            assert_eq!(new_follower.await, (Ok(2), Answered::Shared));
            assert_eq!(runs.get(), 2);
            assert_eq!(flight.in_flight(), 0);
        });
    }

    #[test]
    fn a_flight_of_the_same_epoch_is_joined_past_the_window() {
        on_executor(async {
            let flight = Rc::new(SingleFlight::<&str, u32>::new(Duration::from_millis(50)));
            let runs = Rc::new(Cell::new(0));
            let (release, released) = async_channel::bounded::<()>(1);
            let leader = spawn_call_in(&flight, "q", 7, &runs, &released, Ok(1));
            futures_lite::future::yield_now().await;
            glommio::timer::sleep(Duration::from_millis(60)).await;
            let follower = spawn_call_in(&flight, "q", 7, &runs, &released, Ok(99));
            futures_lite::future::yield_now().await;
            release.close();
            assert_eq!(leader.await, (Ok(1), Answered::Computed));
            assert_eq!(follower.await, (Ok(1), Answered::Shared), "nothing was written meanwhile");
            assert_eq!(runs.get(), 1);
        });
    }
}
