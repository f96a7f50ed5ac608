//! Time for the shard log, only through [`Clock`], the one clock every
//! Sluice crate shares ([`sluice_clock`]), so tests and replays drive it by
//! hand ([`ManualClock`]) and the server uses [`SystemClock`].

pub use sluice_clock::{Clock, ManualClock, SystemClock};
