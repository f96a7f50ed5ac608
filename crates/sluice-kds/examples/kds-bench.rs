//! The shard log's benchmarks, each printing its figure beside its target:
//! `cargo run --release -p sluice-kds --example kds-bench -- [a|b|c|d|all]`.
//!
//! - (a) one boto3 client (`tests/clients/bench_put_records.py`, run with
//!   the venv's python: `$SLUICE_VENV` or `./.venv`, as `ci.sh` makes it)
//!   sending PutRecords of 500 × 100-byte records to a 4-shard stream:
//!   target ≥ 25,000 records/s.
//! - (b) a Rust load generator (hyper HTTP/1.1 clients on several
//!   connections) sending the same PutRecords: target ≥ 200,000 records/s.
//! - (c) embedded appends ([`Kds::put_record`], no HTTP) of 100-byte records
//!   from many producer threads, `fdatasync` group commit, against the
//!   disk's own sequential write + `fdatasync` speed measured in the same
//!   directory in the same run: target ≥ half. The disk figure is the best a
//!   single writer can do under the same rule (a record is acknowledged only
//!   once synced, one record in flight per producer): one sequential write of
//!   `producers` records' on-disk bytes, then `fdatasync`, repeated. Figures
//!   for one record per sync and 1 MiB per sync are printed for scale.
//! - (d) put-to-get latency over HTTP at 1,000 records/s (PutRecord over h2c
//!   to a 1-shard stream, a reader polling GetRecords): target p99 < 10 ms.
//!
//! The server runs in this process on a loopback port with the system clock,
//! its data in a fresh directory under `--data-dir` (default: the system's
//! temp directory), removed afterwards.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, PutEntry, SystemClock};

#[derive(Parser, Clone)]
struct Args {
    /// Which benchmark: a, b, c, d or all.
    #[arg(default_value = "all")]
    which: String,
    /// Seconds each benchmark runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// HTTP connections of the Rust load generator (b).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Producer threads of the embedded benchmark (c).
    #[arg(long, default_value_t = 64)]
    producers: usize,
    /// Shards of the embedded benchmark's stream (c).
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Where the benchmark's data directories go.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// The log and its API server on a loopback port.
struct Server {
    kds: Kds,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start_server(base: &Path) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir_in(base).context("creating a data directory")?;
    let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let api = KdsApi::new(kds.clone(), ApiOptions::default());
    let task = tokio::spawn(sluice_kds::serve(listener, api, async {
        let _ = stopped.await;
    }));
    Ok(Server {
        kds,
        addr,
        stop,
        task,
        _dir: dir,
    })
}

impl Server {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn create_active(kds: &Kds, name: &str, shards: u32) -> anyhow::Result<()> {
    kds.create_stream(name, Some(shards))?;
    for _ in 0..1000 {
        if kds.describe_stream(name)?.status == "ACTIVE" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("stream {name} did not become ACTIVE")
}

/// A 100-byte record payload that differs per record.
fn payload(i: usize) -> Vec<u8> {
    format!("{i:0>100}").into_bytes()
}

fn put_records_body(stream: &str, batch: usize) -> Bytes {
    let mut s = format!("{{\"StreamName\":\"{stream}\",\"Records\":[");
    for i in 0..500 {
        if i > 0 {
            s.push(',');
        }
        let n = batch * 500 + i;
        s.push_str(&format!(
            "{{\"Data\":\"{}\",\"PartitionKey\":\"pk-{n}\"}}",
            B64.encode(payload(n))
        ));
    }
    s.push_str("]}");
    Bytes::from(s)
}

fn request(target: &str, body: Bytes) -> anyhow::Result<http::Request<Full<Bytes>>> {
    Ok(http::Request::post("/")
        .header("host", "127.0.0.1")
        .header("x-amz-target", format!("Kinesis_20131202.{target}"))
        .header("content-type", "application/x-amz-json-1.1")
        // The form AWS requires; the server under test checks no signature.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("x-amz-date", "20260101T000000Z")
        .body(Full::new(body))?)
}

async fn answer(resp: http::Response<hyper::body::Incoming>) -> anyhow::Result<Bytes> {
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn bench_a(args: &Args, base: &Path) -> anyhow::Result<bool> {
    let venv = std::env::var_os("SLUICE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv"));
    let python = venv.join("bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/bench_put_records.py");
    if !python.exists() {
        bail!(
            "(a) needs boto3 in {}: run `bash crates/sluice-kds/ci.sh` from the repository root first, or set SLUICE_VENV",
            venv.display()
        );
    }
    let server = start_server(base).await?;
    create_active(&server.kds, "bench-a", 4)?;
    let endpoint = format!("http://{}", server.addr);
    let mut command = std::process::Command::new(&python);
    command
        .arg(&script)
        .arg(&endpoint)
        .arg("bench-a")
        .arg(args.seconds.to_string());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await?
        .with_context(|| format!("running {}", python.display()))?;
    server.shutdown().await;
    if !out.status.success() {
        bail!(
            "(a) {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let rate: f64 = line
        .rsplit(": ")
        .next()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .with_context(|| format!("(a) unexpected output: {line}"))?;
    let ok = rate >= 25_000.0;
    println!(
        "(a) one boto3 client, PutRecords 500 x 100 B, 4 shards: {} records/s ({line}); target >= 25,000: {}",
        thousands(rate),
        verdict(ok)
    );
    Ok(ok)
}

async fn bench_b(args: &Args, base: &Path) -> anyhow::Result<bool> {
    let server = start_server(base).await?;
    create_active(&server.kds, "bench-b", 4)?;
    let bodies: Arc<Vec<Bytes>> =
        Arc::new((0..16).map(|b| put_records_body("bench-b", b)).collect());
    let records = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let tcp = tokio::net::TcpStream::connect(server.addr).await?;
        tcp.set_nodelay(true)?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        let (bodies, records, failed) = (bodies.clone(), records.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < deadline {
                send.ready().await?;
                let body = bodies[i % bodies.len()].clone();
                let resp = send.send_request(request("PutRecords", body)?).await?;
                let out = answer(resp).await?;
                let text = std::str::from_utf8(&out)?;
                // Count failures without decoding 500 results on the hot path.
                if !text.contains("\"FailedRecordCount\":0") {
                    let v: serde_json::Value = serde_json::from_slice(&out)?;
                    failed.fetch_add(
                        v["FailedRecordCount"].as_u64().unwrap_or(500),
                        Ordering::Relaxed,
                    );
                }
                records.fetch_add(500, Ordering::Relaxed);
                i += 7;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let took = start.elapsed().as_secs_f64();
    server.shutdown().await;
    let sent = records.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("(b) {failed} of {sent} records failed");
    }
    let rate = sent as f64 / took;
    let ok = rate >= 200_000.0;
    println!(
        "(b) Rust load generator, {} HTTP/1.1 connections, PutRecords 500 x 100 B, 4 shards: {} records/s ({sent} in {took:.1} s); target >= 200,000: {}",
        args.connections,
        thousands(rate),
        verdict(ok)
    );
    Ok(ok)
}

fn segment_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "seg") {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

/// The disk's own speed: `chunk`-byte sequential writes each followed by
/// `fdatasync`, for `seconds`; returns (writes/s, bytes/s).
fn disk_write_sync(dir: &Path, chunk: usize, seconds: f64) -> anyhow::Result<(f64, f64)> {
    let path = dir.join(format!("disk-baseline-{chunk}.bin"));
    let mut file = std::fs::File::create(&path)?;
    let buf = vec![0x5au8; chunk];
    let start = Instant::now();
    let mut writes = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        file.write_all(&buf)?;
        file.sync_data()?;
        writes += 1;
    }
    let took = start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok((writes as f64 / took, writes as f64 * chunk as f64 / took))
}

fn bench_c(args: &Args, base: &Path) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir_in(base)?;
    let log_dir = dir.path().join("log");
    let kds = Kds::open(&log_dir, KdsOptions::default(), Arc::new(SystemClock))?;
    create_active(&kds, "bench-c", args.shards)?;
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let producers: Vec<_> = (0..args.producers)
        .map(|p| {
            let (kds, stop, appended) = (kds.clone(), stop.clone(), appended.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut i = p;
                while !stop.load(Ordering::Relaxed) {
                    kds.put_record(
                        "bench-c",
                        PutEntry {
                            partition_key: format!("pk-{i}"),
                            explicit_hash_key: None,
                            data: payload(i),
                        },
                    )?;
                    appended.fetch_add(1, Ordering::Relaxed);
                    i += 1_000_003;
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join()
            .map_err(|_| anyhow::anyhow!("a producer panicked"))??;
    }
    let took = start.elapsed().as_secs_f64();
    let n = appended.load(Ordering::Relaxed) as f64;
    let log_bytes = segment_bytes(&log_dir) as f64;
    drop(kds);
    if n == 0.0 {
        bail!("(c) no record was appended");
    }
    let log_bps = log_bytes / took;
    let record_bytes = (log_bytes / n).round() as usize;

    // The disk's best for the same work: each producer has one record in
    // flight, acknowledged only once synced, so at most `producers` records
    // can share an fdatasync. One writer holding all of them writes them
    // sequentially, in one write of the same on-disk bytes, then fdatasyncs.
    let baseline_secs = (args.seconds / 2.0).max(1.0);
    let chunk = record_bytes * args.producers;
    let (disk_ops, disk_bps) = disk_write_sync(dir.path(), chunk, baseline_secs)?;
    let (disk_one_ops, _) = disk_write_sync(dir.path(), record_bytes, baseline_secs / 2.0)?;
    let (_, disk_mib_bps) = disk_write_sync(dir.path(), 1 << 20, baseline_secs / 2.0)?;
    let ratio = log_bps / disk_bps;
    let ok = ratio >= 0.5;
    println!(
        "(c) embedded appends, {} producers, 100 B records ({record_bytes} B on disk each), {} shards, fdatasync group commit: {} records/s, {:.2} MB/s written to segments",
        args.producers,
        args.shards,
        thousands(n / took),
        log_bps / 1e6
    );
    println!(
        "    disk, same directory, one writer: sequential {chunk} B writes ({} records) + fdatasync: {} writes/s = {} records/s, {:.2} MB/s",
        args.producers,
        thousands(disk_ops),
        thousands(disk_ops * args.producers as f64),
        disk_bps / 1e6
    );
    println!(
        "    for scale: {record_bytes} B write + fdatasync {} writes/s; 1 MiB write + fdatasync {:.1} MB/s",
        thousands(disk_one_ops),
        disk_mib_bps / 1e6
    );
    println!(
        "    log / disk = {:.2}; target >= 0.50: {}",
        ratio,
        verdict(ok)
    );
    Ok(ok)
}

/// The disk's own latency of a 100-byte write + `fdatasync` in `dir`, for
/// `seconds`: (p50, p99) in ms. Put-to-get latency cannot beat it.
fn disk_sync_latency(dir: &Path, seconds: f64) -> anyhow::Result<(f64, f64)> {
    let path = dir.join("disk-latency.bin");
    let mut file = std::fs::File::create(&path)?;
    let start = Instant::now();
    let mut took_us = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        file.write_all(&[0x5a; 100])?;
        file.sync_data()?;
        took_us.push(t.elapsed().as_micros() as u64);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    took_us.sort_unstable();
    let pct = |p: f64| took_us[((took_us.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    Ok((pct(0.5), pct(0.99)))
}

async fn bench_d(args: &Args, base: &Path) -> anyhow::Result<bool> {
    let disk = {
        let dir = tempfile::tempdir_in(base)?;
        let seconds = (args.seconds / 5.0).max(1.0);
        tokio::task::spawn_blocking(move || disk_sync_latency(dir.path(), seconds)).await??
    };
    let server = start_server(base).await?;
    create_active(&server.kds, "bench-d", 1)?;
    // One h2c connection carries the puts concurrently, one HTTP/1.1 the reads.
    let tcp = tokio::net::TcpStream::connect(server.addr).await?;
    tcp.set_nodelay(true)?;
    let (put, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let tcp = tokio::net::TcpStream::connect(server.addr).await?;
    tcp.set_nodelay(true)?;
    let (mut get, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);

    let it = answer(
        get.send_request(request(
            "GetShardIterator",
            Bytes::from_static(
                br#"{"StreamName":"bench-d","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"}"#,
            ),
        )?)
        .await?,
    )
    .await?;
    let it: serde_json::Value = serde_json::from_slice(&it)?;
    let mut iterator = it["ShardIterator"]
        .as_str()
        .context("no ShardIterator")?
        .to_owned();

    let epoch = Instant::now();
    let total = (args.seconds * 1000.0) as usize;
    let producer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut puts = Vec::with_capacity(total);
        for i in 0..total {
            tick.tick().await;
            let sent_us = epoch.elapsed().as_micros() as u64;
            let mut data = sent_us.to_be_bytes().to_vec();
            data.resize(100, b'.');
            let body = format!(
                "{{\"StreamName\":\"bench-d\",\"PartitionKey\":\"pk-{i}\",\"Data\":\"{}\"}}",
                B64.encode(&data)
            );
            let mut put = put.clone();
            puts.push(tokio::spawn(async move {
                put.ready().await?;
                answer(
                    put.send_request(request("PutRecord", Bytes::from(body))?)
                        .await?,
                )
                .await?;
                anyhow::Ok(())
            }));
        }
        for p in puts {
            p.await??;
        }
        anyhow::Ok(())
    });

    let mut latencies_us: Vec<u64> = Vec::with_capacity(total);
    let give_up = Instant::now() + Duration::from_secs_f64(args.seconds + 10.0);
    while latencies_us.len() < total && Instant::now() < give_up {
        get.ready().await?;
        let body = Bytes::from(format!("{{\"ShardIterator\":\"{iterator}\"}}"));
        let out = answer(get.send_request(request("GetRecords", body)?).await?).await?;
        let now_us = epoch.elapsed().as_micros() as u64;
        let v: serde_json::Value = serde_json::from_slice(&out)?;
        let records = v["Records"].as_array().cloned().unwrap_or_default();
        for r in &records {
            let data = B64.decode(r["Data"].as_str().unwrap_or(""))?;
            let sent = data
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .context("record without its send time")?;
            latencies_us.push(now_us.saturating_sub(sent));
        }
        iterator = v["NextShardIterator"]
            .as_str()
            .context("no NextShardIterator")?
            .to_owned();
        if records.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    producer.await??;
    server.shutdown().await;
    if latencies_us.len() < total {
        bail!("(d) read {} of {total} records", latencies_us.len());
    }
    latencies_us.sort_unstable();
    let pct = |p: f64| latencies_us[((latencies_us.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let (p50, p99, max) = (pct(0.50), pct(0.99), pct(1.0));
    let ok = p99 < 10.0;
    println!(
        "(d) put-to-get latency over HTTP at 1,000 records/s, {} records: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; target p99 < 10 ms: {}",
        latencies_us.len(),
        verdict(ok)
    );
    println!(
        "    disk, same directory: 100 B write + fdatasync p50 {:.2} ms, p99 {:.2} ms",
        disk.0, disk.1
    );
    Ok(ok)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let which: Vec<char> = match args.which.as_str() {
        "all" => vec!['a', 'b', 'c', 'd'],
        w if !w.is_empty() && w.chars().all(|c| "abcd".contains(c)) => w.chars().collect(),
        other => bail!("benchmark must be a, b, c, d (or several, like bd) or all, not {other:?}"),
    };
    let mut missed = Vec::new();
    for w in which {
        let ok = match w {
            'a' => bench_a(&args, &base).await?,
            'b' => bench_b(&args, &base).await?,
            'c' => {
                let (a, b) = (args.clone(), base.clone());
                tokio::task::spawn_blocking(move || bench_c(&a, &b)).await??
            }
            _ => bench_d(&args, &base).await?,
        };
        if !ok {
            missed.push(w);
        }
    }
    if !missed.is_empty() {
        println!("targets missed: {missed:?}");
    }
    Ok(())
}
