//! The embeddable Kinesis Data Streams log: [`Kds`] holds streams of shards
//! on disk and offers the KDS operations as blocking Rust calls.
//!
//! Every call does file I/O and may wait for `fdatasync`: from async code,
//! call it inside `tokio::task::spawn_blocking`, except appends, which
//! have async forms ([`Kds::put_records_async`], [`Kds::put_record_async`])
//! that await the group commit without holding a thread. [`Kds`] is cheap
//! to clone; clones share the same log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use parking_lot::RwLock;

use crate::catalog::{Catalog, ConsumerMeta, EncryptionChange, ShardMeta, StreamMeta};
use crate::clock::Clock;
use crate::error::{KdsError, Result};
use crate::ids::{self, ParsedSequence, SequenceNumber};
use crate::segment::StoredRecord;
use crate::shard::{Durable, ShardLog};

mod consumers;
mod reshard;

/// Settings of a [`Kds`].
#[derive(Debug, Clone)]
pub struct KdsOptions {
    /// Account id in ARNs and messages.
    pub account_id: String,
    /// Region in ARNs and messages.
    pub region: String,
    /// A segment file is closed once it passes this size.
    pub segment_bytes: u64,
    /// Open shards allowed across all streams (DescribeLimits' ShardLimit).
    pub shard_limit: u32,
    /// How long a new stream stays CREATING, in ms (0: ACTIVE at once).
    pub create_delay_ms: i64,
    /// How long a deleted stream is still described as DELETING, in ms.
    pub delete_delay_ms: i64,
    /// How long a stream stays UPDATING after resharding or a retention or
    /// encryption change, in ms.
    pub update_delay_ms: i64,
    /// Iterators expire after this many ms.
    pub iterator_ttl_ms: i64,
    /// Enforce AWS's per-shard limits (writes 1 MiB/s and 1,000 records/s;
    /// reads 5 GetRecords/s and 2 MiB/s), answering
    /// ProvisionedThroughputExceededException. Off by default.
    pub throttle: bool,
}

impl Default for KdsOptions {
    fn default() -> Self {
        KdsOptions {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            segment_bytes: 64 << 20,
            shard_limit: 500,
            create_delay_ms: 0,
            delete_delay_ms: 0,
            update_delay_ms: 0,
            iterator_ttl_ms: 300_000,
            throttle: false,
        }
    }
}

/// Default retention, hours.
pub const DEFAULT_RETENTION_HOURS: u32 = 24;
/// Longest retention, hours.
pub const MAX_RETENTION_HOURS: u32 = 8760;

/// Most tags a stream can carry.
pub const MAX_TAGS: usize = 50;

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEntry {
    /// Partition key (1..=256 characters).
    pub partition_key: String,
    /// Explicit hash key, decimal, overriding the partition key's MD5.
    pub explicit_hash_key: Option<String>,
    /// Data blob (≤ 1 MiB).
    pub data: Vec<u8>,
}

/// Where an appended record went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Shard id.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: String,
}

/// A record read from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub sequence_number: String,
    /// Approximate arrival time, ms since the epoch.
    pub arrival_ms: i64,
    /// Partition key.
    pub partition_key: String,
    /// Data blob.
    pub data: Vec<u8>,
    /// Explicit hash key the producer gave, if any.
    pub explicit_hash_key: Option<String>,
    /// Written while the stream had server-side encryption on (AWS's
    /// per-record `EncryptionType` KMS).
    pub encrypted: bool,
}

/// A shard as DescribeStream and ListShards show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDescription {
    /// `shardId-000000000000`.
    pub shard_id: String,
    /// Index in the shard id.
    pub index: u32,
    /// Parent shard id.
    pub parent_shard_id: Option<String>,
    /// Adjacent parent shard id (merges).
    pub adjacent_parent_shard_id: Option<String>,
    /// First hash key.
    pub starting_hash_key: u128,
    /// Last hash key.
    pub ending_hash_key: u128,
    /// Sequence number of the shard's first record.
    pub starting_sequence_number: String,
    /// For closed shards, the sequence number of the last record.
    pub ending_sequence_number: Option<String>,
}

/// A stream as DescribeStream shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescription {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// CREATING or ACTIVE.
    pub status: &'static str,
    /// PROVISIONED or ON_DEMAND.
    pub mode: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Retention in hours.
    pub retention_hours: u32,
    /// KMS key when encrypted.
    pub encryption_key: Option<String>,
    /// All retained shards, open and closed, by index.
    pub shards: Vec<ShardDescription>,
    /// Shards that take writes.
    pub open_shard_count: usize,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Shard-level metrics enabled, in AWS's order.
    pub shard_level_metrics: Vec<String>,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IteratorStart {
    /// The oldest retained record.
    TrimHorizon,
    /// Just after the newest record.
    Latest,
    /// At this sequence number.
    AtSequenceNumber(String),
    /// Just after this sequence number.
    AfterSequenceNumber(String),
    /// The first record that arrived at or after this time (ms since the epoch).
    AtTimestamp(i64),
}

impl IteratorStart {
    fn type_name(&self) -> &'static str {
        match self {
            IteratorStart::TrimHorizon => "TRIM_HORIZON",
            IteratorStart::Latest => "LATEST",
            IteratorStart::AtSequenceNumber(_) => "AT_SEQUENCE_NUMBER",
            IteratorStart::AfterSequenceNumber(_) => "AFTER_SEQUENCE_NUMBER",
            IteratorStart::AtTimestamp(_) => "AT_TIMESTAMP",
        }
    }
}

/// The first 8 bytes of every shard iterator AWS hands out.
const ITERATOR_HEADER: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];

/// A position in a shard, handed out as an opaque, expiring token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIterator {
    /// Internal id of the stream.
    pub stream_id: u64,
    /// Name of the stream.
    pub stream_name: String,
    /// Shard index.
    pub shard_index: u32,
    /// Position of the next record to read.
    pub position: u64,
    /// When the iterator was issued, ms since the epoch.
    pub issued_ms: i64,
}

impl ShardIterator {
    /// The opaque token, shaped as AWS's are: base64 of 8 bytes
    /// `00 00 00 00 00 00 00 01`, then the fields and a CRC32C over them,
    /// zero-padded to 152 + 16k bytes in all.
    pub fn encode(&self) -> String {
        let text = format!(
            "1/{}/{}/{}/{}/{}",
            self.issued_ms, self.stream_id, self.shard_index, self.position, self.stream_name
        );
        let crc = crc32c::crc32c(text.as_bytes());
        let mut raw = ITERATOR_HEADER.to_vec();
        raw.extend_from_slice(format!("{text}/{crc:08x}").as_bytes());
        let len = raw.len().max(152);
        raw.resize(152 + (len - 152).div_ceil(16) * 16, 0);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// Parses a token made by [`Self::encode`] (or by earlier versions,
    /// without the header); `None` if it is not one.
    pub fn decode(token: &str) -> Option<ShardIterator> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()?;
        let raw = match raw.strip_prefix(&ITERATOR_HEADER[..]) {
            Some(rest) => {
                let end = rest.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                rest[..end].to_vec()
            }
            None => raw,
        };
        let text = String::from_utf8(raw).ok()?;
        let (body, crc) = text.rsplit_once('/')?;
        if u32::from_str_radix(crc, 16).ok()? != crc32c::crc32c(body.as_bytes()) {
            return None;
        }
        let mut parts = body.splitn(6, '/');
        if parts.next()? != "1" {
            return None;
        }
        Some(ShardIterator {
            issued_ms: parts.next()?.parse().ok()?,
            stream_id: parts.next()?.parse().ok()?,
            shard_index: parts.next()?.parse().ok()?,
            position: parts.next()?.parse().ok()?,
            stream_name: parts.next()?.to_owned(),
        })
    }
}

/// What GetRecords returns.
#[derive(Debug, Clone, PartialEq)]
pub struct GetRecordsOutput {
    /// The records, in order.
    pub records: Vec<Record>,
    /// Where to continue; `None` once a closed shard is read to its end.
    pub next_shard_iterator: Option<ShardIterator>,
    /// How far the reader is behind the newest record, ms.
    pub millis_behind_latest: i64,
    /// At the end of a closed shard: its children.
    pub child_shards: Vec<ShardDescription>,
}

/// An enhanced fan-out consumer as the Consumer APIs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerDescription {
    /// Name.
    pub name: String,
    /// `<stream ARN>/consumer/<name>:<creation epoch seconds>`.
    pub arn: String,
    /// Registration time, ms since the epoch.
    pub created_ms: i64,
    /// ARN of its stream.
    pub stream_arn: String,
    /// CREATING, ACTIVE or DELETING.
    pub status: &'static str,
}

/// Ways to page ListShards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardFilter {
    /// List shards after this shard id.
    pub exclusive_start_shard_id: Option<String>,
    /// AT_LATEST, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AFTER_SHARD_ID, AT_TIMESTAMP, FROM_TIMESTAMP.
    pub filter_type: Option<String>,
    /// Shard id for AFTER_SHARD_ID.
    pub shard_id: Option<String>,
    /// Time for AT_TIMESTAMP / FROM_TIMESTAMP, ms.
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug)]
enum ShardHandle {
    Open(Arc<ShardLog>),
    Stopped(String),
}

/// A shard's batch handed in: its shard, the indices in the request of
/// its records, and the log with (first position, arrival ms, end
/// position), or why it was not written.
type Written = (u32, Vec<usize>, Result<(Arc<ShardLog>, u64, i64, u64)>);

/// A shard's batch once its commit is done: its shard, the indices in
/// the request of its records, and (first position, arrival ms) or the
/// error that failed it.
type Synced = (u32, Vec<usize>, Result<(u64, i64)>);

/// A put's batches, handed in and not yet durable.
struct HandedIn {
    stream_id: u64,
    /// Each shard's creation time (seconds), for its sequence numbers.
    created_secs: Vec<(u32, u64)>,
    written: Vec<Written>,
}

#[derive(Debug)]
struct State {
    catalog: Catalog,
    shards: HashMap<(u64, u32), ShardHandle>,
    /// Streams deleted within [`KdsOptions::delete_delay_ms`]: described
    /// as DELETING until the time given. Their data is already gone.
    deleting: Vec<(StreamMeta, i64)>,
}

/// Records a stream took in and gave out since this process opened the
/// log (what a console's records/s figures are made from).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamTraffic {
    /// Records written (acknowledged PutRecord/PutRecords entries).
    pub records_in: u64,
    /// Records returned by GetRecords.
    pub records_out: u64,
}

/// Use of one shard in the current second, for throttling.
#[derive(Debug, Default)]
struct Usage {
    second: i64,
    put_records: u64,
    put_bytes: u64,
    gets: u32,
    get_bytes: u64,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    options: KdsOptions,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    usage: parking_lot::Mutex<HashMap<(u64, u32), Usage>>,
    /// Streams with a resharding change waiting to be applied (UPDATING).
    pending: parking_lot::Mutex<HashSet<u64>>,
    /// Per stream id: records in and out since the log was opened.
    traffic: parking_lot::Mutex<HashMap<u64, StreamTraffic>>,
}

impl Inner {
    fn usage<T>(&self, key: (u64, u32), now: i64, f: impl FnOnce(&mut Usage) -> T) -> T {
        let mut all = self.usage.lock();
        let u = all.entry(key).or_default();
        let second = now.div_euclid(1000);
        if u.second != second {
            *u = Usage {
                second,
                ..Usage::default()
            };
        }
        f(u)
    }

    /// Counts a write; false if it would pass the shard's limits.
    fn admit_put(&self, key: (u64, u32), records: u64, bytes: u64, now: i64) -> bool {
        !self.options.throttle
            || self.usage(key, now, |u| {
                let ok = u.put_records + records <= 1000 && u.put_bytes + bytes <= 1 << 20;
                if ok {
                    u.put_records += records;
                    u.put_bytes += bytes;
                }
                ok
            })
    }

    /// Counts a GetRecords call; false if it would pass the shard's limits.
    fn admit_get(&self, key: (u64, u32), now: i64) -> bool {
        !self.options.throttle
            || self.usage(key, now, |u| {
                let ok = u.gets < 5 && u.get_bytes < 2 << 20;
                if ok {
                    u.gets += 1;
                }
                ok
            })
    }

    fn note_get_bytes(&self, key: (u64, u32), bytes: u64, now: i64) {
        if self.options.throttle {
            self.usage(key, now, |u| u.get_bytes += bytes);
        }
    }
}

/// The durable shard log. See the module docs.
#[derive(Debug, Clone)]
pub struct Kds {
    inner: Arc<Inner>,
}

fn shard_dir(dir: &Path, stream_id: u64, index: u32) -> PathBuf {
    dir.join("streams")
        .join(format!("{stream_id:010}"))
        .join(format!("{index:010}"))
}

fn fmt_amz_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string())
        .unwrap_or_else(|| ms.to_string())
}

impl Kds {
    /// Opens the log in `dir` (creating it), recovering every shard.
    ///
    /// A shard with damage mid-segment is stopped: its reads and writes
    /// answer [`KdsError::ShardStopped`]; see [`Kds::stopped_shards`].
    pub fn open(dir: impl AsRef<Path>, options: KdsOptions, clock: Arc<dyn Clock>) -> Result<Kds> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join("streams")).map_err(KdsError::io(&dir))?;
        let catalog = Catalog::load(&dir)?;
        let mut shards = HashMap::new();
        for s in &catalog.streams {
            for sh in &s.shards {
                let path = shard_dir(&dir, s.id, sh.index);
                let handle = match ShardLog::open(&path, options.segment_bytes) {
                    Ok(log) => ShardHandle::Open(Arc::new(log)),
                    Err(e) => ShardHandle::Stopped(e.to_string()),
                };
                shards.insert((s.id, sh.index), handle);
            }
        }
        // Directories of streams that are not in the catalog are leftovers of
        // an interrupted create or delete.
        let known: Vec<String> = catalog
            .streams
            .iter()
            .map(|s| format!("{:010}", s.id))
            .collect();
        let streams_dir = dir.join("streams");
        for entry in std::fs::read_dir(&streams_dir).map_err(KdsError::io(&streams_dir))? {
            let entry = entry.map_err(KdsError::io(&streams_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                std::fs::remove_dir_all(entry.path()).map_err(KdsError::io(entry.path()))?;
            }
        }
        let kds = Kds {
            inner: Arc::new(Inner {
                dir,
                options,
                clock,
                state: RwLock::new(State {
                    catalog,
                    shards,
                    deleting: Vec::new(),
                }),
                usage: parking_lot::Mutex::new(HashMap::new()),
                pending: parking_lot::Mutex::new(HashSet::new()),
                traffic: parking_lot::Mutex::new(HashMap::new()),
            }),
        };
        kds.enforce_retention()?;
        Ok(kds)
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &KdsOptions {
        &self.inner.options
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn account(&self) -> String {
        self.inner.options.account_id.clone()
    }

    /// The ARN of a stream called `name`.
    pub fn stream_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{}",
            self.inner.options.region, self.inner.options.account_id, name
        )
    }

    /// The stream name in an ARN of this account and region, if it is one.
    pub fn name_from_arn<'a>(&self, arn: &'a str) -> Option<&'a str> {
        let prefix = format!(
            "arn:aws:kinesis:{}:{}:stream/",
            self.inner.options.region, self.inner.options.account_id
        );
        arn.strip_prefix(prefix.as_str())
    }

    pub(crate) fn not_found(&self, stream: &str) -> KdsError {
        KdsError::StreamNotFound {
            stream: stream.to_owned(),
            account: self.account(),
        }
    }

    fn shard_not_found(&self, stream: &str, shard: &str) -> KdsError {
        KdsError::ShardNotFound {
            shard: shard.to_owned(),
            stream: stream.to_owned(),
            account: self.account(),
        }
    }

    fn open_shard_total(catalog: &Catalog) -> u32 {
        catalog
            .streams
            .iter()
            .map(|s| s.shards.iter().filter(|sh| sh.is_open()).count() as u32)
            .sum()
    }

    fn check_shard_limit(&self, catalog: &Catalog, additional: u32) -> Result<()> {
        let current = Self::open_shard_total(catalog);
        let limit = self.inner.options.shard_limit;
        if current + additional > limit {
            return Err(KdsError::LimitExceeded {
                message: format!(
                    "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {current}. Limit: {limit}. Number of additional shards that would have resulted from this request: {additional}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
                    self.inner.options.account_id, self.inner.options.region
                ),
            });
        }
        Ok(())
    }

    /// Creates a stream with `shard_count` shards over uniform hash-key ranges.
    /// `None` shard count makes an ON_DEMAND stream of 4 shards.
    pub fn create_stream(&self, name: &str, shard_count: Option<u32>) -> Result<()> {
        let (mode, count) = match shard_count {
            Some(n) => ("PROVISIONED", n),
            None => ("ON_DEMAND", 4),
        };
        let mut st = self.inner.state.write();
        if st.catalog.stream(name).is_some() {
            return Err(KdsError::StreamExists {
                stream: name.to_owned(),
                account: self.account(),
            });
        }
        self.check_shard_limit(&st.catalog, count)?;
        let id = st.catalog.next_stream_id;
        let now = self.now();
        let shards: Vec<ShardMeta> = ids::uniform_ranges(count)
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| ShardMeta {
                index: i as u32,
                parent: None,
                adjacent_parent: None,
                start_hash: start,
                end_hash: end,
                closed_at: None,
                closed_ms: None,
                created_ms: Some(now),
            })
            .collect();
        let mut opened = Vec::new();
        for sh in &shards {
            let log = ShardLog::open(
                &shard_dir(&self.inner.dir, id, sh.index),
                self.inner.options.segment_bytes,
            )?;
            opened.push(((id, sh.index), ShardHandle::Open(Arc::new(log))));
        }
        let mut catalog = st.catalog.clone();
        catalog.next_stream_id = id + 1;
        catalog.streams.push(StreamMeta {
            id,
            name: name.to_owned(),
            created_ms: now,
            retention_hours: DEFAULT_RETENTION_HOURS,
            mode: mode.to_owned(),
            tags: BTreeMap::new(),
            encryption_key: None,
            shards,
            consumers: Vec::new(),
            updated_ms: None,
            shard_level_metrics: Vec::new(),
            encryption_changes: Vec::new(),
        });
        catalog.save(&self.inner.dir)?;
        st.catalog = catalog;
        st.shards.extend(opened);
        Ok(())
    }

    /// Deletes a stream and its data.
    pub fn delete_stream(&self, name: &str) -> Result<()> {
        let mut st = self.inner.state.write();
        let Some(meta) = st.catalog.stream(name).cloned() else {
            return Err(self.not_found(name));
        };
        let mut catalog = st.catalog.clone();
        catalog.streams.retain(|s| s.id != meta.id);
        catalog.save(&self.inner.dir)?;
        st.catalog = catalog;
        st.shards.retain(|(sid, _), _| *sid != meta.id);
        let now = self.now();
        let until = now + self.inner.options.delete_delay_ms;
        st.deleting.retain(|(m, t)| *t > now && m.name != meta.name);
        if until > now {
            st.deleting.push((meta.clone(), until));
        }
        let dir = self
            .inner
            .dir
            .join("streams")
            .join(format!("{:010}", meta.id));
        std::fs::remove_dir_all(&dir).map_err(KdsError::io(&dir))?;
        Ok(())
    }

    /// True if the stream has server-side encryption on (a catalog lookup,
    /// cheap enough for every put's answer).
    pub fn is_encrypted(&self, name: &str) -> bool {
        let st = self.inner.state.read();
        st.catalog
            .stream(name)
            .is_some_and(|m| m.encryption_key.is_some())
    }

    /// True if a stream of this name exists and is not still CREATING.
    pub fn stream_exists(&self, name: &str) -> bool {
        let st = self.inner.state.read();
        st.catalog
            .stream(name)
            .is_some_and(|m| self.status_of(m) != "CREATING")
    }

    /// Names of all streams, sorted.
    pub fn list_streams(&self) -> Vec<String> {
        let st = self.inner.state.read();
        let mut names: Vec<String> = st.catalog.streams.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names
    }

    fn describe_shard(stream: &StreamMeta, sh: &ShardMeta) -> ShardDescription {
        let created_secs = Self::shard_created_secs(stream, sh);
        let seq = |position, arrival_secs| {
            SequenceNumber {
                shard_created_secs: created_secs,
                shard_index: sh.index,
                position,
                arrival_secs,
            }
            .to_string()
        };
        ShardDescription {
            shard_id: ids::shard_id(sh.index),
            index: sh.index,
            parent_shard_id: sh.parent.map(ids::shard_id),
            adjacent_parent_shard_id: sh.adjacent_parent.map(ids::shard_id),
            starting_hash_key: sh.start_hash,
            ending_hash_key: sh.end_hash,
            starting_sequence_number: seq(0, created_secs),
            // As AWS: the largest position the field holds, at the time the
            // shard was closed, so it is above every record the shard has.
            ending_sequence_number: sh.closed_at.map(|_| {
                let closed_secs = sh
                    .closed_ms
                    .map_or(created_secs, |c| (c.max(0) / 1000) as u64);
                seq(i64::MAX as u64, closed_secs)
            }),
        }
    }

    /// CREATING for [`KdsOptions::create_delay_ms`] after creation,
    /// UPDATING for [`KdsOptions::update_delay_ms`] after a change, else ACTIVE.
    fn status_at(&self, meta: &StreamMeta, now: i64) -> &'static str {
        let o = &self.inner.options;
        if now < meta.created_ms + o.create_delay_ms {
            "CREATING"
        } else if meta.updated_ms.is_some_and(|u| now < u + o.update_delay_ms)
            || self.inner.pending.lock().contains(&meta.id)
        {
            "UPDATING"
        } else {
            "ACTIVE"
        }
    }

    pub(crate) fn status_of(&self, meta: &StreamMeta) -> &'static str {
        self.status_at(meta, self.now())
    }

    /// A shard's creation time in its sequence numbers, epoch seconds.
    fn shard_created_secs(stream: &StreamMeta, sh: &ShardMeta) -> u64 {
        (sh.created_ms.unwrap_or(stream.created_ms).max(0) / 1000) as u64
    }

    /// Describes a stream, all its shards included.
    pub fn describe_stream(&self, name: &str) -> Result<StreamDescription> {
        let st = self.inner.state.read();
        let now = self.now();
        let deleting = st
            .deleting
            .iter()
            .find(|(m, until)| m.name == name && *until > now)
            .map(|(m, _)| m);
        let meta = st
            .catalog
            .stream(name)
            .or(deleting)
            .ok_or_else(|| self.not_found(name))?;
        let status = if st.catalog.stream(name).is_some() {
            self.status_at(meta, now)
        } else {
            "DELETING"
        };
        // A stream being created or deleted shows no shards.
        let no_shards = matches!(status, "CREATING" | "DELETING");
        Ok(StreamDescription {
            name: meta.name.clone(),
            arn: self.stream_arn(&meta.name),
            status,
            mode: meta.mode.clone(),
            created_ms: meta.created_ms,
            retention_hours: meta.retention_hours,
            encryption_key: meta.encryption_key.clone(),
            shards: meta
                .shards
                .iter()
                .filter(|_| !no_shards)
                .map(|sh| Self::describe_shard(meta, sh))
                .collect(),
            open_shard_count: meta
                .shards
                .iter()
                .filter(|s| s.is_open() && !no_shards)
                .count(),
            tags: meta.tags.clone(),
            shard_level_metrics: meta.shard_level_metrics.clone(),
        })
    }

    /// Shards of a stream, filtered as ListShards does.
    pub fn list_shards(&self, name: &str, filter: &ShardFilter) -> Result<Vec<ShardDescription>> {
        let st = self.inner.state.read();
        let meta = st
            .catalog
            .stream(name)
            .ok_or_else(|| self.not_found(name))?;
        let after = match filter.filter_type.as_deref() {
            Some("AFTER_SHARD_ID") => filter.shard_id.as_deref(),
            _ => filter.exclusive_start_shard_id.as_deref(),
        }
        .and_then(ids::parse_shard_id);
        let now = self.now();
        let retention_ms = i64::from(meta.retention_hours) * 3_600_000;
        let mut out = Vec::new();
        for sh in &meta.shards {
            if after.is_some_and(|a| sh.index <= a) {
                continue;
            }
            let keep = match filter.filter_type.as_deref() {
                Some("AT_LATEST") => sh.is_open(),
                Some("AT_TRIM_HORIZON") | Some("FROM_TRIM_HORIZON") => {
                    sh.closed_ms.is_none_or(|c| c >= now - retention_ms)
                }
                Some("AT_TIMESTAMP") | Some("FROM_TIMESTAMP") => {
                    let t = filter.timestamp_ms.unwrap_or(now);
                    sh.closed_ms.is_none_or(|c| c >= t)
                }
                _ => true,
            };
            if keep {
                out.push(Self::describe_shard(meta, sh));
            }
        }
        Ok(out)
    }

    /// Appends records, routing each by its hash key; returns once all are on disk.
    ///
    /// Records routed to the same shard keep their order and form one batch.
    /// A shard that fails gives its records an error; the others succeed.
    pub fn put_records(
        &self,
        name: &str,
        entries: Vec<PutEntry>,
    ) -> Result<Vec<Result<PutOutcome, KdsError>>> {
        let handed = self.hand_in(name, entries)?;
        // Shards sync in parallel: this thread waits for the first, helper
        // threads for the others (none for the common single-shard put).
        let wait = |(shard, idx, result): Written| {
            let r = result.and_then(|(log, first, arrival, end)| {
                log.wait_durable(end).map(|()| (first, arrival))
            });
            (shard, idx, r)
        };
        let synced: Vec<_> = if handed.written.len() <= 1 {
            // The common put to one shard: no helper, no thread scope.
            handed.written.into_iter().map(wait).collect()
        } else {
            let mut written = handed.written.into_iter();
            let first_group = written.next();
            std::thread::scope(|scope| {
                let handles: Vec<_> = written.map(|w| scope.spawn(move || wait(w))).collect();
                let mut synced: Vec<_> = first_group.map(wait).into_iter().collect();
                synced.extend(handles.into_iter().filter_map(|h| h.join().ok()));
                synced
            })
        };
        Ok(self.outcomes(name, handed.stream_id, &handed.created_secs, synced))
    }

    /// [`Kds::put_records`] for async callers: the same routing, batches
    /// and outcomes, but the task awaits its batches' group commits
    /// ([`ShardLog::durable`]) instead of holding a thread while they sync.
    /// Routing and handing the batches in take the stream's locks briefly,
    /// as in `put_records`.
    pub async fn put_records_async(
        &self,
        name: &str,
        entries: Vec<PutEntry>,
    ) -> Result<Vec<Result<PutOutcome, KdsError>>> {
        let handed = self.hand_in(name, entries)?;
        // Every shard's wait is polled from the first poll on, so each
        // shard's commit starts at once and they sync in parallel (awaiting
        // them one after another would start a shard's commit only once
        // the shards before it were durable).
        type Waiting = (u32, Vec<usize>, Result<(u64, i64)>, Option<Durable>);
        let mut waiting: Vec<Waiting> = handed
            .written
            .into_iter()
            .map(|(shard, idx, result)| match result {
                Ok((log, first, arrival, end)) => {
                    (shard, idx, Ok((first, arrival)), Some(log.durable(end)))
                }
                Err(e) => (shard, idx, Err(e), None),
            })
            .collect();
        std::future::poll_fn(|cx| {
            let mut done = true;
            for (_, _, outcome, wait) in waiting.iter_mut() {
                let Some(durable) = wait else { continue };
                match std::pin::Pin::new(durable).poll(cx) {
                    std::task::Poll::Ready(r) => {
                        if let Err(e) = r {
                            *outcome = Err(e);
                        }
                        *wait = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
            if done {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        let synced = waiting
            .into_iter()
            .map(|(shard, idx, outcome, _)| (shard, idx, outcome))
            .collect();
        Ok(self.outcomes(name, handed.stream_id, &handed.created_secs, synced))
    }

    /// Appends one record from an async task; see [`Kds::put_records_async`].
    pub async fn put_record_async(&self, name: &str, entry: PutEntry) -> Result<PutOutcome> {
        self.put_records_async(name, vec![entry])
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(KdsError::invalid("no record")))
    }

    /// Routes `entries` to their shards and hands each shard's records in
    /// as one batch, without waiting for them to be durable.
    fn hand_in(&self, name: &str, entries: Vec<PutEntry>) -> Result<HandedIn> {
        let now = self.now();
        // Route and write under the read lock (resharding waits), sync outside it.
        type Group = (u32, Vec<usize>, Vec<StoredRecord>);
        let (stream_id, created_secs, written) = {
            let st = self.inner.state.read();
            let meta = st
                .catalog
                .stream(name)
                .filter(|m| self.status_at(m, now) != "CREATING")
                .ok_or_else(|| self.not_found(name))?;
            let mut groups: Vec<Group> = Vec::new();
            for (i, e) in entries.into_iter().enumerate() {
                let key = match &e.explicit_hash_key {
                    Some(k) => ids::parse_hash_key(k).ok_or_else(|| {
                        KdsError::invalid(format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"))
                    })?,
                    None => ids::partition_hash_key(&e.partition_key),
                };
                let shard = meta
                    .shards
                    .iter()
                    .find(|s| s.is_open() && s.start_hash <= key && key <= s.end_hash)
                    .map(|s| s.index)
                    .ok_or_else(|| KdsError::invalid("No open shard covers the hash key."))?;
                let record = StoredRecord {
                    partition_key: e.partition_key,
                    explicit_hash_key: e.explicit_hash_key,
                    data: e.data,
                };
                match groups.iter_mut().find(|g| g.0 == shard) {
                    Some(g) => {
                        g.1.push(i);
                        g.2.push(record);
                    }
                    None => groups.push((shard, vec![i], vec![record])),
                }
            }
            let mut written = Vec::new();
            for (shard, idx, records) in groups {
                let (idx, records) = if self.inner.options.throttle {
                    match self.admit_each(name, (meta.id, shard), idx, records, now, &mut written) {
                        Some(admitted) => admitted,
                        None => continue,
                    }
                } else {
                    (idx, records)
                };
                let result = match st.shards.get(&(meta.id, shard)) {
                    Some(ShardHandle::Open(log)) => log
                        .write(&records, now)
                        .map(|(first, arrival, end)| (log.clone(), first, arrival, end)),
                    Some(ShardHandle::Stopped(reason)) => Err(KdsError::ShardStopped {
                        shard: ids::shard_id(shard),
                        stream: name.to_owned(),
                        reason: reason.clone(),
                    }),
                    None => Err(self.shard_not_found(name, &ids::shard_id(shard))),
                };
                written.push((shard, idx, result));
            }
            let created: Vec<(u32, u64)> = meta
                .shards
                .iter()
                .map(|sh| (sh.index, Self::shard_created_secs(meta, sh)))
                .collect();
            (meta.id, created, written)
        };
        Ok(HandedIn {
            stream_id,
            created_secs,
            written,
        })
    }

    /// Each record's outcome, in request order, from its shard's group:
    /// its sequence number once the group is durable, or the group's error.
    fn outcomes(
        &self,
        name: &str,
        stream_id: u64,
        created_secs: &[(u32, u64)],
        synced: Vec<Synced>,
    ) -> Vec<Result<PutOutcome, KdsError>> {
        let total: usize = synced.iter().map(|w| w.1.len()).sum();
        let mut out: Vec<Option<Result<PutOutcome, KdsError>>> = (0..total).map(|_| None).collect();
        let acknowledged: usize = synced
            .iter()
            .filter(|(_, _, r)| r.is_ok())
            .map(|(_, idx, _)| idx.len())
            .sum();
        if acknowledged > 0 {
            let mut traffic = self.inner.traffic.lock();
            traffic.entry(stream_id).or_default().records_in += acknowledged as u64;
        }
        for (shard, idx, r) in synced {
            match r {
                Ok((first, arrival)) => {
                    let shard_created_secs = created_secs
                        .iter()
                        .find(|c| c.0 == shard)
                        .map_or(0, |c| c.1);
                    for (k, i) in idx.into_iter().enumerate() {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(Ok(PutOutcome {
                                shard_id: ids::shard_id(shard),
                                sequence_number: SequenceNumber {
                                    shard_created_secs,
                                    shard_index: shard,
                                    position: first + k as u64,
                                    arrival_secs: (arrival.max(0) / 1000) as u64,
                                }
                                .to_string(),
                            }));
                        }
                    }
                }
                Err(e) => {
                    let throttled = matches!(e, KdsError::Throughput { .. });
                    let text = e.to_string();
                    for i in idx {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(Err(if throttled {
                                self.throughput(name, shard)
                            } else {
                                KdsError::ShardStopped {
                                    shard: ids::shard_id(shard),
                                    stream: name.to_owned(),
                                    reason: text.clone(),
                                }
                            }));
                        }
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(KdsError::ShardStopped {
                        shard: String::new(),
                        stream: name.to_owned(),
                        reason: "write thread failed".into(),
                    })
                })
            })
            .collect()
    }

    /// Like AWS, a shard's write limits are applied record by record in
    /// request order: the records past them fail (pushed to `written` as
    /// one throttled group), the rest are returned to be written (`None`
    /// when no record is left).
    #[allow(clippy::type_complexity)]
    fn admit_each(
        &self,
        name: &str,
        key: (u64, u32),
        idx: Vec<usize>,
        records: Vec<StoredRecord>,
        now: i64,
        written: &mut Vec<(u32, Vec<usize>, Result<(Arc<ShardLog>, u64, i64, u64)>)>,
    ) -> Option<(Vec<usize>, Vec<StoredRecord>)> {
        let (mut admitted, mut kept, mut refused) = (Vec::new(), Vec::new(), Vec::new());
        for (i, r) in idx.into_iter().zip(records) {
            let size = (r.data.len() + r.partition_key.len()) as u64;
            if self.inner.admit_put(key, 1, size, now) {
                admitted.push(i);
                kept.push(r);
            } else {
                refused.push(i);
            }
        }
        if !refused.is_empty() {
            written.push((key.1, refused, Err(self.throughput(name, key.1))));
        }
        (!kept.is_empty()).then_some((admitted, kept))
    }

    fn throughput(&self, stream: &str, shard: u32) -> KdsError {
        KdsError::Throughput {
            shard: ids::shard_id(shard),
            stream: stream.to_owned(),
            account: self.account(),
        }
    }

    /// Records the stream `name` took in and gave out since the log was
    /// opened (None: no such stream).
    pub fn traffic(&self, name: &str) -> Option<StreamTraffic> {
        let id = self.inner.state.read().catalog.stream(name)?.id;
        Some(
            self.inner
                .traffic
                .lock()
                .get(&id)
                .copied()
                .unwrap_or_default(),
        )
    }

    /// Appends one record; see [`Kds::put_records`].
    pub fn put_record(&self, name: &str, entry: PutEntry) -> Result<PutOutcome> {
        self.put_records(name, vec![entry])?
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(KdsError::invalid("no record")))
    }

    fn shard_log(&self, st: &State, stream: &StreamMeta, index: u32) -> Result<Arc<ShardLog>> {
        match st.shards.get(&(stream.id, index)) {
            Some(ShardHandle::Open(log)) => Ok(log.clone()),
            Some(ShardHandle::Stopped(reason)) => Err(KdsError::ShardStopped {
                shard: ids::shard_id(index),
                stream: stream.name.clone(),
                reason: reason.clone(),
            }),
            None => Err(self.shard_not_found(&stream.name, &ids::shard_id(index))),
        }
    }

    /// Shards that recovery or a failed write stopped, with the reason.
    pub fn stopped_shards(&self) -> Vec<(String, String, String)> {
        let st = self.inner.state.read();
        let mut out = Vec::new();
        for s in &st.catalog.streams {
            for sh in &s.shards {
                if let Some(ShardHandle::Stopped(r)) = st.shards.get(&(s.id, sh.index)) {
                    out.push((s.name.clone(), ids::shard_id(sh.index), r.clone()));
                }
            }
        }
        out
    }

    /// The sequence number of `position` in the iterator's shard (its
    /// arrival time when the record is still there, else the shard's
    /// creation time).
    pub fn sequence_number_at(&self, iterator: &ShardIterator, position: u64) -> String {
        let st = self.inner.state.read();
        let meta = st
            .catalog
            .stream(&iterator.stream_name)
            .filter(|m| m.id == iterator.stream_id);
        let sh = meta.and_then(|m| m.shards.iter().find(|s| s.index == iterator.shard_index));
        let created_secs = match (meta, sh) {
            (Some(m), Some(sh)) => Self::shard_created_secs(m, sh),
            _ => 0,
        };
        let arrival_ms = st
            .shards
            .get(&(iterator.stream_id, iterator.shard_index))
            .and_then(|h| match h {
                ShardHandle::Open(log) => log.arrival_of(position),
                ShardHandle::Stopped(_) => None,
            });
        SequenceNumber {
            shard_created_secs: created_secs,
            shard_index: iterator.shard_index,
            position,
            arrival_secs: arrival_ms.map_or(created_secs, |a| (a.max(0) / 1000) as u64),
        }
        .to_string()
    }

    /// An iterator over one shard, starting as `start` says.
    pub fn get_shard_iterator(
        &self,
        name: &str,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<ShardIterator> {
        // AWS reads the shard id first, then looks for the stream, then
        // for the shard in it.
        let index = ids::parse_shard_id(shard_id).ok_or_else(|| KdsError::ShardIdNotFound {
            shard: shard_id.to_owned(),
            stream: name.to_owned(),
            account: self.account(),
        })?;
        let canonical = ids::shard_id(index);
        let st = self.inner.state.read();
        let (meta, sh) = st
            .catalog
            .stream(name)
            .filter(|m| self.status_of(m) != "CREATING")
            .and_then(|m| Some((m, m.shards.iter().find(|s| s.index == index)?)))
            .ok_or_else(|| self.shard_not_found(name, &canonical))?;
        let log = self.shard_log(&st, meta, index)?;
        let account = self.account();
        let created_secs = Self::shard_created_secs(meta, sh);
        let parse_seq = |text: &str| -> Result<u64> {
            let invalid = |why: &str| {
                KdsError::invalid(format!(
                    "StartingSequenceNumber {text} used in GetShardIterator on shard {canonical} in stream {name} under account {account} is invalid{why}."
                ))
            };
            let seq = SequenceNumber::parse(text).ok_or_else(|| invalid(""))?;
            if seq.shard_index() != i64::from(index) {
                return Err(KdsError::invalid(format!(
                    "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {canonical}",
                    ids::signed_shard_id(seq.shard_index())
                )));
            }
            match seq {
                ParsedSequence::V2 {
                    shard_created_secs,
                    position,
                    ..
                } if shard_created_secs == created_secs => Ok(position),
                ParsedSequence::Legacy {
                    stream_id,
                    position,
                    ..
                } if stream_id == meta.id => Ok(position),
                // AWS fails on its oldest layout rather than refusing it.
                ParsedSequence::V0 { .. } => Err(KdsError::InternalFailure {
                    reason: format!("sequence number {text} is in a layout no longer served"),
                }),
                _ => Err(invalid(" because it did not come from this stream")),
            }
        };
        let position = match start {
            IteratorStart::TrimHorizon => log.trim_horizon(),
            IteratorStart::Latest => log.durable_end(),
            IteratorStart::AtSequenceNumber(s) => parse_seq(s)?,
            IteratorStart::AfterSequenceNumber(s) => parse_seq(s)? + 1,
            IteratorStart::AtTimestamp(ms) => log.position_at_time(*ms),
        };
        let _ = start.type_name();
        Ok(ShardIterator {
            stream_id: meta.id,
            stream_name: meta.name.clone(),
            shard_index: index,
            position,
            issued_ms: self.now(),
        })
    }

    /// Reads up to `limit` records (and about 10 MiB) at an iterator.
    pub fn get_records(&self, iterator: &ShardIterator, limit: usize) -> Result<GetRecordsOutput> {
        let now = self.now();
        if now - iterator.issued_ms > self.inner.options.iterator_ttl_ms {
            return Err(KdsError::ExpiredIterator {
                created: fmt_amz_time(iterator.issued_ms),
                now: fmt_amz_time(now),
            });
        }
        let name = iterator.stream_name.as_str();
        let shard_id = ids::shard_id(iterator.shard_index);
        let (log, meta, closed_at, created_secs) = {
            let st = self.inner.state.read();
            let meta = st
                .catalog
                .stream(name)
                .filter(|m| m.id == iterator.stream_id)
                .ok_or_else(|| self.shard_not_found(name, &shard_id))?;
            let sh = meta
                .shards
                .iter()
                .find(|s| s.index == iterator.shard_index)
                .ok_or_else(|| self.shard_not_found(name, &shard_id))?;
            (
                self.shard_log(&st, meta, iterator.shard_index)?,
                meta.clone(),
                sh.closed_at,
                Self::shard_created_secs(meta, sh),
            )
        };
        let key = (meta.id, iterator.shard_index);
        if !self.inner.admit_get(key, now) {
            return Err(self.throughput(name, iterator.shard_index));
        }
        let read = log.read(iterator.position, limit, 10 << 20)?;
        self.inner.note_get_bytes(
            key,
            read.iter()
                .map(|r| (r.record.data.len() + r.record.partition_key.len()) as u64)
                .sum(),
            now,
        );
        if !read.is_empty() {
            let mut traffic = self.inner.traffic.lock();
            traffic.entry(meta.id).or_default().records_out += read.len() as u64;
        }
        let next = read.last().map_or(iterator.position, |r| r.position + 1);
        let next = next.max(log.trim_horizon().min(log.durable_end()));
        let millis_behind_latest = log.arrival_of(next).map_or(0, |a| (now - a).max(0));
        let records = read
            .into_iter()
            .map(|r| Record {
                sequence_number: SequenceNumber {
                    shard_created_secs: created_secs,
                    shard_index: iterator.shard_index,
                    position: r.position,
                    arrival_secs: (r.arrival_ms.max(0) / 1000) as u64,
                }
                .to_string(),
                arrival_ms: r.arrival_ms,
                partition_key: r.record.partition_key,
                data: r.record.data,
                explicit_hash_key: r.record.explicit_hash_key,
                encrypted: meta.encrypted_at(iterator.shard_index, r.position),
            })
            .collect();
        let at_end = closed_at.is_some_and(|c| next >= c);
        let (next_shard_iterator, child_shards) = if at_end {
            let children = meta
                .shards
                .iter()
                .filter(|s| {
                    s.parent == Some(iterator.shard_index)
                        || s.adjacent_parent == Some(iterator.shard_index)
                })
                .map(|s| Self::describe_shard(&meta, s))
                .collect();
            (None, children)
        } else {
            (
                Some(ShardIterator {
                    position: next,
                    issued_ms: now,
                    ..iterator.clone()
                }),
                Vec::new(),
            )
        };
        Ok(GetRecordsOutput {
            records,
            next_shard_iterator,
            millis_behind_latest,
            child_shards,
        })
    }

    pub(crate) fn update_stream<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut StreamMeta, &mut Vec<(u32, Arc<ShardLog>)>) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.inner.state.write();
        let mut catalog = st.catalog.clone();
        let meta = catalog
            .stream_mut(name)
            .ok_or_else(|| self.not_found(name))?;
        let id = meta.id;
        let mut new_shards = Vec::new();
        let out = f(meta, &mut new_shards)?;
        catalog.save(&self.inner.dir)?;
        st.catalog = catalog;
        for (index, log) in new_shards {
            st.shards.insert((id, index), ShardHandle::Open(log));
        }
        Ok(out)
    }

    /// Sets the retention to a longer period.
    pub fn increase_retention(&self, name: &str, hours: u32) -> Result<()> {
        self.update_stream(name, |meta, _| {
            check_retention_bounds(hours)?;
            if hours < meta.retention_hours {
                return Err(KdsError::invalid(format!("Requested retention period ({hours} hours) for stream {name} can not be shorter than existing retention period ({} hours). Use DecreaseRetentionPeriod API.", meta.retention_hours)));
            }
            meta.retention_hours = hours;
            meta.updated_ms = Some(self.now());
            Ok(())
        })
    }

    /// Sets the retention to a shorter period; expired data goes at the next retention pass.
    pub fn decrease_retention(&self, name: &str, hours: u32) -> Result<()> {
        self.update_stream(name, |meta, _| {
            check_retention_bounds(hours)?;
            if hours > meta.retention_hours {
                return Err(KdsError::invalid(format!("Requested retention period ({hours} hours) for stream {name} can not be longer than existing retention period ({} hours). Use IncreaseRetentionPeriod API.", meta.retention_hours)));
            }
            meta.retention_hours = hours;
            meta.updated_ms = Some(self.now());
            Ok(())
        })?;
        self.enforce_retention()
    }

    /// Adds or replaces tags (at most 50 per stream).
    pub fn add_tags(&self, name: &str, tags: BTreeMap<String, String>) -> Result<()> {
        self.update_stream(name, |meta, _| {
            self.check_tag_characters(name, "add tags to", tags.iter().flat_map(|(k, v)| [k, v]))?;
            let mut merged = meta.tags.clone();
            merged.extend(tags);
            if merged.len() > MAX_TAGS {
                return Err(KdsError::invalid(format!("Failed to add tags to stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.", self.account())));
            }
            meta.tags = merged;
            Ok(())
        })
    }

    /// AWS's two character checks on tag keys and values: letters, digits,
    /// spaces and `_ . / = + - @` pass both; `%` passes the first and fails
    /// the second.
    fn check_tag_characters<'a>(
        &self,
        name: &str,
        action: &str,
        texts: impl Iterator<Item = &'a String> + Clone,
    ) -> Result<()> {
        let valid = |c: char, extra: &str| {
            c.is_alphanumeric() || c == ' ' || "_./=+-@".contains(c) || extra.contains(c)
        };
        if texts.clone().any(|t| !t.chars().all(|c| valid(c, "%"))) {
            return Err(KdsError::invalid(
                "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.",
            ));
        }
        if texts.clone().any(|t| !t.chars().all(|c| valid(c, ""))) {
            return Err(KdsError::invalid(format!(
                "Failed to {action} stream {name} under account {} because some tags contained illegal characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.",
                self.account()
            )));
        }
        Ok(())
    }

    /// Removes tags.
    pub fn remove_tags(&self, name: &str, keys: &[String]) -> Result<()> {
        self.update_stream(name, |meta, _| {
            self.check_tag_characters(name, "remove tags from", keys.iter())?;
            for k in keys {
                meta.tags.remove(k);
            }
            Ok(())
        })
    }

    /// Turns server-side encryption on (`Some(key)`) or off.
    pub fn set_encryption(&self, name: &str, key: Option<String>) -> Result<()> {
        let now = self.now();
        // Writes take positions under the read lock, so under this write
        // lock each shard's next position is where the change begins.
        let mut st = self.inner.state.write();
        let mut catalog = st.catalog.clone();
        let meta = catalog
            .stream_mut(name)
            .ok_or_else(|| self.not_found(name))?;
        // AWS changes encryption only on an ACTIVE stream.
        let status = self.status_of(meta);
        if status != "ACTIVE" {
            return Err(KdsError::StreamNotActive {
                stream: name.to_owned(),
                account: self.account(),
                status: status.to_owned(),
            });
        }
        let from = meta
            .shards
            .iter()
            .map(|sh| {
                let next = match st.shards.get(&(meta.id, sh.index)) {
                    Some(ShardHandle::Open(log)) => log.next_position(),
                    _ => sh.closed_at.unwrap_or(0),
                };
                (sh.index, next)
            })
            .collect();
        if meta.encryption_changes.is_empty() && meta.encryption_key.is_some() {
            // On since before changes were kept: since the stream began.
            meta.encryption_changes.push(EncryptionChange {
                on: true,
                from: Vec::new(),
            });
        }
        meta.encryption_changes.push(EncryptionChange {
            on: key.is_some(),
            from,
        });
        meta.encryption_key = key;
        meta.updated_ms = Some(now);
        catalog.save(&self.inner.dir)?;
        st.catalog = catalog;
        Ok(())
    }

    /// Deletes segments past every stream's retention, and forgets closed
    /// shards whose data has all expired.
    pub fn enforce_retention(&self) -> Result<()> {
        let now = self.now();
        let mut forget: Vec<(String, u32)> = Vec::new();
        {
            let st = self.inner.state.read();
            for meta in &st.catalog.streams {
                let cutoff = now - i64::from(meta.retention_hours) * 3_600_000;
                for sh in &meta.shards {
                    if let Some(ShardHandle::Open(log)) = st.shards.get(&(meta.id, sh.index)) {
                        log.expire(cutoff)?;
                        let empty_and_old = sh.closed_ms.is_some_and(|c| c < cutoff);
                        if empty_and_old {
                            forget.push((meta.name.clone(), sh.index));
                        }
                    }
                }
            }
        }
        for (name, index) in forget {
            let dir = {
                let mut st = self.inner.state.write();
                let mut catalog = st.catalog.clone();
                let Some(meta) = catalog.stream_mut(&name) else {
                    continue;
                };
                meta.shards.retain(|s| s.index != index);
                let id = meta.id;
                catalog.save(&self.inner.dir)?;
                st.catalog = catalog;
                st.shards.remove(&(id, index));
                shard_dir(&self.inner.dir, id, index)
            };
            std::fs::remove_dir_all(&dir).map_err(KdsError::io(&dir))?;
        }
        Ok(())
    }

    /// Open shards across all streams and the limit, for DescribeLimits.
    pub fn shard_usage(&self) -> (u32, u32, u32) {
        let st = self.inner.state.read();
        let on_demand = st
            .catalog
            .streams
            .iter()
            .filter(|s| s.mode == "ON_DEMAND")
            .count() as u32;
        (
            Self::open_shard_total(&st.catalog),
            self.inner.options.shard_limit,
            on_demand,
        )
    }
}

fn check_retention_bounds(hours: u32) -> Result<()> {
    if hours < DEFAULT_RETENTION_HOURS {
        return Err(KdsError::invalid(format!(
            "Minimum allowed retention period is 24 hours. Requested retention period ({hours} hours) is too short."
        )));
    }
    if hours > MAX_RETENTION_HOURS {
        return Err(KdsError::invalid(format!(
            "Maximum allowed retention period is 8760 hours. Requested retention period ({hours} hours) is too long."
        )));
    }
    Ok(())
}
