//! `sluice-kds`: a local, durable Kinesis Data Streams.
//!
//! Two layers:
//! - [`Kds`], the embeddable shard log: streams → shards → append-only
//!   segment files of CRC32C-checked batches (format in [`segment`]),
//!   `fdatasync` group commit, torn-tail recovery, retention, resharding and
//!   shard iterators. Open it with [`Kds::open`].
//! - [`KdsApi`], the KDS JSON 1.1 API over HTTP (`X-Amz-Target:
//!   Kinesis_20131202.*`), and [`serve`], a hyper server for it.

pub mod api;
pub mod catalog;
pub mod cbor;
pub mod clock;
pub mod error;
pub mod ids;
pub mod kds;
pub mod segment;
pub mod server;
pub mod shard;
pub mod sigv4;

pub use api::{ApiOptions, KdsApi};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{KdsError, Result};
pub use kds::{
    GetRecordsOutput, IteratorStart, Kds, KdsOptions, PutEntry, PutOutcome, Record,
    ShardDescription, ShardFilter, ShardIterator, StreamDescription,
};
pub use server::serve;
