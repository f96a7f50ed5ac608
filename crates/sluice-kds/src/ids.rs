//! The identifiers clients see: 128-bit hash keys (MD5 routing), shard ids
//! (`shardId-000000000007`) and decimal sequence numbers.
//!
//! A sequence number is 42 decimal digits: `49`, the stream's internal id
//! (10 digits), the shard's index (10 digits) and the record's position in
//! the shard (20 digits). Fixed width makes string order equal numeric order,
//! so numbers are strictly increasing within a shard, and a number from
//! another shard or stream is recognised as such.

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

/// The index in a shard id; accepts `shardId-000000000001` and, like AWS, a bare `1`.
pub fn parse_shard_id(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("shardId-").unwrap_or(text);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().filter(|i| *i <= i32::MAX as u32)
}

/// A record's place: stream, shard and position within the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber {
    /// Internal id of the stream.
    pub stream_id: u64,
    /// Index of the shard (the number in its shard id).
    pub shard_index: u32,
    /// Position of the record in the shard, from 0.
    pub position: u64,
}

const STREAM_ID_LIMIT: u64 = 10_000_000_000;

impl SequenceNumber {
    /// Parses the 42-digit form; `None` for anything else.
    pub fn parse(text: &str) -> Option<SequenceNumber> {
        if text.len() != 42 || !text.starts_with("49") || !text.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let stream_id = text.get(2..12)?.parse::<u64>().ok()?;
        let shard_index = text.get(12..22)?.parse::<u32>().ok()?;
        let position = text.get(22..42)?.parse::<u64>().ok()?;
        Some(SequenceNumber {
            stream_id,
            shard_index,
            position,
        })
    }

    /// True if the stream id fits the fixed-width form.
    pub fn valid_stream_id(stream_id: u64) -> bool {
        stream_id < STREAM_ID_LIMIT
    }
}

impl std::fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // "49" + 10 + 10 + 20 zero-padded digits, written without the
        // formatter's padding machinery (this is on the PutRecords hot path).
        fn digits(out: &mut [u8], mut n: u64) {
            for d in out.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        let mut buf = [0u8; 42];
        buf[0] = b'4';
        buf[1] = b'9';
        digits(&mut buf[2..12], self.stream_id);
        digits(&mut buf[12..22], u64::from(self.shard_index));
        digits(&mut buf[22..42], self.position);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| std::fmt::Error)?)
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

    #[test]
    fn sequence_numbers_round_trip_and_order() {
        let a = SequenceNumber {
            stream_id: 7,
            shard_index: 3,
            position: 9,
        };
        let b = SequenceNumber { position: 10, ..a };
        let (sa, sb) = (a.to_string(), b.to_string());
        assert_eq!(sa.len(), 42);
        assert!(sa < sb);
        assert_eq!(SequenceNumber::parse(&sa), Some(a));
        assert_eq!(SequenceNumber::parse("123"), None);
        assert_eq!(parse_shard_id("shardId-000000000003"), Some(3));
        assert_eq!(parse_shard_id("3"), Some(3));
        assert_eq!(parse_shard_id("shardId-x"), None);
    }
}
