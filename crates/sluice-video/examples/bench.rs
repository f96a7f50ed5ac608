//! Ingest and read benchmark for sluice-video, over loopback:
//! `cargo run --release -p sluice-video --example bench -- [--mb 256] [--fragments 100000] [--dir DIR]`
//!
//! Prints: the disk's raw sequential write speed (same directory, same run,
//! with a final fsync), PutMedia ingest MB/s beside it, RECEIVED and
//! PERSISTED ACK latency p50/p99, and GetMedia time-to-first-byte with
//! `--fragments` fragments indexed.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use sluice_video::body::{from_channel, full};
use sluice_video::ebml::{self, write_id, write_size4};
use sluice_video::{SystemClock, VideoApi, VideoConfig, server};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn element(id: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_id(&mut out, id);
    write_size4(&mut out, data.len());
    out.extend_from_slice(data);
    out
}

fn uint(id: u32, v: u64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

fn header() -> Vec<u8> {
    let mut out = element(ebml::ID_EBML, &element(0x4282, b"matroska"));
    write_id(&mut out, ebml::ID_SEGMENT);
    out.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
    out.extend(element(
        ebml::ID_INFO,
        &uint(ebml::ID_TIMECODE_SCALE, 1_000_000),
    ));
    let mut e = uint(ebml::ID_TRACK_NUMBER, 1);
    e.extend(element(ebml::ID_CODEC_ID, b"V_MPEG4/ISO/AVC"));
    e.extend(uint(ebml::ID_DEFAULT_DURATION, 33_333_333));
    out.extend(element(ebml::ID_TRACKS, &element(ebml::ID_TRACK_ENTRY, &e)));
    out
}

/// An unknown-size cluster at `tc` ms with `frames` frames of `frame_bytes`.
fn cluster(tc: u64, frames: u16, frame_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    write_id(&mut out, ebml::ID_CLUSTER);
    out.push(0xFF);
    out.extend(uint(ebml::ID_TIMECODE, tc));
    for i in 0..frames {
        let mut b = vec![0x81];
        b.extend_from_slice(&(i * 33).to_be_bytes());
        b.push(if i == 0 { 0x80 } else { 0 });
        b.resize(4 + frame_bytes, (i % 251) as u8);
        out.extend(element(ebml::ID_SIMPLE_BLOCK, &b));
    }
    out
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

struct Ingest {
    secs: f64,
    bytes: usize,
    received_ms: Vec<f64>,
    persisted_ms: Vec<f64>,
    persisted: usize,
    errors: usize,
}

/// PutMedia `clusters` after `header` in 64 KiB chunks; time the ACKs.
async fn put(
    addr: SocketAddr,
    stream: &str,
    head: Vec<u8>,
    clusters: Vec<Vec<u8>>,
) -> anyhow::Result<Ingest> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut c = client(addr).await?;
    let req = Request::post("/putMedia")
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header("x-amzn-producer-start-timestamp", "1700000000")
        .body(from_channel(rx))?;
    let n = clusters.len();
    let total: usize = head.len() + clusters.iter().map(Vec::len).sum::<usize>();
    let start = Instant::now();
    // completed[k]: when the bytes that complete fragment k (the next
    // cluster's first bytes, or the end of the body) were handed over.
    let sender = tokio::spawn(async move {
        let mut completed = Vec::with_capacity(n);
        let _ = tx.send(Bytes::from(head)).await;
        for (k, c) in clusters.into_iter().enumerate() {
            let c = Bytes::from(c);
            for (i, piece) in c.chunks(64 * 1024).enumerate() {
                let _ = tx.send(c.slice_ref(piece)).await;
                if i == 0 && k > 0 {
                    completed.push(Instant::now());
                }
            }
        }
        drop(tx);
        completed.push(Instant::now());
        completed
    });
    let resp = c.send_request(req).await?;
    let mut body = resp.into_body();
    let mut acks: Vec<(String, Instant)> = Vec::new();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let v: serde_json::Value = serde_json::from_slice(&line)?;
                acks.push((
                    v["EventType"].as_str().unwrap_or("").to_string(),
                    Instant::now(),
                ));
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let completed = sender.await?;
    let lat = |kind: &str| -> Vec<f64> {
        acks.iter()
            .filter(|(k, _)| k == kind)
            .zip(&completed)
            .map(|((_, at), sent)| at.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
            .collect()
    };
    Ok(Ingest {
        secs,
        bytes: total,
        received_ms: lat("RECEIVED"),
        persisted_ms: lat("PERSISTED"),
        persisted: acks.iter().filter(|(k, _)| k == "PERSISTED").count(),
        errors: acks.iter().filter(|(k, _)| k == "ERROR").count(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut mb = 256usize;
    let mut fragments = 100_000usize;
    let mut dir = std::env::temp_dir().join(format!("sluice-video-bench-{}", std::process::id()));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().context("--mb N")?.parse()?,
            "--fragments" => fragments = args.next().context("--fragments N")?.parse()?,
            "--dir" => dir = args.next().context("--dir DIR")?.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    // Raw sequential write speed of the same disk.
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
    let raw = mb as f64 / t.elapsed().as_secs_f64();
    std::fs::remove_file(&raw_path)?;

    let mut config = VideoConfig::new(dir.join("data"));
    config.get_media_idle = Duration::from_millis(200);
    let api = VideoApi::open(config, Arc::new(SystemClock))?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(api.clone(), listener, async move {
        let _ = stopped.await;
    }));

    // Ingest: ~1 MiB fragments (2 s of 30 fps), loopback PutMedia.
    call(
        addr,
        "/createStream",
        serde_json::json!({"StreamName": "bench", "DataRetentionInHours": 24}),
    )
    .await?;
    let clusters: Vec<Vec<u8>> = (0..mb as u64)
        .map(|i| cluster(i * 2000, 60, (1 << 20) / 60 - 10))
        .collect();
    let r = put(addr, "bench", header(), clusters).await?;
    let ingest = r.bytes as f64 / (1 << 20) as f64 / r.secs;
    println!("raw sequential write (fsync at end): {raw:8.1} MB/s");
    println!(
        "PutMedia ingest over loopback:        {ingest:8.1} MB/s  ({:.0}% of raw, {} fragments, {} errors)",
        100.0 * ingest / raw,
        r.persisted_ms.len(),
        r.errors
    );
    let (mut rec, mut per) = (r.received_ms, r.persisted_ms);
    println!(
        "ACK latency RECEIVED  p50 {:7.2} ms  p99 {:7.2} ms",
        pct(&mut rec, 0.5),
        pct(&mut rec, 0.99)
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
    // One body, sent in 64 KiB pieces as a fast producer would.
    let small: Vec<Vec<u8>> = vec![
        (0..fragments as u64)
            .flat_map(|i| cluster(i * 40, 1, 64))
            .collect(),
    ];
    let r = put(addr, "many", header(), small).await?;
    println!(
        "indexed {} small fragments in {:.1} s ({} errors)",
        r.persisted,
        t.elapsed().as_secs_f64(),
        r.errors
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
