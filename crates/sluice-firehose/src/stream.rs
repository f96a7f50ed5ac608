//! One delivery stream's data path: [`DeliveryStream`] takes records
//! ([`DeliveryStream::put_record_batch`]), keeps them in a durable buffer,
//! seals the buffer when its size or interval hint is reached, and writes the
//! sealed buffer as one object (compressed, under its evaluated prefix)
//! through `object_store`.
//!
//! # Contract
//!
//! - **Acknowledgement**: `put_record*` returns only after the records are
//!   synced to the local buffer file; a crash after that loses nothing.
//!   Concurrent callers share syncs ([`crate::commit`]): each writes its
//!   records under the stream's lock, then waits, outside it, for the sync
//!   of its group: callers that write while a sync is under way share the
//!   next one, and a failed sync fails every caller of its group.
//! - **Sealing**: a buffer is sealed when adding a record would take it past
//!   `SizeInMBs` (measured before compression) or when `IntervalInSeconds`
//!   have passed since its first record arrived, whichever comes first.
//!   Time is read only from the injected [`Clock`].
//! - **Delivery**: sealed buffers are written in order by
//!   [`DeliveryStream::flush_due`] (called by the driver from
//!   [`DeliveryStream::spawn_driver`], or by hand in tests). A failed write
//!   leaves the buffer in place for the next attempt; the object key is fixed
//!   by the buffer's header, so a retry overwrites rather than duplicates.
//!   A GZIP object's body is compressed while its buffer fills, on a thread
//!   beside the producers ([`crate::body`]), so a sealed buffer is ready to
//!   write; other bodies are encoded from the buffer's records at delivery.
//! - **Expiry**: a buffer whose oldest record arrived longer ago than the
//!   stream's retention ([`DEFAULT_RETENTION`], 24 hours as AWS) and whose
//!   delivery still fails is dropped and its records counted in
//!   [`DeliveryStats::expired_records`]: AWS loses such data too. A buffer
//!   is tried once more before it is dropped, so a destination back at the
//!   last moment still gets it.
//! - **Recovery**: [`DeliveryStream::open`] finds buffer files left by a
//!   previous run and delivers them first.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::Notify;

use crate::body::{Body, BodyWriter};
use crate::buffer::{BufferFile, BufferHeader, BufferedRecord, read_buffer_file};
use crate::clock::Clock;
use crate::commit::{Group, GroupCommit};
use crate::config::Destination;
use crate::error::{FirehoseError, Result};
use crate::partition::MAX_ACTIVE_PARTITIONS;
use crate::pipeline::{ErrorLines, HTTP_ENDPOINT_FAILED, Output};
use crate::prefix::{PrefixContext, PrefixTemplate, object_suffix};
use crate::store::Buckets;
use crate::transform::Lambdas;

/// How long records wait for an unreachable destination before being
/// dropped: AWS retries S3 delivery for up to 24 hours, its longest data
/// storage time, and data that cannot be delivered by then is lost (it is
/// not written under the error output prefix, which is in the same bucket).
/// Set per [`Firehose`](crate::Firehose) with
/// [`FirehoseOptions::retention`](crate::FirehoseOptions::retention).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Counters for one stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Objects written.
    pub objects: u64,
    /// Records in those objects.
    pub records: u64,
    /// Bytes of records in those objects (before compression).
    pub bytes: u64,
    /// Failed delivery attempts.
    pub failed_attempts: u64,
    /// Records dropped after the retention period.
    pub expired_records: u64,
    /// When the last object was written, ms since the epoch (None: never).
    pub last_delivery_ms: Option<i64>,
}

#[derive(Debug)]
struct OpenBuffer {
    header: BufferHeader,
    /// [`record_id_prefix`] of the header.
    id_prefix: String,
    file: BufferFile,
    records: Vec<BufferedRecord>,
    size: u64,
    deadline: DateTime<Utc>,
    /// The object body being encoded meanwhile ([`crate::body`]).
    body: Option<BodyWriter>,
}

#[derive(Debug)]
struct SealedBuffer {
    header: BufferHeader,
    records: Vec<BufferedRecord>,
    dest: Arc<Destination>,
    path: PathBuf,
    /// The object body encoded while the buffer was open (None: encode
    /// the records at delivery).
    body: Option<Body>,
}

/// Which open buffer a record goes to: its partition keys, or an error
/// output type for error records.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct BufferKey {
    error_output_type: Option<String>,
    partition: BTreeMap<String, String>,
}

impl BufferKey {
    fn error(kind: &str) -> Self {
        Self {
            error_output_type: Some(kind.to_owned()),
            partition: BTreeMap::new(),
        }
    }
}

/// One error record as Firehose writes it under the error output prefix: a
/// JSON line with the original data in base64.
fn error_record(data: &[u8], arrival_ms: i64, code: &str, message: &str) -> Bytes {
    let mut line = Vec::new();
    crate::pipeline::push_error_line(
        &mut line,
        data,
        1,
        arrival_ms,
        arrival_ms,
        serde_json::json!({"errorCode": code, "errorMessage": message}),
    );
    Bytes::from(line)
}

/// The record id of record `index` of a buffer (as returned to the
/// producer and sent to the Lambda function).
fn record_id(header: &BufferHeader, index: usize) -> String {
    record_id_from(&record_id_prefix(header), index)
}

/// The part of a record id shared by a buffer's records: its uuid without
/// dashes and its sequence number.
fn record_id_prefix(header: &BufferHeader) -> String {
    format!("{}{:020}", header.uuid.replace('-', ""), header.seq)
}

/// `prefix` followed by `index` as 8 digits (more when larger), without
/// going through the formatter (this runs once per record put).
fn record_id_from(prefix: &str, index: usize) -> String {
    let mut id = String::with_capacity(prefix.len() + 8);
    id.push_str(prefix);
    if index >= 100_000_000 {
        id.push_str(&index.to_string());
        return id;
    }
    let mut digits = [b'0'; 8];
    let mut v = index;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    id.extend(digits.iter().map(|&b| char::from(b)));
    id
}

/// A uuid fixed by a buffer's uuid and a set of partition keys, so that the
/// object of each Lambda partition keeps its key when delivery is retried.
fn derived_uuid(base: &str, keys: &BTreeMap<String, String>) -> String {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325;
    let mut h2: u64 = 0x8422_2325_cbf2_9ce4;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h1 = (h1 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
            h2 = (h2 ^ u64::from(*b))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(5);
        }
    };
    feed(base.as_bytes());
    for (k, v) in keys {
        feed(&[0]);
        feed(k.as_bytes());
        feed(&[1]);
        feed(v.as_bytes());
    }
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&mix(h1).to_be_bytes());
    bytes[8..].copy_from_slice(&mix(h2 ^ h1.rotate_left(32)).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Whether the open buffer for `key` encodes its object body while it
/// fills ([`crate::body`]): a compressed body of the records as they are
/// (no transformation, conversion or HTTP endpoint), one encoder thread per
/// stream (no dynamic partitioning), and not an error buffer.
fn encodes_while_buffering(dest: &Destination, key: &BufferKey) -> bool {
    dest.compression.streams()
        && dest.transform.is_none()
        && dest.conversion.is_none()
        && dest.http.is_none()
        && dest.partitioning.is_none()
        && key.error_output_type.is_none()
}

/// The records of one object: the sealed buffer's own (not copied), or
/// those a transformation returned.
enum Records {
    Buffer(Arc<SealedBuffer>),
    Owned(Vec<BufferedRecord>),
}

impl Records {
    fn as_slice(&self) -> &[BufferedRecord] {
        match self {
            Records::Buffer(b) => &b.records,
            Records::Owned(v) => v,
        }
    }
}

fn merge_errors(into: &mut ErrorLines, from: ErrorLines) {
    for (kind, mut lines) in from {
        into.entry(kind).or_default().append(&mut lines);
    }
}

#[derive(Debug)]
struct State {
    dest: Arc<Destination>,
    version: u64,
    next_seq: u64,
    open: BTreeMap<BufferKey, OpenBuffer>,
    sealed: VecDeque<Arc<SealedBuffer>>,
    closed: bool,
}

#[derive(Debug)]
struct Inner {
    name: String,
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    buckets: Arc<dyn Buckets>,
    retention: Duration,
    arn: String,
    region: String,
    lambdas: Lambdas,
    state: Mutex<State>,
    /// Shares syncs of buffer files between concurrent callers.
    commit: GroupCommit,
    /// Files of delivered buffers, for new buffers to reuse.
    free: Mutex<Vec<PathBuf>>,
    deliver_lock: tokio::sync::Mutex<()>,
    wake: Notify,
    objects: AtomicU64,
    /// When the last object was written, ms since the epoch (0: never).
    last_delivery_ms: std::sync::atomic::AtomicI64,
    records: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    expired: AtomicU64,
}

/// A delivery stream's buffers and delivery; cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryStream {
    inner: Arc<Inner>,
}

impl DeliveryStream {
    /// Opens stream `name` keeping its buffer files in `dir`, delivering to
    /// `dest` with object names carrying `version`. Buffer files left in
    /// `dir` by an earlier run are queued for delivery first.
    pub fn open(
        name: &str,
        dest: Destination,
        version: u64,
        dir: impl Into<PathBuf>,
        buckets: Arc<dyn Buckets>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| FirehoseError::buffer(&dir, e))?;
        let dest = Arc::new(dest);
        let (sealed, next_seq, free) = recover(&dir, &dest)?;
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                dir,
                clock,
                buckets,
                retention: DEFAULT_RETENTION,
                arn: format!("arn:aws:firehose:us-east-1:123456789012:deliverystream/{name}"),
                region: "us-east-1".to_owned(),
                lambdas: Lambdas::new(),
                state: Mutex::new(State {
                    dest,
                    version,
                    next_seq,
                    open: BTreeMap::new(),
                    sealed,
                    closed: false,
                }),
                commit: GroupCommit::default(),
                free: Mutex::new(free),
                deliver_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                objects: AtomicU64::new(0),
                last_delivery_ms: std::sync::atomic::AtomicI64::new(0),
                records: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                expired: AtomicU64::new(0),
            }),
        })
    }

    /// The same stream, dropping undeliverable records after `retention`
    /// instead of 24 hours. Call before sharing the stream.
    pub fn with_retention(self, retention: Duration) -> Self {
        self.configure(|i| i.retention = retention)
    }

    /// How long undeliverable records are retried before being dropped.
    pub fn retention(&self) -> Duration {
        self.inner.retention
    }

    /// The same stream with this ARN and region (in Lambda events).
    pub fn with_identity(self, arn: &str, region: &str) -> Self {
        self.configure(|i| {
            i.arn = arn.to_owned();
            i.region = region.to_owned();
        })
    }

    /// The same stream resolving Lambda ARNs through `lambdas`.
    pub fn with_lambdas(self, lambdas: Lambdas) -> Self {
        self.configure(|i| i.lambdas = lambdas)
    }

    fn configure(self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                f(&mut inner);
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => Self { inner },
        }
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The directory holding the stream's buffer files.
    pub fn buffer_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The destination in force.
    pub fn destination(&self) -> Arc<Destination> {
        Arc::clone(&self.state().dest)
    }

    /// Delivery counters.
    pub fn stats(&self) -> DeliveryStats {
        let i = &self.inner;
        DeliveryStats {
            objects: i.objects.load(Ordering::Relaxed),
            records: i.records.load(Ordering::Relaxed),
            bytes: i.bytes.load(Ordering::Relaxed),
            failed_attempts: i.failed.load(Ordering::Relaxed),
            expired_records: i.expired.load(Ordering::Relaxed),
            last_delivery_ms: Some(i.last_delivery_ms.load(Ordering::Relaxed)).filter(|ms| *ms > 0),
        }
    }

    /// Bytes of the records buffered but not yet delivered.
    pub fn pending_bytes(&self) -> u64 {
        let st = self.state();
        st.open.values().map(|o| o.size).sum::<u64>()
            + st.sealed
                .iter()
                .flat_map(|s| s.records.iter())
                .map(|r| r.data.len() as u64)
                .sum::<u64>()
    }

    /// Records buffered but not yet delivered.
    pub fn pending_records(&self) -> usize {
        let st = self.state();
        st.open.values().map(|o| o.records.len()).sum::<usize>()
            + st.sealed.iter().map(|s| s.records.len()).sum::<usize>()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Buffers one record durably; returns its record id.
    pub fn put_record(&self, data: Bytes) -> Result<String> {
        let mut ids = self.put_record_batch(vec![data])?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Buffers records durably, in order; returns one record id per record.
    /// With dynamic partitioning, a record whose keys cannot be extracted
    /// (or that would open partition 501) is buffered as an error record for
    /// the error output prefix.
    pub fn put_record_batch(&self, records: Vec<Bytes>) -> Result<Vec<String>> {
        self.put_records(records, false)
    }

    /// Buffers records read from the stream's source (a KDS stream or an
    /// application's output): as [`DeliveryStream::put_record_batch`], and
    /// KPL-aggregated records are opened into their user records, as
    /// Firehose does for a Kinesis stream source.
    pub fn put_source_records(&self, records: Vec<Bytes>) -> Result<Vec<String>> {
        self.put_records(records, true)
    }

    fn put_records(&self, records: Vec<Bytes>, open_kpl: bool) -> Result<Vec<String>> {
        let now = self.inner.clock.now();
        let arrival_ms = now.timestamp_millis();
        let dest = self.destination();
        // De-aggregation: `first[i]` is the first sub-record of input record i.
        let (records, first) = if dest.sub_records.is_some() || open_kpl {
            let mut out = Vec::with_capacity(records.len());
            let mut first = Vec::with_capacity(records.len());
            for r in &records {
                first.push(out.len());
                match &dest.sub_records {
                    Some(how) => out.extend(crate::deaggregate::split(r, Some(how))),
                    None => match crate::deaggregate::kpl_records(r) {
                        Some(parts) => out.extend(parts),
                        None => out.push(r.clone()),
                    },
                }
            }
            (out, Some(first))
        } else {
            (records, None)
        };
        // Without dynamic partitioning every record goes to one buffer
        // (`plain`); with it, `routed` names each record's buffer.
        let (plain, routed): (Vec<Bytes>, Vec<(BufferKey, Bytes)>) = match &dest.partitioning {
            None => (records, Vec::new()),
            Some(q) => (Vec::new(), {
                let keys = q.evaluate(&records);
                records
                    .into_iter()
                    .zip(keys)
                    .map(|(d, k)| match k {
                        Ok(partition) => (
                            BufferKey {
                                error_output_type: None,
                                partition,
                            },
                            d,
                        ),
                        Err(msg) => (
                            BufferKey::error("partitioning-failed"),
                            error_record(
                                &d,
                                arrival_ms,
                                "DynamicPartitioning.MetadataExtractionFailed",
                                &msg,
                            ),
                        ),
                    })
                    .collect()
            }),
        };
        let mut ids = Vec::with_capacity(plain.len() + routed.len());
        let mut groups: Vec<Arc<Group>> = Vec::new();
        let mut sealed_any = false;
        let mut st = self.state();
        let sealed_before = st.sealed.len();
        if !plain.is_empty() {
            self.put_unpartitioned(&mut st, plain, arrival_ms, now, &mut ids, &mut groups)?;
        }
        let mut runs: BTreeMap<BufferKey, (Vec<BufferedRecord>, u64)> = BTreeMap::new();
        for (mut key, mut data) in routed {
            if !st.open.contains_key(&key) {
                let active = st
                    .open
                    .keys()
                    .filter(|k| k.error_output_type.is_none())
                    .count();
                if !key.partition.is_empty() && active >= MAX_ACTIVE_PARTITIONS {
                    data = error_record(
                        &data,
                        arrival_ms,
                        "DynamicPartitioning.ActivePartitionsLimitExceeded",
                        &format!(
                            "The number of active partitions exceeds the limit of {MAX_ACTIVE_PARTITIONS}."
                        ),
                    );
                    key = BufferKey::error("activePartitionExceeded");
                }
                if !st.open.contains_key(&key) {
                    self.open_buffer(&mut st, &key, now)?;
                }
            }
            let len = data.len() as u64;
            let limit = st.dest.size_limit;
            let run = runs.entry(key.clone()).or_default();
            let full = st
                .open
                .get(&key)
                .is_some_and(|o| (o.size + run.1 > 0) && o.size + run.1 + len > limit);
            if full {
                self.append_run(&mut st, &key, run, &mut groups)?;
                self.seal(&mut st, &key);
                sealed_any = true;
                self.open_buffer(&mut st, &key, now)?;
            }
            if let Some(o) = st.open.get(&key) {
                ids.push(record_id_from(&o.id_prefix, o.records.len() + run.0.len()));
            }
            run.1 += len;
            run.0.push(BufferedRecord { arrival_ms, data });
        }
        for (key, run) in runs.iter_mut() {
            self.append_run(&mut st, key, run, &mut groups)?;
        }
        sealed_any |= st.sealed.len() > sealed_before;
        let limit = st.dest.size_limit;
        let zero = st.dest.interval.is_zero();
        let to_seal: Vec<BufferKey> = st
            .open
            .iter()
            .filter(|(_, o)| o.size >= limit || (zero && o.size > 0))
            .map(|(k, _)| k.clone())
            .collect();
        for key in to_seal {
            self.seal(&mut st, &key);
            sealed_any = true;
        }
        drop(st);
        // Acknowledge only once every write of this call is synced (its
        // writes may span two groups when a sync began between them).
        for group in &groups {
            self.inner.commit.wait(group)?;
        }
        if sealed_any {
            self.inner.wake.notify_one();
        }
        // One record id per input record: that of its first sub-record (an
        // aggregate of no records gets the id its successor would have).
        if let Some(first) = first {
            let last = ids.last().cloned().unwrap_or_default();
            return Ok(first
                .into_iter()
                .map(|i| ids.get(i).cloned().unwrap_or_else(|| last.clone()))
                .collect());
        }
        Ok(ids)
    }

    /// Buffers `records` without dynamic partitioning: all into the one
    /// buffer, sealing it when the next record would take it past the size
    /// hint (as the partitioned path does per key, with no per-record map
    /// look-up). Pushes a record id per record and the groups to wait for.
    fn put_unpartitioned(
        &self,
        st: &mut State,
        records: Vec<Bytes>,
        arrival_ms: i64,
        now: DateTime<Utc>,
        ids: &mut Vec<String>,
        groups: &mut Vec<Arc<Group>>,
    ) -> Result<()> {
        let key = BufferKey::default();
        let limit = st.dest.size_limit;
        if !st.open.contains_key(&key) {
            self.open_buffer(st, &key, now)?;
        }
        // The open buffer's size, record count and id prefix.
        let current = |st: &State| {
            st.open
                .get(&key)
                .map(|o| (o.size, o.records.len(), o.id_prefix.clone()))
                .unwrap_or_default()
        };
        let (mut size, mut count, mut prefix) = current(st);
        let mut run: (Vec<BufferedRecord>, u64) = (Vec::with_capacity(records.len()), 0);
        for data in records {
            let len = data.len() as u64;
            if size + run.1 > 0 && size + run.1 + len > limit {
                self.append_run(st, &key, &mut run, groups)?;
                self.seal(st, &key);
                self.open_buffer(st, &key, now)?;
                (size, count, prefix) = current(st);
            }
            ids.push(record_id_from(&prefix, count + run.0.len()));
            run.1 += len;
            run.0.push(BufferedRecord { arrival_ms, data });
        }
        self.append_run(st, &key, &mut run, groups)
    }

    fn open_buffer(&self, st: &mut State, key: &BufferKey, now: DateTime<Utc>) -> Result<()> {
        let header = BufferHeader {
            seq: st.next_seq,
            version: st.version,
            uuid: uuid::Uuid::new_v4().to_string(),
            oldest_arrival_ms: now.timestamp_millis(),
            random_seed: rand::random(),
            partition: key.partition.clone(),
            error_output_type: key.error_output_type.clone(),
        };
        let reuse = self
            .inner
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let file = BufferFile::create(&self.inner.dir, &header, reuse.as_deref())?;
        st.next_seq += 1;
        let interval = TimeDelta::from_std(st.dest.interval).unwrap_or(TimeDelta::MAX);
        let body = if encodes_while_buffering(&st.dest, key) {
            let hint = usize::try_from(st.dest.size_limit).unwrap_or(usize::MAX);
            BodyWriter::start(st.dest.compression, st.dest.append_delimiter, hint)
        } else {
            None
        };
        st.open.insert(
            key.clone(),
            OpenBuffer {
                id_prefix: record_id_prefix(&header),
                header,
                file,
                records: Vec::new(),
                size: 0,
                deadline: now + interval,
                body,
            },
        );
        Ok(())
    }

    fn append_run(
        &self,
        st: &mut State,
        key: &BufferKey,
        run: &mut (Vec<BufferedRecord>, u64),
        groups: &mut Vec<Arc<Group>>,
    ) -> Result<()> {
        if run.0.is_empty() {
            return Ok(());
        }
        if let Some(o) = st.open.get_mut(key) {
            o.file.write(&run.0)?;
            if let Some(body) = &o.body {
                body.send(run.0.iter().map(|r| r.data.clone()).collect());
            }
            let group = self.inner.commit.wrote(o.file.path(), &o.file.handle());
            if !groups.iter().any(|g| Arc::ptr_eq(g, &group)) {
                groups.push(group);
            }
            o.size += run.1;
            o.records.append(&mut run.0);
        }
        run.0.clear();
        run.1 = 0;
        Ok(())
    }

    fn seal_all(&self, st: &mut State) {
        let keys: Vec<BufferKey> = st.open.keys().cloned().collect();
        for k in keys {
            self.seal(st, &k);
        }
    }

    fn seal(&self, st: &mut State, key: &BufferKey) {
        if let Some(o) = st.open.remove(key) {
            if o.records.is_empty() {
                self.retire(o.file.path(), o.header.seq);
                return;
            }
            st.sealed.push_back(Arc::new(SealedBuffer {
                path: o.file.path().to_owned(),
                header: o.header,
                records: o.records,
                dest: Arc::clone(&st.dest),
                body: o.body.map(BodyWriter::finish),
            }));
        }
    }

    /// Gives up the file of buffer `seq`, delivered or dropped: kept for a
    /// new buffer to reuse ([`MAX_FREE_FILES`] at most), else removed.
    fn retire(&self, path: &Path, seq: u64) {
        let mut free = self.inner.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < MAX_FREE_FILES {
            let to = free_path(&self.inner.dir, seq);
            if std::fs::rename(path, &to).is_ok() {
                free.push(to);
                return;
            }
        }
        let _ = std::fs::remove_file(path);
    }

    /// Switches to a new destination (UpdateDestination). The open buffer is
    /// sealed and delivered under the old configuration.
    pub fn update_destination(&self, dest: Destination, version: u64) {
        let mut st = self.state();
        self.seal_all(&mut st);
        st.dest = Arc::new(dest);
        st.version = version;
        drop(st);
        self.inner.wake.notify_one();
    }

    /// Seals the open buffer if its interval has passed, then delivers every
    /// sealed buffer. Returns the number of objects written. On a write
    /// failure the failed buffer and those after it stay queued.
    pub async fn flush_due(&self) -> Result<usize> {
        {
            let now = self.inner.clock.now();
            let mut st = self.state();
            let due: Vec<BufferKey> = st
                .open
                .iter()
                .filter(|(_, o)| now >= o.deadline)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                self.seal(&mut st, &k);
            }
        }
        self.deliver_sealed().await
    }

    /// Seals the open buffer whatever its age and delivers everything.
    pub async fn flush(&self) -> Result<usize> {
        {
            let mut st = self.state();
            self.seal_all(&mut st);
        }
        self.deliver_sealed().await
    }

    async fn deliver_sealed(&self) -> Result<usize> {
        let _guard = self.inner.deliver_lock.lock().await;
        let mut written = 0;
        loop {
            let Some(next) = self.state().sealed.front().cloned() else {
                return Ok(written);
            };
            match self.deliver(&next).await {
                Ok(()) => {
                    self.retire(&next.path, next.header.seq);
                    self.state().sealed.pop_front();
                    written += 1;
                    let i = &self.inner;
                    i.objects.fetch_add(1, Ordering::Relaxed);
                    i.last_delivery_ms
                        .store(i.clock.now().timestamp_millis(), Ordering::Relaxed);
                    i.records
                        .fetch_add(next.records.len() as u64, Ordering::Relaxed);
                    let bytes: u64 = next.records.iter().map(|r| r.data.len() as u64).sum();
                    i.bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                Err(e) => {
                    self.inner.failed.fetch_add(1, Ordering::Relaxed);
                    let age =
                        self.inner.clock.now().timestamp_millis() - next.header.oldest_arrival_ms;
                    if age >= 0 && age as u128 > self.inner.retention.as_millis() {
                        self.retire(&next.path, next.header.seq);
                        self.state().sealed.pop_front();
                        self.inner
                            .expired
                            .fetch_add(next.records.len() as u64, Ordering::Relaxed);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// The key of an object made from `buf`: `template` evaluated for the
    /// buffer (with `error_output_type` and `partition`), then the object name
    /// with `uuid` and `extension`.
    fn key_for(
        &self,
        buf: &SealedBuffer,
        template: &PrefixTemplate,
        error_output_type: Option<&str>,
        partition: &BTreeMap<String, String>,
        extension: &str,
    ) -> Result<String> {
        self.key_with_uuid(
            buf,
            template,
            error_output_type,
            partition,
            &buf.header.uuid,
            extension,
        )
    }

    /// As [`Self::key_for`] with another object uuid.
    fn key_with_uuid(
        &self,
        buf: &SealedBuffer,
        template: &PrefixTemplate,
        error_output_type: Option<&str>,
        partition: &BTreeMap<String, String>,
        uuid: &str,
        extension: &str,
    ) -> Result<String> {
        let ts = DateTime::from_timestamp_millis(buf.header.oldest_arrival_ms).unwrap_or_default();
        let prefix = template.evaluate(&PrefixContext {
            timestamp: ts,
            random_seed: buf.header.random_seed,
            error_output_type,
            partition_keys: partition,
        })?;
        Ok(prefix + &object_suffix(&self.inner.name, buf.header.version, ts, uuid, extension))
    }

    /// The error object for `lines` of error output type `kind`.
    fn error_output(&self, buf: &SealedBuffer, kind: &str, lines: Vec<u8>) -> Result<Output> {
        let dest = &buf.dest;
        Ok(Output {
            bucket: dest.bucket.clone(),
            key: self.key_for(
                buf,
                &dest.error_output_prefix,
                Some(kind),
                &buf.header.partition,
                "",
            )?,
            payload: PutPayload::from(lines),
        })
    }

    /// Everything a sealed buffer turns into: the S3 backup of its source
    /// records, the delivered object(s) (one per Lambda partition), and one
    /// object per error output type.
    async fn render(&self, buf: &Arc<SealedBuffer>) -> Result<Vec<Output>> {
        let dest = Arc::clone(&buf.dest);
        if let Some(kind) = &buf.header.error_output_type {
            // Error records are JSON lines, written uncompressed.
            let mut lines = Vec::new();
            for r in &buf.records {
                lines.extend_from_slice(&r.data);
            }
            return Ok(vec![self.error_output(buf, kind, lines)?]);
        }
        let mut outputs = Vec::new();
        if let Some(backup) = &dest.backup {
            let key = self.key_for(
                buf,
                &backup.prefix,
                None,
                &BTreeMap::new(),
                &backup.extension,
            )?;
            let payload = crate::pipeline::compressed(
                buf.records.iter().map(|r| &r.data),
                false,
                backup.compression,
                &key,
            )?;
            outputs.push(Output {
                bucket: backup.bucket.clone(),
                key,
                payload,
            });
        }
        if let Some(body) = &buf.body
            && let Some(payload) = body.wait(buf.records.len()).await
            && dest.transform.is_none()
            && dest.http.is_none()
            && dest.conversion.is_none()
        {
            let key = self.key_for(
                buf,
                &dest.prefix,
                None,
                &buf.header.partition,
                &dest.extension,
            )?;
            outputs.push(Output {
                bucket: dest.bucket.clone(),
                key,
                payload: PutPayload::from(payload),
            });
            return Ok(outputs);
        }
        let now_ms = || self.inner.clock.now().timestamp_millis();
        let mut errors = ErrorLines::new();
        // (partition keys, uuid, records) per object to deliver
        let mut groups: Vec<(BTreeMap<String, String>, String, Records)> = Vec::new();
        match &dest.transform {
            None => groups.push((
                buf.header.partition.clone(),
                buf.header.uuid.clone(),
                Records::Buffer(Arc::clone(buf)),
            )),
            Some(t) => {
                let target = t.target(&self.inner.lambdas)?;
                let ids: Vec<String> = (0..buf.records.len())
                    .map(|i| record_id(&buf.header, i))
                    .collect();
                let (out, errs) = t
                    .apply(
                        &target,
                        &self.inner.arn,
                        &self.inner.region,
                        &buf.records,
                        &ids,
                        now_ms,
                    )
                    .await;
                merge_errors(&mut errors, errs);
                if dest.lambda_partitioning {
                    let needed = dest.prefix.partition_keys();
                    let mut by_keys: BTreeMap<BTreeMap<String, String>, Vec<BufferedRecord>> =
                        BTreeMap::new();
                    for t in out {
                        if let Some(k) = needed.iter().find(|k| !t.partition_keys.contains_key(**k))
                        {
                            crate::pipeline::push_error_line(
                                errors.entry("partitioning-failed").or_default(),
                                &t.record.data,
                                1,
                                t.record.arrival_ms,
                                now_ms(),
                                serde_json::json!({
                                    "errorCode": "DynamicPartitioning.MissingPartitionKey",
                                    "errorMessage": format!("The Lambda function returned no partition key '{k}' for this record."),
                                }),
                            );
                            continue;
                        }
                        by_keys.entry(t.partition_keys).or_default().push(t.record);
                    }
                    for (keys, recs) in by_keys {
                        let uuid = derived_uuid(&buf.header.uuid, &keys);
                        groups.push((keys, uuid, Records::Owned(recs)));
                    }
                } else {
                    groups.push((
                        buf.header.partition.clone(),
                        buf.header.uuid.clone(),
                        Records::Owned(out.into_iter().map(|t| t.record).collect()),
                    ));
                }
            }
        }
        if let Some(http) = &dest.http {
            // An HTTP endpoint: each group is one request whose id is the
            // group's object uuid, so a re-delivery keeps the same id.
            for (_, uuid, records) in groups {
                let records = records.as_slice();
                if records.is_empty() {
                    continue;
                }
                if let Err(f) = http
                    .deliver(&uuid, &self.inner.arn, records, &self.inner.clock)
                    .await
                {
                    let lines = errors.entry(HTTP_ENDPOINT_FAILED).or_default();
                    let ending = now_ms();
                    for r in records {
                        crate::pipeline::push_error_line(
                            lines,
                            &r.data,
                            f.attempts,
                            r.arrival_ms,
                            ending,
                            serde_json::json!({"errorCode": f.code, "errorMessage": f.message}),
                        );
                    }
                }
            }
            for (kind, lines) in errors {
                outputs.push(self.error_output(buf, kind, lines)?);
            }
            return Ok(outputs);
        }
        for (keys, uuid, records) in groups {
            let key = self.key_with_uuid(buf, &dest.prefix, None, &keys, &uuid, &dest.extension)?;
            let d = Arc::clone(&dest);
            let k = key.clone();
            let ending = now_ms();
            let (body, failed) = tokio::task::spawn_blocking(move || {
                crate::pipeline::encode(&d, records.as_slice(), &k, ending)
            })
            .await
            .map_err(|e| FirehoseError::Compression {
                key: key.clone(),
                format: dest.compression.as_aws(),
                source: std::io::Error::other(e),
            })??;
            merge_errors(&mut errors, failed);
            if let Some(payload) = body {
                outputs.push(Output {
                    bucket: dest.bucket.clone(),
                    key,
                    payload,
                });
            }
        }
        for (kind, lines) in errors {
            outputs.push(self.error_output(buf, kind, lines)?);
        }
        Ok(outputs)
    }

    async fn deliver(&self, buf: &Arc<SealedBuffer>) -> Result<()> {
        for out in self.render(buf).await? {
            let store = self.inner.buckets.store(&out.bucket)?;
            store
                .put(
                    &object_store::path::Path::from(out.key.as_str()),
                    out.payload,
                )
                .await
                .map_err(|source| FirehoseError::Store {
                    bucket: out.bucket.clone(),
                    key: out.key.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// How long until the open buffer's interval runs out (None: no buffer).
    fn next_deadline(&self) -> Option<Duration> {
        let st = self.state();
        let deadline = st.open.values().map(|o| o.deadline).min()?;
        let left = deadline - self.inner.clock.now();
        Some(left.to_std().unwrap_or(Duration::ZERO))
    }

    /// Starts the background task that seals buffers on their interval and
    /// delivers sealed buffers, retrying failed writes with backoff (1 s
    /// doubling to 30 s). It stops after [`DeliveryStream::close`].
    pub fn spawn_driver(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::ZERO;
            loop {
                if this.state().closed {
                    break;
                }
                let wait = this
                    .next_deadline()
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(1), Duration::from_secs(1))
                    .max(backoff);
                tokio::select! {
                    () = this.inner.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
                if this.state().closed {
                    break;
                }
                match this.flush_due().await {
                    Ok(_) => backoff = Duration::ZERO,
                    Err(_) => {
                        backoff = (backoff * 2)
                            .max(Duration::from_secs(1))
                            .min(Duration::from_secs(30));
                    }
                }
            }
        })
    }

    /// The sequence number the next buffer will get: every record buffered
    /// so far is in a buffer numbered below it.
    pub fn buffer_mark(&self) -> u64 {
        self.state().next_seq
    }

    /// The lowest sequence number of a buffer not yet delivered (open or
    /// sealed), or [`Self::buffer_mark`] when every buffer is delivered.
    /// Records buffered when the mark was `m` are all delivered once this
    /// is at least `m`.
    pub fn undelivered_from(&self) -> u64 {
        let st = self.state();
        st.open
            .values()
            .map(|o| o.header.seq)
            .chain(st.sealed.iter().map(|s| s.header.seq))
            .min()
            .unwrap_or(st.next_seq)
    }

    /// True once [`Self::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Stops the driver; buffered records stay on disk for the next open.
    pub fn close(&self) {
        self.state().closed = true;
        self.inner.wake.notify_one();
    }
}

/// Files of delivered buffers kept for reuse, per stream: enough for the
/// driver to hand back a file while producers fill the next buffers.
const MAX_FREE_FILES: usize = 4;

/// Where the file of delivered buffer `seq` waits for reuse.
fn free_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.free"))
}

/// The sequence number in a buffer or free file's name.
fn named_seq(path: &Path) -> Option<u64> {
    path.file_stem()?.to_str()?.parse().ok()
}

/// Reads every buffer file in `dir`, oldest first, and lists the files
/// kept for reuse. Empty buffers, and reused files whose new header never
/// reached the disk (the header names another buffer: no record of theirs
/// was acknowledged), join the files for reuse.
fn recover(
    dir: &Path,
    dest: &Arc<Destination>,
) -> Result<(VecDeque<Arc<SealedBuffer>>, u64, Vec<PathBuf>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FirehoseError::buffer(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "buf" || x == "free"))
        .collect();
    files.sort();
    let mut sealed = VecDeque::new();
    let mut next_seq = 0;
    let mut free = Vec::new();
    let retire = |path: PathBuf, free: &mut Vec<PathBuf>| {
        let to = path.with_extension("free");
        if free.len() < MAX_FREE_FILES && (to == path || std::fs::rename(&path, &to).is_ok()) {
            free.push(to);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    };
    for path in files {
        let named = named_seq(&path);
        if let Some(seq) = named {
            next_seq = next_seq.max(seq + 1);
        }
        if path.extension().is_some_and(|x| x == "free") {
            retire(path, &mut free);
            continue;
        }
        let (header, records) = read_buffer_file(&path)?;
        next_seq = next_seq.max(header.seq + 1);
        if records.is_empty() || named != Some(header.seq) {
            retire(path, &mut free);
            continue;
        }
        sealed.push_back(Arc::new(SealedBuffer {
            header,
            records,
            dest: Arc::clone(dest),
            path,
            body: None,
        }));
    }
    Ok((sealed, next_seq, free))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::LocalBuckets;
    use chrono::TimeZone;
    use serde_json::json;

    struct Fixture {
        _tmp: tempfile::TempDir,
        bucket_root: PathBuf,
        buf_dir: PathBuf,
        clock: ManualClock,
        buckets: Arc<LocalBuckets>,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let bucket_root = tmp.path().join("buckets");
        let buf_dir = tmp.path().join("buf");
        Fixture {
            buckets: Arc::new(LocalBuckets::new(&bucket_root)),
            bucket_root,
            buf_dir,
            clock: ManualClock::at(Utc.with_ymd_and_hms(2024, 3, 9, 23, 59, 58).unwrap()),
            _tmp: tmp,
        }
    }

    fn dest(extra: serde_json::Value) -> Destination {
        let mut j = json!({"BucketARN": "arn:aws:s3:::bkt"});
        if let (Some(a), Some(b)) = (j.as_object_mut(), extra.as_object()) {
            a.extend(b.clone());
        }
        Destination::from_json(&j, "extendedS3DestinationConfiguration").unwrap()
    }

    fn open(f: &Fixture, d: Destination) -> DeliveryStream {
        DeliveryStream::open(
            "s1",
            d,
            1,
            &f.buf_dir,
            f.buckets.clone(),
            Arc::new(f.clock.clone()),
        )
        .unwrap()
    }

    /// Every object under `root` (none when it does not exist), by key.
    pub(super) fn objects(root: &Path) -> Vec<(String, Vec<u8>)> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    let k = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                    out.push((k, std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        if root.exists() {
            walk(root, root, &mut out);
        }
        out.sort();
        out
    }

    #[test]
    fn record_ids_pad_the_index() {
        let h = BufferHeader {
            seq: 7,
            version: 1,
            uuid: "0a1b-2c".into(),
            oldest_arrival_ms: 0,
            random_seed: 0,
            partition: BTreeMap::new(),
            error_output_type: None,
        };
        assert_eq!(record_id(&h, 42), "0a1b2c0000000000000000000700000042");
        assert_eq!(
            record_id(&h, 123_456_789),
            "0a1b2c00000000000000000007123456789"
        );
    }

    /// Concurrent producers share syncs; every acknowledged record is in
    /// the buffer files a restart recovers.
    #[tokio::test]
    async fn group_commit_keeps_every_acknowledged_record() {
        let f = fixture();
        let s = open(
            &f,
            dest(json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}})),
        );
        std::thread::scope(|scope| {
            for t in 0..8 {
                let s = s.clone();
                scope.spawn(move || {
                    for b in 0..25 {
                        let batch: Vec<Bytes> = (0..40)
                            .map(|i| Bytes::from(format!("{t}-{b}-{i};")))
                            .collect();
                        assert_eq!(s.put_record_batch(batch).unwrap().len(), 40);
                    }
                });
            }
        });
        assert!(s.inner.commit.is_clean());
        drop(s);
        let s = open(&f, dest(json!({})));
        assert_eq!(s.pending_records(), 8000);
        s.flush().await.unwrap();
        let body: Vec<u8> = objects(&f.bucket_root.join("bkt"))
            .into_iter()
            .flat_map(|(_, b)| b)
            .collect();
        let mut got: Vec<&str> = std::str::from_utf8(&body)
            .unwrap()
            .split_terminator(';')
            .collect();
        got.sort_unstable();
        assert_eq!(got.len(), 8000);
        got.dedup();
        // every acknowledged record exactly once
        assert_eq!(got.len(), 8000);
    }

    #[tokio::test]
    async fn interval_flush_with_oldest_arrival_in_key() {
        let f = fixture();
        let s = open(
            &f,
            dest(json!({"BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 1}})),
        );
        s.put_record(Bytes::from_static(b"a")).unwrap();
        f.clock.advance_by(Duration::from_secs(5));
        s.put_record_batch(vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")])
            .unwrap();
        assert_eq!(s.flush_due().await.unwrap(), 0);
        f.clock.advance_by(Duration::from_secs(54));
        assert_eq!(s.flush_due().await.unwrap(), 0, "59 s: not yet");
        f.clock.advance_by(Duration::from_secs(1));
        assert_eq!(s.flush_due().await.unwrap(), 1);
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(objs.len(), 1);
        let (key, body) = &objs[0];
        assert!(
            key.starts_with("2024/03/09/23/s1-1-2024-03-09-23-59-58-"),
            "{key}"
        );
        assert_eq!(
            key.len(),
            "2024/03/09/23/s1-1-2024-03-09-23-59-58-".len() + 36
        );
        assert_eq!(body, b"abc");
        assert_eq!(s.pending_records(), 0);
        // the buffer's file is kept for reuse, no longer as a buffer
        let names: Vec<String> = std::fs::read_dir(&f.buf_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["00000000000000000000.free"]);
    }

    #[tokio::test]
    async fn size_limit_seals_before_overflow() {
        let f = fixture();
        let s = open(
            &f,
            dest(
                json!({"BufferingHints": {"IntervalInSeconds": 900, "SizeInMBs": 1},
                        "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]}}),
            ),
        );
        let rec = Bytes::from(vec![b'x'; 300 * 1024]);
        s.put_record_batch(vec![rec.clone(); 7]).unwrap();
        // 1 MiB holds three 300 KiB records; the 7th waits in the open buffer
        assert_eq!(s.flush_due().await.unwrap(), 2);
        assert_eq!(s.pending_records(), 1);
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(objs.len(), 2);
        for (_, body) in &objs {
            assert_eq!(body.len(), 3 * (300 * 1024 + 1));
            assert_eq!(body.last(), Some(&b'\n'));
        }
        assert_eq!(s.flush().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn compression_extension_and_prefix() {
        let f = fixture();
        let s = open(
            &f,
            dest(json!({"CompressionFormat": "GZIP",
                        "Prefix": "data/!{timestamp:yyyy-MM-dd}/r=!{firehose:random-string}/",
                        "ErrorOutputPrefix": "err/!{firehose:error-output-type}/"})),
        );
        s.put_record(Bytes::from_static(b"{\"a\":1}")).unwrap();
        s.flush().await.unwrap();
        let objs = objects(&f.bucket_root.join("bkt"));
        let (key, body) = &objs[0];
        assert!(key.starts_with("data/2024-03-09/r="), "{key}");
        assert!(key.ends_with(".gz"), "{key}");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out).unwrap();
        assert_eq!(out, b"{\"a\":1}");
    }

    #[tokio::test]
    async fn crash_recovery_delivers_acknowledged_records_once_per_key() {
        let f = fixture();
        let s = open(&f, dest(json!({})));
        s.put_record_batch(vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")])
            .unwrap();
        // "crash": drop without flushing
        drop(s);
        let s = open(&f, dest(json!({})));
        assert_eq!(s.pending_records(), 2);
        assert_eq!(s.flush_due().await.unwrap(), 1);
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].1, b"onetwo");
        // new buffers after recovery get fresh sequence numbers
        s.put_record(Bytes::from_static(b"3")).unwrap();
        s.flush().await.unwrap();
        assert_eq!(objects(&f.bucket_root.join("bkt")).len(), 2);
    }

    /// Buffers reuse delivered buffers' files; a crash recovers exactly the
    /// acknowledged records of the buffer in a reused file, and a reused
    /// file whose new header never reached the disk delivers nothing.
    #[tokio::test]
    async fn reused_buffer_files_recover_only_their_own_records() {
        let f = fixture();
        let d = || dest(json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}}));
        let s = open(&f, d());
        let big = Bytes::from(vec![b'x'; 300 * 1024]);
        for _ in 0..6 {
            s.put_record(big.clone()).unwrap();
        }
        assert_eq!(s.flush().await.unwrap(), 2);
        let free = |dir: &Path| {
            std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "free"))
                })
                .count()
        };
        assert_eq!(free(&f.buf_dir), 2);
        // The next buffer overwrites a delivered one's file (3 records of
        // 300 KiB, far longer than the new buffer's).
        s.put_record_batch(vec![
            Bytes::from_static(b"new1"),
            Bytes::from_static(b"new2"),
        ])
        .unwrap();
        assert_eq!(free(&f.buf_dir), 1);
        drop(s);
        // A file reused for buffer 99 whose header is still the old one.
        let stale = f.buf_dir.join(format!("{:020}.buf", 99));
        let spare = std::fs::read_dir(&f.buf_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "free"))
            .unwrap();
        std::fs::rename(&spare, &stale).unwrap();
        let s = open(&f, d());
        assert_eq!(s.pending_records(), 2);
        assert_eq!(s.flush().await.unwrap(), 1);
        let bodies: Vec<Vec<u8>> = objects(&f.bucket_root.join("bkt"))
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert_eq!(bodies.len(), 3);
        assert!(bodies.contains(&b"new1new2".to_vec()));
        // New buffers number past the stale file's name.
        assert_eq!(s.buffer_mark(), 100);
        assert!(!stale.exists());
    }

    #[tokio::test]
    async fn retry_after_store_failure_writes_same_key() {
        let f = fixture();
        let s = open(&f, dest(json!({})));
        s.put_record(Bytes::from_static(b"x")).unwrap();
        // make the bucket directory unusable: a file where the dir should be
        std::fs::create_dir_all(&f.bucket_root).unwrap();
        std::fs::write(f.bucket_root.join("bkt"), b"not a dir").unwrap();
        assert!(s.flush().await.is_err());
        assert_eq!(s.pending_records(), 1);
        std::fs::remove_file(f.bucket_root.join("bkt")).unwrap();
        assert_eq!(s.flush_due().await.unwrap(), 1);
        assert_eq!(s.stats().failed_attempts, 1);
        assert_eq!(objects(&f.bucket_root.join("bkt")).len(), 1);
    }

    #[tokio::test]
    async fn parquet_conversion_sends_misfits_to_error_output() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let f = fixture();
        let conv = json!({
            "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
            "DataFormatConversionConfiguration": {
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "GZIP"}}},
                "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t",
                    "Columns": [{"Name": "id", "Type": "int"}, {"Name": "name", "Type": "string"}]}}
        });
        let s = open(&f, dest(conv.clone()));
        s.put_record_batch(vec![
            Bytes::from_static(br#"{"id":1,"name":"a"}"#),
            Bytes::from_static(br#"{"id":"one"}"#),
            Bytes::from_static(br#"{"id":2}"#),
        ])
        .unwrap();
        assert_eq!(s.flush().await.unwrap(), 1);
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(
            objs.len(),
            2,
            "{:?}",
            objs.iter().map(|o| &o.0).collect::<Vec<_>>()
        );
        let (key, body) = &objs[0];
        assert!(
            key.starts_with("2024/03/09/23/s1-1-2024-03-09-23-59-58-"),
            "{key}"
        );
        assert!(key.ends_with(".parquet"), "{key}");
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(body.clone()))
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 2);
        let (ekey, ebody) = &objs[1];
        assert!(
            ekey.starts_with("err/format-conversion-failed/2024/03/09/23/s1-1-"),
            "{ekey}"
        );
        let err: serde_json::Value =
            serde_json::from_slice(ebody.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(err["ErrorCode"], "DataFormatConversion.ParseError");
        assert_eq!(err["rawData"], "eyJpZCI6Im9uZSJ9");
        assert_eq!(err["dataCatalogTable"]["tableName"], "t");
        assert!(err["ErrorMessage"].as_str().unwrap().contains("Column id"));
        // conversion needs UNCOMPRESSED at the S3 level
        let mut bad = conv;
        bad["BucketARN"] = json!("arn:aws:s3:::bkt");
        bad["CompressionFormat"] = json!("GZIP");
        let e = Destination::from_json(&bad, "extendedS3DestinationConfiguration").unwrap_err();
        assert!(e.to_string().contains("UNCOMPRESSED"), "{e}");
    }

    /// Serves `handler` over HTTP/1 on 127.0.0.1; returns the base URL.
    pub(crate) async fn serve(
        handler: impl Fn(Vec<u8>) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> String {
        use http_body_util::BodyExt;
        let handler = Arc::new(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let handler = Arc::clone(&handler);
                            async move {
                                let body =
                                    req.into_body().collect().await.unwrap().to_bytes().to_vec();
                                let (status, out) = handler(body);
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(http_body_util::Full::new(Bytes::from(out)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn lambda_over_http_partitions_drops_and_fails_records_with_backup() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let f = fixture();
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let url = serve(move |body| {
            // the first invocation fails: the retry gets the same records
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                return (500, b"boom".to_vec());
            }
            let ev: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(ev["deliveryStreamArn"], "arn:aws:firehose:us-east-1:123456789012:deliverystream/s1");
            let recs: Vec<serde_json::Value> = ev["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let d: serde_json::Value = serde_json::from_slice(
                        &base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().unwrap()).unwrap(),
                    )
                    .unwrap();
                    let result = match d["n"].as_i64().unwrap() {
                        2 => "Dropped",
                        3 => "ProcessingFailed",
                        _ => "Ok",
                    };
                    json!({"recordId": r["recordId"], "result": result,
                           "data": base64::engine::general_purpose::STANDARD.encode(format!("n={}\n", d["n"])),
                           "metadata": {"partitionKeys": {"c": d["c"]}}})
                })
                .collect();
            (200, serde_json::to_vec(&json!({"records": recs})).unwrap())
        })
        .await;
        let s = open(
            &f,
            dest(json!({
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
                "Prefix": "c=!{partitionKeyFromLambda:c}/",
                "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
                "DynamicPartitioningConfiguration": {"Enabled": true},
                "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "Lambda", "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": format!("{url}/fn")},
                    {"ParameterName": "NumberOfRetries", "ParameterValue": "1"}]}]},
                "S3BackupMode": "Enabled",
                "S3BackupConfiguration": {"BucketARN": "arn:aws:s3:::backup", "Prefix": "src/", "CompressionFormat": "GZIP"}
            })),
        );
        let input: Vec<Bytes> = [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
            .iter()
            .map(|(c, n)| Bytes::from(format!("{{\"c\":\"{c}\",\"n\":{n}}}")))
            .collect();
        s.put_record_batch(input.clone()).unwrap();
        assert_eq!(s.flush().await.unwrap(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let objs = objects(&f.bucket_root.join("bkt"));
        let keys: Vec<&String> = objs.iter().map(|o| &o.0).collect();
        assert_eq!(objs.len(), 3, "{keys:?}");
        assert!(
            objs[0]
                .0
                .starts_with("c=a/2024/03/09/23/s1-1-2024-03-09-23-59-58-"),
            "{keys:?}"
        );
        assert_eq!(objs[0].1, b"n=1\nn=5\n");
        assert!(objs[1].0.starts_with("c=b/2024/03/09/23/s1-1-"), "{keys:?}");
        assert_eq!(objs[1].1, b"n=4\n");
        assert!(
            objs[2]
                .0
                .starts_with("err/processing-failed/2024/03/09/23/s1-1-"),
            "{keys:?}"
        );
        let err: serde_json::Value =
            serde_json::from_slice(objs[2].1.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(err["errorCode"], "Lambda.ProcessingFailedStatus");
        assert_eq!(err["attemptsMade"], 2);
        assert_eq!(
            b64.decode(err["rawData"].as_str().unwrap()).unwrap(),
            input[2]
        );
        assert_eq!(err["lambdaArn"], format!("{url}/fn"));
        // the backup holds the source records as received
        let backup = objects(&f.bucket_root.join("backup"));
        assert_eq!(backup.len(), 1);
        assert!(
            backup[0].0.starts_with("src/2024/03/09/23/s1-1-"),
            "{}",
            backup[0].0
        );
        assert!(backup[0].0.ends_with(".gz"));
        let mut raw = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&backup[0].1[..]),
            &mut raw,
        )
        .unwrap();
        assert_eq!(raw, input.concat());
    }

    #[tokio::test]
    async fn kpl_records_from_a_source_are_opened() {
        let f = fixture();
        let s = open(&f, dest(json!({})));
        let agg = crate::deaggregate::tests::aggregate(&[b"x1,", b"x2,"]);
        let ids = s
            .put_source_records(vec![agg.clone(), Bytes::from_static(b"plain")])
            .unwrap();
        assert_eq!(ids.len(), 2);
        // Direct PUT keeps aggregates whole.
        s.put_record_batch(vec![agg.clone()]).unwrap();
        s.flush().await.unwrap();
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(objs[0].1, [&b"x1,x2,plain"[..], &agg[..]].concat());
    }

    fn dp_dest() -> Destination {
        dest(json!({
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "Prefix": "c=!{partitionKeyFromQuery:c}/!{timestamp:yyyy}/",
            "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
            "DynamicPartitioningConfiguration": {"Enabled": true},
            "ProcessingConfiguration": {"Enabled": true, "Processors": [
                {"Type": "MetadataExtraction", "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{c:.customer}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                {"Type": "AppendDelimiterToRecord", "Parameters": []}]}
        }))
    }

    #[tokio::test]
    async fn dynamic_partitioning_buffers_per_key_and_errors() {
        let f = fixture();
        let s = open(&f, dp_dest());
        s.put_record_batch(vec![
            Bytes::from_static(br#"{"customer":"a","n":1}"#),
            Bytes::from_static(br#"{"customer":"b","n":2}"#),
            Bytes::from_static(br#"{"n":3}"#),
            Bytes::from_static(br#"{"customer":"a","n":4}"#),
        ])
        .unwrap();
        // recovery keeps the partition of each buffer
        drop(s);
        let s = open(&f, dp_dest());
        assert_eq!(s.flush().await.unwrap(), 3);
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(
            objs.len(),
            3,
            "{:?}",
            objs.iter().map(|o| &o.0).collect::<Vec<_>>()
        );
        assert!(objs[0].0.starts_with("c=a/2024/s1-1-"), "{}", objs[0].0);
        assert_eq!(
            objs[0].1,
            b"{\"customer\":\"a\",\"n\":1}\n{\"customer\":\"a\",\"n\":4}\n"
        );
        assert!(objs[1].0.starts_with("c=b/2024/s1-1-"), "{}", objs[1].0);
        assert!(
            objs[2]
                .0
                .starts_with("err/partitioning-failed/2024/03/09/23/s1-1-"),
            "{}",
            objs[2].0
        );
        let err: serde_json::Value =
            serde_json::from_slice(objs[2].1.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(
            err["errorCode"],
            "DynamicPartitioning.MetadataExtractionFailed"
        );
        assert_eq!(err["rawData"], "eyJuIjozfQ==");
    }

    #[tokio::test]
    async fn active_partition_limit_sends_excess_to_error_prefix() {
        let f = fixture();
        let s = open(&f, dp_dest());
        let recs: Vec<Bytes> = (0..=MAX_ACTIVE_PARTITIONS)
            .map(|i| Bytes::from(format!("{{\"customer\":\"c{i:04}\"}}")))
            .collect();
        s.put_record_batch(recs).unwrap();
        s.flush().await.unwrap();
        let objs = objects(&f.bucket_root.join("bkt"));
        assert_eq!(objs.len(), MAX_ACTIVE_PARTITIONS + 1);
        let errs: Vec<_> = objs
            .iter()
            .filter(|o| o.0.starts_with("err/activePartitionExceeded/"))
            .collect();
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn dynamic_partitioning_rules() {
        let p = "extendedS3DestinationConfiguration";
        let base = json!({"BucketARN": "arn:aws:s3:::b",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "Prefix": "!{partitionKeyFromQuery:c}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}/",
            "DynamicPartitioningConfiguration": {"Enabled": true},
            "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "MetadataExtraction",
                "Parameters": [{"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{c:.c}"}]}]}});
        assert!(Destination::from_json(&base, p).is_ok());
        let with = |k: &str, v: serde_json::Value| {
            let mut j = base.clone();
            j[k] = v;
            Destination::from_json(&j, p).unwrap_err().to_string()
        };
        assert!(with("BufferingHints", json!({"SizeInMBs": 5})).contains("at least 64"));
        assert!(with("Prefix", json!("static/")).contains("partitionKeyFromQuery"));
        assert!(
            with(
                "DynamicPartitioningConfiguration",
                json!({"Enabled": false})
            )
            .contains("Enabled = true")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn driver_flushes_on_interval_with_paused_time() {
        let f = fixture();
        let clock = Arc::new(crate::clock::TokioClock::starting_at(
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        ));
        let s = DeliveryStream::open(
            "s1",
            dest(json!({"BufferingHints": {"IntervalInSeconds": 10}})),
            1,
            &f.buf_dir,
            f.buckets.clone(),
            clock,
        )
        .unwrap();
        let h = s.spawn_driver();
        s.put_record(Bytes::from_static(b"z")).unwrap();
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(s.stats().objects, 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        // let the blocking compression task finish
        for _ in 0..100 {
            if s.stats().objects == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(s.stats().objects, 1);
        s.close();
        h.await.unwrap();
    }
}

#[cfg(test)]
mod http_endpoint_tests {
    use super::*;
    use crate::store::LocalBuckets;
    use base64::Engine;
    use chrono::TimeZone;
    use serde_json::{Value, json};
    use std::sync::Mutex as StdMutex;

    type Seen = Arc<StdMutex<Vec<(http::HeaderMap, Value)>>>;

    /// Serves HTTP/1 on 127.0.0.1, recording each request's headers and
    /// (gunzipped) JSON body; `answer(n, request_id)` gives the n-th answer.
    async fn endpoint(
        answer: impl Fn(usize, &str) -> (u16, Value) + Send + Sync + 'static,
    ) -> (String, Seen) {
        use http_body_util::BodyExt;
        let seen: Seen = Arc::new(StdMutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (answer, seen) = (Arc::clone(&answer), Arc::clone(&s));
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (answer, seen) = (Arc::clone(&answer), Arc::clone(&seen));
                            async move {
                                let (parts, body) = req.into_parts();
                                let raw = body.collect().await.unwrap().to_bytes().to_vec();
                                let raw = if parts.headers.get("content-encoding").is_some() {
                                    let mut out = Vec::new();
                                    std::io::Read::read_to_end(
                                        &mut flate2::read::GzDecoder::new(&raw[..]),
                                        &mut out,
                                    )
                                    .unwrap();
                                    out
                                } else {
                                    raw
                                };
                                let doc: Value = serde_json::from_slice(&raw).unwrap();
                                let id = parts.headers["x-amz-firehose-request-id"]
                                    .to_str()
                                    .unwrap()
                                    .to_owned();
                                let n = {
                                    let mut v = seen.lock().unwrap();
                                    v.push((parts.headers.clone(), doc));
                                    v.len() - 1
                                };
                                let (status, body) = answer(n, &id);
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(http_body_util::Full::new(Bytes::from(
                                            serde_json::to_vec(&body).unwrap(),
                                        )))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        (format!("http://{addr}/ingest"), seen)
    }

    fn ok_answer(id: &str) -> (u16, Value) {
        (200, json!({"requestId": id, "timestamp": 1}))
    }

    struct Setup {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        stream: DeliveryStream,
    }

    fn setup(url: &str, extra: Value) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("buckets");
        let mut j = json!({
            "EndpointConfiguration": {"Url": url, "Name": "sink", "AccessKey": "secret-key"},
            "RequestConfiguration": {"ContentEncoding": "GZIP",
                "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "test"}]},
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "RetryOptions": {"DurationInSeconds": 60},
            "S3Configuration": {"BucketARN": "arn:aws:s3:::failed", "ErrorOutputPrefix": "err/!{firehose:error-output-type}/"}
        });
        if let (Some(a), Some(b)) = (j.as_object_mut(), extra.as_object()) {
            a.extend(b.clone());
        }
        let dest = Destination::from_http_json(&j, "httpEndpointDestinationConfiguration").unwrap();
        let clock = Arc::new(crate::clock::TokioClock::starting_at(
            Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        ));
        let stream = DeliveryStream::open(
            "h1",
            dest,
            1,
            tmp.path().join("buf"),
            Arc::new(LocalBuckets::new(&root)),
            clock,
        )
        .unwrap();
        Setup {
            _tmp: tmp,
            root,
            stream,
        }
    }

    fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
        super::tests::objects(root)
    }

    #[tokio::test(start_paused = true)]
    async fn delivers_with_firehose_request_contract() {
        let (url, seen) = endpoint(|_, id| ok_answer(id)).await;
        let s = setup(&url, json!({}));
        s.stream
            .put_record_batch(vec![Bytes::from_static(b"r1"), Bytes::from_static(b"r2")])
            .unwrap();
        assert_eq!(s.stream.flush().await.unwrap(), 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (h, body) = &seen[0];
        assert_eq!(h["x-amz-firehose-protocol-version"], "1.0");
        assert_eq!(h["x-amz-firehose-access-key"], "secret-key");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(
            h["x-amz-firehose-source-arn"],
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/h1"
        );
        let attrs: Value =
            serde_json::from_str(h["x-amz-firehose-common-attributes"].to_str().unwrap()).unwrap();
        assert_eq!(attrs, json!({"commonAttributes": {"env": "test"}}));
        assert_eq!(
            body["requestId"],
            h["x-amz-firehose-request-id"].to_str().unwrap()
        );
        assert_eq!(body["timestamp"], 1_714_564_800_000_i64);
        assert_eq!(body["records"], json!([{"data": "cjE="}, {"data": "cjI="}]));
        // nothing goes to S3 when the endpoint accepts
        assert!(files(&s.root).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_5xx_with_the_same_request_id() {
        let (url, seen) = endpoint(|n, id| {
            if n < 2 {
                (
                    503,
                    json!({"requestId": id, "timestamp": 1, "errorMessage": "busy"}),
                )
            } else {
                ok_answer(id)
            }
        })
        .await;
        let s = setup(
            &url,
            json!({"RequestConfiguration": {"ContentEncoding": "NONE"}}),
        );
        s.stream.put_record(Bytes::from_static(b"x")).unwrap();
        assert_eq!(s.stream.flush().await.unwrap(), 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let ids: Vec<&str> = seen
            .iter()
            .map(|(h, _)| h["x-amz-firehose-request-id"].to_str().unwrap())
            .collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        assert!(seen[0].0.get("content-encoding").is_none());
        assert!(files(&s.root).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn always_failing_endpoint_sends_records_to_error_prefix() {
        let (url, seen) = endpoint(|_, _| (500, json!({"errorMessage": "down"}))).await;
        let s = setup(&url, json!({}));
        let start = tokio::time::Instant::now();
        s.stream
            .put_record_batch(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])
            .unwrap();
        assert_eq!(s.stream.flush().await.unwrap(), 1);
        // retried for the 60 s retry duration, then given up
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(60), "{waited:?}");
        assert!(waited < Duration::from_secs(95), "{waited:?}");
        let attempts = seen.lock().unwrap().len();
        assert!(attempts >= 3, "{attempts}");
        let objs = files(&s.root);
        assert_eq!(objs.len(), 1, "{objs:?}");
        let (key, body) = &objs[0];
        assert!(
            key.starts_with(
                "failed/err/http-endpoint-failed/2024/05/01/12/h1-1-2024-05-01-12-00-00-"
            ),
            "{key}"
        );
        let lines: Vec<Value> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            b64.decode(lines[0]["rawData"].as_str().unwrap()).unwrap(),
            b"a"
        );
        assert_eq!(lines[0]["errorCode"], "HttpEndpoint.DestinationException");
        assert!(lines[0]["errorMessage"].as_str().unwrap().contains("down"));
        assert_eq!(lines[0]["attemptsMade"], attempts);
        assert_eq!(lines[0]["arrivalTimestamp"], 1_714_564_800_000_i64);
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_request_id_in_response_is_a_failure() {
        let (url, seen) =
            endpoint(|_, _| (200, json!({"requestId": "other", "timestamp": 1}))).await;
        let s = setup(
            &url,
            json!({"RetryOptions": {"DurationInSeconds": 0}, "S3BackupMode": "AllData",
                   "S3Configuration": {"BucketARN": "arn:aws:s3:::failed", "Prefix": "all/",
                       "ErrorOutputPrefix": "err/!{firehose:error-output-type}/"}}),
        );
        s.stream.put_record(Bytes::from_static(b"z")).unwrap();
        assert_eq!(s.stream.flush().await.unwrap(), 1);
        // RetryOptions 0: one attempt only
        assert_eq!(seen.lock().unwrap().len(), 1);
        let objs = files(&s.root);
        assert_eq!(objs.len(), 2, "{objs:?}");
        // AllData: the records are backed up under the S3 prefix as well
        assert!(
            objs[0].0.starts_with("failed/all/2024/05/01/12/h1-1-"),
            "{}",
            objs[0].0
        );
        assert_eq!(objs[0].1, b"z");
        assert!(
            objs[1].0.starts_with("failed/err/http-endpoint-failed/"),
            "{}",
            objs[1].0
        );
        let line: Value = serde_json::from_slice(objs[1].1.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(
            line["errorCode"],
            "HttpEndpoint.InvalidResponseFromDestination"
        );
        assert!(line["errorMessage"].as_str().unwrap().contains("\"other\""));
    }

    #[test]
    fn http_destination_validation() {
        let base = json!({"EndpointConfiguration": {"Url": "https://e.example/x"},
            "S3Configuration": {"BucketARN": "arn:aws:s3:::b"}});
        let p = "httpEndpointDestinationConfiguration";
        assert!(Destination::from_http_json(&base, p).is_ok());
        let mut j = base.clone();
        j["BufferingHints"] = json!({"SizeInMBs": 65});
        let e = Destination::from_http_json(&j, p).unwrap_err().to_string();
        assert!(
            e.contains("httpEndpointDestinationConfiguration.bufferingHints.sizeInMBs"),
            "{e}"
        );
        let mut j = base.clone();
        j.as_object_mut().unwrap().remove("S3Configuration");
        let e = Destination::from_http_json(&j, p).unwrap_err().to_string();
        assert!(e.contains("s3Configuration"), "{e}");
    }
}

/// Delivery to a destination that is down, with tokio's paused time driving
/// both the driver's backoff and the stream's clock ([`TokioClock`]).
///
/// [`TokioClock`]: crate::clock::TokioClock
#[cfg(test)]
mod retention_tests {
    use super::*;
    use crate::store::LocalBuckets;
    use chrono::TimeZone;
    use serde_json::json;
    use std::sync::atomic::AtomicBool;

    /// Local buckets that refuse every write while `down` is set.
    #[derive(Debug)]
    struct FlakyBuckets {
        inner: LocalBuckets,
        down: AtomicBool,
    }

    impl Buckets for FlakyBuckets {
        fn store(&self, bucket: &str) -> Result<Arc<dyn object_store::ObjectStore>> {
            if self.down.load(Ordering::SeqCst) {
                return Err(FirehoseError::Store {
                    bucket: bucket.to_owned(),
                    key: String::new(),
                    source: object_store::Error::Generic {
                        store: "test",
                        source: "bucket unreachable".into(),
                    },
                });
            }
            self.inner.store(bucket)
        }
    }

    struct Setup {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        buf_dir: PathBuf,
        buckets: Arc<FlakyBuckets>,
        stream: DeliveryStream,
        driver: tokio::task::JoinHandle<()>,
    }

    /// A gzip-free stream with a 60 s interval to bucket `bkt` (prefix `ok/`,
    /// error prefix `err/`), its destination down, its driver running.
    fn setup(retention: Option<Duration>) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("buckets");
        let buf_dir = tmp.path().join("buf");
        let buckets = Arc::new(FlakyBuckets {
            inner: LocalBuckets::new(&root),
            down: AtomicBool::new(true),
        });
        let dest = Destination::from_json(
            &json!({"BucketARN": "arn:aws:s3:::bkt", "Prefix": "ok/",
                    "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
                    "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}),
            "extendedS3DestinationConfiguration",
        )
        .unwrap();
        let clock = Arc::new(crate::clock::TokioClock::starting_at(
            Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap(),
        ));
        let mut stream =
            DeliveryStream::open("s1", dest, 1, &buf_dir, buckets.clone(), clock).unwrap();
        if let Some(r) = retention {
            stream = stream.with_retention(r);
        }
        let driver = stream.spawn_driver();
        Setup {
            _tmp: tmp,
            root,
            buf_dir,
            buckets,
            stream,
            driver,
        }
    }

    fn objects(root: &Path) -> Vec<(String, Vec<u8>)> {
        super::tests::objects(root)
    }

    fn buffer_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "buf"))
            })
            .count()
    }

    /// Sleeps (paused time) until `done` or a simulated minute has passed.
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..600 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn down_for_less_than_24_hours_is_retried_and_delivered_once() {
        let s = setup(None);
        assert_eq!(s.stream.retention(), DEFAULT_RETENTION);
        s.stream
            .put_record_batch(vec![Bytes::from_static(b"a\n"), Bytes::from_static(b"b\n")])
            .unwrap();
        // down for 23 h 59 min of the 24 h: retried all along, nothing lost
        tokio::time::sleep(Duration::from_secs(24 * 3600 - 60)).await;
        let st = s.stream.stats();
        assert_eq!(st.objects, 0);
        assert!(st.failed_attempts > 1000, "{st:?}");
        assert_eq!(st.expired_records, 0);
        assert_eq!(s.stream.pending_records(), 2);
        assert_eq!(buffer_files(&s.buf_dir), 1);
        s.buckets.down.store(false, Ordering::SeqCst);
        until(|| s.stream.stats().objects == 1).await;
        // a day later still one object, the buffer file gone
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        let objs = objects(&s.root);
        assert_eq!(objs.len(), 1, "{objs:?}");
        assert!(
            objs[0].0.starts_with("bkt/ok/2024/07/01/00/s1-1-"),
            "{}",
            objs[0].0
        );
        assert_eq!(objs[0].1, b"a\nb\n");
        let st = s.stream.stats();
        assert_eq!((st.objects, st.records, st.expired_records), (1, 2, 0));
        assert_eq!(s.stream.pending_records(), 0);
        assert_eq!(buffer_files(&s.buf_dir), 0);
        s.stream.close();
        s.driver.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn down_past_the_retention_drops_the_records_as_aws_does() {
        let s = setup(Some(Duration::from_secs(2 * 3600)));
        s.stream
            .put_record_batch(vec![Bytes::from_static(b"a\n"), Bytes::from_static(b"b\n")])
            .unwrap();
        // a second buffer, an hour younger
        tokio::time::sleep(Duration::from_secs(3600)).await;
        s.stream.put_record(Bytes::from_static(b"c\n")).unwrap();
        // the first buffer passes the 2 h window and is dropped; the second,
        // an hour younger, is still retried
        tokio::time::sleep(Duration::from_secs(3600 + 120)).await;
        let st = s.stream.stats();
        assert_eq!((st.objects, st.expired_records), (0, 2), "{st:?}");
        assert_eq!(s.stream.pending_records(), 1);
        assert_eq!(buffer_files(&s.buf_dir), 1);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let st = s.stream.stats();
        assert_eq!((st.objects, st.expired_records), (0, 3), "{st:?}");
        assert_eq!(s.stream.pending_records(), 0);
        assert_eq!(buffer_files(&s.buf_dir), 0);
        // back up: the dropped records are not delivered late, nor written
        // under the error output prefix (AWS loses them); new ones flow
        s.buckets.down.store(false, Ordering::SeqCst);
        s.stream.put_record(Bytes::from_static(b"d\n")).unwrap();
        until(|| s.stream.stats().objects == 1).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        let objs = objects(&s.root);
        assert_eq!(objs.len(), 1, "{objs:?}");
        assert!(objs[0].0.starts_with("bkt/ok/"), "{}", objs[0].0);
        assert_eq!(objs[0].1, b"d\n");
        s.stream.close();
        s.driver.await.unwrap();
    }
}
