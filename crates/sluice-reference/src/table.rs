//! A reference table kept fresh: [`ReferenceTable::load`] fetches the object,
//! hands its bytes to the caller's decoder and keeps the result as a
//! [`Snapshot`]; a background task then checks the object's ETag and
//! last-modified time (a HEAD request) every
//! [`check_interval`](ReferenceOptions::check_interval) and reloads it when
//! it changed.
//!
//! # Contract
//!
//! - **Atomic swap.** [`ReferenceTable::current`] returns an `Arc` of one
//!   complete snapshot; a reload builds the new one entirely before
//!   replacing the pointer, so a reader never sees half a table, and a
//!   reader holding the old `Arc` keeps a consistent table until it drops it.
//! - **Failures keep the old table.** A reload whose fetch or decode fails
//!   leaves the current snapshot in place, sets
//!   [`ReferenceTable::last_error`] and reports a [`ReloadEvent::Failed`] to
//!   the caller's sink; the next check tries again. A version the decoder
//!   rejected is not decoded (or reported) again until the object changes.
//!   Only the first [`ReferenceTable::load`] returns its error.
//! - **Change detection.** A version is its ETag, last-modified time and
//!   size. When the store reports neither ETag nor last-modified (a plain
//!   HTTP server), every check fetches the object and compares a hash of its
//!   bytes. An object whose metadata changed but whose bytes did not (a
//!   `touch`) is not decoded again.
//! - **Decoding off the runtime.** Hashing and decoding run in
//!   `tokio::task::spawn_blocking`, so a large table does not stall the
//!   runtime's workers.
//! - **Stopping.** The task stops when the table is dropped or
//!   [`ReferenceTable::shutdown`] is called.
//!
//! The check interval is ours, not KDA's: a KDA application loads reference
//! data once and reloads it only on `UpdateApplication`
//! (API reference, `ReferenceDataSource.S3ReferenceDataSource`); Sluice
//! watches the object instead, by default every
//! [`DEFAULT_CHECK_INTERVAL`].

use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arrow::array::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::error::{ReferenceError, Result};
use crate::location::{ObjectLocation, S3Options};

/// Turns an object's bytes into the table the engine joins against (an
/// Arrow batch, or the batch with its join index built). The error names
/// what was wrong and where (e.g. `line 7: ...`).
pub type Decode<T = RecordBatch> =
    Arc<dyn Fn(&[u8]) -> std::result::Result<T, String> + Send + Sync>;

/// Receives reload reports; called from the reload task, must not block.
pub type EventSink = Arc<dyn Fn(&ReloadEvent) + Send + Sync>;

/// How often the object is checked when the caller does not say: our
/// choice (KDA itself never reloads on its own), short enough that an edited
/// table shows up within half a minute, long enough that the HEAD requests
/// cost nothing.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// How a [`ReferenceTable`] reaches its object and keeps it fresh.
#[derive(Clone)]
pub struct ReferenceOptions {
    /// S3 settings for `s3://` locations.
    pub s3: S3Options,
    /// Time between change checks; `None` loads once and never reloads.
    pub check_interval: Option<Duration>,
    /// The clock snapshots' load times are read from.
    pub clock: Arc<dyn Clock>,
    /// Where reloads and failed reloads are reported; by default to stderr.
    pub on_event: EventSink,
}

impl Default for ReferenceOptions {
    fn default() -> Self {
        Self {
            s3: S3Options::default(),
            check_interval: Some(DEFAULT_CHECK_INTERVAL),
            clock: Arc::new(SystemClock),
            on_event: Arc::new(ReloadEvent::log_to_stderr),
        }
    }
}

impl fmt::Debug for ReferenceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferenceOptions")
            .field("s3", &self.s3)
            .field("check_interval", &self.check_interval)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// One loaded version of a reference object.
#[derive(Debug)]
pub struct Snapshot<T = RecordBatch> {
    /// What the decoder made of the object.
    pub data: T,
    /// 1 for the first load, one more for each reload.
    pub version: u64,
    /// The object's ETag, when the store reports one.
    pub e_tag: Option<String>,
    /// The object's last-modified time, when the store reports one.
    pub last_modified: Option<DateTime<Utc>>,
    /// The object's size in bytes.
    pub size: u64,
    /// When this version was loaded (the injected clock).
    pub loaded_at: DateTime<Utc>,
}

/// A report from the reload task (or [`ReferenceTable::refresh`]).
#[derive(Debug, Clone)]
pub enum ReloadEvent {
    /// A changed object was loaded and is now current.
    Reloaded {
        /// The object, as written (and resolved).
        location: String,
        /// The new snapshot's version.
        version: u64,
        /// Its ETag.
        e_tag: Option<String>,
        /// Its last-modified time.
        last_modified: Option<DateTime<Utc>>,
        /// Its size in bytes.
        size: u64,
    },
    /// A check or reload failed; the current snapshot stays.
    Failed {
        /// The version still in use.
        kept_version: u64,
        /// What went wrong (it names the object).
        error: ReferenceError,
    },
    /// The object is readable and valid again after a failure; the current
    /// snapshot matches it.
    Recovered {
        /// The object, as written (and resolved).
        location: String,
        /// The version in use.
        version: u64,
    },
}

impl ReloadEvent {
    /// The default sink: one line on stderr per event.
    pub fn log_to_stderr(event: &ReloadEvent) {
        eprintln!("sluice-reference: {event}");
    }
}

impl fmt::Display for ReloadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reloaded {
                location,
                version,
                e_tag,
                last_modified,
                size,
            } => {
                write!(
                    f,
                    "reference object {location} reloaded as version {version} ("
                )?;
                if let Some(e) = e_tag {
                    write!(f, "ETag {e}, ")?;
                }
                if let Some(t) = last_modified {
                    write!(f, "last modified {}, ", t.to_rfc3339())?;
                }
                write!(f, "{size} bytes)")
            }
            Self::Failed {
                kept_version,
                error,
            } => write!(f, "reload failed, keeping version {kept_version}: {error}"),
            Self::Recovered { location, version } => write!(
                f,
                "reference object {location} is readable again; version {version} is current"
            ),
        }
    }
}

/// What a check found.
#[derive(Debug)]
pub enum Refresh<T = RecordBatch> {
    /// The current snapshot matches the object.
    Unchanged,
    /// The object changed and this new snapshot is now current.
    Reloaded(Arc<Snapshot<T>>),
}

/// Counters of a table's checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadStats {
    /// Checks made (by the task or [`ReferenceTable::refresh`]).
    pub checks: u64,
    /// Checks that loaded a new version.
    pub reloads: u64,
    /// Checks that failed (fetch or decode).
    pub failures: u64,
}

/// A reference table loaded from an object and kept fresh in the
/// background; see the module docs for the contract.
pub struct ReferenceTable<T = RecordBatch> {
    shared: Arc<Shared<T>>,
    watcher: Option<JoinHandle<()>>,
}

impl<T> fmt::Debug for ReferenceTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferenceTable")
            .field("location", &self.shared.name)
            .field("watching", &self.watcher.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> ReferenceTable<T> {
    /// Fetches and decodes the object at `location` and, when
    /// `options.check_interval` is set, starts the task that reloads it when
    /// it changes. Fails (naming the location and the cause) when the object
    /// cannot be read or decoded. Must be called inside a tokio runtime.
    pub async fn load(
        location: ObjectLocation,
        decode: Decode<T>,
        options: ReferenceOptions,
    ) -> Result<Self> {
        if options.check_interval == Some(Duration::ZERO) {
            return Err(ReferenceError::InvalidOption {
                option: "check_interval",
                reason: "must be longer than zero (or unset to never reload)".into(),
            });
        }
        let (store, path) = location.open(&options.s3)?;
        let name = location.to_string();
        let (bytes, meta) = fetch(store.as_ref(), &path, &name).await?;
        let fingerprint = Fingerprint::of(&meta);
        let e_tag = fingerprint.e_tag_text();
        let decode_once = Arc::clone(&decode);
        let (hash, decoded) = blocking(&name, move || {
            let hash = content_hash(&bytes);
            (hash, decode_once(&bytes))
        })
        .await?;
        let data = decoded.map_err(|message| ReferenceError::Decode {
            location: name.clone(),
            e_tag,
            message,
        })?;
        let snapshot = Arc::new(Snapshot {
            data,
            version: 1,
            e_tag: fingerprint.e_tag.clone(),
            last_modified: fingerprint.last_modified,
            size: fingerprint.size,
            loaded_at: options.clock.now(),
        });
        let shared = Arc::new(Shared {
            location,
            name,
            store,
            path,
            decode,
            clock: options.clock,
            on_event: options.on_event,
            current: RwLock::new(snapshot),
            last_error: Mutex::new(None),
            state: tokio::sync::Mutex::new(CheckState {
                current: Version { fingerprint, hash },
                rejected: None,
                reported: Reported::Nothing,
            }),
            checks: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let watcher = options.check_interval.map(|interval| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    // The outcome is reported through the sink and last_error.
                    let _ = shared.check().await;
                }
            })
        });
        Ok(Self { shared, watcher })
    }

    /// The current snapshot: a complete table, never one half reloaded.
    pub fn current(&self) -> Arc<Snapshot<T>> {
        Arc::clone(
            &self
                .shared
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Checks the object now (as the background task does) and reloads it
    /// when it changed. An error leaves the current snapshot in place; it is
    /// also kept as [`last_error`](Self::last_error) and reported to the sink.
    pub async fn refresh(&self) -> Result<Refresh<T>> {
        self.shared.check().await
    }

    /// The error of the last check, if it failed; cleared by a check that
    /// finds the object readable and valid.
    pub fn last_error(&self) -> Option<ReferenceError> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counters of checks, reloads and failures so far.
    pub fn stats(&self) -> ReloadStats {
        ReloadStats {
            checks: self.shared.checks.load(Ordering::Relaxed),
            reloads: self.shared.reloads.load(Ordering::Relaxed),
            failures: self.shared.failures.load(Ordering::Relaxed),
        }
    }

    /// Where the object is.
    pub fn location(&self) -> &ObjectLocation {
        &self.shared.location
    }

    /// Whether the background reload task is running.
    pub fn is_watching(&self) -> bool {
        self.watcher.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// Stops the reload task and waits until it has stopped (a check in
    /// progress is abandoned; the current snapshot stays readable).
    pub async fn shutdown(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
            // A cancelled task's JoinError is the expected outcome.
            let _ = watcher.await;
        }
    }
}

impl<T> Drop for ReferenceTable<T> {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// What the table and its reload task share.
struct Shared<T> {
    location: ObjectLocation,
    /// `location` as shown in messages.
    name: String,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    decode: Decode<T>,
    clock: Arc<dyn Clock>,
    on_event: EventSink,
    current: RwLock<Arc<Snapshot<T>>>,
    last_error: Mutex<Option<ReferenceError>>,
    /// Held for a whole check, so the task and `refresh` never interleave.
    state: tokio::sync::Mutex<CheckState>,
    checks: AtomicU64,
    reloads: AtomicU64,
    failures: AtomicU64,
}

/// What the checks remember between runs.
struct CheckState {
    /// The object version the current snapshot was decoded from (or one with
    /// the same bytes).
    current: Version,
    /// The last version the decoder rejected, with its error.
    rejected: Option<(Version, ReferenceError)>,
    /// The last condition reported to the sink, so a lasting failure is
    /// reported once, not at every check.
    reported: Reported,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reported {
    /// No failure outstanding.
    Nothing,
    /// The rejected version's decode error.
    Rejection,
    /// A fetch error, by its message.
    FetchFailure(String),
}

/// An object version as the store describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    e_tag: Option<String>,
    last_modified: Option<DateTime<Utc>>,
    size: u64,
}

impl Fingerprint {
    fn of(meta: &ObjectMeta) -> Self {
        Self {
            e_tag: meta.e_tag.clone(),
            // object_store reports the epoch when an HTTP server sends no
            // Last-Modified header.
            last_modified: (meta.last_modified.timestamp_nanos_opt() != Some(0))
                .then_some(meta.last_modified),
            size: meta.size,
        }
    }

    /// Neither ETag nor last-modified: metadata cannot show a change.
    fn is_weak(&self) -> bool {
        self.e_tag.is_none() && self.last_modified.is_none()
    }

    fn e_tag_text(&self) -> String {
        self.e_tag.clone().unwrap_or_else(|| "none".into())
    }
}

/// A fingerprint with the hash of the bytes it had.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    fingerprint: Fingerprint,
    hash: u64,
}

/// What a check's inner steps produce besides success.
enum CheckFailure {
    /// Fetching failed (or the decoder was aborted).
    Fetch(ReferenceError),
    /// A new version the decoder rejected.
    Rejected(Version, ReferenceError),
    /// The version rejected before, unchanged.
    StillRejected(ReferenceError),
}

impl<T: Send + Sync + 'static> Shared<T> {
    async fn check(&self) -> Result<Refresh<T>> {
        let mut state = self.state.lock().await;
        self.checks.fetch_add(1, Ordering::Relaxed);
        match self.check_locked(&mut state).await {
            Ok(refresh) => {
                state.rejected = None;
                let was_failing = state.reported != Reported::Nothing;
                state.reported = Reported::Nothing;
                self.set_error(None);
                match &refresh {
                    Refresh::Reloaded(s) => {
                        self.reloads.fetch_add(1, Ordering::Relaxed);
                        (self.on_event)(&ReloadEvent::Reloaded {
                            location: self.name.clone(),
                            version: s.version,
                            e_tag: s.e_tag.clone(),
                            last_modified: s.last_modified,
                            size: s.size,
                        });
                    }
                    Refresh::Unchanged if was_failing => {
                        (self.on_event)(&ReloadEvent::Recovered {
                            location: self.name.clone(),
                            version: self.current().version,
                        });
                    }
                    Refresh::Unchanged => {}
                }
                Ok(refresh)
            }
            Err(failure) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let (error, report) = match failure {
                    CheckFailure::Fetch(e) => {
                        let report = Reported::FetchFailure(e.to_string());
                        (e, report)
                    }
                    CheckFailure::Rejected(version, e) => {
                        state.rejected = Some((version, e.clone()));
                        // A newly rejected version is always reported.
                        state.reported = Reported::Nothing;
                        (e, Reported::Rejection)
                    }
                    CheckFailure::StillRejected(e) => (e, Reported::Rejection),
                };
                self.set_error(Some(error.clone()));
                if state.reported != report {
                    state.reported = report;
                    (self.on_event)(&ReloadEvent::Failed {
                        kept_version: self.current().version,
                        error: error.clone(),
                    });
                }
                Err(error)
            }
        }
    }

    /// HEAD; if the object changed, GET, hash and decode; swap on success.
    async fn check_locked(
        &self,
        state: &mut CheckState,
    ) -> std::result::Result<Refresh<T>, CheckFailure> {
        let meta = self
            .store
            .head(&self.path)
            .await
            .map_err(|e| CheckFailure::Fetch(ReferenceError::fetch(&self.name, "HEAD", e)))?;
        let seen = Fingerprint::of(&meta);
        if !seen.is_weak() {
            if seen == state.current.fingerprint {
                return Ok(Refresh::Unchanged);
            }
            if let Some((rejected, e)) = &state.rejected
                && rejected.fingerprint == seen
            {
                return Err(CheckFailure::StillRejected(e.clone()));
            }
        }
        let (bytes, meta) = fetch(self.store.as_ref(), &self.path, &self.name)
            .await
            .map_err(CheckFailure::Fetch)?;
        let fingerprint = Fingerprint::of(&meta);
        let for_hash = bytes.clone();
        let hash = blocking(&self.name, move || content_hash(&for_hash))
            .await
            .map_err(CheckFailure::Fetch)?;
        let version = Version { fingerprint, hash };
        if hash == state.current.hash {
            // Same bytes under new metadata: nothing to decode.
            state.current = version;
            return Ok(Refresh::Unchanged);
        }
        if let Some((rejected, e)) = &state.rejected
            && rejected.hash == hash
        {
            let e = e.clone();
            state.rejected = Some((version, e.clone()));
            return Err(CheckFailure::StillRejected(e));
        }
        let decode = Arc::clone(&self.decode);
        let decoded = blocking(&self.name, move || decode(&bytes))
            .await
            .map_err(CheckFailure::Fetch)?;
        let data = match decoded {
            Ok(data) => data,
            Err(message) => {
                let e = ReferenceError::Decode {
                    location: self.name.clone(),
                    e_tag: version.fingerprint.e_tag_text(),
                    message,
                };
                return Err(CheckFailure::Rejected(version, e));
            }
        };
        let snapshot = Arc::new(Snapshot {
            data,
            version: self.current().version + 1,
            e_tag: version.fingerprint.e_tag.clone(),
            last_modified: version.fingerprint.last_modified,
            size: version.fingerprint.size,
            loaded_at: self.clock.now(),
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&snapshot);
        state.current = version;
        Ok(Refresh::Reloaded(snapshot))
    }

    fn current(&self) -> Arc<Snapshot<T>> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn set_error(&self, error: Option<ReferenceError>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// GETs the whole object: its bytes and the metadata of that very version.
async fn fetch(
    store: &dyn ObjectStore,
    path: &ObjectPath,
    name: &str,
) -> Result<(Bytes, ObjectMeta)> {
    let got = store
        .get(path)
        .await
        .map_err(|e| ReferenceError::fetch(name, "GET", e))?;
    let meta = got.meta.clone();
    let bytes = got
        .bytes()
        .await
        .map_err(|e| ReferenceError::fetch(name, "GET", e))?;
    Ok((bytes, meta))
}

/// Runs CPU-bound work (hashing, decoding) off the runtime's workers.
async fn blocking<R: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ReferenceError::DecoderAborted {
            location: name.to_owned(),
            reason: if e.is_panic() {
                "it panicked".into()
            } else {
                "it was cancelled".into()
            },
        })
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::AtomicUsize;

    use arrow::array::{Array, StringArray};
    use chrono::TimeZone;
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    use super::*;
    use crate::clock::ManualClock;

    const INTERVAL: Duration = Duration::from_secs(30);

    /// A decoder for tests: one row per line; a line containing `BAD` is
    /// rejected with its line number. Counts its calls.
    fn lines_decoder(calls: Arc<AtomicUsize>) -> Decode<Vec<String>> {
        Arc::new(move |bytes: &[u8]| {
            calls.fetch_add(1, Ordering::SeqCst);
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            text.lines()
                .enumerate()
                .map(|(i, l)| {
                    if l.contains("BAD") {
                        Err(format!("line {}: malformed row {l:?}", i + 1))
                    } else {
                        Ok(l.to_owned())
                    }
                })
                .collect()
        })
    }

    struct Fixture {
        dir: tempfile::TempDir,
        clock: ManualClock,
        calls: Arc<AtomicUsize>,
        events: UnboundedReceiver<ReloadEvent>,
        options: ReferenceOptions,
    }

    impl Fixture {
        fn new(content: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("companies.csv"), content).unwrap();
            let clock = ManualClock::at(Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap());
            let (tx, events) = unbounded_channel();
            let options = ReferenceOptions {
                check_interval: Some(INTERVAL),
                clock: Arc::new(clock.clone()),
                on_event: Arc::new(move |e: &ReloadEvent| {
                    let _ = tx.send(e.clone());
                }),
                ..ReferenceOptions::default()
            };
            Self {
                dir,
                clock,
                calls: Arc::new(AtomicUsize::new(0)),
                events,
                options,
            }
        }

        fn file(&self) -> std::path::PathBuf {
            self.dir.path().join("companies.csv")
        }

        fn write(&self, content: &str) {
            std::fs::write(self.file(), content).unwrap();
        }

        fn location(&self) -> ObjectLocation {
            ObjectLocation::parse("companies.csv", self.dir.path()).unwrap()
        }

        async fn load(&self) -> Result<ReferenceTable<Vec<String>>> {
            ReferenceTable::load(
                self.location(),
                lines_decoder(Arc::clone(&self.calls)),
                self.options.clone(),
            )
            .await
        }

        /// The next event; paused time auto-advances to the next check.
        async fn next_event(&mut self) -> ReloadEvent {
            tokio::time::timeout(Duration::from_secs(3600), self.events.recv())
                .await
                .expect("no event within an hour of checks")
                .unwrap()
        }

        /// Lets `n` check intervals pass and returns what was reported.
        async fn events_over(&mut self, n: u32) -> Vec<ReloadEvent> {
            tokio::time::sleep(INTERVAL * n + Duration::from_secs(1)).await;
            let mut out = Vec::new();
            while let Ok(e) = self.events.try_recv() {
                out.push(e);
            }
            out
        }
    }

    #[tokio::test(start_paused = true)]
    async fn loads_a_local_file_with_its_metadata_and_load_time() {
        let fx = Fixture::new("AMZN,Amazon\nMSFT,Microsoft\n");
        let table = fx.load().await.unwrap();
        let s = table.current();
        assert_eq!(s.data, vec!["AMZN,Amazon", "MSFT,Microsoft"]);
        assert_eq!(s.version, 1);
        assert_eq!(s.size, 27);
        assert!(s.e_tag.is_some());
        assert!(s.last_modified.is_some());
        assert_eq!(s.loaded_at, fx.clock.now());
        assert!(table.is_watching());
        assert!(table.last_error().is_none());
        assert_eq!(table.stats(), ReloadStats::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_object_is_reloaded_at_the_next_check() {
        let mut fx = Fixture::new("AMZN,Amazon\n");
        let table = fx.load().await.unwrap();
        let first = table.current();
        fx.write("AMZN,Amazon\nMSFT,Microsoft\n");
        fx.clock.advance_by(INTERVAL);
        let start = tokio::time::Instant::now();
        match fx.next_event().await {
            ReloadEvent::Reloaded {
                version,
                e_tag,
                size,
                ..
            } => {
                assert_eq!((version, size), (2, 27));
                assert!(e_tag.is_some() && e_tag != first.e_tag);
            }
            other => panic!("expected a reload, got {other}"),
        }
        assert_eq!(start.elapsed(), INTERVAL);
        let s = table.current();
        assert_eq!((s.version, s.data.len()), (2, 2));
        assert_eq!(s.loaded_at, fx.clock.now());
        // A reader holding the old snapshot still has the whole old table.
        assert_eq!(first.data, vec!["AMZN,Amazon"]);
        assert_eq!(
            table.stats(),
            ReloadStats {
                checks: 1,
                reloads: 1,
                failures: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_object_is_checked_but_not_fetched_again() {
        let mut fx = Fixture::new("AMZN,Amazon\n");
        let table = fx.load().await.unwrap();
        assert!(fx.events_over(3).await.is_empty());
        assert_eq!(table.stats().checks, 3);
        assert_eq!(table.stats().reloads, 0);
        assert_eq!(fx.calls.load(Ordering::SeqCst), 1);
        assert_eq!(table.current().version, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn new_metadata_with_the_same_bytes_is_not_decoded_again() {
        let mut fx = Fixture::new("AMZN,Amazon\n");
        let table = fx.load().await.unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(fx.file())
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
            .unwrap();
        drop(f);
        assert!(fx.events_over(2).await.is_empty());
        assert_eq!(table.current().version, 1);
        assert_eq!(fx.calls.load(Ordering::SeqCst), 1);
        assert!(matches!(table.refresh().await, Ok(Refresh::Unchanged)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_reload_keeps_the_old_table_and_reports_once() {
        let mut fx = Fixture::new("AMZN,Amazon\n");
        let table = fx.load().await.unwrap();
        fx.write("AMZN,Amazon\nBAD ROW\n");
        match fx.next_event().await {
            ReloadEvent::Failed {
                kept_version,
                error,
            } => {
                assert_eq!(kept_version, 1);
                let msg = error.to_string();
                assert!(msg.contains("companies.csv"), "{msg}");
                assert!(msg.contains("line 2: malformed row \"BAD ROW\""), "{msg}");
            }
            other => panic!("expected a failure, got {other}"),
        }
        assert_eq!(table.current().data, vec!["AMZN,Amazon"]);
        assert!(matches!(
            table.last_error(),
            Some(ReferenceError::Decode { .. })
        ));
        // The same bad version is neither decoded nor reported again.
        assert!(fx.events_over(2).await.is_empty());
        assert_eq!(fx.calls.load(Ordering::SeqCst), 2);
        assert_eq!(table.stats().failures, 3);
        assert!(table.last_error().is_some());
        // A fixed object is loaded at the next check.
        fx.write("AMZN,Amazon\nMSFT,Microsoft\n");
        match fx.next_event().await {
            ReloadEvent::Reloaded { version, .. } => assert_eq!(version, 2),
            other => panic!("expected a reload, got {other}"),
        }
        assert!(table.last_error().is_none());
        assert_eq!(table.current().data.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deleted_object_keeps_the_table_until_it_is_back() {
        let mut fx = Fixture::new("AMZN,Amazon\n");
        let table = fx.load().await.unwrap();
        std::fs::remove_file(fx.file()).unwrap();
        match fx.next_event().await {
            ReloadEvent::Failed { error, .. } => {
                assert!(matches!(error, ReferenceError::NotFound { .. }), "{error}");
                assert!(error.to_string().contains("not found"), "{error}");
            }
            other => panic!("expected a failure, got {other}"),
        }
        // Reported once while it stays missing.
        assert!(fx.events_over(2).await.is_empty());
        assert_eq!(table.current().version, 1);
        // The same bytes back: the table is current again without a reload.
        fx.write("AMZN,Amazon\n");
        match fx.next_event().await {
            ReloadEvent::Recovered { version, .. } => assert_eq!(version, 1),
            other => panic!("expected recovery, got {other}"),
        }
        assert!(table.last_error().is_none());
        assert_eq!(fx.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_checks_on_demand() {
        let mut fx = Fixture::new("a\n");
        fx.options.check_interval = None;
        let table = fx.load().await.unwrap();
        assert!(!table.is_watching());
        assert!(matches!(table.refresh().await, Ok(Refresh::Unchanged)));
        fx.write("a\nb\n");
        match table.refresh().await {
            Ok(Refresh::Reloaded(s)) => assert_eq!((s.version, s.data.len()), (2, 2)),
            other => panic!("{other:?}"),
        }
        fx.write("BAD\n");
        let e = table.refresh().await.unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert_eq!(table.current().version, 2);
        // No task: time passing checks nothing.
        tokio::time::sleep(INTERVAL * 10).await;
        assert_eq!(table.stats().checks, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn load_failures_name_the_object_and_the_cause() {
        let fx = Fixture::new("AMZN,Amazon\nBAD\n");
        let e = fx.load().await.unwrap_err();
        assert!(matches!(e, ReferenceError::Decode { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with("reference object companies.csv ("), "{msg}");
        assert!(msg.ends_with("line 2: malformed row \"BAD\""), "{msg}");

        let missing = ObjectLocation::parse("nope.csv", fx.dir.path()).unwrap();
        let e = ReferenceTable::load(missing, lines_decoder(Arc::default()), fx.options.clone())
            .await
            .unwrap_err();
        assert!(matches!(e, ReferenceError::NotFound { .. }), "{e}");
        assert!(
            e.to_string().starts_with("reference object nope.csv ("),
            "{e}"
        );
        assert!(e.to_string().ends_with("nope.csv) not found"), "{e}");

        let mut options = fx.options.clone();
        options.check_interval = Some(Duration::ZERO);
        let e = ReferenceTable::load(fx.location(), lines_decoder(Arc::default()), options)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "reference option check_interval: must be longer than zero (or unset to never reload)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_decoder_is_an_error_not_a_crash() {
        let fx = Fixture::new("x\n");
        let decode: Decode<()> = Arc::new(|_: &[u8]| panic!("decoder bug"));
        let e = ReferenceTable::load(fx.location(), decode, fx.options.clone())
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("the decoder did not finish: it panicked"),
            "{e}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_and_drop_stop_the_task() {
        let fx = Fixture::new("a\n");
        let decode = lines_decoder(Arc::clone(&fx.calls));
        let mut table =
            ReferenceTable::load(fx.location(), Arc::clone(&decode), fx.options.clone())
                .await
                .unwrap();
        assert!(table.is_watching());
        table.shutdown().await;
        assert!(!table.is_watching());
        tokio::time::sleep(INTERVAL * 3).await;
        assert_eq!(table.stats().checks, 0);
        assert_eq!(table.current().data, vec!["a"]);
        drop(table);
        assert_eq!(Arc::strong_count(&decode), 1);

        // Dropping a watching table releases everything the task held.
        let table = ReferenceTable::load(fx.location(), Arc::clone(&decode), fx.options.clone())
            .await
            .unwrap();
        drop(table);
        tokio::task::yield_now().await;
        assert_eq!(Arc::strong_count(&decode), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_table_is_an_arrow_record_batch() {
        let fx = Fixture::new("AMZN\nMSFT\n");
        let decode: Decode = Arc::new(|bytes: &[u8]| {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let col = StringArray::from(text.lines().collect::<Vec<_>>());
            RecordBatch::try_from_iter([("TICKER", Arc::new(col) as _)]).map_err(|e| e.to_string())
        });
        let table: ReferenceTable = ReferenceTable::load(fx.location(), decode, fx.options.clone())
            .await
            .unwrap();
        let batch = &table.current().data;
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(0).len(), 2);
        assert!(Path::new(fx.location().as_written()).is_relative());
    }

    #[test]
    fn events_read_as_one_clear_line() {
        let t = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        let e = ReloadEvent::Reloaded {
            location: "s3://b/t.csv".into(),
            version: 3,
            e_tag: Some("\"abc\"".into()),
            last_modified: Some(t),
            size: 10,
        };
        assert_eq!(
            e.to_string(),
            "reference object s3://b/t.csv reloaded as version 3 (ETag \"abc\", last modified 2025-06-01T12:00:00+00:00, 10 bytes)"
        );
        let e = ReloadEvent::Failed {
            kept_version: 2,
            error: ReferenceError::Decode {
                location: "t.csv".into(),
                e_tag: "none".into(),
                message: "line 4: bad".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "reload failed, keeping version 2: reference object t.csv (ETag none): line 4: bad"
        );
    }
}
