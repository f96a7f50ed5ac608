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
//!
//! ```no_run
//! # async fn demo() -> sluice_reference::Result<()> {
//! use std::path::Path;
//! use std::sync::Arc;
//! use sluice_reference::{Decode, ObjectLocation, ReferenceOptions, ReferenceTable};
//!
//! // The engine passes its KDA decoder (ReferenceSchema -> RecordBatch) here.
//! let decode: Decode<usize> = Arc::new(|bytes: &[u8]| {
//!     Ok(bytes.iter().filter(|&&b| b == b'\n').count())
//! });
//! let location = ObjectLocation::parse("reference-data/companies.csv", Path::new("/apps/demo"))?;
//! let table = ReferenceTable::load(location, decode, ReferenceOptions::default()).await?;
//! let snapshot = table.current(); // join against this; reloads swap in a new one
//! println!("version {} has {} rows", snapshot.version, snapshot.data);
//! # Ok(())
//! # }
//! ```
//!
//! Local files should be replaced atomically (write a new file, then
//! rename it over the old one): a check that reads a file while an editor is
//! still writing it loads what was there, and the next check loads the rest.

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
