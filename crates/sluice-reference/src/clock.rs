//! Time for reference tables: the load time of each snapshot is read
//! through [`Clock`], the one clock every Sluice crate shares
//! ([`sluice_clock`]), so tests set it by hand with [`ManualClock`]. (The
//! reload *interval* is tokio time, which tests pause and advance.)

pub use sluice_clock::{Clock, ManualClock, SystemClock};
