//! Group commit for the durable buffer: writes to buffer files are
//! acknowledged only once synced, and callers whose writes land while a
//! sync is under way share the next one.
//!
//! [`GroupCommit::wrote`] registers a write (done under the stream's lock)
//! and returns the [`Group`] it belongs to: the group collecting writes
//! now. [`GroupCommit::wait`] returns once that group is synced. The first
//! waiter to find no sync under way becomes the group's leader: it closes
//! the group (later writes go to the next one), syncs every file written
//! since the last sync with no lock held, and wakes every waiter. Waiters of
//! a group the leader's sync covered return at once; the next group's
//! first waiter leads the next sync. So there is at most one sync under way,
//! and each sync covers every write registered before it began.
//!
//! A leader syncs at once, without waiting for more callers to join its
//! group. Callers then settle into cohorts taking turns (those acknowledged
//! by one sync write their next batches while another cohort's sync is
//! under way), so the disk is never left idle between syncs. Waiting up to
//! 300 µs for the last round's callers halved the syncs but left the disk
//! idle that long per sync: in alternating runs of the delivery benchmark
//! (8 producers of 500-record batches) it delivered about 415 MB/s, against
//! about 500 MB/s without the wait.
//!
//! A failed sync fails every caller of its group (their records may not be
//! on disk; after a failed `fsync` Linux may have dropped the dirty pages,
//! so a later sync cannot vouch for them). The files stay dirty for the
//! next group's sync.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use crate::error::{FirehoseError, Result};

/// How a file is made durable: `File::sync_data`, or a stand-in in tests.
pub type SyncFn = Arc<dyn Fn(&File) -> io::Result<()> + Send + Sync>;

/// A failed sync: the file and the error, for each caller of the group.
#[derive(Debug, Clone)]
struct Failure {
    path: PathBuf,
    kind: io::ErrorKind,
    message: String,
}

/// The writes one sync covers.
#[derive(Debug, Default)]
pub struct Group {
    /// Set once by the group's leader: Ok when every file was synced.
    outcome: OnceLock<std::result::Result<(), Failure>>,
}

#[derive(Debug, Default)]
struct State {
    /// The group collecting writes now.
    open: Arc<Group>,
    /// Whether a leader is syncing (the group it closed).
    syncing: bool,
    /// Files written since the last sync began.
    dirty: Vec<(PathBuf, Arc<File>)>,
}

/// Shares syncs of buffer files between concurrent callers.
pub struct GroupCommit {
    state: Mutex<State>,
    synced: Condvar,
    sync: SyncFn,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self::with_sync(Arc::new(File::sync_data))
    }
}

impl GroupCommit {
    /// Group commit syncing files with `sync` (`File::sync_data` by default).
    pub fn with_sync(sync: SyncFn) -> Self {
        Self {
            state: Mutex::new(State::default()),
            synced: Condvar::new(),
            sync,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a write to `file` (at `path`); returns the group whose
    /// sync will cover it. Call after the write, before a later write to
    /// the same file.
    pub fn wrote(&self, path: &Path, file: &Arc<File>) -> Arc<Group> {
        let mut st = self.lock();
        if !st.dirty.iter().any(|(p, _)| p == path) {
            st.dirty.push((path.to_owned(), Arc::clone(file)));
        }
        Arc::clone(&st.open)
    }

    /// Returns once `group` is synced: by this caller as its leader, or by
    /// another caller. Err when the group's sync failed.
    pub fn wait(&self, group: &Arc<Group>) -> Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(outcome) = group.outcome.get() {
                return outcome.clone().map_err(|f| {
                    FirehoseError::buffer(
                        f.path,
                        io::Error::new(f.kind, format!("sync failed: {}", f.message)),
                    )
                });
            }
            if !st.syncing {
                // `group` is not decided and no sync is under way, so it is
                // the open group: lead its sync.
                debug_assert!(Arc::ptr_eq(group, &st.open));
                st.syncing = true;
                let closed = std::mem::take(&mut st.open);
                let files = std::mem::take(&mut st.dirty);
                drop(st);
                let outcome = self.sync_all(&files);
                st = self.lock();
                if outcome.is_err() {
                    for (path, file) in files {
                        if !st.dirty.iter().any(|(p, _)| *p == path) {
                            st.dirty.push((path, file));
                        }
                    }
                }
                let _ = closed.outcome.set(outcome);
                st.syncing = false;
                self.synced.notify_all();
                continue;
            }
            st = self.synced.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Syncs every file in `files`; the first failure ends it.
    fn sync_all(&self, files: &[(PathBuf, Arc<File>)]) -> std::result::Result<(), Failure> {
        for (path, file) in files {
            if let Err(e) = (self.sync)(file) {
                return Err(Failure {
                    path: path.clone(),
                    kind: e.kind(),
                    message: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// True when no write is waiting for a sync (for tests).
    pub fn is_clean(&self) -> bool {
        let st = self.lock();
        st.dirty.is_empty() && !st.syncing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    /// A sync that counts calls, waits while `hold` is set, and fails on
    /// call number `fail_on` (from 1; 0: never).
    struct Fake {
        calls: AtomicUsize,
        hold: AtomicBool,
        fail_on: AtomicUsize,
    }

    fn fake() -> (Arc<Fake>, SyncFn) {
        let f = Arc::new(Fake {
            calls: AtomicUsize::new(0),
            hold: AtomicBool::new(false),
            fail_on: AtomicUsize::new(0),
        });
        let g = Arc::clone(&f);
        let sync: SyncFn = Arc::new(move |_file: &File| {
            let call = g.calls.fetch_add(1, Ordering::SeqCst) + 1;
            while g.hold.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if g.fail_on.load(Ordering::SeqCst) == call {
                Err(io::Error::other("injected"))
            } else {
                Ok(())
            }
        });
        (f, sync)
    }

    fn temp_file(dir: &Path) -> (PathBuf, Arc<File>) {
        let path = dir.join("f.buf");
        (path.clone(), Arc::new(File::create(&path).unwrap()))
    }

    /// Waits (up to 5 s) until `done`.
    fn until(done: impl Fn() -> bool) {
        for _ in 0..5000 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("timed out");
    }

    /// Holds the fake sync, writes once and waits for that write on a
    /// thread of its own (the leader); returns once its sync is under way.
    fn leader_syncing(
        gc: &Arc<GroupCommit>,
        f: &Fake,
        path: &Path,
        file: &Arc<File>,
    ) -> std::thread::JoinHandle<Result<()>> {
        f.hold.store(true, Ordering::SeqCst);
        let first = gc.wrote(path, file);
        let leader = {
            let gc = Arc::clone(gc);
            std::thread::spawn(move || gc.wait(&first))
        };
        until(|| f.calls.load(Ordering::SeqCst) == 1);
        leader
    }

    #[test]
    fn callers_during_a_sync_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = temp_file(dir.path());
        let (f, sync) = fake();
        let gc = Arc::new(GroupCommit::with_sync(sync));
        let leader = leader_syncing(&gc, &f, &path, &file);
        // Eight writes while the first sync is under way: one group.
        let groups: Vec<Arc<Group>> = (0..8).map(|_| gc.wrote(&path, &file)).collect();
        assert!(groups.iter().all(|g| Arc::ptr_eq(g, &groups[0])));
        let waiters: Vec<_> = groups
            .into_iter()
            .map(|g| {
                let gc = Arc::clone(&gc);
                std::thread::spawn(move || gc.wait(&g))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        f.hold.store(false, Ordering::SeqCst);
        leader.join().unwrap().unwrap();
        for w in waiters {
            w.join().unwrap().unwrap();
        }
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        assert!(gc.is_clean());
    }

    #[test]
    fn a_failed_sync_fails_each_caller_of_its_group_only() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = temp_file(dir.path());
        let (f, sync) = fake();
        let gc = Arc::new(GroupCommit::with_sync(sync));
        let leader = leader_syncing(&gc, &f, &path, &file);
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let g = gc.wrote(&path, &file);
                let gc = Arc::clone(&gc);
                std::thread::spawn(move || gc.wait(&g))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        // The first sync succeeds; the second, the five callers' group's, fails.
        f.fail_on.store(2, Ordering::SeqCst);
        f.hold.store(false, Ordering::SeqCst);
        leader.join().unwrap().unwrap();
        for w in waiters {
            match w.join().unwrap() {
                Err(FirehoseError::Buffer { path: p, source }) => {
                    assert_eq!(p, path);
                    assert!(source.to_string().contains("injected"), "{source}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        // The file stays dirty, and the next group syncs it again.
        assert!(!gc.is_clean());
        let g = gc.wrote(&path, &file);
        gc.wait(&g).unwrap();
        assert!(gc.is_clean());
    }
}
