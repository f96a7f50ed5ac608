//! The crate's error type, [`KdsError`]: what went wrong and where.
//!
//! Variants that an AWS client can cause carry exactly the fields AWS puts in
//! its message, and [`KdsError::aws_type`] names the wire `__type`; the
//! `Display` text of those variants is the message AWS sends.

use std::path::PathBuf;

/// Result with [`KdsError`] as the default error.
pub type Result<T, E = KdsError> = std::result::Result<T, E>;

/// Everything that can go wrong in the shard log or the API.
#[derive(Debug, thiserror::Error)]
pub enum KdsError {
    /// No stream with this name exists.
    #[error("Stream {stream} under account {account} not found.")]
    StreamNotFound { stream: String, account: String },
    /// CreateStream for a name that is taken.
    #[error("Stream {stream} under account {account} already exists.")]
    StreamExists { stream: String, account: String },
    /// The stream exists but is being created, updated or deleted.
    #[error("Stream {stream} under account {account} not ACTIVE, instead in state {status}")]
    StreamNotActive {
        stream: String,
        account: String,
        status: String,
    },
    /// A shard id that the stream does not have.
    #[error("Shard {shard} in stream {stream} under account {account} does not exist")]
    ShardNotFound {
        shard: String,
        stream: String,
        account: String,
    },
    /// SplitShard or MergeShards on a shard that is already closed.
    #[error(
        "Shard {shard} in stream {stream} under account {account} has already been merged or split, and thus is not eligible for merging or splitting."
    )]
    ShardClosed {
        shard: String,
        stream: String,
        account: String,
    },
    /// No consumer with this name on the stream.
    #[error("Consumer {consumer} under stream {stream} under account {account} not found.")]
    ConsumerNotFound {
        consumer: String,
        stream: String,
        account: String,
    },
    /// RegisterStreamConsumer for a name that is taken.
    #[error("Consumer {consumer} under stream {stream} under account {account} already exists.")]
    ConsumerExists {
        consumer: String,
        stream: String,
        account: String,
    },
    /// A shard id AWS cannot read as one (`Could not find shard ..`).
    #[error("Could not find shard {shard} in stream {stream} under account {account}.")]
    ShardIdNotFound {
        shard: String,
        stream: String,
        account: String,
    },
    /// A request AWS fails with a bare InternalFailure (no message on the wire).
    #[error("internal failure: {reason}")]
    InternalFailure { reason: String },
    /// An argument that is well-formed but not acceptable (InvalidArgumentException).
    #[error("{message}")]
    InvalidArgument { message: String },
    /// An iterator older than five minutes.
    #[error(
        "Iterator expired. The iterator was created at time {created} while right now it is {now} which is further in the future than the tolerated delay of 300000 milliseconds."
    )]
    ExpiredIterator { created: String, now: String },
    /// A quota such as the shard count per account was hit.
    #[error("{message}")]
    LimitExceeded { message: String },
    /// A per-shard throughput limit was hit (only with throttling on).
    #[error("Rate exceeded for shard {shard} in stream {stream} under account {account}.")]
    Throughput {
        shard: String,
        stream: String,
        account: String,
    },
    /// A file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Damaged data in the middle of a segment: the shard is stopped.
    #[error("corrupt segment {path} at byte {offset}: {reason}; the shard is stopped")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// A shard that an earlier error stopped.
    #[error("shard {shard} of stream {stream} is stopped: {reason}")]
    ShardStopped {
        shard: String,
        stream: String,
        reason: String,
    },
    /// The catalog file could not be read or written.
    #[error("catalog {path}: {source}")]
    Catalog {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A TLS certificate or key file could not be used.
    #[error("TLS {what} {path}: {reason}")]
    Tls {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// A remote KDS endpoint answered with an error (its `__type` and message).
    #[error("{endpoint} answered {operation} with HTTP {status} {kind}: {message}")]
    Remote {
        endpoint: String,
        operation: &'static str,
        status: u16,
        kind: String,
        message: String,
    },
    /// A remote KDS endpoint could not be reached or answered something that is not KDS JSON.
    #[error("{operation} to {endpoint} failed: {reason}")]
    Transport {
        endpoint: String,
        operation: &'static str,
        reason: String,
    },
    /// An endpoint URL or TLS setting that cannot be used.
    #[error("endpoint {url}: {reason}")]
    Endpoint { url: String, reason: String },
    /// A checkpoint file that is not what the reader wrote: never silently ignored.
    #[error("corrupt checkpoint file {path} at line {line}: {reason}")]
    CorruptCheckpoint {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// Another reader (in this or another process) holds the checkpoint file.
    #[error("checkpoint file {path} is in use by another reader (lock {lock} is held)")]
    CheckpointInUse { path: PathBuf, lock: PathBuf },
    /// A benchmark ([`crate::bench`]) could not run, or got a wrong answer.
    #[error("benchmark {what}: {reason}")]
    Bench { what: String, reason: String },
}

impl KdsError {
    /// The AWS `__type` this error is answered with.
    pub fn aws_type(&self) -> &'static str {
        match self {
            KdsError::StreamNotFound { .. }
            | KdsError::ShardNotFound { .. }
            | KdsError::ShardIdNotFound { .. }
            | KdsError::ConsumerNotFound { .. } => "ResourceNotFoundException",
            KdsError::StreamExists { .. }
            | KdsError::ConsumerExists { .. }
            | KdsError::StreamNotActive { .. }
            | KdsError::ShardClosed { .. } => "ResourceInUseException",
            KdsError::InvalidArgument { .. } => "InvalidArgumentException",
            KdsError::ExpiredIterator { .. } => "ExpiredIteratorException",
            KdsError::LimitExceeded { .. } => "LimitExceededException",
            KdsError::Throughput { .. } => "ProvisionedThroughputExceededException",
            KdsError::InternalFailure { .. }
            | KdsError::Io { .. }
            | KdsError::Corrupt { .. }
            | KdsError::ShardStopped { .. }
            | KdsError::Catalog { .. }
            | KdsError::Tls { .. }
            | KdsError::Remote { .. }
            | KdsError::Transport { .. }
            | KdsError::Endpoint { .. }
            | KdsError::CorruptCheckpoint { .. }
            | KdsError::CheckpointInUse { .. }
            | KdsError::Bench { .. } => "InternalFailure",
        }
    }

    /// True for errors caused by the caller (HTTP 400), false for server faults (500).
    pub fn is_client_error(&self) -> bool {
        self.aws_type() != "InternalFailure"
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> KdsError {
        let path = path.into();
        move |source| KdsError::Io { path, source }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> KdsError {
        KdsError::InvalidArgument {
            message: message.into(),
        }
    }
}
