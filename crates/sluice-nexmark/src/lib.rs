//! Nexmark for Sluice: an event generator and the queries' expected results.
//!
//! Nexmark models an online auction: *persons* register, put *auctions* up
//! for sale and place *bids*. [`Generator`] produces the event stream
//! deterministically from a seed, following the distributions of the
//! reference generator (Apache Beam's and Flink's Nexmark `GeneratorConfig`):
//! persons, auctions and bids in the proportion 1 : 3 : 46, hot auctions,
//! sellers and bidders, bids and auctions that refer to recently created
//! auctions and persons, and event times spaced by the configured
//! inter-event delay. Each event is a plain struct ([`Person`], [`Auction`],
//! [`Bid`]) and can be written as the JSON record the KDA apps under
//! `sql-examples/nexmark/` read ([`TimedEvent::write_json`]).
//!
//! [`oracle`] computes each Nexmark query as those apps express it, directly
//! over the events, with no SQL engine: the golden cases and `sluice bench
//! nexmark` check the engine's output against it.

mod generator;
pub mod golden;
pub mod oracle;

pub use generator::{
    Auction, Bid, CATEGORIES, Event, Generator, GeneratorConfig, Person, TimedEvent, US_CITIES,
    US_STATES,
};

/// What can go wrong when writing the golden cases or checking results.
#[derive(Debug, thiserror::Error)]
pub enum NexmarkError {
    /// A query name that [`oracle`] does not know.
    #[error("unknown Nexmark query {query:?} (expected one of q0..q8)")]
    UnknownQuery {
        /// The name given.
        query: String,
    },
    /// An app file of `sql-examples/nexmark/` could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
