//! Record de-aggregation: [`kpl_records`] opens a record aggregated by the
//! Kinesis Producer Library into its user records, and [`split`] applies the
//! `RecordDeAggregation` processor (`SubRecordType` `JSON` or `DELIMITED`).
//!
//! # KPL aggregated record format
//!
//! ```text
//! magic     4 bytes  F3 89 9A C2
//! message   protobuf AggregatedRecord
//! checksum  16 bytes MD5 of the message
//! ```
//!
//! `AggregatedRecord` is `repeated string partition_key_table = 1; repeated
//! string explicit_hash_key_table = 2; repeated Record records = 3`, and
//! `Record` is `uint64 partition_key_index = 1; uint64
//! explicit_hash_key_index = 2; bytes data = 3; repeated Tag tags = 4`.
//! As in the KCL, a record without the magic, with a wrong checksum or a
//! message that does not parse is an ordinary (not aggregated) record.

use bytes::Bytes;
use md5::{Digest, Md5};

/// The first four bytes of a KPL aggregated record.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const MD5_LEN: usize = 16;

/// The user records inside a KPL aggregated record, or None when `data` is
/// not one.
pub fn kpl_records(data: &Bytes) -> Option<Vec<Bytes>> {
    if data.len() < KPL_MAGIC.len() + MD5_LEN || data[..4] != KPL_MAGIC {
        return None;
    }
    let body = &data[4..data.len() - MD5_LEN];
    let digest = Md5::digest(body);
    if digest[..] != data[data.len() - MD5_LEN..] {
        return None;
    }
    let base = 4;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let (field, wire) = read_key(body, &mut pos)?;
        match (field, wire) {
            (3, 2) => {
                let (start, end) = read_len(body, &mut pos)?;
                if let Some(d) = record_data(&body[start..end])? {
                    out.push(data.slice(base + start + d.0..base + start + d.1));
                } else {
                    out.push(Bytes::new());
                }
            }
            _ => skip(body, wire, &mut pos)?,
        }
    }
    Some(out)
}

/// The byte range of `data` (field 3) in one `Record` message.
fn record_data(msg: &[u8]) -> Option<Option<(usize, usize)>> {
    let mut pos = 0;
    let mut found = None;
    while pos < msg.len() {
        let (field, wire) = read_key(msg, &mut pos)?;
        if field == 3 && wire == 2 {
            found = Some(read_len(msg, &mut pos)?);
        } else {
            skip(msg, wire, &mut pos)?;
        }
    }
    Some(found)
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn read_key(b: &[u8], pos: &mut usize) -> Option<(u64, u8)> {
    let k = read_varint(b, pos)?;
    Some((k >> 3, (k & 7) as u8))
}

fn read_len(b: &[u8], pos: &mut usize) -> Option<(usize, usize)> {
    let len = usize::try_from(read_varint(b, pos)?).ok()?;
    let start = *pos;
    let end = start.checked_add(len).filter(|e| *e <= b.len())?;
    *pos = end;
    Some((start, end))
}

fn skip(b: &[u8], wire: u8, pos: &mut usize) -> Option<()> {
    match wire {
        0 => {
            read_varint(b, pos)?;
        }
        1 => *pos = pos.checked_add(8).filter(|p| *p <= b.len())?,
        2 => {
            read_len(b, pos)?;
        }
        5 => *pos = pos.checked_add(4).filter(|p| *p <= b.len())?,
        _ => return None,
    }
    Some(())
}

/// How the `RecordDeAggregation` processor splits records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubRecords {
    /// Concatenated JSON documents, one sub-record each.
    Json,
    /// Sub-records separated by this delimiter.
    Delimited(Vec<u8>),
}

/// Splits one record into sub-records (KPL aggregated records are opened
/// first). A JSON record that does not parse stays whole.
pub fn split(data: &Bytes, how: Option<&SubRecords>) -> Vec<Bytes> {
    let parts = kpl_records(data).unwrap_or_else(|| vec![data.clone()]);
    let Some(how) = how else { return parts };
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match how {
            SubRecords::Json => {
                let mut it =
                    serde_json::Deserializer::from_slice(&p).into_iter::<serde::de::IgnoredAny>();
                let mut start = 0;
                let mut pieces = Vec::new();
                let mut ok = true;
                while let Some(doc) = it.next() {
                    if doc.is_err() {
                        ok = false;
                        break;
                    }
                    let end = it.byte_offset();
                    let piece = p.slice(start..end);
                    let trimmed = piece.iter().position(|b| !b.is_ascii_whitespace());
                    pieces.push(match trimmed {
                        Some(s) => piece.slice(s..),
                        None => piece,
                    });
                    start = end;
                }
                if ok && !pieces.is_empty() {
                    out.extend(pieces);
                } else {
                    out.push(p);
                }
            }
            SubRecords::Delimited(d) if !d.is_empty() => {
                let mut start = 0;
                let mut i = 0;
                while i + d.len() <= p.len() {
                    if p[i..i + d.len()] == d[..] {
                        out.push(p.slice(start..i));
                        i += d.len();
                        start = i;
                    } else {
                        i += 1;
                    }
                }
                if start < p.len() {
                    out.push(p.slice(start..));
                }
            }
            SubRecords::Delimited(_) => out.push(p),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(n: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(n << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// An aggregated record as the KPL writes it.
    pub(crate) fn aggregate(records: &[&[u8]]) -> Bytes {
        let mut msg = Vec::new();
        field(1, b"pk", &mut msg);
        for r in records {
            let mut rec = Vec::new();
            varint(1 << 3, &mut rec);
            varint(0, &mut rec);
            field(3, r, &mut rec);
            field(3, &rec, &mut msg);
        }
        let mut out = KPL_MAGIC.to_vec();
        out.extend_from_slice(&msg);
        out.extend_from_slice(&Md5::digest(&msg));
        Bytes::from(out)
    }

    #[test]
    fn opens_kpl_records_and_checks_md5() {
        let agg = aggregate(&[b"one", b"", b"three"]);
        let recs = kpl_records(&agg).unwrap();
        assert_eq!(recs, vec![&b"one"[..], &b""[..], &b"three"[..]]);
        let mut bad = agg.to_vec();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(kpl_records(&Bytes::from(bad.clone())).is_none());
        assert_eq!(
            split(&Bytes::from(bad.clone()), None),
            vec![Bytes::from(bad)]
        );
        assert!(kpl_records(&Bytes::from_static(b"plain")).is_none());
    }

    #[test]
    fn sub_records() {
        let r = Bytes::from_static(b"{\"a\":1}\n{\"a\":2} {\"b\":[3]}");
        assert_eq!(
            split(&r, Some(&SubRecords::Json)),
            vec![&b"{\"a\":1}"[..], &b"{\"a\":2}"[..], &b"{\"b\":[3]}"[..]]
        );
        let bad = Bytes::from_static(b"{\"a\":1}{oops");
        assert_eq!(split(&bad, Some(&SubRecords::Json)), vec![bad.clone()]);
        let d = Bytes::from_static(b"a||b||c");
        assert_eq!(
            split(&d, Some(&SubRecords::Delimited(b"||".to_vec()))),
            vec![&b"a"[..], &b"b"[..], &b"c"[..]]
        );
        let agg = aggregate(&[b"{\"x\":1}{\"x\":2}", b"{\"x\":3}"]);
        assert_eq!(split(&agg, Some(&SubRecords::Json)).len(), 3);
    }
}
