//! Ingest and read benchmark for sluice-video, over loopback:
//! `cargo run --release -p sluice-video --example video-bench -- [--mb 256] [--fragments 100000] [--latency-fragments 100] [--dir DIR]`
//!
//! The load generator is the crate's own PutMedia client
//! ([`sluice_video::client::put_media`]). Prints: the disk's raw
//! sequential write speed (same directory, same run, with a final fsync),
//! PutMedia ingest MB/s beside it, RECEIVED and PERSISTED ACK latency
//! p50/p99 for a live (paced) producer, timed from the moment each
//! fragment is complete at the source, and GetMedia time-to-first-byte
//! with `--fragments` fragments indexed.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use sluice_video::body::full;
use sluice_video::client::{
    AckEventType, FragmentTimecodeType, PutMediaOptions, PutMediaSummary, put_media,
};
use sluice_video::mkv::testing;
use sluice_video::{SystemClock, VideoApi, VideoConfig, server};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

fn header() -> Vec<u8> {
    testing::header_with(&[1], 33_333_333, None)
}

/// An unknown-size cluster at `tc` ms with `frames` frames of `frame_bytes`.
fn cluster(tc: u64, frames: u16, frame_bytes: usize) -> Vec<u8> {
    testing::cluster_of(tc, frames, 33, |i| vec![(i % 251) as u8; frame_bytes])
}

async fn client(
    addr: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<sluice_video::body::ApiBody>> {
    let tcp = TcpStream::connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn call(addr: SocketAddr, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let mut c = client(addr).await?;
    let resp = c
        .send_request(Request::post(path).body(full(body.to_string()))?)
        .await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}

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

struct Ingest {
    secs: f64,
    bytes: u64,
    received_ms: Vec<f64>,
    persisted_ms: Vec<f64>,
    summary: PutMediaSummary,
}

/// PutMedia `clusters` after `head` with the crate's client; time the
/// RECEIVED and PERSISTED acks from each fragment's completion.
async fn put(
    addr: SocketAddr,
    stream: &str,
    head: Vec<u8>,
    clusters: Vec<Vec<u8>>,
    period: Option<Duration>,
) -> anyhow::Result<Ingest> {
    let parts: Vec<Bytes> = std::iter::once(head)
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
    let marks = marks.lock().map(|m| m.clone()).unwrap_or_default();
    let lat = |acks: &[Instant]| -> Vec<f64> {
        acks.iter()
            .zip(&marks)
            .map(|(at, done)| at.saturating_duration_since(*done).as_secs_f64() * 1000.0)
            .collect()
    };
    Ok(Ingest {
        secs,
        bytes: summary.source_bytes,
        received_ms: lat(&received),
        persisted_ms: lat(&persisted),
        summary,
    })
}

/// Write `mb` MiB sequentially into `dir`, fsync, return MB/s.
fn raw_write(dir: &std::path::Path, mb: usize) -> anyhow::Result<f64> {
    let raw_path = dir.join("raw-write.bin");
    let block = vec![0x5Au8; 1 << 20];
    let t = Instant::now();
    {
        let mut f = std::fs::File::create(&raw_path)?;
        for _ in 0..mb {
            f.write_all(&block)?;
        }
        f.sync_all()?;
    }
    let mbs = mb as f64 / t.elapsed().as_secs_f64();
    std::fs::remove_file(&raw_path)?;
    Ok(mbs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut mb = 256usize;
    let mut fragments = 100_000usize;
    let mut latency_fragments = 100usize;
    let mut dir = std::env::temp_dir().join(format!("sluice-video-bench-{}", std::process::id()));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().context("--mb N")?.parse()?,
            "--fragments" => fragments = args.next().context("--fragments N")?.parse()?,
            "--latency-fragments" => {
                latency_fragments = args.next().context("--latency-fragments N")?.parse()?
            }
            "--dir" => dir = args.next().context("--dir DIR")?.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    // Raw sequential write speed of the same disk (measured again after
    // the ingest run: the disk is shared, so both are printed).
    let raw = raw_write(&dir, mb)?;

    let mut config = VideoConfig::new(dir.join("data"));
    config.get_media_idle = Duration::from_millis(200);
    let api = VideoApi::open(config, Arc::new(SystemClock))?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(api.clone(), listener, async move {
        let _ = stopped.await;
    }));

    // Ingest: ~1 MiB fragments (2 s of 30 fps), loopback PutMedia, as
    // fast as the client can send.
    call(
        addr,
        "/createStream",
        serde_json::json!({"StreamName": "bench", "DataRetentionInHours": 24}),
    )
    .await?;
    let clusters: Vec<Vec<u8>> = (0..mb as u64)
        .map(|i| cluster(i * 2000, 60, (1 << 20) / 60 - 10))
        .collect();
    let r = put(addr, "bench", header(), clusters, None).await?;
    let ingest = r.bytes as f64 / (1 << 20) as f64 / r.secs;
    let raw_after = raw_write(&dir, mb)?;
    let raw_mean = (raw + raw_after) / 2.0;
    println!(
        "raw sequential write (fsync at end): {raw:8.1} MB/s before, {raw_after:.1} MB/s after"
    );
    println!(
        "PutMedia ingest over loopback:        {ingest:8.1} MB/s  ({:.0}% of raw (mean); {} fragments, {} PERSISTED, {} errors)",
        100.0 * ingest / raw_mean,
        r.summary.fragments,
        r.summary.persisted,
        r.summary.errors
    );
    let (mut rec, mut per) = (r.received_ms, r.persisted_ms);
    println!(
        "  ACK latency at full speed: RECEIVED p50 {:7.2} ms p99 {:7.2} ms, PERSISTED p50 {:7.2} ms p99 {:7.2} ms",
        pct(&mut rec, 0.5),
        pct(&mut rec, 0.99),
        pct(&mut per, 0.5),
        pct(&mut per, 0.99)
    );

    // ACK latency of a live producer: 1 MiB fragments released every
    // 100 ms (80 Mbit/s), timed from each fragment's completion.
    call(
        addr,
        "/createStream",
        serde_json::json!({"StreamName": "live", "DataRetentionInHours": 24}),
    )
    .await?;
    let clusters: Vec<Vec<u8>> = (0..latency_fragments as u64)
        .map(|i| cluster(i * 2000, 60, (1 << 20) / 60 - 10))
        .collect();
    let r = put(
        addr,
        "live",
        header(),
        clusters,
        Some(Duration::from_millis(100)),
    )
    .await?;
    let (mut rec, mut per) = (r.received_ms, r.persisted_ms);
    println!(
        "ACK latency RECEIVED  p50 {:7.2} ms  p99 {:7.2} ms  ({} live fragments of 1 MiB, 100 ms apart)",
        pct(&mut rec, 0.5),
        pct(&mut rec, 0.99),
        rec.len()
    );
    println!(
        "ACK latency PERSISTED p50 {:7.2} ms  p99 {:7.2} ms",
        pct(&mut per, 0.5),
        pct(&mut per, 0.99)
    );

    // GetMedia time to first byte with many fragments indexed.
    call(
        addr,
        "/createStream",
        serde_json::json!({"StreamName": "many", "DataRetentionInHours": 24}),
    )
    .await?;
    let t = Instant::now();
    let small: Vec<Vec<u8>> = (0..fragments as u64)
        .map(|i| cluster(i * 40, 1, 64))
        .collect();
    let r = put(addr, "many", header(), small, None).await?;
    println!(
        "indexed {} small fragments in {:.1} s ({} errors)",
        r.summary.persisted,
        t.elapsed().as_secs_f64(),
        r.summary.errors
    );
    let mut ttfb = Vec::new();
    for i in 0..50u64 {
        let ts = 1_700_000_000.0 + (i as f64 * 997.0) % (fragments as f64 * 0.04);
        let mut c = client(addr).await?;
        let body = serde_json::json!({"StreamName": "many", "StartSelector": {"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": ts}});
        let t = Instant::now();
        let resp = c
            .send_request(Request::post("/getMedia").body(full(body.to_string()))?)
            .await?;
        let mut b = resp.into_body();
        if let Some(f) = b.frame().await {
            f?;
        }
        ttfb.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "GetMedia time to first byte, {} fragments indexed: p50 {:.2} ms  p99 {:.2} ms",
        fragments,
        pct(&mut ttfb, 0.5),
        pct(&mut ttfb, 0.99)
    );
    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
