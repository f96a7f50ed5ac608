//! The one clock of every Sluice crate. Time is read only through
//! [`Clock`]: the engine (ROWTIME of live input, clock functions), the
//! reference tables' refresh, the shard log's arrival times, Firehose's
//! buffering and object names and Kinesis Video's server timestamps all
//! take an `Arc<dyn Clock>`, so one [`ManualClock`] drives all of them in
//! a test or a replay, and [`SystemClock`] is the one place that reads
//! real time.
//!
//! ```
//! use sluice_clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(1_000);
//! clock.advance(500);
//! assert_eq!(clock.now_ms(), 1_500);
//! assert_eq!(clock.now().timestamp_millis(), 1_500);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;

    /// The same instant as a UTC date-time.
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
}

/// The system's real-time clock: the one place that reads real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to (tests, replay); clones share the
/// same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `ms` since the epoch.
    pub fn new(ms: i64) -> Self {
        ManualClock {
            ms: Arc::new(AtomicI64::new(ms)),
        }
    }

    /// A clock standing at `at` (to the millisecond).
    pub fn at(at: DateTime<Utc>) -> Self {
        Self::new(at.timestamp_millis())
    }

    /// Sets the time, backwards too.
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Sets the time to `at` (to the millisecond), backwards too.
    pub fn set_at(&self, at: DateTime<Utc>) {
        self.set(at.timestamp_millis());
    }

    /// Moves the time forward to `ms`; an earlier `ms` leaves it where it
    /// is (a replay's clock never goes back).
    pub fn advance_to(&self, ms: i64) {
        self.ms.fetch_max(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (to the millisecond).
    pub fn advance_by(&self, by: Duration) {
        self.advance(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new(10);
        let other = clock.clone();
        clock.advance(5);
        assert_eq!(other.now_ms(), 15);
        clock.advance_to(12);
        assert_eq!(clock.now_ms(), 15, "advance_to never goes back");
        clock.advance_to(20);
        assert_eq!(clock.now_ms(), 20);
        clock.set(3);
        assert_eq!(clock.now_ms(), 3, "set goes back too");
        clock.advance_by(Duration::from_millis(2_500));
        assert_eq!(other.now_ms(), 2_503);
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).expect("time");
        clock.set_at(t);
        assert_eq!(clock.now(), t);
        assert_eq!(ManualClock::at(t).now_ms(), 1_700_000_000_123);
    }

    #[test]
    fn the_system_clock_reads_the_same_instant_both_ways() {
        let (ms, at) = (SystemClock.now_ms(), SystemClock.now());
        assert!(at.timestamp_millis() >= ms && at.timestamp_millis() - ms < 60_000);
        assert!(ms > 1_600_000_000_000, "after 2020");
    }
}
