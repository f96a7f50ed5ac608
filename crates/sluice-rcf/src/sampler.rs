//! Time-decayed reservoir sampling: which points a tree keeps.
//!
//! Each arriving point (sequence number `t`) gets the key
//! `-λ·t + ln(E)` with `E` drawn from Exp(1); a tree keeps the
//! `subSampleSize` points with the smallest keys. This is weighted reservoir
//! sampling with weight `e^{λt}`: with `λ = 0` the sample is uniform over the
//! whole stream, with `λ > 0` a point's chance to stay in the sample decays
//! by `e^{-λ}` per later point, so the sample tracks the recent stream.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::rng::SplitMix64;

/// One sampled point: its key and the tree leaf that holds it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: f64,
    leaf: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key.total_cmp(&other.key) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.total_cmp(&other.key)
    }
}

/// What the sampler decided for an arriving point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision {
    /// Not sampled: the tree is unchanged.
    Reject,
    /// Sampled; the tree must first drop the point at `evict` if given.
    Accept { key: f64, evict: Option<u32> },
}

#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    capacity: usize,
    lambda: f64,
    /// Max-heap on key: the top is the first to go.
    heap: BinaryHeap<Entry>,
}

impl Sampler {
    pub(crate) fn new(capacity: usize, lambda: f64) -> Self {
        Self {
            capacity,
            lambda,
            heap: BinaryHeap::with_capacity(capacity + 1),
        }
    }

    /// Points in the sample.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Decides whether the point with sequence number `t` enters the sample
    /// (and which point leaves for it). Call [`Self::accepted`] once the
    /// tree has taken the point.
    pub(crate) fn offer(&mut self, t: u64, rng: &mut SplitMix64) -> Decision {
        let key = -self.lambda * t as f64 + (-rng.next_open01().ln()).ln();
        if self.heap.len() < self.capacity {
            return Decision::Accept { key, evict: None };
        }
        match self.heap.peek() {
            Some(top) if key < top.key => {
                let evict = top.leaf;
                self.heap.pop();
                Decision::Accept {
                    key,
                    evict: Some(evict),
                }
            }
            _ => Decision::Reject,
        }
    }

    /// Records that the accepted point (key from [`Decision::Accept`]) is
    /// held by `leaf`.
    pub(crate) fn accepted(&mut self, key: f64, leaf: u32) {
        self.heap.push(Entry { key, leaf });
    }
}
