//! Time as the state store sees it: a monotonic [`Timestamp`] in microseconds since an epoch the
//! store chooses, read from a [`Clock`] that tests can drive by hand.
//!
//! Limit and cooldown arithmetic works on `Timestamp`s, never on `Instant`s, so the in-memory store
//! (a tokio `Instant` since its start) and the Redis store (the server's `TIME`) share it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A point in time, in microseconds since the store's epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This instant plus `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(micros(duration)))
    }

    /// How long from `self` until `later`; zero if `later` is not after `self`.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_micros(later.0.saturating_sub(self.0))
    }
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A source of monotonic time for a store.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// Tokio's clock: real time, or paused time under `tokio::time::pause` (feature `test-util`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: deterministic tests without a paused runtime.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset_micros: AtomicU64,
}

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> Self {
        ManualClock {
            start: Instant::now(),
            offset_micros: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_micros.fetch_add(micros(by), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_micros(self.offset_micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new();
        let before = clock.now();
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now() - before, Duration::from_secs(60));
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp(5);
        assert_eq!(t.plus(Duration::from_micros(10)), Timestamp(15));
        assert_eq!(Timestamp(15).until(t), Duration::ZERO);
        assert_eq!(t.until(Timestamp(15)), Duration::from_micros(10));
    }
}
