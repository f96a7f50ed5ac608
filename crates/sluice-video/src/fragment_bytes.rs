//! A fragment's bytes as slices of the buffers they arrived in: the
//! splitter cuts a PutMedia body into fragments without copying it, the
//! store writes the slices with one `writev`, and the client sends them on
//! as they are. Entry point: [`FragmentBytes`].
//!
//! Elements that follow each other in one input buffer are kept as one
//! slice ([`FragmentBytes::push_slice`]): a fragment read from inputs of
//! 512 KiB is a few slices, not one per frame, so the client sends it in a
//! few large HTTP chunks rather than one small chunk per frame.

use std::io::{IoSlice, Write};
use std::ops::Range;

use bytes::{Bytes, BytesMut};

/// The bytes of one fragment, in order, as shared slices.
#[derive(Debug, Clone, Default)]
pub struct FragmentBytes {
    chunks: Vec<Bytes>,
    len: usize,
    /// Where the last slice came from, when [`FragmentBytes::push_slice`]
    /// took it: the next range of the same buffer extends it.
    tail: Option<Tail>,
}

/// The last slice as a range of its source buffer, which is known by its
/// address and length. While the slice lives its memory cannot be reused,
/// so a buffer with the same address and length is a view of the same
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    addr: usize,
    source_len: usize,
    start: usize,
    end: usize,
}

impl FragmentBytes {
    /// Appends `bytes` (an empty slice is left out).
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chunks.push(bytes);
            self.tail = None;
        }
    }

    /// Appends `source[range]`; when the last slice ends where `range`
    /// starts in the same buffer, the two become one slice.
    ///
    /// # Panics
    ///
    /// When `range` is out of `source`'s bounds (as [`Bytes::slice`]).
    pub fn push_slice(&mut self, source: &Bytes, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        let addr = source.as_ptr() as usize;
        let source_len = source.len();
        if let Some(t) = self.tail.as_mut()
            && t.addr == addr
            && t.source_len == source_len
            && t.end == range.start
            && let Some(last) = self.chunks.last_mut()
        {
            *last = source.slice(t.start..range.end);
            self.len += range.len();
            t.end = range.end;
            return;
        }
        self.len += range.len();
        self.chunks.push(source.slice(range.clone()));
        self.tail = Some(Tail {
            addr,
            source_len,
            start: range.start,
            end: range.end,
        });
    }

    /// Bytes in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slices, in order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The bytes as one buffer: the slice itself when there is one, else
    /// a copy of them all.
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut out = BytesMut::with_capacity(self.len);
                for c in many {
                    out.extend_from_slice(c);
                }
                out.freeze()
            }
        }
    }

    /// The bytes after the first `n` (all of them when `n` is 0; none when
    /// `n` is past the end), sharing the same buffers.
    pub fn after(&self, n: usize) -> FragmentBytes {
        let mut out = FragmentBytes::default();
        let mut skip = n;
        for c in &self.chunks {
            if skip >= c.len() {
                skip -= c.len();
                continue;
            }
            out.push(c.slice(skip..));
            skip = 0;
        }
        out
    }

    /// Writes every slice to `w`, with as few `writev` calls as it takes.
    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        // At most IOV_MAX (1024 on Linux) slices a call.
        for group in self.chunks.chunks(1024) {
            let mut slices: Vec<IoSlice<'_>> = group.iter().map(|c| IoSlice::new(c)).collect();
            let mut rest = slices.as_mut_slice();
            while !rest.is_empty() {
                let n = w.write_vectored(rest)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                IoSlice::advance_slices(&mut rest, n);
            }
        }
        Ok(())
    }
}

impl From<Bytes> for FragmentBytes {
    fn from(bytes: Bytes) -> Self {
        let mut out = FragmentBytes::default();
        out.push(bytes);
        out
    }
}

impl PartialEq for FragmentBytes {
    /// Equal bytes, however they are sliced.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .chunks
                .iter()
                .flat_map(|c| c.iter())
                .eq(other.chunks.iter().flat_map(|c| c.iter()))
    }
}

impl PartialEq<[u8]> for FragmentBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.len == other.len() && self.chunks.iter().flat_map(|c| c.iter()).eq(other.iter())
    }
}

impl PartialEq<Vec<u8>> for FragmentBytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most 5 bytes a call, as a short `writev` may.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            let mut left = 5;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(left);
                self.0.extend_from_slice(&b[..k]);
                n += k;
                left -= k;
                if left == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn sliced(parts: &[&[u8]]) -> FragmentBytes {
        let mut f = FragmentBytes::default();
        for p in parts {
            f.push(Bytes::copy_from_slice(p));
        }
        f
    }

    #[test]
    fn slices_read_as_one_run_of_bytes() {
        let f = sliced(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!(f.len(), 8);
        assert_eq!(f.chunks().len(), 3, "the empty slice is left out");
        assert_eq!(&f.to_bytes()[..], b"abcdefgh");
        assert_eq!(f, b"abcdefgh".to_vec());
        assert_eq!(f, sliced(&[b"abcdefgh"]));
        assert_ne!(f, sliced(&[b"abcdefgX"]));
        assert_eq!(f.after(0), b"abcdefgh".to_vec());
        assert_eq!(f.after(3), b"defgh".to_vec());
        assert_eq!(f.after(5), b"fgh".to_vec());
        assert!(f.after(8).is_empty());
        assert!(f.after(99).is_empty());
    }

    #[test]
    fn ranges_that_follow_in_one_buffer_are_one_slice() {
        let input = Bytes::from_static(b"0123456789");
        let other = Bytes::copy_from_slice(b"0123456789");
        let mut f = FragmentBytes::default();
        f.push_slice(&input, 0..3);
        f.push_slice(&input.clone(), 3..5);
        f.push_slice(&input, 5..5);
        f.push_slice(&input, 5..7);
        assert_eq!(f.chunks().len(), 1);
        assert_eq!(f.chunks()[0].as_ptr(), input.as_ptr());
        // A gap, another buffer, or a plain push starts a new slice.
        f.push_slice(&input, 8..9);
        f.push_slice(&other, 9..10);
        f.push(Bytes::from_static(b"ab"));
        f.push_slice(&other, 0..1);
        f.push_slice(&other, 1..2);
        assert_eq!(f.chunks().len(), 5);
        assert_eq!(f.len(), 13);
        assert_eq!(f, b"012345689ab01".to_vec());
        // A sub-slice of the same memory with another length is another
        // buffer: not merged.
        let mut g = FragmentBytes::default();
        g.push_slice(&input, 0..2);
        g.push_slice(&input.slice(..5), 2..4);
        assert_eq!(g.chunks().len(), 2);
        assert_eq!(g, b"0123".to_vec());
    }

    #[test]
    fn one_slice_is_not_copied() {
        let b = Bytes::from_static(b"whole");
        let f = FragmentBytes::from(b.clone());
        assert_eq!(f.to_bytes().as_ptr(), b.as_ptr());
    }

    #[test]
    fn short_writes_still_write_everything_in_order() {
        let f = sliced(&[b"0123456", b"78", b"9abcdefghij"]);
        let mut w = Trickle(Vec::new());
        f.write_to(&mut w).expect("write");
        assert_eq!(w.0, b"0123456789abcdefghij");
    }
}
