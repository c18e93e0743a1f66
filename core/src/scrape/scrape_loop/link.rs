//! The link between a target's loop and the set of targets: a `LoopHandle` held by the
//! target set and a `LoopInbox` held by the loop, to replace the loop's target, hand its
//! series on to a successor, or stop it (dropping the handle stops the loop too).

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use crate::scrape::discovery::Target;

/// Why a loop ended: its target went away (write staleness markers) or the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Removed,
    Shutdown,
}

/// What `scrape::serve` and a target's loop share: the target as last discovered (a changed
/// group can rediscover the same target with other discovered labels) and how the loop is
/// told to end. Both live on one executor, so this is cells and a waker (a few dozen bytes
/// per target), not a channel (about 700).
struct LoopShared {
    target: std::cell::RefCell<Arc<Target>>,
    stop: std::cell::Cell<Option<Stop>>,
    waker: std::cell::Cell<Option<std::task::Waker>>,
}

impl LoopShared {
    fn target(&self) -> Arc<Target> {
        self.target.borrow().clone()
    }

    fn stop(&self, stop: Stop) {
        if self.stop.get().is_none() {
            self.stop.set(Some(stop));
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }
}

/// `scrape::serve`'s end of a loop: `remove` ends the loop with staleness markers (its target
/// is gone); dropped without that, the loop ends quietly (a reload hands its series to a new
/// loop, or the server stops).
pub struct LoopHandle(Rc<LoopShared>);

impl LoopHandle {
    pub fn target(&self) -> Arc<Target> {
        self.0.target()
    }

    /// The same target (same key) rediscovered: the loop scrapes this one from its next
    /// scrape on, and the one it had is let go (with the group it came from, which a
    /// long-lived loop would otherwise keep, one group version per loop).
    pub fn set_target(&self, target: Arc<Target>) {
        *self.0.target.borrow_mut() = target;
    }

    pub fn remove(self) {
        self.0.stop(Stop::Removed);
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        self.0.stop(Stop::Shutdown);
    }
}

/// The loop's end.
pub struct LoopInbox(Rc<LoopShared>);

impl LoopInbox {
    pub(super) fn target(&self) -> Arc<Target> {
        self.0.target()
    }

    /// Ready with how the loop was told to end, once it was.
    fn stopped(&self) -> impl Future<Output = Stop> + '_ {
        std::future::poll_fn(|cx| match self.0.stop.get() {
            Some(stop) => std::task::Poll::Ready(stop),
            None => {
                self.0.waker.set(Some(cx.waker().clone()));
                std::task::Poll::Pending
            }
        })
    }
}

/// Both ends of a new loop for `target`.
pub fn loop_link(target: Arc<Target>) -> (LoopHandle, LoopInbox) {
    let shared = Rc::new(LoopShared { target: std::cell::RefCell::new(target), stop: std::cell::Cell::new(None), waker: std::cell::Cell::new(None) });
    (LoopHandle(shared.clone()), LoopInbox(shared))
}

/// Runs `work` unless the loop is told to stop first.
pub(super) async fn unless_stopped<T>(stop: &LoopInbox, work: impl Future<Output = T>) -> Result<T, Stop> {
    futures_lite::future::or(async { Ok(work.await) }, async { Err(stop.stopped().await) }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::scrape_loop::tests::target;

    /// A rediscovered target replaces the loop's, and the old one (with the group it holds)
    /// is let go; dropping the handle tells the loop to end quietly, `remove` with markers.
    #[test]
    fn a_loop_handle_lets_a_replaced_target_go_and_stops_its_loop() {
        let yaml = "scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]";
        let first = Arc::new(target(yaml));
        let old = Arc::downgrade(&first);
        let (handle, inbox) = loop_link(first);
        let second = Arc::new(target(yaml));
        handle.set_target(second.clone());
        assert!(old.upgrade().is_none(), "the replaced target is still held");
        assert!(Arc::ptr_eq(&inbox.target(), &second));
        assert_eq!(inbox.0.stop.get(), None);
        drop(handle);
        assert_eq!(inbox.0.stop.get(), Some(Stop::Shutdown));
        let (handle, inbox) = loop_link(second);
        handle.remove();
        assert_eq!(inbox.0.stop.get(), Some(Stop::Removed), "a removal is not turned into a quiet end by the drop after it");
    }
}
