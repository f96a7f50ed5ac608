//! The fragment store: one directory per stream, append-only segment files
//! holding the producer's fragments byte for byte, deduplicated header
//! blocks, and a checksummed fragment index. Entry points: [`Store::open`],
//! [`Store::create_stream`], [`Stream::append`] / [`Stream::persist`].
//!
//! # On-disk format
//!
//! ```text
//! <data-dir>/streams/<StreamName>/
//!   stream.json            StreamMeta, replaced atomically (tmp + fsync + rename)
//!   headers/<id>.mkvh      a header block (EBML header, Segment header with unknown
//!                          size, Info, Tracks ...); <id> = first 16 hex digits of
//!                          its SHA-256, so equal blocks are stored once
//!   segments/<seq>.seg     fragments back to back, exactly as received;
//!                          <seq> = 20-digit sequence of the first fragment in it
//!   index.log              one line per fragment: "<crc32 8 hex> <json>\n",
//!                          the CRC-32 is over the JSON text
//! ```
//!
//! Order of writes for a fragment: bytes appended to the segment (visible
//! to readers, RECEIVED), then on [`Stream::persist`]: fsync segment, append
//! index lines, fsync index (PERSISTED). Recovery ([`Store::open`]) keeps the
//! index up to its first torn or corrupt line and drops entries whose bytes
//! are not all in their segment, then cuts segments back to the last indexed
//! byte. So no index entry ever points at missing bytes.
//!
//! Fragment numbers are 47-digit decimal strings, fixed width, so string
//! order is numeric order and they are never parsed. Their sequence is
//! reserved in blocks recorded in `stream.json` before use, so a number is
//! never handed out twice, even after a crash or once retention has emptied
//! the index.
//!
//! A stream with `DataRetentionInHours = 0` keeps fragments in memory only,
//! in a buffer bounded by [`StoreConfig::memory_buffer_bytes`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::{Result, VideoError};
use crate::fragment_bytes::FragmentBytes;

/// Fragment sequence numbers reserved per `stream.json` write.
const SEQ_RESERVE: u64 = 4096;
/// Fixed prefix of every fragment number (47 digits in all, like AWS's).
const FRAGMENT_PREFIX: &str = "91343852333181";

/// The fragment number for a sequence: fixed width, 47 digits.
pub fn fragment_number(seq: u64) -> String {
    format!("{FRAGMENT_PREFIX}{seq:033}")
}

/// Store tuning.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Start a new segment file past this size.
    pub segment_max_bytes: u64,
    /// Memory kept for a stream with retention 0.
    pub memory_buffer_bytes: u64,
    /// fsync on persist (turn off only for benchmarks of the fsync cost).
    pub fsync: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            segment_max_bytes: 64 * 1024 * 1024,
            memory_buffer_bytes: 64 * 1024 * 1024,
            fsync: true,
        }
    }
}

/// A stream's description, as DescribeStream reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamMeta {
    /// StreamName.
    pub name: String,
    /// StreamARN.
    pub arn: String,
    /// DeviceName.
    pub device_name: Option<String>,
    /// MediaType.
    pub media_type: Option<String>,
    /// KmsKeyId.
    pub kms_key_id: Option<String>,
    /// Version (changes on every update).
    pub version: String,
    /// CreationTime, ms since the epoch.
    pub creation_ms: i64,
    /// DataRetentionInHours.
    pub retention_hours: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Sequence numbers below this may have been handed out.
    pub reserved_seq: u64,
    /// Updates so far (feeds the version).
    pub updates: u64,
}

impl StreamMeta {
    fn bump_version(&mut self) {
        self.updates += 1;
        self.version = format!("{:x}{:04x}", self.creation_ms, self.updates);
    }
}

/// One fragment in the index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FragmentEntry {
    /// Sequence (the fragment number's integer part, internal only).
    pub seq: u64,
    /// FragmentNumber.
    pub number: String,
    /// ProducerTimestamp, ms since the epoch.
    pub producer_ms: i64,
    /// ServerTimestamp, ms since the epoch.
    pub server_ms: i64,
    /// FragmentLengthInMilliseconds.
    pub duration_ms: i64,
    /// FragmentSizeInBytes (the stored bytes).
    pub size: u64,
    /// Frames.
    pub frames: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Track numbers with frames in the fragment.
    pub tracks: Vec<u64>,
    /// Header block id.
    pub header: String,
    /// Segment file (sequence of its first fragment); `u64::MAX` = memory.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// The Cluster Timecode, in ticks.
    pub cluster_timecode: u64,
}

/// What a new fragment brings to [`Stream::append`].
#[derive(Debug, Clone)]
pub struct NewFragment {
    /// From [`Stream::allocate`].
    pub seq: u64,
    /// ProducerTimestamp, ms.
    pub producer_ms: i64,
    /// ServerTimestamp, ms (raised if needed to keep server time monotonic).
    pub server_ms: i64,
    /// Length in ms.
    pub duration_ms: i64,
    /// Frames.
    pub frames: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Track numbers with frames.
    pub tracks: Vec<u64>,
    /// Header block id from [`Stream::put_header`].
    pub header: String,
    /// Cluster Timecode, ticks.
    pub cluster_timecode: u64,
    /// The bytes, as slices of the buffers they arrived in.
    pub bytes: FragmentBytes,
}

const MEMORY: u64 = u64::MAX;

struct SegmentWriter {
    id: u64,
    /// Shared so [`Stream::append`] writes it without the stream lock.
    file: Arc<File>,
    len: u64,
    dirty: bool,
}

struct Inner {
    meta: StreamMeta,
    entries: VecDeque<FragmentEntry>,
    headers: HashMap<String, Bytes>,
    memory: HashMap<u64, Bytes>,
    memory_bytes: u64,
    segments: BTreeSet<u64>,
    active: Option<SegmentWriter>,
    index: Option<File>,
    next_seq: u64,
    pending: Vec<FragmentEntry>,
}

/// One stream: its metadata, index and files. Shared by the PutMedia
/// session writing it and every reader.
pub struct Stream {
    dir: PathBuf,
    config: StoreConfig,
    inner: Mutex<Inner>,
    head: watch::Sender<u64>,
    writer_active: AtomicBool,
    deleted: AtomicBool,
    /// Serializes [`Stream::persist`] calls.
    persist_lock: Mutex<()>,
    /// Serializes [`Stream::append`] calls, whose segment writes run
    /// without the stream lock.
    append_lock: Mutex<()>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("dir", &self.dir).finish()
    }
}

fn crc_line(json: &str) -> String {
    format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| VideoError::io("create", &tmp, e))?;
    f.write_all(data)
        .map_err(|e| VideoError::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| VideoError::io("fsync", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| VideoError::io("rename", path, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| VideoError::io("fsync dir", dir, e))
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join("segments").join(format!("{id:020}.seg"))
}

impl Stream {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data behind
        // (every mutation is a push or a pop), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream's metadata.
    pub fn meta(&self) -> StreamMeta {
        self.lock().meta.clone()
    }

    /// StreamName.
    pub fn name(&self) -> String {
        self.lock().meta.name.clone()
    }

    /// True once DeleteStream removed it.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::SeqCst)
    }

    /// Claim the stream's single PutMedia connection; `false` if taken.
    pub fn claim_writer(&self) -> bool {
        !self.writer_active.swap(true, Ordering::SeqCst)
    }

    /// Release the PutMedia connection.
    pub fn release_writer(&self) {
        self.writer_active.store(false, Ordering::SeqCst);
    }

    /// Watch the sequence of the newest fragment (+1); changes on append.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    fn save_meta(&self, meta: &StreamMeta) -> Result<()> {
        let json = serde_json::to_vec_pretty(meta).map_err(|e| VideoError::Corrupt {
            path: self.dir.join("stream.json"),
            offset: 0,
            reason: e.to_string(),
        })?;
        write_atomic(&self.dir.join("stream.json"), &json)
    }

    /// Hand out the next fragment sequence; reserves a block on disk first
    /// so no number is ever reused.
    pub fn allocate(&self) -> Result<u64> {
        let mut inner = self.lock();
        if inner.next_seq >= inner.meta.reserved_seq {
            let mut meta = inner.meta.clone();
            meta.reserved_seq = inner.next_seq + SEQ_RESERVE;
            self.save_meta(&meta)?;
            inner.meta = meta;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        Ok(seq)
    }

    /// The next fragment sequence number if one is reserved already, so
    /// no `stream.json` write is due (a caller on an async task can take
    /// it without a blocking call); `None` when the reserve is used up.
    pub fn try_allocate(&self) -> Option<u64> {
        let mut inner = self.lock();
        if inner.next_seq >= inner.meta.reserved_seq {
            return None;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        Some(seq)
    }

    /// Store a header block (once per distinct content); returns its id.
    pub fn put_header(&self, bytes: &Bytes) -> Result<String> {
        let digest = Sha256::digest(bytes);
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut inner = self.lock();
        if !inner.headers.contains_key(&id) {
            let path = self.dir.join("headers").join(format!("{id}.mkvh"));
            write_atomic(&path, bytes)?;
            inner.headers.insert(id.clone(), bytes.clone());
        }
        Ok(id)
    }

    /// A header block by id.
    pub fn header(&self, id: &str) -> Option<Bytes> {
        self.lock().headers.get(id).cloned()
    }

    /// Append a fragment: its bytes go to the active segment (or memory,
    /// with retention 0) and it becomes visible to readers at once. Durable
    /// only after [`Stream::persist`].
    ///
    /// Appends are serialized, and the segment write runs without the
    /// stream lock: readers, [`Stream::persist`] and numbering
    /// ([`Stream::try_allocate`]) are not held up by a fragment's bytes
    /// going in. The fragment is indexed (and pending for persist) only
    /// once its bytes are written.
    pub fn append(&self, frag: NewFragment) -> Result<FragmentEntry> {
        let _one_at_a_time = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut inner = self.lock();
        let server_ms = inner
            .entries
            .back()
            .map_or(frag.server_ms, |last| frag.server_ms.max(last.server_ms));
        let mut entry = FragmentEntry {
            seq: frag.seq,
            number: fragment_number(frag.seq),
            producer_ms: frag.producer_ms,
            server_ms,
            duration_ms: frag.duration_ms,
            size: frag.bytes.len() as u64,
            frames: frag.frames,
            keyframes: frag.keyframes,
            tracks: frag.tracks,
            header: frag.header,
            segment: MEMORY,
            offset: 0,
            cluster_timecode: frag.cluster_timecode,
        };
        if inner.meta.retention_hours == 0 {
            inner.memory_bytes += entry.size;
            // One buffer of its own, so the input it was sliced from is freed.
            inner.memory.insert(entry.seq, frag.bytes.to_bytes());
            while inner.memory_bytes > self.config.memory_buffer_bytes && inner.entries.len() > 1 {
                if let Some(old) = inner.entries.pop_front()
                    && let Some(b) = inner.memory.remove(&old.seq)
                {
                    inner.memory_bytes -= b.len() as u64;
                }
            }
        } else {
            let rotate = inner
                .active
                .as_ref()
                .is_none_or(|a| a.len > 0 && a.len + entry.size > self.config.segment_max_bytes);
            if rotate {
                if let Some(mut old) = inner.active.take()
                    && old.dirty
                    && self.config.fsync
                {
                    old.file
                        .sync_data()
                        .map_err(|e| VideoError::io("fsync", segment_path(&self.dir, old.id), e))?;
                    old.dirty = false;
                }
                let path = segment_path(&self.dir, entry.seq);
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| VideoError::io("create", &path, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| VideoError::io("stat", &path, e))?
                    .len();
                inner.segments.insert(entry.seq);
                inner.active = Some(SegmentWriter {
                    id: entry.seq,
                    file: Arc::new(file),
                    len,
                    dirty: true,
                });
                sync_dir(&self.dir.join("segments"))?;
            }
            let Some(active) = inner.active.as_ref() else {
                return Err(VideoError::io(
                    "append",
                    &self.dir,
                    std::io::Error::other("no active segment"),
                ));
            };
            let (id, offset, file) = (active.id, active.len, active.file.clone());
            drop(inner);
            // No one else appends (append_lock), so the file (opened for
            // append) ends at `offset` and the bytes land there.
            let path = segment_path(&self.dir, id);
            frag.bytes
                .write_to(&mut &*file)
                .map_err(|e| VideoError::io("write", &path, e))?;
            inner = self.lock();
            let Some(active) = inner.active.as_mut().filter(|a| a.id == id) else {
                return Err(VideoError::io(
                    "append",
                    &path,
                    std::io::Error::other("the stream was deleted during the write"),
                ));
            };
            entry.segment = id;
            entry.offset = offset;
            active.len += entry.size;
            active.dirty = true;
            inner.pending.push(entry.clone());
        }
        inner.entries.push_back(entry.clone());
        drop(inner);
        self.head.send_replace(entry.seq + 1);
        Ok(entry)
    }

    /// Make every appended fragment durable: fsync the segment, then write
    /// and fsync their index lines. Returns the fragments made durable.
    ///
    /// The fsyncs run without the stream lock (on duplicated file
    /// handles), so appends and reads go on meanwhile (group commit).
    /// Entries stay in `pending` until their bytes are durable, so a
    /// compaction meanwhile leaves them out of the index it rewrites; their
    /// lines are appended after it. Persists of one stream are serialized.
    pub fn persist(&self) -> Result<Vec<FragmentEntry>> {
        let _one_at_a_time = self.persist_lock.lock().unwrap_or_else(|p| p.into_inner());
        let fsync = self.config.fsync;
        // 1. Which entries, and a handle on the segment they are in.
        let (count, segment) = {
            let mut inner = self.lock();
            if inner.pending.is_empty() {
                return Ok(Vec::new());
            }
            let count = inner.pending.len();
            let mut segment = None;
            if let Some(active) = inner.active.as_mut()
                && active.dirty
            {
                if fsync {
                    let path = segment_path(&self.dir, active.id);
                    let dup = active
                        .file
                        .try_clone()
                        .map_err(|e| VideoError::io("dup", &path, e))?;
                    segment = Some((dup, path));
                }
                active.dirty = false;
            }
            (count, segment)
        };
        // 2. Their bytes durable (older segments were fsynced when rotated).
        if let Some((file, path)) = segment
            && let Err(e) = file.sync_data()
        {
            if let Some(active) = self.lock().active.as_mut() {
                active.dirty = true;
            }
            return Err(VideoError::io("fsync", path, e));
        }
        // 3. Their index lines written, then fsynced without the lock.
        let index_path = self.dir.join("index.log");
        let (done, index) = {
            let mut inner = self.lock();
            let count = count.min(inner.pending.len());
            let done: Vec<FragmentEntry> = inner.pending.drain(..count).collect();
            let mut text = String::new();
            for e in &done {
                let json = serde_json::to_string(e).map_err(|err| VideoError::Corrupt {
                    path: index_path.clone(),
                    offset: 0,
                    reason: err.to_string(),
                })?;
                text.push_str(&crc_line(&json));
            }
            if inner.index.is_none() {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&index_path)
                    .map_err(|e| VideoError::io("open", &index_path, e))?;
                // The first persist creates the file: its name must be as
                // durable as the lines about to be synced into it.
                if fsync {
                    sync_dir(&self.dir)?;
                }
                inner.index = Some(f);
            }
            let mut dup = None;
            if let Some(index) = inner.index.as_mut() {
                index
                    .write_all(text.as_bytes())
                    .map_err(|e| VideoError::io("write", &index_path, e))?;
                if fsync {
                    dup = Some(
                        index
                            .try_clone()
                            .map_err(|e| VideoError::io("dup", &index_path, e))?,
                    );
                }
            }
            (done, dup)
        };
        if let Some(index) = index {
            index
                .sync_data()
                .map_err(|e| VideoError::io("fsync", &index_path, e))?;
        }
        Ok(done)
    }

    /// The stored bytes of a fragment.
    pub fn read(&self, entry: &FragmentEntry) -> Result<Bytes> {
        if entry.segment == MEMORY {
            return self.lock().memory.get(&entry.seq).cloned().ok_or_else(|| {
                VideoError::FragmentNotFound {
                    stream: self.name(),
                    fragment: entry.number.clone(),
                }
            });
        }
        let path = segment_path(&self.dir, entry.segment);
        let file = File::open(&path).map_err(|e| VideoError::io("open", &path, e))?;
        let mut buf = vec![0u8; entry.size as usize];
        file.read_exact_at(&mut buf, entry.offset)
            .map_err(|e| VideoError::io("read", &path, e))?;
        Ok(Bytes::from(buf))
    }

    /// Number of fragments indexed.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when no fragment is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest fragment indexed.
    pub fn last(&self) -> Option<FragmentEntry> {
        self.lock().entries.back().cloned()
    }

    /// Sequence the next appended fragment will be at least.
    pub fn head_seq(&self) -> u64 {
        *self.head.borrow()
    }

    /// The fragment with this number.
    pub fn by_number(&self, number: &str) -> Option<FragmentEntry> {
        let inner = self.lock();
        inner
            .entries
            .binary_search_by(|e| e.number.as_str().cmp(number))
            .ok()
            .and_then(|i| inner.entries.get(i).cloned())
    }

    /// The first fragment (in fragment order) containing server time `ms`,
    /// or else the first one after it.
    pub fn by_server_time(&self, ms: i64) -> Option<FragmentEntry> {
        let inner = self.lock();
        let i = inner
            .entries
            .partition_point(|e| e.server_ms + e.duration_ms.max(1) <= ms);
        inner.entries.get(i).cloned()
    }

    /// The first fragment (in fragment order) containing producer time `ms`,
    /// or else the first one starting after it.
    pub fn by_producer_time(&self, ms: i64) -> Option<FragmentEntry> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .find(|e| e.producer_ms + e.duration_ms.max(1) > ms)
            .cloned()
    }

    /// Up to `max` fragments with sequence `>= seq`, in order.
    pub fn from_seq(&self, seq: u64, max: usize) -> Vec<FragmentEntry> {
        let inner = self.lock();
        let i = inner.entries.partition_point(|e| e.seq < seq);
        inner.entries.range(i..).take(max).cloned().collect()
    }

    /// Fragments passing `keep`, from sequence `seq` on, at most `max`.
    pub fn filter_from(
        &self,
        seq: u64,
        max: usize,
        keep: impl Fn(&FragmentEntry) -> bool,
    ) -> Vec<FragmentEntry> {
        let inner = self.lock();
        let i = inner.entries.partition_point(|e| e.seq < seq);
        inner
            .entries
            .range(i..)
            .filter(|e| keep(e))
            .take(max)
            .cloned()
            .collect()
    }

    /// Drop fragments older than the retention period (by server time) and
    /// delete segment files no longer referenced. Returns how many went.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        let mut inner = self.lock();
        let hours = i64::from(inner.meta.retention_hours);
        if hours == 0 {
            // Memory-only stream: drop whatever an earlier retention left on disk.
            let on_disk = inner.entries.iter().filter(|e| e.segment != MEMORY).count();
            if on_disk == 0 {
                return Ok(0);
            }
            inner.entries.retain(|e| e.segment == MEMORY);
            inner.pending.clear();
            self.compact(&mut inner)?;
            return Ok(on_disk);
        }
        let cutoff = now_ms - hours * 3_600_000;
        let mut dropped = 0;
        while inner.entries.front().is_some_and(|e| e.server_ms < cutoff) {
            if let Some(e) = inner.entries.pop_front() {
                if e.segment == MEMORY
                    && let Some(b) = inner.memory.remove(&e.seq)
                {
                    inner.memory_bytes -= b.len() as u64;
                }
                inner.pending.retain(|p| p.seq != e.seq);
            }
            dropped += 1;
        }
        if dropped > 0 {
            self.compact(&mut inner)?;
        }
        Ok(dropped)
    }

    /// Rewrite the index without dropped entries and delete unused segments.
    fn compact(&self, inner: &mut Inner) -> Result<()> {
        let pending: BTreeSet<u64> = inner.pending.iter().map(|e| e.seq).collect();
        let mut text = String::new();
        for e in inner.entries.iter().filter(|e| e.segment != MEMORY) {
            if pending.contains(&e.seq) {
                continue;
            }
            let json = serde_json::to_string(e).map_err(|err| VideoError::Corrupt {
                path: self.dir.join("index.log"),
                offset: 0,
                reason: err.to_string(),
            })?;
            text.push_str(&crc_line(&json));
        }
        let index_path = self.dir.join("index.log");
        inner.index = None;
        write_atomic(&index_path, text.as_bytes())?;
        let used: BTreeSet<u64> = inner.entries.iter().map(|e| e.segment).collect();
        let active = inner.active.as_ref().map(|a| a.id);
        let unused: Vec<u64> = inner
            .segments
            .iter()
            .copied()
            .filter(|s| !used.contains(s) && Some(*s) != active)
            .collect();
        for id in unused {
            let path = segment_path(&self.dir, id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(VideoError::io("remove", &path, e)),
            }
            inner.segments.remove(&id);
        }
        Ok(())
    }

    fn update_meta(&self, f: impl FnOnce(&mut StreamMeta) -> Result<()>) -> Result<StreamMeta> {
        let mut inner = self.lock();
        let mut meta = inner.meta.clone();
        f(&mut meta)?;
        self.save_meta(&meta)?;
        inner.meta = meta.clone();
        Ok(meta)
    }

    /// Load a stream directory, recovering from a crash (see module docs).
    fn open(dir: PathBuf, config: StoreConfig) -> Result<Stream> {
        let meta_path = dir.join("stream.json");
        let text = fs::read(&meta_path).map_err(|e| VideoError::io("read", &meta_path, e))?;
        let mut meta: StreamMeta =
            serde_json::from_slice(&text).map_err(|e| VideoError::Corrupt {
                path: meta_path.clone(),
                offset: 0,
                reason: e.to_string(),
            })?;
        let mut headers = HashMap::new();
        let headers_dir = dir.join("headers");
        if let Ok(rd) = fs::read_dir(&headers_dir) {
            for ent in rd.flatten() {
                let p = ent.path();
                if p.extension().is_some_and(|x| x == "mkvh")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    let bytes = fs::read(&p).map_err(|e| VideoError::io("read", &p, e))?;
                    headers.insert(stem.to_string(), Bytes::from(bytes));
                }
            }
        }
        let mut segments = BTreeMap::new();
        if let Ok(rd) = fs::read_dir(dir.join("segments")) {
            for ent in rd.flatten() {
                let p = ent.path();
                if let Some(id) = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<u64>().ok())
                    && p.extension().is_some_and(|x| x == "seg")
                {
                    let len = ent.metadata().map(|m| m.len()).unwrap_or(0);
                    segments.insert(id, len);
                }
            }
        }
        let index_path = dir.join("index.log");
        let mut entries = VecDeque::new();
        let mut good_len = 0u64;
        let mut torn = false;
        if let Ok(f) = File::open(&index_path) {
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = match reader.read_line(&mut line) {
                    Ok(n) => n,
                    Err(_) => {
                        torn = true;
                        break;
                    }
                };
                if n == 0 {
                    break;
                }
                let parsed = line
                    .strip_suffix('\n')
                    .and_then(|l| l.split_once(' '))
                    .filter(|(crc, json)| {
                        u32::from_str_radix(crc, 16).ok() == Some(crc32fast::hash(json.as_bytes()))
                    })
                    .and_then(|(_, json)| serde_json::from_str::<FragmentEntry>(json).ok());
                let Some(entry) = parsed else {
                    torn = true;
                    break;
                };
                let complete = segments
                    .get(&entry.segment)
                    .is_some_and(|len| entry.offset + entry.size <= *len)
                    && headers.contains_key(&entry.header)
                    && entries
                        .back()
                        .is_none_or(|p: &FragmentEntry| p.seq < entry.seq);
                if !complete {
                    torn = true;
                    break;
                }
                good_len += n as u64;
                entries.push_back(entry);
            }
        }
        if torn {
            let f = OpenOptions::new()
                .write(true)
                .open(&index_path)
                .map_err(|e| VideoError::io("open", &index_path, e))?;
            f.set_len(good_len)
                .and_then(|()| f.sync_all())
                .map_err(|e| VideoError::io("truncate", &index_path, e))?;
        }
        // Cut segments back to their last indexed byte; drop unreferenced ones.
        let mut ends: BTreeMap<u64, u64> = BTreeMap::new();
        for e in &entries {
            let end = ends.entry(e.segment).or_insert(0);
            *end = (*end).max(e.offset + e.size);
        }
        let mut kept = BTreeSet::new();
        for (id, len) in &segments {
            let path = segment_path(&dir, *id);
            match ends.get(id) {
                Some(end) => {
                    if end < len {
                        let f = OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(|e| VideoError::io("open", &path, e))?;
                        f.set_len(*end)
                            .and_then(|()| f.sync_all())
                            .map_err(|e| VideoError::io("truncate", &path, e))?;
                    }
                    kept.insert(*id);
                }
                None => {
                    fs::remove_file(&path).map_err(|e| VideoError::io("remove", &path, e))?;
                }
            }
        }
        let next_seq = entries
            .back()
            .map_or(0, |e| e.seq + 1)
            .max(meta.reserved_seq);
        meta.reserved_seq = next_seq;
        let head = next_seq;
        let stream = Stream {
            dir,
            config,
            inner: Mutex::new(Inner {
                meta,
                entries,
                headers,
                memory: HashMap::new(),
                memory_bytes: 0,
                segments: kept,
                active: None,
                index: None,
                next_seq,
                pending: Vec::new(),
            }),
            head: watch::Sender::new(head),
            writer_active: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            persist_lock: Mutex::new(()),
            append_lock: Mutex::new(()),
        };
        Ok(stream)
    }
}

/// Parameters of CreateStream.
#[derive(Debug, Clone, Default)]
pub struct CreateStream {
    /// StreamName.
    pub name: String,
    /// DeviceName.
    pub device_name: Option<String>,
    /// MediaType.
    pub media_type: Option<String>,
    /// KmsKeyId.
    pub kms_key_id: Option<String>,
    /// DataRetentionInHours.
    pub retention_hours: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// All streams under one data directory.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
    streams: RwLock<BTreeMap<String, Arc<Stream>>>,
    region: String,
    account: String,
}

/// Is `name` a valid stream name (`[a-zA-Z0-9_.-]{1,256}`, not `.`/`..`)?
pub fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Store {
    /// Open (or create) the store under `root`, recovering every stream.
    pub fn open(
        root: impl Into<PathBuf>,
        clock: Arc<dyn Clock>,
        config: StoreConfig,
    ) -> Result<Store> {
        let root = root.into();
        let streams_dir = root.join("streams");
        fs::create_dir_all(&streams_dir)
            .map_err(|e| VideoError::io("create dir", &streams_dir, e))?;
        let mut streams = BTreeMap::new();
        let rd = fs::read_dir(&streams_dir).map_err(|e| VideoError::io("list", &streams_dir, e))?;
        for ent in rd.flatten() {
            let dir = ent.path();
            if !dir.join("stream.json").exists() {
                // A half-created or half-deleted stream.
                let _ = fs::remove_dir_all(&dir);
                continue;
            }
            let stream = Stream::open(dir, config.clone())?;
            // Re-reserve past everything that may have been handed out.
            stream.update_meta(|m| {
                m.reserved_seq += SEQ_RESERVE;
                Ok(())
            })?;
            let name = stream.name();
            streams.insert(name, Arc::new(stream));
        }
        Ok(Store {
            root,
            config,
            clock,
            streams: RwLock::new(streams),
            region: "us-east-1".into(),
            account: "000000000000".into(),
        })
    }

    /// The clock the store reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn read_streams(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Stream>>> {
        self.streams.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_streams(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Stream>>> {
        self.streams.write().unwrap_or_else(|p| p.into_inner())
    }

    /// CreateStream.
    pub fn create_stream(&self, req: CreateStream) -> Result<StreamMeta> {
        if !valid_stream_name(&req.name) {
            return Err(VideoError::InvalidArgument {
                field: "StreamName",
                reason: format!(
                    "{:?} must match [a-zA-Z0-9_.-]+, 1 to 256 characters",
                    req.name
                ),
            });
        }
        let mut streams = self.write_streams();
        if streams.contains_key(&req.name) {
            return Err(VideoError::StreamExists { stream: req.name });
        }
        let now = self.clock.now_ms();
        let dir = self.root.join("streams").join(&req.name);
        for sub in ["headers", "segments"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(|e| VideoError::io("create dir", &p, e))?;
        }
        let mut meta = StreamMeta {
            arn: format!(
                "arn:aws:kinesisvideo:{}:{}:stream/{}/{}",
                self.region, self.account, req.name, now
            ),
            name: req.name.clone(),
            device_name: req.device_name,
            media_type: req.media_type,
            kms_key_id: req.kms_key_id,
            version: String::new(),
            creation_ms: now,
            retention_hours: req.retention_hours,
            tags: req.tags,
            reserved_seq: 0,
            updates: 0,
        };
        meta.bump_version();
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| VideoError::Corrupt {
            path: dir.join("stream.json"),
            offset: 0,
            reason: e.to_string(),
        })?;
        write_atomic(&dir.join("stream.json"), &json)?;
        sync_dir(&self.root.join("streams"))?;
        let stream = Stream::open(dir, self.config.clone())?;
        streams.insert(req.name, Arc::new(stream));
        Ok(meta)
    }

    /// A stream by name or ARN (exactly one of them is usually given).
    pub fn stream(&self, name: Option<&str>, arn: Option<&str>) -> Result<Arc<Stream>> {
        let streams = self.read_streams();
        let found = match (name, arn) {
            (Some(n), _) => streams.get(n).cloned(),
            (None, Some(a)) => streams.values().find(|s| s.lock().meta.arn == a).cloned(),
            (None, None) => {
                return Err(VideoError::InvalidArgument {
                    field: "StreamName",
                    reason: "give StreamName or StreamARN".into(),
                });
            }
        };
        let found = found.filter(|s| arn.is_none_or(|a| s.lock().meta.arn == a));
        found.ok_or_else(|| VideoError::StreamNotFound {
            stream: name.or(arn).unwrap_or_default().to_string(),
        })
    }

    /// Every stream's metadata, by name.
    pub fn list(&self) -> Vec<StreamMeta> {
        self.read_streams().values().map(|s| s.meta()).collect()
    }

    /// Every stream.
    pub fn streams(&self) -> Vec<Arc<Stream>> {
        self.read_streams().values().cloned().collect()
    }

    /// DeleteStream: gone from the API at once, files removed.
    pub fn delete_stream(&self, arn: &str, current_version: Option<&str>) -> Result<()> {
        let stream = self.stream(None, Some(arn))?;
        let meta = stream.meta();
        check_version(&meta, current_version)?;
        self.write_streams().remove(&meta.name);
        stream.deleted.store(true, Ordering::SeqCst);
        let mut inner = stream.lock();
        inner.active = None;
        inner.index = None;
        let gone = stream
            .dir
            .with_extension(format!("deleted-{}", meta.creation_ms));
        fs::rename(&stream.dir, &gone).map_err(|e| VideoError::io("rename", &stream.dir, e))?;
        fs::remove_dir_all(&gone).map_err(|e| VideoError::io("remove", &gone, e))?;
        drop(inner);
        stream.head.send_replace(u64::MAX);
        Ok(())
    }

    /// UpdateStream (DeviceName, MediaType).
    pub fn update_stream(
        &self,
        stream: &Stream,
        current_version: &str,
        device_name: Option<String>,
        media_type: Option<String>,
    ) -> Result<StreamMeta> {
        stream.update_meta(|m| {
            check_version(m, Some(current_version))?;
            if device_name.is_some() {
                m.device_name = device_name;
            }
            if media_type.is_some() {
                m.media_type = media_type;
            }
            m.bump_version();
            Ok(())
        })
    }

    /// UpdateDataRetention: INCREASE or DECREASE by hours; a decrease
    /// deletes data past the new period at once.
    pub fn update_retention(
        &self,
        stream: &Stream,
        current_version: &str,
        increase: bool,
        change_hours: u32,
    ) -> Result<StreamMeta> {
        let meta = stream.update_meta(|m| {
            check_version(m, Some(current_version))?;
            let new = if increase {
                m.retention_hours
                    .checked_add(change_hours)
                    .filter(|h| *h <= 87_600)
            } else {
                m.retention_hours.checked_sub(change_hours)
            };
            m.retention_hours = new.ok_or_else(|| VideoError::InvalidArgument {
                field: "DataRetentionChangeInHours",
                reason: format!(
                    "{} {change_hours} from {} is out of range 0..=87600",
                    if increase { "adding" } else { "removing" },
                    m.retention_hours
                ),
            })?;
            m.bump_version();
            Ok(())
        })?;
        if !increase {
            stream.enforce_retention(self.clock.now_ms())?;
        }
        Ok(meta)
    }

    /// TagStream / UntagStream.
    pub fn retag(
        &self,
        stream: &Stream,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<StreamMeta> {
        stream.update_meta(|m| {
            for k in remove {
                m.tags.remove(k);
            }
            m.tags.extend(add);
            if m.tags.len() > 50 {
                return Err(VideoError::InvalidArgument {
                    field: "Tags",
                    reason: format!("{} tags, at most 50", m.tags.len()),
                });
            }
            Ok(())
        })
    }

    /// Enforce retention on every stream.
    pub fn enforce_retention(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let mut n = 0;
        for s in self.streams() {
            n += s.enforce_retention(now)?;
        }
        Ok(n)
    }
}

fn check_version(meta: &StreamMeta, given: Option<&str>) -> Result<()> {
    match given {
        Some(v) if v != meta.version => Err(VideoError::VersionMismatch {
            stream: meta.name.clone(),
            current: meta.version.clone(),
            given: v.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    /// A fresh `sluice-video-store-{name}-…` directory, removed with
    /// everything in it when dropped.
    fn tmpdir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("sluice-video-store-{name}-"))
            .tempdir()
            .unwrap()
    }

    fn frag(stream: &Stream, header: &str, server_ms: i64, body: &[u8]) -> FragmentEntry {
        let seq = stream.allocate().unwrap();
        stream
            .append(NewFragment {
                seq,
                producer_ms: server_ms - 500,
                server_ms,
                duration_ms: 2000,
                frames: 60,
                keyframes: 1,
                tracks: vec![1],
                header: header.to_string(),
                cluster_timecode: 0,
                bytes: Bytes::copy_from_slice(body).into(),
            })
            .unwrap()
    }

    fn create(store: &Store, name: &str, hours: u32) -> Arc<Stream> {
        store
            .create_stream(CreateStream {
                name: name.into(),
                retention_hours: hours,
                ..CreateStream::default()
            })
            .unwrap();
        store.stream(Some(name), None).unwrap()
    }

    #[test]
    fn append_persist_reopen_and_lookups() {
        let tmp = tmpdir("reopen");
        let dir = tmp.path();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let store = Store::open(dir, clock.clone(), StoreConfig::default()).unwrap();
        let s = create(&store, "cam", 24);
        let h = s.put_header(&Bytes::from_static(b"HEADER")).unwrap();
        assert_eq!(s.put_header(&Bytes::from_static(b"HEADER")).unwrap(), h);
        let a = frag(&s, &h, 1_700_000_000_000, b"first");
        let b = frag(&s, &h, 1_700_000_002_000, b"second");
        assert_eq!(s.persist().unwrap().len(), 2);
        assert_eq!(a.number.len(), 47);
        assert!(a.number < b.number);
        assert_eq!(&s.read(&b).unwrap()[..], b"second");
        assert_eq!(s.by_number(&b.number).unwrap().seq, b.seq);
        assert_eq!(s.by_server_time(1_700_000_001_999).unwrap().seq, a.seq);
        assert_eq!(s.by_server_time(1_700_000_002_000).unwrap().seq, b.seq);
        assert_eq!(s.by_producer_time(1_700_000_001_600).unwrap().seq, b.seq);
        drop((s, store));

        let store = Store::open(dir, clock.clone(), StoreConfig::default()).unwrap();
        let s = store.stream(Some("cam"), None).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            &s.read(&s.by_number(&a.number).unwrap()).unwrap()[..],
            b"first"
        );
        let c = frag(&s, &h, 1_700_000_004_000, b"third");
        assert!(c.number > b.number, "numbers never reused after restart");
        s.persist().unwrap();
    }

    #[test]
    fn readers_and_persist_beside_appends_see_only_whole_fragments() {
        // Appends write without the stream lock: a fragment is indexed
        // (and persisted) only with all its bytes in place, at the offsets
        // the index says, across segment rotations.
        let tmp = tmpdir("beside");
        let dir = tmp.path();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let config = StoreConfig {
            segment_max_bytes: 64 * 1024,
            ..StoreConfig::default()
        };
        let store = Store::open(dir, clock, config.clone()).unwrap();
        let s = create(&store, "cam", 24);
        let h = s.put_header(&Bytes::from_static(b"HEADER")).unwrap();
        let body = |i: usize| vec![(i % 251) as u8; 5_000 + i * 37];
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    frag(&s, &h, 1_700_000_000_000 + i as i64, &body(i));
                }
            })
        };
        let mut persisted = 0;
        while !writer.is_finished() || persisted < 200 {
            for e in s.from_seq(0, usize::MAX) {
                assert_eq!(s.read(&e).unwrap().to_vec(), body(e.seq as usize));
            }
            persisted += s.persist().unwrap().len();
        }
        writer.join().unwrap();
        assert_eq!(persisted, 200);
        drop((s, store));
        let store = Store::open(dir, Arc::new(ManualClock::new(0)), config).unwrap();
        let s = store.stream(Some("cam"), None).unwrap();
        assert_eq!(s.len(), 200);
        for e in s.from_seq(0, usize::MAX) {
            assert_eq!(s.read(&e).unwrap().to_vec(), body(e.seq as usize));
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn crash_leaves_no_entry_pointing_at_missing_bytes() {
        let tmp = tmpdir("crash");
        let dir = tmp.path();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let store = Store::open(dir, clock.clone(), StoreConfig::default()).unwrap();
        let s = create(&store, "cam", 1);
        let h = s.put_header(&Bytes::from_static(b"H")).unwrap();
        let a = frag(&s, &h, 1_000_000, b"aaaa");
        let b = frag(&s, &h, 1_002_000, b"bbbb");
        s.persist().unwrap();
        // Unpersisted bytes in the segment: a crash before the index line.
        let _c = frag(&s, &h, 1_004_000, b"cccc");
        let seg = segment_path(&dir.join("streams/cam"), a.segment);
        drop((s, store));
        // Simulate lost bytes: the segment loses the last persisted fragment's tail.
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(6).unwrap();
        // And a torn index line.
        let mut idx = OpenOptions::new()
            .append(true)
            .open(dir.join("streams/cam/index.log"))
            .unwrap();
        idx.write_all(b"deadbeef {\"seq\":").unwrap();
        drop(idx);

        let store = Store::open(dir, clock, StoreConfig::default()).unwrap();
        let s = store.stream(Some("cam"), None).unwrap();
        assert_eq!(s.len(), 1, "only the fragment whose bytes are all there");
        assert!(s.by_number(&b.number).is_none());
        assert_eq!(
            &s.read(&s.by_number(&a.number).unwrap()).unwrap()[..],
            b"aaaa"
        );
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            4,
            "segment cut to last indexed byte"
        );
        let d = frag(&s, &h, 1_006_000, b"dddd");
        assert!(d.number > b.number);
    }

    #[test]
    fn retention_drops_old_fragments_and_segments() {
        let tmp = tmpdir("retention");
        let dir = tmp.path();
        let clock = Arc::new(ManualClock::new(0));
        let config = StoreConfig {
            segment_max_bytes: 8,
            ..StoreConfig::default()
        };
        let store = Store::open(dir, clock.clone(), config).unwrap();
        let s = create(&store, "cam", 2);
        let h = s.put_header(&Bytes::from_static(b"H")).unwrap();
        for i in 0..4 {
            frag(&s, &h, i * 3_600_000, b"12345678");
        }
        s.persist().unwrap();
        clock.set(3 * 3_600_000 + 1);
        assert_eq!(store.enforce_retention().unwrap(), 2);
        assert_eq!(s.len(), 2);
        let segs = fs::read_dir(dir.join("streams/cam/segments"))
            .unwrap()
            .count();
        assert_eq!(segs, 2);
        // Lowering retention deletes at once.
        let v = s.meta().version;
        store.update_retention(&s, &v, false, 1).unwrap();
        assert_eq!(s.len(), 1);
        let v = s.meta().version;
        assert!(matches!(
            store.update_retention(&s, "stale", true, 1),
            Err(VideoError::VersionMismatch { .. })
        ));
        store.update_retention(&s, &v, true, 5).unwrap();
        drop((s, store));
        let store = Store::open(dir, clock, StoreConfig::default()).unwrap();
        assert_eq!(store.stream(Some("cam"), None).unwrap().len(), 1);
    }

    #[test]
    fn retention_zero_keeps_a_bounded_memory_buffer() {
        let tmp = tmpdir("memory");
        let dir = tmp.path();
        let clock = Arc::new(ManualClock::new(0));
        let config = StoreConfig {
            memory_buffer_bytes: 20,
            ..StoreConfig::default()
        };
        let store = Store::open(dir, clock, config).unwrap();
        let s = create(&store, "live", 0);
        let h = s.put_header(&Bytes::from_static(b"H")).unwrap();
        let mut last = None;
        for i in 0..5 {
            last = Some(frag(&s, &h, i * 1000, b"0123456789"));
        }
        assert!(s.persist().unwrap().is_empty());
        assert_eq!(s.len(), 2);
        assert_eq!(&s.read(&last.unwrap()).unwrap()[..], b"0123456789");
        assert_eq!(
            fs::read_dir(dir.join("streams/live/segments"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn delete_and_recreate() {
        let tmp = tmpdir("delete");
        let dir = tmp.path();
        let store =
            Store::open(dir, Arc::new(ManualClock::new(5)), StoreConfig::default()).unwrap();
        let s = create(&store, "cam", 1);
        let arn = s.meta().arn;
        assert!(matches!(
            store.create_stream(CreateStream {
                name: "cam".into(),
                ..Default::default()
            }),
            Err(VideoError::StreamExists { .. })
        ));
        store.delete_stream(&arn, None).unwrap();
        assert!(s.is_deleted());
        assert!(matches!(
            store.stream(Some("cam"), None),
            Err(VideoError::StreamNotFound { .. })
        ));
        create(&store, "cam", 1);
        assert!(!valid_stream_name(".."));
    }
}
