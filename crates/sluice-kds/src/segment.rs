//! The on-disk format of a shard: segment files of CRC32C-checked record
//! batches, and the scan that checks them when a shard is opened.
//!
//! # Layout
//!
//! ```text
//! DATA_DIR/catalog.json                     streams, shards, tags (see catalog.rs)
//! DATA_DIR/streams/<stream id, 10 digits>/<shard index, 10 digits>/<first position, 20 digits>.seg
//! ```
//!
//! Stream names never appear in paths: streams are stored under internal ids.
//!
//! # Segment file
//!
//! ```text
//! segment  = header batch*
//! header   = magic "SLKDSEG1" (8 bytes) | first position u64
//! batch    = magic u32 "KBAT" | payload length u32 | payload CRC32C u32
//!            | header CRC32C u32 (of the previous 12 bytes) | payload
//! payload  = first position u64 | arrival ms i64 | record count u32 | record*
//! record   = partition key length u16 | partition key (UTF-8)
//!            | explicit hash key length u8 | explicit hash key (decimal ASCII, may be empty)
//!            | data length u32 | data
//! ```
//!
//! All integers are little-endian. One PutRecord(s) call into one shard is
//! one batch. Its producer encodes the records ([`UnsealedBatch`]); the
//! leader of the group commit that takes it fills in the fixed fields and
//! the CRCs as it lays the group out. Batches handed in while the shard is
//! busy syncing are written together, one after the other, with one `write`
//! and one `fdatasync` (group commit, see shard.rs); none is acknowledged
//! before that sync. Positions run on without gaps from batch to batch and
//! segment to segment.
//!
//! # Preallocation
//!
//! The segment being written runs ahead of its data with zero bytes
//! written and synced (see shard.rs): a group then overwrites blocks the
//! file already has, so its `fdatasync` flushes data alone, not the file's
//! size and block map through the filesystem's journal. A full segment is
//! cut back to its data before the next one is created, so only a shard's
//! last segment ever ends in zeros.
//!
//! # Recovery
//!
//! In the last segment of a shard, a tail of zero bytes is the unwritten
//! preallocation (kept as it is). A batch that is cut short (header or
//! payload past the end of file), or whose header or payload is bad while
//! nothing but zero bytes follows it (up to the end of file), is a torn
//! write: the file is truncated to the last whole batch. Any other damage
//! (a bad batch with data behind it, a gap in positions, damage in an
//! earlier segment) is [`KdsError::Corrupt`] and stops the shard.
//!
//! A process crash (SIGKILL) cannot tear a write: the page cache keeps it.
//! A power cut can, and may leave a hole inside the last, unsynced group
//! rather than at its end; such a hole with whole data behind it reads as
//! damage and stops the shard, so no record is ever silently dropped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{KdsError, Result};

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SLKDSEG1";
/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: u64 = 16;
/// Magic at the start of every batch ("KBAT").
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"KBAT");
/// Bytes in a batch header.
pub const BATCH_HEADER_LEN: u64 = 16;
/// Bytes in the fixed part of a batch payload.
const PAYLOAD_FIXED_LEN: usize = 20;
/// Largest payload accepted when reading (a PutRecords call is at most ~5 MiB).
pub const MAX_PAYLOAD_LEN: u32 = 64 << 20;

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The partition key.
    pub partition_key: String,
    /// The explicit hash key, if the producer gave one.
    pub explicit_hash_key: Option<String>,
    /// The data blob.
    pub data: Vec<u8>,
}

/// What the index keeps about a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Offset of the batch header in its segment.
    pub offset: u64,
    /// Bytes of the batch, header included.
    pub len: u64,
    /// Position of its first record.
    pub first_position: u64,
    /// Records in it.
    pub count: u32,
    /// Approximate arrival time of all its records, ms since the epoch.
    pub arrival_ms: i64,
}

/// A segment header for a segment whose first record is at `first_position`.
pub fn encode_segment_header(first_position: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..].copy_from_slice(&first_position.to_le_bytes());
    h
}

/// Records parts at least this long get their CRC before the batch is
/// sealed, combined with the fixed fields' CRC when sealing; shorter ones
/// are checksummed whole when sealing, which is cheaper than combining.
const COMBINE_FROM: usize = 64 << 10;

/// A batch's records, encoded (and, when large, checksummed) before the
/// batch gets its position and arrival time: the costly part of encoding,
/// done by the producer outside the shard's commit lock.
/// [`UnsealedBatch::seal_in_place`] then fills in the fixed fields and the
/// CRCs: in constant time for a large batch (its records' CRC combined with
/// the fixed fields'), by one pass of the hardware CRC for a small one.
#[derive(Debug)]
pub struct UnsealedBatch {
    /// Room for the batch header and the fixed payload fields, then the records.
    bytes: Vec<u8>,
    /// CRC32C of the records part alone, for records parts of at least
    /// [`COMBINE_FROM`] bytes.
    records_crc: Option<u32>,
    /// Records in the batch.
    count: u32,
}

impl UnsealedBatch {
    /// Encodes `records`.
    pub fn new(records: &[StoredRecord]) -> UnsealedBatch {
        let size: usize = records
            .iter()
            .map(|r| {
                7 + r.partition_key.len()
                    + r.explicit_hash_key.as_ref().map_or(0, String::len)
                    + r.data.len()
            })
            .sum();
        let fixed = BATCH_HEADER_LEN as usize + PAYLOAD_FIXED_LEN;
        let mut out = Vec::with_capacity(fixed + size);
        out.resize(fixed, 0);
        for r in records {
            // Lengths are bounded by the API (256 chars, 39 digits, 1 MiB).
            out.extend_from_slice(&(r.partition_key.len() as u16).to_le_bytes());
            out.extend_from_slice(r.partition_key.as_bytes());
            let ehk = r.explicit_hash_key.as_deref().unwrap_or("");
            out.push(ehk.len() as u8);
            out.extend_from_slice(ehk.as_bytes());
            out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&r.data);
        }
        let part = &out[fixed..];
        UnsealedBatch {
            records_crc: (part.len() >= COMBINE_FROM).then(|| crc32c::crc32c(part)),
            count: records.len() as u32,
            bytes: out,
        }
    }

    /// Records in the batch.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes the sealed batch takes, header included.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if the batch holds no bytes (never: the header is always there).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Seals the batch for a first record at `first_position` and records
    /// that arrived at `arrival_ms`; returns the whole batch, header
    /// included. Sealing again (with other values) rewrites the same bytes.
    pub fn seal_in_place(&mut self, first_position: u64, arrival_ms: i64) -> &[u8] {
        let h = BATCH_HEADER_LEN as usize;
        let fixed_end = h + PAYLOAD_FIXED_LEN;
        let records_len = self.bytes.len() - fixed_end;
        let fixed = &mut self.bytes[h..fixed_end];
        fixed[0..8].copy_from_slice(&first_position.to_le_bytes());
        fixed[8..16].copy_from_slice(&arrival_ms.to_le_bytes());
        fixed[16..20].copy_from_slice(&self.count.to_le_bytes());
        let payload_crc = match self.records_crc {
            Some(records_crc) => {
                crc32c::crc32c_combine(crc32c::crc32c(fixed), records_crc, records_len)
            }
            None => crc32c::crc32c(&self.bytes[h..]),
        };
        let payload_len = (self.bytes.len() - h) as u32;
        self.bytes[0..4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
        self.bytes[4..8].copy_from_slice(&payload_len.to_le_bytes());
        self.bytes[8..12].copy_from_slice(&payload_crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&self.bytes[0..12]);
        self.bytes[12..16].copy_from_slice(&header_crc.to_le_bytes());
        &self.bytes
    }

    /// [`Self::seal_in_place`], handing the bytes over.
    pub fn seal(mut self, first_position: u64, arrival_ms: i64) -> Vec<u8> {
        self.seal_in_place(first_position, arrival_ms);
        self.bytes
    }
}

/// Encodes one batch, header included.
pub fn encode_batch(first_position: u64, arrival_ms: i64, records: &[StoredRecord]) -> Vec<u8> {
    UnsealedBatch::new(records).seal(first_position, arrival_ms)
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Checks a batch header; returns (payload length, payload CRC).
fn parse_batch_header(h: &[u8]) -> Option<(u32, u32)> {
    let magic = le_u32(h, 0)?;
    let len = le_u32(h, 4)?;
    let crc = le_u32(h, 8)?;
    let hcrc = le_u32(h, 12)?;
    (magic == BATCH_MAGIC && hcrc == crc32c::crc32c(h.get(0..12)?) && len <= MAX_PAYLOAD_LEN)
        .then_some((len, crc))
}

/// The fixed part of a payload: (first position, arrival ms, count).
fn parse_payload_fixed(p: &[u8]) -> Option<(u64, i64, u32)> {
    Some((le_u64(p, 0)?, le_u64(p, 8)? as i64, le_u32(p, 16)?))
}

/// Decodes the records of a payload whose CRC has been checked.
pub fn decode_records(payload: &[u8]) -> Option<Vec<StoredRecord>> {
    let (_, _, count) = parse_payload_fixed(payload)?;
    let mut at = PAYLOAD_FIXED_LEN;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let pk_len = le_u16(payload, at)? as usize;
        at += 2;
        let pk = std::str::from_utf8(payload.get(at..at + pk_len)?).ok()?;
        at += pk_len;
        let ehk_len = *payload.get(at)? as usize;
        at += 1;
        let ehk = std::str::from_utf8(payload.get(at..at + ehk_len)?).ok()?;
        at += ehk_len;
        let data_len = le_u32(payload, at)? as usize;
        at += 4;
        let data = payload.get(at..at + data_len)?.to_vec();
        at += data_len;
        out.push(StoredRecord {
            partition_key: pk.to_owned(),
            explicit_hash_key: (!ehk.is_empty()).then(|| ehk.to_owned()),
            data,
        });
    }
    (at == payload.len()).then_some(out)
}

/// Reads and checks the batch at `info` and returns its records.
pub fn read_batch(file: &File, path: &Path, info: &BatchInfo) -> Result<Vec<StoredRecord>> {
    let mut buf = vec![0u8; info.len as usize];
    file.read_exact_at(&mut buf, info.offset)
        .map_err(KdsError::io(path))?;
    let corrupt = |reason| KdsError::Corrupt {
        path: path.to_path_buf(),
        offset: info.offset,
        reason,
    };
    let (len, crc) = parse_batch_header(&buf).ok_or_else(|| corrupt("bad batch header"))?;
    let payload = buf
        .get(BATCH_HEADER_LEN as usize..)
        .filter(|p| p.len() == len as usize && crc32c::crc32c(p) == crc)
        .ok_or_else(|| corrupt("batch checksum mismatch"))?;
    decode_records(payload).ok_or_else(|| corrupt("undecodable records"))
}

/// What scanning a segment found.
#[derive(Debug)]
pub struct ScannedSegment {
    /// Position of the segment's first record (from its header).
    pub first_position: u64,
    /// The whole batches, in order.
    pub batches: Vec<BatchInfo>,
    /// Length of the valid part; shorter than the file if a torn tail was found.
    pub valid_len: u64,
    /// True if bytes past `valid_len` were a torn write or zeros.
    pub torn: bool,
    /// True if every byte past `valid_len` is zero (preallocated, or a
    /// torn write that left nothing behind): the file needs no truncation.
    pub zero_tail: bool,
}

/// Scans a segment file, checking every batch.
///
/// `last` says whether this is the shard's last segment, the only place a
/// torn write may be. `expected_first` is the position the previous segment
/// ended at (`None` for the first segment of a shard).
pub fn scan_segment(
    file: &File,
    path: &Path,
    last: bool,
    expected_first: Option<u64>,
) -> Result<ScannedSegment> {
    let file_len = file.metadata().map_err(KdsError::io(path))?.len();
    let corrupt = |offset, reason| KdsError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    if file_len < SEGMENT_HEADER_LEN {
        // A segment whose creation was cut short: only possible at the end.
        return match (last, expected_first) {
            (true, Some(first)) => Ok(ScannedSegment {
                first_position: first,
                batches: Vec::new(),
                valid_len: 0,
                torn: true,
                zero_tail: false,
            }),
            _ => Err(corrupt(0, "segment header missing")),
        };
    }
    file.read_exact_at(&mut header, 0)
        .map_err(KdsError::io(path))?;
    if &header[..8] != SEGMENT_MAGIC {
        return Err(corrupt(0, "bad segment magic"));
    }
    let first_position = le_u64(&header, 8).ok_or_else(|| corrupt(0, "bad segment header"))?;
    if expected_first.is_some_and(|e| e != first_position) {
        return Err(corrupt(0, "gap in positions between segments"));
    }
    // Read the rest in one go: segments are bounded in size.
    let mut body = vec![0u8; (file_len - SEGMENT_HEADER_LEN) as usize];
    file.read_exact_at(&mut body, SEGMENT_HEADER_LEN)
        .map_err(KdsError::io(path))?;

    let mut batches = Vec::new();
    let mut at = 0usize;
    let mut next_position = first_position;
    let torn = loop {
        let offset = SEGMENT_HEADER_LEN + at as u64;
        let rest = &body[at..];
        if rest.is_empty() {
            break false;
        }
        let tail_is_torn = |reason| {
            if last {
                Ok(true)
            } else {
                Err(corrupt(offset, reason))
            }
        };
        if rest.len() < BATCH_HEADER_LEN as usize {
            break tail_is_torn("batch header cut short")?;
        }
        let zeros = |from: usize| rest[from.min(rest.len())..].iter().all(|b| *b == 0);
        let Some((len, crc)) = parse_batch_header(&rest[..BATCH_HEADER_LEN as usize]) else {
            if zeros(0) {
                break tail_is_torn("zeroed tail")?;
            }
            if zeros(BATCH_HEADER_LEN as usize) {
                break tail_is_torn("bad batch header")?;
            }
            return Err(corrupt(offset, "bad batch header"));
        };
        let end = BATCH_HEADER_LEN as usize + len as usize;
        if rest.len() < end {
            break tail_is_torn("batch cut short")?;
        }
        let payload = &rest[BATCH_HEADER_LEN as usize..end];
        if crc32c::crc32c(payload) != crc {
            if zeros(end) {
                break tail_is_torn("batch checksum mismatch")?;
            }
            return Err(corrupt(offset, "batch checksum mismatch"));
        }
        let (pos, arrival_ms, count) =
            parse_payload_fixed(payload).ok_or_else(|| corrupt(offset, "short payload"))?;
        if pos != next_position {
            return Err(corrupt(offset, "gap in positions"));
        }
        batches.push(BatchInfo {
            offset,
            len: end as u64,
            first_position: pos,
            count,
            arrival_ms,
        });
        next_position += u64::from(count);
        at += end;
    };
    Ok(ScannedSegment {
        first_position,
        batches,
        valid_len: SEGMENT_HEADER_LEN + at as u64,
        torn,
        zero_tail: body[at..].iter().all(|b| *b == 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rec(pk: &str, data: &[u8]) -> StoredRecord {
        StoredRecord {
            partition_key: pk.into(),
            explicit_hash_key: None,
            data: data.to_vec(),
        }
    }

    fn write_segment(path: &Path, batches: &[Vec<u8>]) -> Vec<u64> {
        let mut f = File::create(path).unwrap();
        f.write_all(&encode_segment_header(0)).unwrap();
        let mut ends = Vec::new();
        let mut len = SEGMENT_HEADER_LEN;
        for b in batches {
            f.write_all(b).unwrap();
            len += b.len() as u64;
            ends.push(len);
        }
        ends
    }

    fn three_batches() -> Vec<Vec<u8>> {
        vec![
            encode_batch(0, 10, &[rec("a", b"one"), rec("b", b"two")]),
            encode_batch(2, 11, &[rec("c", b"three")]),
            encode_batch(
                3,
                12,
                &[StoredRecord {
                    partition_key: "d".into(),
                    explicit_hash_key: Some("42".into()),
                    data: b"four".to_vec(),
                }],
            ),
        ]
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.seg");
        write_segment(&path, &three_batches());
        let f = File::open(&path).unwrap();
        let s = scan_segment(&f, &path, true, Some(0)).unwrap();
        assert!(!s.torn);
        assert_eq!(s.batches.len(), 3);
        let r = read_batch(&f, &path, &s.batches[2]).unwrap();
        assert_eq!(r[0].explicit_hash_key.as_deref(), Some("42"));
        assert_eq!(r[0].data, b"four");
        assert_eq!(s.batches[1].first_position, 2);
    }

    #[test]
    fn small_and_large_batches_seal_alike() {
        // Below COMBINE_FROM the payload CRC is computed whole when sealing;
        // from it on, combined with the records' CRC taken beforehand. Both
        // give the CRC of the whole payload, and sealing twice rewrites it.
        let small = vec![rec("s", b"x")];
        let large = vec![rec("l", &vec![7u8; COMBINE_FROM]); 2];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.seg");
        let mut resealed = UnsealedBatch::new(&small);
        resealed.seal_in_place(99, 99);
        let batches = vec![
            resealed.seal_in_place(0, 5).to_vec(),
            UnsealedBatch::new(&large).seal(1, 6),
            encode_batch(3, 7, &small),
        ];
        write_segment(&path, &batches);
        let f = File::open(&path).unwrap();
        let s = scan_segment(&f, &path, true, Some(0)).unwrap();
        assert!(!s.torn);
        assert_eq!(s.batches.len(), 3);
        assert_eq!(read_batch(&f, &path, &s.batches[0]).unwrap(), small);
        assert_eq!(read_batch(&f, &path, &s.batches[1]).unwrap(), large);
        assert_eq!(s.batches[1].arrival_ms, 6);
        assert_eq!(s.batches[2].first_position, 3);
    }

    #[test]
    fn truncated_tail_at_every_offset_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.seg");
        let ends = write_segment(&path, &three_batches());
        let (start_last, end_last) = (ends[1], ends[2]);
        for cut in start_last..end_last {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            write_segment(&path, &three_batches());
            f.set_len(cut).unwrap();
            let s = scan_segment(&f, &path, true, Some(0)).unwrap();
            assert_eq!(s.batches.len(), 2, "cut at {cut}");
            assert_eq!(s.valid_len, start_last);
            assert_eq!(s.torn, cut != start_last);
            // Not the last segment: the same cut is corruption.
            if cut != start_last {
                assert!(scan_segment(&f, &path, false, Some(0)).is_err());
            }
        }
    }

    #[test]
    fn flipped_bit_mid_segment_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.seg");
        let ends = write_segment(&path, &three_batches());
        // Flip every bit of the first batch, one at a time.
        for byte in SEGMENT_HEADER_LEN..ends[0] {
            for bit in 0..8 {
                write_segment(&path, &three_batches());
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .unwrap();
                let mut b = [0u8; 1];
                f.read_exact_at(&mut b, byte).unwrap();
                b[0] ^= 1 << bit;
                f.write_all_at(&b, byte).unwrap();
                let err = scan_segment(&f, &path, true, Some(0)).unwrap_err();
                assert!(
                    matches!(err, KdsError::Corrupt { offset, .. } if offset == SEGMENT_HEADER_LEN),
                    "byte {byte} bit {bit}: {err}"
                );
            }
        }
    }

    /// A segment of [`three_batches`] followed by 4 KiB of zeros (as
    /// preallocated): its directory, path, batch ends and the open file.
    fn three_batches_then_zeros() -> (tempfile::TempDir, std::path::PathBuf, Vec<u64>, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.seg");
        let ends = write_segment(&path, &three_batches());
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        f.set_len(ends[2] + 4096).unwrap();
        (dir, path, ends, f)
    }

    #[test]
    fn half_written_batch_in_zeros_is_torn() {
        let (_dir, path, ends, f) = three_batches_then_zeros();
        // Only the first bytes of the third batch's header reached the disk.
        f.write_all_at(&[0; 16], ends[1] + 5).unwrap();
        f.write_all_at(&vec![0; (ends[2] - ends[1] - 21) as usize], ends[1] + 21)
            .unwrap();
        let s = scan_segment(&f, &path, true, Some(0)).unwrap();
        assert_eq!((s.batches.len(), s.valid_len), (2, ends[1]));
        assert!(s.torn && !s.zero_tail);
        // Nowhere but the last segment.
        let err = scan_segment(&f, &path, false, Some(0)).unwrap_err();
        assert!(err.to_string().contains("bad batch header"), "{err}");
    }

    #[test]
    fn zeroed_tail_is_torn() {
        let (_dir, path, ends, f) = three_batches_then_zeros();
        let s = scan_segment(&f, &path, true, Some(0)).unwrap();
        assert_eq!(s.batches.len(), 3);
        assert!(s.torn);
        assert_eq!(s.valid_len, ends[2]);
    }
}
