//! Delivery throughput benchmark for `sluice bench`: [`run`] delivers the
//! same JSON records through a [`DeliveryStream`] uncompressed, GZIP and as
//! Parquet to the
//! local filesystem and reports MB/s beside two baselines measured in the same
//! run: writing the same bytes with `object_store` alone, and the gzip
//! encoder's own speed on them.

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

/// Concurrent producers (PutRecordBatch callers of 500 records each).
pub const PRODUCERS: usize = 8;

/// Throughputs in MB/s (10^6 bytes of records per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Bytes of records delivered per case.
    pub bytes: u64,
    /// `object_store` alone writing the same bytes in 5 MiB objects.
    pub raw_object_store: f64,
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

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "firehose delivery, {} MB of JSON records",
            self.bytes / 1_000_000
        )?;
        writeln!(
            f,
            "  object_store alone      {:8.1} MB/s",
            self.raw_object_store
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
                h.join().unwrap_or_else(|_| {
                    Err(FirehoseError::Validation {
                        message: "a bench producer panicked".into(),
                    })
                })
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
        return Err(FirehoseError::Validation {
            message: format!(
                "bench {name}: {} records delivered, {} put",
                stats.records,
                recs.len()
            ),
        });
    }
    Ok(rate)
}

/// Runs the benchmark with about `total_bytes` of records in `dir`.
pub async fn run(dir: &Path, total_bytes: usize, clock: Arc<dyn Clock>) -> Result<BenchReport> {
    let recs = records(total_bytes);
    let all: Vec<u8> = recs.iter().flat_map(|r| r.iter().copied()).collect();
    let bytes = all.len() as u64;
    let chunk = 5 * 1024 * 1024;

    let raw_dir = dir.join("raw");
    std::fs::create_dir_all(&raw_dir).map_err(|e| FirehoseError::buffer(&raw_dir, e))?;
    let fs = LocalFileSystem::new_with_prefix(&raw_dir).map_err(|source| FirehoseError::Store {
        bucket: "raw".into(),
        key: String::new(),
        source,
    })?;
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
    let raw_object_store = mbps(bytes, started);

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
        assert!(r.parquet > 0.0);
        // every case delivered every record
        let parquet_dir = dir.path().join("buckets/bench-parquet");
        assert!(parquet_dir.exists());
        assert!(r.to_string().contains("GZIP"));
    }
}
