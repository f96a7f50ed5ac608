//! PutMedia: one session per connection. The body is fed to the
//! [`MkvSplitter`] as it arrives; each fragment is stored and acknowledged
//! with AWS's ACK event stream — newline-separated JSON objects
//! `{"EventType":"BUFFERING"|"RECEIVED"|"PERSISTED"|"ERROR"|"IDLE",
//! "FragmentTimecode":..,"FragmentNumber":"..","ErrorId":..}`.
//!
//! The session runs in its own task and ACKs go through an unbounded
//! channel, so a client that never reads its ACKs (or hangs up) does not
//! stall ingest: every fragment that got RECEIVED is in the store.
//! PERSISTED follows the fsync of the segment and the index (group commit:
//! one fsync pair per batch of body bytes).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::api::{VideoApi, error_response};
use crate::body;
use crate::error::VideoError;
use crate::events::{AckStatus, FragmentEvent};
use crate::mkv::{self, HeaderInfo, MkvSplitter, ParseEvent, ParsedFragment};
use crate::store::{NewFragment, Stream, fragment_number};

/// The ErrorCode name for a PutMedia error id.
pub fn error_code_name(id: u32) -> &'static str {
    match id {
        4000 => "STREAM_READ_ERROR",
        4001 => "MAX_FRAGMENT_SIZE_REACHED",
        4002 => "MAX_FRAGMENT_DURATION_REACHED",
        4003 => "MAX_CONNECTION_DURATION_REACHED",
        4004 => "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
        4005 => "MORE_THAN_ALLOWED_TRACKS_FOUND",
        4006 => "INVALID_MKV_DATA",
        4007 => "INVALID_PRODUCER_TIMESTAMP",
        4008 => "STREAM_NOT_ACTIVE",
        4009 => "FRAGMENT_METADATA_LIMIT_REACHED",
        4010 => "TRACK_NUMBER_MISMATCH",
        4011 => "FRAMES_MISSING_FOR_TRACK",
        4012 => "MORE_THAN_ALLOWED_TRACKS_FOUND",
        5001 => "ARCHIVAL_ERROR",
        _ => "INTERNAL_ERROR",
    }
}

fn ack(event: &str, timecode: Option<u64>, number: Option<&str>, error: Option<u32>) -> Bytes {
    let mut v = json!({ "EventType": event });
    if let Some(tc) = timecode {
        v["FragmentTimecode"] = json!(tc);
    }
    if let Some(n) = number {
        v["FragmentNumber"] = json!(n);
    }
    if let Some(e) = error {
        v["ErrorId"] = json!(e);
        v["ErrorCode"] = json!(error_code_name(e));
    }
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Handle a PutMedia request: check headers, claim the stream, start the
/// session task, answer 200 with the ACK stream.
pub(crate) async fn put_media<B>(api: VideoApi, req: Request<B>) -> Response<body::ApiBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display + Send,
{
    let h = req.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let name = get("x-amzn-stream-name");
    let arn = get("x-amzn-stream-arn");
    let relative = match get("x-amzn-fragment-timecode-type").as_deref() {
        None | Some("ABSOLUTE") => false,
        Some("RELATIVE") => true,
        Some(other) => {
            return error_response(&VideoError::InvalidArgument {
                field: "x-amzn-fragment-timecode-type",
                reason: format!("{other:?}: ABSOLUTE or RELATIVE"),
            });
        }
    };
    let start_ms = match get("x-amzn-producer-start-timestamp") {
        None => None,
        Some(s) => match s.parse::<f64>() {
            Ok(secs) => Some((secs * 1000.0).round() as i64),
            Err(_) => {
                return error_response(&VideoError::InvalidArgument {
                    field: "x-amzn-producer-start-timestamp",
                    reason: format!("{s:?} is not epoch seconds"),
                });
            }
        },
    };
    let stream = match api.store().stream(name.as_deref(), arn.as_deref()) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    if !stream.claim_writer() {
        return error_response(&VideoError::ConnectionLimit {
            stream: stream.name(),
        });
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let now = api.store().clock().now_ms();
    let session = Session {
        api: api.clone(),
        stream: stream.clone(),
        acks: tx,
        base_ms: if relative { start_ms.unwrap_or(now) } else { 0 },
        header: None,
        header_id: None,
        open: None,
        // GAP_MS runs across sessions: start from the stream's newest fragment.
        last_end_ms: stream.last().map(|e| e.producer_ms + e.duration_ms),
    };
    let body = req.into_body();
    tokio::spawn(async move {
        session.run(body).await;
        stream.release_writer();
    });
    let mut resp = Response::new(body::from_unbounded(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

struct OpenFragment {
    seq: u64,
    number: String,
    server_ms: i64,
    started: Instant,
}

struct Session {
    api: VideoApi,
    stream: Arc<Stream>,
    acks: mpsc::UnboundedSender<Bytes>,
    base_ms: i64,
    header: Option<Arc<HeaderInfo>>,
    header_id: Option<String>,
    open: Option<OpenFragment>,
    last_end_ms: Option<i64>,
}

struct Stored {
    event: FragmentEvent,
    timecode: u64,
    /// Answered with ERROR already; only its event is left to publish.
    rejected: bool,
}

impl Session {
    fn send(&self, b: Bytes) {
        // A client that hung up no longer reads ACKs; ingest goes on.
        let _ = self.acks.send(b);
    }

    async fn run<B>(mut self, mut body: B)
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display + Send,
    {
        let config = &self.api.shared.config;
        let mut splitter = MkvSplitter::new(config.limits);
        let idle_ack = config.put_media_idle_ack;
        let timeout = config.put_media_timeout;
        let mut events = Vec::new();
        let mut last_data = Instant::now();
        let mut done = false;
        // Durability runs beside ingest: while one batch is fsynced the
        // next is read and written (group commit).
        let (persist_tx, persist_rx) = mpsc::unbounded_channel::<Vec<Stored>>();
        let persister = tokio::spawn(persist_loop(
            self.stream.clone(),
            self.acks.clone(),
            self.api.shared.events.clone(),
            persist_rx,
        ));
        while !done {
            let frame = tokio::time::timeout(idle_ack, body.frame()).await;
            match frame {
                Err(_) => {
                    if last_data.elapsed() >= timeout {
                        splitter.finish(false, &mut events);
                        done = true;
                    } else {
                        self.send(ack("IDLE", None, None, None));
                        continue;
                    }
                }
                Ok(Some(Ok(f))) => {
                    last_data = Instant::now();
                    if let Ok(data) = f.into_data() {
                        // Fragments keep slices of the body's buffers.
                        splitter.feed_bytes(data, &mut events);
                    }
                }
                Ok(Some(Err(_))) => {
                    splitter.finish(false, &mut events);
                    done = true;
                }
                Ok(None) => {
                    splitter.finish(true, &mut events);
                    done = true;
                }
            }
            if self.stream.is_deleted() {
                let tc = self.open.as_ref().map(|_| 0);
                self.send(ack("ERROR", tc, None, Some(mkv::ERR_STREAM_DELETED)));
                break;
            }
            let mut stored = Vec::new();
            for ev in events.drain(..) {
                match self.on_event(ev, &mut stored).await {
                    Ok(true) => {}
                    Ok(false) => done = true,
                    Err(_) => {
                        self.send(ack("ERROR", None, None, Some(mkv::ERR_PERSIST)));
                        done = true;
                    }
                }
                if done {
                    break;
                }
            }
            if !stored.is_empty() {
                let _ = persist_tx.send(stored);
            }
        }
        drop(persist_tx);
        let _ = persister.await;
    }

    /// Handle one splitter event; `Ok(false)` ends the session.
    async fn on_event(
        &mut self,
        ev: ParseEvent,
        stored: &mut Vec<Stored>,
    ) -> Result<bool, VideoError> {
        match ev {
            ParseEvent::Header(h) => {
                let stream = self.stream.clone();
                let bytes = h.bytes.clone();
                let id = blocking(move || stream.put_header(&bytes)).await?;
                self.header_id = Some(id);
                self.header = Some(h);
                Ok(true)
            }
            ParseEvent::FragmentStart { timecode } => {
                let seq = match self.stream.try_allocate() {
                    Some(seq) => seq,
                    None => {
                        let stream = self.stream.clone();
                        blocking(move || stream.allocate()).await?
                    }
                };
                let number = fragment_number(seq);
                self.send(ack("BUFFERING", Some(timecode), Some(&number), None));
                self.open = Some(OpenFragment {
                    seq,
                    number,
                    server_ms: self.api.store().clock().now_ms(),
                    started: Instant::now(),
                });
                Ok(true)
            }
            ParseEvent::FragmentEnd(mut frag) => {
                let open = self.open.take();
                if let Some(code) = frag.error {
                    let number = open.as_ref().map(|o| o.number.clone());
                    self.send(ack(
                        "ERROR",
                        Some(frag.cluster_timecode),
                        number.as_deref(),
                        Some(code),
                    ));
                    // Published by the persister, in line with the
                    // accepted fragments before it.
                    stored.push(Stored {
                        event: self.event(&frag, open.as_ref(), AckStatus::Error),
                        timecode: frag.cluster_timecode,
                        rejected: true,
                    });
                    return Ok(true);
                }
                let (Some(open), Some(header_id)) = (open, self.header_id.clone()) else {
                    self.send(ack(
                        "ERROR",
                        Some(frag.cluster_timecode),
                        None,
                        Some(mkv::ERR_INVALID_MKV),
                    ));
                    return Ok(false);
                };
                let producer_ms = self.producer_ms(&frag);
                let new = NewFragment {
                    seq: open.seq,
                    producer_ms,
                    server_ms: open.server_ms,
                    duration_ms: frag.duration_ms,
                    frames: frag.frames,
                    keyframes: frag.keyframes,
                    tracks: frag.frames_per_track.keys().copied().collect(),
                    header: header_id,
                    cluster_timecode: frag.cluster_timecode,
                    bytes: std::mem::take(&mut frag.bytes),
                };
                let stream = self.stream.clone();
                let entry = blocking(move || stream.append(new)).await?;
                self.send(ack(
                    "RECEIVED",
                    Some(frag.cluster_timecode),
                    Some(&entry.number),
                    None,
                ));
                let mut event = self.event(&frag, Some(&open), AckStatus::Received);
                event.server_ms = entry.server_ms;
                event.size_bytes = entry.size;
                self.last_end_ms = Some(producer_ms + frag.duration_ms);
                stored.push(Stored {
                    event,
                    timecode: frag.cluster_timecode,
                    rejected: false,
                });
                Ok(true)
            }
            ParseEvent::Fatal { code, timecode, .. } => {
                let number = self.open.take().map(|o| o.number);
                self.send(ack("ERROR", timecode, number.as_deref(), Some(code)));
                Ok(false)
            }
        }
    }

    fn producer_ms(&self, frag: &ParsedFragment) -> i64 {
        let tc_ms = self
            .header
            .as_ref()
            .map_or(frag.cluster_timecode as i64, |h| {
                h.ticks_to_ms(frag.cluster_timecode as i64)
            });
        self.base_ms + tc_ms
    }

    fn event(
        &self,
        frag: &ParsedFragment,
        open: Option<&OpenFragment>,
        status: AckStatus,
    ) -> FragmentEvent {
        let first = self.header.as_ref().and_then(|h| h.tracks.first());
        let video = self
            .header
            .as_ref()
            .and_then(|h| h.tracks.iter().find(|t| t.width.is_some()));
        let producer_ms = self.producer_ms(frag);
        FragmentEvent {
            stream_name: self.stream.name(),
            fragment_number: open.map(|o| o.number.clone()),
            producer_ms: Some(producer_ms),
            server_ms: open.map_or_else(|| self.api.store().clock().now_ms(), |o| o.server_ms),
            duration_ms: frag.duration_ms,
            size_bytes: frag.size,
            frame_count: frag.frames,
            keyframe_count: frag.keyframes,
            codec_id: first.map(|t| t.codec_id.clone()),
            width: video.and_then(|t| t.width),
            height: video.and_then(|t| t.height),
            gap_ms: self.last_end_ms.map(|end| producer_ms - end),
            ingest_latency_ms: Some(open.map_or(0, |o| o.started.elapsed().as_millis() as i64)),
            ack_status: status,
            error_id: frag.error,
        }
    }
}

/// Make batches durable and send PERSISTED (retention > 0), then publish
/// the fragment events. Batches waiting while one is fsynced are merged.
async fn persist_loop(
    stream: Arc<Stream>,
    acks: mpsc::UnboundedSender<Bytes>,
    events: tokio::sync::broadcast::Sender<FragmentEvent>,
    mut rx: mpsc::UnboundedReceiver<Vec<Stored>>,
) {
    while let Some(mut batch) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            batch.extend(more);
        }
        let keeps = stream.meta().retention_hours > 0;
        let result = if keeps && batch.iter().any(|s| !s.rejected) {
            let s = stream.clone();
            blocking(move || s.persist()).await.map(|_| ())
        } else {
            Ok(())
        };
        for mut s in batch {
            if s.rejected {
                let _ = events.send(s.event);
                continue;
            }
            let number = s.event.fragment_number.clone();
            match &result {
                Ok(()) if keeps => {
                    let _ = acks.send(ack("PERSISTED", Some(s.timecode), number.as_deref(), None));
                    s.event.ack_status = AckStatus::Persisted;
                }
                Ok(()) => {}
                Err(_) => {
                    let _ = acks.send(ack(
                        "ERROR",
                        Some(s.timecode),
                        number.as_deref(),
                        Some(mkv::ERR_PERSIST),
                    ));
                    s.event.ack_status = AckStatus::Error;
                    s.event.error_id = Some(mkv::ERR_PERSIST);
                }
            }
            let _ = events.send(s.event);
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VideoError> + Send + 'static,
) -> Result<T, VideoError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        VideoError::io(
            "store",
            "blocking task",
            std::io::Error::other(e.to_string()),
        )
    })?
}
