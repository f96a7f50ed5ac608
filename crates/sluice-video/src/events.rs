//! The fragment event hook: one [`FragmentEvent`] per fragment PutMedia
//! accepted or rejected, for the engine's `VIDEO_FRAGMENTS` stream. Get a
//! receiver from [`crate::VideoApi::subscribe_fragments`].
//!
//! Delivery is a `tokio::sync::broadcast` channel: publishing never waits,
//! so ingest is never held up by a slow reader. A reader that falls more
//! than [`crate::api::FRAGMENT_EVENT_BUFFER`] events behind is told so —
//! its next `recv` returns `RecvError::Lagged(n)` with the number of
//! events it missed — and nothing is lost without that notice.
//! Events of one stream arrive in fragment order: an accepted fragment's
//! event follows its PERSISTED ack (RECEIVED when the stream keeps no
//! data), and a rejected one's is published in line with them.
//!
//! [`FragmentEvent::to_json`] gives the row as one JSON object, the field
//! names being the `VIDEO_FRAGMENTS` column names, timestamps as
//! `yyyy-MM-dd HH:mm:ss.SSS` (UTC), absent values as `null`.

use serde::Serialize;
use serde_json::{Value, json};

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
    /// GAP_MS: producer time between the end of the previous accepted
    /// fragment of this stream (over PutMedia sessions) and the start of
    /// this one; `None` for a stream's first fragment.
    pub gap_ms: Option<i64>,
    /// INGEST_LATENCY_MS: from the fragment's first byte to its ACK;
    /// `None` when read back through GetMedia (the reader never saw it
    /// arrive).
    pub ingest_latency_ms: Option<i64>,
    /// ACK_STATUS.
    pub ack_status: AckStatus,
    /// ERROR_ID (PutMedia error code) when rejected.
    pub error_id: Option<u32>,
}

/// `ms` since the epoch as `yyyy-MM-dd HH:mm:ss.SSS` (UTC).
fn timestamp(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, |t| {
        Value::from(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
    })
}

impl FragmentEvent {
    /// The `VIDEO_FRAGMENTS` row as one JSON object (see the module doc).
    pub fn to_json(&self) -> Value {
        json!({
            "STREAM_NAME": self.stream_name,
            "FRAGMENT_NUMBER": self.fragment_number,
            "PRODUCER_TS": self.producer_ms.map_or(Value::Null, timestamp),
            "SERVER_TS": timestamp(self.server_ms),
            "DURATION_MS": self.duration_ms,
            "SIZE_BYTES": self.size_bytes,
            "FRAME_COUNT": self.frame_count,
            "KEYFRAME_COUNT": self.keyframe_count,
            "CODEC_ID": self.codec_id,
            "WIDTH": self.width,
            "HEIGHT": self.height,
            "GAP_MS": self.gap_ms,
            "INGEST_LATENCY_MS": self.ingest_latency_ms,
            "ACK_STATUS": self.ack_status.as_str(),
            "ERROR_ID": self.error_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_has_the_video_fragments_columns() {
        let e = FragmentEvent {
            stream_name: "cam".into(),
            fragment_number: Some("91343852333181432392682062607743920146264609117".into()),
            producer_ms: Some(1_700_000_000_123),
            server_ms: 1_700_000_001_004,
            duration_ms: 2000,
            size_bytes: 123_456,
            frame_count: 60,
            keyframe_count: 1,
            codec_id: Some("V_MPEG4/ISO/AVC".into()),
            width: Some(640),
            height: Some(360),
            gap_ms: Some(-5),
            ingest_latency_ms: Some(3),
            ack_status: AckStatus::Persisted,
            error_id: None,
        };
        let v = e.to_json();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "STREAM_NAME",
            "FRAGMENT_NUMBER",
            "PRODUCER_TS",
            "SERVER_TS",
            "DURATION_MS",
            "SIZE_BYTES",
            "FRAME_COUNT",
            "KEYFRAME_COUNT",
            "CODEC_ID",
            "WIDTH",
            "HEIGHT",
            "GAP_MS",
            "INGEST_LATENCY_MS",
            "ACK_STATUS",
            "ERROR_ID",
        ];
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys_sorted, want);
        assert_eq!(v["PRODUCER_TS"], "2023-11-14 22:13:20.123");
        assert_eq!(v["SERVER_TS"], "2023-11-14 22:13:21.004");
        assert_eq!(
            v["FRAGMENT_NUMBER"],
            "91343852333181432392682062607743920146264609117"
        );
        assert_eq!(v["WIDTH"], 640);
        assert_eq!(v["GAP_MS"], -5);
        assert_eq!(v["ACK_STATUS"], "PERSISTED");
        assert_eq!(v["ERROR_ID"], Value::Null);

        let rejected = FragmentEvent {
            fragment_number: None,
            ack_status: AckStatus::Error,
            error_id: Some(4001),
            ..e
        };
        let v = rejected.to_json();
        assert_eq!(v["ACK_STATUS"], "ERROR");
        assert_eq!(v["ERROR_ID"], 4001);
        assert_eq!(v["FRAGMENT_NUMBER"], Value::Null);
    }
}
