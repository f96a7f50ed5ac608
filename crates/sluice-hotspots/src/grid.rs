//! [`Grid`]: the window's records bucketed into cells of side `scanRadius`,
//! so that the records within `scanRadius` of a point are found among the
//! `3^g` cells around its own instead of across the whole window.
//!
//! Only the first `g = min(dimensions, 3)` columns pick the cell (the others
//! count as 0): two points within `scanRadius` differ by at most that much
//! in every column, so their cell coordinates differ by at most 1 in each of
//! the `g` columns, and the candidates always include every true neighbour.
//! Callers still check the full distance. Capping `g` keeps a query at 27
//! cells however many columns the cursor has.
//!
//! Each cell is an intrusive doubly linked list through per-slot `next` /
//! `prev` arrays (a slot is a record's place in the window's ring), so
//! insert and remove are O(1) and allocate nothing; the map holds one entry
//! per non-empty cell, so at most `windowSize` entries.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Columns that choose a record's cell.
pub(crate) const GRID_DIMS: usize = 3;

/// A cell's integer coordinates (unused trailing columns are 0).
pub(crate) type CellKey = [i64; GRID_DIMS];

/// No slot: the end of a cell's list.
const NIL: u32 = u32::MAX;

/// Cell coordinates are clamped to ±2^62 so that the ±1 neighbour offsets
/// never saturate into the same cell twice. Clamping is monotone and moves
/// coordinates closer together, so neighbours stay in adjacent cells.
const COORDINATE_LIMIT: f64 = (1u64 << 62) as f64;

/// A multiply-rotate hasher (the Firefox / rustc "Fx" scheme) for cell keys:
/// several times faster than SipHash on three integers. A stream built to
/// collide only slows lookups, and never past the `windowSize` records held.
#[derive(Default)]
pub(crate) struct CellHasher(u64);

impl CellHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.add(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_i64(&mut self, word: i64) {
        self.add(word as u64);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }
}

/// The cell index over the window's slots.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    side: f64,
    grid_dims: usize,
    heads: HashMap<CellKey, u32, BuildHasherDefault<CellHasher>>,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// The `3^grid_dims` offsets to a cell's neighbours (itself included).
    offsets: Vec<CellKey>,
}

impl Grid {
    /// An empty grid of cell side `side` for `capacity` slots of
    /// `dimensions` columns.
    pub(crate) fn new(side: f64, dimensions: usize, capacity: usize) -> Self {
        let grid_dims = dimensions.min(GRID_DIMS);
        let mut offsets = vec![[0i64; GRID_DIMS]];
        for d in 0..grid_dims {
            offsets = offsets
                .into_iter()
                .flat_map(|base| {
                    [-1i64, 0, 1].into_iter().map(move |step| {
                        let mut key = base;
                        key[d] = step;
                        key
                    })
                })
                .collect();
        }
        let mut heads = HashMap::default();
        heads.reserve(capacity);
        Self {
            side,
            grid_dims,
            heads,
            next: vec![NIL; capacity],
            prev: vec![NIL; capacity],
            offsets,
        }
    }

    /// The cell of `point` (finite values; see [`COORDINATE_LIMIT`]).
    pub(crate) fn key(&self, point: &[f64]) -> CellKey {
        let mut key = [0i64; GRID_DIMS];
        for (coordinate, &value) in key.iter_mut().zip(point).take(self.grid_dims) {
            let cell = (value / self.side)
                .floor()
                .clamp(-COORDINATE_LIMIT, COORDINATE_LIMIT);
            // In range by the clamp; `as` cannot truncate here.
            *coordinate = cell as i64;
        }
        key
    }

    /// Puts `slot` at the front of cell `key`'s list.
    pub(crate) fn insert(&mut self, slot: u32, key: CellKey) {
        let index = slot as usize;
        let head = self.heads.entry(key).or_insert(NIL);
        self.next[index] = *head;
        self.prev[index] = NIL;
        if *head != NIL {
            self.prev[*head as usize] = slot;
        }
        *head = slot;
    }

    /// Takes `slot` out of cell `key`'s list (dropping the cell once empty).
    pub(crate) fn remove(&mut self, slot: u32, key: CellKey) {
        let index = slot as usize;
        let (prev, next) = (self.prev[index], self.next[index]);
        if next != NIL {
            self.prev[next as usize] = prev;
        }
        if prev != NIL {
            self.next[prev as usize] = next;
        } else if next == NIL {
            self.heads.remove(&key);
        } else if let Some(head) = self.heads.get_mut(&key) {
            *head = next;
        }
        self.next[index] = NIL;
        self.prev[index] = NIL;
    }

    /// Calls `visit` with every slot in cell `key` and the cells around it:
    /// a superset of the slots within `side` of any point in cell `key`.
    pub(crate) fn for_each_near(&self, key: CellKey, mut visit: impl FnMut(u32)) {
        for offset in &self.offsets {
            let mut cell = key;
            for (coordinate, step) in cell.iter_mut().zip(offset) {
                *coordinate += step;
            }
            let mut slot = self.heads.get(&cell).copied().unwrap_or(NIL);
            while slot != NIL {
                visit(slot);
                slot = self.next[slot as usize];
            }
        }
    }

    /// Non-empty cells (at most the number of slots in use).
    #[cfg(test)]
    pub(crate) fn cells(&self) -> usize {
        self.heads.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(grid: &Grid, key: CellKey) -> Vec<u32> {
        let mut slots = Vec::new();
        grid.for_each_near(key, |slot| slots.push(slot));
        slots.sort_unstable();
        slots
    }

    #[test]
    fn keys_floor_by_the_cell_side_on_the_first_three_columns() {
        let grid = Grid::new(0.5, 5, 4);
        assert_eq!(grid.key(&[0.0, 0.49, -0.01, 9.0, 9.0]), [0, 0, -1]);
        assert_eq!(grid.key(&[1.0, 1.5, 2.0, 0.0, 0.0]), [2, 3, 4]);
        let one = Grid::new(0.5, 1, 4);
        assert_eq!(one.key(&[1.2]), [2, 0, 0]);
        assert_eq!(one.offsets.len(), 3);
        assert_eq!(grid.offsets.len(), 27);
    }

    #[test]
    fn huge_values_clamp_without_collapsing_neighbour_cells() {
        let grid = Grid::new(1e-300, 1, 4);
        let key = grid.key(&[f64::MAX]);
        assert_eq!(key[0], 1i64 << 62);
        let mut grid = grid;
        grid.insert(0, key);
        // Visited once, not three times through saturated offsets.
        assert_eq!(near(&grid, key), vec![0]);
    }

    #[test]
    fn insert_remove_and_query() {
        let mut grid = Grid::new(1.0, 2, 5);
        grid.insert(0, [0, 0, 0]);
        grid.insert(1, [0, 0, 0]);
        grid.insert(2, [1, 1, 0]);
        grid.insert(3, [3, 0, 0]);
        assert_eq!(grid.cells(), 3);
        assert_eq!(near(&grid, [0, 0, 0]), vec![0, 1, 2]);
        assert_eq!(near(&grid, [2, 0, 0]), vec![2, 3]);
        grid.remove(1, [0, 0, 0]); // the head of its list
        assert_eq!(near(&grid, [0, 0, 0]), vec![0, 2]);
        grid.insert(1, [0, 0, 0]);
        grid.remove(0, [0, 0, 0]); // the tail
        assert_eq!(near(&grid, [0, 0, 0]), vec![1, 2]);
        grid.remove(1, [0, 0, 0]);
        assert_eq!(grid.cells(), 2);
        grid.remove(2, [1, 1, 0]);
        grid.remove(3, [3, 0, 0]);
        assert_eq!(grid.cells(), 0);
    }
}
