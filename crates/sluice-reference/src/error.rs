//! The crate's error type, [`ReferenceError`]: every variant names the
//! reference object (as the user wrote its location) and what was wrong.
//!
//! The type is `Clone` (store errors are kept behind an `Arc`) so the same
//! error can be returned to a caller, kept as a table's
//! [`last_error`](crate::ReferenceTable::last_error) and passed to the
//! caller's event sink.

use std::sync::Arc;

/// Result with [`ReferenceError`] as the default error.
pub type Result<T, E = ReferenceError> = std::result::Result<T, E>;

/// Everything that can go wrong locating, fetching or decoding a reference
/// object.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReferenceError {
    /// The location is not a path or URL this crate can read; `reason` says
    /// which part is wrong.
    #[error("reference location {location:?}: {reason}")]
    InvalidLocation { location: String, reason: String },

    /// A URL with a scheme no store here serves (e.g. `gs://`).
    #[error(
        "reference location {location:?}: unsupported scheme \"{scheme}\" (use a local path, file://, s3:// or http(s)://)"
    )]
    UnsupportedScheme { location: String, scheme: String },

    /// Building the object store client for the location failed (bad
    /// endpoint, region or credentials setting).
    #[error("reference object {location}: cannot set up the {store} client: {source}")]
    Store {
        location: String,
        store: &'static str,
        #[source]
        source: Arc<object_store::Error>,
    },

    /// The object does not exist (any more).
    #[error("reference object {location} not found")]
    NotFound {
        location: String,
        #[source]
        source: Arc<object_store::Error>,
    },

    /// Reading the object or its metadata failed (network, permissions, I/O).
    #[error("reference object {location}: {operation} failed: {source}")]
    Fetch {
        location: String,
        /// `HEAD` (change check) or `GET` (reading the bytes).
        operation: &'static str,
        #[source]
        source: Arc<object_store::Error>,
    },

    /// The caller's decoder rejected the object's bytes; `message` is its
    /// error (it names the row, e.g. "line 7: ...").
    #[error("reference object {location} (ETag {e_tag}): {message}")]
    Decode {
        location: String,
        /// The ETag of the rejected version, or `none`.
        e_tag: String,
        message: String,
    },

    /// A [`ReferenceOptions`](crate::ReferenceOptions) value that cannot work.
    #[error("reference option {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },

    /// The decoder panicked or its task was cancelled.
    #[error("reference object {location}: the decoder did not finish: {reason}")]
    DecoderAborted { location: String, reason: String },
}

impl ReferenceError {
    /// Maps an object_store error from `operation` on `location`, telling a
    /// missing object apart from other failures.
    pub(crate) fn fetch(
        location: &str,
        operation: &'static str,
        source: object_store::Error,
    ) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Self::NotFound {
                location: location.to_owned(),
                source: Arc::new(source),
            },
            source => Self::Fetch {
                location: location.to_owned(),
                operation,
                source: Arc::new(source),
            },
        }
    }

    pub(crate) fn invalid(location: &str, reason: impl Into<String>) -> Self {
        Self::InvalidLocation {
            location: location.to_owned(),
            reason: reason.into(),
        }
    }
}
