//! `sluice-kds`: a local, durable Kinesis Data Streams.
//!
//! Two layers:
//! - [`Kds`], the embeddable shard log: streams → shards → append-only
//!   segment files of CRC32C-checked batches (format in [`segment`]),
//!   `fdatasync` group commit, torn-tail recovery, retention, resharding and
//!   shard iterators. Open it with [`Kds::open`].
//! - [`KdsApi`], the KDS API over HTTP (`X-Amz-Target:
//!   Kinesis_20131202.*`) in JSON 1.1 and AWS CBOR 1.1 ([`cbor`]),
//!   answering as Amazon Kinesis answers (the checks of [`front`], AWS's
//!   validation and error texts, sequence numbers in AWS's layout), with
//!   SubscribeToShard as an AWS event stream ([`eventstream`]) and optional
//!   AWS Signature V4 checking ([`sigv4`]); and [`serve_api`], a hyper
//!   server for it speaking HTTP/1.1 and HTTP/2, in cleartext and TLS on one
//!   port ([`server`]; [`serve_with`] serves any handler the same way).
//!
//! In-process readers (the SQL engine) use [`Kds::get_shard_iterator`] and
//! [`Kds::get_records`]; iterators expire after five minutes, so a
//! long-lived reader sets `issued_ms` to the clock's now before each call.
//!
//! Applications read a whole stream through [`StreamReader`] ([`reader`]):
//! embedded or from any KDS endpoint ([`KdsClient`], [`client`]), parents
//! before children across resharding, with durable per-shard checkpoints
//! ([`CheckpointStore`], [`checkpoint`]).
//!
//! [`bench`] measures the log and its API against their targets
//! ([`bench::run`]; `sluice bench --mode kds` prints the figures).

pub mod api;
pub mod bench;
pub mod catalog;
pub mod cbor;
pub mod checkpoint;
pub mod client;
pub mod clock;
pub mod error;
pub mod eventstream;
pub mod front;
pub mod ids;
pub mod kds;
pub mod reader;
pub mod segment;
pub mod server;
pub mod settings;
pub mod shard;
pub mod sigv4;

pub use api::{ApiOptions, KdsApi};
pub use checkpoint::{CheckpointStore, ShardCheckpoint};
pub use client::{Credentials, KdsClient, RemoteEndpoint};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{KdsError, Result};
pub use kds::{
    GetRecordsOutput, IteratorStart, Kds, KdsOptions, PutEntry, PutOutcome, Record,
    ShardDescription, ShardFilter, ShardIterator, StreamDescription, StreamTraffic,
};
pub use reader::{ReadRecord, ReaderOptions, ReaderSource, ReaderStart, ShardShare, StreamReader};
pub use server::{load_tls_config, serve, serve_api, serve_with, shutdown_signal, spawn_retention};
