//! The durable local buffer: every acknowledged record is in a buffer file,
//! synced to disk, before `put_record` returns, and a buffer file is given
//! up only after its object is written. [`BufferFile::create`] starts one
//! (in a new file, or overwriting a delivered buffer's file),
//! [`BufferFile::append`] adds records, [`read_buffer_file`] recovers one
//! after a crash.
//!
//! # Encoding format
//!
//! One file per buffer (one future object), named `<seq:020>.buf`:
//!
//! ```text
//! magic      8 bytes   "SLFHBUF2"
//! header_len u32 LE
//! header     header_len bytes of JSON (BufferHeader: seq, stream version,
//!            object uuid, oldest arrival ms, random-string seed, partition
//!            keys, error-output-type for error buffers)
//! record*    data_len u32 LE | crc32(data) u32 LE | arrival_ms i64 LE | data
//! ```
//!
//! Each record's CRC-32 starts from the CRC-32 of the header bytes (the
//! buffer's salt) instead of 0. A delivered buffer's file is kept and
//! reused for a later buffer ([`BufferFile::create`] with a file to reuse):
//! overwriting blocks a file already has spares the file system allocating
//! them and a sync writing the file's new size, and no file is deleted per
//! object. The old buffer's records left past the new buffer's end fail the
//! new salt's CRC, so reading stops there as at a torn tail. Files written
//! as `"SLFHBUF1"` (plain CRC-32, never reused) are still read.
//!
//! Records are appended with one `write` per batch ([`BufferFile::write`])
//! and made durable with `sync_data` ([`BufferFile::append`] does both; the
//! delivery stream instead shares one sync between the batches written
//! meanwhile, a group commit ([`crate::commit`]), before acknowledging any
//! of them). A torn tail (short record or CRC mismatch) was never
//! acknowledged: reading stops there. The header fixes the object key, so
//! delivering a recovered buffer again overwrites the same object instead
//! of duplicating it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{FirehoseError, Result};

const MAGIC: &[u8; 8] = b"SLFHBUF2";
/// The first format: records' CRC-32 from 0, files never reused.
const MAGIC_V1: &[u8; 8] = b"SLFHBUF1";
const RECORD_HEADER: usize = 4 + 4 + 8;

/// What fixes a buffer's object key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferHeader {
    /// Buffer sequence number within the stream (also the file name).
    pub seq: u64,
    /// Delivery stream version when the buffer was opened.
    pub version: u64,
    /// The `<uuid>` in the object name.
    pub uuid: String,
    /// Arrival time of the first (oldest) record, ms since the epoch.
    pub oldest_arrival_ms: i64,
    /// Seed for `!{firehose:random-string}`.
    pub random_seed: u64,
    /// Partition keys (dynamic partitioning) shared by the buffer's records.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partition: BTreeMap<String, String>,
    /// Set for a buffer of error records: their `error-output-type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_output_type: Option<String>,
}

/// One buffered record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedRecord {
    /// Arrival time, ms since the epoch.
    pub arrival_ms: i64,
    /// The record's bytes as the producer sent them.
    pub data: Bytes,
}

/// An open buffer file being appended to.
#[derive(Debug)]
pub struct BufferFile {
    path: PathBuf,
    file: Arc<File>,
    /// The CRC-32 its records' CRCs start from.
    salt: u32,
}

/// The path of buffer `seq` in `dir`.
pub fn buffer_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.buf"))
}

impl BufferFile {
    /// Creates the file for `header` in `dir`, reusing (renaming and
    /// overwriting) the file at `reuse` when given and still there. The
    /// header is synced with the first records; the directory entry now.
    pub fn create(dir: &Path, header: &BufferHeader, reuse: Option<&Path>) -> Result<Self> {
        let path = buffer_path(dir, header.seq);
        let json = serde_json::to_vec(header).map_err(|e| FirehoseError::CorruptBuffer {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut head = Vec::with_capacity(12 + json.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&(json.len() as u32).to_le_bytes());
        head.extend_from_slice(&json);
        let salt = crc32fast::hash(&json);
        let reused = reuse.is_some_and(|old| std::fs::rename(old, &path).is_ok());
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(!reused)
            .write(true)
            .open(&path)
            .map_err(|e| FirehoseError::buffer(&path, e))?;
        file.write_all(&head)
            .map_err(|e| FirehoseError::buffer(&path, e))?;
        // The header is synced with the first records. The file's
        // directory entry must survive a crash too: a buffer whose name
        // cannot be made durable takes no records.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| FirehoseError::buffer(dir, e))?;
        Ok(Self {
            path,
            file: Arc::new(file),
            salt,
        })
    }

    /// Appends records with one write and syncs them to disk.
    pub fn append(&mut self, records: &[BufferedRecord]) -> Result<()> {
        self.write(records)?;
        self.file
            .sync_data()
            .map_err(|e| FirehoseError::buffer(&self.path, e))
    }

    /// Appends records with one write, without syncing: they are durable
    /// only after a later `sync_data` on [`Self::handle`].
    pub fn write(&mut self, records: &[BufferedRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let total: usize = records.iter().map(|r| RECORD_HEADER + r.data.len()).sum();
        let mut buf = Vec::with_capacity(total);
        for r in records {
            buf.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&salted_crc(self.salt, &r.data).to_le_bytes());
            buf.extend_from_slice(&r.arrival_ms.to_le_bytes());
            buf.extend_from_slice(&r.data);
        }
        (&*self.file)
            .write_all(&buf)
            .map_err(|e| FirehoseError::buffer(&self.path, e))
    }

    /// The open file, to sync it outside the stream's lock.
    pub fn handle(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The CRC-32 of `data` starting from `salt`.
fn salted_crc(salt: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(salt);
    h.update(data);
    h.finalize()
}

/// Reads a buffer file back: its header and every whole record before any
/// torn tail (or a reused file's older records).
pub fn read_buffer_file(path: &Path) -> Result<(BufferHeader, Vec<BufferedRecord>)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| FirehoseError::buffer(path, e))?;
    let corrupt = |reason: &str| FirehoseError::CorruptBuffer {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < 12 || (&bytes[..8] != MAGIC && &bytes[..8] != MAGIC_V1) {
        return Err(corrupt("missing SLFHBUF2 (or SLFHBUF1) header"));
    }
    let hlen = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let hend = 12 + hlen;
    if bytes.len() < hend {
        return Err(corrupt("header is cut short"));
    }
    let header: BufferHeader =
        serde_json::from_slice(&bytes[12..hend]).map_err(|e| corrupt(&e.to_string()))?;
    let salt = if &bytes[..8] == MAGIC {
        crc32fast::hash(&bytes[12..hend])
    } else {
        0
    };
    let data = Bytes::from(bytes);
    let mut records = Vec::new();
    let mut pos = hend;
    while pos + RECORD_HEADER <= data.len() {
        let len =
            u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&data[pos + 8..pos + 16]);
        let start = pos + RECORD_HEADER;
        if start + len > data.len() {
            break;
        }
        let rec = data.slice(start..start + len);
        if salted_crc(salt, &rec) != crc {
            break;
        }
        records.push(BufferedRecord {
            arrival_ms: i64::from_le_bytes(ms),
            data: rec,
        });
        pos = start + len;
    }
    Ok((header, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u64) -> BufferHeader {
        BufferHeader {
            seq,
            version: 1,
            uuid: "u".into(),
            oldest_arrival_ms: 5,
            random_seed: 9,
            partition: BTreeMap::new(),
            error_output_type: None,
        }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = BufferFile::create(dir.path(), &header(3), None).unwrap();
        let recs: Vec<BufferedRecord> = (0..3)
            .map(|i| BufferedRecord {
                arrival_ms: i,
                data: Bytes::from(format!("rec{i}")),
            })
            .collect();
        f.append(&recs[..2]).unwrap();
        f.append(&recs[2..]).unwrap();
        let path = f.path().to_owned();
        drop(f);
        let (h, back) = read_buffer_file(&path).unwrap();
        assert_eq!(h, header(3));
        assert_eq!(back, recs);
        // a torn last record is dropped, the rest survive
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 2).unwrap();
        let (_, back) = read_buffer_file(&path).unwrap();
        assert_eq!(back, recs[..2]);
    }

    fn records(n: i64, tag: &str) -> Vec<BufferedRecord> {
        (0..n)
            .map(|i| BufferedRecord {
                arrival_ms: i,
                data: Bytes::from(format!("{tag}{i}")),
            })
            .collect()
    }

    #[test]
    fn a_reused_file_reads_back_only_its_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = BufferFile::create(dir.path(), &header(3), None).unwrap();
        // Same-sized records: the old ones line up with the new ones' frames.
        old.append(&records(50, "old")).unwrap();
        let old_path = old.path().to_owned();
        drop(old);
        let mut new = BufferFile::create(dir.path(), &header(4), Some(&old_path)).unwrap();
        new.append(&records(2, "new")).unwrap();
        assert!(!old_path.exists());
        let (h, back) = read_buffer_file(new.path()).unwrap();
        assert_eq!(h, header(4));
        assert_eq!(back, records(2, "new"));
        // A file to reuse that is gone: a new file.
        let mut other = BufferFile::create(dir.path(), &header(5), Some(&old_path)).unwrap();
        other.append(&records(1, "x")).unwrap();
        assert_eq!(read_buffer_file(other.path()).unwrap().1, records(1, "x"));
    }

    #[test]
    fn first_format_files_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000003.buf");
        let json = serde_json::to_vec(&header(3)).unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&json);
        for r in records(2, "v1-") {
            bytes.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32fast::hash(&r.data).to_le_bytes());
            bytes.extend_from_slice(&r.arrival_ms.to_le_bytes());
            bytes.extend_from_slice(&r.data);
        }
        std::fs::write(&path, bytes).unwrap();
        let (h, back) = read_buffer_file(&path).unwrap();
        assert_eq!(h, header(3));
        assert_eq!(back, records(2, "v1-"));
    }
}
