//! One shard's log: its segment files, the in-memory batch index, appends
//! with fdatasync group commit, and reads by position or time.
//!
//! Entry point: [`ShardLog::open`]. Appends are acknowledged only after the
//! data is on disk; concurrent appenders share one `fdatasync`. Readers only
//! see records that are durable.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{KdsError, Result};
use crate::segment::{
    self, BatchInfo, SEGMENT_HEADER_LEN, StoredRecord, encode_batch, encode_segment_header,
};

/// A record read back, with its position and arrival time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Position in the shard.
    pub position: u64,
    /// Approximate arrival time, ms since the epoch.
    pub arrival_ms: i64,
    /// The record.
    pub record: StoredRecord,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    file: Arc<File>,
    first_position: u64,
    len: u64,
    batches: Vec<BatchInfo>,
}

#[derive(Debug)]
struct LogState {
    segments: Vec<Segment>,
    /// Position the next record gets.
    next_position: u64,
    /// Arrival time of the newest batch (arrivals never go backwards).
    last_arrival_ms: i64,
    /// Set when a write failed: the shard accepts no more writes.
    stopped: Option<String>,
}

#[derive(Debug, Default)]
struct SyncState {
    /// All positions below this are on disk.
    durable: u64,
    syncing: bool,
    error: Option<String>,
}

/// The log of one shard.
#[derive(Debug)]
pub struct ShardLog {
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<LogState>,
    sync: Mutex<SyncState>,
    synced: Condvar,
}

fn segment_path(dir: &Path, first_position: u64) -> PathBuf {
    dir.join(format!("{first_position:020}.seg"))
}

/// fsyncs a directory so a file created or removed in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(KdsError::io(dir))
}

fn create_segment(dir: &Path, first_position: u64) -> Result<Segment> {
    let path = segment_path(dir, first_position);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(KdsError::io(&path))?;
    file.write_all_at(&encode_segment_header(first_position), 0)
        .and_then(|()| file.sync_data())
        .map_err(KdsError::io(&path))?;
    sync_dir(dir)?;
    Ok(Segment {
        path,
        file: Arc::new(file),
        first_position,
        len: SEGMENT_HEADER_LEN,
        batches: Vec::new(),
    })
}

impl ShardLog {
    /// Opens (or creates) the shard in `dir`, truncating a torn tail.
    ///
    /// Damage anywhere but the tail returns [`KdsError::Corrupt`].
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<ShardLog> {
        std::fs::create_dir_all(dir).map_err(KdsError::io(dir))?;
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(KdsError::io(dir))? {
            let entry = entry.map_err(KdsError::io(dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
                continue;
            };
            if let Ok(first) = stem.parse::<u64>() {
                names.push((first, path));
            }
        }
        names.sort();
        let mut segments = Vec::new();
        let mut expected: Option<u64> = None;
        let count = names.len();
        for (i, (_, path)) in names.into_iter().enumerate() {
            let last = i + 1 == count;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(KdsError::io(&path))?;
            let scanned = segment::scan_segment(&file, &path, last, expected)?;
            if scanned.torn {
                if scanned.valid_len < SEGMENT_HEADER_LEN {
                    // The segment's creation was cut short: start it again.
                    drop(file);
                    let seg = create_segment(dir, scanned.first_position)?;
                    expected = Some(seg.first_position);
                    segments.push(seg);
                    continue;
                }
                file.set_len(scanned.valid_len)
                    .and_then(|()| file.sync_all())
                    .map_err(KdsError::io(&path))?;
            }
            let next = scanned.batches.last().map_or(scanned.first_position, |b| {
                b.first_position + u64::from(b.count)
            });
            expected = Some(next);
            segments.push(Segment {
                path,
                file: Arc::new(file),
                first_position: scanned.first_position,
                len: scanned.valid_len,
                batches: scanned.batches,
            });
        }
        if segments.is_empty() {
            segments.push(create_segment(dir, 0)?);
        }
        let next_position = expected.unwrap_or(0);
        let last_arrival_ms = segments
            .iter()
            .rev()
            .find_map(|s| s.batches.last())
            .map_or(i64::MIN, |b| b.arrival_ms);
        Ok(ShardLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            state: Mutex::new(LogState {
                segments,
                next_position,
                last_arrival_ms,
                stopped: None,
            }),
            sync: Mutex::new(SyncState {
                durable: next_position,
                ..SyncState::default()
            }),
            synced: Condvar::new(),
        })
    }

    /// Appends `records` as one batch and returns once it is on disk.
    ///
    /// Returns the position of the first record and the arrival time given.
    pub fn append(&self, records: &[StoredRecord], now_ms: i64) -> Result<(u64, i64)> {
        let (first, arrival, end) = self.write(records, now_ms)?;
        self.wait_durable(end)?;
        Ok((first, arrival))
    }

    /// Writes a batch without waiting for it to be durable; returns
    /// (first position, arrival ms, end position). Pair with [`Self::wait_durable`].
    pub fn write(&self, records: &[StoredRecord], now_ms: i64) -> Result<(u64, i64, u64)> {
        let mut st = self.state.lock();
        if let Some(reason) = &st.stopped {
            return Err(self.stopped_error(reason));
        }
        let arrival = now_ms.max(st.last_arrival_ms);
        let first = st.next_position;
        let bytes = encode_batch(first, arrival, records);
        let needs_roll = st.segments.last().is_none_or(|s| {
            s.len > SEGMENT_HEADER_LEN && s.len + bytes.len() as u64 > self.segment_bytes
        });
        if needs_roll {
            if let Some(old) = st.segments.last() {
                // Everything acknowledged later relies on the old segment being on disk.
                old.file.sync_data().map_err(KdsError::io(&old.path))?;
            }
            let seg = create_segment(&self.dir, first)?;
            st.segments.push(seg);
        }
        let Some(seg) = st.segments.last_mut() else {
            return Err(self.stopped_error("no segment"));
        };
        let offset = seg.len;
        if let Err(e) = seg.file.write_all_at(&bytes, offset) {
            // Leave no half batch behind for later writes to follow.
            let _ = seg.file.set_len(offset);
            let err = KdsError::Io {
                path: seg.path.clone(),
                source: e,
            };
            st.stopped = Some(err.to_string());
            return Err(err);
        }
        seg.len += bytes.len() as u64;
        seg.batches.push(BatchInfo {
            offset,
            len: bytes.len() as u64,
            first_position: first,
            count: records.len() as u32,
            arrival_ms: arrival,
        });
        st.next_position += records.len() as u64;
        st.last_arrival_ms = arrival;
        Ok((first, arrival, st.next_position))
    }

    fn stopped_error(&self, reason: &str) -> KdsError {
        KdsError::ShardStopped {
            shard: self.dir.display().to_string(),
            stream: String::new(),
            reason: reason.to_owned(),
        }
    }

    /// Waits until every position below `end` is on disk, syncing if no one else is.
    pub fn wait_durable(&self, end: u64) -> Result<()> {
        let mut sync = self.sync.lock();
        loop {
            if sync.durable >= end {
                return Ok(());
            }
            if let Some(e) = &sync.error {
                return Err(self.stopped_error(e));
            }
            if !sync.syncing {
                sync.syncing = true;
                break;
            }
            self.synced.wait(&mut sync);
        }
        drop(sync);
        let (file, path, target) = {
            let st = self.state.lock();
            match st.segments.last() {
                Some(s) => (s.file.clone(), s.path.clone(), st.next_position),
                None => return Err(self.stopped_error("no segment")),
            }
        };
        let result = file.sync_data();
        let mut sync = self.sync.lock();
        sync.syncing = false;
        let out = match result {
            Ok(()) => {
                sync.durable = sync.durable.max(target);
                Ok(())
            }
            Err(e) => {
                let err = KdsError::Io { path, source: e };
                sync.error = Some(err.to_string());
                self.state.lock().stopped = Some(err.to_string());
                Err(err)
            }
        };
        drop(sync);
        self.synced.notify_all();
        out?;
        // Someone else's sync may not have covered us if we raced a roll; loop.
        self.wait_durable(end)
    }

    /// Position after the last durable record.
    pub fn durable_end(&self) -> u64 {
        self.sync.lock().durable
    }

    /// Position of the oldest retained record.
    pub fn trim_horizon(&self) -> u64 {
        let st = self.state.lock();
        st.segments
            .first()
            .map_or(st.next_position, |s| s.first_position)
    }

    /// The position of the first record that arrived at or after `ms`.
    pub fn position_at_time(&self, ms: i64) -> u64 {
        let durable = self.durable_end();
        let st = self.state.lock();
        for seg in &st.segments {
            let i = seg.batches.partition_point(|b| b.arrival_ms < ms);
            if let Some(b) = seg.batches.get(i) {
                return b.first_position.min(durable);
            }
        }
        durable.min(st.next_position)
    }

    /// Arrival time of the record at `position`, if it is retained and durable.
    pub fn arrival_of(&self, position: u64) -> Option<i64> {
        if position >= self.durable_end() {
            return None;
        }
        let st = self.state.lock();
        let (_, b) = find_batch(&st.segments, position)?;
        Some(b.arrival_ms)
    }

    /// Reads durable records from `from`, up to `max_records` records and
    /// about `max_bytes` of data (at least one record if any is there).
    pub fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<Vec<ReadRecord>> {
        let durable = self.durable_end();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut pos = from;
        while pos < durable && out.len() < max_records && bytes < max_bytes {
            let (file, path, info) = {
                let st = self.state.lock();
                match find_batch(&st.segments, pos) {
                    Some((seg, b)) => (seg.file.clone(), seg.path.clone(), *b),
                    None => {
                        // Before the trim horizon: continue from the oldest record.
                        let first = st.segments.first().map_or(durable, |s| s.first_position);
                        if first > pos {
                            pos = first;
                            continue;
                        }
                        break;
                    }
                }
            };
            let records = segment::read_batch(&file, &path, &info)?;
            for (i, record) in records.into_iter().enumerate() {
                let p = info.first_position + i as u64;
                if p < pos {
                    continue;
                }
                if p >= durable || out.len() >= max_records {
                    break;
                }
                let size = record.data.len() + record.partition_key.len();
                if !out.is_empty() && bytes + size > max_bytes {
                    return Ok(out);
                }
                bytes += size;
                out.push(ReadRecord {
                    position: p,
                    arrival_ms: info.arrival_ms,
                    record,
                });
                pos = p + 1;
            }
            pos = pos.max(info.first_position + u64::from(info.count));
        }
        Ok(out)
    }

    /// Deletes whole segments (never the newest) whose newest record arrived before `cutoff_ms`.
    pub fn expire(&self, cutoff_ms: i64) -> Result<usize> {
        let mut st = self.state.lock();
        let mut removed = 0;
        while st.segments.len() > 1 {
            let old = match st.segments.first() {
                Some(s) if s.batches.last().is_none_or(|b| b.arrival_ms < cutoff_ms) => s,
                _ => break,
            };
            std::fs::remove_file(&old.path).map_err(KdsError::io(&old.path))?;
            st.segments.remove(0);
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Arrival time of the newest record, if any.
    pub fn last_arrival(&self) -> Option<i64> {
        let st = self.state.lock();
        (st.last_arrival_ms != i64::MIN).then_some(st.last_arrival_ms)
    }
}

fn find_batch(segments: &[Segment], position: u64) -> Option<(&Segment, &BatchInfo)> {
    let si = segments.partition_point(|s| s.first_position <= position);
    let seg = segments.get(si.checked_sub(1)?)?;
    let bi = seg
        .batches
        .partition_point(|b| b.first_position <= position);
    let b = seg.batches.get(bi.checked_sub(1)?)?;
    (position < b.first_position + u64::from(b.count)).then_some((seg, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> StoredRecord {
        StoredRecord {
            partition_key: format!("pk{i}"),
            explicit_hash_key: None,
            data: format!("data-{i}").into_bytes(),
        }
    }

    #[test]
    fn append_read_reopen_and_roll() {
        let dir = tempfile::tempdir().unwrap();
        let log = ShardLog::open(dir.path(), 200).unwrap();
        for i in 0..20 {
            let (p, _) = log.append(&[rec(i)], 1000 + i as i64).unwrap();
            assert_eq!(p, i as u64);
        }
        let all = log.read(0, 100, 1 << 20).unwrap();
        assert_eq!(all.len(), 20);
        assert_eq!(all[7].record, rec(7));
        assert_eq!(log.read(15, 2, 1 << 20).unwrap()[1].position, 16);
        assert_eq!(log.position_at_time(1005), 5);
        drop(log);
        let segs = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(segs > 2, "segments rolled: {segs}");
        let log = ShardLog::open(dir.path(), 200).unwrap();
        assert_eq!(log.durable_end(), 20);
        assert_eq!(log.read(0, 100, 1 << 20).unwrap().len(), 20);
        let (p, _) = log.append(&[rec(20)], 2000).unwrap();
        assert_eq!(p, 20);
        // Retention drops old segments, never the newest.
        let removed = log.expire(1010).unwrap();
        assert!(removed > 0);
        assert!(log.trim_horizon() > 0);
        let rest = log.read(0, 100, 1 << 20).unwrap();
        assert_eq!(rest.last().unwrap().position, 20);
        assert_eq!(rest[0].position, log.trim_horizon());
    }

    #[test]
    fn concurrent_appends_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(ShardLog::open(dir.path(), 1 << 20).unwrap());
        std::thread::scope(|s| {
            for t in 0..8 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        log.append(&[rec(t * 1000 + i)], 5).unwrap();
                    }
                });
            }
        });
        assert_eq!(log.durable_end(), 400);
        assert_eq!(log.read(0, 1000, 1 << 30).unwrap().len(), 400);
    }

    #[test]
    fn torn_tail_truncated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&[rec(0), rec(1)], 1).unwrap();
        log.append(&[rec(2)], 2).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 0);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.durable_end(), 2);
        let (p, _) = log.append(&[rec(9)], 3).unwrap();
        assert_eq!(p, 2);
        assert_eq!(log.read(0, 10, 1 << 20).unwrap()[2].record, rec(9));
    }

    #[test]
    fn corruption_mid_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&[rec(0)], 1).unwrap();
        log.append(&[rec(1)], 2).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 0);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let at = SEGMENT_HEADER_LEN + 30;
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        b[0] ^= 0x10;
        f.write_all_at(&b, at).unwrap();
        let err = ShardLog::open(dir.path(), 1 << 20).unwrap_err();
        assert!(matches!(err, KdsError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("checksum"), "{err}");
    }
}
