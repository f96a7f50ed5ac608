//! One shard's log: its segment files, the in-memory batch index, appends
//! with fdatasync group commit, and reads by position or time.
//!
//! Entry point: [`ShardLog::open`]. Appends are acknowledged only after the
//! data is on disk; concurrent appenders' batches are written together with
//! one `write` and one `fdatasync` (group commit, see [`ShardLog`]): one of
//! the appenders leads each commit, the others sleep until the commit that
//! covers their batch wakes them. Async callers await the same commits
//! ([`ShardLog::durable`]) without holding a thread. Readers only see
//! records that are durable.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex as StdMutex};
use std::task::{Context, Poll, Waker};
#[cfg(test)]
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::error::{KdsError, Result};
use crate::segment::{
    self, BatchInfo, SEGMENT_HEADER_LEN, StoredRecord, UnsealedBatch, encode_segment_header,
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
    /// Bytes of the file written and synced, data and zeros ahead of it
    /// (`len` or more; see [`ShardLog::preallocate_to`]).
    allocated: u64,
    batches: Vec<BatchInfo>,
}

#[derive(Debug)]
struct LogState {
    segments: Vec<Segment>,
    /// Position after the last record written and synced (the index's end).
    next_position: u64,
    /// Arrival time of the newest synced batch.
    last_arrival_ms: i64,
    /// Positions below this have expired even where their segment is still
    /// on disk (the segment being written is never deleted whole).
    horizon: u64,
}

/// A batch handed in, waiting for the next group commit; the leader seals
/// it (fixed fields and CRCs) outside the commit lock.
#[derive(Debug)]
struct Pending {
    first_position: u64,
    arrival_ms: i64,
    batch: UnsealedBatch,
}

/// Where the producers of one parity of commit generations sleep: those
/// whose batch is in commit `g` sleep on `wakes[g % 2]`, and the leader of
/// `g` wakes them all with one `notify_all` (one futex wake for the lot).
/// The mutex guards nothing but the sleep itself (held for no time).
#[derive(Debug, Default)]
struct Wake {
    lock: StdMutex<()>,
    cv: Condvar,
}

/// The group-commit queue of a shard.
#[derive(Debug)]
struct CommitState {
    /// Batches handed in but not yet written, in position order.
    queue: Vec<Pending>,
    /// Position the next batch handed in gets.
    next_position: u64,
    /// Arrival time of the newest batch handed in (arrivals never go backwards).
    last_arrival_ms: i64,
    /// All positions below this are on disk.
    durable: u64,
    /// A thread is writing and syncing a group.
    committing: bool,
    /// Commits started so far: the generation of the one under way, if any.
    generation: u64,
    /// The position after the group of the commit under way.
    committing_end: u64,
    /// The queue and write buffer of the last group, emptied, kept for the
    /// next leader so steady appends allocate neither.
    spare_queue: Vec<Pending>,
    spare_buf: Vec<u8>,
    /// Set when a write or sync failed: the shard accepts no more writes.
    error: Option<String>,
    /// Async waiters ([`Durable`]): the end position each waits for, and
    /// its task's waker, woken by the commit that makes it durable (or
    /// fails).
    wakers: Vec<(u64, Waker)>,
    /// A blocking task is leading commits for the async waiters.
    async_leader: bool,
}

/// Commits an async waiters' leader leads before it hands over to a new
/// blocking task (see `ShardLog::lead_for_waiters`).
const LEADER_ROUNDS: usize = 64;

/// A leader keeps its write buffer for the next group up to this size.
const KEEP_BUF_BYTES: usize = 1 << 20;

/// The zeros a segment's preallocation grows by at most at a time (it grows
/// by the segment's size so far, from [`MIN_PREALLOCATE`]).
const MAX_PREALLOCATE: u64 = 1 << 20;
/// The zeros a segment's first preallocation writes.
const MIN_PREALLOCATE: u64 = 64 << 10;

/// The log of one shard.
///
/// # Group commit
///
/// [`ShardLog::write`] only hands a batch in: it takes the next positions and
/// arrival time and queues the encoded (unsealed) batch. [`ShardLog::wait_durable`]
/// waits for it; the first waiter to find queued batches and no commit under
/// way becomes the leader: it takes the whole queue, seals the batches
/// (fixed fields, CRCs) and writes them with one `write` (two if they fill
/// the segment), syncs them with one `fdatasync`, adds them to the index and
/// marks them durable, all but the queue swap outside the commit lock.
///
/// Waking is targeted: a waiter sleeps on the place of the commit that
/// will make its batch durable (the one under way, or the next one if its
/// batch was queued behind it; even and odd commits have a place each),
/// and the leader wakes that commit's waiters all at once (one futex wake
/// for the lot), plus, when batches were handed in during its commit, one
/// of their waiters to lead the next group (a producer that arrives first
/// leads it instead). Apart from that one (and rare spurious wake-ups), no
/// one is woken to find its batch not yet durable, and no one sleeps for a
/// fixed time.
///
/// A leader commits what is queued at once, without waiting for the
/// producers it just acknowledged to hand in again: a commit delay (waiting
/// for them, woken by the last to arrive, for at most half a commit's time)
/// put more records in each `fdatasync` but left the disk idle meanwhile. In
/// alternating runs of the `kds-bench` example without it, (c) went from about
/// 115,000–119,000 to 138,000–142,000 records/s and (e) from 130,000–142,000
/// to 155,000–160,000; (b) and (d) were unchanged.
///
/// Nothing is acknowledged, or visible to readers, before its bytes are
/// synced. A failed write or sync stops the shard: the leader records the
/// error, every waiter is woken with it, and every later write fails.
#[derive(Debug)]
pub struct ShardLog {
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<LogState>,
    commit: Mutex<CommitState>,
    /// Sleeping places of the even and odd commit generations.
    wakes: [Wake; 2],
    /// Commits finished (synced or failed), and `CommitState::durable`,
    /// for sleepers to check without the commit lock.
    finished: AtomicU64,
    durable: AtomicU64,
    /// Set with `CommitState::error`.
    stopped: AtomicBool,
    /// Tests only: every commit first sleeps this long, then fails if set.
    #[cfg(test)]
    fault: Mutex<(Duration, bool)>,
}

/// Resolves once a shard's positions below `end` are on disk
/// ([`ShardLog::durable`]), or with the error that stopped the shard.
#[derive(Debug)]
pub struct Durable {
    log: Arc<ShardLog>,
    end: u64,
    registered: bool,
}

impl Future for Durable {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.log.poll_durable(this.end, cx, &mut this.registered)
    }
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
        allocated: SEGMENT_HEADER_LEN,
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
            let mut allocated = scanned.valid_len;
            if scanned.torn && scanned.zero_tail && scanned.valid_len >= SEGMENT_HEADER_LEN {
                // Preallocated zeros (or a torn write that left nothing):
                // keep them for the appends to come.
                allocated = file.metadata().map_err(KdsError::io(&path))?.len();
            } else if scanned.torn {
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
                allocated,
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
                horizon: 0,
                segments,
                next_position,
                last_arrival_ms,
            }),
            commit: Mutex::new(CommitState {
                queue: Vec::new(),
                next_position,
                last_arrival_ms,
                durable: next_position,
                committing: false,
                generation: 0,
                committing_end: next_position,
                spare_queue: Vec::new(),
                spare_buf: Vec::new(),
                error: None,
                wakers: Vec::new(),
                async_leader: false,
            }),
            wakes: Default::default(),
            finished: AtomicU64::new(0),
            durable: AtomicU64::new(next_position),
            stopped: AtomicBool::new(false),
            #[cfg(test)]
            fault: Mutex::new((Duration::ZERO, false)),
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

    /// Hands a batch in without waiting for it to be durable; returns
    /// (first position, arrival ms, end position). Pair with
    /// [`Self::wait_durable`], which commits it if no one else does.
    pub fn write(&self, records: &[StoredRecord], now_ms: i64) -> Result<(u64, i64, u64)> {
        // Encode and checksum the records before taking the lock.
        let batch = UnsealedBatch::new(records);
        let mut c = self.commit.lock();
        if let Some(reason) = &c.error {
            return Err(self.stopped_error(reason));
        }
        let arrival = now_ms.max(c.last_arrival_ms);
        let first = c.next_position;
        let count = batch.count();
        c.queue.push(Pending {
            first_position: first,
            arrival_ms: arrival,
            batch,
        });
        c.next_position += u64::from(count);
        c.last_arrival_ms = arrival;
        let end = c.next_position;
        Ok((first, arrival, end))
    }

    fn stopped_error(&self, reason: &str) -> KdsError {
        KdsError::ShardStopped {
            shard: self.dir.display().to_string(),
            stream: String::new(),
            reason: reason.to_owned(),
        }
    }

    /// Waits until every position below `end` is on disk, leading a group
    /// commit whenever batches are queued and no commit is under way.
    pub fn wait_durable(&self, end: u64) -> Result<()> {
        let mut c = self.commit.lock();
        loop {
            if c.durable >= end {
                return Ok(());
            }
            if let Some(e) = &c.error {
                return Err(self.stopped_error(e));
            }
            if !c.committing {
                if c.queue.is_empty() {
                    // Nothing queued, nothing committing: `end` was never handed in.
                    return Err(self.stopped_error(&format!(
                        "waited for position {end}, past the last handed in ({})",
                        c.next_position
                    )));
                }
                c = self.lead(c);
                continue;
            }
            // Commit `g` is under way. A batch in its group is durable when
            // it finishes; a batch queued behind it goes in commit `g + 1`,
            // whose waiters are woken when `g` finishes only to lead it (one
            // of them), and all when `g + 1` finishes. Either way, nothing
            // can change for this thread before `g` finishes.
            let g = c.generation;
            let wake = if end <= c.committing_end { g } else { g + 1 };
            drop(c);
            self.sleep_until_finished(wake, g);
            // Most wake-ups are the commit's: answer them without the lock.
            if self.durable.load(Ordering::Acquire) >= end {
                return Ok(());
            }
            c = self.commit.lock();
        }
    }

    /// A future that resolves once every position below `end` is on disk:
    /// [`Self::wait_durable`] for async callers. The waiting task holds no
    /// thread: the commits are led by one blocking task per shard, started
    /// when the first async waiter finds none, that leads (or waits on) a
    /// commit of everything handed in while async waiters remain. So many
    /// tasks appending on a few worker threads cost a task wake-up per
    /// append, not a thread's sleep and wake.
    pub fn durable(self: &Arc<Self>, end: u64) -> Durable {
        Durable {
            log: Arc::clone(self),
            end,
            registered: false,
        }
    }

    fn poll_durable(
        self: &Arc<Self>,
        end: u64,
        cx: &mut Context<'_>,
        registered: &mut bool,
    ) -> Poll<Result<()>> {
        if self.durable.load(Ordering::Acquire) >= end {
            return Poll::Ready(Ok(()));
        }
        let mut c = self.commit.lock();
        if c.durable >= end {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = &c.error {
            return Poll::Ready(Err(self.stopped_error(e)));
        }
        if end > c.next_position {
            return Poll::Ready(Err(self.stopped_error(&format!(
                "waited for position {end}, past the last handed in ({})",
                c.next_position
            ))));
        }
        // Woken only by the commit that makes `end` durable (or fails), so
        // a second poll is rare; it replaces its waker rather than adding one.
        let waker = cx.waker();
        let known = *registered;
        match c
            .wakers
            .iter_mut()
            .find(|(e, w)| known && *e == end && w.will_wake(waker))
        {
            Some(slot) => slot.1 = waker.clone(),
            None => c.wakers.push((end, waker.clone())),
        }
        *registered = true;
        if !c.async_leader {
            c.async_leader = true;
            drop(c);
            Arc::clone(self).spawn_leader();
        }
        Poll::Pending
    }

    /// Starts [`Self::lead_for_waiters`] on the runtime's blocking pool
    /// (or a thread of its own outside a runtime).
    fn spawn_leader(self: Arc<Self>) {
        let lead = move || self.lead_for_waiters();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(lead)),
            Err(_) => drop(std::thread::spawn(lead)),
        }
    }

    /// Commits (leading, or waiting on the commit under way) everything
    /// handed in, again and again while async waiters remain; then stops,
    /// leaving the next async waiter to start another. After
    /// [`LEADER_ROUNDS`] commits it hands over to a new blocking task
    /// queued behind the others, so that under steady load the shards'
    /// leaders take turns when there are more shards than blocking
    /// threads.
    fn lead_for_waiters(self: Arc<Self>) {
        for _ in 0..LEADER_ROUNDS {
            let end = {
                let mut c = self.commit.lock();
                if c.wakers.is_empty() || c.error.is_some() {
                    c.async_leader = false;
                    return;
                }
                c.next_position
            };
            if self.wait_durable(end).is_err() {
                // The failed commit woke its waiters; wake any left.
                let mut c = self.commit.lock();
                c.async_leader = false;
                let all: Vec<Waker> = c.wakers.drain(..).map(|(_, w)| w).collect();
                drop(c);
                all.into_iter().for_each(Waker::wake);
                return;
            }
        }
        // Still `async_leader`: the next task leads for the waiters left.
        self.spawn_leader();
    }

    /// Sleeps on the place of generation `wake` until woken, unless commit
    /// `g` has finished already or the shard stopped.
    fn sleep_until_finished(&self, wake: u64, g: u64) {
        let place = &self.wakes[(wake % 2) as usize];
        // A poisoned lock guards nothing here: sleep on regardless.
        let guard = place.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.finished.load(Ordering::Acquire) < g && !self.stopped.load(Ordering::Acquire) {
            // Whatever woke it (the commit, a hand-over, or nothing), the
            // caller looks again under the commit lock.
            drop(place.cv.wait(guard));
        }
    }

    /// Wakes every sleeper of generation `g` (`all`), or one.
    fn wake_generation(&self, g: u64, all: bool) {
        let place = &self.wakes[(g % 2) as usize];
        // Taking the lock orders this wake after any sleeper's check.
        drop(place.lock.lock().unwrap_or_else(|p| p.into_inner()));
        if all {
            place.cv.notify_all();
        } else {
            place.cv.notify_one();
        }
    }

    /// Leads one group commit: takes the queue, writes and
    /// syncs it outside the lock, then wakes the waiters it made durable
    /// (all at once) and, if batches were queued meanwhile, one of their
    /// waiters to lead the next group. A failed commit stops the shard and
    /// wakes every waiter.
    fn lead<'a>(&'a self, mut c: MutexGuard<'a, CommitState>) -> MutexGuard<'a, CommitState> {
        c.committing = true;
        c.generation += 1;
        let g = c.generation;
        c.committing_end = c.next_position;
        let spare_queue = std::mem::take(&mut c.spare_queue);
        let mut group = std::mem::replace(&mut c.queue, spare_queue);
        let mut buf = std::mem::take(&mut c.spare_buf);
        drop(c);
        let result = self.commit_group(&mut group, &mut buf);
        group.clear();
        buf.clear();
        if buf.capacity() > KEEP_BUF_BYTES {
            buf = Vec::new();
        }
        c = self.commit.lock();
        c.committing = false;
        c.spare_queue = group;
        c.spare_buf = buf;
        let failed = result.is_err();
        match result {
            Ok(durable) => {
                c.durable = durable;
                self.durable.store(durable, Ordering::Release);
            }
            Err(e) => {
                c.error = Some(e.to_string());
                self.stopped.store(true, Ordering::Release);
            }
        }
        self.finished.store(g, Ordering::Release);
        let hand_over = !c.queue.is_empty();
        let durable = c.durable;
        let ready: Vec<Waker> = c
            .wakers
            .extract_if(.., |(end, _)| failed || *end <= durable)
            .map(|(_, w)| w)
            .collect();
        MutexGuard::unlocked(&mut c, || {
            for w in ready {
                w.wake();
            }
            self.wake_generation(g, true);
            if failed {
                self.wake_generation(g + 1, true);
            } else if hand_over {
                // Batches came in during this commit; their producers are
                // asleep or on their way here. Wake one asleep to lead the
                // next group (one on its way leads it as well).
                self.wake_generation(g + 1, false);
            }
        });
        c
    }

    /// Commits everything handed in so far; returns the position after it.
    pub fn flush(&self) -> Result<u64> {
        let end = self.commit.lock().next_position;
        self.wait_durable(end)?;
        Ok(end)
    }

    /// Writes `group` (consecutive batches) with one write per segment it
    /// lands in and one `fdatasync` each, then adds it to the index.
    /// Returns the position after the group.
    fn commit_group(&self, group: &mut Vec<Pending>, buf: &mut Vec<u8>) -> Result<u64> {
        #[cfg(test)]
        {
            let (delay, fail) = *self.fault.lock();
            std::thread::sleep(delay);
            if fail {
                return Err(KdsError::Io {
                    path: self.dir.clone(),
                    source: std::io::Error::other("injected sync failure"),
                });
            }
        }
        let mut group = group.drain(..).peekable();
        let mut infos: Vec<BatchInfo> = Vec::new();
        let mut end = 0;
        while group.peek().is_some() {
            let (file, path, seg_first, offset, allocated) = {
                let st = self.state.lock();
                let Some(seg) = st.segments.last() else {
                    return Err(self.stopped_error("no segment"));
                };
                (
                    seg.file.clone(),
                    seg.path.clone(),
                    seg.first_position,
                    seg.len,
                    seg.allocated,
                )
            };
            buf.clear();
            infos.clear();
            let mut len = offset;
            while let Some(p) = group.peek() {
                let size = p.batch.len() as u64;
                if len > SEGMENT_HEADER_LEN && len + size > self.segment_bytes {
                    break;
                }
                let Some(mut p) = group.next() else { break };
                let count = p.batch.count();
                infos.push(BatchInfo {
                    offset: len,
                    len: size,
                    first_position: p.first_position,
                    count,
                    arrival_ms: p.arrival_ms,
                });
                buf.extend_from_slice(p.batch.seal_in_place(p.first_position, p.arrival_ms));
                len += size;
                end = p.first_position + u64::from(count);
            }
            let mut now_allocated = allocated.max(len);
            if !buf.is_empty() {
                // Zeros ahead of the data, written and synced with it.
                if let Some(ahead) = self.preallocate_to(len, allocated) {
                    buf.resize(buf.len() + (ahead - len) as usize, 0);
                    now_allocated = ahead;
                }
                if let Err(e) = file.write_all_at(buf, offset) {
                    // Leave no half group behind.
                    let _ = file.set_len(offset);
                    return Err(KdsError::Io { path, source: e });
                }
                file.sync_data().map_err(KdsError::io(&path))?;
                let mut st = self.state.lock();
                if let Some(seg) = st
                    .segments
                    .last_mut()
                    .filter(|s| s.first_position == seg_first)
                {
                    seg.len = len;
                    seg.allocated = now_allocated;
                    seg.batches.extend_from_slice(&infos);
                }
                if let Some(last) = infos.last() {
                    st.next_position = last.first_position + u64::from(last.count);
                    st.last_arrival_ms = last.arrival_ms;
                }
            }
            if let Some(next) = group.peek() {
                // The segment is full (and synced): cut its zeros off, so
                // only the last segment may end in zeros, and roll to a
                // new one.
                if now_allocated > len {
                    file.set_len(len)
                        .and_then(|()| file.sync_data())
                        .map_err(KdsError::io(&path))?;
                }
                let seg = create_segment(&self.dir, next.first_position)?;
                self.state.lock().segments.push(seg);
            }
        }
        Ok(end)
    }

    /// Where zeros should be written up to, past data that will end at
    /// `len` in a segment with `allocated` bytes written so far: `None`
    /// while the data fits (or the segment is full), else past the data by
    /// the segment's size so far (at least [`MIN_PREALLOCATE`], at most
    /// [`MAX_PREALLOCATE`]), never past the segment's size. An `fdatasync`
    /// of blocks the file already has flushes the data alone; one that
    /// grows the file also commits its new size and blocks through the
    /// filesystem's journal, which about halves the syncs a disk manages
    /// per second (measured on ext4).
    fn preallocate_to(&self, len: u64, allocated: u64) -> Option<u64> {
        if len <= allocated {
            return None;
        }
        let step = len.clamp(MIN_PREALLOCATE, MAX_PREALLOCATE);
        Some((len + step).min(self.segment_bytes)).filter(|&ahead| ahead > len)
    }

    /// Position the next record written gets.
    pub fn next_position(&self) -> u64 {
        self.commit.lock().next_position
    }

    /// Position after the last durable record.
    pub fn durable_end(&self) -> u64 {
        self.commit.lock().durable
    }

    /// Position of the oldest retained record.
    pub fn trim_horizon(&self) -> u64 {
        let st = self.state.lock();
        st.segments
            .first()
            .map_or(st.next_position, |s| s.first_position)
            .max(st.horizon)
    }

    /// The position of the first record that arrived at or after `ms`.
    pub fn position_at_time(&self, ms: i64) -> u64 {
        let durable = self.durable_end();
        let st = self.state.lock();
        for seg in &st.segments {
            let i = seg.batches.partition_point(|b| b.arrival_ms < ms);
            if let Some(b) = seg.batches.get(i) {
                return b.first_position.max(st.horizon).min(durable);
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
        let mut pos = from.max(self.state.lock().horizon);
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

    /// Deletes whole segments (never the newest) whose newest record
    /// arrived before `cutoff_ms`, and moves the horizon past the expired
    /// records of the segments kept, so none is served again.
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
        let first_kept = st
            .segments
            .iter()
            .flat_map(|s| s.batches.iter())
            .find(|b| b.arrival_ms >= cutoff_ms)
            .map_or(st.next_position, |b| b.first_position);
        st.horizon = st.horizon.max(first_kept);
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
    fn many_producers_several_shards_every_ack_durable() {
        // 24 threads append to 3 shards, each put to a shard picked by a
        // counter, as in benchmark (c): every acknowledged position is
        // durable and reads back with the data that was acknowledged there.
        let dir = tempfile::tempdir().unwrap();
        let logs: Vec<Arc<ShardLog>> = (0..3)
            .map(|i| Arc::new(ShardLog::open(&dir.path().join(format!("{i}")), 4096).unwrap()))
            .collect();
        let acked: Vec<(usize, u64, StoredRecord)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..24)
                .map(|t| {
                    let logs = &logs;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for i in 0..40 {
                            let shard = (t * 7 + i * 5) % logs.len();
                            let r = rec(t * 1000 + i);
                            let (p, _) = logs[shard].append(std::slice::from_ref(&r), 7).unwrap();
                            assert!(logs[shard].durable_end() > p, "acknowledged, not durable");
                            mine.push((shard, p, r));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(acked.len(), 24 * 40);
        for (i, log) in logs.iter().enumerate() {
            let n = acked.iter().filter(|a| a.0 == i).count() as u64;
            assert_eq!(log.durable_end(), n);
            assert_eq!(log.next_position(), n);
        }
        for (shard, p, r) in &acked {
            let got = logs[*shard].read(*p, 1, 1 << 20).unwrap();
            assert_eq!(got[0].position, *p);
            assert_eq!(&got[0].record, r);
        }
        // And after reopening (segments of 4 KiB rolled many times).
        drop(logs);
        for i in 0..3 {
            let log = ShardLog::open(&dir.path().join(format!("{i}")), 4096).unwrap();
            let n = acked.iter().filter(|a| a.0 == i).count();
            assert_eq!(log.read(0, 10_000, 1 << 30).unwrap().len(), n);
        }
    }

    #[test]
    fn waiters_on_two_commits_all_acknowledged() {
        // A slow commit: batches handed in meanwhile wait for the next one,
        // led by one of their own producers; none is acknowledged early.
        let dir = tempfile::tempdir().unwrap();
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        *log.fault.lock() = (Duration::from_millis(30), false);
        std::thread::scope(|s| {
            for t in 0..12 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..5 {
                        let (p, _) = log.append(&[rec(t * 100 + i)], 1).unwrap();
                        assert!(log.durable_end() > p);
                    }
                });
            }
        });
        assert_eq!(log.durable_end(), 60);
        assert_eq!(log.read(0, 100, 1 << 20).unwrap().len(), 60);
    }

    #[test]
    fn sync_failure_stops_shard_and_errors_every_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&[rec(0)], 1).unwrap();
        // The next commit takes a while (so the others queue behind it and
        // sleep), then fails.
        *log.fault.lock() = (Duration::from_millis(50), true);
        let results: Vec<Result<(u64, i64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let log = &log;
                    s.spawn(move || log.append(&[rec(t + 1)], 2))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            let err = r.as_ref().unwrap_err();
            assert!(
                matches!(err, KdsError::Io { .. } | KdsError::ShardStopped { .. }),
                "{err}"
            );
        }
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(KdsError::ShardStopped { .. }))),
            "the queued waiters learn the shard stopped"
        );
        // Nothing past the failed group is durable or readable, and the
        // shard takes no more writes.
        assert_eq!(log.durable_end(), 1);
        assert_eq!(log.read(0, 100, 1 << 20).unwrap().len(), 1);
        *log.fault.lock() = (Duration::ZERO, false);
        let err = log.append(&[rec(99)], 3).unwrap_err();
        assert!(matches!(err, KdsError::ShardStopped { .. }), "{err}");
        assert!(err.to_string().contains("injected sync failure"), "{err}");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn async_waiters_share_commits_with_blocking_appenders() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(ShardLog::open(dir.path(), 1 << 20).unwrap());
        let rt = runtime();
        std::thread::scope(|s| {
            // Blocking appenders and async tasks at the same time: either
            // kind may lead a commit, and each wakes the other's waiters.
            for t in 0..4 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..30 {
                        log.append(&[rec(100_000 + t * 1000 + i)], 5).unwrap();
                    }
                });
            }
            rt.block_on(async {
                let tasks: Vec<_> = (0..32)
                    .map(|t| {
                        let log = Arc::clone(&log);
                        tokio::spawn(async move {
                            for i in 0..30 {
                                let (_, _, end) = log.write(&[rec(t * 1000 + i)], 5).unwrap();
                                log.durable(end).await.unwrap();
                                // Acknowledged means durable and readable.
                                assert!(log.durable_end() >= end);
                                assert_eq!(log.read(end - 1, 1, 1 << 20).unwrap().len(), 1);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
        });
        assert_eq!(
            log.read(0, 10_000, 1 << 24).unwrap().len(),
            32 * 30 + 4 * 30
        );
        // Every async waiter was woken and none is left registered.
        assert!(log.commit.lock().wakers.is_empty());
        // Polled outside a runtime, the leader is a thread of its own; a
        // poll again replaces the waker registered rather than adding one.
        let (_, _, end) = log.write(&[rec(7)], 6).unwrap();
        struct Nothing;
        impl std::task::Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        let waker = Waker::from(Arc::new(Nothing));
        let mut waiting = std::pin::pin!(log.durable(end));
        let mut cx = Context::from_waker(&waker);
        let started = Instant::now();
        while waiting.as_mut().poll(&mut cx).is_pending() {
            assert!(log.commit.lock().wakers.len() <= 1);
            assert!(started.elapsed() < Duration::from_secs(10), "never durable");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(log.durable_end(), end);
    }

    #[test]
    fn two_shards_async_waiters_progress_on_one_blocking_thread() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let busy = Arc::new(ShardLog::open(a.path(), 1 << 20).unwrap());
        let other = Arc::new(ShardLog::open(b.path(), 1 << 20).unwrap());
        // One blocking thread for two shards' leaders: the busy shard
        // always has async waiters, so its leader never runs out of work.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let finished = rt.block_on(async {
            let appender = |log: Arc<ShardLog>, done: Arc<AtomicBool>| async move {
                let mut n = 0u64;
                while !done.load(Ordering::Acquire) {
                    let (_, _, end) = log.write(&[rec(n as usize)], 1).unwrap();
                    log.durable(end).await.unwrap();
                    n += 1;
                }
                n
            };
            let busy_tasks: Vec<_> = (0..64)
                .map(|_| tokio::spawn(appender(Arc::clone(&busy), Arc::clone(&done))))
                .collect();
            tokio::time::sleep(Duration::from_millis(20)).await;
            // The other shard still gets its commits.
            let other_log = Arc::clone(&other);
            let finished = tokio::time::timeout(Duration::from_secs(20), async move {
                for i in 0..10 {
                    let (_, _, end) = other_log.write(&[rec(i)], 1).unwrap();
                    other_log.durable(end).await.unwrap();
                }
            })
            .await;
            done.store(true, Ordering::Release);
            for t in busy_tasks {
                assert!(t.await.unwrap() > 0);
            }
            finished
        });
        assert!(finished.is_ok(), "the other shard's waiters were starved");
        assert_eq!(other.durable_end(), 10);
    }

    #[test]
    fn async_waiters_learn_of_a_failed_sync() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(ShardLog::open(dir.path(), 1 << 20).unwrap());
        log.append(&[rec(0)], 1).unwrap();
        *log.fault.lock() = (Duration::from_millis(30), true);
        let results: Vec<Result<()>> = runtime().block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|t| {
                    let log = Arc::clone(&log);
                    tokio::spawn(async move {
                        let (_, _, end) = log.write(&[rec(t + 1)], 2)?;
                        log.durable(end).await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for r in &results {
            let err = r.as_ref().unwrap_err();
            assert!(matches!(err, KdsError::ShardStopped { .. }), "{err}");
            assert!(err.to_string().contains("injected sync failure"), "{err}");
        }
        assert_eq!(log.durable_end(), 1);
        // A position never handed in is an error, not a wait forever.
        *log.fault.lock() = (Duration::ZERO, false);
        let err = runtime().block_on(log.durable(1_000)).unwrap_err();
        assert!(matches!(err, KdsError::ShardStopped { .. }), "{err}");
    }

    /// Two batches (records 0–1, then 2) written and closed, the last
    /// batch's end damaged by `tear` (given the file and the data's end),
    /// then reopened: the torn batch is gone, and the next append takes
    /// its place. Returns the shard's directory and reopened log.
    fn torn_last_batch(tear: impl FnOnce(&File, u64)) -> (tempfile::TempDir, ShardLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&[rec(0), rec(1)], 1).unwrap();
        log.append(&[rec(2)], 2).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 0);
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        tear(&f, data_len(&path));
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.durable_end(), 2);
        let (p, _) = log.append(&[rec(9)], 3).unwrap();
        assert_eq!(p, 2);
        assert_eq!(log.read(0, 10, 1 << 20).unwrap()[2].record, rec(9));
        (dir, log)
    }

    #[test]
    fn torn_tail_truncated_on_open() {
        torn_last_batch(|f, data_end| f.set_len(data_end - 3).unwrap());
    }

    /// The end of the whole batches of the segment at `path`.
    fn data_len(path: &Path) -> u64 {
        let f = File::open(path).unwrap();
        segment::scan_segment(&f, path, true, None)
            .unwrap()
            .valid_len
    }

    #[test]
    fn segments_run_ahead_with_zeros_kept_over_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 0);
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&[rec(0), rec(1)], 1).unwrap();
        let file_len = std::fs::metadata(&path).unwrap().len();
        let data = data_len(&path);
        assert_eq!(file_len, data + MIN_PREALLOCATE, "zeros ahead of the data");
        // Appends that fit write into the zeros; the file does not grow.
        for i in 2..50 {
            log.append(&[rec(i)], i as i64).unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), file_len);
        drop(log);
        // Reopening keeps the zeros and finds every record.
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.durable_end(), 50);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), file_len);
        let (p, _) = log.append(&[rec(50)], 60).unwrap();
        assert_eq!(p, 50);
        assert_eq!(log.read(0, 100, 1 << 20).unwrap().len(), 51);
        // Growing past them writes more, by the segment's size so far.
        let big = StoredRecord {
            partition_key: "big".into(),
            explicit_hash_key: None,
            data: vec![7; 100 << 10],
        };
        log.append(std::slice::from_ref(&big), 70).unwrap();
        let data = data_len(&path);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * data);
        assert_eq!(log.read(51, 1, 1 << 20).unwrap()[0].record, big);
    }

    #[test]
    fn torn_write_into_preallocated_zeros_truncated_on_open() {
        // The last batch's end never reached the disk: zeros, as preallocated.
        let (dir, log) =
            torn_last_batch(|f, data_end| f.write_all_at(&[0; 3], data_end - 3).unwrap());
        let path = segment_path(dir.path(), 0);
        drop(log);
        // A hole with whole data behind it is damage, zeros or not.
        let log = ShardLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&[rec(10)], 4).unwrap();
        drop(log);
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0; 3], SEGMENT_HEADER_LEN + 40).unwrap();
        let err = ShardLog::open(dir.path(), 1 << 20).unwrap_err();
        assert!(matches!(err, KdsError::Corrupt { .. }), "{err}");
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
