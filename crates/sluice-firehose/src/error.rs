//! The crate's error type, [`FirehoseError`], and the AWS error `__type` each
//! variant is reported under by the HTTP API ([`FirehoseError::aws_type`]).

use std::path::PathBuf;

/// Result with [`FirehoseError`] as the default error.
pub type Result<T, E = FirehoseError> = std::result::Result<T, E>;

/// Everything that can go wrong in a delivery stream or its API.
#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    /// A configuration or request argument AWS would reject with
    /// `InvalidArgumentException`; `field` names the offending member.
    #[error("{message}")]
    InvalidArgument { field: String, message: String },

    /// A request that fails AWS's input validation (`ValidationException`).
    #[error("{message}")]
    Validation { message: String },

    /// The delivery stream does not exist.
    #[error("Firehose {name} under account {account} not found.")]
    NotFound { name: String, account: String },

    /// The delivery stream already exists.
    #[error("Firehose {name} under account {account} already exists with ACTIVE status.")]
    InUse { name: String, account: String },

    /// UpdateDestination with a stale `CurrentDeliveryStreamVersionId`.
    #[error(
        "Delivery stream {name} version mismatch: current version is {current}, request specified {given}."
    )]
    ConcurrentModification {
        name: String,
        current: String,
        given: String,
    },

    /// The number of delivery streams or tags is over a limit.
    #[error("{message}")]
    LimitExceeded { message: String },

    /// A prefix or timestamp pattern that cannot be evaluated.
    #[error("invalid {field} {prefix:?}: {reason}")]
    Prefix {
        field: &'static str,
        prefix: String,
        reason: String,
    },

    /// Reading or writing the durable local buffer failed.
    #[error("local buffer {path}: {source}")]
    Buffer {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A buffer file is not in the expected format.
    #[error("local buffer {path} is corrupt: {reason}")]
    CorruptBuffer { path: PathBuf, reason: String },

    /// Compressing an object failed.
    #[error("compressing object {key} as {format}: {source}")]
    Compression {
        key: String,
        format: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Writing an object to the destination store failed.
    #[error("writing object {key} to bucket {bucket}: {source}")]
    Store {
        bucket: String,
        key: String,
        #[source]
        source: object_store::Error,
    },

    /// A request body that is not the JSON the operation expects.
    #[error("{message}")]
    Serialization { message: String },

    /// Reading the Kinesis data stream a delivery stream takes its records
    /// from failed.
    #[error("delivery stream {delivery_stream}: reading Kinesis stream {kinesis_stream}: {source}")]
    Source {
        delivery_stream: String,
        kinesis_stream: String,
        #[source]
        source: Box<sluice_kds::KdsError>,
    },

    /// The `X-Amz-Target` names no Firehose operation.
    #[error("Operation {target} is not supported.")]
    UnknownOperation { target: String },

    /// A benchmark ([`crate::bench`]) could not run, or got a wrong answer.
    #[error("benchmark {what}: {reason}")]
    Bench { what: String, reason: String },
}

impl FirehoseError {
    /// The `__type` AWS reports this error under on the wire.
    pub fn aws_type(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } | Self::Prefix { .. } => "InvalidArgumentException",
            Self::Validation { .. } => "ValidationException",
            Self::NotFound { .. } => "ResourceNotFoundException",
            Self::InUse { .. } => "ResourceInUseException",
            Self::ConcurrentModification { .. } => "ConcurrentModificationException",
            Self::LimitExceeded { .. } => "LimitExceededException",
            Self::Serialization { .. } => "SerializationException",
            Self::UnknownOperation { .. } => "UnknownOperationException",
            Self::Buffer { .. }
            | Self::CorruptBuffer { .. }
            | Self::Compression { .. }
            | Self::Store { .. }
            | Self::Source { .. }
            | Self::Bench { .. } => "ServiceUnavailableException",
        }
    }

    /// HTTP status AWS answers this error with.
    pub fn http_status(&self) -> u16 {
        match self.aws_type() {
            "ServiceUnavailableException" => 503,
            _ => 400,
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn buffer(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Buffer {
            path: path.into(),
            source,
        }
    }
}
