//! Time for the video service, only through [`Clock`], the one clock every
//! Sluice crate shares ([`sluice_clock`]): server timestamps, retention and
//! MILLIS_BEHIND_NOW all read it, so tests drive time by hand with
//! [`ManualClock`].

pub use sluice_clock::{Clock, ManualClock, SystemClock};
