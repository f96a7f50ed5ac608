//! PutMedia: one session per connection. The body is fed to the
//! [`MkvSplitter`] as it arrives; each fragment is stored and acknowledged
//! with AWS's ACK event stream — newline-separated JSON objects
//! `{"EventType":"BUFFERING"|"RECEIVED"|"PERSISTED"|"ERROR"|"IDLE",
//! "FragmentTimecode":..,"FragmentNumber":"..","ErrorId":..}`.
//! Entry point: [`put_media`] (through [`VideoApi`]'s router).
//!
//! # Pipeline
//!
//! A session is three stages, each on its own thread or task, so receiving
//! and splitting fragment k+1 overlaps writing fragment k, and both overlap
//! making earlier fragments durable:
//!
//! ```text
//! body ─▶ session task: read, split, number   ─steps (bounded)─▶  writer (blocking thread):
//!         (BUFFERING, IDLE and ERROR acks are     append to the segment, RECEIVED
//!          steps too, so they stay in line)                  │ stored (unbounded, ≤ the steps)
//!                                                            ▼
//!                                              persister task: fdatasync segment + index
//!                                              (group commit), PERSISTED, fragment events
//! ```
//!
//! - Order: the session queues [`Step`]s in the order it sees fragments;
//!   the writer takes them one at a time, so fragments are appended, and
//!   every ACK but PERSISTED is sent, in exactly the order of a serial
//!   session. RECEIVED for a fragment is sent only after its bytes are in
//!   the segment; PERSISTED only after the persister's fdatasync of the
//!   segment and of its index line, which starts after the append.
//! - Backpressure: the step channel holds [`PIPELINE_DEPTH`] steps (a
//!   fragment, or an ACK between fragments), so at most that many
//!   fragments wait for the writer besides the one it writes; while it is
//!   full the session reads no more of the body, and TCP slows the
//!   producer down. The persister's queue is unbounded but holds only
//!   fragment metadata (their bytes are in the segment by then).
//! - Locks: the writer appends without holding the stream lock during the
//!   segment write ([`Stream::append`]), and the session reads the
//!   StreamName once, so numbering the next fragment does not wait for
//!   the previous one's bytes.
//! - Errors: when an append fails, the writer sends ERROR (5001), drops
//!   every later step unsent and closes the step channel; the session sees
//!   the channel close and ends, as a serial session stops at the failed
//!   append. An error on the session's side (a fatal MKV error, a deleted
//!   stream) is queued as an ERROR step behind the fragments before it.
//!
//! ACKs go to the client through an unbounded channel, so a client that
//! never reads its ACKs (or hangs up) does not stall ingest: every fragment
//! that got RECEIVED is in the store. PERSISTED follows the fsync of the
//! segment and the index (group commit: one fsync pair for all fragments
//! appended while the previous pair ran). The stream's single writer is
//! released only when all three stages are done.

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
use crate::store::{FragmentEntry, NewFragment, Stream, fragment_number};

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
    let (steps, writer) = start_writer(&api, &stream, tx);
    let now = api.store().clock().now_ms();
    let session = Session {
        api: api.clone(),
        stream: stream.clone(),
        name: stream.name(),
        steps,
        base_ms: if relative { start_ms.unwrap_or(now) } else { 0 },
        header: None,
        header_id: None,
        open: None,
        // GAP_MS runs across sessions: start from the stream's newest fragment.
        last_end_ms: stream.last().map(|e| e.producer_ms + e.duration_ms),
    };
    let body = req.into_body();
    tokio::spawn(async move {
        session.run(body, writer).await;
        stream.release_writer();
    });
    let mut resp = Response::new(body::from_unbounded(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Start a session's writer (a blocking thread) and persister (a task);
/// the handle ends when both are done. The session queues its steps on the
/// returned sender.
fn start_writer(
    api: &VideoApi,
    stream: &Arc<Stream>,
    acks: mpsc::UnboundedSender<Bytes>,
) -> (mpsc::Sender<Step>, tokio::task::JoinHandle<()>) {
    let (steps_tx, steps_rx) = mpsc::channel(PIPELINE_DEPTH);
    let (persist_tx, persist_rx) = mpsc::unbounded_channel();
    let persister = tokio::spawn(persist_loop(
        stream.clone(),
        acks.clone(),
        api.shared.events.clone(),
        persist_rx,
    ));
    let s = stream.clone();
    let writer = tokio::task::spawn_blocking(move || {
        write_loop(steps_rx, |new| s.append(new), &acks, &persist_tx);
    });
    let handle = tokio::spawn(async move {
        let _ = writer.await;
        let _ = persister.await;
    });
    (steps_tx, handle)
}

/// Steps (fragments, or ACKs between them) the session may queue for the
/// writer before it waits: at most this many fragments wait besides the
/// one being written.
pub(crate) const PIPELINE_DEPTH: usize = 4;

struct OpenFragment {
    seq: u64,
    number: String,
    server_ms: i64,
    started: Instant,
}

/// What the session hands the writer, in fragment order.
enum Step {
    /// Send this ACK, in line with the fragments queued before it.
    Ack(Bytes),
    /// Append a fragment; then RECEIVED, and on to the persister.
    Append {
        new: NewFragment,
        /// Its RECEIVED event; the writer fills in what the append decides.
        event: FragmentEvent,
        started: Instant,
    },
    /// A fragment answered with ERROR: send the ACK, publish its event in
    /// line with the accepted fragments before it.
    Reject { ack: Bytes, stored: Stored },
}

struct Session {
    api: VideoApi,
    stream: Arc<Stream>,
    /// StreamName, read once: the stream lock is the writer's to take.
    name: String,
    /// To the writer; closed by the writer when an append failed.
    steps: mpsc::Sender<Step>,
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
    /// Queue a step for the writer, waiting while the pipeline is full;
    /// `false` when the writer has stopped (an append failed).
    async fn queue(&self, step: Step) -> bool {
        self.steps.send(step).await.is_ok()
    }

    /// Queue an ACK in line with the fragments before it.
    async fn send(&self, b: Bytes) -> bool {
        self.queue(Step::Ack(b)).await
    }

    async fn run<B>(mut self, mut body: B, writer: tokio::task::JoinHandle<()>)
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
        while !done {
            let frame = tokio::select! {
                // The writer failed and sent ERROR: read no further.
                () = self.steps.closed() => break,
                frame = tokio::time::timeout(idle_ack, body.frame()) => frame,
            };
            match frame {
                Err(_) => {
                    if last_data.elapsed() >= timeout {
                        splitter.finish(false, &mut events);
                        done = true;
                    } else {
                        if !self.send(ack("IDLE", None, None, None)).await {
                            break;
                        }
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
                self.send(ack("ERROR", tc, None, Some(mkv::ERR_STREAM_DELETED)))
                    .await;
                break;
            }
            for ev in events.drain(..) {
                match self.on_event(ev).await {
                    Ok(true) => {}
                    Ok(false) => done = true,
                    Err(_) => {
                        self.send(ack("ERROR", None, None, Some(mkv::ERR_PERSIST)))
                            .await;
                        done = true;
                    }
                }
                if done {
                    break;
                }
            }
        }
        // Closing the step channel lets the writer finish what is queued;
        // it then closes the persister's channel in turn.
        drop(self.steps);
        let _ = writer.await;
    }

    /// Handle one splitter event; `Ok(false)` ends the session.
    async fn on_event(&mut self, ev: ParseEvent) -> Result<bool, VideoError> {
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
                let sent = self
                    .send(ack("BUFFERING", Some(timecode), Some(&number), None))
                    .await;
                self.open = Some(OpenFragment {
                    seq,
                    number,
                    server_ms: self.api.store().clock().now_ms(),
                    started: Instant::now(),
                });
                Ok(sent)
            }
            ParseEvent::FragmentEnd(mut frag) => {
                let open = self.open.take();
                if let Some(code) = frag.error {
                    let number = open.as_ref().map(|o| o.number.clone());
                    let ack = ack(
                        "ERROR",
                        Some(frag.cluster_timecode),
                        number.as_deref(),
                        Some(code),
                    );
                    let stored = Stored {
                        event: self.event(&frag, open.as_ref(), AckStatus::Error),
                        timecode: frag.cluster_timecode,
                        rejected: true,
                    };
                    return Ok(self.queue(Step::Reject { ack, stored }).await);
                }
                let (Some(open), Some(header_id)) = (open, self.header_id.clone()) else {
                    self.send(ack(
                        "ERROR",
                        Some(frag.cluster_timecode),
                        None,
                        Some(mkv::ERR_INVALID_MKV),
                    ))
                    .await;
                    return Ok(false);
                };
                let producer_ms = self.producer_ms(&frag);
                let event = self.event(&frag, Some(&open), AckStatus::Received);
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
                // The next fragment's gap counts from this one; should its
                // append fail, the session ends before another is seen.
                self.last_end_ms = Some(producer_ms + frag.duration_ms);
                Ok(self
                    .queue(Step::Append {
                        new,
                        event,
                        started: open.started,
                    })
                    .await)
            }
            ParseEvent::Fatal { code, timecode, .. } => {
                let number = self.open.take().map(|o| o.number);
                self.send(ack("ERROR", timecode, number.as_deref(), Some(code)))
                    .await;
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
            stream_name: self.name.clone(),
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

/// The writer: takes the session's steps in order on a blocking thread,
/// appends each fragment and sends its RECEIVED, hands it to the persister.
/// On a failed append it sends ERROR and returns, dropping the steps left
/// (the session sees its channel close and stops).
fn write_loop(
    mut steps: mpsc::Receiver<Step>,
    append: impl Fn(NewFragment) -> Result<FragmentEntry, VideoError>,
    acks: &mpsc::UnboundedSender<Bytes>,
    persist: &mpsc::UnboundedSender<Stored>,
) {
    // A client that hung up no longer reads ACKs; ingest goes on.
    while let Some(step) = steps.blocking_recv() {
        match step {
            Step::Ack(b) => {
                let _ = acks.send(b);
            }
            Step::Reject { ack, stored } => {
                let _ = acks.send(ack);
                let _ = persist.send(stored);
            }
            Step::Append {
                new,
                mut event,
                started,
            } => {
                let timecode = new.cluster_timecode;
                match append(new) {
                    Ok(entry) => {
                        let _ =
                            acks.send(ack("RECEIVED", Some(timecode), Some(&entry.number), None));
                        event.server_ms = entry.server_ms;
                        event.size_bytes = entry.size;
                        event.ingest_latency_ms = Some(started.elapsed().as_millis() as i64);
                        let _ = persist.send(Stored {
                            event,
                            timecode,
                            rejected: false,
                        });
                    }
                    Err(_) => {
                        let _ = acks.send(ack("ERROR", None, None, Some(mkv::ERR_PERSIST)));
                        return;
                    }
                }
            }
        }
    }
}

/// Make fragments durable and send PERSISTED (retention > 0), then publish
/// the fragment events. Fragments waiting while one batch is fsynced are
/// merged into the next (group commit).
async fn persist_loop(
    stream: Arc<Stream>,
    acks: mpsc::UnboundedSender<Bytes>,
    events: tokio::sync::broadcast::Sender<FragmentEvent>,
    mut rx: mpsc::UnboundedReceiver<Stored>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc as std_mpsc;
    use std::time::Duration;

    use super::*;
    use crate::VideoConfig;
    use crate::api::testing::{TestApi, with_cam};
    use crate::mkv::testing::{cluster, header_bytes};

    fn new_fragment(seq: u64) -> NewFragment {
        NewFragment {
            seq,
            producer_ms: 0,
            server_ms: 0,
            duration_ms: 0,
            frames: 1,
            keyframes: 1,
            tracks: vec![1],
            header: "h".into(),
            cluster_timecode: seq * 1000,
            bytes: Bytes::from(vec![seq as u8; 8]).into(),
        }
    }

    fn entry(new: &NewFragment) -> FragmentEntry {
        FragmentEntry {
            seq: new.seq,
            number: fragment_number(new.seq),
            producer_ms: new.producer_ms,
            server_ms: new.server_ms,
            duration_ms: new.duration_ms,
            size: new.bytes.len() as u64,
            frames: new.frames,
            keyframes: new.keyframes,
            tracks: new.tracks.clone(),
            header: new.header.clone(),
            segment: 0,
            offset: 0,
            cluster_timecode: new.cluster_timecode,
        }
    }

    fn append_step(seq: u64) -> Step {
        let event = FragmentEvent {
            stream_name: "cam".into(),
            fragment_number: Some(fragment_number(seq)),
            producer_ms: Some(0),
            server_ms: 0,
            duration_ms: 0,
            size_bytes: 0,
            frame_count: 1,
            keyframe_count: 1,
            codec_id: None,
            width: None,
            height: None,
            gap_ms: None,
            ingest_latency_ms: None,
            ack_status: AckStatus::Received,
            error_id: None,
        };
        Step::Append {
            new: new_fragment(seq),
            event,
            started: Instant::now(),
        }
    }

    fn lines(acks: &mut mpsc::UnboundedReceiver<Bytes>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(b) = acks.try_recv() {
            out.push(serde_json::from_slice(&b).unwrap());
        }
        out
    }

    fn kinds(acks: &[serde_json::Value]) -> Vec<String> {
        acks.iter()
            .map(|a| {
                let tc = a["FragmentTimecode"].as_u64().map(|t| format!(" {t}"));
                format!(
                    "{}{}",
                    a["EventType"].as_str().unwrap(),
                    tc.unwrap_or_default()
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_holds_at_most_the_pipeline_depth_and_keeps_order() {
        let (tx, rx) = mpsc::channel(PIPELINE_DEPTH);
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
        let (persist_tx, mut persist_rx) = mpsc::unbounded_channel();
        // Each append waits for a go; `entered` tells which one is waiting.
        let (entered_tx, entered) = std_mpsc::channel::<u64>();
        let (go, go_rx) = std_mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let writer = tokio::task::spawn_blocking(move || {
            let append = |new: NewFragment| {
                entered_tx.send(new.seq).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
                Ok(entry(&new))
            };
            write_loop(rx, append, &ack_tx, &persist_tx);
        });
        tx.send(append_step(0)).await.unwrap();
        assert_eq!(entered.recv_timeout(Duration::from_secs(5)).unwrap(), 0);
        // Fragment 0 is being written: PIPELINE_DEPTH more steps fit, no
        // more, so a session waiting on `send` reads no more of its body.
        let mut queued = 0;
        for seq in 1..=PIPELINE_DEPTH as u64 + 2 {
            let step = if seq % 2 == 0 {
                Step::Ack(ack("BUFFERING", Some(seq * 1000), None, None))
            } else {
                append_step(seq)
            };
            if tx.try_send(step).is_err() {
                break;
            }
            queued += 1;
        }
        assert_eq!(queued, PIPELINE_DEPTH);
        assert!(
            lines(&mut ack_rx).is_empty(),
            "nothing is ACKed before its append"
        );
        for _ in 0..=PIPELINE_DEPTH {
            go.send(()).unwrap();
        }
        drop(tx);
        writer.await.unwrap();
        let acks = kinds(&lines(&mut ack_rx));
        assert_eq!(
            acks,
            [
                "RECEIVED 0",
                "RECEIVED 1000",
                "BUFFERING 2000",
                "RECEIVED 3000",
                "BUFFERING 4000"
            ]
        );
        let mut persisted = Vec::new();
        while let Ok(s) = persist_rx.try_recv() {
            persisted.push(s.timecode);
        }
        assert_eq!(persisted, [0, 1000, 3000]);
        // Appends ran in the order queued.
        let order: Vec<u64> = entered.try_iter().collect();
        assert_eq!(order, [1, 3]);
    }

    #[tokio::test]
    async fn a_failed_append_sends_error_drops_the_rest_and_closes_the_steps() {
        let (tx, rx) = mpsc::channel(PIPELINE_DEPTH);
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
        let (persist_tx, mut persist_rx) = mpsc::unbounded_channel();
        for seq in 0..3 {
            tx.send(append_step(seq)).await.unwrap();
        }
        tx.send(Step::Ack(ack("BUFFERING", Some(3000), None, None)))
            .await
            .unwrap();
        let appended = Arc::new(Mutex::new(Vec::new()));
        let seen = appended.clone();
        tokio::task::spawn_blocking(move || {
            let append = |new: NewFragment| {
                seen.lock().unwrap().push(new.seq);
                if new.seq == 1 {
                    return Err(VideoError::io(
                        "write",
                        "segment",
                        std::io::Error::other("disk full"),
                    ));
                }
                Ok(entry(&new))
            };
            write_loop(rx, append, &ack_tx, &persist_tx);
        })
        .await
        .unwrap();
        let acks = lines(&mut ack_rx);
        assert_eq!(kinds(&acks), ["RECEIVED 0", "ERROR"]);
        assert_eq!(acks[1]["ErrorId"], mkv::ERR_PERSIST);
        assert_eq!(*appended.lock().unwrap(), [0, 1]);
        assert!(tx.is_closed(), "the session sees the writer gone");
        assert_eq!(persist_rx.try_recv().map(|s| s.timecode).ok(), Some(0));
        assert!(persist_rx.try_recv().is_err());
    }

    fn fixture(name: &str, tweak: impl FnOnce(&mut VideoConfig)) -> TestApi {
        with_cam(&format!("putmedia-{name}"), tweak)
    }

    /// Start a session fed by the returned sender; ACK lines come out of
    /// the returned body.
    async fn session(api: &VideoApi) -> (mpsc::Sender<Bytes>, body::ApiBody) {
        let (tx, rx) = mpsc::channel(1);
        let req = Request::post("/putMedia")
            .header("x-amzn-stream-name", "cam")
            .header("x-amzn-fragment-timecode-type", "RELATIVE")
            .header("x-amzn-producer-start-timestamp", "1700000000")
            .body(body::from_channel(rx))
            .unwrap();
        let resp = put_media(api.clone(), req).await;
        assert_eq!(resp.status(), 200);
        (tx, resp.into_body())
    }

    async fn read_acks(body: body::ApiBody) -> Vec<serde_json::Value> {
        let bytes = tokio::time::timeout(Duration::from_secs(10), body.collect())
            .await
            .expect("the session ends")
            .unwrap()
            .to_bytes();
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    /// The session releases the stream's writer once all its stages are
    /// done, right after its ACK stream ends.
    async fn released(stream: &Stream) {
        for _ in 0..500 {
            if stream.claim_writer() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the session never released the stream's writer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fragments_and_acks_keep_their_order_through_the_pipeline() {
        let f = fixture("order", |_| {});
        let (tx, acks) = session(&f.api).await;
        let clusters: Vec<Vec<u8>> = (0..24).map(|i| cluster(i * 2000, 20, 500)).collect();
        let body = [vec![header_bytes(&[1])], clusters.clone()]
            .concat()
            .concat();
        // Small chunks: many body frames per fragment, several fragments
        // queued for the writer at a time.
        for chunk in body.chunks(1500) {
            tx.send(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        drop(tx);
        let acks = read_acks(acks).await;
        let of = |kind: &str| -> Vec<u64> {
            acks.iter()
                .filter(|a| a["EventType"] == kind)
                .map(|a| a["FragmentTimecode"].as_u64().unwrap())
                .collect()
        };
        let all: Vec<u64> = (0..24).map(|i| i * 2000).collect();
        assert_eq!(of("BUFFERING"), all);
        assert_eq!(of("RECEIVED"), all);
        assert_eq!(of("PERSISTED"), all);
        assert!(of("ERROR").is_empty());
        // BUFFERING k+1 never overtakes RECEIVED k; PERSISTED k follows RECEIVED k.
        let pos = |kind: &str, tc: u64| {
            acks.iter()
                .position(|a| a["EventType"] == kind && a["FragmentTimecode"] == tc)
                .unwrap()
        };
        for (k, tc) in all.iter().enumerate() {
            assert!(pos("BUFFERING", *tc) < pos("RECEIVED", *tc));
            assert!(pos("RECEIVED", *tc) < pos("PERSISTED", *tc));
            if k + 1 < all.len() {
                assert!(pos("RECEIVED", *tc) < pos("BUFFERING", all[k + 1]));
            }
        }
        // Stored in order, byte for byte, and the writer is released.
        let stream = f.api.store().stream(Some("cam"), None).unwrap();
        let entries = stream.from_seq(0, usize::MAX);
        assert_eq!(entries.len(), 24);
        for (e, c) in entries.iter().zip(&clusters) {
            assert_eq!(stream.read(e).unwrap().as_ref(), c.as_slice());
        }
        released(&stream).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_append_mid_stream_sends_error_and_ends_the_session() {
        // Every fragment gets a segment of its own, so each append creates
        // a file: with the directory gone, the next append fails.
        let f = fixture("fail", |c| c.store.segment_max_bytes = 1);
        let (tx, acks) = session(&f.api).await;
        let stream = f.api.store().stream(Some("cam"), None).unwrap();
        let mut head = stream.subscribe();
        let c = |i: u64| cluster(i * 2000, 20, 500);
        tx.send([header_bytes(&[1]), c(0), c(1)].concat().into())
            .await
            .unwrap();
        // Fragment 0 is stored once fragment 1 began.
        tokio::time::timeout(Duration::from_secs(10), head.wait_for(|h| *h >= 1))
            .await
            .unwrap()
            .unwrap();
        std::fs::remove_dir_all(f.dir.join("streams/cam/segments")).unwrap();
        // The body stays open: the session ends on its own.
        let feeder = tokio::spawn(async move {
            for i in 2..50 {
                if tx.send(c(i).into()).await.is_err() {
                    return i;
                }
            }
            std::future::pending::<u64>().await
        });
        let acks = read_acks(acks).await;
        // PERSISTED of fragment 0 runs beside the writer and may come
        // after; the ERROR is the writer's last word.
        let last = acks
            .iter()
            .rfind(|a| a["EventType"] != "PERSISTED")
            .unwrap();
        assert_eq!(last["EventType"], "ERROR", "{acks:?}");
        assert_eq!(last["ErrorId"], mkv::ERR_PERSIST);
        let received: Vec<u64> = acks
            .iter()
            .filter(|a| a["EventType"] == "RECEIVED")
            .map(|a| a["FragmentTimecode"].as_u64().unwrap())
            .collect();
        assert_eq!(received, [0]);
        assert_eq!(acks.iter().filter(|a| a["EventType"] == "ERROR").count(), 1);
        // The session stopped reading: the body was dropped.
        let stopped_at = tokio::time::timeout(Duration::from_secs(10), feeder)
            .await
            .unwrap()
            .unwrap();
        assert!(stopped_at < 50);
        assert_eq!(stream.from_seq(0, usize::MAX).len(), 1);
        released(&stream).await;
    }
}
