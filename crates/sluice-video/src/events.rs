//! The fragment event hook: one [`FragmentEvent`] per fragment PutMedia
//! accepted or rejected, for the engine's `VIDEO_FRAGMENTS` stream. Get a
//! receiver from [`crate::VideoApi::subscribe_fragments`].

use serde::Serialize;

/// How a fragment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AckStatus {
    /// Stored in memory only (retention 0).
    Received,
    /// Durable on disk.
    Persisted,
    /// Rejected; see `error_id`.
    Error,
}

impl AckStatus {
    /// The ACK's EventType.
    pub fn as_str(self) -> &'static str {
        match self {
            AckStatus::Received => "RECEIVED",
            AckStatus::Persisted => "PERSISTED",
            AckStatus::Error => "ERROR",
        }
    }
}

/// One fragment's metadata, as the `VIDEO_FRAGMENTS` row needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FragmentEvent {
    /// STREAM_NAME.
    pub stream_name: String,
    /// FRAGMENT_NUMBER (None when rejected before a number was given).
    pub fragment_number: Option<String>,
    /// PRODUCER_TS, ms since the epoch.
    pub producer_ms: Option<i64>,
    /// SERVER_TS, ms since the epoch (ROWTIME).
    pub server_ms: i64,
    /// DURATION_MS.
    pub duration_ms: i64,
    /// SIZE_BYTES.
    pub size_bytes: u64,
    /// FRAME_COUNT.
    pub frame_count: u64,
    /// KEYFRAME_COUNT.
    pub keyframe_count: u64,
    /// CODEC_ID of the first track.
    pub codec_id: Option<String>,
    /// WIDTH of the first video track.
    pub width: Option<u64>,
    /// HEIGHT of the first video track.
    pub height: Option<u64>,
    /// GAP_MS: producer time between the end of the previous fragment of
    /// this PutMedia session and the start of this one.
    pub gap_ms: Option<i64>,
    /// INGEST_LATENCY_MS: from the fragment's first byte to its ACK.
    pub ingest_latency_ms: i64,
    /// ACK_STATUS.
    pub ack_status: AckStatus,
    /// ERROR_ID (PutMedia error code) when rejected.
    pub error_id: Option<u32>,
}
