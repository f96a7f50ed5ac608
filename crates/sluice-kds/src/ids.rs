//! The identifiers clients see: 128-bit hash keys (MD5 routing), shard ids
//! (`shardId-000000000007`, read as AWS reads them) and sequence numbers.
//!
//! A sequence number has AWS's layout ([`SequenceNumber`]): 56 decimal
//! digits naming the shard (index and creation time), the record's
//! position in it and its arrival time, strictly increasing within a shard.
//! A client's number is read as AWS reads it ([`ParsedSequence`]), older
//! AWS layouts and Sluice's own earlier 42-digit form included.

use md5::{Digest, Md5};

/// Largest hash key, 2^128 - 1.
pub const MAX_HASH_KEY: u128 = u128::MAX;

/// The hash key AWS routes a partition key by: MD5 of its UTF-8 bytes as a big-endian integer.
pub fn partition_hash_key(partition_key: &str) -> u128 {
    let digest = Md5::digest(partition_key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest);
    u128::from_be_bytes(bytes)
}

/// Parses an ExplicitHashKey (decimal, 0..=2^128-1).
pub fn parse_hash_key(text: &str) -> Option<u128> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u128>().ok()
}

/// `n` contiguous hash-key ranges covering the whole key space, as AWS creates them.
pub fn uniform_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = u128::from(n.max(1));
    if n == 1 {
        return vec![(0, MAX_HASH_KEY)];
    }
    // 2^128 / n, without overflowing.
    let step = MAX_HASH_KEY / n + u128::from(MAX_HASH_KEY % n == n - 1);
    (0..n)
        .map(|i| {
            let start = i * step;
            let end = if i == n - 1 {
                MAX_HASH_KEY
            } else {
                (i + 1) * step - 1
            };
            (start, end)
        })
        .collect()
}

/// `shardId-` and the index in 12 digits.
pub fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// The index in a shard id, read as AWS reads it: the text after the last
/// `-` (or all of it when there is none, or nothing follows), all digits, at
/// most 2^31 - 1. So `shardId-000000000001`, `shard-1`, `x-1` and `1` all
/// name shard 1.
pub fn parse_shard_id(text: &str) -> Option<u32> {
    let digits = text
        .rsplit_once('-')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
        .unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > 10 {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()
        .or(digits.is_empty().then_some(0))
        .filter(|i| *i <= i32::MAX as u64)
        .map(|i| i as u32)
}

/// A record's sequence number in AWS's layout (its "version 2"): 47 hex
/// digits, written in decimal (56 digits):
///
/// | hex digits | field |
/// |---|---|
/// | 1 | `2` |
/// | 9 | the shard's creation time, epoch seconds |
/// | 1 | the last hex digit of the shard index |
/// | 16 | the record's position in the shard |
/// | 2 | `00` |
/// | 9 | the record's arrival time, epoch seconds |
/// | 8 | the shard index |
/// | 1 | `2` (the version) |
///
/// Within a shard the position dominates, so numbers grow with it. A number
/// names its shard (by index and creation time), so one used on another
/// shard or stream is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceNumber {
    /// Creation time of the shard, epoch seconds.
    pub shard_created_secs: u64,
    /// Index of the shard (the number in its shard id).
    pub shard_index: u32,
    /// Position of the record in the shard, from 0.
    pub position: u64,
    /// Arrival time of the record, epoch seconds.
    pub arrival_secs: u64,
}

/// What a client's sequence number says, read as AWS reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedSequence {
    /// The current layout ([`SequenceNumber`]); `shard_index` may be
    /// negative (AWS reads the field as a signed 32-bit number).
    V2 {
        /// The shard's creation time, epoch seconds.
        shard_created_secs: u64,
        /// The shard index.
        shard_index: i32,
        /// Position in the shard.
        position: u64,
        /// Arrival time, epoch seconds.
        arrival_secs: u64,
    },
    /// AWS's older layout (ends in `1`).
    V1 {
        /// The shard's creation time, epoch seconds.
        shard_created_secs: u64,
        /// The shard index.
        shard_index: i32,
        /// Arrival time, epoch seconds.
        arrival_secs: u64,
    },
    /// The oldest layout: numbers below 2^128 (smaller ones are read as if
    /// 2^124 were added).
    V0 {
        /// The shard's creation time, epoch seconds.
        shard_created_secs: u64,
        /// The shard index (16 bits).
        shard_index: i32,
    },
    /// Sluice's own earlier form (42 digits from `49`): stream id, shard
    /// index and position, still accepted so old checkpoints keep working.
    Legacy {
        /// Internal id of the stream.
        stream_id: u64,
        /// The shard index.
        shard_index: u32,
        /// Position in the shard.
        position: u64,
    },
}

impl ParsedSequence {
    /// The shard index the number names.
    pub fn shard_index(&self) -> i64 {
        match *self {
            ParsedSequence::V2 { shard_index, .. }
            | ParsedSequence::V1 { shard_index, .. }
            | ParsedSequence::V0 { shard_index, .. } => i64::from(shard_index),
            ParsedSequence::Legacy { shard_index, .. } => i64::from(shard_index),
        }
    }

    /// The arrival time it carries, epoch seconds (none in V0 and legacy numbers).
    pub fn arrival_secs(&self) -> Option<u64> {
        match *self {
            ParsedSequence::V2 { arrival_secs, .. } | ParsedSequence::V1 { arrival_secs, .. } => {
                Some(arrival_secs)
            }
            _ => None,
        }
    }
}

/// Creation times at or past this (in seconds) make a number invalid, as in AWS.
const MAX_CREATED_SECS: u64 = 16_025_175_000;

/// A 192-bit unsigned number as three 64-bit limbs, most significant first:
/// just what sequence numbers need (compose, read fields, decimal text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U192([u64; 3]);

impl U192 {
    fn or_field(&mut self, value: u64, shift: u32) {
        // A field of at most 64 bits at `shift` may span two limbs.
        let limb = (shift / 64) as usize;
        let offset = shift % 64;
        self.0[2 - limb] |= value << offset;
        if offset > 0 && limb < 2 {
            self.0[1 - limb] |= value >> (64 - offset);
        }
    }

    fn field(&self, shift: u32, width: u32) -> u64 {
        let limb = (shift / 64) as usize;
        let offset = shift % 64;
        let mut v = self.0[2 - limb] >> offset;
        if offset > 0 && limb < 2 {
            v |= self.0[1 - limb] << (64 - offset);
        }
        if width < 64 {
            v & ((1u64 << width) - 1)
        } else {
            v
        }
    }

    fn bits(&self) -> u32 {
        for (i, limb) in self.0.iter().enumerate() {
            if *limb != 0 {
                return (3 - i as u32) * 64 - limb.leading_zeros();
            }
        }
        0
    }

    /// Parses decimal digits; `None` past 192 bits.
    fn parse_decimal(text: &str) -> Option<U192> {
        let mut n = [0u64; 3];
        for b in text.bytes() {
            if !b.is_ascii_digit() {
                return None;
            }
            let mut carry = u128::from(b - b'0');
            for limb in n.iter_mut().rev() {
                let v = u128::from(*limb) * 10 + carry;
                *limb = v as u64;
                carry = v >> 64;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(U192(n))
    }

    fn to_decimal(self) -> String {
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        let mut n = self.0;
        let mut chunks = Vec::with_capacity(4);
        loop {
            let mut rem = 0u128;
            for limb in n.iter_mut() {
                let v = (rem << 64) | u128::from(*limb);
                *limb = (v / u128::from(CHUNK)) as u64;
                rem = v % u128::from(CHUNK);
            }
            chunks.push(rem as u64);
            if n == [0; 3] {
                break;
            }
        }
        let mut out = String::with_capacity(58);
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            out.push_str(&first.to_string());
        }
        for c in iter {
            out.push_str(&format!("{c:019}"));
        }
        out
    }
}

impl SequenceNumber {
    fn to_u192(self) -> U192 {
        let mut n = U192([0; 3]);
        n.or_field(2, 184);
        n.or_field(self.shard_created_secs & 0xf_ffff_ffff, 148);
        n.or_field(u64::from(self.shard_index & 0xf), 144);
        n.or_field(self.position & 0x7fff_ffff_ffff_ffff, 80);
        n.or_field(self.arrival_secs & 0xf_ffff_ffff, 36);
        n.or_field(u64::from(self.shard_index), 4);
        n.or_field(2, 0);
        n
    }

    /// Reads a client's sequence number as AWS does; `None` when AWS calls
    /// it invalid.
    pub fn parse(text: &str) -> Option<ParsedSequence> {
        if text.len() == 42 && text.starts_with("49") && text.bytes().all(|b| b.is_ascii_digit()) {
            return Some(ParsedSequence::Legacy {
                stream_id: text.get(2..12)?.parse().ok()?,
                shard_index: text.get(12..22)?.parse().ok()?,
                position: text.get(22..42)?.parse().ok()?,
            });
        }
        let mut n = U192::parse_decimal(text)?;
        if n.bits() <= 124 {
            n.or_field(1, 124);
        }
        let bits = n.bits();
        if bits <= 128 {
            // 32 hex digits: `1`, creation (9), then 16 bits of shard index at the end.
            let shard_created_secs = n.field(88, 36);
            if shard_created_secs >= MAX_CREATED_SECS {
                return None;
            }
            return Some(ParsedSequence::V0 {
                shard_created_secs,
                shard_index: n.field(0, 16) as i32,
            });
        }
        // 47 hex digits starting with `2` (186 bits), and more than 2^185.
        if bits != 186 || n.field(184, 4) != 2 || n.0 == [2 << 56, 0, 0] {
            return None;
        }
        let shard_created_secs = n.field(148, 36);
        let shard_index = n.field(4, 32) as u32 as i32;
        match n.field(0, 4) {
            2 => {
                let position = n.field(80, 64);
                if position >> 63 != 0 || shard_created_secs >= MAX_CREATED_SECS {
                    return None;
                }
                Some(ParsedSequence::V2 {
                    shard_created_secs,
                    shard_index,
                    position,
                    arrival_secs: n.field(36, 36),
                })
            }
            1 => Some(ParsedSequence::V1 {
                shard_created_secs,
                shard_index,
                arrival_secs: n.field(100, 36),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_u192().to_decimal())
    }
}

/// The shard id AWS prints for a possibly negative index (`shardId--02147483648`).
pub fn signed_shard_id(index: i64) -> String {
    if index < 0 {
        format!("shardId--{:011}", index.unsigned_abs())
    } else {
        format!("shardId-{index:012}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_routing_matches_aws() {
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(
            partition_hash_key("a"),
            0x0cc175b9c0f1b6a831c399e269772661_u128
        );
    }

    #[test]
    fn uniform_ranges_cover_key_space() {
        let two = uniform_ranges(2);
        assert_eq!(two[0], (0, (1u128 << 127) - 1));
        assert_eq!(two[1], (1u128 << 127, MAX_HASH_KEY));
        for n in [1u32, 3, 4, 7, 100] {
            let r = uniform_ranges(n);
            assert_eq!(r.len(), n as usize);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[r.len() - 1].1, MAX_HASH_KEY);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
        }
    }

    fn hex(n: &str) -> String {
        // Decimal text of a hex number, via U192.
        let mut v = U192([0; 3]);
        for (i, c) in n.chars().rev().enumerate() {
            v.or_field(u64::from(c.to_digit(16).unwrap()), 4 * i as u32);
        }
        v.to_decimal()
    }

    #[test]
    fn sequence_numbers_have_aws_structure_and_order() {
        let a = SequenceNumber {
            shard_created_secs: 1_700_000_000,
            shard_index: 3,
            position: 9,
            arrival_secs: 1_700_000_100,
        };
        let b = SequenceNumber { position: 10, ..a };
        let (sa, sb) = (a.to_string(), b.to_string());
        assert_eq!(sa.len(), 56);
        assert!(sa < sb);
        // 2 | 06553f100 | 3 | 0000000000000009 | 00 | 06553f164 | 00000003 | 2
        assert_eq!(sa, hex("206553f100300000000000000090006553f164000000032"));
        match SequenceNumber::parse(&sa) {
            Some(ParsedSequence::V2 {
                shard_created_secs,
                shard_index,
                position,
                arrival_secs,
            }) => {
                assert_eq!(
                    (shard_created_secs, shard_index, position, arrival_secs),
                    (1_700_000_000, 3, 9, 1_700_000_100)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_shard_id("shardId-000000000003"), Some(3));
        assert_eq!(parse_shard_id("3"), Some(3));
        assert_eq!(parse_shard_id("shardId-x"), None);
    }

    #[test]
    fn client_sequence_numbers_read_as_aws_reads_them() {
        // Small numbers are version 0 with the low 16 bits as the shard index.
        assert!(matches!(
            SequenceNumber::parse("5"),
            Some(ParsedSequence::V0 { shard_index: 5, .. })
        ));
        // A creation time too large.
        assert_eq!(
            SequenceNumber::parse(&hex("13bb2cc3d80000000000000000000000")),
            None
        );
        // A position with its top bit set.
        assert_eq!(
            SequenceNumber::parse(&hex("20000000000800000000000000000000000000000000002")),
            None
        );
        // A shard index with its top bit set is negative.
        let p =
            SequenceNumber::parse(&hex("20000000000000000000000000000000000000800000002")).unwrap();
        assert_eq!(signed_shard_id(p.shard_index()), "shardId--02147483648");
        // Versions 0, 3 and 4 in the last digit, and a first digit of 1 or 3.
        for bad in [
            "20000000000000000000000000000000000000000000000",
            "20000000000000000000000000000000000000000000003",
            "20000000000000000000000000000000000000000000004",
            "30000000000000000000000000000000000000000000002",
            "1ffffffffff7fffffffffffffff000000000007fffffff2",
        ] {
            assert_eq!(SequenceNumber::parse(&hex(bad)), None, "{bad}");
        }
        assert!(matches!(
            SequenceNumber::parse(&hex("20000000000000000000000000000000000000000000001")),
            Some(ParsedSequence::V1 { .. })
        ));
        // Sluice's earlier 42-digit form.
        assert_eq!(
            SequenceNumber::parse("490000000007000000000300000000000000000009"),
            Some(ParsedSequence::Legacy {
                stream_id: 7,
                shard_index: 3,
                position: 9
            })
        );
        assert_eq!(SequenceNumber::parse("12a"), None);
    }
}
