//! Kinesis Data Firehose delivery streams for Sluice: records in, objects out,
//! the way Amazon Kinesis Data Firehose delivers to S3.
//!
//! Entry points:
//! - [`Firehose`]: the set of delivery streams of one account, created from
//!   AWS's own CreateDeliveryStream JSON and persisted under a data directory.
//! - [`DeliveryStream`]: one stream's data path (durable buffer, buffering
//!   hints, compression, prefixes, delivery through `object_store`).
//! - [`FirehoseApi`]: the Firehose JSON 1.1 HTTP API
//!   (`X-Amz-Target: Firehose_20150804.*`) over a [`Firehose`].
//!
//! - [`http_endpoint::HttpEndpoint`]: delivery to an HTTP endpoint
//!   (`HttpEndpointDestinationConfiguration`) with Firehose's request
//!   contract.
//! - [`KinesisSource`]: a `KinesisStreamAsSource` stream reading a Kinesis
//!   data stream (embedded or remote, [`FirehoseOptions::kinesis`]).
//!
//! Time comes only through a [`Clock`]; buckets through [`Buckets`].

pub mod api;
pub mod bench;
pub mod body;
pub mod buffer;
pub mod clock;
pub mod commit;
pub mod compress;
pub mod config;
pub mod convert;
pub mod deaggregate;
pub mod error;
pub mod firehose;
pub mod http_endpoint;
pub mod partition;
pub mod pipeline;
pub mod prefix;
pub mod source;
pub mod store;
pub mod stream;
pub mod transform;

pub use api::FirehoseApi;
pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use compress::Compression;
pub use config::{CreateDeliveryStreamInput, Destination, Tag};
pub use error::{FirehoseError, Result};
pub use firehose::{Firehose, FirehoseOptions, IncomingRecords};

pub use source::KinesisSource;
pub use store::{Buckets, LocalBuckets, S3Buckets, SingleStore};
pub use stream::{DeliveryStats, DeliveryStream};
