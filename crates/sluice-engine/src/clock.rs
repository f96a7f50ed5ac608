//! Time, injected: the engine reads "now" only through a [`Clock`], the
//! one clock every Sluice crate shares ([`sluice_clock`]).
//!
//! Live runs use [`SystemClock`]; replays and tests use [`ManualClock`],
//! moved to each record's recorded arrival time, so a replay is
//! deterministic.

pub use sluice_clock::{Clock, ManualClock, SystemClock};
