//! Reading a whole stream, shard by shard, with durable checkpoints:
//! [`StreamReader`] is what an application input (the SQL engine's
//! `SOURCE_SQL_STREAM_001`) reads from. Entry points: [`StreamReader::open`],
//! [`StreamReader::next_batch`], [`StreamReader::commit`].
//!
//! # Sources
//!
//! [`ReaderSource::Embedded`] reads a [`Kds`] of the same process with no
//! HTTP; [`ReaderSource::Remote`] reads any KDS endpoint (a remote sluice or
//! Amazon Kinesis) through [`KdsClient`], signing with SigV4 when given
//! credentials. Both behave the same.
//!
//! # Order and resharding
//!
//! Records of one shard come in sequence-number order. A child shard is
//! read only after its parent (and, for a merge, its adjacent parent) is
//! read to its end, i.e. GetRecords returned no next iterator: so for any
//! partition key, records come in the order they were written, across
//! splits and merges. Child shards are learned from GetRecords' ChildShards
//! at a parent's end and by listing the shards again every
//! [`ReaderOptions::relist_every`].
//!
//! # Where reading starts
//!
//! A shard with a checkpoint resumes just after it (`AFTER_SEQUENCE_NUMBER`);
//! a shard checkpointed as finished is never read again. A shard without a
//! checkpoint whose parent has one (or whose ancestor has), and every shard
//! found after opening, is read from `TRIM_HORIZON`. Any other shard starts
//! as [`ReaderStart`] says; with [`ReaderStart::Latest`], shards already
//! closed at open are skipped (and checkpointed as finished), and the open
//! shards' iterators are taken at open: the head is where each shard stood
//! when the reader opened, and a reader stopped before its first read
//! checkpoints that start.
//!
//! # Delivery
//!
//! At least once: [`StreamReader::commit`] saves, per shard, the last
//! record [`StreamReader::next_batch`] returned; the caller commits only
//! once those records' results are delivered. After a crash, records
//! returned since the last commit are read again; none are skipped.
//!
//! # Errors and retries
//!
//! An expired iterator (ExpiredIteratorException) is renewed from the last
//! position returned. Throttling (ProvisionedThroughputExceededException,
//! ThrottlingException, LimitExceededException) backs that shard off,
//! doubling from 100 ms up to [`ReaderOptions::max_backoff`]. Transport
//! failures and 5xx answers are retried the same way up to
//! [`ReaderOptions::max_retries`] times in a row. Anything else is returned
//! as an error, after the records already read in that call.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::checkpoint::{CheckpointStore, ShardCheckpoint, is_kds_name};
use crate::client::{KdsClient, RemoteEndpoint};
use crate::clock::{Clock, SystemClock};
use crate::error::{KdsError, Result};
use crate::kds::{IteratorStart, Kds, ShardFilter, ShardIterator};

/// Where to read from: the same process, or any KDS endpoint.
#[derive(Debug, Clone)]
pub enum ReaderSource {
    /// A [`Kds`] of this process (clones share the log), read with no HTTP.
    Embedded(Kds),
    /// A remote sluice or Amazon Kinesis.
    Remote(RemoteEndpoint),
}

/// Where a shard without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderStart {
    /// The oldest retained record.
    TrimHorizon,
    /// Records written after the reader opened.
    Latest,
    /// The first record that arrived at or after this time, ms since the epoch.
    AtTimestamp(i64),
}

/// Tuning of a [`StreamReader`].
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// A shard that had nothing new is asked again after this long (AWS
    /// allows 5 GetRecords per second per shard). Default 200 ms.
    pub idle_between_reads: Duration,
    /// The stream's shards are listed again this often. Default 10 s.
    pub relist_every: Duration,
    /// Longest wait after throttling or a transient failure. Default 5 s.
    pub max_backoff: Duration,
    /// Transient failures in a row on one shard before giving up. Default 5.
    pub max_retries: u32,
    /// Time for signing remote requests and for renewing expired `LATEST`
    /// iterators. Default: the system clock. (An embedded source uses its
    /// [`Kds`]'s clock.)
    pub clock: Arc<dyn Clock>,
    /// Read only this share of the stream's shards (KDA's InputParallelism:
    /// each in-application stream reads a share). Default: every shard.
    pub share: Option<ShardShare>,
}

/// Share `index` of `of` (0-based) of a stream's shards. A shard without
/// a parent, `shardId-<n>`, belongs to share `n mod of` (so a stream's
/// first shards are dealt out evenly); a child belongs to its first
/// parent's share, so one reader reads a key's records across splits (a
/// merge's other parent may be another share's: the child does not wait
/// for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardShare {
    /// Which share, from 0.
    pub index: u32,
    /// How many shares.
    pub of: u32,
}

impl ShardShare {
    /// The share `shard` belongs to, given the shards listed with it.
    fn owns(&self, shard: &ShardInfo, listing: &[ShardInfo]) -> bool {
        let mut top = shard;
        let mut seen = 0;
        while let Some(parent) = top.parents.first() {
            match listing.iter().find(|l| &l.shard_id == parent) {
                Some(p) if seen < listing.len() => {
                    top = p;
                    seen += 1;
                }
                // An expired (unlisted) parent: its number decides.
                _ => return self.owns_number(parent),
            }
        }
        self.owns_number(&top.shard_id)
    }

    fn owns_number(&self, shard_id: &str) -> bool {
        let n = shard_id
            .rsplit('-')
            .next()
            .and_then(|d| d.parse::<u64>().ok())
            .unwrap_or_else(|| {
                shard_id
                    .bytes()
                    .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            });
        n % u64::from(self.of.max(1)) == u64::from(self.index)
    }
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            idle_between_reads: Duration::from_millis(200),
            relist_every: Duration::from_secs(10),
            max_backoff: Duration::from_secs(5),
            max_retries: 5,
            clock: Arc::new(SystemClock),
            share: None,
        }
    }
}

/// One record read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// The shard it was read from.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: String,
    /// Partition key.
    pub partition_key: String,
    /// Data blob.
    pub data: Vec<u8>,
    /// Approximate arrival time, ms since the epoch (the engine's ROWTIME).
    pub arrival_ms: i64,
}

/// A shard as the reader needs it.
#[derive(Debug, Clone)]
struct ShardInfo {
    shard_id: String,
    parents: Vec<String>,
    closed: bool,
}

/// An iterator of either source.
#[derive(Debug, Clone)]
enum Iter {
    Embedded(ShardIterator),
    Remote(String),
}

/// One GetRecords answer.
#[derive(Debug)]
struct Page {
    records: Vec<ReadRecord>,
    next: Option<Iter>,
    millis_behind_latest: Option<i64>,
    children: Vec<ShardInfo>,
}

/// The two ways to reach a stream.
#[derive(Debug)]
enum Backend {
    Embedded(Kds),
    Remote(Box<KdsClient>),
}

/// Runs a blocking call of the embedded log off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(KdsError::Transport {
            endpoint: "embedded log".into(),
            operation: "GetRecords",
            reason: e.to_string(),
        }),
    }
}

impl Backend {
    async fn list_shards(&self, stream: &str) -> Result<Vec<ShardInfo>> {
        let shards = match self {
            Backend::Embedded(kds) => {
                let (kds, stream) = (kds.clone(), stream.to_owned());
                blocking(move || kds.list_shards(&stream, &ShardFilter::default())).await?
            }
            Backend::Remote(client) => client.list_shards(stream).await?,
        };
        Ok(shards
            .into_iter()
            .map(|s| ShardInfo {
                parents: s
                    .parent_shard_id
                    .into_iter()
                    .chain(s.adjacent_parent_shard_id)
                    .collect(),
                closed: s.ending_sequence_number.is_some(),
                shard_id: s.shard_id,
            })
            .collect())
    }

    async fn iterator(&self, stream: &str, shard_id: &str, start: IteratorStart) -> Result<Iter> {
        match self {
            Backend::Embedded(kds) => {
                let (kds, stream, shard) = (kds.clone(), stream.to_owned(), shard_id.to_owned());
                let it = blocking(move || kds.get_shard_iterator(&stream, &shard, &start)).await?;
                Ok(Iter::Embedded(it))
            }
            Backend::Remote(client) => Ok(Iter::Remote(
                client.get_shard_iterator(stream, shard_id, &start).await?,
            )),
        }
    }

    async fn get_records(&self, shard_id: &str, it: &Iter, limit: usize) -> Result<Page> {
        let limit = limit.clamp(1, 10_000);
        let record = |r: crate::kds::Record| ReadRecord {
            shard_id: shard_id.to_owned(),
            sequence_number: r.sequence_number,
            partition_key: r.partition_key,
            data: r.data,
            arrival_ms: r.arrival_ms,
        };
        match (self, it) {
            (Backend::Embedded(kds), Iter::Embedded(it)) => {
                let kds = kds.clone();
                // An in-process reader renews its iterator on every call
                // (see the crate docs), so it never expires while held.
                let it = ShardIterator {
                    issued_ms: kds.clock().now_ms(),
                    ..it.clone()
                };
                let out = blocking(move || kds.get_records(&it, limit)).await?;
                Ok(Page {
                    records: out.records.into_iter().map(record).collect(),
                    next: out.next_shard_iterator.map(Iter::Embedded),
                    millis_behind_latest: Some(out.millis_behind_latest),
                    children: out
                        .child_shards
                        .into_iter()
                        .map(|c| ShardInfo {
                            parents: c
                                .parent_shard_id
                                .into_iter()
                                .chain(c.adjacent_parent_shard_id)
                                .collect(),
                            closed: c.ending_sequence_number.is_some(),
                            shard_id: c.shard_id,
                        })
                        .collect(),
                })
            }
            (Backend::Remote(client), Iter::Remote(token)) => {
                let out = client.get_records(token, limit).await?;
                Ok(Page {
                    records: out.records.into_iter().map(record).collect(),
                    next: out.next_shard_iterator.map(Iter::Remote),
                    millis_behind_latest: out.millis_behind_latest,
                    children: out
                        .child_shards
                        .into_iter()
                        .map(|c| ShardInfo {
                            shard_id: c.shard_id,
                            parents: c.parent_shards,
                            closed: false,
                        })
                        .collect(),
                })
            }
            // An iterator always comes from the same backend.
            _ => Err(KdsError::invalid(
                "shard iterator of another source (internal error)",
            )),
        }
    }

    fn clock(&self, options: &ReaderOptions) -> Arc<dyn Clock> {
        match self {
            Backend::Embedded(kds) => kds.clock().clone(),
            Backend::Remote(_) => options.clock.clone(),
        }
    }
}

/// How a failed call is handled.
enum Failure {
    /// Renew the iterator from the last position.
    Expired,
    /// Back off, retry without limit.
    Throttled,
    /// Back off, retry up to `max_retries` times in a row.
    Transient(KdsError),
    /// Give up: return the error.
    Fatal(KdsError),
}

fn classify(e: KdsError) -> Failure {
    match &e {
        KdsError::ExpiredIterator { .. } => Failure::Expired,
        KdsError::Throughput { .. } => Failure::Throttled,
        KdsError::Remote { kind, .. } if kind == "ExpiredIteratorException" => Failure::Expired,
        KdsError::Remote { kind, .. }
            if matches!(
                kind.as_str(),
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "LimitExceededException"
                    | "KMSThrottlingException"
            ) =>
        {
            Failure::Throttled
        }
        KdsError::Remote { status, .. } if *status >= 500 => Failure::Transient(e),
        KdsError::Transport { .. } => Failure::Transient(e),
        _ => Failure::Fatal(e),
    }
}

/// First wait after throttling or a transient failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What the reader knows about one shard.
#[derive(Debug)]
struct Shard {
    parents: Vec<String>,
    /// Read to its end (or skipped).
    finished: bool,
    /// Where to start when nothing was returned yet.
    start: IteratorStart,
    /// The last record returned to the caller.
    last_sequence: Option<String>,
    /// The current iterator; `None`: get one at the resume position.
    iterator: Option<Iter>,
    /// For a `LATEST` start: when the iterator was taken, so an expired one
    /// is renewed `AT_TIMESTAMP` then rather than skipping what came since.
    latest_taken_ms: Option<i64>,
    /// Not asked before this instant (idle or backing off).
    ready_at: Option<Instant>,
    backoff: Duration,
    failures: u32,
    millis_behind_latest: Option<i64>,
    /// What the checkpoint store holds for it.
    committed: Option<ShardCheckpoint>,
}

impl Shard {
    fn new(parents: Vec<String>, start: IteratorStart) -> Shard {
        Shard {
            parents,
            finished: false,
            start,
            last_sequence: None,
            iterator: None,
            latest_taken_ms: None,
            ready_at: None,
            backoff: Duration::ZERO,
            failures: 0,
            millis_behind_latest: None,
            committed: None,
        }
    }

    /// Where a new iterator starts.
    fn resume_at(&self) -> IteratorStart {
        match (&self.last_sequence, &self.start, self.latest_taken_ms) {
            (Some(seq), _, _) => IteratorStart::AfterSequenceNumber(seq.clone()),
            (None, IteratorStart::Latest, Some(ms)) => IteratorStart::AtTimestamp(ms),
            (None, start, _) => start.clone(),
        }
    }

    /// The checkpoint that stands for what was returned so far: nothing
    /// returned from a start at the head is "since" the head was taken.
    fn checkpoint(&self) -> Option<ShardCheckpoint> {
        if self.finished {
            Some(ShardCheckpoint::Finished)
        } else if let Some(seq) = &self.last_sequence {
            Some(ShardCheckpoint::After(seq.clone()))
        } else {
            match (&self.start, self.latest_taken_ms) {
                (IteratorStart::Latest, Some(ms)) => Some(ShardCheckpoint::Since(ms)),
                (IteratorStart::AtTimestamp(ms), _) => Some(ShardCheckpoint::Since(*ms)),
                _ => None,
            }
        }
    }

    fn back_off(&mut self, now: Instant, max: Duration) {
        self.backoff = if self.backoff.is_zero() {
            FIRST_BACKOFF
        } else {
            (self.backoff * 2).min(max)
        };
        self.ready_at = Some(now + self.backoff);
    }
}

/// Reads every shard of one stream, parents before children, keeping
/// per-shard positions that [`StreamReader::commit`] makes durable. See the
/// [module docs](self) for order, start positions, delivery and retries.
#[derive(Debug)]
pub struct StreamReader {
    backend: Backend,
    stream: String,
    options: ReaderOptions,
    clock: Arc<dyn Clock>,
    store: Option<CheckpointStore>,
    shards: BTreeMap<String, Shard>,
    last_listed: Instant,
    rotation: usize,
    pending_error: Option<KdsError>,
}

impl StreamReader {
    /// Opens a reader of `stream` with [`ReaderOptions::default`].
    pub async fn open(
        source: ReaderSource,
        stream: &str,
        start: ReaderStart,
        checkpoints: Option<CheckpointStore>,
    ) -> Result<StreamReader> {
        Self::open_with(source, stream, start, checkpoints, ReaderOptions::default()).await
    }

    /// Opens a reader of `stream`: lists its shards and decides where each
    /// starts (checkpoint, else `start`; see the [module docs](self)).
    ///
    /// Errors: the source's error if the stream cannot be listed (e.g.
    /// ResourceNotFoundException), [`KdsError::Endpoint`] for a bad remote
    /// URL, InvalidArgument for a stream name KDS would refuse.
    pub async fn open_with(
        source: ReaderSource,
        stream: &str,
        start: ReaderStart,
        checkpoints: Option<CheckpointStore>,
        options: ReaderOptions,
    ) -> Result<StreamReader> {
        if !is_kds_name(stream) || stream.len() > 128 {
            return Err(KdsError::invalid(format!(
                "stream name {stream:?} is not a KDS stream name ([a-zA-Z0-9_.-]{{1,128}})"
            )));
        }
        let backend = match source {
            ReaderSource::Embedded(kds) => Backend::Embedded(kds),
            ReaderSource::Remote(endpoint) => {
                Backend::Remote(Box::new(KdsClient::new(&endpoint, options.clock.clone())?))
            }
        };
        let clock = backend.clock(&options);
        let listing = backend.list_shards(stream).await?;
        let mut reader = StreamReader {
            backend,
            stream: stream.to_owned(),
            options,
            clock,
            store: checkpoints,
            shards: BTreeMap::new(),
            last_listed: Instant::now(),
            rotation: 0,
            pending_error: None,
        };
        reader.add_at_open(listing, start);
        reader.take_latest_iterators().await?;
        Ok(reader)
    }

    /// Takes the iterators of the shards that start at the head
    /// ([`ReaderStart::Latest`]) now, at open: the head is where the stream
    /// stood when the reader opened, records put after that are read, and a
    /// reader stopped before its first read still checkpoints where it
    /// started (a restart from the checkpoint does not read older records).
    async fn take_latest_iterators(&mut self) -> Result<()> {
        let at_head: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, s)| {
                s.start == IteratorStart::Latest && s.iterator.is_none() && !s.finished
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in at_head {
            self.iterator(&id).await?;
        }
        Ok(())
    }

    /// Adds the shards listed at open, deciding where each starts.
    fn add_at_open(&mut self, listing: Vec<ShardInfo>, start: ReaderStart) {
        let listing = self.mine(listing);
        let saved = self
            .store
            .as_ref()
            .map(|s| s.stream(&self.stream))
            .unwrap_or_default();
        // Shards whose lineage was read before: own or an ancestor's checkpoint.
        let mut has_history: HashSet<String> = saved.keys().cloned().collect();
        let mut pending: Vec<&ShardInfo> = listing.iter().collect();
        // Parents precede children in a listing, but do not rely on it.
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|s| {
                let known = s.parents.iter().all(|p| {
                    self.shards.contains_key(p) || !listing.iter().any(|l| &l.shard_id == p)
                });
                if !known {
                    return true;
                }
                if s.parents.iter().any(|p| has_history.contains(p)) {
                    has_history.insert(s.shard_id.clone());
                }
                let mut shard = Shard::new(s.parents.clone(), IteratorStart::TrimHorizon);
                match saved.get(&s.shard_id) {
                    Some(ShardCheckpoint::Finished) => shard.finished = true,
                    Some(ShardCheckpoint::After(seq)) => shard.last_sequence = Some(seq.clone()),
                    Some(ShardCheckpoint::Since(ms)) => {
                        shard.start = IteratorStart::AtTimestamp(*ms)
                    }
                    None if has_history.contains(&s.shard_id) => {}
                    None => match start {
                        ReaderStart::TrimHorizon => {}
                        ReaderStart::AtTimestamp(ms) => {
                            shard.start = IteratorStart::AtTimestamp(ms)
                        }
                        ReaderStart::Latest if s.closed => shard.finished = true,
                        ReaderStart::Latest => shard.start = IteratorStart::Latest,
                    },
                }
                shard.committed = saved.get(&s.shard_id).cloned();
                self.shards.insert(s.shard_id.clone(), shard);
                false
            });
            if pending.len() == before {
                // A parent cycle cannot come from KDS; read what is left as roots.
                for s in pending.drain(..) {
                    self.shards.insert(
                        s.shard_id.clone(),
                        Shard::new(s.parents.clone(), IteratorStart::TrimHorizon),
                    );
                }
            }
        }
    }

    /// Adds shards learned after open; they are read from TRIM_HORIZON.
    fn add_later(&mut self, shards: Vec<ShardInfo>) {
        for s in self.mine(shards) {
            if self.shards.contains_key(&s.shard_id) {
                continue;
            }
            let saved = self
                .store
                .as_ref()
                .and_then(|st| st.get(&self.stream, &s.shard_id));
            let mut shard = Shard::new(s.parents, IteratorStart::TrimHorizon);
            match &saved {
                Some(ShardCheckpoint::Finished) => shard.finished = true,
                Some(ShardCheckpoint::After(seq)) => shard.last_sequence = Some(seq.clone()),
                Some(ShardCheckpoint::Since(ms)) => shard.start = IteratorStart::AtTimestamp(*ms),
                None => {}
            }
            shard.committed = saved;
            self.shards.insert(s.shard_id, shard);
        }
    }

    /// The shards of `listing` this reader reads ([`ReaderOptions::share`]):
    /// those of its share, and children of shards it reads.
    fn mine(&self, listing: Vec<ShardInfo>) -> Vec<ShardInfo> {
        let Some(share) = self.options.share else {
            return listing;
        };
        let keep: Vec<bool> = listing
            .iter()
            .map(|s| {
                s.parents.iter().any(|p| self.shards.contains_key(p)) || share.owns(s, &listing)
            })
            .collect();
        listing
            .into_iter()
            .zip(keep)
            .filter_map(|(s, k)| k.then_some(s))
            .collect()
    }

    /// True if the shard may be read now: not finished, parents finished.
    fn readable(&self, id: &str) -> bool {
        self.shards.get(id).is_some_and(|s| {
            !s.finished
                && s.parents
                    .iter()
                    .all(|p| self.shards.get(p).is_none_or(|ps| ps.finished))
        })
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// Shards the reader has not yet read to their end, readable or waiting
    /// for their parents, by id.
    pub fn open_shards(&self) -> Vec<String> {
        self.shards
            .iter()
            .filter(|(_, s)| !s.finished)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The next records from all readable shards, at most `max_records`,
    /// waiting at most `wait` when nothing is new (then the batch is empty).
    ///
    /// Records of one shard are in order; a child shard's records come only
    /// after all of its parents' records were returned. Cancel-safe: if the
    /// future is dropped, nothing is lost (records not yet returned are read
    /// again by the next call).
    pub async fn next_batch(
        &mut self,
        max_records: usize,
        wait: Duration,
    ) -> Result<Vec<ReadRecord>> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        loop {
            if self.last_listed.elapsed() >= self.options.relist_every {
                self.relist().await?;
            }
            let now = Instant::now();
            let mut ids: Vec<String> = self
                .shards
                .keys()
                .filter(|id| self.readable(id))
                .filter(|id| self.shards[*id].ready_at.is_none_or(|t| t <= now))
                .cloned()
                .collect();
            if !ids.is_empty() {
                let r = self.rotation % ids.len();
                ids.rotate_left(r);
            }
            let mut staged: Vec<(String, Page)> = Vec::new();
            let mut taken = 0usize;
            let mut fatal = None;
            for id in ids {
                if taken >= max_records {
                    break;
                }
                match self.read_shard(&id, max_records - taken).await {
                    Ok(page) => {
                        taken += page.records.len();
                        staged.push((id, page));
                    }
                    Err(e) => match self.failed(&id, e) {
                        Some(e) => {
                            fatal = Some(e);
                            break;
                        }
                        None => continue,
                    },
                }
            }
            // No await from here on: what was read is applied and returned together.
            let mut out = Vec::with_capacity(taken);
            let mut learned = false;
            let now = Instant::now();
            for (id, page) in staged {
                let idle = self.options.idle_between_reads;
                let Some(shard) = self.shards.get_mut(&id) else {
                    continue;
                };
                shard.backoff = Duration::ZERO;
                shard.failures = 0;
                shard.ready_at = page.records.is_empty().then_some(now + idle);
                if let Some(last) = page.records.last() {
                    shard.last_sequence = Some(last.sequence_number.clone());
                }
                shard.millis_behind_latest = page.millis_behind_latest;
                out.extend(page.records);
                match page.next {
                    Some(next) => shard.iterator = Some(next),
                    None => {
                        shard.finished = true;
                        shard.iterator = None;
                        shard.millis_behind_latest = None;
                        learned = true;
                        self.add_later(page.children);
                    }
                }
            }
            self.rotation = self.rotation.wrapping_add(1);
            if let Some(e) = fatal {
                if out.is_empty() {
                    return Err(e);
                }
                self.pending_error = Some(e);
                return Ok(out);
            }
            if !out.is_empty() {
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(out);
            }
            if learned {
                // A shard ended: its children may be readable at once.
                continue;
            }
            let next_ready = self
                .shards
                .iter()
                .filter(|(id, _)| self.readable(id))
                .filter_map(|(_, s)| s.ready_at)
                .min()
                .unwrap_or(now);
            let relist_at = self.last_listed + self.options.relist_every;
            let wake = deadline.min(relist_at).min(next_ready.max(now));
            tokio::time::sleep_until(wake).await;
        }
    }

    /// One GetRecords on a shard, taking an iterator first if needed.
    async fn read_shard(&mut self, id: &str, limit: usize) -> Result<Page> {
        let it = self.iterator(id).await?;
        self.backend.get_records(id, &it, limit).await
    }

    /// The shard's iterator, taken at its resume position when it has none
    /// (a start at the head also records when the head was taken).
    async fn iterator(&mut self, id: &str) -> Result<Iter> {
        let Some(shard) = self.shards.get(id) else {
            return Err(KdsError::invalid(format!(
                "unknown shard {id} (internal error)"
            )));
        };
        if let Some(it) = &shard.iterator {
            return Ok(it.clone());
        }
        let at = shard.resume_at();
        let taken_ms = self.clock.now_ms();
        let it = self.backend.iterator(&self.stream, id, at.clone()).await?;
        if let Some(shard) = self.shards.get_mut(id) {
            // Safe if cancelled: the iterator is at the resume position.
            shard.iterator = Some(it.clone());
            if at == IteratorStart::Latest {
                shard.latest_taken_ms = Some(taken_ms);
            }
        }
        Ok(it)
    }

    /// Handles a failed read of a shard; returns the error if it is fatal.
    fn failed(&mut self, id: &str, e: KdsError) -> Option<KdsError> {
        let now = Instant::now();
        let (max_backoff, max_retries) = (self.options.max_backoff, self.options.max_retries);
        let shard = self.shards.get_mut(id)?;
        match classify(e) {
            Failure::Expired => {
                shard.iterator = None;
                None
            }
            Failure::Throttled => {
                shard.back_off(now, max_backoff);
                None
            }
            Failure::Transient(e) => {
                shard.failures += 1;
                if shard.failures > max_retries {
                    shard.failures = 0;
                    return Some(e);
                }
                // The iterator may be the cause; renewing it is always safe.
                shard.iterator = None;
                shard.back_off(now, max_backoff);
                None
            }
            Failure::Fatal(e) => Some(e),
        }
    }

    /// Lists the shards again and adds new ones; throttling and transient
    /// failures only postpone it.
    async fn relist(&mut self) -> Result<()> {
        match self.backend.list_shards(&self.stream).await {
            Ok(listing) => {
                self.last_listed = Instant::now();
                self.add_later(listing);
                Ok(())
            }
            Err(e) => match classify(e) {
                Failure::Throttled | Failure::Transient(_) | Failure::Expired => {
                    // Try again after a fraction of the period.
                    self.last_listed = Instant::now() - self.options.relist_every
                        + self.options.relist_every.min(FIRST_BACKOFF * 10);
                    Ok(())
                }
                Failure::Fatal(e) => Err(e),
            },
        }
    }

    /// Durably records that everything [`Self::next_batch`] returned so far
    /// has been processed: per shard, the last sequence number returned, or
    /// "finished" for a closed shard read to its end. Writes the checkpoint
    /// file atomically (see [`CheckpointStore::save`]) and only when
    /// something changed. Without a checkpoint store, positions live only
    /// in this reader and this does nothing.
    pub fn commit(&mut self) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let updates: Vec<(String, ShardCheckpoint)> = self
            .shards
            .iter()
            .filter_map(|(id, s)| {
                let c = s.checkpoint()?;
                (s.committed.as_ref() != Some(&c)).then(|| (id.clone(), c))
            })
            .collect();
        if updates.is_empty() {
            return Ok(());
        }
        store.save(&self.stream, updates.iter().cloned())?;
        for (id, c) in updates {
            if let Some(s) = self.shards.get_mut(&id) {
                s.committed = Some(c);
            }
        }
        Ok(())
    }

    /// Like [`Self::commit`], but only up to the positions given: per
    /// shard id, the sequence number of the last record the caller has
    /// fully processed (records returned after it stay uncommitted and are
    /// read again after a restart). A closed shard is recorded as finished
    /// once its last returned record is committed (or it returned none).
    pub fn commit_through<S: AsRef<str>>(
        &mut self,
        through: &std::collections::HashMap<S, S>,
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let given: std::collections::HashMap<&str, &str> = through
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        let updates: Vec<(String, ShardCheckpoint)> = self
            .shards
            .iter()
            .filter_map(|(id, s)| {
                let all_committed = match (&s.last_sequence, given.get(id.as_str())) {
                    (None, _) => true,
                    (Some(last), Some(seq)) => last == seq,
                    (Some(last), None) => {
                        s.committed.as_ref() == Some(&ShardCheckpoint::After(last.clone()))
                    }
                };
                let c = if s.finished && all_committed {
                    ShardCheckpoint::Finished
                } else if let Some(seq) = given.get(id.as_str()) {
                    ShardCheckpoint::After((*seq).to_owned())
                } else if s.last_sequence.is_none() {
                    // Nothing read: a start at the head is kept as such.
                    s.checkpoint()?
                } else {
                    return None;
                };
                (s.committed.as_ref() != Some(&c)).then(|| (id.clone(), c))
            })
            .collect();
        if updates.is_empty() {
            return Ok(());
        }
        store.save(&self.stream, updates.iter().cloned())?;
        for (id, c) in updates {
            if let Some(s) = self.shards.get_mut(&id) {
                s.committed = Some(c);
            }
        }
        Ok(())
    }

    /// How far behind the newest record the reader is, ms: the largest
    /// MillisBehindLatest of the last GetRecords on each shard being read;
    /// `None` before the first read.
    pub fn millis_behind_latest(&self) -> Option<i64> {
        self.shards
            .values()
            .filter(|s| !s.finished)
            .filter_map(|s| s.millis_behind_latest)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::kds::{KdsOptions, PutEntry};

    const T0: i64 = 1_700_000_000_000;
    const SHARD0: &str = "shardId-000000000000";

    struct Fixture {
        dir: tempfile::TempDir,
        kds: Kds,
        clock: ManualClock,
    }

    fn fixture(options: KdsOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let kds = Kds::open(dir.path().join("log"), options, Arc::new(clock.clone())).unwrap();
        Fixture { dir, kds, clock }
    }

    fn options() -> ReaderOptions {
        ReaderOptions {
            idle_between_reads: Duration::from_millis(5),
            relist_every: Duration::from_millis(50),
            ..ReaderOptions::default()
        }
    }

    impl Fixture {
        fn put(&self, stream: &str, range: std::ops::Range<u32>) {
            for i in range {
                self.kds
                    .put_record(
                        stream,
                        PutEntry {
                            partition_key: format!("key-{}", i % 17),
                            explicit_hash_key: None,
                            data: i.to_string().into_bytes(),
                        },
                    )
                    .unwrap();
            }
        }

        fn store(&self) -> CheckpointStore {
            CheckpointStore::open(self.dir.path().join("app.checkpoint")).unwrap()
        }

        async fn reader(&self, start: ReaderStart, store: Option<CheckpointStore>) -> StreamReader {
            StreamReader::open_with(
                ReaderSource::Embedded(self.kds.clone()),
                "s",
                start,
                store,
                options(),
            )
            .await
            .unwrap()
        }
    }

    fn value(r: &ReadRecord) -> u32 {
        std::str::from_utf8(&r.data).unwrap().parse().unwrap()
    }

    /// Reads until `n` records came or nothing new came for a while.
    async fn read(reader: &mut StreamReader, n: usize, max: usize) -> Vec<ReadRecord> {
        let mut out = Vec::new();
        let mut empty = 0;
        while out.len() < n && empty < 5 {
            let batch = reader
                .next_batch(max.min(n - out.len()), Duration::from_millis(30))
                .await
                .unwrap();
            assert!(batch.len() <= max);
            empty = if batch.is_empty() { empty + 1 } else { 0 };
            out.extend(batch);
        }
        out
    }

    /// Records of each shard in sequence order; every parent record before
    /// any record of its children.
    fn check_order(records: &[ReadRecord], parents_of: &[(&str, &[&str])]) {
        let key = |s: &str| (s.len(), s.to_owned());
        for w in records.windows(2) {
            if w[0].shard_id == w[1].shard_id {
                assert!(key(&w[0].sequence_number) < key(&w[1].sequence_number));
            }
        }
        for (child, parents) in parents_of {
            let first_child = records.iter().position(|r| r.shard_id == *child);
            let last_parent = records
                .iter()
                .rposition(|r| parents.contains(&r.shard_id.as_str()));
            if let (Some(c), Some(p)) = (first_child, last_parent) {
                assert!(
                    p < c,
                    "{child} read at {c} before its parent's record at {p}"
                );
            }
        }
    }

    fn values(records: &[ReadRecord]) -> Vec<u32> {
        let mut v: Vec<u32> = records.iter().map(value).collect();
        v.sort_unstable();
        v
    }

    #[tokio::test]
    async fn reads_across_a_split_parents_first() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(1)).unwrap();
        f.put("s", 0..50);
        let mut reader = f.reader(ReaderStart::TrimHorizon, None).await;
        let first = read(&mut reader, 20, 20).await;
        assert_eq!(first.len(), 20);
        assert!(reader.millis_behind_latest().is_some());
        f.kds.split_shard("s", SHARD0, 1u128 << 127).unwrap();
        f.put("s", 50..100);
        let rest = read(&mut reader, 80, 7).await;
        let all: Vec<ReadRecord> = first.into_iter().chain(rest).collect();
        assert_eq!(values(&all), (0..100).collect::<Vec<_>>());
        check_order(
            &all,
            &[
                ("shardId-000000000001", &[SHARD0]),
                ("shardId-000000000002", &[SHARD0]),
            ],
        );
        let children: HashSet<&str> = all[50..].iter().map(|r| r.shard_id.as_str()).collect();
        assert_eq!(children.len(), 2, "both children were read");
        assert_eq!(
            reader.open_shards(),
            vec!["shardId-000000000001", "shardId-000000000002"]
        );
        // Nothing more: an empty batch after the wait, no error.
        assert!(
            reader
                .next_batch(10, Duration::from_millis(20))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn shares_divide_the_shards_and_children_follow_their_parent() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(6)).unwrap();
        f.put("s", 0..120);
        let mut readers = Vec::new();
        for index in 0..3 {
            let reader = StreamReader::open_with(
                ReaderSource::Embedded(f.kds.clone()),
                "s",
                ReaderStart::TrimHorizon,
                None,
                ReaderOptions {
                    share: Some(ShardShare { index, of: 3 }),
                    ..options()
                },
            )
            .await
            .unwrap();
            readers.push(reader);
        }
        // shardId-n goes to share n mod 3: two shards each.
        for (index, reader) in readers.iter().enumerate() {
            let want: Vec<String> = (0..6)
                .filter(|n| n % 3 == index)
                .map(|n| format!("shardId-{n:012}"))
                .collect();
            assert_eq!(reader.open_shards(), want);
        }
        // A split of shard 4 (share 1): its children are share 1's.
        let shard4 = "shardId-000000000004";
        let d = f
            .kds
            .list_shards("s", &ShardFilter::default())
            .unwrap()
            .into_iter()
            .find(|d| d.shard_id == shard4)
            .unwrap();
        let middle = d.starting_hash_key + (d.ending_hash_key - d.starting_hash_key) / 2;
        f.kds.split_shard("s", shard4, middle).unwrap();
        f.put("s", 120..240);
        let mut all = Vec::new();
        for reader in readers.iter_mut() {
            all.extend(read(reader, 240, 50).await);
        }
        // Every record once, by exactly one share.
        assert_eq!(values(&all), (0..240).collect::<Vec<_>>());
        assert!(
            readers[1]
                .open_shards()
                .iter()
                .any(|s| s == "shardId-000000000006")
        );
        assert!(
            !readers[0]
                .open_shards()
                .iter()
                .any(|s| s == "shardId-000000000006")
        );
        assert!(
            !readers[2]
                .open_shards()
                .iter()
                .any(|s| s == "shardId-000000000007")
        );
    }

    #[tokio::test]
    async fn reads_across_a_merge_parents_first() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(2)).unwrap();
        f.put("s", 0..60);
        f.kds
            .merge_shards("s", SHARD0, "shardId-000000000001")
            .unwrap();
        f.put("s", 60..90);
        let mut reader = f.reader(ReaderStart::TrimHorizon, None).await;
        let all = read(&mut reader, 90, 4).await;
        assert_eq!(values(&all), (0..90).collect::<Vec<_>>());
        check_order(
            &all,
            &[("shardId-000000000002", &[SHARD0, "shardId-000000000001"])],
        );
        assert_eq!(reader.open_shards(), vec!["shardId-000000000002"]);
    }

    #[tokio::test]
    async fn a_start_at_the_head_that_read_nothing_resumes_from_where_it_stopped() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(1)).unwrap();
        f.put("s", 0..5);
        f.clock.advance(1_000);
        // Started at the head (NOW), stopped before any record came.
        let mut a = f.reader(ReaderStart::Latest, Some(f.store())).await;
        assert!(read(&mut a, 1, 1).await.is_empty());
        a.commit().unwrap();
        drop(a);
        assert!(matches!(
            f.store().get("s", SHARD0),
            Some(ShardCheckpoint::Since(_))
        ));
        f.clock.advance(1_000);
        f.put("s", 5..8);
        // LAST_STOPPED_POINT: from where it stopped, not from the oldest.
        let mut b = f.reader(ReaderStart::TrimHorizon, Some(f.store())).await;
        assert_eq!(values(&read(&mut b, 3, 100).await), vec![5, 6, 7]);
        b.commit().unwrap();
        drop(b);
        assert!(matches!(
            f.store().get("s", SHARD0),
            Some(ShardCheckpoint::After(_))
        ));
    }

    #[tokio::test]
    async fn a_start_at_the_head_stopped_before_its_first_read_resumes_from_its_start() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(2)).unwrap();
        f.put("s", 0..5);
        f.clock.advance(1_000);
        // Started at the head (NOW) and stopped at once, before any read.
        let mut a = f.reader(ReaderStart::Latest, Some(f.store())).await;
        f.put("s", 5..7);
        a.commit().unwrap();
        drop(a);
        for shard in [SHARD0, "shardId-000000000001"] {
            assert!(
                matches!(f.store().get("s", shard), Some(ShardCheckpoint::Since(_))),
                "{shard}"
            );
        }
        f.clock.advance(1_000);
        f.put("s", 7..9);
        // LAST_STOPPED_POINT: what came after the start, nothing older.
        let mut b = f.reader(ReaderStart::TrimHorizon, Some(f.store())).await;
        let mut got = values(&read(&mut b, 4, 100).await);
        got.sort_unstable();
        assert_eq!(got, vec![5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn resumes_after_the_last_commit_and_skips_finished_shards() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(2)).unwrap();
        f.put("s", 0..40);
        let mut a = f.reader(ReaderStart::TrimHorizon, Some(f.store())).await;
        let committed = read(&mut a, 15, 15).await;
        assert_eq!(committed.len(), 15);
        a.commit().unwrap();
        // Read but never committed: must come again after the restart.
        let uncommitted = read(&mut a, 10, 10).await;
        assert_eq!(uncommitted.len(), 10);
        drop(a);

        let mut b = f.reader(ReaderStart::Latest, Some(f.store())).await;
        let again = read(&mut b, 25, 100).await;
        let mut seen = values(&committed);
        seen.extend(values(&again));
        seen.sort_unstable();
        assert_eq!(seen, (0..40).collect::<Vec<_>>(), "no gap, no duplicate");
        assert!(
            values(&uncommitted)
                .iter()
                .all(|v| values(&again).contains(v))
        );

        // Split while reading; the parent is read to its end and checkpointed finished.
        f.kds.split_shard("s", SHARD0, 1u128 << 126).unwrap();
        f.put("s", 40..80);
        let after_split = read(&mut b, 40, 100).await;
        assert_eq!(values(&after_split), (40..80).collect::<Vec<_>>());
        b.commit().unwrap();
        drop(b);
        let store = f.store();
        assert_eq!(store.get("s", SHARD0), Some(ShardCheckpoint::Finished));
        assert!(matches!(
            store.get("s", "shardId-000000000001"),
            Some(ShardCheckpoint::After(_))
        ));

        let mut c = f.reader(ReaderStart::TrimHorizon, Some(store)).await;
        assert!(
            read(&mut c, 1, 100).await.is_empty(),
            "nothing is read twice"
        );
        assert!(!c.open_shards().contains(&SHARD0.to_owned()));
        f.put("s", 80..90);
        assert_eq!(
            values(&read(&mut c, 10, 100).await),
            (80..90).collect::<Vec<_>>()
        );
        // Commit writes only what changed, and twice in a row is harmless.
        c.commit().unwrap();
        c.commit().unwrap();
    }

    #[tokio::test]
    async fn child_without_checkpoint_of_a_checkpointed_parent_starts_at_trim_horizon() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(1)).unwrap();
        f.put("s", 0..10);
        let mut a = f.reader(ReaderStart::TrimHorizon, Some(f.store())).await;
        assert_eq!(read(&mut a, 5, 5).await.len(), 5);
        a.commit().unwrap();
        drop(a);
        // Resharded while no reader ran.
        f.kds.split_shard("s", SHARD0, 1u128 << 127).unwrap();
        f.put("s", 10..30);
        // LATEST applies only to shards with no read history.
        let mut b = f.reader(ReaderStart::Latest, Some(f.store())).await;
        let rest = read(&mut b, 25, 100).await;
        assert_eq!(values(&rest), (5..30).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn latest_and_at_timestamp_starts() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(2)).unwrap();
        f.put("s", 0..10);
        f.clock.advance(1000);
        f.put("s", 10..20);
        let mut latest = f.reader(ReaderStart::Latest, None).await;
        let mut at = f.reader(ReaderStart::AtTimestamp(T0 + 1000), None).await;
        assert!(
            latest
                .next_batch(100, Duration::from_millis(20))
                .await
                .unwrap()
                .is_empty()
        );
        f.put("s", 20..30);
        assert_eq!(
            values(&read(&mut latest, 10, 100).await),
            (20..30).collect::<Vec<_>>()
        );
        assert_eq!(
            values(&read(&mut at, 20, 100).await),
            (10..30).collect::<Vec<_>>()
        );
        let arrivals: HashSet<i64> =
            read(&mut f.reader(ReaderStart::TrimHorizon, None).await, 30, 100)
                .await
                .iter()
                .map(|r| r.arrival_ms)
                .collect();
        assert_eq!(arrivals, HashSet::from([T0, T0 + 1000]));
    }

    #[tokio::test]
    async fn latest_skips_shards_closed_before_open() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(1)).unwrap();
        f.put("s", 0..10);
        f.kds.split_shard("s", SHARD0, 1u128 << 127).unwrap();
        f.put("s", 10..20);
        let store = f.store();
        let mut r = f.reader(ReaderStart::Latest, Some(store.clone())).await;
        assert!(read(&mut r, 1, 100).await.is_empty());
        f.put("s", 20..25);
        assert_eq!(
            values(&read(&mut r, 5, 100).await),
            (20..25).collect::<Vec<_>>()
        );
        r.commit().unwrap();
        assert_eq!(store.get("s", SHARD0), Some(ShardCheckpoint::Finished));
    }

    /// With AWS's per-shard read limits on, the reader backs off instead of
    /// failing, and goes on once the next second starts.
    #[tokio::test]
    async fn throttled_reads_back_off() {
        let f = fixture(KdsOptions {
            throttle: true,
            ..KdsOptions::default()
        });
        f.kds.create_stream("s", Some(1)).unwrap();
        f.put("s", 0..10);
        let mut r = f.reader(ReaderStart::TrimHorizon, None).await;
        let mut got = Vec::new();
        for _ in 0..5 {
            got.extend(r.next_batch(1, Duration::from_millis(10)).await.unwrap());
        }
        assert_eq!(values(&got), (0..5).collect::<Vec<_>>());
        // The sixth GetRecords in this second is refused: no record, no error.
        assert!(
            r.next_batch(1, Duration::from_millis(50))
                .await
                .unwrap()
                .is_empty()
        );
        f.clock.advance(1000);
        tokio::time::sleep(Duration::from_millis(120)).await;
        let next = r.next_batch(1, Duration::from_millis(500)).await.unwrap();
        assert_eq!(values(&next), vec![5]);
    }

    #[tokio::test]
    async fn open_errors() {
        let f = fixture(KdsOptions::default());
        let err = StreamReader::open(
            ReaderSource::Embedded(f.kds.clone()),
            "missing",
            ReaderStart::TrimHorizon,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.aws_type(), "ResourceNotFoundException", "{err}");
        let err = StreamReader::open(
            ReaderSource::Embedded(f.kds.clone()),
            "bad name",
            ReaderStart::TrimHorizon,
            None,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("\"bad name\""), "{err}");
    }

    #[tokio::test]
    async fn a_stream_deleted_while_reading_is_an_error_after_the_records_read() {
        let f = fixture(KdsOptions::default());
        f.kds.create_stream("s", Some(1)).unwrap();
        f.put("s", 0..3);
        let mut r = f.reader(ReaderStart::TrimHorizon, None).await;
        assert_eq!(read(&mut r, 3, 10).await.len(), 3);
        f.kds.delete_stream("s").unwrap();
        let err = r
            .next_batch(10, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(err.aws_type(), "ResourceNotFoundException", "{err}");
    }
}
