//! The PutMedia client: streams a Matroska source to a Kinesis Video
//! endpoint the way the KVS producer does, and reports every ACK.
//! Entry point: [`put_media`]; each ACK arrives as an [`Ack`], whose
//! `Display` is the ACK's JSON line as the service sends it.
//!
//! How it works:
//! - The source is cut into header blocks and fragments (one per Cluster)
//!   by [`MkvSplitter::passthrough`]; a fragment that breaks a PutMedia
//!   rule is still sent, so the server answers it with its ERROR ack.
//! - With `realtime`, each fragment is handed over when it would be
//!   complete in a live capture: at its end (Cluster time + duration),
//!   counted from the first fragment's start.
//! - A live Cluster has no size: the server learns that fragment k ended
//!   only when fragment k+1 begins. So right after fragment k, the client
//!   sends the bytes of k+1 it has read so far (its Cluster header at
//!   least), and the rest when k+1 is complete: RECEIVED for k does not
//!   wait a whole fragment.
//! - The body is one chunked HTTP/1.1 POST to `{endpoint}/putMedia`.
//!   Fragments stay queued until their RECEIVED (or ERROR) ack; at most
//!   [`PutMediaOptions::max_in_flight`] are unacknowledged at once.
//! - When the connection breaks or the server ends the session early
//!   (a fatal ERROR ack), the client reconnects and resumes with the first
//!   fragment that got neither RECEIVED nor ERROR, header block first — a
//!   fragment answered with ERROR is not sent again. As with the KVS
//!   producer, delivery is at least once: a fragment whose RECEIVED was
//!   lost with the connection is sent again.
//! - It gives up after [`PutMediaOptions::max_attempts`] connections in a
//!   row that acknowledged nothing, and at once on an AWS error that a
//!   retry cannot fix (ResourceNotFoundException, NotAuthorizedException …).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::body::{self, ApiBody};
use crate::error::{Result, VideoError};
use crate::fragment_bytes::FragmentBytes;
use crate::mkv::{MkvSplitter, ParseEvent};
use crate::transport::{Endpoint, data_endpoint};

/// Bytes the client asks of its source at a time.
const READ_CHUNK: usize = 512 * 1024;

/// How the producer's Cluster timecodes are read
/// (`x-amzn-fragment-timecode-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FragmentTimecodeType {
    /// Timecodes are milliseconds since the epoch (in TimecodeScale ticks).
    #[default]
    Absolute,
    /// Timecodes count from the producer start timestamp.
    Relative,
}

impl FragmentTimecodeType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            FragmentTimecodeType::Absolute => "ABSOLUTE",
            FragmentTimecodeType::Relative => "RELATIVE",
        }
    }
}

/// Signs requests (SigV4). `headers` already holds `host` and
/// `x-amz-content-sha256`: the payload's hash, or `UNSIGNED-PAYLOAD` for
/// PutMedia, whose body streams.
pub trait RequestSigner: Send + Sync + fmt::Debug {
    /// The headers to add (`x-amz-date`, `authorization`, …) to a request
    /// with this method, path and headers.
    fn sign(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<(String, String)>;
}

/// What [`put_media`] needs besides the endpoint, stream and source.
#[derive(Debug, Clone)]
pub struct PutMediaOptions {
    /// Pace fragments by their timestamps instead of sending at once.
    pub realtime: bool,
    /// `x-amzn-fragment-timecode-type`.
    pub fragment_timecode_type: FragmentTimecodeType,
    /// `x-amzn-producer-start-timestamp`, epoch seconds. With RELATIVE
    /// timecodes set it: every resumed connection sends the same value, so
    /// the timeline stays the same (without it the server uses its clock).
    pub producer_start_timestamp: Option<f64>,
    /// SigV4 signing; `None` sends unsigned requests.
    pub signer: Option<Arc<dyn RequestSigner>>,
    /// Connections in a row that acknowledge nothing before giving up.
    pub max_attempts: u32,
    /// Wait between connections.
    pub retry_backoff: Duration,
    /// Fragments sent and not yet RECEIVED, at most.
    pub max_in_flight: usize,
}

impl Default for PutMediaOptions {
    fn default() -> Self {
        PutMediaOptions {
            realtime: false,
            fragment_timecode_type: FragmentTimecodeType::Absolute,
            producer_start_timestamp: None,
            signer: None,
            max_attempts: 5,
            retry_backoff: Duration::from_millis(200),
            max_in_flight: 64,
        }
    }
}

/// An ACK's EventType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckEventType {
    /// The server started receiving a fragment.
    Buffering,
    /// The fragment is stored.
    Received,
    /// The fragment is durable.
    Persisted,
    /// The fragment (or the session) failed; see `error_id`.
    Error,
    /// No data for a while; the connection is alive.
    Idle,
}

impl AckEventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AckEventType::Buffering => "BUFFERING",
            AckEventType::Received => "RECEIVED",
            AckEventType::Persisted => "PERSISTED",
            AckEventType::Error => "ERROR",
            AckEventType::Idle => "IDLE",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BUFFERING" => AckEventType::Buffering,
            "RECEIVED" => AckEventType::Received,
            "PERSISTED" => AckEventType::Persisted,
            "ERROR" => AckEventType::Error,
            "IDLE" => AckEventType::Idle,
            _ => return None,
        })
    }
}

/// One PutMedia ACK. `Display` prints it as the service's JSON line
/// (without the newline): `{"EventType":"PERSISTED","FragmentTimecode":0,
/// "FragmentNumber":"9134385233318150666908441974200077706515712…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// EventType.
    pub event_type: AckEventType,
    /// FragmentTimecode (the Cluster Timecode).
    pub fragment_timecode: Option<u64>,
    /// FragmentNumber.
    pub fragment_number: Option<String>,
    /// ErrorId (ERROR only).
    pub error_id: Option<u32>,
    /// ErrorCode name (ERROR only).
    pub error_code: Option<String>,
}

impl Ack {
    /// Read one ACK line; `None` when it is not an ACK object.
    pub fn parse(line: &[u8]) -> Option<Ack> {
        let v: Value = serde_json::from_slice(line).ok()?;
        Some(Ack {
            event_type: AckEventType::parse(v.get("EventType")?.as_str()?)?,
            fragment_timecode: v.get("FragmentTimecode").and_then(Value::as_u64),
            fragment_number: v
                .get("FragmentNumber")
                .and_then(Value::as_str)
                .map(str::to_string),
            error_id: v
                .get("ErrorId")
                .and_then(Value::as_u64)
                .and_then(|e| u32::try_from(e).ok()),
            error_code: v
                .get("ErrorCode")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{\"EventType\":\"{}\"", self.event_type.as_str())?;
        if let Some(tc) = self.fragment_timecode {
            write!(f, ",\"FragmentTimecode\":{tc}")?;
        }
        if let Some(n) = &self.fragment_number {
            write!(f, ",\"FragmentNumber\":{}", Value::from(n.as_str()))?;
        }
        if let Some(e) = self.error_id {
            write!(f, ",\"ErrorId\":{e}")?;
        }
        if let Some(c) = &self.error_code {
            write!(f, ",\"ErrorCode\":{}", Value::from(c.as_str()))?;
        }
        f.write_str("}")
    }
}

/// What a [`put_media`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutMediaSummary {
    /// Bytes read from the source.
    pub source_bytes: u64,
    /// Fragments read from the source.
    pub fragments: u64,
    /// RECEIVED acks.
    pub received: u64,
    /// PERSISTED acks.
    pub persisted: u64,
    /// ERROR acks.
    pub errors: u64,
    /// Fragments answered with ERROR and not sent again.
    pub rejected: u64,
    /// HTTP connections made (1 + reconnects).
    pub connections: u32,
}

/// A fragment read from the source, kept until acknowledged.
#[derive(Debug, Clone)]
struct Outgoing {
    header: Bytes,
    timecode: u64,
    /// Slices of the buffers the source was read into, sent as they are.
    bytes: FragmentBytes,
}

enum Item {
    Fragment(Outgoing),
    /// The first bytes of the next fragment, sent ahead so the server
    /// sees the previous fragment end (an unknown-size Cluster ends only
    /// where the next one starts) without waiting for this one to finish.
    Lead {
        header: Bytes,
        bytes: FragmentBytes,
    },
    Failed(VideoError),
}

/// Where to connect.
#[derive(Debug, Clone)]
/// The data endpoint PutMedia goes to (GetDataEndpoint's answer).
struct Target {
    endpoint: String,
    data: Endpoint,
    path: String,
}

impl Target {
    /// Ask the control endpoint for the stream's PUT_MEDIA data endpoint.
    async fn resolve(endpoint: &str, stream: &str, options: &PutMediaOptions) -> Result<Target> {
        let control = Endpoint::parse(endpoint, "endpoint")?;
        let data = data_endpoint(&control, stream, "PUT_MEDIA", options.signer.as_ref()).await?;
        let path = data.path("/putMedia");
        Ok(Target {
            endpoint: endpoint.to_string(),
            data,
            path,
        })
    }

    fn fail(&self, reason: impl Into<String>) -> Attempt {
        Attempt::Retry(VideoError::Client {
            endpoint: self.endpoint.clone(),
            reason: reason.into(),
        })
    }
}

/// How one connection ended, when not cleanly.
enum Attempt {
    /// Worth another connection.
    Retry(VideoError),
    /// A retry cannot help.
    Fatal(VideoError),
}

/// Send `source` (a Matroska stream: header block, then Clusters) to
/// `stream` through PutMedia, calling
/// `on_ack` with every ACK in order. `endpoint` is the control endpoint
/// (`http://127.0.0.1:4567` for `sluice serve`,
/// `https://kinesisvideo.<region>.amazonaws.com` for AWS): the stream's
/// data endpoint comes from its GetDataEndpoint. Returns when every fragment of the
/// source got RECEIVED or ERROR and the server closed the ACK stream.
///
/// Errors: a source that cannot be cut into fragments
/// ([`VideoError::InvalidMedia`], after the fragments before the bad
/// bytes are acknowledged), a read error, an AWS error a retry cannot fix,
/// or too many fruitless connections ([`VideoError::Client`]).
pub async fn put_media<R, F>(
    endpoint: &str,
    stream: &str,
    source: R,
    options: &PutMediaOptions,
    mut on_ack: F,
) -> Result<PutMediaSummary>
where
    R: AsyncRead + Unpin + Send + 'static,
    F: FnMut(&Ack) + Send,
{
    let target = Target::resolve(endpoint, stream, options).await?;
    let (item_tx, mut items) = mpsc::channel(4);
    let source_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = tokio::spawn(read_source(
        source,
        options.realtime,
        item_tx,
        source_bytes.clone(),
    ));
    let mut state = State {
        pending: VecDeque::new(),
        source_done: false,
        source_error: None,
        summary: PutMediaSummary::default(),
    };
    let mut fruitless = 0u32;
    loop {
        state.summary.connections += 1;
        let settled_before = state.summary.received + state.summary.rejected;
        let outcome = connection(
            &target,
            stream,
            options,
            &mut state,
            &mut items,
            &mut on_ack,
        )
        .await;
        let progressed = state.summary.received + state.summary.rejected > settled_before;
        let last = match outcome {
            Ok(()) if state.source_done && state.pending.is_empty() => break,
            Ok(()) => {
                target.fail("the server ended the session before every fragment was acknowledged")
            }
            Err(a) => a,
        };
        let last = match last {
            Attempt::Fatal(e) => {
                reader.abort();
                return Err(e);
            }
            Attempt::Retry(e) => e,
        };
        fruitless = if progressed { 0 } else { fruitless + 1 };
        if fruitless >= options.max_attempts.max(1) {
            reader.abort();
            return Err(VideoError::Client {
                endpoint: target.endpoint.clone(),
                reason: format!(
                    "{fruitless} connections in a row acknowledged nothing; last: {last}"
                ),
            });
        }
        tokio::time::sleep(options.retry_backoff).await;
    }
    let _ = reader.await;
    state.summary.source_bytes = source_bytes.load(std::sync::atomic::Ordering::Relaxed);
    match state.source_error {
        Some(e) => Err(e),
        None => Ok(state.summary),
    }
}

struct State {
    /// Fragments read and not yet RECEIVED or ERROR, oldest first.
    pending: VecDeque<Outgoing>,
    source_done: bool,
    source_error: Option<VideoError>,
    summary: PutMediaSummary,
}

impl State {
    /// Account an ACK; RECEIVED and ERROR settle their fragment (and any
    /// older one the server skipped).
    fn on_ack(&mut self, ack: &Ack) {
        let settle = |pending: &mut VecDeque<Outgoing>| {
            let tc = ack.fragment_timecode?;
            let i = pending.iter().position(|f| f.timecode == tc)?;
            pending.drain(..=i);
            Some(())
        };
        match ack.event_type {
            AckEventType::Received => {
                self.summary.received += 1;
                settle(&mut self.pending);
            }
            AckEventType::Persisted => self.summary.persisted += 1,
            AckEventType::Error => {
                self.summary.errors += 1;
                if settle(&mut self.pending).is_some() {
                    self.summary.rejected += 1;
                }
            }
            AckEventType::Buffering | AckEventType::Idle => {}
        }
    }
}

/// Queue a fragment's bytes, its header block first when it differs from
/// the one last queued on this connection.
fn queue(out: &mut VecDeque<Bytes>, last_header: &mut Option<Bytes>, f: &Outgoing) {
    if last_header.as_ref() != Some(&f.header) {
        out.push_back(f.header.clone());
        *last_header = Some(f.header.clone());
    }
    out.extend(f.bytes.chunks().iter().cloned());
}

async fn reserve(tx: &Option<mpsc::Sender<Bytes>>) -> Option<mpsc::Permit<'_, Bytes>> {
    tx.as_ref()?.reserve().await.ok()
}

async fn next_frame(
    body: &mut Option<Incoming>,
) -> Option<Result<hyper::body::Frame<Bytes>, hyper::Error>> {
    body.as_mut()?.frame().await
}

/// One HTTP connection: resend what is pending, go on with the source,
/// read ACKs until the server ends the ACK stream.
async fn connection<F>(
    target: &Target,
    stream: &str,
    options: &PutMediaOptions,
    state: &mut State,
    items: &mut mpsc::Receiver<Item>,
    on_ack: &mut F,
) -> Result<(), Attempt>
where
    F: FnMut(&Ack) + Send,
{
    let io = target
        .data
        .connect()
        .await
        .map_err(|e| target.fail(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| target.fail(format!("handshake: {e}")))?;
    let _conn = AbortOnDrop(tokio::spawn(conn));

    let (body_tx, body_rx) = mpsc::channel::<Bytes>(8);
    let req = request(target, stream, options, body::from_channel(body_rx))?;
    let mut body_tx = Some(body_tx);
    let mut body_closed = false;
    let mut out = VecDeque::new();
    let mut last_header = None;
    for f in &state.pending {
        queue(&mut out, &mut last_header, f);
    }
    let response = sender.send_request(req);
    tokio::pin!(response);
    let mut answered = false;
    let mut acks: Option<Incoming> = None;
    let mut line = Vec::new();
    // Bytes of the next fragment already sent ahead on this connection.
    let mut lead: Option<usize> = None;
    loop {
        if body_closed || (out.is_empty() && state.source_done) {
            // Everything is handed over (or cannot be): end the body.
            body_tx = None;
        }
        tokio::select! {
            permit = reserve(&body_tx), if !out.is_empty() && body_tx.is_some() => {
                match (permit, out.pop_front()) {
                    (Some(permit), Some(chunk)) => permit.send(chunk),
                    // The connection stopped taking the body; the ACK
                    // stream tells how it ended.
                    _ => body_closed = true,
                }
            }
            item = items.recv(), if out.is_empty() && !state.source_done
                && state.pending.len() < options.max_in_flight.max(1) => {
                match item {
                    Some(Item::Fragment(f)) => {
                        state.summary.fragments += 1;
                        match lead.take() {
                            Some(n) if n <= f.bytes.len() && last_header.as_ref() == Some(&f.header) => {
                                out.extend(f.bytes.after(n).chunks().iter().cloned());
                            }
                            _ => queue(&mut out, &mut last_header, &f),
                        }
                        state.pending.push_back(f);
                    }
                    Some(Item::Lead { header, bytes }) => {
                        lead = Some(bytes.len());
                        let f = Outgoing { header, timecode: 0, bytes };
                        queue(&mut out, &mut last_header, &f);
                    }
                    Some(Item::Failed(e)) => {
                        state.source_error = Some(e);
                        state.source_done = true;
                    }
                    None => state.source_done = true,
                }
            }
            resp = &mut response, if !answered => {
                answered = true;
                let resp = resp.map_err(|e| target.fail(format!("PutMedia request: {e}")))?;
                if !resp.status().is_success() {
                    return Err(aws_error(target, resp).await);
                }
                acks = Some(resp.into_body());
            }
            frame = next_frame(&mut acks), if acks.is_some() => {
                match frame {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(target.fail(format!("ACK stream: {e}"))),
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else { continue };
                        line.extend_from_slice(&data);
                        while let Some(i) = line.iter().position(|b| *b == b'\n') {
                            let raw: Vec<u8> = line.drain(..=i).collect();
                            let raw = raw.trim_ascii();
                            if raw.is_empty() {
                                continue;
                            }
                            let Some(ack) = Ack::parse(raw) else {
                                return Err(target.fail(format!(
                                    "unreadable ACK {:?}",
                                    String::from_utf8_lossy(raw)
                                )));
                            };
                            state.on_ack(&ack);
                            on_ack(&ack);
                        }
                    }
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn request(
    target: &Target,
    stream: &str,
    options: &PutMediaOptions,
    body: ApiBody,
) -> Result<Request<ApiBody>, Attempt> {
    let start = options
        .producer_start_timestamp
        .map(|secs| format!("{secs:.3}"));
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", target.data.authority.as_str()),
        ("x-amzn-stream-name", stream),
        (
            "x-amzn-fragment-timecode-type",
            options.fragment_timecode_type.as_str(),
        ),
    ];
    if let Some(s) = &start {
        headers.push(("x-amzn-producer-start-timestamp", s));
    }
    let signed = options.signer.as_ref().map(|signer| {
        headers.push(("x-amz-content-sha256", "UNSIGNED-PAYLOAD"));
        signer.sign("POST", &target.path, &headers)
    });
    let mut req = Request::post(target.path.as_str());
    for (k, v) in &headers {
        req = req.header(*k, *v);
    }
    for (k, v) in signed.iter().flatten() {
        req = req.header(k.as_str(), v.as_str());
    }
    req.body(body).map_err(|e| {
        Attempt::Fatal(VideoError::InvalidArgument {
            field: "x-amzn-stream-name",
            reason: format!("{stream:?} cannot be sent as a header: {e}"),
        })
    })
}

/// Turn a non-200 PutMedia answer into an error; only connection-limit
/// and server errors are worth a retry.
async fn aws_error(target: &Target, resp: http::Response<Incoming>) -> Attempt {
    let status = resp.status();
    let err = target.data.error_answer("PutMedia", resp).await;
    let limited =
        matches!(&err, VideoError::Remote { aws, .. } if aws == "ConnectionLimitExceededException");
    if status.is_server_error() || limited {
        Attempt::Retry(err)
    } else {
        Attempt::Fatal(err)
    }
}

/// Read the source, cut it into fragments and hand them over (paced with
/// `realtime`). Ends with `Item::Failed` when the source is unusable.
///
/// Reads [`READ_CHUNK`] bytes at a time, so few reads and wakeups carry a
/// fast source.
async fn read_source<R: AsyncRead + Unpin>(
    mut source: R,
    realtime: bool,
    tx: mpsc::Sender<Item>,
    read: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut splitter = MkvSplitter::passthrough();
    let mut events = Vec::new();
    // Fragments keep slices of these buffers: a buffer is handed over
    // whole and a new one read into.
    let mut buf = BytesMut::new();
    let mut header: Option<Arc<crate::mkv::HeaderInfo>> = None;
    // (first fragment's start in ms, when it was handed over)
    let mut clock: Option<(i64, Instant)> = None;
    let mut offset = 0u64;
    let mut ended_one = false;
    loop {
        buf.reserve(READ_CHUNK);
        let (n, end) = match source.read_buf(&mut buf).await {
            Ok(0) => (0, true),
            Ok(n) => (n, false),
            Err(e) => {
                let _ = tx
                    .send(Item::Failed(VideoError::io(
                        "read",
                        format!("PutMedia source at byte {offset}"),
                        e,
                    )))
                    .await;
                return;
            }
        };
        offset += n as u64;
        read.store(offset, std::sync::atomic::Ordering::Relaxed);
        if end {
            splitter.finish(true, &mut events);
        } else {
            splitter.feed_bytes(buf.split().freeze(), &mut events);
        }
        for ev in events.drain(..) {
            match ev {
                ParseEvent::Header(h) => header = Some(h),
                ParseEvent::FragmentStart { .. } => {}
                ParseEvent::FragmentEnd(frag) => {
                    let Some(h) = header.clone() else { continue };
                    if frag.bytes.is_empty() {
                        let _ = tx
                            .send(Item::Failed(VideoError::InvalidMedia {
                                offset: frag.offset,
                                reason: "the source ends inside a Cluster".into(),
                            }))
                            .await;
                        return;
                    }
                    if realtime {
                        let start_ms = h.ticks_to_ms(frag.cluster_timecode as i64);
                        let (first, t0) = *clock.get_or_insert((start_ms, Instant::now()));
                        let due = (start_ms - first + frag.duration_ms).max(0) as u64;
                        tokio::time::sleep_until(t0 + Duration::from_millis(due)).await;
                    }
                    let out = Outgoing {
                        header: h.bytes.clone(),
                        timecode: frag.cluster_timecode,
                        bytes: frag.bytes,
                    };
                    if tx.send(Item::Fragment(out)).await.is_err() {
                        return;
                    }
                    ended_one = true;
                }
                ParseEvent::Fatal { offset, reason, .. } => {
                    let _ = tx
                        .send(Item::Failed(VideoError::InvalidMedia { offset, reason }))
                        .await;
                    return;
                }
            }
        }
        if std::mem::take(&mut ended_one)
            && let (Some(h), Some(open)) = (splitter.header(), splitter.open_bytes())
            && !open.is_empty()
        {
            let lead = Item::Lead {
                header: h.bytes.clone(),
                bytes: open.clone(),
            };
            if tx.send(lead).await.is_err() {
                return;
            }
        }
        if end {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::api::testing::{TestApi, with_cam};
    use crate::mkv::testing::{cluster, header_bytes};
    use crate::store::Stream;
    use crate::{VideoApi, VideoConfig, server};

    struct Server {
        addr: SocketAddr,
        api: VideoApi,
        /// Holds the directory (removed on drop).
        _test: TestApi,
        _stop: tokio::sync::oneshot::Sender<()>,
    }

    async fn start(name: &str, tweak: impl FnOnce(&mut VideoConfig)) -> Server {
        let test = with_cam(&format!("client-{name}"), tweak);
        let api = test.api.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(api.clone(), listener, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            api,
            _test: test,
            _stop: tx,
        }
    }

    fn stream(s: &Server) -> Arc<Stream> {
        s.api.store().stream(Some("cam"), None).unwrap()
    }

    fn stored(s: &Server) -> Vec<(u64, Bytes)> {
        let st = stream(s);
        st.from_seq(0, usize::MAX)
            .iter()
            .map(|e| (e.cluster_timecode, st.read(e).unwrap()))
            .collect()
    }

    fn source(parts: &[Vec<u8>]) -> std::io::Cursor<Vec<u8>> {
        std::io::Cursor::new(parts.concat())
    }

    async fn put(
        addr: SocketAddr,
        parts: &[Vec<u8>],
        options: &PutMediaOptions,
    ) -> (Result<PutMediaSummary>, Vec<Ack>) {
        let mut acks = Vec::new();
        let r = put_media(
            &format!("http://{addr}"),
            "cam",
            source(parts),
            options,
            |a| acks.push(a.clone()),
        )
        .await;
        (r, acks)
    }

    #[tokio::test]
    async fn round_trip_every_fragment_stored_byte_for_byte() {
        let s = start("round-trip", |_| {}).await;
        let clusters: Vec<Vec<u8>> = (0..5).map(|i| cluster(1000 + i * 2000, 20, 300)).collect();
        let parts = [vec![header_bytes(&[1])], clusters.clone()].concat();
        let (r, acks) = put(s.addr, &parts, &PutMediaOptions::default()).await;
        let summary = r.unwrap();
        assert_eq!(summary.fragments, 5);
        assert_eq!(summary.received, 5);
        assert_eq!(summary.persisted, 5);
        assert_eq!(summary.errors, 0);
        assert_eq!(summary.connections, 1);
        assert_eq!(summary.source_bytes, parts.concat().len() as u64);
        let kinds: Vec<&str> = acks.iter().map(|a| a.event_type.as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "BUFFERING").count(), 5);
        let got = stored(&s);
        assert_eq!(got.len(), 5);
        for ((tc, bytes), (i, c)) in got.iter().zip(clusters.iter().enumerate()) {
            assert_eq!(*tc, 1000 + i as u64 * 2000);
            assert_eq!(bytes.as_ref(), c.as_slice(), "fragment {i}");
        }
        // Each RECEIVED names the stored fragment's number.
        let numbers: Vec<String> = stream(&s)
            .from_seq(0, usize::MAX)
            .into_iter()
            .map(|e| e.number)
            .collect();
        let received: Vec<String> = acks
            .iter()
            .filter(|a| a.event_type == AckEventType::Received)
            .filter_map(|a| a.fragment_number.clone())
            .collect();
        assert_eq!(received, numbers);
    }

    #[tokio::test]
    async fn error_ack_is_reported_and_the_next_fragments_go_on() {
        let s = start("error-ack", |c| c.limits.max_fragment_bytes = 12_000).await;
        let parts = vec![
            header_bytes(&[1]),
            cluster(0, 20, 300),
            cluster(2000, 20, 300),
            cluster(4000, 20, 1000), // ~20 KB: 4001
            cluster(6000, 20, 300),
            cluster(8000, 20, 300),
        ];
        let (r, acks) = put(s.addr, &parts, &PutMediaOptions::default()).await;
        let summary = r.unwrap();
        assert_eq!(summary.received, 4);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.rejected, 1);
        let err = acks
            .iter()
            .find(|a| a.event_type == AckEventType::Error)
            .unwrap();
        assert_eq!(err.error_id, Some(4001));
        assert_eq!(err.fragment_timecode, Some(4000));
        assert_eq!(err.error_code.as_deref(), Some("MAX_FRAGMENT_SIZE_REACHED"));
        let tcs: Vec<u64> = stored(&s).iter().map(|(tc, _)| *tc).collect();
        assert_eq!(tcs, vec![0, 2000, 6000, 8000]);
    }

    #[tokio::test]
    async fn fragment_events_come_in_order_with_gaps_across_sessions() {
        use crate::events::AckStatus;
        let s = start("events", |c| c.limits.max_fragment_bytes = 12_000).await;
        let mut events = s.api.subscribe_fragments();
        // 20 frames 100 ms apart: each fragment lasts 2000 ms.
        let first = vec![
            header_bytes(&[1]),
            cluster(0, 20, 300),
            cluster(2000, 20, 1000), // 4001
            cluster(4000, 20, 300),
        ];
        let (r, _) = put(s.addr, &first, &PutMediaOptions::default()).await;
        r.unwrap();
        // A second session 500 ms after the first one's last fragment ends.
        let second = vec![header_bytes(&[1]), cluster(6500, 20, 300)];
        let (r, _) = put(s.addr, &second, &PutMediaOptions::default()).await;
        r.unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(events.recv().await.unwrap());
        }
        let rows: Vec<(AckStatus, Option<u32>, Option<i64>, i64)> = got
            .iter()
            .map(|e| (e.ack_status, e.error_id, e.gap_ms, e.producer_ms.unwrap()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (AckStatus::Persisted, None, None, 0),
                (AckStatus::Error, Some(4001), Some(0), 2000),
                (AckStatus::Persisted, None, Some(2000), 4000),
                (AckStatus::Persisted, None, Some(500), 6500),
            ]
        );
        let e = &got[0];
        assert_eq!((e.width, e.height), (Some(640), Some(360)));
        assert_eq!(e.codec_id.as_deref(), Some("V_MPEG4/ISO/AVC"));
        assert_eq!(
            (e.frame_count, e.keyframe_count, e.duration_ms),
            (20, 1, 2000)
        );
        assert_eq!(e.stream_name, "cam");
        assert_eq!(e.size_bytes, cluster(0, 20, 300).len() as u64);
        assert!(got[1].fragment_number.is_some());
        let row = got[3].to_json();
        assert_eq!(row["ACK_STATUS"], "PERSISTED");
        assert_eq!(row["PRODUCER_TS"], "1970-01-01 00:00:06.500");
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_many_events_it_missed() {
        let s = start("lag", |_| {}).await;
        let mut events = s.api.subscribe_fragments();
        let n = crate::api::FRAGMENT_EVENT_BUFFER as u64 + 10;
        let parts: Vec<Vec<u8>> = std::iter::once(header_bytes(&[1]))
            .chain((0..n).map(|i| cluster(i * 200, 2, 10)))
            .collect();
        let (r, _) = put(s.addr, &parts, &PutMediaOptions::default()).await;
        assert_eq!(r.unwrap().received, n);
        match events.recv().await {
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                assert_eq!(missed, 10)
            }
            other => panic!("expected Lagged, got {other:?}"),
        }
        // After the notice the reader goes on with the oldest kept event.
        assert_eq!(events.recv().await.unwrap().producer_ms, Some(10 * 200));
    }

    /// A loopback proxy whose first PutMedia connection (its second: the
    /// first asks GetDataEndpoint) breaks after `cut` request bytes; the
    /// others pass everything.
    async fn flaky_proxy(upstream: SocketAddr, cut: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut connections = 0;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut server = TcpStream::connect(upstream).await.unwrap();
                connections += 1;
                if connections != 2 {
                    tokio::spawn(async move {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                    continue;
                }
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let up = async {
                        let mut left = cut;
                        let mut buf = vec![0u8; 4096];
                        while left > 0 {
                            let n = cr.read(&mut buf).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            let n = n.min(left);
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            left -= n;
                        }
                    };
                    let down = tokio::io::copy(&mut sr, &mut cw);
                    tokio::select! {
                        () = up => {}
                        _ = down => {}
                    }
                    // Dropping both sockets breaks the connection.
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn broken_connection_resumes_from_the_first_unacknowledged_fragment() {
        let s = start("resume", |_| {}).await;
        let clusters: Vec<Vec<u8>> = (0..8).map(|i| cluster(i * 2000, 20, 300)).collect();
        let parts = [vec![header_bytes(&[1])], clusters.clone()].concat();
        // Break the first connection in the middle of the fourth fragment.
        let head = header_bytes(&[1]).len() + 400;
        let cut = head + clusters[0].len() * 3 + clusters[3].len() / 2;
        let proxy = flaky_proxy(s.addr, cut).await;
        let options = PutMediaOptions {
            retry_backoff: Duration::from_millis(50),
            ..PutMediaOptions::default()
        };
        let (r, acks) = put(proxy, &parts, &options).await;
        let summary = r.unwrap();
        assert!(summary.connections >= 2, "{summary:?}");
        assert_eq!(summary.fragments, 8);
        let all: Vec<u64> = (0..8).map(|i| i * 2000).collect();
        // Each fragment got one RECEIVED, in order: the second connection
        // began with the first fragment the first one left unacknowledged.
        let received: Vec<u64> = acks
            .iter()
            .filter(|a| a.event_type == AckEventType::Received)
            .filter_map(|a| a.fragment_timecode)
            .collect();
        assert_eq!(received, all);
        // Every cluster is stored, in order: what the first connection
        // stored, then the second from where the client resumed. Those the
        // server stored but whose RECEIVED was lost with the connection
        // (the server appends ahead of its ACKs reaching the client) are
        // stored twice: at least once.
        let got = stored(&s);
        let tcs: Vec<u64> = got.iter().map(|(tc, _)| *tc).collect();
        let first = tcs
            .windows(2)
            .position(|w| w[1] <= w[0])
            .map_or(tcs.len(), |i| i + 1);
        let (before, after) = tcs.split_at(first);
        assert_eq!(before, &all[..before.len()], "{tcs:?}");
        assert!(
            !after.is_empty() && after[0] <= *before.last().unwrap() + 2000,
            "{tcs:?}"
        );
        assert_eq!(after, &all[(after[0] / 2000) as usize..], "{tcs:?}");
        for (tc, bytes) in &got {
            assert_eq!(bytes.as_ref(), clusters[(*tc / 2000) as usize].as_slice());
        }
    }

    #[tokio::test]
    async fn realtime_paces_fragments_by_their_timestamps() {
        let s = start("realtime", |_| {}).await;
        // Three 2-frame fragments 150 ms apart, each 200 ms long.
        let parts = vec![
            header_bytes(&[1]),
            cluster(0, 2, 10),
            cluster(150, 2, 10),
            cluster(300, 2, 10),
        ];
        let options = PutMediaOptions {
            realtime: true,
            ..PutMediaOptions::default()
        };
        let t = std::time::Instant::now();
        let (r, _) = put(s.addr, &parts, &options).await;
        assert_eq!(r.unwrap().received, 3);
        // The last fragment is complete 300 + 200 ms after the first began.
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn unknown_stream_fails_at_once_with_the_aws_error() {
        let s = start("unknown", |_| {}).await;
        let parts = vec![header_bytes(&[1]), cluster(0, 2, 10)];
        let mut acks = 0;
        let r = put_media(
            &format!("http://{}", s.addr),
            "nope",
            source(&parts),
            &PutMediaOptions::default(),
            |_| acks += 1,
        )
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("ResourceNotFoundException"), "{e}");
        assert_eq!(acks, 0);
    }

    #[tokio::test]
    async fn garbage_source_is_an_invalid_media_error() {
        let s = start("garbage", |_| {}).await;
        let parts = vec![
            header_bytes(&[1]),
            cluster(0, 2, 10),
            cluster(2000, 2, 10),
            // A Cluster header cut short: the source ends inside it.
            b"\x1f\x43\xb6\x75\x01\xff".to_vec(),
        ];
        let (r, _) = put(s.addr, &parts, &PutMediaOptions::default()).await;
        let e = r.unwrap_err();
        assert!(matches!(e, VideoError::InvalidMedia { .. }), "{e}");
        // The complete Clusters before the bad bytes were sent and stored
        // (the second one went ahead as the lead after the first).
        let got = stored(&s);
        let tcs: Vec<u64> = got.iter().map(|(tc, _)| *tc).collect();
        assert_eq!(tcs, vec![0, 2000]);
        assert_eq!(got[1].1.as_ref(), cluster(2000, 2, 10).as_slice());
    }

    #[test]
    fn ack_prints_like_the_service_json() {
        let line = br#"{"EventType":"ERROR","FragmentTimecode":4000,"FragmentNumber":"91343852333181432392682062607743920146264609117","ErrorId":4001,"ErrorCode":"MAX_FRAGMENT_SIZE_REACHED"}"#;
        let ack = Ack::parse(line).unwrap();
        assert_eq!(ack.to_string().as_bytes(), line);
        let idle = Ack::parse(br#"{"EventType":"IDLE"}"#).unwrap();
        assert_eq!(idle.to_string(), r#"{"EventType":"IDLE"}"#);
        assert!(Ack::parse(br#"{"EventType":"NOPE"}"#).is_none());
    }
}
