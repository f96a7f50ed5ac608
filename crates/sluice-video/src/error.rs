//! The crate's error type, [`VideoError`], and how each variant maps onto
//! the AWS error name and HTTP status the KVS APIs answer with.

use std::path::PathBuf;

use http::StatusCode;

/// Result with [`VideoError`] as the default error.
pub type Result<T, E = VideoError> = std::result::Result<T, E>;

/// Everything that can go wrong in the video service.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// No stream with this name or ARN.
    #[error("stream {stream} not found")]
    StreamNotFound {
        /// Name or ARN asked for.
        stream: String,
    },
    /// CreateStream with a name already in use.
    #[error("stream {stream} already exists")]
    StreamExists {
        /// The name.
        stream: String,
    },
    /// A request parameter is missing or invalid.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// Parameter name as in the AWS API.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// CurrentVersion does not match the stream's version.
    #[error("stream {stream} is at version {current}, request gave {given}")]
    VersionMismatch {
        /// Stream name.
        stream: String,
        /// The stream's version.
        current: String,
        /// The version in the request.
        given: String,
    },
    /// A second PutMedia connection for a stream that already has one.
    #[error("stream {stream} already has a PutMedia connection")]
    ConnectionLimit {
        /// Stream name.
        stream: String,
    },
    /// Too many calls of one API on one stream in a second (AWS's
    /// per-stream TPS quotas).
    #[error("stream {stream}: more than {per_second} {operation} calls in one second")]
    ClientLimit {
        /// Stream name.
        stream: String,
        /// API operation name.
        operation: &'static str,
        /// The calls allowed per second.
        per_second: u32,
    },
    /// A media read on a stream that keeps no data.
    #[error("stream {stream} has DataRetentionInHours = 0 and keeps no archive")]
    NoDataRetention {
        /// Stream name.
        stream: String,
    },
    /// A fragment number that is not (or no longer) in the index.
    #[error("fragment {fragment} not found in stream {stream}")]
    FragmentNotFound {
        /// Stream name.
        stream: String,
        /// The fragment number asked for.
        fragment: String,
    },
    /// A GetClip range with no fragments or no H.264 track.
    #[error("stream {stream}: {reason}")]
    NoMedia {
        /// Stream name.
        stream: String,
        /// What is missing.
        reason: String,
    },
    /// GetClip cannot make a clip of this media.
    #[error("stream {stream}: {reason}")]
    ClipUnavailable {
        /// Stream name.
        stream: String,
        /// The AWS exception name.
        aws: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (open, write, fsync, rename ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored file does not hold what it should.
    #[error("corrupt {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        offset: u64,
        /// What was found.
        reason: String,
    },
    /// A client (PutMedia, the GetMedia follower) could not talk to the
    /// endpoint (connect, TLS, HTTP, or an AWS error answer), after its
    /// retries.
    #[error("Kinesis Video at {endpoint}: {reason}")]
    Client {
        /// The endpoint URL.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The PutMedia client's source is not a Matroska stream it can cut
    /// into fragments.
    #[error("PutMedia source at byte {offset}: {reason}")]
    InvalidMedia {
        /// Byte offset in the source.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// An endpoint answered a client's call with an AWS error.
    #[error("{operation} at {endpoint}: {aws}: {message}")]
    Remote {
        /// The endpoint URL.
        endpoint: String,
        /// The API operation called.
        operation: &'static str,
        /// The AWS error type (`ResourceNotFoundException` …), or `HTTP
        /// <status>` when the answer names none.
        aws: String,
        /// The answer's message.
        message: String,
    },
    /// A request body that is not the JSON the API expects.
    #[error("request body for {operation}: {source}")]
    BadJson {
        /// API operation name.
        operation: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A benchmark ([`crate::bench`]) could not run, or got a wrong answer.
    #[error("benchmark {what}: {reason}")]
    Bench {
        /// Which benchmark, or which of its steps.
        what: String,
        /// What went wrong.
        reason: String,
    },
}

impl VideoError {
    /// Shorthand for [`VideoError::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VideoError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The AWS error type name and HTTP status for this error.
    pub fn aws_error(&self) -> (&'static str, StatusCode) {
        match self {
            VideoError::StreamNotFound { .. } | VideoError::FragmentNotFound { .. } => {
                ("ResourceNotFoundException", StatusCode::NOT_FOUND)
            }
            VideoError::StreamExists { .. } => ("ResourceInUseException", StatusCode::BAD_REQUEST),
            VideoError::InvalidArgument { .. } | VideoError::BadJson { .. } => {
                ("InvalidArgumentException", StatusCode::BAD_REQUEST)
            }
            VideoError::VersionMismatch { .. } => {
                ("VersionMismatchException", StatusCode::BAD_REQUEST)
            }
            VideoError::ConnectionLimit { .. } => {
                ("ConnectionLimitExceededException", StatusCode::BAD_REQUEST)
            }
            VideoError::ClientLimit { .. } => {
                ("ClientLimitExceededException", StatusCode::BAD_REQUEST)
            }
            VideoError::NoDataRetention { .. } => {
                ("NoDataRetentionException", StatusCode::BAD_REQUEST)
            }
            VideoError::NoMedia { .. } => ("ResourceNotFoundException", StatusCode::NOT_FOUND),
            VideoError::ClipUnavailable { aws, .. } => (aws, StatusCode::BAD_REQUEST),
            VideoError::InvalidMedia { .. } => {
                ("InvalidArgumentException", StatusCode::BAD_REQUEST)
            }
            VideoError::Io { .. }
            | VideoError::Corrupt { .. }
            | VideoError::Client { .. }
            | VideoError::Remote { .. }
            | VideoError::Bench { .. } => ("ServiceException", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}
