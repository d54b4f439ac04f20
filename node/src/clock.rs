//! The clock seam: the only place in `detcd-node` that reads time.
//!
//! A node sees time only through its [`Clock`]. The clock maps the runtime's monotonic time (real
//! time under tokio, simulated time under madsim, where every node shares one global clock) to the
//! node's *local* time through an offset and a rate, so that the simulator can give each node its own
//! skewed, drifting or jumping clock while the node code stays the same in both builds.
//!
//! Local time is piecewise linear in global time:
//!
//! ```text
//!   local(g) = anchor_local + (g - anchor_global) * rate        (rate 1.0 = a perfect clock)
//! ```
//!
//! Changing the rate re-anchors at "now", so local time never jumps when the rate changes; a jump is
//! an explicit [`Clock::jump`]. Timers ([`Clock::sleep`]) convert a local duration to a global one
//! with the rate current when the timer is armed: a node whose clock runs at 1.5x fires its 10 ms
//! Raft tick every 6.67 ms of global time, exactly as a real machine with a fast oscillator would.
//!
//! Invariants:
//! - `rate` is finite and > 0 (a clock never stops or runs backwards by drift; backwards steps are
//!   explicit jumps, as NTP steps are).
//! - With rate and jumps untouched, local time advances exactly as global time.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A point in a node's local time, in nanoseconds since the node's clock was created (plus jumps).
/// Can be negative after a backwards jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(pub i128);

impl LocalTime {
    /// Milliseconds since the clock's epoch, rounded down.
    pub fn as_millis(self) -> i64 {
        (self.0.div_euclid(1_000_000)) as i64
    }

    /// `self + d`.
    pub fn plus(self, d: Duration) -> LocalTime {
        LocalTime(self.0 + d.as_nanos() as i128)
    }

    /// How far `self` is after `earlier` (zero if it is not after).
    pub fn since(self, earlier: LocalTime) -> Duration {
        let ns = (self.0 - earlier.0).max(0);
        Duration::from_nanos(ns.min(u64::MAX as i128) as u64)
    }
}

#[derive(Debug)]
struct ClockState {
    anchor_global: Instant,
    anchor_local_ns: i128,
    rate: f64,
}

/// A node's clock. Cheap to clone; clones share state, so a simulator holding a clone can skew the
/// clock of a running node.
#[derive(Clone, Debug)]
pub struct Clock {
    state: Arc<Mutex<ClockState>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A perfect clock starting at local time 0 now.
    pub fn new() -> Clock {
        Clock {
            state: Arc::new(Mutex::new(ClockState {
                anchor_global: Instant::now(),
                anchor_local_ns: 0,
                rate: 1.0,
            })),
        }
    }

    /// The node's local time now.
    pub fn now(&self) -> LocalTime {
        let s = self.state.lock().expect("clock lock");
        LocalTime(Self::local_at(&s, Instant::now()))
    }

    fn local_at(s: &ClockState, global: Instant) -> i128 {
        let elapsed = global.saturating_duration_since(s.anchor_global).as_nanos() as f64;
        s.anchor_local_ns + (elapsed * s.rate) as i128
    }

    /// The clock's current rate (1.0 = runs as global time).
    pub fn rate(&self) -> f64 {
        self.state.lock().expect("clock lock").rate
    }

    /// Makes the clock run at `rate` times global speed from now on (drift). No jump happens.
    ///
    /// # Panics
    /// If `rate` is not finite and positive (a programmer error in the fault schedule).
    pub fn set_rate(&self, rate: f64) {
        assert!(rate.is_finite() && rate > 0.0, "clock rate must be finite and > 0, got {rate}");
        let mut s = self.state.lock().expect("clock lock");
        let now = Instant::now();
        s.anchor_local_ns = Self::local_at(&s, now);
        s.anchor_global = now;
        s.rate = rate;
    }

    /// Steps the clock by `delta_ns` (positive: forward; negative: backwards), like an NTP step.
    pub fn jump(&self, delta_ns: i128) {
        let mut s = self.state.lock().expect("clock lock");
        s.anchor_local_ns += delta_ns;
    }

    /// Converts a local duration to the global duration it takes at the current rate.
    pub fn to_global(&self, local: Duration) -> Duration {
        let rate = self.rate();
        Duration::from_secs_f64(local.as_secs_f64() / rate)
    }

    /// Sleeps for `local` of this node's time.
    pub async fn sleep(&self, local: Duration) {
        tokio::time::sleep(self.to_global(local)).await
    }

    /// Runs `fut` with a deadline `local` of this node's time away; `None` if it ran out.
    pub async fn timeout<F: std::future::Future>(&self, local: Duration, fut: F) -> Option<F::Output> {
        tokio::time::timeout(self.to_global(local), fut).await.ok()
    }

    /// The global instant at which `local` of this node's time will have passed (at today's rate).
    /// For timers in `select!` loops (`tokio::time::sleep_until`).
    pub fn deadline_after(&self, local: Duration) -> Instant {
        Instant::now() + self.to_global(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drift_scales_local_time_and_timers() {
        let clock = Clock::new();
        clock.set_rate(1.5);
        let t0 = clock.now();
        clock.sleep(Duration::from_millis(150)).await; // 100 ms of global time
        let elapsed = clock.now().since(t0);
        assert!((elapsed.as_millis() as i64 - 150).abs() <= 1, "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn jump_moves_local_time_only() {
        let clock = Clock::new();
        let t0 = clock.now();
        clock.jump(-5_000_000_000);
        assert_eq!(clock.now().0 - t0.0, -5_000_000_000);
        clock.jump(7_000_000_000);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(clock.now().as_millis() - t0.as_millis(), 2_010);
    }

    #[test]
    #[should_panic(expected = "clock rate must be finite")]
    fn zero_rate_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async { Clock::new().set_rate(0.0) });
    }
}
