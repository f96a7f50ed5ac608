//! [`Circular`]: the growable ring buffer a sliding window keeps its held
//! ROWTIMEs and numbers in.
//!
//! Unlike `VecDeque`, its free slots stay initialized, so the slot the
//! next value goes in can be read before it is written
//! ([`Circular::next_slot`]). A long window's buffers are far bigger than
//! cache, and a batch writes each partition's next slots and reads its
//! oldest ones: reading both ahead, for every partition of the batch in
//! one loop, lets those cache misses overlap instead of stalling the
//! partitions one after another.
//!
//! It also keeps a copy of its oldest value beside the buffer
//! ([`Circular::front`]): whether a window's oldest row leaves is then
//! decided without reading the buffer's head, which in a long window that
//! is still filling is a cache miss for nothing.

/// A first-in first-out buffer of plain values, oldest first.
#[derive(Debug, Clone, Default)]
pub(super) struct Circular<T> {
    /// Every slot, used or free; its length is the capacity.
    buf: Vec<T>,
    /// The slot of the oldest value.
    head: usize,
    /// Values held.
    len: usize,
    /// A copy of the oldest value while `len > 0`.
    oldest: T,
}

impl<T: Copy + Default> Circular<T> {
    pub(super) fn new() -> Self {
        Circular {
            buf: Vec::new(),
            head: 0,
            len: 0,
            oldest: T::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot of the `i`-th oldest value (`i` at most the capacity).
    fn slot(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= self.buf.len() {
            j - self.buf.len()
        } else {
            j
        }
    }

    /// The `i`-th oldest value.
    pub(super) fn get(&self, i: usize) -> Option<T> {
        (i < self.len).then(|| self.buf[self.slot(i)])
    }

    /// The `i`-th oldest value, `i` below [`Circular::len`].
    pub(super) fn at(&self, i: usize) -> T {
        debug_assert!(i < self.len, "{i} of {}", self.len);
        self.buf[self.slot(i)]
    }

    /// The oldest value, from the copy kept beside the buffer (no read
    /// of the buffer's head).
    pub(super) fn front(&self) -> Option<T> {
        (self.len > 0).then_some(self.oldest)
    }

    /// Makes room for `need` values, keeping the order: the values are
    /// rotated in place to start the buffer (value `i` to slot `i`, whether
    /// or not the buffer is full), then the buffer is lengthened: one
    /// `realloc`, a block copy at worst, not a copy value by value.
    fn grow(&mut self, need: usize) {
        let cap = need.next_power_of_two().max(8);
        self.buf.rotate_left(self.head);
        self.buf.resize(cap, T::default());
        self.head = 0;
    }

    pub(super) fn push_back(&mut self, v: T) {
        if self.len == self.buf.len() {
            self.grow(self.len + 1);
        }
        let s = self.slot(self.len);
        self.buf[s] = v;
        if self.len == 0 {
            self.oldest = v;
        }
        self.len += 1;
    }

    pub(super) fn extend(&mut self, values: impl ExactSizeIterator<Item = T>) {
        let need = self.len + values.len();
        if need > self.buf.len() {
            self.grow(need);
        }
        let was_empty = self.len == 0;
        for v in values {
            let s = self.slot(self.len);
            self.buf[s] = v;
            self.len += 1;
        }
        if was_empty && self.len > 0 {
            self.oldest = self.buf[self.head];
        }
    }

    /// Drops the `n` oldest values (all of them when `n` is more).
    pub(super) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = if self.buf.is_empty() { 0 } else { self.slot(n) };
        self.len -= n;
        if n > 0 && self.len > 0 {
            self.oldest = self.buf[self.head];
        }
    }

    pub(super) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The values, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.range(0, self.len)
    }

    /// The `from`-th to the `to - 1`-th oldest values.
    pub(super) fn range(&self, from: usize, to: usize) -> impl Iterator<Item = T> + '_ {
        (from..to.min(self.len)).map(|i| self.buf[self.slot(i)])
    }

    /// Reads the free slot `k` places after the newest value, the one the
    /// `k + 1`-th next value will be written to (the default value when
    /// there is no such slot yet); changes nothing.
    pub(super) fn next_slot(&self, k: usize) -> T {
        if self.len + k < self.buf.len() {
            self.buf[self.slot(self.len + k)]
        } else {
            T::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_wrap_and_growth() {
        let mut c = Circular::new();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0i64;
        // Pushes and drops of varied sizes wrap the head around and grow
        // the buffer while it is wrapped.
        for round in 0..200usize {
            let push = round % 13;
            c.extend((next..next + push as i64).collect::<Vec<_>>().into_iter());
            model.extend(next..next + push as i64);
            next += push as i64;
            c.push_back(next);
            model.push_back(next);
            next += 1;
            let drop = (round * 7) % 11;
            c.drop_front(drop);
            for _ in 0..drop.min(model.len()) {
                model.pop_front();
            }
            assert_eq!(c.len(), model.len());
            assert!(c.iter().eq(model.iter().copied()), "round {round}");
            assert_eq!(c.front(), model.front().copied());
            if c.len() > 2 {
                assert_eq!(c.at(2), model[2]);
                assert!(c.range(1, 3).eq(model.range(1..3).copied()));
            }
            assert_eq!(c.get(c.len()), None);
        }
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.front(), None);
        c.push_back(5);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn next_slot_reads_without_writing() {
        let mut c: Circular<i64> = Circular::new();
        assert_eq!(c.next_slot(0), 0);
        c.extend([1, 2, 3].into_iter());
        c.drop_front(3);
        // Free slots keep what they held; reading one changes nothing.
        let _ = c.next_slot(1);
        assert!(c.is_empty());
        c.push_back(9);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![9]);
    }
}
