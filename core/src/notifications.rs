//! Server notifications, as Prometheus 3 keeps them for its UI: short messages about the
//! server's state (a failed configuration reload, a shutdown under way), listed by
//! `/api/v1/notifications` and pushed to subscribers of `/api/v1/notifications/live`. A
//! subscriber that does not keep up loses updates rather than holding back the server.

use std::sync::Mutex;

/// Shown while the last reload of the scrape configuration failed.
pub const RELOAD_FAILED: &str = "The last reload of the scrape configuration failed; the configuration read before stays in force.";
/// Shown while the last reload of the configuration file's `relabel_configs` and
/// `stream_aggregation` failed.
pub const WRITE_RULES_RELOAD_FAILED: &str = "The last reload of relabel_configs and stream_aggregation from the configuration file failed; the rules read before stay in force.";
/// Shown while the shards open and replay their write-ahead logs.
pub const STARTING_UP: &str = "Metricstor is starting: its shards are replaying their write-ahead logs (see /api/v1/status/walreplay).";
/// Shown from the shutdown signal on.
pub const SHUTTING_DOWN: &str = "Metricstor is shutting down: it accepts no new connections and is finishing the requests in flight.";

/// Updates a subscriber may have queued before newer ones are dropped (Prometheus' 10).
const SUBSCRIBER_QUEUE: usize = 10;

/// One notification: its text, when it was last raised (Unix nanoseconds), and whether its
/// state still holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub text: &'static str,
    pub date_ns: i64,
    pub active: bool,
}

/// What a subscription yields: each update, until the server shuts down.
pub type Subscription = async_channel::Receiver<Notification>;

#[derive(Default)]
struct State {
    active: Vec<Notification>,
    subscribers: Vec<async_channel::Sender<Notification>>,
    /// Set at shutdown: no new subscriptions, the existing ones have ended.
    closed: bool,
    sent: u64,
    dropped: u64,
}

/// The server's notifications and their subscribers; one is shared by every executor. A
/// message is active while its state lasts; when the state ends, subscribers get it once more
/// marked inactive and it leaves the list. Subscribers are bounded
/// (`server.max_notification_subscribers`) and each has a small queue (`SUBSCRIBER_QUEUE`): a
/// subscriber that does not keep up loses updates rather than holding back the server.
pub struct Notifications {
    state: Mutex<State>,
    max_subscribers: usize,
}

impl Notifications {
    pub fn new(max_subscribers: usize) -> Notifications {
        Notifications { state: Mutex::new(State::default()), max_subscribers }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Raises `text` now (again: its date moves on) and tells every subscriber.
    pub fn add(&self, text: &'static str) {
        let mut state = self.state();
        let now = now_ns();
        let notification = match state.active.iter_mut().find(|n| n.text == text) {
            Some(existing) => {
                existing.date_ns = now;
                existing.clone()
            }
            None => {
                let fresh = Notification { text, date_ns: now, active: true };
                state.active.push(fresh.clone());
                fresh
            }
        };
        notify(&mut state, &notification);
    }

    /// Ends `text`'s state: subscribers get it marked inactive and it leaves the list.
    pub fn delete(&self, text: &'static str) {
        let mut state = self.state();
        if let Some(at) = state.active.iter().position(|n| n.text == text) {
            let mut ended = state.active.remove(at);
            ended.active = false;
            notify(&mut state, &ended);
        }
    }

    /// The active notifications, oldest first.
    pub fn list(&self) -> Vec<Notification> {
        self.state().active.clone()
    }

    /// A new subscription, starting with the active notifications; `None` when
    /// `max_subscribers` are already subscribed or the server is shutting down.
    pub fn subscribe(&self) -> Option<Subscription> {
        let mut state = self.state();
        state.subscribers.retain(|s| !s.is_closed());
        if state.closed || state.subscribers.len() >= self.max_subscribers {
            return None;
        }
        let (tx, rx) = async_channel::bounded(SUBSCRIBER_QUEUE);
        for n in &state.active {
            // More active notifications than the queue holds: the newest wait for updates.
            let _ = tx.try_send(n.clone());
        }
        state.subscribers.push(tx);
        Some(rx)
    }

    /// Shutdown: raises [`SHUTTING_DOWN`], then ends every subscription after that update, so
    /// an open `/live` stream never holds back the drain.
    pub fn shut_down(&self) {
        self.add(SHUTTING_DOWN);
        let mut state = self.state();
        state.closed = true;
        state.subscribers.clear();
    }

    /// (subscribers now, updates sent, updates dropped) for `/metrics`.
    pub fn figures(&self) -> (usize, u64, u64) {
        let mut state = self.state();
        state.subscribers.retain(|s| !s.is_closed());
        (state.subscribers.len(), state.sent, state.dropped)
    }
}

/// Queues `notification` for each subscriber; a full queue loses it, a gone subscriber is
/// forgotten.
fn notify(state: &mut State, notification: &Notification) {
    let mut sent = 0;
    let mut dropped = 0;
    state.subscribers.retain(|s| match s.try_send(notification.clone()) {
        Ok(()) => {
            sent += 1;
            true
        }
        Err(async_channel::TrySendError::Full(_)) => {
            sent += 1;
            dropped += 1;
            true
        }
        Err(async_channel::TrySendError::Closed(_)) => false,
    });
    state.sent += sent;
    state.dropped += dropped;
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_notification_is_listed_until_deleted_and_subscribers_see_both() {
        let n = Notifications::new(2);
        let sub = n.subscribe().expect("room for a subscriber");
        n.add(RELOAD_FAILED);
        let listed = n.list();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].text, listed[0].active), (RELOAD_FAILED, true));
        let first_date = listed[0].date_ns;
        // Raised again: one entry, its date moved on.
        n.add(RELOAD_FAILED);
        assert_eq!(n.list().len(), 1);
        assert!(n.list()[0].date_ns >= first_date);
        n.delete(RELOAD_FAILED);
        assert!(n.list().is_empty());
        let got: Vec<(bool, &str)> = std::iter::from_fn(|| sub.try_recv().ok()).map(|n| (n.active, n.text)).collect();
        assert_eq!(got, vec![(true, RELOAD_FAILED), (true, RELOAD_FAILED), (false, RELOAD_FAILED)]);
        // Deleting what is not active tells nobody.
        n.delete(RELOAD_FAILED);
        assert!(sub.try_recv().is_err());
    }

    #[test]
    fn a_subscription_starts_with_the_active_ones_and_is_bounded() {
        let n = Notifications::new(1);
        n.add(RELOAD_FAILED);
        let sub = n.subscribe().expect("room for one");
        assert_eq!(sub.try_recv().map(|n| n.text), Ok(RELOAD_FAILED));
        assert!(n.subscribe().is_none(), "a second subscriber over the limit of 1");
        drop(sub);
        assert!(n.subscribe().is_some(), "the gone subscriber's place is free again");
    }

    #[test]
    fn a_slow_subscriber_loses_updates_past_its_queue() {
        let n = Notifications::new(1);
        let sub = n.subscribe().expect("room");
        for _ in 0..SUBSCRIBER_QUEUE + 5 {
            n.add(RELOAD_FAILED);
        }
        assert_eq!(std::iter::from_fn(|| sub.try_recv().ok()).count(), SUBSCRIBER_QUEUE);
        let (subscribers, sent, dropped) = n.figures();
        assert_eq!((subscribers, sent, dropped), (1, SUBSCRIBER_QUEUE as u64 + 5, 5));
    }

    #[test]
    fn shutdown_tells_subscribers_then_ends_their_subscriptions() {
        let n = Notifications::new(4);
        let sub = n.subscribe().expect("room");
        n.shut_down();
        assert_eq!(sub.try_recv().map(|n| (n.text, n.active)), Ok((SHUTTING_DOWN, true)));
        assert_eq!(sub.try_recv(), Err(async_channel::TryRecvError::Closed));
        assert!(n.subscribe().is_none(), "no subscription once shutting down");
        assert_eq!(n.list().iter().map(|n| n.text).collect::<Vec<_>>(), vec![SHUTTING_DOWN]);
    }
}
