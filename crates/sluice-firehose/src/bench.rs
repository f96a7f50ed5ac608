//! Delivery throughput benchmark for `sluice bench --mode firehose`: [`run`]
//! delivers the same JSON records through a [`DeliveryStream`]
//! uncompressed, GZIP and as Parquet to the local filesystem and reports
//! MB/s beside two baselines measured in the same run: writing the same
//! bytes with `object_store` alone, and the gzip encoder's own speed on
//! them. [`BenchReport::figures`] turns the report into [`Figure`]s, each
//! against its target:
//!
//! - UNCOMPRESSED delivery ([`PRODUCERS`] producers): at least 80% of
//!   `object_store` alone ([`Target::FractionOfBaseline`]).
//! - GZIP delivery: at most 1.2× the encoder's own time on the same bytes
//!   ([`Target::TimeWithin`]).
//!
//! Every delivery is read back from its bucket before it counts: the
//! objects must hold every record's bytes (gunzipped for GZIP) and, for
//! Parquet, every row; a wrong count is [`FirehoseError::Bench`], not a
//! slow figure.
//!
//! What delivery does that the baselines do not: each batch is written to
//! the stream's durable buffer and synced before it is acknowledged (one
//! `fdatasync` shared by the producers waiting at the time, [`crate::commit`],
//! in a buffer file reused from a delivered buffer), then the sealed buffer
//! is written as an object. `object_store` alone writes the page cache and
//! never syncs, so where the disk syncs slower than the page cache takes
//! writes, the UNCOMPRESSED figure is bounded by the sync rate, not by the
//! delivery path. That bound is measured in the same run too
//! ([`BenchReport::disk_synced`]: the same bytes written in 5 MiB writes to
//! one file in the same directory, then one `fdatasync`, the best the disk
//! does under delivery's rule) and printed beside the figure. The
//! `object_store` baseline is the median of three runs, as the page
//! cache's speed swings between runs. GZIP bodies are compressed while the buffer fills, on a
//! thread beside the producers ([`crate::body`]), with the baseline's
//! encoder and settings.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;

use crate::clock::Clock;
use crate::compress::Compression;
use crate::config::Destination;
use crate::error::{FirehoseError, Result};
use crate::store::LocalBuckets;
use crate::stream::DeliveryStream;
pub use sluice_bench::{Baseline, Figure, Target, Unit};

/// Concurrent producers (PutRecordBatch callers of 500 records each).
pub const PRODUCERS: usize = 8;

/// UNCOMPRESSED delivery's target: this fraction of `object_store` alone.
pub const UNCOMPRESSED_TARGET: f64 = 0.8;

/// GZIP delivery's target: at most this many times the encoder's own time.
pub const GZIP_TARGET: f64 = 1.2;

/// Throughputs in MB/s (10^6 bytes of records per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Bytes of records delivered per case.
    pub bytes: u64,
    /// `object_store` alone writing the same bytes in 5 MiB objects
    /// (median of three runs).
    pub raw_object_store: f64,
    /// The same bytes written to one file in 5 MiB writes, then one
    /// `fdatasync`: what durable delivery cannot pass.
    pub disk_synced: f64,
    /// Delivery stream, UNCOMPRESSED, [`PRODUCERS`] concurrent producers.
    pub uncompressed: f64,
    /// Delivery stream, UNCOMPRESSED, one producer (a sync per batch).
    pub uncompressed_one_producer: f64,
    /// flate2's gzip encoder alone on the same bytes, 5 MiB at a time.
    pub gzip_encoder: f64,
    /// Delivery stream, GZIP.
    pub gzip: f64,
    /// Delivery stream converting the JSON records to Parquet (SNAPPY).
    pub parquet: f64,
}

impl BenchReport {
    /// The report as figures against their targets: UNCOMPRESSED delivery
    /// against `object_store` alone, then GZIP delivery against the encoder
    /// alone; the one-producer and Parquet cases are notes.
    pub fn figures(&self) -> Vec<Figure> {
        let mb = self.bytes as f64 / 1e6;
        let figure = |name: &str, value, baseline: Baseline, target| {
            Figure::new(name, value, Unit::MegabytesPerSecond)
                .with_detail(format!(
                    "{mb:.0} MB of JSON records, {PRODUCERS} producers, read back"
                ))
                .with_baseline(baseline)
                .with_target(target)
        };
        vec![
            figure(
                "UNCOMPRESSED delivery",
                self.uncompressed,
                Baseline::new("object_store alone, 5 MiB objects", self.raw_object_store),
                Target::FractionOfBaseline(UNCOMPRESSED_TARGET),
            )
            .with_note(format!(
                "bound: every acknowledged batch is synced, and the disk writes and syncs the same bytes at {:.1} MB/s (same directory), {:.2} of the baseline",
                self.disk_synced,
                self.disk_synced / self.raw_object_store
            ))
            .with_note(format!(
                "UNCOMPRESSED, 1 producer (a sync per batch): {:.1} MB/s",
                self.uncompressed_one_producer
            )),
            figure(
                "GZIP delivery",
                self.gzip,
                Baseline::new("gzip encoder alone, 5 MiB at a time", self.gzip_encoder),
                Target::TimeWithin(GZIP_TARGET),
            )
            .with_note(format!(
                "Parquet (SNAPPY), JSON in: {:.1} MB/s",
                self.parquet
            )),
        ]
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "firehose delivery, {} MB of JSON records",
            self.bytes / 1_000_000
        )?;
        writeln!(
            f,
            "  object_store alone      {:8.1} MB/s  (median of 3)",
            self.raw_object_store
        )?;
        writeln!(
            f,
            "  disk write + fdatasync  {:8.1} MB/s  ({:.0}% of object_store alone: delivery's bound)",
            self.disk_synced,
            100.0 * self.disk_synced / self.raw_object_store
        )?;
        writeln!(
            f,
            "  UNCOMPRESSED            {:8.1} MB/s  ({:.0}% of object_store alone; {PRODUCERS} producers)",
            self.uncompressed,
            100.0 * self.uncompressed / self.raw_object_store
        )?;
        writeln!(
            f,
            "  UNCOMPRESSED, 1 producer{:8.1} MB/s  ({:.0}% of object_store alone; a sync per batch)",
            self.uncompressed_one_producer,
            100.0 * self.uncompressed_one_producer / self.raw_object_store
        )?;
        writeln!(
            f,
            "  gzip encoder alone      {:8.1} MB/s",
            self.gzip_encoder
        )?;
        writeln!(
            f,
            "  GZIP                    {:8.1} MB/s  ({:.2}x the encoder's time; {PRODUCERS} producers)",
            self.gzip,
            self.gzip_encoder / self.gzip
        )?;
        write!(
            f,
            "  Parquet (SNAPPY)        {:8.1} MB/s  (JSON in; {PRODUCERS} producers)",
            self.parquet
        )
    }
}

fn wrong(what: &str, reason: String) -> FirehoseError {
    FirehoseError::Bench {
        what: what.to_owned(),
        reason,
    }
}

/// Every file under `dir`, recursively, in no particular order.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| FirehoseError::buffer(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| FirehoseError::buffer(dir, e))?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads back what delivery `name` wrote to its bucket under `buckets`:
/// the record bytes and newline count (gunzipped when `gzip`), or, for
/// Parquet, the rows.
fn read_back(buckets: &Path, name: &str, compression: &str) -> Result<(u64, u64)> {
    let mut files = Vec::new();
    files_under(&buckets.join(name), &mut files)?;
    let (mut bytes, mut records) = (0u64, 0u64);
    for file in files {
        let raw = std::fs::read(&file).map_err(|e| FirehoseError::buffer(&file, e))?;
        if compression == "PARQUET" {
            use parquet::file::reader::{FileReader, SerializedFileReader};
            let reader = SerializedFileReader::new(Bytes::from(raw))
                .map_err(|e| wrong(name, format!("reading {}: {e}", file.display())))?;
            records += reader.metadata().file_metadata().num_rows() as u64;
            continue;
        }
        let data = if compression == "GZIP" {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
                .map_err(|e| wrong(name, format!("gunzipping {}: {e}", file.display())))?;
            out
        } else {
            raw
        };
        bytes += data.len() as u64;
        records += data.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok((bytes, records))
}

fn mbps(bytes: u64, started: Instant) -> f64 {
    bytes as f64 / 1e6 / started.elapsed().as_secs_f64().max(1e-9)
}

fn records(total: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < total {
        let r = Bytes::from(
            json!({"event_id": i, "customer": format!("c{}", i % 97), "amount": i % 1000,
                   "ts": "2024-01-01T00:00:00Z", "note": "the quick brown fox jumps over the lazy dog"})
            .to_string()
                + "\n",
        );
        size += r.len();
        out.push(r);
        i += 1;
    }
    out
}

async fn deliver(
    dir: &Path,
    name: &str,
    compression: &str,
    recs: &[Bytes],
    clock: Arc<dyn Clock>,
    producers: usize,
) -> Result<f64> {
    let mut cfg = json!({"BucketARN": format!("arn:aws:s3:::{name}"),
        "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 900}});
    if compression == "PARQUET" {
        cfg["DataFormatConversionConfiguration"] = json!({
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
            "SchemaConfiguration": {"DatabaseName": "bench", "TableName": "events", "Columns": [
                {"Name": "event_id", "Type": "bigint"}, {"Name": "customer", "Type": "string"},
                {"Name": "amount", "Type": "int"}, {"Name": "ts", "Type": "string"},
                {"Name": "note", "Type": "string"}]}});
    } else {
        cfg["CompressionFormat"] = json!(compression);
    }
    let dest = Destination::from_json(&cfg, "extendedS3DestinationConfiguration")?;
    let stream = DeliveryStream::open(
        name,
        dest,
        1,
        dir.join(format!("{name}-buffers")),
        Arc::new(LocalBuckets::new(dir.join("buckets"))),
        clock,
    )?;
    let bytes: u64 = recs.iter().map(|r| r.len() as u64).sum();
    let started = Instant::now();
    let driver = stream.spawn_driver();
    // Producers put 500-record batches from threads (as API handlers do);
    // the driver delivers sealed buffers meanwhile.
    let share = recs.len().div_ceil(producers.max(1)).max(1);
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = recs
            .chunks(share)
            .map(|part| {
                let stream = stream.clone();
                scope.spawn(move || {
                    for batch in part.chunks(500) {
                        stream.put_record_batch(batch.to_vec())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(wrong(name, "a producer panicked".into())))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    stream.flush().await?;
    stream.close();
    let _ = driver.await;
    let rate = mbps(bytes, started);
    let stats = stream.stats();
    if stats.records != recs.len() as u64 {
        return Err(wrong(
            name,
            format!("{} records delivered, {} put", stats.records, recs.len()),
        ));
    }
    let (got_bytes, got_records) = read_back(&dir.join("buckets"), name, compression)?;
    let want_bytes = if compression == "PARQUET" { 0 } else { bytes };
    if got_records != recs.len() as u64 || got_bytes != want_bytes {
        return Err(wrong(
            name,
            format!(
                "read back {got_records} records, {got_bytes} bytes; put {} records, {want_bytes} bytes",
                recs.len()
            ),
        ));
    }
    Ok(rate)
}

/// `object_store` alone: `all` written as objects of `chunk` bytes under
/// `dir` (checked by their sizes), MB/s.
async fn object_store_alone(dir: &Path, all: &[u8], chunk: usize) -> Result<f64> {
    std::fs::create_dir_all(dir).map_err(|e| FirehoseError::buffer(dir, e))?;
    let fs = LocalFileSystem::new_with_prefix(dir).map_err(|source| FirehoseError::Store {
        bucket: "raw".into(),
        key: String::new(),
        source,
    })?;
    let bytes = all.len() as u64;
    let started = Instant::now();
    for (i, part) in all.chunks(chunk).enumerate() {
        let key = format!("raw-{i}");
        fs.put(
            &object_store::path::Path::from(key.as_str()),
            PutPayload::from(part.to_vec()),
        )
        .await
        .map_err(|source| FirehoseError::Store {
            bucket: "raw".into(),
            key,
            source,
        })?;
    }
    let rate = mbps(bytes, started);
    let mut files = Vec::new();
    files_under(dir, &mut files)?;
    let mut written = 0u64;
    for f in &files {
        written += std::fs::metadata(f)
            .map_err(|e| FirehoseError::buffer(f, e))?
            .len();
    }
    if written != bytes {
        return Err(wrong(
            "object_store alone",
            format!("read back {written} bytes, wrote {bytes}"),
        ));
    }
    std::fs::remove_dir_all(dir).map_err(|e| FirehoseError::buffer(dir, e))?;
    Ok(rate)
}

/// `all` written to the file `path` in writes of `chunk` bytes, then one
/// `fdatasync`, MB/s; the file is removed.
fn disk_synced(path: &Path, all: &[u8], chunk: usize) -> Result<f64> {
    use std::io::Write as _;
    let started = Instant::now();
    {
        let mut f = std::fs::File::create(path).map_err(|e| FirehoseError::buffer(path, e))?;
        for part in all.chunks(chunk) {
            f.write_all(part)
                .map_err(|e| FirehoseError::buffer(path, e))?;
        }
        f.sync_data().map_err(|e| FirehoseError::buffer(path, e))?;
    }
    let rate = mbps(all.len() as u64, started);
    std::fs::remove_file(path).map_err(|e| FirehoseError::buffer(path, e))?;
    Ok(rate)
}

/// Runs the benchmark with about `total_bytes` of records in `dir`.
pub async fn run(dir: &Path, total_bytes: usize, clock: Arc<dyn Clock>) -> Result<BenchReport> {
    let recs = records(total_bytes);
    let all: Vec<u8> = recs.iter().flat_map(|r| r.iter().copied()).collect();
    let bytes = all.len() as u64;
    let chunk = 5 * 1024 * 1024;

    let mut runs = Vec::new();
    for run in 0..3 {
        runs.push(object_store_alone(&dir.join(format!("raw-{run}")), &all, chunk).await?);
    }
    runs.sort_by(f64::total_cmp);
    let raw_object_store = runs[1];
    let disk_synced = disk_synced(&dir.join("disk-synced.bin"), &all, chunk)?;

    let uncompressed = deliver(
        dir,
        "bench-plain",
        "UNCOMPRESSED",
        &recs,
        Arc::clone(&clock),
        PRODUCERS,
    )
    .await?;
    let uncompressed_one_producer = deliver(
        dir,
        "bench-plain-1",
        "UNCOMPRESSED",
        &recs,
        Arc::clone(&clock),
        1,
    )
    .await?;

    let started = Instant::now();
    for part in all.chunks(chunk) {
        Compression::Gzip.compress(part, "gzip-baseline")?;
    }
    let gzip_encoder = mbps(bytes, started);
    let gzip = deliver(
        dir,
        "bench-gzip",
        "GZIP",
        &recs,
        Arc::clone(&clock),
        PRODUCERS,
    )
    .await?;
    let parquet = deliver(dir, "bench-parquet", "PARQUET", &recs, clock, PRODUCERS).await?;
    Ok(BenchReport {
        bytes,
        raw_object_store,
        disk_synced,
        uncompressed,
        uncompressed_one_producer,
        gzip_encoder,
        gzip,
        parquet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_run_reports_all_cases() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(dir.path(), 200_000, Arc::new(crate::clock::SystemClock))
            .await
            .unwrap();
        assert!(r.bytes >= 200_000);
        assert!(r.uncompressed > 0.0 && r.gzip > 0.0 && r.raw_object_store > 0.0);
        assert!(r.disk_synced > 0.0);
        assert!(r.figures()[0].notes[0].starts_with("bound: "));
        assert!(r.parquet > 0.0);
        // every case delivered every record
        let parquet_dir = dir.path().join("buckets/bench-parquet");
        assert!(parquet_dir.exists());
        assert!(r.to_string().contains("GZIP"));
        let figures = r.figures();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].target, Some(Target::FractionOfBaseline(0.8)));
        assert_eq!(figures[1].target, Some(Target::TimeWithin(1.2)));
        for f in &figures {
            let line = f.to_string();
            assert!(
                line.ends_with(": MET") || line.ends_with(": MISSED"),
                "{line}"
            );
        }
    }
}
