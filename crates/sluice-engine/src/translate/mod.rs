//! Translating a planned application into another engine's SQL, so an app
//! that outgrows one machine runs on a distributed engine unchanged in
//! meaning. The plan ([`AppPlan`]), not the SQL text, is what is translated:
//! each construct Sluice plans has one translation rule.
//!
//! The entry point is [`to_flink`]: an Apache Flink SQL script (Flink 1.20
//! / 2.x syntax). What Flink cannot express with the same meaning is a
//! [`Refusal`] naming the construct and its line; every refusal of an app
//! is collected ([`Refusals`]), never only the first. A small, known
//! difference is translated and said in a `-- note:` line of the script.
//!
//! Files: `flink.rs` (the script: tables, views, sinks), `pump.rs` (one
//! pump's SELECT per operator), `join.rs` (a pump's join as a view of the
//! joined rows), `expr.rs` (DataFusion physical
//! expressions and types as Flink SQL, with the KDA → Flink function
//! table).

mod expr;
mod flink;
mod join;
mod pump;
#[cfg(test)]
mod tests;

use std::fmt;

pub use flink::{Connectors, FlinkScript, to_flink};

use crate::error::Location;

/// A construct the translation refuses: Flink cannot express it with the
/// same meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Where the construct is (its pump's or stream's declaration; 0:0
    /// for what the configuration declares).
    pub location: Location,
    /// The construct, in KDA's words (e.g. `stagger window (WINDOWED BY STAGGER)`).
    pub construct: String,
    /// Why it is refused.
    pub why: String,
}

impl Refusal {
    pub(crate) fn new(
        location: Location,
        construct: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            location,
            construct: construct.into(),
            why: why.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.line == 0 {
            write!(f, "configuration: {}: {}", self.construct, self.why)
        } else {
            write!(
                f,
                "line {}: {}: {}",
                self.location.line, self.construct, self.why
            )
        }
    }
}

/// Every refusal of one application, in the order of the plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refusals(pub Vec<Refusal>);

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}
