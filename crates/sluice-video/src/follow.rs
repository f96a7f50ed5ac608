//! Fragment rows from a Kinesis Video endpoint: each stream's GetMedia
//! followed live, every fragment read back into a [`FragmentEvent`] (the
//! `VIDEO_FRAGMENTS` row of a `video_stream` input that names an
//! endpoint: Amazon Kinesis Video, or another `sluice serve`).
//! Entry point: [`follow`]; rows come out of [`Follower::next_batch`].
//!
//! How it works:
//! - One task per stream: GetDataEndpoint (`GET_MEDIA`), then GetMedia
//!   from the start selector. The body is cut by
//!   [`MkvSplitter::passthrough`]; a fragment is complete once its
//!   trailing `Tags` arrive, so a row does not wait for the next fragment.
//! - The row: FRAGMENT_NUMBER, SERVER_TS and PRODUCER_TS from the
//!   fragment's `AWS_KINESISVIDEO_*` tags; FRAME_COUNT, KEYFRAME_COUNT and
//!   DURATION_MS counted from its Cluster; SIZE_BYTES the Cluster's bytes;
//!   CODEC_ID, WIDTH and HEIGHT from its header's tracks; GAP_MS from the
//!   stream's previous fragment; ACK_STATUS `PERSISTED` (GetMedia serves
//!   what the service kept). INGEST_LATENCY_MS and ERROR_ID are null: a
//!   reader never sees a fragment arrive, and rejected fragments are not
//!   kept, so they cannot be read back.
//! - When GetMedia ends (AWS ends it after a while, `sluice serve` once
//!   the stream is idle) or the connection breaks, the task reconnects
//!   with the last fragment's continuation token: nothing is skipped and
//!   nothing read twice. Connection failures are retried with back-off
//!   and reported on stderr.
//! - `*` follows every ACTIVE stream: ListStreams every
//!   [`FollowOptions::list_every`]; a stream that appears later is read
//!   from its earliest fragment.
//! - Caught up ([`Follower::caught_up`]): every stream's GetMedia has sent
//!   nothing new for [`FollowOptions::idle`] and every row was taken.
//! - An error a retry cannot fix (access denied, a bad argument, or a
//!   named stream that does not exist when [`FollowOptions::wait_for_stream`]
//!   is off) ends the follower: [`Follower::next_batch`] returns it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::RequestSigner;
use crate::ebml::{self, Children};
use crate::error::{Result, VideoError};
use crate::events::{AckStatus, FragmentEvent};
use crate::mkv::{HeaderInfo, MkvSplitter, ParseEvent, ParsedFragment};
use crate::transport::{Endpoint, data_endpoint};

/// Where a stream's reading starts (GetMedia's StartSelector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowStart {
    /// Fragments that arrive from now on (`NOW`).
    Now,
    /// The oldest fragment kept (`EARLIEST`).
    Earliest,
    /// Fragments the server received from this time on, ms since the
    /// epoch (GetMedia at `SERVER_TIMESTAMP`, the fragment then under way
    /// skipped): where a follower started at `NOW` stood, for a stream it
    /// had read nothing of yet.
    Since(i64),
    /// After the fragment of this continuation token (a fragment number).
    After(String),
}

/// What [`follow`] needs.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The control endpoint (`http://127.0.0.1:4567`,
    /// `https://kinesisvideo.<region>.amazonaws.com`).
    pub endpoint: String,
    /// SigV4 signing; `None` sends unsigned requests.
    pub signer: Option<Arc<dyn RequestSigner>>,
    /// Where each stream starts, unless `resume` has it.
    pub start: FollowStart,
    /// Per stream, the continuation token to resume after (a checkpoint).
    pub resume: HashMap<String, String>,
    /// Wait for a named stream that does not exist yet (else: an error).
    pub wait_for_stream: bool,
    /// With `*`: how often the streams are listed.
    pub list_every: Duration,
    /// A stream whose GetMedia sent nothing for this long is caught up.
    pub idle: Duration,
    /// First wait before reconnecting after a failure (doubles, up to 5 s).
    pub retry_backoff: Duration,
}

impl FollowOptions {
    /// Defaults for `endpoint`: start NOW, no signing.
    pub fn new(endpoint: impl Into<String>) -> Self {
        FollowOptions {
            endpoint: endpoint.into(),
            signer: None,
            start: FollowStart::Now,
            resume: HashMap::new(),
            wait_for_stream: true,
            list_every: Duration::from_secs(10),
            idle: Duration::from_millis(1000),
            retry_backoff: Duration::from_millis(200),
        }
    }
}

/// A fragment read back, with the token to resume after it.
#[derive(Debug, Clone)]
pub struct Followed {
    /// The row.
    pub event: FragmentEvent,
    /// AWS_KINESISVIDEO_CONTINUATION_TOKEN (the fragment number when the
    /// service sent none).
    pub continuation_token: String,
}

struct Shared {
    options: FollowOptions,
    control: Endpoint,
    tx: mpsc::Sender<Result<Followed>>,
    /// Per followed stream: caught up?
    at_head: Mutex<BTreeMap<String, bool>>,
    /// With `*`: listed at least once.
    listed: AtomicBool,
}

impl Shared {
    fn set_at_head(&self, stream: &str, at: bool) {
        if let Ok(mut m) = self.at_head.lock() {
            m.insert(stream.to_string(), at);
        }
    }
}

/// A running follower; dropping it stops its tasks.
pub struct Follower {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Result<Followed>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

impl Follower {
    /// Up to `max` fragments, waiting up to `wait` for the first. Errors:
    /// what ended the follower (see the module docs).
    pub async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Followed>> {
        let mut out = Vec::new();
        if !wait.is_zero() {
            match tokio::time::timeout(wait, self.rx.recv()).await {
                Ok(Some(r)) => out.push(r?),
                Ok(None) | Err(_) => return Ok(out),
            }
        }
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(r) => out.push(r?),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Every stream is read to its newest fragment and every row taken.
    pub fn caught_up(&self) -> bool {
        let listed = self.shared.listed.load(Ordering::SeqCst);
        let heads = self
            .shared
            .at_head
            .lock()
            .map(|m| m.values().all(|at| *at))
            .unwrap_or(false);
        listed && heads && self.rx.is_empty()
    }
}

/// Follow `stream` (or `*`: every stream) at `options.endpoint`. Call
/// within a tokio runtime; the tasks run on it.
///
/// Errors: an endpoint that is not an `http`/`https` URL.
pub fn follow(stream: &str, options: FollowOptions) -> Result<Follower> {
    let control = Endpoint::parse(&options.endpoint, "endpoint")?;
    let (tx, rx) = mpsc::channel(1024);
    let every = stream == "*";
    let shared = Arc::new(Shared {
        options,
        control,
        tx,
        at_head: Mutex::new(BTreeMap::new()),
        listed: AtomicBool::new(!every),
    });
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let task = if every {
        tokio::spawn(list_loop(shared.clone(), tasks.clone()))
    } else {
        let start = start_of(&shared.options, stream);
        shared.set_at_head(stream, false);
        tokio::spawn(stream_loop(
            shared.clone(),
            stream.to_string(),
            start,
            false,
        ))
    };
    if let Ok(mut t) = tasks.lock() {
        t.push(task);
    }
    Ok(Follower { shared, rx, tasks })
}

fn start_of(options: &FollowOptions, stream: &str) -> FollowStart {
    match options.resume.get(stream) {
        Some(token) => FollowStart::After(token.clone()),
        None => options.start.clone(),
    }
}

/// With `*`: list the streams now and then, follow each new one.
async fn list_loop(shared: Arc<Shared>, tasks: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    let mut first = true;
    let mut backoff = shared.options.retry_backoff;
    loop {
        match list_streams(&shared).await {
            Ok(names) => {
                backoff = shared.options.retry_backoff;
                for name in names {
                    let known = shared
                        .at_head
                        .lock()
                        .map(|m| m.contains_key(&name))
                        .unwrap_or(true);
                    if known {
                        continue;
                    }
                    let start = if first {
                        start_of(&shared.options, &name)
                    } else {
                        match shared.options.resume.get(&name) {
                            Some(t) => FollowStart::After(t.clone()),
                            None => FollowStart::Earliest,
                        }
                    };
                    shared.set_at_head(&name, false);
                    let task = tokio::spawn(stream_loop(shared.clone(), name, start, true));
                    if let Ok(mut t) = tasks.lock() {
                        t.push(task);
                    }
                }
                first = false;
                shared.listed.store(true, Ordering::SeqCst);
                tokio::time::sleep(shared.options.list_every).await;
            }
            Err(e) if fatal(&e) => {
                let _ = shared.tx.send(Err(e)).await;
                return;
            }
            Err(e) => {
                eprintln!("sluice: listing video streams: {e}; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The names of the ACTIVE streams.
async fn list_streams(shared: &Shared) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let answer = shared
            .control
            .call("/listStreams", &body, shared.options.signer.as_ref())
            .await?;
        for s in answer["StreamInfoList"].as_array().into_iter().flatten() {
            if s["Status"].as_str().is_none_or(|st| st == "ACTIVE")
                && let Some(n) = s["StreamName"].as_str()
            {
                names.push(n.to_string());
            }
        }
        match answer["NextToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(names),
        }
    }
}

/// Errors no retry can fix.
fn fatal(e: &VideoError) -> bool {
    match e {
        VideoError::Remote { aws, .. } => matches!(
            aws.as_str(),
            "NotAuthorizedException"
                | "AccessDeniedException"
                | "InvalidArgumentException"
                | "InvalidEndpointException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignatureException"
                | "MissingAuthenticationTokenException"
        ),
        VideoError::InvalidArgument { .. } => true,
        _ => false,
    }
}

fn not_found(e: &VideoError) -> bool {
    matches!(e, VideoError::Remote { aws, .. } if aws == "ResourceNotFoundException")
}

/// Per stream: what one GetMedia left for the next.
struct Position {
    token: Option<String>,
    last_end_ms: Option<i64>,
    data: Option<Endpoint>,
}

/// Follow one stream until the follower is dropped, the stream goes away
/// (`listed`: found by `*`), or a fatal error.
async fn stream_loop(shared: Arc<Shared>, stream: String, start: FollowStart, listed: bool) {
    let mut pos = Position {
        token: match &start {
            FollowStart::After(t) => Some(t.clone()),
            _ => None,
        },
        last_end_ms: None,
        data: None,
    };
    if let FollowStart::After(token) = &start {
        // GAP_MS of the first fragment read needs where the last one ended.
        pos.last_end_ms = fragment_end(&shared, &stream, token).await;
    }
    let mut backoff = shared.options.retry_backoff;
    let mut waiting = false;
    loop {
        if shared.tx.is_closed() {
            return;
        }
        match get_media(&shared, &stream, &start, &mut pos).await {
            Ok(()) => {
                backoff = shared.options.retry_backoff;
                waiting = false;
                // GetMedia ended cleanly: go on from the last token.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) if not_found(&e) && listed => {
                // Deleted since it was listed.
                if let Ok(mut m) = shared.at_head.lock() {
                    m.remove(&stream);
                }
                return;
            }
            Err(e) if not_found(&e) && shared.options.wait_for_stream => {
                if !waiting {
                    eprintln!(
                        "sluice: waiting for video stream {stream} at {} (create it with the Kinesis Video API)",
                        shared.control.url
                    );
                    waiting = true;
                }
                // Nothing to read yet: that counts as caught up.
                shared.set_at_head(&stream, true);
                pos.data = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) if fatal(&e) || not_found(&e) => {
                let _ = shared.tx.send(Err(e)).await;
                return;
            }
            Err(e) => {
                eprintln!("sluice: video stream {stream}: {e}; retrying");
                pos.data = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Where fragment `number` ends on the producer's timeline (its producer
/// time plus its length), read with GetMediaForFragmentList; `None` when
/// it cannot be read (expired, say).
async fn fragment_end(shared: &Shared, stream: &str, number: &str) -> Option<i64> {
    let signer = shared.options.signer.as_ref();
    let data = data_endpoint(
        &shared.control,
        stream,
        "GET_MEDIA_FOR_FRAGMENT_LIST",
        signer,
    )
    .await
    .ok()?;
    let resp = data
        .post(
            "/getMediaForFragmentList",
            &json!({"StreamName": stream, "Fragments": [number]}),
            signer,
        )
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let bytes = resp.into_body().collect().await.ok()?.to_bytes();
    let mut reader = FragmentReader::new(stream, None);
    let mut out = Vec::new();
    reader.feed_bytes(bytes, &mut out);
    reader.finish(&mut out);
    let e = &out.first()?.event;
    Some(e.producer_ms? + e.duration_ms)
}

/// One GetMedia: read fragments until the body ends.
async fn get_media(
    shared: &Shared,
    stream: &str,
    start: &FollowStart,
    pos: &mut Position,
) -> Result<()> {
    let signer = shared.options.signer.as_ref();
    let data = match &pos.data {
        Some(d) => d.clone(),
        None => {
            let d = data_endpoint(&shared.control, stream, "GET_MEDIA", signer).await?;
            pos.data = Some(d.clone());
            d
        }
    };
    let selector = match (&pos.token, start) {
        (Some(t), _) => json!({"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": t}),
        (None, FollowStart::Earliest) => json!({"StartSelectorType": "EARLIEST"}),
        (None, FollowStart::Since(ms)) => json!({
            "StartSelectorType": "SERVER_TIMESTAMP",
            "StartTimestamp": *ms as f64 / 1000.0,
        }),
        (None, _) => json!({"StartSelectorType": "NOW"}),
    };
    let resp = data
        .post(
            "/getMedia",
            &json!({"StreamName": stream, "StartSelector": selector}),
            signer,
        )
        .await?;
    if !resp.status().is_success() {
        return Err(data.error_answer("GetMedia", resp).await);
    }
    let mut body = resp.into_body();
    let mut reader = FragmentReader::new(stream, pos.last_end_ms);
    let mut events = Vec::new();
    loop {
        let frame = match tokio::time::timeout(shared.options.idle, body.frame()).await {
            Err(_) => {
                shared.set_at_head(stream, true);
                continue;
            }
            Ok(None) => {
                shared.set_at_head(stream, true);
                return Ok(());
            }
            Ok(Some(Err(e))) => return Err(data.error(format!("GetMedia body: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(bytes) = frame.into_data() else {
            continue;
        };
        reader.feed_bytes(bytes, &mut events);
        pos.last_end_ms = reader.last_end_ms();
        for f in events.drain(..) {
            shared.set_at_head(stream, false);
            pos.token = Some(f.continuation_token.clone());
            // SERVER_TIMESTAMP starts at the fragment the server was taking
            // in at that moment; a start at a moment is what came after it.
            if let FollowStart::Since(ms) = start
                && f.event.server_ms < *ms
            {
                continue;
            }
            if shared.tx.send(Ok(f)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Cuts a GetMedia body into [`Followed`] rows.
pub struct FragmentReader {
    stream: String,
    splitter: MkvSplitter,
    header: Option<Arc<HeaderInfo>>,
    header_tags: Vec<(String, String)>,
    parsed: Vec<ParseEvent>,
    /// Where the stream's last fragment read ended (producer time), for
    /// GAP_MS.
    last_end_ms: Option<i64>,
}

impl FragmentReader {
    /// A reader of `stream`'s GetMedia body; `last_end_ms`: where the
    /// stream's previous fragment ended on the producer's timeline, if
    /// known (for the first row's GAP_MS).
    pub fn new(stream: &str, last_end_ms: Option<i64>) -> Self {
        FragmentReader {
            stream: stream.to_string(),
            splitter: MkvSplitter::passthrough(),
            header: None,
            header_tags: Vec::new(),
            parsed: Vec::new(),
            last_end_ms,
        }
    }

    /// Where the last fragment read ended (producer time).
    pub fn last_end_ms(&self) -> Option<i64> {
        self.last_end_ms
    }

    /// Feed the next bytes (copied; [`Self::feed_bytes`] takes a buffer
    /// as it is); complete fragments are pushed to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Followed>) {
        self.feed_bytes(Bytes::copy_from_slice(bytes), out);
    }

    /// Feed the next bytes, kept without a copy until their fragment is
    /// read; complete fragments are pushed to `out`.
    pub fn feed_bytes(&mut self, bytes: Bytes, out: &mut Vec<Followed>) {
        self.splitter.feed_bytes(bytes, &mut self.parsed);
        self.splitter.end_after_trailer(&mut self.parsed);
        self.take_parsed(out);
    }

    /// The body ended: a fragment still open is complete.
    pub fn finish(&mut self, out: &mut Vec<Followed>) {
        self.splitter.finish(true, &mut self.parsed);
        self.take_parsed(out);
    }

    fn take_parsed(&mut self, out: &mut Vec<Followed>) {
        for e in std::mem::take(&mut self.parsed) {
            match e {
                ParseEvent::Header(h) => {
                    self.header_tags = tags(&h.bytes);
                    self.header = Some(h);
                }
                ParseEvent::FragmentEnd(frag) => {
                    let f = self.row(&frag, self.last_end_ms);
                    if let Some(p) = f.event.producer_ms {
                        self.last_end_ms = Some(p + f.event.duration_ms);
                    }
                    out.push(f);
                }
                ParseEvent::FragmentStart { .. } | ParseEvent::Fatal { .. } => {}
            }
        }
    }

    fn row(&self, frag: &ParsedFragment, last_end_ms: Option<i64>) -> Followed {
        let bytes = frag.bytes.to_bytes();
        let trailer = tags(&bytes);
        let tag = |name: &str| {
            trailer
                .iter()
                .chain(self.header_tags.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let number = tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER");
        let producer_ms = tag("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")
            .and_then(|s| parse_secs(&s))
            .or_else(|| {
                let h = self.header.as_ref()?;
                Some(h.ticks_to_ms(frag.cluster_timecode as i64))
            });
        let server_ms = tag("AWS_KINESISVIDEO_SERVER_TIMESTAMP")
            .and_then(|s| parse_secs(&s))
            .or(producer_ms)
            .unwrap_or_default();
        let tracks = self.header.as_ref().map(|h| h.tracks.as_slice());
        let first = tracks.and_then(<[_]>::first);
        let video = tracks.and_then(|t| t.iter().find(|t| t.width.is_some()));
        let token = tag("AWS_KINESISVIDEO_CONTINUATION_TOKEN")
            .or_else(|| number.clone())
            .unwrap_or_default();
        Followed {
            event: FragmentEvent {
                stream_name: self.stream.clone(),
                fragment_number: number,
                producer_ms,
                server_ms,
                duration_ms: frag.duration_ms,
                size_bytes: cluster_len(&bytes),
                frame_count: frag.frames,
                keyframe_count: frag.keyframes,
                codec_id: first.map(|t| t.codec_id.clone()),
                width: video.and_then(|t| t.width),
                height: video.and_then(|t| t.height),
                gap_ms: match (producer_ms, last_end_ms) {
                    (Some(p), Some(end)) => Some(p - end),
                    _ => None,
                },
                ingest_latency_ms: None,
                ack_status: AckStatus::Persisted,
                error_id: None,
            },
            continuation_token: token,
        }
    }
}

/// Every (name, value) of the `Tags` elements at the Segment level of
/// `bytes` (a header block, or a fragment with its trailing tags);
/// unknown-size Segments and Clusters are read through.
fn tags(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Ok(Some(h)) = ebml::read_header(&bytes[pos..]) {
        let Some(size) = h.size.and_then(|s| usize::try_from(s).ok()) else {
            // Unknown size: read its children as if they were siblings.
            pos += h.header_len;
            continue;
        };
        if h.id == ebml::ID_SEGMENT {
            pos += h.header_len;
            continue;
        }
        let end = pos + h.header_len + size;
        let Some(data) = bytes.get(pos + h.header_len..end) else {
            break;
        };
        if h.id == ebml::ID_TAGS {
            out.extend(ebml::read_simple_tags(data));
        }
        pos = end;
    }
    out
}

/// The bytes of the Cluster at the start of `bytes` (without the tags
/// GetMedia adds after it).
fn cluster_len(bytes: &[u8]) -> u64 {
    let Ok(Some(h)) = ebml::read_header(bytes) else {
        return bytes.len() as u64;
    };
    if let Some(size) = h.size {
        return (h.header_len as u64 + size).min(bytes.len() as u64);
    }
    // Unknown size: up to the first Segment-level element.
    let children = &bytes[h.header_len..];
    let end = Children::new(children)
        .find(|(id, _, _)| ebml::is_segment_child(*id))
        .map_or(children.len(), |(_, _, offset)| offset);
    (h.header_len + end) as u64
}

/// `1511852109.126` (epoch seconds, as in the fragment tags) in ms.
fn parse_secs(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut ms = 0i64;
    for (i, c) in frac.chars().take(3).enumerate() {
        ms += i64::from(c.to_digit(10)?) * [100, 10, 1][i];
    }
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_read_to_the_millisecond() {
        assert_eq!(parse_secs("1511852109.126"), Some(1_511_852_109_126));
        assert_eq!(parse_secs("1511852109.1"), Some(1_511_852_109_100));
        assert_eq!(parse_secs("1511852109"), Some(1_511_852_109_000));
        assert_eq!(parse_secs("x.1"), None);
    }

    /// A GetMedia body as the service writes it: per fragment an EBML
    /// header, an unknown-size Segment, Info, Tracks, the fragment tags,
    /// the Cluster, then the continuation tags.
    fn getmedia_fragment(number: &str, server_s: &str, producer_s: &str, tc: u64) -> Vec<u8> {
        use crate::mkv::testing::{cluster, header_bytes};
        let header = header_bytes(&[1]);
        // header_bytes ends with Tracks inside an unknown-size Segment.
        let mut out = header;
        out.extend(ebml::aws_tags(&[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", number),
            ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", server_s),
            ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", producer_s),
        ]));
        out.extend(cluster(tc, 10, 100));
        out.extend(ebml::aws_tags(&[
            ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "12"),
            ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", number),
        ]));
        out
    }

    #[test]
    fn a_fragment_is_a_row_once_its_trailing_tags_arrive() {
        let a = getmedia_fragment(
            "9100",
            "1700000001.500",
            "1700000001.000",
            1_700_000_001_000,
        );
        let b = getmedia_fragment(
            "9101",
            "1700000002.500",
            "1700000002.000",
            1_700_000_002_000,
        );
        let mut r = FragmentReader::new("cam", None);
        let mut out = Vec::new();
        // Byte by byte: the first row comes with the last byte of its tags.
        for (i, byte) in a.iter().enumerate() {
            r.feed(&[*byte], &mut out);
            assert_eq!(out.len(), usize::from(i == a.len() - 1), "at byte {i}");
        }
        let first = out.remove(0);
        assert_eq!(first.event.fragment_number.as_deref(), Some("9100"));
        assert_eq!(first.event.server_ms, 1_700_000_001_500);
        assert_eq!(first.event.producer_ms, Some(1_700_000_001_000));
        assert_eq!(first.event.frame_count, 10);
        assert_eq!(first.event.ack_status, AckStatus::Persisted);
        assert_eq!(first.event.ingest_latency_ms, None);
        assert_eq!(first.event.gap_ms, None);
        assert_eq!(first.continuation_token, "9100");
        let end = first.event.producer_ms.map(|p| p + first.event.duration_ms);
        assert_eq!(r.last_end_ms(), end);
        r.feed(&b, &mut out);
        assert_eq!(out.len(), 1);
        let second = &out[0].event;
        assert_eq!(second.fragment_number.as_deref(), Some("9101"));
        assert_eq!(
            second.gap_ms,
            Some(1_700_000_002_000 - end.expect("end")),
            "{second:?}"
        );
        // SIZE_BYTES is the Cluster alone.
        let cluster = crate::mkv::testing::cluster(1_700_000_002_000, 10, 100);
        assert_eq!(second.size_bytes, cluster.len() as u64);
    }

    #[test]
    fn the_real_services_getmedia_output_reads_as_rows() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/kvs-samples/output_get_media.mkv");
        let Ok(bytes) = std::fs::read(&path) else {
            println!("note: {} not found, skipped", path.display());
            return;
        };
        let mut r = FragmentReader::new("sample", None);
        let mut out = Vec::new();
        for chunk in bytes.chunks(1000) {
            r.feed(chunk, &mut out);
        }
        assert_eq!(out.len(), 5);
        let mut last = 0;
        for f in &out {
            let e = &f.event;
            assert!(e.fragment_number.is_some(), "{e:?}");
            assert!(e.server_ms > 1_400_000_000_000, "{e:?}");
            assert!(e.frame_count > 0 && e.keyframe_count >= 1, "{e:?}");
            assert_eq!(e.codec_id.as_deref(), Some("V_MPEG4/ISO/AVC"));
            assert!(e.server_ms >= last);
            last = e.server_ms;
            assert!(!f.continuation_token.is_empty());
        }
    }
}
