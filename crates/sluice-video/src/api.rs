//! The KVS rest-json HTTP API: [`VideoApi`] routes the control plane
//! (kinesisvideo), the media plane (kinesis-video-media: PutMedia, GetMedia)
//! and the archived-media plane (ListFragments, GetMediaForFragmentList)
//! onto the [`Store`]. Requests and errors follow AWS's shapes: JSON bodies
//! with PascalCase members, timestamps as epoch seconds, errors as an
//! `x-amzn-ErrorType` header plus `{"message": ...}`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::body::{self, ApiBody};
use crate::clock::Clock;
use crate::ebml;
use crate::error::{Result, VideoError};
use crate::events::FragmentEvent;
use crate::mkv::Limits;
use crate::store::{CreateStream, FragmentEntry, Store, StoreConfig, Stream, StreamMeta};

/// Fragment events a subscriber may fall behind by before it is told it
/// lagged (see [`crate::events`]).
pub const FRAGMENT_EVENT_BUFFER: usize = 4096;

/// Everything [`VideoApi::open`] needs.
#[derive(Debug, Clone)]
pub struct VideoConfig {
    /// Where streams live.
    pub data_dir: std::path::PathBuf,
    /// Store tuning.
    pub store: StoreConfig,
    /// PutMedia limits.
    pub limits: Limits,
    /// A GetMedia that has caught up ends after this long without a new
    /// fragment.
    pub get_media_idle: Duration,
    /// PutMedia sends IDLE after this long without data.
    pub put_media_idle_ack: Duration,
    /// PutMedia ends after this long without data (AWS: 30 s).
    pub put_media_timeout: Duration,
    /// GetDataEndpoint answer; by default `http://` (`https://` with
    /// [`VideoConfig::https`]) + the request's Host.
    pub public_url: Option<String>,
    /// The server is reached over TLS.
    pub https: bool,
    /// GetClip's limits.
    pub clip: ClipLimits,
}

/// GetClip's limits, AWS's by default (API reference, GetClip and
/// ClipTimestampRange).
#[derive(Debug, Clone)]
pub struct ClipLimits {
    /// A clip holds at most this many fragments, the first ones from the
    /// start timestamp on; later ones are left out, not refused (AWS: 200).
    pub max_fragments: usize,
    /// A clip holds at most this many bytes of media (the `mdat` payload),
    /// whole frames from the start; the rest is left out (AWS: 100 MB).
    pub max_bytes: u64,
    /// EndTimestamp may be at most this long after StartTimestamp
    /// (AWS: 24 hours); a longer range is an InvalidArgumentException.
    pub max_range_ms: i64,
    /// GetClip calls allowed per stream per second, by the injected clock;
    /// one more is a ClientLimitExceededException. `None`: no limit (AWS
    /// throttles by its service quotas, which Sluice does not assume).
    pub max_per_second: Option<u32>,
}

impl Default for ClipLimits {
    fn default() -> Self {
        ClipLimits {
            max_fragments: 200,
            max_bytes: 100 * 1024 * 1024,
            max_range_ms: 24 * 3_600_000,
            max_per_second: None,
        }
    }
}

impl VideoConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<std::path::PathBuf>) -> Self {
        VideoConfig {
            data_dir: data_dir.into(),
            store: StoreConfig::default(),
            limits: Limits::default(),
            get_media_idle: Duration::from_secs(5),
            put_media_idle_ack: Duration::from_secs(3),
            put_media_timeout: Duration::from_secs(30),
            public_url: None,
            https: false,
            clip: ClipLimits::default(),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: VideoConfig,
    pub(crate) events: broadcast::Sender<FragmentEvent>,
    /// Recent GetClip calls per stream (clock ms), for
    /// [`ClipLimits::max_per_second`].
    clip_calls: Mutex<HashMap<String, VecDeque<i64>>>,
}

/// The Kinesis Video Streams API. Cheap to clone; every clone serves the
/// same store.
#[derive(Clone)]
pub struct VideoApi {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for VideoApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoApi")
            .field("data_dir", &self.shared.config.data_dir)
            .finish()
    }
}

const PATHS: &[&str] = &[
    "/createStream",
    "/describeStream",
    "/listStreams",
    "/deleteStream",
    "/updateStream",
    "/updateDataRetention",
    "/tagStream",
    "/untagStream",
    "/listTagsForStream",
    "/getDataEndpoint",
    "/putMedia",
    "/getMedia",
    "/listFragments",
    "/getMediaForFragmentList",
    "/getClip",
];

/// An error response in AWS's rest-json shape.
pub(crate) fn error_response(err: &VideoError) -> Response<ApiBody> {
    let (name, status) = err.aws_error();
    let body = json!({ "__type": name, "message": err.to_string() });
    let mut resp = Response::new(body::full(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert("x-amzn-ErrorType", http::HeaderValue::from_static(name));
    resp
}

fn json_response(value: &Value) -> Response<ApiBody> {
    let mut resp = Response::new(body::full(value.to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Epoch seconds with millisecond precision, as AWS JSON timestamps are.
pub(crate) fn epoch_secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// A JSON timestamp (epoch seconds as a number or string, or RFC 3339) in ms.
fn parse_timestamp(v: &Value, field: &'static str) -> Result<i64> {
    let bad = || VideoError::InvalidArgument {
        field,
        reason: format!("{v} is not a timestamp"),
    };
    match v {
        Value::Number(n) => n
            .as_f64()
            .map(|s| (s * 1000.0).round() as i64)
            .ok_or_else(bad),
        Value::String(s) => {
            if let Ok(secs) = s.parse::<f64>() {
                return Ok((secs * 1000.0).round() as i64);
            }
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| d.timestamp_millis())
                .map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StreamRef {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

impl VideoApi {
    /// Open the store under `config.data_dir` and serve it.
    pub fn open(config: VideoConfig, clock: Arc<dyn Clock>) -> Result<VideoApi> {
        let store = Store::open(&config.data_dir, clock, config.store.clone())?;
        let (events, _) = broadcast::channel(FRAGMENT_EVENT_BUFFER);
        Ok(VideoApi {
            shared: Arc::new(Shared {
                store,
                config,
                events,
                clip_calls: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Is `path` one of the KVS rest-json paths this API serves?
    pub fn matches(path: &str) -> bool {
        PATHS.contains(&path)
    }

    /// The store behind the API.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Every fragment PutMedia accepts or rejects from now on, as
    /// `VIDEO_FRAGMENTS` rows. Publishing never waits for a reader; one
    /// that falls [`FRAGMENT_EVENT_BUFFER`] events behind gets
    /// `RecvError::Lagged(missed)` from its next `recv`.
    pub fn subscribe_fragments(&self) -> broadcast::Receiver<FragmentEvent> {
        self.shared.events.subscribe()
    }

    /// Enforce retention every `every` until the returned task is aborted.
    pub fn spawn_retention(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let api = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let a = api.clone();
                let _ = tokio::task::spawn_blocking(move || a.store().enforce_retention()).await;
            }
        })
    }

    /// Serve one request (hyper 1.x).
    pub async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<ApiBody> {
        self.route(req).await
    }

    /// Serve one request with any body type (the CLI and tests).
    pub async fn route<B>(&self, req: Request<B>) -> Response<ApiBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display + Send,
    {
        let path = req.uri().path().to_string();
        if req.method() != http::Method::POST {
            return error_response(&VideoError::InvalidArgument {
                field: "method",
                reason: format!("{} {path}: KVS APIs take POST", req.method()),
            });
        }
        if path == "/putMedia" {
            return crate::putmedia::put_media(self.clone(), req).await;
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let body = match read_json(req.into_body()).await {
            Ok(v) => v,
            Err(e) => return error_response(&e),
        };
        let result = match path.as_str() {
            "/getMedia" => {
                return self
                    .get_media(body)
                    .await
                    .unwrap_or_else(|e| error_response(&e));
            }
            "/getMediaForFragmentList" => {
                return self
                    .get_media_for_fragment_list(body)
                    .await
                    .unwrap_or_else(|e| error_response(&e));
            }
            "/getClip" => {
                return self
                    .get_clip(body)
                    .await
                    .unwrap_or_else(|e| error_response(&e));
            }
            "/getDataEndpoint" => self.get_data_endpoint(body, host),
            other => {
                let api = self.clone();
                let other = other.to_string();
                match tokio::task::spawn_blocking(move || api.control(&other, body)).await {
                    Ok(r) => r,
                    Err(e) => Err(VideoError::io(
                        "serve",
                        &path,
                        std::io::Error::other(e.to_string()),
                    )),
                }
            }
        };
        match result {
            Ok(v) => json_response(&v),
            Err(e) => error_response(&e),
        }
    }

    fn stream_of(&self, body: &Value) -> Result<Arc<Stream>> {
        let r: StreamRef =
            serde_json::from_value(body.clone()).map_err(|e| VideoError::BadJson {
                operation: "stream reference",
                source: e,
            })?;
        self.store()
            .stream(r.stream_name.as_deref(), r.stream_arn.as_deref())
    }

    fn get_data_endpoint(&self, body: Value, host: Option<String>) -> Result<Value> {
        self.stream_of(&body)?;
        let url = match (&self.shared.config.public_url, host) {
            (Some(u), _) => u.clone(),
            (None, host) => {
                let scheme = if self.shared.config.https {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", host.as_deref().unwrap_or("127.0.0.1"))
            }
        };
        Ok(json!({ "DataEndpoint": url }))
    }

    /// Control-plane and index calls (blocking: they may touch files).
    fn control(&self, path: &str, body: Value) -> Result<Value> {
        let store = self.store();
        let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
        match path {
            "/createStream" => {
                let tags = tag_map(body.get("Tags"))?;
                let hours = match body.get("DataRetentionInHours") {
                    None | Some(Value::Null) => 0,
                    Some(v) => v
                        .as_u64()
                        .and_then(|h| u32::try_from(h).ok())
                        .filter(|h| *h <= 87_600)
                        .ok_or_else(|| VideoError::InvalidArgument {
                            field: "DataRetentionInHours",
                            reason: format!("{v} is not 0..=87600"),
                        })?,
                };
                let meta = store.create_stream(CreateStream {
                    name: field("StreamName").unwrap_or_default(),
                    device_name: field("DeviceName"),
                    media_type: field("MediaType"),
                    kms_key_id: field("KmsKeyId"),
                    retention_hours: hours,
                    tags,
                })?;
                Ok(json!({ "StreamARN": meta.arn }))
            }
            "/describeStream" => {
                let s = self.stream_of(&body)?;
                Ok(json!({ "StreamInfo": stream_info(&s.meta()) }))
            }
            "/listStreams" => {
                let max = body
                    .get("MaxResults")
                    .and_then(Value::as_u64)
                    .unwrap_or(10_000) as usize;
                let after = field("NextToken");
                let prefix = body
                    .get("StreamNameCondition")
                    .and_then(|c| c.get("ComparisonValue"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let all: Vec<StreamMeta> = store
                    .list()
                    .into_iter()
                    .filter(|m| m.name.starts_with(&prefix))
                    .filter(|m| after.as_deref().is_none_or(|a| m.name.as_str() > a))
                    .collect();
                let page: Vec<Value> = all.iter().take(max.max(1)).map(stream_info).collect();
                let mut out = json!({ "StreamInfoList": page });
                if all.len() > max.max(1)
                    && let Some(last) = all.get(max.max(1) - 1)
                {
                    out["NextToken"] = json!(last.name);
                }
                Ok(out)
            }
            "/deleteStream" => {
                let arn = field("StreamARN").ok_or(VideoError::InvalidArgument {
                    field: "StreamARN",
                    reason: "required".into(),
                })?;
                store.delete_stream(&arn, field("CurrentVersion").as_deref())?;
                Ok(json!({}))
            }
            "/updateStream" => {
                let s = self.stream_of(&body)?;
                // Required, as in AWS's UpdateStream; a stale one is a
                // VersionMismatchException.
                let version = field("CurrentVersion").ok_or(VideoError::InvalidArgument {
                    field: "CurrentVersion",
                    reason: "required".into(),
                })?;
                store.update_stream(&s, &version, field("DeviceName"), field("MediaType"))?;
                Ok(json!({}))
            }
            "/updateDataRetention" => {
                let s = self.stream_of(&body)?;
                let version = field("CurrentVersion").unwrap_or_default();
                let increase = match field("Operation").as_deref() {
                    Some("INCREASE_DATA_RETENTION") => true,
                    Some("DECREASE_DATA_RETENTION") => false,
                    other => {
                        return Err(VideoError::InvalidArgument {
                            field: "Operation",
                            reason: format!(
                                "{other:?}: INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION"
                            ),
                        });
                    }
                };
                let hours = body
                    .get("DataRetentionChangeInHours")
                    .and_then(Value::as_u64)
                    .and_then(|h| u32::try_from(h).ok())
                    .filter(|h| *h >= 1)
                    .ok_or(VideoError::InvalidArgument {
                        field: "DataRetentionChangeInHours",
                        reason: "a whole number of hours, at least 1".into(),
                    })?;
                store.update_retention(&s, &version, increase, hours)?;
                Ok(json!({}))
            }
            "/tagStream" => {
                let s = self.stream_of(&body)?;
                store.retag(&s, tag_map(body.get("Tags"))?, &[])?;
                Ok(json!({}))
            }
            "/untagStream" => {
                let s = self.stream_of(&body)?;
                let keys: Vec<String> = body
                    .get("TagKeyList")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                store.retag(&s, BTreeMap::new(), &keys)?;
                Ok(json!({}))
            }
            "/listTagsForStream" => {
                let s = self.stream_of(&body)?;
                Ok(json!({ "Tags": s.meta().tags }))
            }
            "/listFragments" => self.list_fragments(&body),
            other => Err(VideoError::InvalidArgument {
                field: "path",
                reason: format!("{other} is not served"),
            }),
        }
    }

    fn list_fragments(&self, body: &Value) -> Result<Value> {
        let s = self.stream_of(body)?;
        let max = body
            .get("MaxResults")
            .and_then(Value::as_u64)
            .unwrap_or(1000)
            .clamp(1, 1000) as usize;
        let from_seq = match body.get("NextToken").and_then(Value::as_str) {
            Some(t) => t.parse::<u64>().map_err(|_| VideoError::InvalidArgument {
                field: "NextToken",
                reason: format!("{t:?} is not a token this server gave"),
            })?,
            None => 0,
        };
        let range = match body.get("FragmentSelector") {
            Some(sel) => Some(parse_range(sel)?),
            None => None,
        };
        let keep = |e: &FragmentEntry| match range {
            None => true,
            Some((producer, start, end)) => {
                let t = if producer { e.producer_ms } else { e.server_ms };
                t >= start && t <= end
            }
        };
        let mut page = s.filter_from(from_seq, max + 1, keep);
        let next = if page.len() > max {
            page.truncate(max);
            page.last().map(|e| (e.seq + 1).to_string())
        } else {
            None
        };
        let fragments: Vec<Value> = page
            .iter()
            .map(|e| {
                json!({
                    "FragmentNumber": e.number,
                    "FragmentSizeInBytes": e.size,
                    "ProducerTimestamp": epoch_secs(e.producer_ms),
                    "ServerTimestamp": epoch_secs(e.server_ms),
                    "FragmentLengthInMilliseconds": e.duration_ms,
                })
            })
            .collect();
        let mut out = json!({ "Fragments": fragments });
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }

    /// GetMedia: chunks from the start selector on, following the live head.
    async fn get_media(&self, body: Value) -> Result<Response<ApiBody>> {
        let s = self.stream_of(&body)?;
        let sel = body
            .get("StartSelector")
            .ok_or(VideoError::InvalidArgument {
                field: "StartSelector",
                reason: "required".into(),
            })?;
        let kind = sel
            .get("StartSelectorType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ts = || {
            parse_timestamp(
                sel.get("StartTimestamp").unwrap_or(&Value::Null),
                "StartTimestamp",
            )
        };
        let number = |field: &'static str| {
            sel.get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or(VideoError::InvalidArgument {
                    field,
                    reason: "required for this StartSelectorType".into(),
                })
        };
        let head = s.head_seq();
        let start = match kind {
            "NOW" => head,
            "EARLIEST" => 0,
            "FRAGMENT_NUMBER" => {
                let n = number("AfterFragmentNumber")?;
                s.by_number(&n)
                    .map(|e| e.seq)
                    .ok_or(VideoError::FragmentNotFound {
                        stream: s.name(),
                        fragment: n,
                    })?
            }
            "SERVER_TIMESTAMP" => s.by_server_time(ts()?).map_or(head, |e| e.seq),
            "PRODUCER_TIMESTAMP" => s.by_producer_time(ts()?).map_or(head, |e| e.seq),
            "CONTINUATION_TOKEN" => {
                let token = number("ContinuationToken")?;
                // The first fragment after the token's, even if that one expired.
                s.filter_from(0, 1, |e| e.number.as_str() > token.as_str())
                    .first()
                    .map_or(head, |e| e.seq)
            }
            other => {
                return Err(VideoError::InvalidArgument {
                    field: "StartSelectorType",
                    reason: format!("{other:?} is not a StartSelectorType"),
                });
            }
        };
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let api = self.clone();
        let idle = self.shared.config.get_media_idle;
        tokio::spawn(async move {
            api.follow(s, start, idle, tx).await;
        });
        let mut resp = Response::new(body::from_channel(rx));
        let media_type = "video/webm";
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(media_type),
        );
        Ok(resp)
    }

    async fn follow(&self, s: Arc<Stream>, mut next: u64, idle: Duration, tx: mpsc::Sender<Bytes>) {
        let mut head = s.subscribe();
        loop {
            head.borrow_and_update();
            if s.is_deleted() {
                return;
            }
            let batch = s.from_seq(next, 8);
            if batch.is_empty() {
                match tokio::time::timeout(idle, head.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return,
                }
            }
            for e in batch {
                next = e.seq + 1;
                let Ok(parts) = self.chunk(&s, &e, true).await else {
                    // Expired between listing and reading: go on with the next.
                    continue;
                };
                for p in parts {
                    if tx.send(p).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// One GetMedia chunk: header block, fragment tags, the fragment as
    /// stored, and (for GetMedia) the trailing MILLIS_BEHIND_NOW and
    /// CONTINUATION_TOKEN tags.
    async fn chunk(&self, s: &Arc<Stream>, e: &FragmentEntry, trailer: bool) -> Result<Vec<Bytes>> {
        let header = s
            .header(&e.header)
            .ok_or_else(|| VideoError::FragmentNotFound {
                stream: s.name(),
                fragment: e.number.clone(),
            })?;
        let stream = s.clone();
        let entry = e.clone();
        let data = tokio::task::spawn_blocking(move || stream.read(&entry))
            .await
            .map_err(|err| {
                VideoError::io("read", "fragment", std::io::Error::other(err.to_string()))
            })??;
        let tags = ebml::aws_tags(&[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", &e.number),
            ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", &fmt_secs(e.server_ms)),
            (
                "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                &fmt_secs(e.producer_ms),
            ),
        ]);
        let mut parts = vec![header, Bytes::from(tags), data];
        if trailer {
            let behind = (self.store().clock().now_ms() - e.server_ms).max(0);
            parts.push(Bytes::from(ebml::aws_tags(&[
                ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", &behind.to_string()),
                ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", &e.number),
            ])));
        }
        Ok(parts)
    }

    /// GetClip: an MP4 of the video track (H.264 or H.265) and the audio
    /// track (AAC, or G.711 A-law with H.264), if any, of the fragments
    /// that start in the range, checked and limited as AWS does:
    ///
    /// - ResourceNotFoundException: no such stream, or no fragment starts
    ///   in the range.
    /// - ClientLimitExceededException: more than
    ///   [`ClipLimits::max_per_second`] calls on the stream in a second.
    /// - NoDataRetentionException: the stream keeps no data
    ///   (DataRetentionInHours = 0).
    /// - InvalidArgumentException: a missing or bad selector, EndTimestamp
    ///   not after StartTimestamp or more than [`ClipLimits::max_range_ms`]
    ///   after it, or (SERVER_TIMESTAMP) EndTimestamp in the future.
    /// - UnsupportedStreamMediaTypeException, MissingCodecPrivateDataException,
    ///   InvalidCodecPrivateDataException, InvalidMediaFrameException: the
    ///   media cannot be made into an MP4 (see [`make_clip`]).
    ///
    /// A fragment is in the range when its start (producer or server
    /// timestamp) is at or after StartTimestamp and at or before
    /// EndTimestamp; one that starts before StartTimestamp is left out even
    /// if it runs past it. The clip holds the first
    /// [`ClipLimits::max_fragments`] such fragments and at most
    /// [`ClipLimits::max_bytes`] of media; the rest is cut off, not refused.
    async fn get_clip(&self, body: Value) -> Result<Response<ApiBody>> {
        let s = self.stream_of(&body)?;
        let sel = body
            .get("ClipFragmentSelector")
            .ok_or(VideoError::InvalidArgument {
                field: "ClipFragmentSelector",
                reason: "required".into(),
            })?;
        let (producer, start, end) = parse_range(sel)?;
        let limits = &self.shared.config.clip;
        let now = self.store().clock().now_ms();
        self.admit_clip(&s.name(), now)?;
        if s.meta().retention_hours == 0 {
            return Err(VideoError::NoDataRetention { stream: s.name() });
        }
        check_clip_range(producer, start, end, now, limits.max_range_ms)?;
        let entries = s.filter_from(0, limits.max_fragments, |e| {
            let t = if producer { e.producer_ms } else { e.server_ms };
            t >= start && t <= end
        });
        if entries.is_empty() {
            return Err(VideoError::NoMedia {
                stream: s.name(),
                reason: "no fragments start in the clip's timestamp range".into(),
            });
        }
        let stream = s.clone();
        let max_bytes = limits.max_bytes;
        let result = tokio::task::spawn_blocking(move || make_clip(&stream, &entries, max_bytes))
            .await
            .map_err(|e| {
                VideoError::io("clip", "GetClip", std::io::Error::other(e.to_string()))
            })??;
        let mut resp = Response::new(body::full(result));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("video/mp4"),
        );
        Ok(resp)
    }

    /// Count a GetClip call on `stream` at `now_ms`; refuse it when the
    /// stream already had [`ClipLimits::max_per_second`] in the last second.
    fn admit_clip(&self, stream: &str, now_ms: i64) -> Result<()> {
        let Some(per_second) = self.shared.config.clip.max_per_second else {
            return Ok(());
        };
        let mut calls = self
            .shared
            .clip_calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = calls.entry(stream.to_string()).or_default();
        admit(recent, now_ms, per_second).map_err(|()| VideoError::ClientLimit {
            stream: stream.to_string(),
            operation: "GetClip",
            per_second,
        })
    }

    /// GetMediaForFragmentList: the listed fragments, in the order given.
    async fn get_media_for_fragment_list(&self, body: Value) -> Result<Response<ApiBody>> {
        let s = self.stream_of(&body)?;
        let numbers: Vec<String> = body
            .get("Fragments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if numbers.is_empty() || numbers.len() > 1000 {
            return Err(VideoError::InvalidArgument {
                field: "Fragments",
                reason: format!("{} fragment numbers, 1 to 1000 allowed", numbers.len()),
            });
        }
        let mut entries = Vec::with_capacity(numbers.len());
        for n in numbers {
            let e = s
                .by_number(&n)
                .ok_or_else(|| VideoError::FragmentNotFound {
                    stream: s.name(),
                    fragment: n.clone(),
                })?;
            entries.push(e);
        }
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let api = self.clone();
        tokio::spawn(async move {
            for e in entries {
                let Ok(parts) = api.chunk(&s, &e, false).await else {
                    return;
                };
                for p in parts {
                    if tx.send(p).await.is_err() {
                        return;
                    }
                }
            }
        });
        let mut resp = Response::new(body::from_channel(rx));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("video/webm"),
        );
        Ok(resp)
    }
}

/// A FragmentSelector / ClipFragmentSelector: (producer time?, start ms, end ms).
fn parse_range(sel: &Value) -> Result<(bool, i64, i64)> {
    let producer = match sel.get("FragmentSelectorType").and_then(Value::as_str) {
        Some("PRODUCER_TIMESTAMP") => true,
        Some("SERVER_TIMESTAMP") => false,
        other => {
            return Err(VideoError::InvalidArgument {
                field: "FragmentSelectorType",
                reason: format!("{other:?}: PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"),
            });
        }
    };
    let r = sel
        .get("TimestampRange")
        .ok_or(VideoError::InvalidArgument {
            field: "TimestampRange",
            reason: "required".into(),
        })?;
    let start = parse_timestamp(
        r.get("StartTimestamp").unwrap_or(&Value::Null),
        "StartTimestamp",
    )?;
    let end = parse_timestamp(
        r.get("EndTimestamp").unwrap_or(&Value::Null),
        "EndTimestamp",
    )?;
    if end < start {
        return Err(VideoError::InvalidArgument {
            field: "TimestampRange",
            reason: "EndTimestamp is before StartTimestamp".into(),
        });
    }
    Ok((producer, start, end))
}

/// A sliding one-second window of call times: admit a call at `now_ms`
/// unless `per_second` were admitted in the second before it.
fn admit(recent: &mut VecDeque<i64>, now_ms: i64, per_second: u32) -> Result<(), ()> {
    while recent.front().is_some_and(|t| *t <= now_ms - 1000) {
        recent.pop_front();
    }
    if recent.len() >= per_second as usize {
        return Err(());
    }
    recent.push_back(now_ms);
    Ok(())
}

/// AWS's ClipTimestampRange rules: EndTimestamp after StartTimestamp and
/// within `max_range_ms` of it; with SERVER_TIMESTAMP, not in the future.
fn check_clip_range(
    producer: bool,
    start: i64,
    end: i64,
    now_ms: i64,
    max_range_ms: i64,
) -> Result<()> {
    let bad = |reason: String| VideoError::InvalidArgument {
        field: "TimestampRange",
        reason,
    };
    if end <= start {
        return Err(bad("EndTimestamp must be later than StartTimestamp".into()));
    }
    if end - start > max_range_ms {
        return Err(bad(format!(
            "EndTimestamp must be within {} hours of StartTimestamp",
            max_range_ms as f64 / 3_600_000.0
        )));
    }
    if !producer && end > now_ms {
        return Err(bad(
            "with SERVER_TIMESTAMP, EndTimestamp must be in the past".into(),
        ));
    }
    Ok(())
}

/// `1511852109.126`: epoch seconds with three decimals, as in the fragment tags.
pub fn fmt_secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Read the fragments and mux their video frames (H.264 or H.265) and
/// audio frames (AAC, or G.711 A-law with H.264) into an MP4 (blocking),
/// keeping whole frames, of both tracks in the order the Clusters hold
/// them, while their bytes stay within `max_bytes`.
///
/// Errors, with AWS's exception names (see [`crate::mp4::ClipFault::aws`]):
/// no H.264 or H.265 track, an audio track of another codec (G.711 µ-law
/// included), or tracks that change between fragments (video only, then
/// audio and video; AAC, then A-law) → UnsupportedStreamMediaTypeException;
/// a header that cannot be read, a CodecPrivate that cannot be read, or
/// one that changes between fragments (AWS: the codec private data must
/// stay the same through the clip) → InvalidCodecPrivateDataException; a
/// track with no CodecPrivate → MissingCodecPrivateDataException; no video
/// keyframe, or a block whose laced frames cannot be read →
/// InvalidMediaFrameException.
fn make_clip(s: &Stream, entries: &[FragmentEntry], max_bytes: u64) -> Result<Vec<u8>> {
    let unavailable = |aws: &'static str, reason: String| VideoError::ClipUnavailable {
        stream: s.name(),
        aws,
        reason,
    };
    let fault = |f: crate::mp4::ClipFault| unavailable(f.aws(), f.to_string());
    let mut frames = Vec::new();
    let mut bytes = 0u64;
    let mut tracks: Option<crate::mp4::ClipTracks> = None;
    'fragments: for e in entries {
        let header = s
            .header(&e.header)
            .ok_or_else(|| VideoError::FragmentNotFound {
                stream: s.name(),
                fragment: e.number.clone(),
            })?;
        let info = crate::mkv::HeaderInfo::parse(header).map_err(|r| {
            unavailable(
                "InvalidCodecPrivateDataException",
                format!("fragment {}: {r}", e.number),
            )
        })?;
        let these = crate::mp4::clip_tracks(&info)
            .map_err(|f| unavailable(f.aws(), format!("fragment {}: {f}", e.number)))?;
        if let Some(first) = &tracks {
            first.check_same(&these, &e.number).map_err(fault)?;
        }
        let numbers = these.numbers();
        tracks.get_or_insert(these);
        let data = s.read(e)?;
        for f in crate::mp4::fragment_frames(&data, &info, &numbers).map_err(fault)? {
            let next = bytes + f.data.len() as u64;
            if next > max_bytes {
                break 'fragments;
            }
            bytes = next;
            frames.push(f);
        }
    }
    let Some(tracks) = tracks else {
        return Err(unavailable(
            "UnsupportedStreamMediaTypeException",
            "no track".into(),
        ));
    };
    crate::mp4::clip(&tracks, &frames)
        .map(|c| c.bytes)
        .map_err(fault)
}

fn stream_info(m: &StreamMeta) -> Value {
    let mut v = json!({
        "StreamName": m.name,
        "StreamARN": m.arn,
        "Version": m.version,
        "Status": "ACTIVE",
        "CreationTime": epoch_secs(m.creation_ms),
        "DataRetentionInHours": m.retention_hours,
    });
    if let Some(d) = &m.device_name {
        v["DeviceName"] = json!(d);
    }
    if let Some(t) = &m.media_type {
        v["MediaType"] = json!(t);
    }
    if let Some(k) = &m.kms_key_id {
        v["KmsKeyId"] = json!(k);
    }
    v
}

fn tag_map(v: Option<&Value>) -> Result<BTreeMap<String, String>> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    if v.is_null() {
        return Ok(BTreeMap::new());
    }
    let obj = v.as_object().ok_or(VideoError::InvalidArgument {
        field: "Tags",
        reason: "a map of string to string".into(),
    })?;
    Ok(obj
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect())
}

async fn read_json<B>(mut body: B) -> Result<Value>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| VideoError::InvalidArgument {
            field: "body",
            reason: e.to_string(),
        })?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
        if bytes.len() > 1024 * 1024 {
            return Err(VideoError::InvalidArgument {
                field: "body",
                reason: "larger than 1 MiB".into(),
            });
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| VideoError::BadJson {
        operation: "request",
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(fmt_secs(1_511_852_109_126), "1511852109.126");
        assert_eq!(fmt_secs(5), "0.005");
        assert_eq!(parse_timestamp(&json!(1.5), "t").unwrap(), 1500);
        assert_eq!(
            parse_timestamp(&json!("2020-01-01T00:00:01Z"), "t").unwrap(),
            1_577_836_801_000
        );
        assert!(VideoApi::matches("/getMedia"));
        assert!(!VideoApi::matches("/putRecord"));
    }

    #[test]
    fn clip_calls_are_admitted_per_second() {
        let mut recent = VecDeque::new();
        assert!(admit(&mut recent, 1_000, 2).is_ok());
        assert!(admit(&mut recent, 1_500, 2).is_ok());
        assert!(admit(&mut recent, 1_999, 2).is_err());
        // The call at 1000 leaves the window at 2000; the refused one never counted.
        assert!(admit(&mut recent, 2_000, 2).is_ok());
        assert!(admit(&mut recent, 2_100, 2).is_err());
        assert!(admit(&mut recent, 2_500, 2).is_ok());
    }

    #[test]
    fn clip_range_rules_follow_aws() {
        let day = 24 * 3_600_000;
        let now = 10 * day;
        assert!(check_clip_range(false, 1_000, 2_000, now, day).is_ok());
        assert!(check_clip_range(true, 1_000, 1_000 + day, now, day).is_ok());
        for (producer, start, end) in [
            (false, 2_000, 2_000),
            (false, 3_000, 2_000),
            (true, 0, day + 1),
            (false, now - 1_000, now + 1),
        ] {
            let err = check_clip_range(producer, start, end, now, day).unwrap_err();
            assert_eq!(err.aws_error().0, "InvalidArgumentException", "{err}");
        }
        // Producer time may lie ahead of the server's clock.
        assert!(check_clip_range(true, now, now + 1_000, now, day).is_ok());
    }
}

/// For this crate's unit tests: a [`VideoApi`] in a fresh directory with
/// one stream, `cam` (retention 1 hour); the directory goes with it.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;
    use std::sync::Arc;

    use crate::store::CreateStream;
    use crate::{SystemClock, VideoApi, VideoConfig};

    /// The API and its directory, removed on drop.
    pub(crate) struct TestApi {
        pub api: VideoApi,
        pub dir: PathBuf,
    }

    impl Drop for TestApi {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A fresh `sluice-video-{name}-{pid}` directory, configured by `tweak`.
    pub(crate) fn with_cam(name: &str, tweak: impl FnOnce(&mut VideoConfig)) -> TestApi {
        let dir = std::env::temp_dir().join(format!("sluice-video-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = VideoConfig::new(&dir);
        tweak(&mut config);
        let api = VideoApi::open(config, Arc::new(SystemClock)).unwrap();
        api.store()
            .create_stream(CreateStream {
                name: "cam".into(),
                retention_hours: 1,
                ..CreateStream::default()
            })
            .unwrap();
        TestApi { api, dir }
    }
}
