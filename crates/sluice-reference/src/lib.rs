//! Reference tables for Sluice: the objects a KDA application joins its
//! streams against (KDA's `ReferenceDataSource`), fetched by URL and kept
//! fresh.
//!
//! Entry points:
//! - [`ObjectLocation::parse`]: a local path (relative to the app's
//!   directory), `file://`, `s3://bucket/key` (any S3-compatible store via
//!   [`S3Options`]) or `http(s)://`.
//! - [`ReferenceTable::load`]: fetches the object, decodes it with the
//!   caller's [`Decode`] function (the engine's KDA ReferenceSchema decoder)
//!   and reloads it in the background when its ETag or last-modified time
//!   changes; [`ReferenceTable::current`] is the [`Snapshot`] to join
//!   against, swapped atomically.
//!
//! This crate owns getting the object and keeping it current; decoding the
//! bytes (RecordFormat, RecordColumns and mappings) and building the join
//! index belong to the engine, which passes them in as the decoder. Time
//! comes only through a [`Clock`].

pub mod clock;
pub mod error;
pub mod location;
pub mod table;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ReferenceError, Result};
pub use location::{LocationKind, ObjectLocation, S3Options};
pub use table::{
    DEFAULT_CHECK_INTERVAL, Decode, EventSink, ReferenceOptions, ReferenceTable, Refresh,
    ReloadEvent, ReloadStats, Snapshot,
};
