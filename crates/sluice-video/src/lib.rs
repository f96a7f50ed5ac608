//! Kinesis Video Streams for Sluice: MKV fragments in via PutMedia, stored
//! and indexed, served back via GetMedia, ListFragments,
//! GetMediaForFragmentList and GetClip.
//!
//! Entry point: [`VideoApi`].
//! - [`VideoApi::open`] opens the store under [`VideoConfig::data_dir`].
//! - [`VideoApi::matches`] tells whether a request path is a KVS rest-json
//!   path; [`VideoApi::handle`] serves it (hyper 1.x), so one combined
//!   server can route to it. [`server::serve`] is a standalone server.
//! - [`VideoApi::subscribe_fragments`] hands out every accepted or rejected
//!   fragment as a [`FragmentEvent`] (rows of `VIDEO_FRAGMENTS`).
//! - [`VideoApi::spawn_retention`] enforces retention periodically.
//! - [`client::put_media`] is a PutMedia client (the `sluice video put`
//!   command and the benchmark's load generator); [`follow::follow`]
//!   reads fragments back through GetMedia as [`FragmentEvent`]s (a
//!   `video_stream` input with an endpoint). Both reach AWS or `sluice
//!   serve` through [`transport`] (TLS, GetDataEndpoint).
//! - [`bench::run`] runs the ingest and read benchmarks (`sluice bench
//!   --mode video`).
//!
//! Underneath: [`store`] (segments, header blocks, fragment index,
//! retention, crash recovery), [`mkv`] (splitting a live PutMedia body into
//! fragments, with AWS's error codes), [`ebml`] (the few EBML elements
//! needed), [`mp4`] (GetClip's container). Time comes only through
//! [`Clock`].

pub mod api;
pub mod bench;
pub mod body;
pub mod client;
pub mod clock;
pub mod ebml;
pub mod error;
pub mod events;
pub mod follow;
pub mod fragment_bytes;
pub mod mkv;
pub mod mp4;
mod putmedia;
pub mod server;
pub mod store;
pub mod transport;

pub use api::{VideoApi, VideoConfig};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, VideoError};
pub use events::{AckStatus, FragmentEvent};
