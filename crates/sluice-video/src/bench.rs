//! Video ingest and read benchmarks, each a [`Figure`] beside a baseline
//! measured in the same run and, where one is set, a target. Entry point:
//! [`run`]; `sluice bench --mode video` prints its figures (as does the
//! `video-bench` example).
//!
//! - (a) [`Bench::Ingest`]: PutMedia ingest over loopback, as fast as the
//!   crate's own client ([`crate::client::put_media`]) sends, of
//!   [`BenchOptions::mb`] fragments of 1 MiB (2 s of 30 fps each), in MB/s
//!   of source bytes, against the disk's raw sequential write (1 MiB
//!   writes, one `fsync` at the end) of as many bytes in the same
//!   directory, measured before and after the ingest (the mean is the
//!   baseline): target ≥ 80% of it.
//! - (b) [`Bench::AckLatency`]: PERSISTED ACK latency p99 of a live
//!   producer, [`BenchOptions::live_fragments`] fragments of 1 MiB released
//!   100 ms apart, timed from the moment each fragment is complete at the
//!   source; p50 and the RECEIVED figures in the detail and notes. The
//!   baseline is the disk's own 1 MiB write + `fdatasync` latency p99 in
//!   the same directory. No target is set.
//! - (c) [`Bench::GetMediaFirstByte`]: GetMedia time to first byte p99 over
//!   50 requests at scattered producer timestamps, with
//!   [`BenchOptions::indexed_fragments`] small fragments indexed. No
//!   baseline and no target.
//!
//! Every benchmark checks its answer: (a) and (b) read every fragment back
//! from the store (count, frames, stored size) and require a PERSISTED ACK
//! for each with no ERROR; (c) requires every fragment indexed and each
//! GetMedia answer to start with an EBML header. A wrong answer is
//! [`VideoError::Bench`], not a missed target.
//!
//! The server runs in this process on a loopback port with the system
//! clock, in a tokio runtime that [`run`] makes, its data in a fresh
//! directory under [`BenchOptions::data_dir`] (default: the system's temp
//! directory), removed afterwards.

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::body::{ApiBody, full};
use crate::client::{AckEventType, FragmentTimecodeType, PutMediaOptions, put_media};
use crate::mkv::testing;
use crate::{Result, SystemClock, VideoApi, VideoConfig, VideoError, server};
pub use sluice_bench::{Baseline, Figure, Target, Unit};

/// Ingest's target: this fraction of the disk's raw sequential write.
pub const INGEST_TARGET: f64 = 0.8;

/// One of the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bench {
    /// (a) PutMedia ingest against the disk's raw sequential write.
    Ingest,
    /// (b) ACK latency of a live producer.
    AckLatency,
    /// (c) GetMedia time to first byte with many fragments indexed.
    GetMediaFirstByte,
}

impl Bench {
    /// (a), (b), (c), in that order.
    pub const ALL: [Bench; 3] = [Bench::Ingest, Bench::AckLatency, Bench::GetMediaFirstByte];

    /// Its letter: a, b or c.
    pub fn letter(self) -> char {
        match self {
            Bench::Ingest => 'a',
            Bench::AckLatency => 'b',
            Bench::GetMediaFirstByte => 'c',
        }
    }
}

/// How the benchmarks run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// (a): fragments of 1 MiB to ingest, and MiB the disk baseline writes.
    pub mb: usize,
    /// (b): live fragments, 100 ms apart.
    pub live_fragments: usize,
    /// (c): small fragments indexed before GetMedia is timed.
    pub indexed_fragments: usize,
    /// Where the data directory goes; `None`: the system's temp directory.
    pub data_dir: Option<PathBuf>,
}

impl Default for BenchOptions {
    /// 256 MiB ingested, 100 live fragments (10 s), 100,000 indexed.
    fn default() -> Self {
        BenchOptions {
            mb: 256,
            ..BenchOptions::for_seconds(10.0)
        }
    }
}

impl BenchOptions {
    /// Sizes for about `seconds` per benchmark: (a) 85.4 MiB a second
    /// (8 MiB at least; 3 s give the default 256 MiB, big enough that
    /// start-up does not weigh on the rate), (b) 10 live fragments a second
    /// (5 at least), (c) 10,000 fragments a second (1,000 at least); 10 s
    /// give the defaults of (b) and (c).
    pub fn for_seconds(seconds: f64) -> Self {
        let scaled = |per_second: f64, least: f64| {
            let n = (seconds.max(0.0) * per_second).round();
            if n.is_finite() { n.max(least) } else { least }
        };
        BenchOptions {
            mb: scaled(85.4, 8.0) as usize,
            live_fragments: scaled(10.0, 5.0) as usize,
            indexed_fragments: scaled(10_000.0, 1_000.0) as usize,
            data_dir: None,
        }
    }
}

/// `bench`'s figure: `value` in `unit`, with `detail`, beside `baseline`
/// where there is one, against `target` where one is set.
fn measured(
    bench: Bench,
    name: &str,
    (value, unit): (f64, Unit),
    detail: String,
    baseline: Option<Baseline>,
    target: Option<Target>,
) -> Figure {
    let mut figure = Figure::new(name, value, unit)
        .with_label(bench.letter())
        .with_detail(detail);
    if let Some(b) = baseline {
        figure = figure.with_baseline(b);
    }
    if let Some(t) = target {
        figure = figure.with_target(t);
    }
    figure
}

/// Runs the benchmarks `which`, in order, and returns their figures.
///
/// A benchmark that cannot start (no data directory, no port) or that gets
/// a wrong answer fails the whole run with [`VideoError::Bench`] (or the
/// I/O error behind it).
pub fn run(which: &[Bench], opts: &BenchOptions) -> Result<Vec<Figure>> {
    if opts.mb == 0 || opts.live_fragments == 0 || opts.indexed_fragments == 0 {
        return Err(wrong(
            "options",
            "mb, live_fragments and indexed_fragments must each be at least 1".into(),
        ));
    }
    let base = opts.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("sluice-video-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| VideoError::io("create", &dir, e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| VideoError::io("start a tokio runtime for", &dir, e))?;
    let result = runtime.block_on(run_in(which, opts, &dir));
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(which: &[Bench], opts: &BenchOptions, dir: &Path) -> Result<Vec<Figure>> {
    let mut config = VideoConfig::new(dir.join("data"));
    config.get_media_idle = Duration::from_millis(200);
    let api = VideoApi::open(config, Arc::new(SystemClock))?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| VideoError::io("bind a loopback port for", dir, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| VideoError::io("read the port of", dir, e))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(api.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let mut figures = Vec::with_capacity(which.len());
    let mut outcome = Ok(());
    for bench in which {
        let figure = match bench {
            Bench::Ingest => ingest(&api, addr, dir, opts.mb).await,
            Bench::AckLatency => ack_latency(&api, addr, dir, opts.live_fragments).await,
            Bench::GetMediaFirstByte => first_byte(&api, addr, opts.indexed_fragments).await,
        };
        match figure {
            Ok(f) => figures.push(f),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let _ = stop.send(());
    let _ = task.await;
    outcome.map(|()| figures)
}

fn wrong(what: &str, reason: String) -> VideoError {
    VideoError::Bench {
        what: what.to_owned(),
        reason,
    }
}

/// Frames per 1 MiB fragment (2 s of 30 fps).
const FRAMES: u16 = 60;

fn header() -> Vec<u8> {
    testing::header_with(&[1], 33_333_333, None)
}

/// An unknown-size cluster at `tc` ms with `frames` frames of `frame_bytes`.
fn cluster(tc: u64, frames: u16, frame_bytes: usize) -> Vec<u8> {
    testing::cluster_of(tc, frames, 33, |i| vec![(i % 251) as u8; frame_bytes])
}

/// `n` clusters of about 1 MiB each, 2 s apart.
fn mib_clusters(n: usize) -> Vec<Vec<u8>> {
    (0..n as u64)
        .map(|i| cluster(i * 2000, FRAMES, (1 << 20) / usize::from(FRAMES) - 10))
        .collect()
}

async fn client(
    what: &str,
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<ApiBody>> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| wrong(what, format!("connecting to {addr}: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| wrong(what, format!("HTTP handshake with {addr}: {e}")))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// POSTs `body` to `path`; the answer must be a success.
async fn call(what: &str, addr: SocketAddr, path: &str, body: serde_json::Value) -> Result<()> {
    let mut c = client(what, addr).await?;
    let request = Request::post(path)
        .body(full(body.to_string()))
        .map_err(|e| wrong(what, format!("{path}: {e}")))?;
    let resp = c
        .send_request(request)
        .await
        .map_err(|e| wrong(what, format!("{path}: {e}")))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| wrong(what, format!("{path}: reading the answer: {e}")))?
        .to_bytes();
    if !status.is_success() {
        return Err(wrong(
            what,
            format!("{path}: {status} {}", String::from_utf8_lossy(&bytes)),
        ));
    }
    Ok(())
}

async fn create_stream(what: &str, addr: SocketAddr, name: &str) -> Result<()> {
    call(
        what,
        addr,
        "/createStream",
        serde_json::json!({"StreamName": name, "DataRetentionInHours": 24}),
    )
    .await
}

/// The `p` quantile (0..=1) of `v`, nearest rank; NaN when empty.
fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A producer's output as an `AsyncRead`: the header, then one cluster
/// after another, each released `period` after the previous one when
/// paced (a live camera). `marks[k]` records when fragment k became
/// complete: when the next cluster's first byte (or the end) was released.
struct LiveSource {
    parts: Vec<Bytes>,
    part: usize,
    pos: usize,
    period: Option<Duration>,
    start: Option<tokio::time::Instant>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    marks: Arc<Mutex<Vec<Instant>>>,
}

impl LiveSource {
    fn new(parts: Vec<Bytes>, period: Option<Duration>) -> (Self, Arc<Mutex<Vec<Instant>>>) {
        let marks = Arc::new(Mutex::new(Vec::new()));
        let src = LiveSource {
            parts,
            part: 0,
            pos: 0,
            period,
            start: None,
            sleep: None,
            marks: marks.clone(),
        };
        (src, marks)
    }

    fn mark(&self) {
        if let Ok(mut m) = self.marks.lock() {
            m.push(Instant::now());
        }
    }
}

impl AsyncRead for LiveSource {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.part >= this.parts.len() {
            if this.part == this.parts.len() {
                this.part += 1;
                this.mark();
            }
            return Poll::Ready(Ok(()));
        }
        // Starting cluster j (part j + 1): wait for its time when paced.
        if this.pos == 0 && this.part >= 1 {
            if let Some(period) = this.period {
                let start = *this.start.get_or_insert_with(tokio::time::Instant::now);
                let due = start + period * (this.part as u32 - 1);
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if this.part >= 2 {
                this.mark();
            }
        }
        let part = &this.parts[this.part];
        let n = (part.len() - this.pos).min(buf.remaining());
        buf.put_slice(&part[this.pos..this.pos + n]);
        this.pos += n;
        if this.pos == part.len() {
            this.part += 1;
            this.pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

/// One PutMedia session's timings.
struct Ingested {
    secs: f64,
    bytes: u64,
    received_ms: Vec<f64>,
    persisted_ms: Vec<f64>,
}

/// PutMedia `clusters` after `head` with the crate's client, timing the
/// RECEIVED and PERSISTED acks from each fragment's completion; then reads
/// the stream back from the store: every fragment, `frames` frames each,
/// each ACKed PERSISTED and none with ERROR.
async fn put(
    api: &VideoApi,
    addr: SocketAddr,
    stream: &str,
    clusters: Vec<Vec<u8>>,
    frames: u16,
    period: Option<Duration>,
) -> Result<Ingested> {
    let n = clusters.len() as u64;
    let parts: Vec<Bytes> = std::iter::once(header())
        .chain(clusters)
        .map(Bytes::from)
        .collect();
    let (source, marks) = LiveSource::new(parts, period);
    let options = PutMediaOptions {
        fragment_timecode_type: FragmentTimecodeType::Relative,
        producer_start_timestamp: Some(1_700_000_000.0),
        ..PutMediaOptions::default()
    };
    let mut received = Vec::new();
    let mut persisted = Vec::new();
    let start = Instant::now();
    let summary = put_media(
        &format!("http://{addr}"),
        stream,
        source,
        &options,
        |ack| match ack.event_type {
            AckEventType::Received => received.push(Instant::now()),
            AckEventType::Persisted => persisted.push(Instant::now()),
            _ => {}
        },
    )
    .await?;
    let secs = start.elapsed().as_secs_f64();
    if summary.fragments != n || summary.persisted != n || summary.errors != 0 {
        return Err(wrong(
            stream,
            format!(
                "sent {} of {n} fragments, {} PERSISTED, {} ERROR",
                summary.fragments, summary.persisted, summary.errors
            ),
        ));
    }
    read_back(api, stream, n, frames)?;
    let marks = marks.lock().map(|m| m.clone()).unwrap_or_default();
    let lat = |acks: &[Instant]| -> Vec<f64> {
        acks.iter()
            .zip(&marks)
            .map(|(at, done)| at.saturating_duration_since(*done).as_secs_f64() * 1000.0)
            .collect()
    };
    Ok(Ingested {
        secs,
        bytes: summary.source_bytes,
        received_ms: lat(&received),
        persisted_ms: lat(&persisted),
    })
}

/// Reads every fragment of `stream` back from the store: `n` of them,
/// `frames` frames each, each read at its indexed size.
fn read_back(api: &VideoApi, stream: &str, n: u64, frames: u16) -> Result<()> {
    let s = api.store().stream(Some(stream), None)?;
    let entries = s.from_seq(0, usize::MAX);
    if entries.len() as u64 != n {
        return Err(wrong(
            stream,
            format!("{} fragments indexed, {n} sent", entries.len()),
        ));
    }
    for e in &entries {
        if e.frames != u64::from(frames) {
            return Err(wrong(
                stream,
                format!(
                    "fragment {} has {} frames, want {frames}",
                    e.number, e.frames
                ),
            ));
        }
        let bytes = s.read(e)?;
        if bytes.len() as u64 != e.size {
            return Err(wrong(
                stream,
                format!(
                    "fragment {} read back {} bytes, indexed {}",
                    e.number,
                    bytes.len(),
                    e.size
                ),
            ));
        }
    }
    Ok(())
}

/// Writes `mb` MiB sequentially into `dir` in 1 MiB writes, `fsync`s,
/// returns MB/s (10⁶ bytes).
fn raw_write(dir: &Path, mb: usize) -> Result<f64> {
    let path = dir.join("raw-write.bin");
    let block = vec![0x5Au8; 1 << 20];
    let t = Instant::now();
    {
        let mut f = std::fs::File::create(&path).map_err(|e| VideoError::io("create", &path, e))?;
        for _ in 0..mb {
            f.write_all(&block)
                .map_err(|e| VideoError::io("write", &path, e))?;
        }
        f.sync_all()
            .map_err(|e| VideoError::io("fsync", &path, e))?;
    }
    let rate = (mb << 20) as f64 / 1e6 / t.elapsed().as_secs_f64().max(1e-9);
    std::fs::remove_file(&path).map_err(|e| VideoError::io("remove", &path, e))?;
    Ok(rate)
}

/// Latencies (ms) of `n` appends of 1 MiB, each followed by `fdatasync`.
fn sync_latencies(dir: &Path, n: usize) -> Result<Vec<f64>> {
    let path = dir.join("sync-latency.bin");
    let block = vec![0xA5u8; 1 << 20];
    let mut f = std::fs::File::create(&path).map_err(|e| VideoError::io("create", &path, e))?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&block)
            .map_err(|e| VideoError::io("write", &path, e))?;
        f.sync_data()
            .map_err(|e| VideoError::io("fdatasync", &path, e))?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(f);
    std::fs::remove_file(&path).map_err(|e| VideoError::io("remove", &path, e))?;
    Ok(out)
}

/// (a) PutMedia ingest MB/s against the disk's raw sequential write.
async fn ingest(api: &VideoApi, addr: SocketAddr, dir: &Path, mb: usize) -> Result<Figure> {
    let before = raw_write(dir, mb)?;
    create_stream("ingest", addr, "bench-ingest").await?;
    let r = put(api, addr, "bench-ingest", mib_clusters(mb), FRAMES, None).await?;
    let after = raw_write(dir, mb)?;
    let rate = r.bytes as f64 / 1e6 / r.secs.max(1e-9);
    let (mut rec, mut per) = (r.received_ms, r.persisted_ms);
    let mut figure = measured(
        Bench::Ingest,
        "PutMedia ingest over loopback",
        (rate, Unit::MegabytesPerSecond),
        format!("{mb} fragments of 1 MiB, every one read back"),
        Some(Baseline {
            name: "raw sequential write + fsync, same directory".into(),
            value: (before + after) / 2.0,
            detail: format!("mean of {before:.1} before and {after:.1} after"),
        }),
        Some(Target::FractionOfBaseline(INGEST_TARGET)),
    );
    figure.notes.push(format!(
        "ACK latency at full speed: RECEIVED p50 {:.2} ms p99 {:.2} ms, PERSISTED p50 {:.2} ms p99 {:.2} ms",
        pct(&mut rec, 0.5),
        pct(&mut rec, 0.99),
        pct(&mut per, 0.5),
        pct(&mut per, 0.99)
    ));
    Ok(figure)
}

/// (b) PERSISTED ACK latency of a live producer, 1 MiB every 100 ms.
async fn ack_latency(api: &VideoApi, addr: SocketAddr, dir: &Path, n: usize) -> Result<Figure> {
    let mut disk = sync_latencies(dir, n.clamp(5, 50))?;
    create_stream("ack latency", addr, "bench-live").await?;
    let r = put(
        api,
        addr,
        "bench-live",
        mib_clusters(n),
        FRAMES,
        Some(Duration::from_millis(100)),
    )
    .await?;
    let (mut rec, mut per) = (r.received_ms, r.persisted_ms);
    let mut figure = measured(
        Bench::AckLatency,
        "PERSISTED ACK latency p99, live producer",
        (pct(&mut per, 0.99), Unit::Milliseconds),
        format!(
            "p50 {:.2} ms; {n} fragments of 1 MiB, 100 ms apart, from each fragment's completion",
            pct(&mut per, 0.5)
        ),
        Some(Baseline {
            name: "1 MiB write + fdatasync p99, same directory".into(),
            value: pct(&mut disk, 0.99),
            detail: format!("p50 {:.2} ms", pct(&mut disk, 0.5)),
        }),
        None,
    );
    figure.notes.push(format!(
        "RECEIVED ACK latency: p50 {:.2} ms p99 {:.2} ms",
        pct(&mut rec, 0.5),
        pct(&mut rec, 0.99)
    ));
    Ok(figure)
}

/// The four bytes every Matroska stream starts with (the EBML header's ID).
const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// (c) GetMedia time to first byte with `n` small fragments indexed.
async fn first_byte(api: &VideoApi, addr: SocketAddr, n: usize) -> Result<Figure> {
    const WHAT: &str = "GetMedia first byte";
    create_stream(WHAT, addr, "bench-many").await?;
    let started = Instant::now();
    let small: Vec<Vec<u8>> = (0..n as u64).map(|i| cluster(i * 40, 1, 64)).collect();
    put(api, addr, "bench-many", small, 1, None).await?;
    let index_secs = started.elapsed().as_secs_f64();
    let mut ttfb = Vec::new();
    for i in 0..50u64 {
        let ts = 1_700_000_000.0 + (i as f64 * 997.0) % (n as f64 * 0.04);
        let body = serde_json::json!({"StreamName": "bench-many", "StartSelector":
            {"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": ts}});
        let request = Request::post("/getMedia")
            .body(full(body.to_string()))
            .map_err(|e| wrong(WHAT, e.to_string()))?;
        let mut c = client(WHAT, addr).await?;
        let t = Instant::now();
        let resp = c
            .send_request(request)
            .await
            .map_err(|e| wrong(WHAT, format!("/getMedia: {e}")))?;
        if !resp.status().is_success() {
            return Err(wrong(WHAT, format!("/getMedia: {}", resp.status())));
        }
        let mut body = resp.into_body();
        let first = match body.frame().await {
            Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
            Some(Err(e)) => return Err(wrong(WHAT, format!("/getMedia: {e}"))),
            None => Bytes::new(),
        };
        ttfb.push(t.elapsed().as_secs_f64() * 1000.0);
        if !first.starts_with(&EBML_MAGIC) {
            return Err(wrong(
                WHAT,
                format!(
                    "/getMedia at {ts}: the first {} bytes are not an EBML header",
                    first.len()
                ),
            ));
        }
    }
    Ok(measured(
        Bench::GetMediaFirstByte,
        "GetMedia time to first byte p99",
        (pct(&mut ttfb, 0.99), Unit::Milliseconds),
        format!(
            "p50 {:.2} ms; 50 requests, {n} fragments indexed (in {index_secs:.1} s, read back)",
            pct(&mut ttfb, 0.5)
        ),
        None,
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_reads_back_and_reports_every_figure() {
        let opts = BenchOptions {
            mb: 4,
            live_fragments: 3,
            indexed_fragments: 200,
            data_dir: None,
        };
        let figures = run(&Bench::ALL, &opts).unwrap();
        assert_eq!(figures.len(), 3);
        assert!(figures.iter().all(|f| f.value > 0.0), "{figures:?}");
        assert_eq!(figures[0].target, Some(Target::FractionOfBaseline(0.8)));
        let line = figures[0].to_string();
        assert!(
            line.ends_with(": MET") || line.ends_with(": MISSED"),
            "{line}"
        );
        assert!(figures[1].to_string().ends_with("no target set"));
    }

    #[test]
    fn options_scale_with_seconds() {
        let d = BenchOptions::default();
        assert_eq!(
            (d.mb, d.live_fragments, d.indexed_fragments),
            (256, 100, 100_000)
        );
        let small = BenchOptions::for_seconds(0.3);
        assert_eq!(
            (small.mb, small.live_fragments, small.indexed_fragments),
            (26, 5, 3_000)
        );
        // Three seconds ingest as much as the default run.
        assert_eq!(BenchOptions::for_seconds(3.0).mb, 256);
    }
}
