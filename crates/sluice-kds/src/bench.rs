//! The shard log's benchmarks, each measured against its target and, where
//! there is one, a baseline measured in the same run. Entry point: [`run`],
//! which returns one [`Figure`] per [`Bench`]; `sluice bench --mode kds`
//! prints them (as does the `kds-bench` example).
//!
//! - (a) [`Bench::Boto3PutRecords`]: one boto3 client
//!   (`tests/clients/bench_put_records.py`, run with the venv's python:
//!   [`BenchOptions::venv`], else `$SLUICE_VENV`, else `./.venv`, as
//!   `.ci/setup` makes it) sending PutRecords of 500 × 100-byte records to a
//!   4-shard stream: target ≥ 25,000 records/s. Without that python (or
//!   without boto3 in it) the figure says it was not run, and why.
//! - (b) [`Bench::RustPutRecords`]: a Rust load generator (hyper HTTP/1.1
//!   clients on [`BenchOptions::connections`] connections) sending the same
//!   PutRecords: target ≥ 200,000 records/s.
//! - (c) [`Bench::EmbeddedAppends`]: embedded appends ([`Kds::put_record`],
//!   no HTTP) of 100-byte records from [`BenchOptions::producers`] threads,
//!   `fdatasync` group commit, against the disk's own sequential write +
//!   `fdatasync` speed measured in the same directory in the same run:
//!   target ≥ half. The disk figure is the best a single writer can do
//!   under the same rule (a record is acknowledged only once synced, one
//!   record in flight per producer): one sequential write of `producers`
//!   records' on-disk bytes, then `fdatasync`, repeated. Figures for one
//!   record per sync and 1 MiB per sync are in the figure's notes, for scale.
//!   The log cannot share one sync across shards (a shard is its own file),
//!   so at most about `producers / shards` records share each of its
//!   `fdatasync`s (shard.rs's group commit); and each append puts its
//!   producer thread to sleep and wakes it once synced, so with many more
//!   producers than cores the figure is also bounded by the CPU.
//! - (d) [`Bench::PutToGetLatency`]: put-to-get latency over HTTP at 1,000
//!   records/s (PutRecord over h2c to a 1-shard stream, a reader polling
//!   GetRecords): target p99 < 10 ms; the baseline is the disk's own
//!   100-byte write + `fdatasync` latency in the same directory.
//! - (e) [`Bench::EmbeddedAppendsAsync`]: (c) with the producers as tokio
//!   tasks on a worker thread per core, appending with
//!   [`Kds::put_record_async`]: the same records, commits, baseline and
//!   target, without a thread's sleep and wake per append.
//!
//! Every benchmark checks its own answer, so a fast wrong one cannot pass:
//! (a)–(c) and (e) read every record back from the log and compare the
//! count (and, for (b), (c) and (e), each record's data) with what was
//! acknowledged; (d) must read back exactly the records it put. A wrong
//! answer is an error ([`KdsError::Bench`]), not a missed target.
//!
//! Servers run in this process on a loopback port with the system clock,
//! in a tokio runtime that [`run`] makes, their data in fresh directories
//! under [`BenchOptions::data_dir`] (default: the system's temp directory),
//! removed afterwards.

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;

use crate::{ApiOptions, IteratorStart, Kds, KdsApi, KdsError, KdsOptions, PutEntry, Record};
use crate::{Result, SystemClock};
pub use sluice_bench::{Baseline, Figure, Target, Unit, thousands};

/// The boto3 client of benchmark (a), written next to its data when it runs.
const BOTO3_SCRIPT: &str = include_str!("../tests/clients/bench_put_records.py");

/// One of the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bench {
    /// (a) one boto3 client, PutRecords.
    Boto3PutRecords,
    /// (b) the Rust HTTP load generator, PutRecords.
    RustPutRecords,
    /// (c) embedded appends with group commit against the disk's own rate.
    EmbeddedAppends,
    /// (d) put-to-get latency over HTTP.
    PutToGetLatency,
    /// (e) embedded appends from async tasks, otherwise as (c).
    EmbeddedAppendsAsync,
}

impl Bench {
    /// (a), (b), (c), (d), (e), in that order.
    pub const ALL: [Bench; 5] = [
        Bench::Boto3PutRecords,
        Bench::RustPutRecords,
        Bench::EmbeddedAppends,
        Bench::PutToGetLatency,
        Bench::EmbeddedAppendsAsync,
    ];

    /// Its letter: a, b, c, d or e.
    pub fn letter(self) -> char {
        match self {
            Bench::Boto3PutRecords => 'a',
            Bench::RustPutRecords => 'b',
            Bench::EmbeddedAppends => 'c',
            Bench::PutToGetLatency => 'd',
            Bench::EmbeddedAppendsAsync => 'e',
        }
    }

    /// `all`, or letters such as `a` or `bd`, as benchmarks in the order given.
    pub fn parse_list(text: &str) -> Result<Vec<Bench>> {
        if text == "all" {
            return Ok(Bench::ALL.to_vec());
        }
        let invalid = || KdsError::Bench {
            what: "selection".into(),
            reason: format!("expected a, b, c, d, e (or several, like bd) or all, not {text:?}"),
        };
        if text.is_empty() {
            return Err(invalid());
        }
        text.chars()
            .map(|c| {
                Bench::ALL
                    .into_iter()
                    .find(|b| b.letter() == c)
                    .ok_or_else(invalid)
            })
            .collect()
    }
}

/// How the benchmarks run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Seconds each benchmark runs (the disk baselines take a fraction more).
    pub seconds: f64,
    /// HTTP connections of the Rust load generator (b).
    pub connections: usize,
    /// Producers of the embedded benchmarks: threads for (c), tasks for (e).
    pub producers: usize,
    /// Shards of the embedded benchmarks' stream ((c) and (e)).
    pub shards: u32,
    /// Where the data directories go; `None`: the system's temp directory.
    pub data_dir: Option<PathBuf>,
    /// The Python venv with boto3 for (a); `None`: `$SLUICE_VENV`, else `./.venv`.
    pub venv: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seconds: 10.0,
            connections: 8,
            producers: 64,
            shards: 4,
            data_dir: None,
            venv: None,
        }
    }
}

/// `bench`'s figure: `value` in `unit`, with `detail`, beside `baseline`
/// where there is one, against `target`.
fn measured(
    bench: Bench,
    name: String,
    (value, unit): (f64, Unit),
    detail: String,
    baseline: Option<Baseline>,
    target: Target,
) -> Figure {
    let figure = Figure::new(name, value, unit)
        .with_label(bench.letter())
        .with_detail(detail);
    match baseline {
        Some(b) => figure.with_baseline(b),
        None => figure,
    }
    .with_target(target)
}

/// `bench`'s figure when it could not run, and why.
fn not_run(bench: Bench, name: String, unit: Unit, target: Target, why: String) -> Figure {
    Figure::not_run(name, unit, why)
        .with_label(bench.letter())
        .with_target(target)
}

/// Runs the benchmarks `which`, in order, and returns their figures.
///
/// A benchmark that cannot start (no data directory, no port) or that gets
/// a wrong answer fails the whole run; one whose tools are missing ((a)
/// without a python that has boto3) is returned as not run.
pub fn run(which: &[Bench], opts: &BenchOptions) -> Result<Vec<Figure>> {
    check_options(opts)?;
    let base = opts.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(KdsError::io(&base))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx("runtime", "starting a tokio runtime")?;
    let mut figures = Vec::with_capacity(which.len());
    for bench in which {
        figures.push(match bench {
            Bench::Boto3PutRecords => runtime.block_on(bench_a(opts, &base))?,
            Bench::RustPutRecords => runtime.block_on(bench_b(opts, &base))?,
            Bench::EmbeddedAppends | Bench::EmbeddedAppendsAsync => bench_c(*bench, opts, &base)?,
            Bench::PutToGetLatency => runtime.block_on(bench_d(opts, &base))?,
        });
    }
    Ok(figures)
}

fn check_options(opts: &BenchOptions) -> Result<()> {
    let bad = |reason: String| {
        Err(KdsError::Bench {
            what: "options".into(),
            reason,
        })
    };
    if !(opts.seconds.is_finite() && opts.seconds > 0.0) {
        return bad(format!("seconds must be above 0, not {}", opts.seconds));
    }
    if opts.connections == 0 || opts.producers == 0 || opts.shards == 0 {
        return bad("connections, producers and shards must each be at least 1".into());
    }
    Ok(())
}

/// Turns any error into [`KdsError::Bench`], naming the benchmark and the step.
trait Context<T> {
    fn ctx(self, what: &str, step: &str) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str, step: &str) -> Result<T> {
        self.map_err(|e| KdsError::Bench {
            what: what.to_owned(),
            reason: format!("{step}: {e}"),
        })
    }
}

fn wrong(what: &str, reason: String) -> KdsError {
    KdsError::Bench {
        what: what.to_owned(),
        reason,
    }
}

/// The log and its API server on a loopback port.
struct Server {
    kds: Kds,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

async fn start_server(what: &str, base: &Path) -> Result<Server> {
    let dir = tempfile::tempdir_in(base).map_err(KdsError::io(base))?;
    let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .ctx(what, "binding a loopback port")?;
    let addr = listener.local_addr().ctx(what, "reading the port")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let api = KdsApi::new(kds.clone(), ApiOptions::default());
    let task = tokio::spawn(crate::serve(listener, api, async {
        let _ = stopped.await;
    }));
    Ok(Server {
        kds,
        addr,
        stop,
        task,
        dir,
    })
}

impl Server {
    /// Stops serving; the log stays open for reading back, in its directory.
    async fn shutdown(self) -> (Kds, tempfile::TempDir) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        (self.kds, self.dir)
    }
}

fn create_active(kds: &Kds, name: &str, shards: u32) -> Result<()> {
    kds.create_stream(name, Some(shards))?;
    for _ in 0..1000 {
        if kds.describe_stream(name)?.status == "ACTIVE" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(wrong(name, "the stream did not become ACTIVE".into()))
}

/// Reads every record of `stream` back from the log, from each shard's trim
/// horizon to its end, calling `check` on each; returns how many there were.
fn read_back(kds: &Kds, stream: &str, mut check: impl FnMut(&Record) -> Result<()>) -> Result<u64> {
    let mut n = 0u64;
    for shard in kds.describe_stream(stream)?.shards {
        let mut it =
            kds.get_shard_iterator(stream, &shard.shard_id, &IteratorStart::TrimHorizon)?;
        loop {
            let out = kds.get_records(&it, 10_000)?;
            for r in &out.records {
                check(r)?;
            }
            n += out.records.len() as u64;
            match out.next_shard_iterator {
                Some(next) if !(out.records.is_empty() && out.millis_behind_latest == 0) => {
                    it = next;
                }
                _ => break,
            }
        }
    }
    Ok(n)
}

/// A 100-byte record payload that differs per record.
fn payload(i: usize) -> Vec<u8> {
    format!("{i:0>100}").into_bytes()
}

/// Checks that a record written as `pk-N` with [`payload`]`(N)` came back so.
fn check_payload(what: &str, r: &Record) -> Result<()> {
    let n = r
        .partition_key
        .strip_prefix("pk-")
        .and_then(|n| n.parse::<usize>().ok());
    match n {
        Some(n) if r.data == payload(n) => Ok(()),
        _ => Err(wrong(
            what,
            format!(
                "record {} (partition key {}) came back with other data",
                r.sequence_number, r.partition_key
            ),
        )),
    }
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

fn request(target: &str, body: Bytes) -> Result<http::Request<Full<Bytes>>> {
    http::Request::post("/")
        .header("host", "127.0.0.1")
        .header("x-amz-target", format!("Kinesis_20131202.{target}"))
        .header("content-type", "application/x-amz-json-1.1")
        // The form AWS requires; the server under test checks no signature.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("x-amz-date", "20260101T000000Z")
        .body(Full::new(body))
        .ctx(target, "building the request")
}

/// The body of a successful answer; an HTTP error status is an error.
async fn answer(what: &str, resp: http::Response<hyper::body::Incoming>) -> Result<Bytes> {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .ctx(what, "reading an answer")?
        .to_bytes();
    if !status.is_success() {
        return Err(wrong(
            what,
            format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
        ));
    }
    Ok(body)
}

/// (a): one boto3 client, through the venv's python.
async fn bench_a(opts: &BenchOptions, base: &Path) -> Result<Figure> {
    const WHAT: &str = "(a)";
    let name = "one boto3 client, PutRecords 500 x 100 B, 4 shards".to_owned();
    let (unit, target) = (Unit::RecordsPerSecond, Target::AtLeast(25_000.0));
    let venv = opts
        .venv
        .clone()
        .or_else(|| std::env::var_os("SLUICE_VENV").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".venv"));
    let python = venv.join("bin/python");
    if !python.exists() {
        let why = format!(
            "no python at {}: run `bash .ci/setup` from the repository root (it makes ./.venv with boto3), or set SLUICE_VENV",
            python.display()
        );
        return Ok(not_run(Bench::Boto3PutRecords, name, unit, target, why));
    }
    let probe = std::process::Command::new(&python)
        .args(["-c", "import boto3"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = format!(
                "{} cannot import boto3 ({}): run `bash .ci/setup`, or set SLUICE_VENV",
                python.display(),
                stderr.trim().lines().last().unwrap_or("no message")
            );
            return Ok(not_run(Bench::Boto3PutRecords, name, unit, target, why));
        }
        Err(e) => {
            let why = format!("cannot start {}: {e}", python.display());
            return Ok(not_run(Bench::Boto3PutRecords, name, unit, target, why));
        }
    }

    let server = start_server(WHAT, base).await?;
    create_active(&server.kds, "bench-a", 4)?;
    let script = server.dir.path().join("bench_put_records.py");
    std::fs::write(&script, BOTO3_SCRIPT).map_err(KdsError::io(&script))?;
    let mut command = std::process::Command::new(&python);
    command
        .arg(&script)
        .arg(format!("http://{}", server.addr))
        .arg("bench-a")
        .arg(opts.seconds.to_string());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .ctx(WHAT, "waiting for the client")?
        .ctx(WHAT, &format!("running {}", python.display()))?;
    let (kds, _dir) = server.shutdown().await;
    if !out.status.success() {
        return Err(wrong(
            WHAT,
            format!(
                "the boto3 client failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    // "<records> records in <seconds> s: <rate> records/s"
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut words = line.split_whitespace();
    let sent: Option<u64> = words.next().and_then(|w| w.parse().ok());
    let took: Option<f64> = words.nth(2).and_then(|w| w.parse().ok());
    let (Some(sent), Some(took)) = (sent, took) else {
        return Err(wrong(WHAT, format!("unexpected client output: {line:?}")));
    };
    // The client also sends one batch of 500 to warm up, not timed.
    let stored = read_back(&kds, "bench-a", |r| {
        if r.data.len() == 100 {
            Ok(())
        } else {
            Err(wrong(WHAT, format!("a record of {} bytes", r.data.len())))
        }
    })?;
    if stored != sent + 500 {
        return Err(wrong(
            WHAT,
            format!(
                "the log holds {stored} records; the client had {} acknowledged",
                sent + 500
            ),
        ));
    }
    let rate = sent as f64 / took;
    Ok(measured(
        Bench::Boto3PutRecords,
        name,
        (rate, unit),
        format!("{sent} in {took:.1} s, all read back"),
        None,
        target,
    ))
}

/// (b): the Rust load generator over HTTP/1.1.
async fn bench_b(opts: &BenchOptions, base: &Path) -> Result<Figure> {
    const WHAT: &str = "(b)";
    let server = start_server(WHAT, base).await?;
    create_active(&server.kds, "bench-b", 4)?;
    let bodies: Arc<Vec<Bytes>> =
        Arc::new((0..16).map(|b| put_records_body("bench-b", b)).collect());
    let records = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(opts.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..opts.connections {
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .ctx(WHAT, "connecting")?;
        tcp.set_nodelay(true).ctx(WHAT, "setting TCP_NODELAY")?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .ctx(WHAT, "HTTP/1.1 handshake")?;
        tokio::spawn(conn);
        let (bodies, records, failed) = (bodies.clone(), records.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < deadline {
                send.ready().await.ctx(WHAT, "waiting for the connection")?;
                let body = bodies[i % bodies.len()].clone();
                let resp = send
                    .send_request(request("PutRecords", body)?)
                    .await
                    .ctx(WHAT, "PutRecords")?;
                let out = answer(WHAT, resp).await?;
                // Count failures without decoding 500 results on the hot path.
                if !out
                    .windows(b"\"FailedRecordCount\":0".len())
                    .any(|w| w == b"\"FailedRecordCount\":0")
                {
                    let v: serde_json::Value =
                        serde_json::from_slice(&out).ctx(WHAT, "decoding PutRecords' answer")?;
                    failed.fetch_add(
                        v["FailedRecordCount"].as_u64().unwrap_or(500),
                        Ordering::Relaxed,
                    );
                }
                records.fetch_add(500, Ordering::Relaxed);
                i += 7;
            }
            Ok::<(), KdsError>(())
        }));
    }
    for t in tasks {
        t.await.ctx(WHAT, "a connection's task")??;
    }
    let took = start.elapsed().as_secs_f64();
    let (kds, _dir) = server.shutdown().await;
    let sent = records.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(wrong(WHAT, format!("{failed} of {sent} records failed")));
    }
    let stored = read_back(&kds, "bench-b", |r| check_payload(WHAT, r))?;
    if stored != sent {
        return Err(wrong(
            WHAT,
            format!("the log holds {stored} records; {sent} were acknowledged"),
        ));
    }
    Ok(measured(
        Bench::RustPutRecords,
        format!(
            "Rust load generator, {} HTTP/1.1 connections, PutRecords 500 x 100 B, 4 shards",
            opts.connections
        ),
        (sent as f64 / took, Unit::RecordsPerSecond),
        format!("{sent} in {took:.1} s, all read back"),
        None,
        Target::AtLeast(200_000.0),
    ))
}

/// Bytes of segment data under `dir`: each segment file up to the end of
/// its last whole batch, not counting the zeros preallocated ahead of it.
fn segment_bytes(dir: &Path) -> Result<u64> {
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
                let file = std::fs::File::open(&p).map_err(KdsError::io(&p))?;
                total += crate::segment::scan_segment(&file, &p, true, None)?.valid_len;
            }
        }
    }
    Ok(total)
}

/// The disk's own speed: `chunk`-byte sequential writes each followed by
/// `fdatasync`, for `seconds`; returns (writes/s, bytes/s).
fn disk_write_sync(dir: &Path, chunk: usize, seconds: f64) -> Result<(f64, f64)> {
    let path = dir.join(format!("disk-baseline-{chunk}.bin"));
    let io = KdsError::io(&path);
    let mut file = std::fs::File::create(&path).map_err(KdsError::io(&path))?;
    let buf = vec![0x5au8; chunk.max(1)];
    let start = Instant::now();
    let mut writes = 0u64;
    let wrote = (|| {
        while start.elapsed().as_secs_f64() < seconds {
            file.write_all(&buf)?;
            file.sync_data()?;
            writes += 1;
        }
        drop(file);
        std::fs::remove_file(&path)
    })();
    wrote.map_err(io)?;
    let took = start.elapsed().as_secs_f64();
    Ok((
        writes as f64 / took,
        writes as f64 * buf.len() as f64 / took,
    ))
}

/// How far apart one producer's record numbers of (c) and (e) are (so no
/// two producers share a number).
const PRODUCER_STRIDE: usize = 1_000_003;

/// Bytes on disk of a batch of one record of (c) and (e), as the segment
/// encoder lays it out, for a producer's 1,000th record (keys grow with the
/// record number). The baseline measured before the appends writes this
/// many per record; the one after, the mean the appends wrote.
fn one_record_batch_bytes() -> usize {
    let entry = bench_entry(1_000 * PRODUCER_STRIDE);
    let record = crate::segment::StoredRecord {
        partition_key: entry.partition_key,
        explicit_hash_key: entry.explicit_hash_key,
        data: entry.data,
    };
    crate::segment::encode_batch(0, 0, &[record]).len()
}

/// The `i`-th record of producer-numbered entries of (c) and (e).
fn bench_entry(i: usize) -> PutEntry {
    PutEntry {
        partition_key: format!("pk-{i}"),
        explicit_hash_key: None,
        data: payload(i),
    }
}

/// (c)'s producers: threads, each appending with [`Kds::put_record`]
/// until stopped. Returns the records acknowledged.
fn append_from_threads(kds: &Kds, stream: &str, opts: &BenchOptions) -> Result<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..opts.producers)
        .map(|p| {
            let (kds, stop, appended) = (kds.clone(), stop.clone(), appended.clone());
            let stream = stream.to_owned();
            std::thread::spawn(move || -> Result<()> {
                let mut i = p;
                while !stop.load(Ordering::Relaxed) {
                    kds.put_record(&stream, bench_entry(i))?;
                    appended.fetch_add(1, Ordering::Relaxed);
                    i += PRODUCER_STRIDE;
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(opts.seconds));
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join()
            .map_err(|_| wrong("(c)", "a producer thread panicked".into()))??;
    }
    Ok(appended.load(Ordering::Relaxed))
}

/// (e)'s producers: tasks on a tokio runtime with a worker thread per
/// core, each appending with [`Kds::put_record_async`] until stopped.
/// Returns the records acknowledged.
fn append_from_tasks(kds: &Kds, stream: &str, opts: &BenchOptions) -> Result<u64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx("(e)", "starting a tokio runtime")?;
    runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let appended = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (0..opts.producers)
            .map(|p| {
                let (kds, stop, appended) = (kds.clone(), stop.clone(), appended.clone());
                let stream = stream.to_owned();
                tokio::spawn(async move {
                    let mut i = p;
                    while !stop.load(Ordering::Relaxed) {
                        kds.put_record_async(&stream, bench_entry(i)).await?;
                        appended.fetch_add(1, Ordering::Relaxed);
                        i += PRODUCER_STRIDE;
                    }
                    Ok::<(), KdsError>(())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(opts.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for p in producers {
            p.await
                .map_err(|_| wrong("(e)", "a producer task panicked".into()))??;
        }
        Ok(appended.load(Ordering::Relaxed))
    })
}

/// (c) and (e): embedded appends from many threads or tasks, against the
/// disk's own speed.
fn bench_c(bench: Bench, opts: &BenchOptions, base: &Path) -> Result<Figure> {
    let is_async = bench == Bench::EmbeddedAppendsAsync;
    let what = if is_async { "(e)" } else { "(c)" };
    let stream = if is_async { "bench-e" } else { "bench-c" };
    let dir = tempfile::tempdir_in(base).map_err(KdsError::io(base))?;
    let log_dir = dir.path().join("log");
    // The disk's best for the same work: each producer has one record in
    // flight, acknowledged only once synced, so at most `producers` records
    // can share an fdatasync. One writer holding all of them writes them
    // sequentially, in one write of the same on-disk bytes, then fdatasyncs.
    // Measured before and after the appends (the disk's speed drifts), the
    // mean is the baseline.
    let baseline_secs = (opts.seconds / 4.0).max(0.5);
    let chunk = |record_bytes: usize| record_bytes * opts.producers;
    let before = disk_write_sync(dir.path(), chunk(one_record_batch_bytes()), baseline_secs)?;
    let kds = Kds::open(&log_dir, KdsOptions::default(), Arc::new(SystemClock))?;
    create_active(&kds, stream, opts.shards)?;
    let start = Instant::now();
    let appended = if is_async {
        append_from_tasks(&kds, stream, opts)?
    } else {
        append_from_threads(&kds, stream, opts)?
    };
    let took = start.elapsed().as_secs_f64();
    let log_bytes = segment_bytes(&log_dir)? as f64;
    if appended == 0 {
        return Err(wrong(what, "no record was appended".into()));
    }
    let stored = read_back(&kds, stream, |r| check_payload(what, r))?;
    drop(kds);
    if stored != appended {
        return Err(wrong(
            what,
            format!("the log holds {stored} records; {appended} were acknowledged"),
        ));
    }
    let n = appended as f64;
    let log_bps = log_bytes / took;
    let record_bytes = (log_bytes / n).round() as usize;
    let chunk = chunk(record_bytes);
    let after = disk_write_sync(dir.path(), chunk, baseline_secs)?;
    let (disk_ops, disk_bps) = ((before.0 + after.0) / 2.0, (before.1 + after.1) / 2.0);
    let (disk_one_ops, _) = disk_write_sync(dir.path(), record_bytes, baseline_secs / 2.0)?;
    let (_, disk_mib_bps) = disk_write_sync(dir.path(), 1 << 20, baseline_secs / 2.0)?;
    let producers = if is_async {
        format!(
            "{} async tasks (put_record_async) on {} worker threads",
            opts.producers,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        )
    } else {
        format!("{} producer threads (put_record)", opts.producers)
    };
    let mut figure = measured(
        bench,
        format!(
            "embedded appends, {producers}, 100 B records ({record_bytes} B on disk each), {} shards, fdatasync group commit, written to segments",
            opts.shards
        ),
        (log_bps / 1e6, Unit::MegabytesPerSecond),
        format!("{} records/s, all read back", thousands(n / took)),
        Some(Baseline {
            name: format!(
                "disk, same directory, one writer, sequential {chunk} B writes ({} records) + fdatasync",
                opts.producers
            ),
            value: disk_bps / 1e6,
            detail: format!(
                "{} writes/s = {} records/s; mean of {:.2} MB/s before and {:.2} after",
                thousands(disk_ops),
                thousands(disk_ops * opts.producers as f64),
                before.1 / 1e6,
                after.1 / 1e6
            ),
        }),
        Target::FractionOfBaseline(0.5),
    );
    figure.notes.push(format!(
        "for scale: {record_bytes} B write + fdatasync {} writes/s; 1 MiB write + fdatasync {:.1} MB/s",
        thousands(disk_one_ops),
        disk_mib_bps / 1e6
    ));
    Ok(figure)
}

/// The disk's own latency of a 100-byte write + `fdatasync` in `dir`, for
/// `seconds`: (p50, p99) in ms. Put-to-get latency cannot beat it.
fn disk_sync_latency(dir: &Path, seconds: f64) -> Result<(f64, f64)> {
    let path = dir.join("disk-latency.bin");
    let io = KdsError::io(&path);
    let mut file = std::fs::File::create(&path).map_err(KdsError::io(&path))?;
    let start = Instant::now();
    let mut took_us = Vec::new();
    let wrote = (|| {
        while start.elapsed().as_secs_f64() < seconds {
            let t = Instant::now();
            file.write_all(&[0x5a; 100])?;
            file.sync_data()?;
            took_us.push(t.elapsed().as_micros() as u64);
        }
        drop(file);
        std::fs::remove_file(&path)
    })();
    wrote.map_err(io)?;
    took_us.sort_unstable();
    Ok((
        percentile(&took_us, 0.5) / 1000.0,
        percentile(&took_us, 0.99) / 1000.0,
    ))
}

/// The `p` quantile (0..=1) of sorted values; NaN when there are none.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64
}

/// (d): put-to-get latency over HTTP at 1,000 records/s.
async fn bench_d(opts: &BenchOptions, base: &Path) -> Result<Figure> {
    const WHAT: &str = "(d)";
    let disk = {
        let dir = tempfile::tempdir_in(base).map_err(KdsError::io(base))?;
        let seconds = (opts.seconds / 5.0).max(1.0);
        tokio::task::spawn_blocking(move || disk_sync_latency(dir.path(), seconds))
            .await
            .ctx(WHAT, "measuring the disk")??
    };
    let server = start_server(WHAT, base).await?;
    create_active(&server.kds, "bench-d", 1)?;
    // One h2c connection carries the puts concurrently, one HTTP/1.1 the reads.
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .ctx(WHAT, "connecting")?;
    tcp.set_nodelay(true).ctx(WHAT, "setting TCP_NODELAY")?;
    let (put, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .ctx(WHAT, "h2c handshake")?;
    tokio::spawn(conn);
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .ctx(WHAT, "connecting")?;
    tcp.set_nodelay(true).ctx(WHAT, "setting TCP_NODELAY")?;
    let (mut get, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .ctx(WHAT, "HTTP/1.1 handshake")?;
    tokio::spawn(conn);

    let resp = get
        .send_request(request(
            "GetShardIterator",
            Bytes::from_static(
                br#"{"StreamName":"bench-d","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"}"#,
            ),
        )?)
        .await
        .ctx(WHAT, "GetShardIterator")?;
    let it: serde_json::Value = serde_json::from_slice(&answer(WHAT, resp).await?)
        .ctx(WHAT, "decoding GetShardIterator's answer")?;
    let mut iterator = it["ShardIterator"]
        .as_str()
        .ok_or_else(|| wrong(WHAT, "GetShardIterator gave no ShardIterator".into()))?
        .to_owned();

    let epoch = Instant::now();
    let total = ((opts.seconds * 1000.0) as usize).max(1);
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
                put.ready().await.ctx(WHAT, "waiting for the connection")?;
                let resp = put
                    .send_request(request("PutRecord", Bytes::from(body))?)
                    .await
                    .ctx(WHAT, "PutRecord")?;
                answer(WHAT, resp).await.map(|_| ())
            }));
        }
        for p in puts {
            p.await.ctx(WHAT, "a PutRecord task")??;
        }
        Ok::<(), KdsError>(())
    });

    let mut latencies_us: Vec<u64> = Vec::with_capacity(total);
    let give_up = Instant::now() + Duration::from_secs_f64(opts.seconds + 10.0);
    while latencies_us.len() < total && Instant::now() < give_up {
        get.ready().await.ctx(WHAT, "waiting for the connection")?;
        let body = Bytes::from(format!("{{\"ShardIterator\":\"{iterator}\"}}"));
        let resp = get
            .send_request(request("GetRecords", body)?)
            .await
            .ctx(WHAT, "GetRecords")?;
        let out = answer(WHAT, resp).await?;
        let now_us = epoch.elapsed().as_micros() as u64;
        let v: serde_json::Value =
            serde_json::from_slice(&out).ctx(WHAT, "decoding GetRecords' answer")?;
        let records = v["Records"].as_array().cloned().unwrap_or_default();
        for r in &records {
            let data = B64
                .decode(r["Data"].as_str().unwrap_or(""))
                .ctx(WHAT, "decoding a record's Data")?;
            let sent = data
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| wrong(WHAT, "a record without its send time".into()))?;
            latencies_us.push(now_us.saturating_sub(sent));
        }
        iterator = v["NextShardIterator"]
            .as_str()
            .ok_or_else(|| wrong(WHAT, "GetRecords gave no NextShardIterator".into()))?
            .to_owned();
        if records.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    producer.await.ctx(WHAT, "the producer task")??;
    let (kds, _dir) = server.shutdown().await;
    if latencies_us.len() != total {
        return Err(wrong(
            WHAT,
            format!("read {} of the {total} records put", latencies_us.len()),
        ));
    }
    let stored = read_back(&kds, "bench-d", |_| Ok(()))?;
    if stored != total as u64 {
        return Err(wrong(
            WHAT,
            format!("the log holds {stored} records; {total} were put"),
        ));
    }
    latencies_us.sort_unstable();
    let ms = |p: f64| percentile(&latencies_us, p) / 1000.0;
    let (p50, p99, max) = (ms(0.50), ms(0.99), ms(1.0));
    Ok(measured(
        Bench::PutToGetLatency,
        "put-to-get latency p99 over HTTP at 1,000 records/s".to_owned(),
        (p99, Unit::Milliseconds),
        format!("p50 {p50:.2} ms, max {max:.2} ms, {total} records"),
        Some(Baseline {
            name: "disk, same directory, 100 B write + fdatasync p99".to_owned(),
            value: disk.1,
            detail: format!("p50 {:.2} ms", disk.0),
        }),
        Target::Below(10.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selections() {
        assert_eq!(Bench::parse_list("all").unwrap(), Bench::ALL.to_vec());
        assert_eq!(
            Bench::parse_list("db").unwrap(),
            vec![Bench::PutToGetLatency, Bench::RustPutRecords]
        );
        assert!(Bench::parse_list("").is_err());
        assert!(Bench::parse_list("ax").is_err());
    }

    #[test]
    fn figures_are_labelled_with_their_letter() {
        let f = measured(
            Bench::RustPutRecords,
            "gen".into(),
            (1_234_567.0, Unit::RecordsPerSecond),
            "n in 1 s".into(),
            None,
            Target::AtLeast(200_000.0),
        );
        assert_eq!(f.met, Some(true));
        assert_eq!(
            f.to_string(),
            "(b) gen: 1,234,567 records/s (n in 1 s); target >= 200,000 records/s: MET"
        );
        let f = not_run(
            Bench::Boto3PutRecords,
            "boto3".into(),
            Unit::RecordsPerSecond,
            Target::AtLeast(25_000.0),
            "no python".into(),
        );
        assert_eq!(f.met, Some(false));
        assert_eq!(
            f.to_string(),
            "(a) boto3: NOT RUN (target >= 25,000 records/s): no python"
        );
    }

    /// Each benchmark that needs no outside tools, briefly: it must finish
    /// and check its own answer (the figures themselves are not asserted).
    #[test]
    fn short_runs_check_their_answers() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BenchOptions {
            seconds: 0.3,
            connections: 2,
            producers: 4,
            shards: 2,
            data_dir: Some(dir.path().to_path_buf()),
            venv: Some(dir.path().join("no-venv")),
        };
        let figures = run(&Bench::ALL, &opts).unwrap();
        assert_eq!(figures.len(), 5);
        assert!(figures[0].not_run.is_some(), "{}", figures[0]);
        for f in &figures[1..] {
            assert!(f.not_run.is_none() && f.value.is_finite(), "{f}");
        }
        for f in &figures[2..] {
            assert!(f.baseline.is_some(), "{f}");
        }
        assert!(figures[4].name.contains("async tasks"), "{}", figures[4]);
    }
}
