//! A latest-value broadcast whose subscribers are woken in a fixed order.
//!
//! Why not `tokio::sync::watch`: tokio spreads a watch channel's waiters over several internal
//! `Notify` shards picked with a runtime-internal RNG that madsim's seed does not control, so the
//! order in which many waiters wake differs from run to run, and with it the order of everything
//! they do next (watch responses, keep-alive answers). Here every subscriber has its own `Notify`,
//! woken in subscription order: the same seed wakes them the same way every time.
//!
//! Semantics as `watch`: a receiver sees at least the latest value (intermediate values may be
//! skipped); `changed()` returns as soon as a value newer than the last one it saw exists, and an
//! error once the sender is gone.

use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

struct Inner<T> {
    value: T,
    /// Bumped on every send; a receiver remembers the version it last saw.
    version: u64,
    /// Subscribers in subscription order; dead ones are pruned on send.
    subscribers: Vec<Weak<Notify>>,
    closed: bool,
}

/// The sending side. Dropping it closes the feed.
pub struct Feed<T: Copy> {
    inner: Arc<Mutex<Inner<T>>>,
}

/// A receiving side.
pub struct FeedRx<T: Copy> {
    inner: Arc<Mutex<Inner<T>>>,
    notify: Arc<Notify>,
    seen: u64,
}

/// The feed's sender is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("feed closed")]
pub struct Closed;

impl<T: Copy> Feed<T> {
    pub fn new(value: T) -> Self {
        Feed { inner: Arc::new(Mutex::new(Inner { value, version: 0, subscribers: Vec::new(), closed: false })) }
    }

    /// Replaces the value and wakes every subscriber, in subscription order.
    pub fn send_replace(&self, value: T) {
        let mut g = self.inner.lock().expect("feed lock");
        g.value = value;
        g.version += 1;
        g.subscribers.retain(|w| match w.upgrade() {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        });
    }

    /// A receiver that has seen the current value.
    pub fn subscribe(&self) -> FeedRx<T> {
        let seen = self.inner.lock().expect("feed lock").version;
        FeedRx::join(&self.inner, seen)
    }
}

impl<T: Copy> Drop for Feed<T> {
    fn drop(&mut self) {
        let mut g = self.inner.lock().expect("feed lock");
        g.closed = true;
        for n in g.subscribers.drain(..).filter_map(|w| w.upgrade()) {
            n.notify_one();
        }
    }
}

/// Subscribers held at most before dead ones are pruned on subscribe: a feed that rarely sends
/// (a shutdown flag) but is subscribed to by every request would otherwise grow without bound.
const PRUNE_AT: usize = 64;

impl<T: Copy> FeedRx<T> {
    fn join(inner: &Arc<Mutex<Inner<T>>>, seen: u64) -> FeedRx<T> {
        let notify = Arc::new(Notify::new());
        let mut g = inner.lock().expect("feed lock");
        if g.subscribers.len() >= PRUNE_AT && g.subscribers.len().is_power_of_two() {
            g.subscribers.retain(|w| w.strong_count() > 0);
        }
        g.subscribers.push(Arc::downgrade(&notify));
        FeedRx { inner: inner.clone(), notify, seen }
    }

    /// Waits until the latest value satisfies `f` (at once if it already does) and returns it.
    ///
    /// # Errors
    /// [`Closed`] once the sender is dropped and the value never satisfied `f`.
    pub async fn wait_for(&mut self, f: impl Fn(&T) -> bool) -> Result<T, Closed> {
        loop {
            let v = self.borrow();
            if f(&v) {
                return Ok(v);
            }
            self.changed().await?;
        }
    }

    /// The latest value.
    pub fn borrow(&self) -> T {
        self.inner.lock().expect("feed lock").value
    }

    /// Waits until a value newer than the last one seen exists.
    ///
    /// # Errors
    /// [`Closed`] once the sender is dropped.
    pub async fn changed(&mut self) -> Result<(), Closed> {
        loop {
            {
                let g = self.inner.lock().expect("feed lock");
                if g.version != self.seen {
                    self.seen = g.version;
                    return Ok(());
                }
                if g.closed {
                    return Err(Closed);
                }
            }
            // `notify_one` stores a permit when nobody waits, so a send between the check above
            // and this await is not lost.
            self.notify.notified().await;
        }
    }
}

/// A clone is a new subscriber (woken after every earlier one) that has seen what this one saw.
impl<T: Copy> Clone for FeedRx<T> {
    fn clone(&self) -> Self {
        FeedRx::join(&self.inner, self.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_receiver_sees_the_latest_value_and_no_send_is_lost() {
        let feed = Feed::new(1u32);
        let mut rx = feed.subscribe();
        feed.send_replace(2);
        feed.send_replace(3);
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow(), 3);
        let waiter = tokio::spawn(async move {
            rx.changed().await.unwrap();
            rx.borrow()
        });
        tokio::task::yield_now().await;
        feed.send_replace(4);
        assert_eq!(waiter.await.unwrap(), 4);
    }

    #[tokio::test]
    async fn wait_for_returns_at_once_when_the_value_already_satisfies_it() {
        let feed = Feed::new(false);
        let mut rx = feed.subscribe();
        let mut late = rx.clone();
        feed.send_replace(true);
        assert_eq!(rx.wait_for(|s| *s).await, Ok(true));
        assert_eq!(late.wait_for(|s| *s).await, Ok(true));
        let mut after = feed.subscribe();
        assert_eq!(after.wait_for(|s| *s).await, Ok(true));
        drop(feed);
        assert_eq!(after.wait_for(|s| !*s).await, Err(Closed));
    }

    #[tokio::test]
    async fn subscribers_are_woken_in_subscription_order_and_dead_ones_are_pruned() {
        let feed = Feed::new(0u32);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let mut rx = feed.subscribe();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                rx.changed().await.unwrap();
                order.lock().unwrap().push(i);
            }));
        }
        for _ in 0..(4 * PRUNE_AT) {
            drop(feed.subscribe());
        }
        assert!(feed.inner.lock().unwrap().subscribers.len() <= 2 * PRUNE_AT + 5);
        tokio::task::yield_now().await;
        feed.send_replace(1);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn dropping_the_sender_closes_the_feed() {
        let feed = Feed::new(0u8);
        let mut rx = feed.subscribe();
        drop(feed);
        assert_eq!(rx.changed().await, Err(Closed));
    }
}
