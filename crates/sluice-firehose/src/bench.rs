//! Delivery throughput benchmark for `sluice bench`: [`run`] delivers the
//! same JSON records through a [`DeliveryStream`] uncompressed and GZIP to the
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

/// Throughputs in MB/s (10^6 bytes of records per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Bytes of records delivered per case.
    pub bytes: u64,
    /// `object_store` alone writing the same bytes in 5 MiB objects.
    pub raw_object_store: f64,
    /// Delivery stream, UNCOMPRESSED.
    pub uncompressed: f64,
    /// flate2's gzip encoder alone on the same bytes, 5 MiB at a time.
    pub gzip_encoder: f64,
    /// Delivery stream, GZIP.
    pub gzip: f64,
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
            "  UNCOMPRESSED            {:8.1} MB/s  ({:.0}% of object_store alone)",
            self.uncompressed,
            100.0 * self.uncompressed / self.raw_object_store
        )?;
        writeln!(
            f,
            "  gzip encoder alone      {:8.1} MB/s",
            self.gzip_encoder
        )?;
        write!(
            f,
            "  GZIP                    {:8.1} MB/s  ({:.2}x the encoder's time)",
            self.gzip,
            self.gzip_encoder / self.gzip
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
) -> Result<f64> {
    let dest = Destination::from_json(
        &json!({"BucketARN": format!("arn:aws:s3:::{name}"), "CompressionFormat": compression,
                "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 900}}),
        "extendedS3DestinationConfiguration",
    )?;
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
    for batch in recs.chunks(500) {
        stream.put_record_batch(batch.to_vec())?;
        // deliver sealed buffers as the driver would
        stream.flush_due().await?;
    }
    stream.flush().await?;
    Ok(mbps(bytes, started))
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
    )
    .await?;

    let started = Instant::now();
    for part in all.chunks(chunk) {
        Compression::Gzip.compress(part, "gzip-baseline")?;
    }
    let gzip_encoder = mbps(bytes, started);
    let gzip = deliver(dir, "bench-gzip", "GZIP", &recs, clock).await?;
    Ok(BenchReport {
        bytes,
        raw_object_store,
        uncompressed,
        gzip_encoder,
        gzip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_run_reports_all_cases() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(dir.path(), 200_000, Arc::new(crate::clock::SystemClock))
            .await
            .unwrap();
        assert!(r.bytes >= 200_000);
        assert!(r.uncompressed > 0.0 && r.gzip > 0.0 && r.raw_object_store > 0.0);
        assert!(r.to_string().contains("GZIP"));
    }
}
