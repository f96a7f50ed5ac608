//! A Kinesis data stream as a delivery stream's source
//! (`DeliveryStreamType: KinesisStreamAsSource`): [`KinesisSource`] reads
//! the stream with [`sluice_kds::StreamReader`] (embedded or remote) into a
//! [`DeliveryStream`], and [`KinesisSource::spawn`] runs it until the
//! delivery stream is closed.
//!
//! # Delivery
//!
//! At least once, end to end: records read are put in the delivery
//! stream's durable buffer ([`DeliveryStream::put_source_records`], which
//! opens KPL aggregates), and the read position is committed to the
//! checkpoint file only once every buffer holding them has been written
//! as an object ([`DeliveryStream::undelivered_from`] has passed the
//! [`DeliveryStream::buffer_mark`] taken after they were buffered). After a
//! crash, records read since the last commit are read and delivered again;
//! none are skipped.
//!
//! # Where reading starts
//!
//! A shard with a checkpoint resumes after it; a shard without one starts
//! at the delivery stream's creation time (`AT_TIMESTAMP`, Firehose's
//! `DeliveryStartTimestamp`), so records written after CreateDeliveryStream
//! are delivered even if the reader opens later.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_kds::{CheckpointStore, ReadRecord, ReaderSource, ReaderStart, StreamReader};

use crate::error::{FirehoseError, Result};
use crate::stream::DeliveryStream;

/// Most records taken from the reader at once.
pub const MAX_BATCH_RECORDS: usize = 1000;
/// Longest wait for new records in one poll.
pub const POLL_WAIT: Duration = Duration::from_millis(500);

/// The name of the Kinesis stream an ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`)
/// names; for an embedded source the ARN must be of its account and region.
pub fn stream_name_from_arn(source: &ReaderSource, arn: &str) -> Result<String> {
    let bad = || {
        FirehoseError::invalid(
            "KinesisStreamSourceConfiguration.KinesisStreamARN",
            format!("{arn} is not a valid Kinesis stream ARN."),
        )
    };
    match source {
        ReaderSource::Embedded(kds) => {
            let name = kds.name_from_arn(arn).ok_or_else(|| {
                FirehoseError::invalid(
                    "KinesisStreamSourceConfiguration.KinesisStreamARN",
                    format!(
                        "Kinesis stream {arn} is not in this account and region (expected an ARN like {}).",
                        kds.stream_arn("<name>")
                    ),
                )
            })?;
            Ok(name.to_owned())
        }
        ReaderSource::Remote(_) => {
            let rest = arn.strip_prefix("arn:").ok_or_else(bad)?;
            let (head, name) = rest.split_once(":stream/").ok_or_else(bad)?;
            if !head.contains(":kinesis:") || name.is_empty() || name.contains('/') {
                return Err(bad());
            }
            Ok(name.to_owned())
        }
    }
}

/// Reads one Kinesis stream into one delivery stream.
#[derive(Debug)]
pub struct KinesisSource {
    reader: StreamReader,
    stream: DeliveryStream,
    kinesis_stream: String,
    /// Last sequence number read, per shard, over everything buffered.
    latest: HashMap<String, String>,
    /// Positions to commit once the buffer mark is delivered, oldest first.
    pending: VecDeque<(u64, HashMap<String, String>)>,
    /// Records read but not yet buffered (a failed put is retried first).
    unbuffered: Vec<ReadRecord>,
}

impl KinesisSource {
    /// Opens a reader of `kinesis_stream` on `source` with its checkpoints
    /// in `checkpoint`; shards without a checkpoint start at `start_ms`.
    pub async fn open(
        source: ReaderSource,
        kinesis_stream: &str,
        start_ms: i64,
        checkpoint: &Path,
        stream: DeliveryStream,
    ) -> Result<Self> {
        let err = |source| FirehoseError::Source {
            delivery_stream: stream.name().to_owned(),
            kinesis_stream: kinesis_stream.to_owned(),
            source: Box::new(source),
        };
        let store = CheckpointStore::open(checkpoint).map_err(err)?;
        let reader = StreamReader::open(
            source,
            kinesis_stream,
            ReaderStart::AtTimestamp(start_ms),
            Some(store),
        )
        .await
        .map_err(err)?;
        Ok(Self {
            reader,
            kinesis_stream: kinesis_stream.to_owned(),
            stream,
            latest: HashMap::new(),
            pending: VecDeque::new(),
            unbuffered: Vec::new(),
        })
    }

    fn source_error(&self, source: sluice_kds::KdsError) -> FirehoseError {
        FirehoseError::Source {
            delivery_stream: self.stream.name().to_owned(),
            kinesis_stream: self.kinesis_stream.clone(),
            source: Box::new(source),
        }
    }

    /// Reads at most `max` records (waiting at most `wait` for new ones),
    /// buffers them in the delivery stream, and commits the positions of
    /// records already delivered. Returns the number of records buffered.
    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<usize> {
        if self.unbuffered.is_empty() {
            self.unbuffered = self
                .reader
                .next_batch(max, wait)
                .await
                .map_err(|e| self.source_error(e))?;
        }
        let n = self.unbuffered.len();
        if n > 0 {
            let data: Vec<Bytes> = self
                .unbuffered
                .iter()
                .map(|r| Bytes::from(r.data.clone()))
                .collect();
            self.stream.put_source_records(data)?;
            for r in self.unbuffered.drain(..) {
                self.latest.insert(r.shard_id, r.sequence_number);
            }
            self.pending
                .push_back((self.stream.buffer_mark(), self.latest.clone()));
        }
        self.commit_delivered()?;
        Ok(n)
    }

    /// Commits the read positions of every record whose buffer has been
    /// delivered.
    pub fn commit_delivered(&mut self) -> Result<()> {
        let delivered = self.stream.undelivered_from();
        let mut through = None;
        while self.pending.front().is_some_and(|(m, _)| *m <= delivered) {
            through = self.pending.pop_front().map(|(_, t)| t);
        }
        if let Some(t) = through {
            self.reader
                .commit_through(&t)
                .map_err(|e| self.source_error(e))?;
        }
        Ok(())
    }

    /// Records read but not yet committed, in batches.
    pub fn uncommitted_batches(&self) -> usize {
        self.pending.len()
    }

    /// Polls until the delivery stream is closed, backing off (1 s doubling
    /// to 30 s) after errors; the last error is kept in `last_error`.
    pub async fn run(mut self, last_error: Arc<Mutex<Option<String>>>) {
        let mut backoff = Duration::ZERO;
        while !self.stream.is_closed() {
            match self.poll(MAX_BATCH_RECORDS, POLL_WAIT).await {
                Ok(_) => backoff = Duration::ZERO,
                Err(e) => {
                    *last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    backoff = (backoff * 2)
                        .max(Duration::from_secs(1))
                        .min(Duration::from_secs(30));
                    tokio::time::sleep(backoff).await;
                }
            }
        }
        let _ = self.commit_delivered();
    }

    /// Starts a task that opens the reader (retrying while the stream
    /// cannot be read) and runs it until the delivery stream is closed.
    /// The reader, and the lock on its checkpoint file, are released when
    /// the task ends.
    pub fn spawn(
        source: ReaderSource,
        kinesis_stream: String,
        start_ms: i64,
        checkpoint: PathBuf,
        stream: DeliveryStream,
        last_error: Arc<Mutex<Option<String>>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            while !stream.is_closed() {
                match Self::open(
                    source.clone(),
                    &kinesis_stream,
                    start_ms,
                    &checkpoint,
                    stream.clone(),
                )
                .await
                {
                    Ok(src) => {
                        *last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        src.run(last_error).await;
                        return;
                    }
                    Err(e) => {
                        *last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })
    }
}

/// Checks that the stream `name` can be read: for an embedded source it
/// must exist (a remote one is checked when its reader opens).
pub fn check_stream_exists(source: &ReaderSource, arn: &str, name: &str) -> Result<()> {
    if let ReaderSource::Embedded(kds) = source
        && kds.describe_stream(name).is_err()
    {
        return Err(FirehoseError::invalid(
            "KinesisStreamSourceConfiguration.KinesisStreamARN",
            format!("Kinesis stream {arn} does not exist."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Destination;
    use crate::store::LocalBuckets;
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use sluice_kds::{Kds, KdsOptions, PutEntry};
    use std::collections::BTreeMap;

    fn put(kds: &Kds, from: usize, to: usize) {
        for i in from..to {
            kds.put_record(
                "src",
                PutEntry {
                    partition_key: format!("k{}", i % 7),
                    explicit_hash_key: None,
                    data: format!("rec-{i:04}\n").into_bytes(),
                },
            )
            .unwrap();
        }
    }

    /// Every record line in the delivered objects, with how often it was seen.
    fn delivered(root: &Path) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_owned()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    for line in String::from_utf8(std::fs::read(&p).unwrap())
                        .unwrap()
                        .lines()
                    {
                        *out.entry(line.to_owned()).or_default() += 1;
                    }
                }
            }
        }
        out
    }

    async fn poll_until(src: &mut KinesisSource, n: usize) -> usize {
        let mut got = 0;
        for _ in 0..100 {
            got += src.poll(100, Duration::from_millis(50)).await.unwrap();
            if got >= n {
                break;
            }
        }
        got
    }

    #[tokio::test]
    async fn commits_only_after_delivery_and_resumes_without_loss() {
        let tmp = tempfile::tempdir().unwrap();
        let kds = Kds::open(
            tmp.path().join("kds"),
            KdsOptions::default(),
            Arc::new(sluice_kds::SystemClock),
        )
        .unwrap();
        kds.create_stream("src", Some(2)).unwrap();
        put(&kds, 0, 10);
        let root = tmp.path().join("buckets");
        let dest = Destination::from_json(
            &json!({"BucketARN": "arn:aws:s3:::b", "BufferingHints": {"IntervalInSeconds": 60}}),
            "extendedS3DestinationConfiguration",
        )
        .unwrap();
        let clock = ManualClock::at(Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap());
        let stream = DeliveryStream::open(
            "d",
            dest,
            1,
            tmp.path().join("buf"),
            Arc::new(LocalBuckets::new(&root)),
            Arc::new(clock),
        )
        .unwrap();
        let ckpt = tmp.path().join("ckpt.json");
        let source = ReaderSource::Embedded(kds.clone());
        let open = || KinesisSource::open(source.clone(), "src", 0, &ckpt, stream.clone());

        let mut src = open().await.unwrap();
        assert_eq!(poll_until(&mut src, 10).await, 10);
        assert_eq!(stream.pending_records(), 10);
        // not delivered yet: nothing committed, a restart reads them again
        assert_eq!(src.uncommitted_batches(), src.pending.len());
        assert!(src.uncommitted_batches() > 0);
        drop(src);
        let mut src = open().await.unwrap();
        assert_eq!(
            poll_until(&mut src, 10).await,
            10,
            "read again after a crash"
        );
        // delivered: the next poll commits
        assert_eq!(stream.flush().await.unwrap(), 1);
        src.poll(100, Duration::from_millis(10)).await.unwrap();
        assert_eq!(src.uncommitted_batches(), 0);
        drop(src);

        put(&kds, 10, 15);
        let mut src = open().await.unwrap();
        assert_eq!(poll_until(&mut src, 5).await, 5, "only the new records");
        stream.flush().await.unwrap();
        let seen = delivered(&root.join("b"));
        let want: Vec<String> = (0..15).map(|i| format!("rec-{i:04}")).collect();
        assert_eq!(
            seen.keys().cloned().collect::<Vec<_>>(),
            want,
            "none missing"
        );
        let dups: usize = seen.values().map(|n| n - 1).sum();
        assert_eq!(dups, 10, "the 10 records read before the crash came twice");
    }

    #[test]
    fn stream_names_from_arns() {
        let remote = ReaderSource::Remote(sluice_kds::RemoteEndpoint {
            url: "http://127.0.0.1:1".into(),
            region: "us-east-1".into(),
            credentials: None,
        });
        assert_eq!(
            stream_name_from_arn(&remote, "arn:aws:kinesis:eu-west-1:111122223333:stream/s-1")
                .unwrap(),
            "s-1"
        );
        for bad in [
            "s-1",
            "arn:aws:sqs:eu-west-1:1:stream/x",
            "arn:aws:kinesis:r:1:stream/",
        ] {
            assert!(stream_name_from_arn(&remote, bad).is_err(), "{bad}");
        }
    }
}
