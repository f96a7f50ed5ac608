//! Time for delivery streams: every arrival timestamp and buffering interval is
//! read through [`Clock`], the one clock every Sluice crate shares
//! ([`sluice_clock`]), so tests drive time by hand with [`ManualClock`] (or
//! tokio's paused time with [`TokioClock`]).

use chrono::{DateTime, TimeDelta, Utc};

pub use sluice_clock::{Clock, ManualClock, SystemClock};

/// Wall time that follows tokio's clock: starts at a given instant and
/// advances with `tokio::time::Instant`, so `tokio::time::pause`/`advance`
/// move it too.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start_wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start_wall` now, advancing with tokio time.
    pub fn starting_at(start_wall: DateTime<Utc>) -> Self {
        Self {
            start_wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().duration_since(self.start);
        self.start_wall + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_tokio_time() {
        let start = DateTime::from_timestamp_millis(1_700_000_000_000).expect("time");
        let clock = TokioClock::starting_at(start);
        tokio::time::advance(std::time::Duration::from_millis(1_500)).await;
        assert_eq!(clock.now_ms(), 1_700_000_001_500);
        assert_eq!(clock.now(), start + TimeDelta::milliseconds(1_500));
    }
}
