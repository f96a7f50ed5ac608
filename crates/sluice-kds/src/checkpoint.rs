//! Durable per-shard read positions for [`crate::reader::StreamReader`]:
//! [`CheckpointStore`] maps (stream name, shard id) to the last processed
//! sequence number, or to "finished" for a closed shard read to its end.
//!
//! # File format
//!
//! One UTF-8 text file, every line ending in `\n`:
//!
//! ```text
//! sluice-kds-checkpoint 1
//! <stream name> <shard id> after <sequence number>
//! <stream name> <shard id> finished
//! <stream name> <shard id> since <ms since the epoch>
//! end <number of entry lines> <CRC32C of every byte before this line, 8 hex digits>
//! ```
//!
//! Entry lines are sorted by stream name, then shard id; names are KDS
//! names (`[a-zA-Z0-9_.-]{1,256}`), sequence numbers decimal. `after N`
//! means every record up to and including N was processed: a reader resumes
//! with `AFTER_SEQUENCE_NUMBER N`. `finished` means the shard is closed and
//! every record of it was processed: a reader never reads it again.
//! `since T` means no record was processed yet by a reader that started at
//! the stream's head (LATEST) at time T: a reader resumes with
//! `AT_TIMESTAMP T`, not from the oldest record, so a stop right after a
//! start from NOW resumes where it stopped.
//!
//! # Durability
//!
//! Every [`CheckpointStore::save`] writes the whole file to `<path>.tmp`,
//! fsyncs it, renames it over `<path>` and fsyncs the directory, so after a
//! crash the file is either the old or the new version, never a mix. A file
//! that does not parse, or whose count or checksum is wrong, is reported as
//! [`KdsError::CorruptCheckpoint`] naming the file and line: the reader
//! never silently starts over. A missing file is an empty store.
//!
//! One store is used by one process at a time: [`CheckpointStore::open`]
//! takes an advisory lock on `<path>.lock` and fails with
//! [`KdsError::CheckpointInUse`] while another holder has it. Clones of a
//! store share it, so several readers of one process (one per input
//! stream) can save into the same file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{KdsError, Result};

/// First line of a checkpoint file.
const HEADER: &str = "sluice-kds-checkpoint 1";

/// Where a shard's reading stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardCheckpoint {
    /// Every record up to and including this sequence number was processed.
    After(String),
    /// The shard is closed and was read to its end.
    Finished,
    /// Nothing processed yet by a reader that started at the head at this
    /// time (ms since the epoch): resume from this time.
    Since(i64),
}

#[derive(Debug)]
struct StoreInner {
    path: PathBuf,
    entries: BTreeMap<(String, String), ShardCheckpoint>,
    /// Held for the store's lifetime; dropping it releases the lock.
    _lock: File,
}

/// The checkpoint file of one or more stream readers; cheap to clone,
/// clones share the same file. Format and guarantees: see the [module
/// docs](self).
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    inner: Arc<Mutex<StoreInner>>,
    path: PathBuf,
}

/// True for a KDS stream name or shard id as the file may hold it.
pub(crate) fn is_kds_name(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_sequence_number(s: &str) -> bool {
    (1..=129).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut os = path.as_os_str().to_owned();
    os.push(suffix);
    PathBuf::from(os)
}

impl CheckpointStore {
    /// Opens (or, when missing, starts) the checkpoint file at `path`,
    /// creating its directory if needed.
    ///
    /// Errors: [`KdsError::CorruptCheckpoint`] for a damaged file,
    /// [`KdsError::CheckpointInUse`] while another store holds it,
    /// [`KdsError::Io`] for file errors.
    pub fn open(path: impl AsRef<Path>) -> Result<CheckpointStore> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(KdsError::io(dir))?;
        }
        let lock_path = with_suffix(&path, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(KdsError::io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(KdsError::CheckpointInUse {
                    path,
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(KdsError::io(&lock_path)(e)),
        }
        let entries = match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(KdsError::io(&path)(e)),
        };
        Ok(CheckpointStore {
            inner: Arc::new(Mutex::new(StoreInner {
                path: path.clone(),
                entries,
                _lock: lock,
            })),
            path,
        })
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The checkpoint of one shard, if any.
    pub fn get(&self, stream: &str, shard_id: &str) -> Option<ShardCheckpoint> {
        self.inner
            .lock()
            .entries
            .get(&(stream.to_owned(), shard_id.to_owned()))
            .cloned()
    }

    /// Every checkpoint: (stream, shard id, checkpoint), in file order.
    pub fn entries(&self) -> Vec<(String, String, ShardCheckpoint)> {
        self.inner
            .lock()
            .entries
            .iter()
            .map(|((s, shard), c)| (s.clone(), shard.clone(), c.clone()))
            .collect()
    }

    /// All checkpoints of a stream, by shard id.
    pub fn stream(&self, stream: &str) -> BTreeMap<String, ShardCheckpoint> {
        self.inner
            .lock()
            .entries
            .iter()
            .filter(|((s, _), _)| s == stream)
            .map(|((_, shard), c)| (shard.clone(), c.clone()))
            .collect()
    }

    /// Sets the checkpoints of some shards of `stream` and writes the file
    /// durably (temp file, fsync, rename, fsync directory) before returning.
    /// On error the store and the file keep their previous contents.
    pub fn save(
        &self,
        stream: &str,
        updates: impl IntoIterator<Item = (String, ShardCheckpoint)>,
    ) -> Result<()> {
        let mut inner = self.inner.lock();
        let mut entries = inner.entries.clone();
        for (shard, checkpoint) in updates {
            if !is_kds_name(stream) || !is_kds_name(&shard) {
                return Err(KdsError::invalid(format!(
                    "checkpoint for stream {stream:?} shard {shard:?}: names must match [a-zA-Z0-9_.-]{{1,256}}"
                )));
            }
            if let ShardCheckpoint::After(seq) = &checkpoint
                && !is_sequence_number(seq)
            {
                return Err(KdsError::invalid(format!(
                    "checkpoint for stream {stream} shard {shard}: sequence number {seq:?} is not decimal"
                )));
            }
            entries.insert((stream.to_owned(), shard), checkpoint);
        }
        write_atomically(&inner.path, &render(&entries))?;
        inner.entries = entries;
        Ok(())
    }
}

/// The file's text for these entries.
fn render(entries: &BTreeMap<(String, String), ShardCheckpoint>) -> String {
    let mut text = format!("{HEADER}\n");
    for ((stream, shard), checkpoint) in entries {
        match checkpoint {
            ShardCheckpoint::After(seq) => {
                text.push_str(&format!("{stream} {shard} after {seq}\n"))
            }
            ShardCheckpoint::Finished => text.push_str(&format!("{stream} {shard} finished\n")),
            ShardCheckpoint::Since(ms) => text.push_str(&format!("{stream} {shard} since {ms}\n")),
        }
    }
    let crc = crc32c::crc32c(text.as_bytes());
    text.push_str(&format!("end {} {crc:08x}\n", entries.len()));
    text
}

/// Parses a checkpoint file, refusing anything [`render`] would not write.
fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<(String, String), ShardCheckpoint>> {
    let corrupt = |line: usize, reason: String| KdsError::CorruptCheckpoint {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let text =
        std::str::from_utf8(bytes).map_err(|e| corrupt(1, format!("not UTF-8 text ({e})")))?;
    if !text.ends_with('\n') {
        return Err(corrupt(
            text.lines().count().max(1),
            "the file does not end with a complete line (truncated?)".into(),
        ));
    }
    let mut entries = BTreeMap::new();
    let mut offset = 0;
    let mut ended = false;
    for (i, line) in text.split_terminator('\n').enumerate() {
        let number = i + 1;
        if ended {
            return Err(corrupt(number, "text after the end line".into()));
        }
        let fields: Vec<&str> = line.split(' ').collect();
        if number == 1 {
            if line != HEADER {
                return Err(corrupt(
                    1,
                    format!("expected the header {HEADER:?}, found {line:?}"),
                ));
            }
        } else if fields.first() == Some(&"end") {
            let [_, count, crc] = fields.as_slice() else {
                return Err(corrupt(
                    number,
                    "the end line must be `end <count> <crc32c>`".into(),
                ));
            };
            if count.parse::<usize>().ok() != Some(entries.len()) {
                return Err(corrupt(
                    number,
                    format!(
                        "the end line counts {count} entries, the file has {}",
                        entries.len()
                    ),
                ));
            }
            let expected = crc32c::crc32c(&bytes[..offset]);
            if u32::from_str_radix(crc, 16).ok() != Some(expected) || crc.len() != 8 {
                return Err(corrupt(
                    number,
                    format!("checksum {crc} does not match the content ({expected:08x})"),
                ));
            }
            ended = true;
        } else {
            let (stream, shard, checkpoint) = match fields.as_slice() {
                [stream, shard, "after", seq] if is_sequence_number(seq) => {
                    (stream, shard, ShardCheckpoint::After((*seq).to_owned()))
                }
                [stream, shard, "finished"] => (stream, shard, ShardCheckpoint::Finished),
                [stream, shard, "since", ms] if ms.parse::<i64>().is_ok() => (
                    stream,
                    shard,
                    ShardCheckpoint::Since(ms.parse().unwrap_or_default()),
                ),
                _ => {
                    return Err(corrupt(
                        number,
                        format!(
                            "expected `<stream> <shard id> after <sequence number>`, `<stream> <shard id> finished` or `<stream> <shard id> since <ms>`, found {line:?}"
                        ),
                    ));
                }
            };
            if !is_kds_name(stream) || !is_kds_name(shard) {
                return Err(corrupt(
                    number,
                    format!("stream {stream:?} or shard {shard:?} is not a KDS name"),
                ));
            }
            let key = ((*stream).to_owned(), (*shard).to_owned());
            if entries.insert(key, checkpoint).is_some() {
                return Err(corrupt(
                    number,
                    format!("stream {stream} shard {shard} appears twice"),
                ));
            }
        }
        offset += line.len() + 1;
    }
    if !ended {
        return Err(corrupt(
            text.lines().count().max(1),
            "no end line (truncated?)".into(),
        ));
    }
    Ok(entries)
}

/// Replaces `path` with `text`: temp file, fsync, rename, fsync directory.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let mut file = File::create(&tmp).map_err(KdsError::io(&tmp))?;
    file.write_all(text.as_bytes())
        .map_err(KdsError::io(&tmp))?;
    file.sync_all().map_err(KdsError::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(KdsError::io(path))?;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(KdsError::io(&dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";

    #[test]
    fn saves_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/app.checkpoint");
        let store = CheckpointStore::open(&path).unwrap();
        assert_eq!(store.get("s", "shardId-000000000000"), None);
        store
            .save(
                "s",
                [
                    (
                        "shardId-000000000001".to_owned(),
                        ShardCheckpoint::After(SEQ.into()),
                    ),
                    ("shardId-000000000000".to_owned(), ShardCheckpoint::Finished),
                ],
            )
            .unwrap();
        store
            .save(
                "other",
                [(
                    "shardId-000000000000".to_owned(),
                    ShardCheckpoint::After("7".into()),
                )],
            )
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "sluice-kds-checkpoint 1\nother shardId-000000000000 after 7\ns shardId-000000000000 finished\n"
        ));
        assert!(!with_suffix(&path, ".tmp").exists());
        drop(store);
        let store = CheckpointStore::open(&path).unwrap();
        let s = store.stream("s");
        assert_eq!(s.len(), 2);
        assert_eq!(s["shardId-000000000000"], ShardCheckpoint::Finished);
        assert_eq!(
            store.get("s", "shardId-000000000001"),
            Some(ShardCheckpoint::After(SEQ.into()))
        );
    }

    #[test]
    fn second_holder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let first = CheckpointStore::open(&path).unwrap();
        let err = CheckpointStore::open(&path).unwrap_err();
        assert!(matches!(err, KdsError::CheckpointInUse { .. }), "{err}");
        drop(first);
        CheckpointStore::open(&path).unwrap();
    }

    #[test]
    fn refuses_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().join("cp")).unwrap();
        let err = store
            .save("a b", [("shardId-0".to_owned(), ShardCheckpoint::Finished)])
            .unwrap_err();
        assert!(err.to_string().contains("\"a b\""), "{err}");
        let err = store
            .save(
                "a",
                [("shardId-0".to_owned(), ShardCheckpoint::After("x1".into()))],
            )
            .unwrap_err();
        assert!(err.to_string().contains("not decimal"), "{err}");
        assert!(store.stream("a").is_empty());
    }

    /// Every kind of damage is an error naming the file and line.
    #[test]
    fn corrupt_files_are_errors() {
        let good = render(&BTreeMap::from([
            (
                ("s".to_owned(), "shardId-000000000000".to_owned()),
                ShardCheckpoint::After(SEQ.into()),
            ),
            (
                ("s".to_owned(), "shardId-000000000001".to_owned()),
                ShardCheckpoint::Finished,
            ),
        ]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let flipped = good.replacen("after 4959", "after 4969", 1);
        let cases: Vec<(String, usize, &str)> = vec![
            (String::new(), 1, "truncated"),
            ("garbage\n".into(), 1, "header"),
            (good[..good.len() - 1].to_owned(), 4, "truncated"),
            (good[..good.len() - 5].to_owned(), 4, "truncated"),
            (
                good.lines().take(3).map(|l| format!("{l}\n")).collect(),
                3,
                "no end line",
            ),
            (flipped, 4, "checksum"),
            (good.replacen("finished", "done", 1), 3, "expected"),
            (format!("{good}extra\n"), 5, "after the end"),
            (good.replacen("end 2", "end 3", 1), 4, "counts 3"),
            ("\u{0}\u{ff}".into(), 1, "truncated"),
        ];
        for (text, line, what) in cases {
            std::fs::write(&path, &text).unwrap();
            let err = CheckpointStore::open(&path).unwrap_err();
            let msg = err.to_string();
            match &err {
                KdsError::CorruptCheckpoint { line: l, .. } => assert_eq!(*l, line, "{msg}"),
                other => panic!("{other}"),
            }
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(what), "{what}: {msg}");
        }
        std::fs::write(&path, &good).unwrap();
        assert_eq!(CheckpointStore::open(&path).unwrap().stream("s").len(), 2);
        std::fs::write(&path, [0xff, b'\n']).unwrap();
        let err = CheckpointStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }
}
