//! [`Hotspots`]: the window of the last `windowSize` records, each record's
//! neighbours (the records within `scanRadius`) kept up to date as records
//! enter and leave, and the DBSCAN clustering of the window into
//! [`Hotspot`]s after every record.

use std::collections::VecDeque;

use crate::config::HotspotsConfig;
use crate::error::{HotspotsError, Result};
use crate::grid::{CellKey, Grid};
use crate::json::hotspots_json;

/// Not in any hotspot (yet).
const UNASSIGNED: u32 = u32::MAX;

/// One dense region of the window: a DBSCAN cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    /// KDA `density`: records in the hotspot divided by the volume of its
    /// bounding box, each side taken as at least `scanRadius` (see the crate
    /// docs). Always finite: capped at `f64::MAX`.
    pub density: f64,
    /// KDA `minValues`: per numeric column, the smallest value among the
    /// hotspot's records.
    pub min_values: Vec<f64>,
    /// KDA `maxValues`: per numeric column, the largest value among the
    /// hotspot's records.
    pub max_values: Vec<f64>,
    /// Records in the hotspot (core and border). Not in KDA's JSON.
    pub count: usize,
}

/// KDA's `HOTSPOTS` over one stream: feed each cursor row's numeric columns
/// to [`push`](Self::push) in stream order and append what it returns as the
/// row's `HOTSPOTS_RESULT`.
///
/// Memory is fixed at construction by `windowSize` and the number of
/// columns, whatever the stream's length.
#[derive(Debug, Clone)]
pub struct Hotspots {
    config: HotspotsConfig,
    /// `scanRadius²`: distances are compared squared.
    radius_squared: f64,
    /// The ring of records, `dimensions` values per slot.
    points: Vec<f64>,
    /// Each slot's grid cell.
    keys: Vec<CellKey>,
    /// Each slot's neighbours: the other slots within `scanRadius`, oldest
    /// first. A record's neighbour count, itself included, is its list's
    /// length + 1. The record leaving the window is the oldest of all, so it
    /// is at the front of each of its neighbours' lists.
    adjacent: Vec<VecDeque<u32>>,
    /// The slot the next record goes into (the oldest once the ring is full).
    next_slot: usize,
    /// Records in the window.
    len: usize,
    grid: Grid,
    /// Scratch for clustering: each slot's hotspot, and the DFS stack.
    assignment: Vec<u32>,
    stack: Vec<u32>,
}

impl Hotspots {
    /// A detector with an empty window; fails if `config` is outside KDA's
    /// ranges ([`HotspotsConfig::validate`]).
    pub fn new(config: HotspotsConfig) -> Result<Self> {
        config.validate()?;
        let capacity = config.window_size;
        Ok(Self {
            radius_squared: config.scan_radius * config.scan_radius,
            points: vec![0.0; capacity * config.dimensions],
            keys: vec![[0; crate::grid::GRID_DIMS]; capacity],
            adjacent: vec![VecDeque::new(); capacity],
            next_slot: 0,
            len: 0,
            grid: Grid::new(config.scan_radius, config.dimensions, capacity),
            assignment: vec![UNASSIGNED; capacity],
            stack: Vec::with_capacity(capacity),
            config,
        })
    }

    /// The configuration the detector was built with.
    pub fn config(&self) -> &HotspotsConfig {
        &self.config
    }

    /// Records in the window now (at most `windowSize`).
    pub fn window_len(&self) -> usize {
        self.len
    }

    /// Takes `record` into the window (evicting the oldest record once the
    /// window holds `windowSize`) and returns the `HOTSPOTS_RESULT` JSON for
    /// it: every hotspot of the window, the record included, densest first.
    ///
    /// A record of the wrong length or with a NaN or infinite value is an
    /// error and leaves the window as it was.
    pub fn push(&mut self, record: &[f64]) -> Result<String> {
        let hotspots = self.push_hotspots(record)?;
        Ok(hotspots_json(&hotspots))
    }

    /// As [`push`](Self::push), but the hotspots themselves (densest first,
    /// ties in the order their oldest core record entered the window).
    pub fn push_hotspots(&mut self, record: &[f64]) -> Result<Vec<Hotspot>> {
        self.check(record)?;
        let slot = self.next_slot;
        if self.len == self.config.window_size {
            self.evict(slot);
        }
        self.insert(slot, record);
        self.next_slot = (slot + 1) % self.config.window_size;
        Ok(self.cluster())
    }

    fn check(&self, record: &[f64]) -> Result<()> {
        if record.len() != self.config.dimensions {
            return Err(HotspotsError::WrongDimensions {
                expected: self.config.dimensions,
                got: record.len(),
            });
        }
        if let Some((column, &value)) = record.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(HotspotsError::NonFiniteInput { column, value });
        }
        Ok(())
    }

    fn point(&self, slot: usize) -> &[f64] {
        let d = self.config.dimensions;
        &self.points[slot * d..(slot + 1) * d]
    }

    fn within_radius(&self, a: usize, b: usize) -> bool {
        let mut sum = 0.0;
        for (x, y) in self.point(a).iter().zip(self.point(b)) {
            let delta = x - y;
            sum += delta * delta;
            if sum > self.radius_squared {
                return false;
            }
        }
        true
    }

    /// Removes the record in `slot` from the grid and from its neighbours'
    /// lists.
    fn evict(&mut self, slot: usize) {
        self.grid.remove(slot as u32, self.keys[slot]);
        let mut list = std::mem::take(&mut self.adjacent[slot]);
        for &other in &list {
            let theirs = &mut self.adjacent[other as usize];
            if theirs.front().is_some_and(|&s| s as usize == slot) {
                theirs.pop_front();
            } else if let Some(at) = theirs.iter().position(|&s| s as usize == slot) {
                // Not reached while lists stay oldest-first; kept so a
                // broken invariant costs time, not a wrong count.
                theirs.remove(at);
            }
        }
        // Keep the allocation for the record that takes the slot.
        list.clear();
        self.adjacent[slot] = list;
        self.len -= 1;
    }

    /// Writes `record` into the free `slot`, finds its neighbours through
    /// the grid and links it with them.
    fn insert(&mut self, slot: usize, record: &[f64]) {
        let d = self.config.dimensions;
        self.points[slot * d..(slot + 1) * d].copy_from_slice(record);
        let key = self.grid.key(record);
        self.keys[slot] = key;
        let mut near = std::mem::take(&mut self.stack);
        near.clear();
        self.grid.for_each_near(key, |other| near.push(other));
        // Oldest first: age is the distance from the oldest slot in the ring.
        let capacity = self.config.window_size;
        let oldest = (self.next_slot + capacity - self.len) % capacity;
        near.sort_unstable_by_key(|&other| (other as usize + capacity - oldest) % capacity);
        let mut own = std::mem::take(&mut self.adjacent[slot]);
        for &other in &near {
            if self.within_radius(slot, other as usize) {
                self.adjacent[other as usize].push_back(slot as u32);
                own.push_back(other);
            }
        }
        self.adjacent[slot] = own;
        self.stack = near;
        self.grid.insert(slot as u32, key);
        self.len += 1;
    }

    /// The slots in the window, oldest first.
    fn slots_oldest_first(&self) -> impl Iterator<Item = usize> + use<> {
        let capacity = self.config.window_size;
        let start = (self.next_slot + capacity - self.len) % capacity;
        (0..self.len).map(move |k| (start + k) % capacity)
    }

    fn is_core(&self, slot: usize) -> bool {
        self.adjacent[slot].len() + 1 >= self.config.minimum_number_of_points
    }

    /// DBSCAN over the window from the maintained neighbour counts: grow a
    /// hotspot from each core record not yet in one (oldest first), through
    /// core records within `scanRadius`, taking in the non-core records they
    /// reach as border records.
    fn cluster(&mut self) -> Vec<Hotspot> {
        let mut hotspots = Vec::new();
        if !self.slots_oldest_first().any(|slot| self.is_core(slot)) {
            return hotspots;
        }
        for slot in self.slots_oldest_first() {
            self.assignment[slot] = UNASSIGNED;
        }
        let d = self.config.dimensions;
        let mut stack = std::mem::take(&mut self.stack);
        let mut assigned = 0usize;
        for seed in self.slots_oldest_first() {
            if self.assignment[seed] != UNASSIGNED || !self.is_core(seed) {
                continue;
            }
            let id = hotspots.len() as u32;
            let mut min_values = self.point(seed).to_vec();
            let mut max_values = min_values.clone();
            let mut count = 1usize;
            self.assignment[seed] = id;
            stack.clear();
            stack.push(seed as u32);
            while let Some(core) = stack.pop() {
                if assigned + count == self.len {
                    // Everyone is in a hotspot: the rest can add nothing.
                    break;
                }
                for &other in &self.adjacent[core as usize] {
                    let other = other as usize;
                    if self.assignment[other] != UNASSIGNED {
                        continue;
                    }
                    self.assignment[other] = id;
                    count += 1;
                    let point = &self.points[other * d..(other + 1) * d];
                    for ((lo, hi), &v) in min_values.iter_mut().zip(&mut max_values).zip(point) {
                        *lo = lo.min(v);
                        *hi = hi.max(v);
                    }
                    if self.is_core(other) {
                        stack.push(other as u32);
                    }
                }
            }
            assigned += count;
            let density = self.density(count, &min_values, &max_values);
            hotspots.push(Hotspot {
                density,
                min_values,
                max_values,
                count,
            });
        }
        self.stack = stack;
        // Stable: equal densities stay in discovery order.
        hotspots.sort_by(|a, b| b.density.total_cmp(&a.density));
        hotspots
    }

    /// Records per unit of bounding-box volume, each side at least
    /// `scanRadius` so a flat or single-valued hotspot has a finite density.
    fn density(&self, count: usize, min_values: &[f64], max_values: &[f64]) -> f64 {
        let radius = self.config.scan_radius;
        let volume: f64 = min_values
            .iter()
            .zip(max_values)
            .map(|(lo, hi)| (hi - lo).max(radius))
            .product();
        let density = count as f64 / volume;
        if density.is_finite() {
            density
        } else {
            f64::MAX
        }
    }

    #[cfg(test)]
    fn grid_cells(&self) -> usize {
        self.grid.cells()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: test data only.
    struct Noise(u64);

    impl Noise {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.unit()
        }

        /// A point in the disc of `radius` around `centre`.
        fn in_disc(&mut self, centre: (f64, f64), radius: f64) -> [f64; 2] {
            loop {
                let (x, y) = (self.uniform(-1.0, 1.0), self.uniform(-1.0, 1.0));
                if x * x + y * y <= 1.0 {
                    return [centre.0 + radius * x, centre.1 + radius * y];
                }
            }
        }
    }

    fn detector(window: usize, radius: f64, min_points: usize, dims: usize) -> Hotspots {
        Hotspots::new(HotspotsConfig::new(window, radius, min_points, dims)).unwrap()
    }

    /// The Developer Guide's setting: x, y uniform in [0, 10], one record in
    /// five from a dense spot; windowSize 1000, scanRadius 0.2, 17 points.
    #[test]
    fn finds_the_developer_guide_style_cluster() {
        let mut hotspots = detector(1_000, 0.2, 17, 2);
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        let mut last = Vec::new();
        for i in 0..3_000 {
            let record = if i % 5 == 0 {
                noise.in_disc((5.0, 5.0), 0.3)
            } else {
                [noise.uniform(0.0, 10.0), noise.uniform(0.0, 10.0)]
            };
            last = hotspots.push_hotspots(&record).unwrap();
        }
        assert_eq!(hotspots.window_len(), 1_000);
        let top = &last[0];
        // Around the disc [4.7, 5.3]², give or take a border record.
        for column in 0..2 {
            assert!(
                top.min_values[column] > 4.4 && top.min_values[column] < 4.8,
                "{top:?}"
            );
            assert!(
                top.max_values[column] > 5.2 && top.max_values[column] < 5.6,
                "{top:?}"
            );
        }
        // About 200 records in about 0.6 × 0.6, against a background of
        // 1000 / 100 = 10 per unit area: far above the viewer's filter of 40.
        assert!(top.count >= 180 && top.count <= 260, "{top:?}");
        assert!(top.density > 300.0, "{top:?}");
        // Anything else found is a small chance grouping, much less dense.
        for other in &last[1..] {
            assert!(other.density < top.density / 2.0, "{other:?}");
        }
        let json: serde_json::Value = serde_json::from_str(&hotspots_json(&last)).unwrap();
        assert_eq!(json["hotspots"][0]["density"], top.density);
    }

    #[test]
    fn uniform_noise_has_no_hotspot() {
        let mut hotspots = detector(1_000, 0.2, 17, 2);
        let mut noise = Noise(42);
        for _ in 0..3_000 {
            let record = [noise.uniform(0.0, 10.0), noise.uniform(0.0, 10.0)];
            assert_eq!(hotspots.push(&record).unwrap(), r#"{"hotspots":[]}"#);
        }
    }

    #[test]
    fn a_cluster_leaves_with_its_last_record() {
        let mut hotspots = detector(100, 0.2, 5, 2);
        let mut noise = Noise(7);
        for pushed in 1..=100 {
            let result = hotspots
                .push_hotspots(&noise.in_disc((5.0, 5.0), 0.05))
                .unwrap();
            assert_eq!(result.len(), usize::from(pushed >= 5), "after {pushed}");
        }
        // Sparse records far away: every record they push out of the window
        // is a cluster record.
        for pushed in 1..=100 {
            let record = [noise.uniform(100.0, 1_000.0), noise.uniform(100.0, 1_000.0)];
            let result = hotspots.push_hotspots(&record).unwrap();
            let left = 100 - pushed;
            if left >= 5 {
                assert_eq!(result.len(), 1, "after {pushed}");
                assert_eq!(result[0].count, left);
            } else {
                assert!(result.is_empty(), "after {pushed}: {result:?}");
            }
        }
        assert_eq!(hotspots.window_len(), 100);
    }

    #[test]
    fn exact_output_two_hotspots_densest_first() {
        let mut hotspots = detector(100, 0.5, 2, 2);
        // A chain of steps of exactly scanRadius (inclusive), 1 × 1 box.
        for record in [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 1.0]] {
            hotspots.push(&record).unwrap();
        }
        // Two records 0.25 apart: box 0 × 0.25, sides floored to 0.5.
        hotspots.push(&[10.0, 10.0]).unwrap();
        let text = hotspots.push(&[10.0, 10.25]).unwrap();
        assert_eq!(
            text,
            r#"{"hotspots":[{"density":8.0,"minValues":[10.0,10.0],"maxValues":[10.0,10.25]},{"density":5.0,"minValues":[0.0,0.0],"maxValues":[1.0,1.0]}]}"#
        );
    }

    #[test]
    fn border_records_widen_the_box_but_do_not_extend_the_hotspot() {
        let mut hotspots = detector(100, 1.0, 4, 1);
        // Core at 0, 0.1, 0.2, 0.3 (4 neighbours each, themselves included);
        // 1.25 is a border record (neighbours 0.3, 2.2 and itself: 3); 2.2 is
        // next to the border record only, so it is noise.
        for value in [0.0, 0.1, 0.2, 0.3, 1.25, 2.2] {
            hotspots.push(&[value]).unwrap();
        }
        let result = hotspots.push_hotspots(&[-5.0]).unwrap();
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].count, 5);
        assert_eq!(result[0].min_values, vec![0.0]);
        assert_eq!(result[0].max_values, vec![1.25]);
        assert_eq!(result[0].density, 4.0);
    }

    #[test]
    fn bad_records_are_errors_that_change_nothing() {
        let mut with_errors = detector(100, 0.5, 3, 2);
        let mut clean = detector(100, 0.5, 3, 2);
        let mut noise = Noise(99);
        for i in 0..400 {
            let record = [noise.uniform(0.0, 3.0), noise.uniform(0.0, 3.0)];
            if i % 7 == 0 {
                assert!(matches!(
                    with_errors.push(&[record[0], f64::NAN]),
                    Err(HotspotsError::NonFiniteInput { column: 1, value }) if value.is_nan()
                ));
                assert_eq!(
                    with_errors.push(&[f64::INFINITY, 0.0]),
                    Err(HotspotsError::NonFiniteInput {
                        column: 0,
                        value: f64::INFINITY
                    })
                );
                assert!(matches!(
                    with_errors.push(&[1.0]),
                    Err(HotspotsError::WrongDimensions {
                        expected: 2,
                        got: 1
                    })
                ));
            }
            assert_eq!(with_errors.push(&record), clean.push(&record));
        }
        assert_eq!(with_errors.window_len(), clean.window_len());
    }

    /// Memory stays bounded: the ring never grows and the grid holds at most
    /// one cell per record in the window.
    #[test]
    fn memory_is_bounded_by_the_window() {
        let mut hotspots = detector(100, 0.01, 2, 3);
        let mut noise = Noise(5);
        for _ in 0..10_000 {
            let record = [noise.unit(), noise.unit() * 1e6, -noise.unit()];
            hotspots.push(&record).unwrap();
        }
        assert_eq!(hotspots.window_len(), 100);
        assert!(hotspots.grid_cells() <= 100);
        assert_eq!(hotspots.points.len(), 300);
    }

    fn naive_counts(window: &[Vec<f64>], radius: f64) -> Vec<u32> {
        window
            .iter()
            .map(|a| {
                window
                    .iter()
                    .filter(|b| {
                        a.iter()
                            .zip(b.iter())
                            .map(|(x, y)| (x - y) * (x - y))
                            .sum::<f64>()
                            <= radius * radius
                    })
                    .count() as u32
            })
            .collect()
    }

    /// Brute-force DBSCAN over the same window, for the property test below.
    fn naive(
        window: &[Vec<f64>],
        radius: f64,
        min_points: usize,
    ) -> Vec<(usize, Vec<f64>, Vec<f64>)> {
        let n = window.len();
        let close = |a: &[f64], b: &[f64]| {
            a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() <= radius * radius
        };
        let core: Vec<bool> = (0..n)
            .map(|i| (0..n).filter(|&j| close(&window[i], &window[j])).count() >= min_points)
            .collect();
        let mut assigned = vec![false; n];
        let mut clusters = Vec::new();
        for seed in 0..n {
            if assigned[seed] || !core[seed] {
                continue;
            }
            assigned[seed] = true;
            let mut members = vec![seed];
            let mut stack = vec![seed];
            while let Some(p) = stack.pop() {
                for q in 0..n {
                    if !assigned[q] && close(&window[p], &window[q]) {
                        assigned[q] = true;
                        members.push(q);
                        if core[q] {
                            stack.push(q);
                        }
                    }
                }
            }
            let d = window[seed].len();
            let lo = (0..d)
                .map(|c| {
                    members
                        .iter()
                        .map(|&m| window[m][c])
                        .fold(f64::INFINITY, f64::min)
                })
                .collect();
            let hi = (0..d)
                .map(|c| {
                    members
                        .iter()
                        .map(|&m| window[m][c])
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .collect();
            clusters.push((members.len(), lo, hi));
        }
        clusters
    }

    /// The grid and the incremental counts give DBSCAN's core records and
    /// clusters exactly, in 1 to 5 columns (border records may go to either
    /// neighbouring cluster, so compare where no border is shared: the
    /// cluster count, and every cluster's size and box when they match up).
    #[test]
    fn agrees_with_brute_force_dbscan() {
        for dims in 1..=5 {
            let mut hotspots = detector(120, 0.35, 4, dims);
            let mut noise = Noise(1_000 + dims as u64);
            let mut window: Vec<Vec<f64>> = Vec::new();
            for i in 0..600 {
                let record: Vec<f64> = if i % 3 == 0 {
                    (0..dims).map(|_| 2.0 + 0.3 * noise.unit()).collect()
                } else {
                    (0..dims).map(|_| noise.uniform(0.0, 4.0)).collect()
                };
                window.push(record.clone());
                if window.len() > 120 {
                    window.remove(0);
                }
                let got = hotspots.push_hotspots(&record).unwrap();
                let counts: Vec<u32> = hotspots
                    .slots_oldest_first()
                    .map(|slot| hotspots.adjacent[slot].len() as u32 + 1)
                    .collect();
                assert_eq!(counts, naive_counts(&window, 0.35), "dims {dims} row {i}");
                let want = naive(&window, 0.35, 4);
                assert_eq!(got.len(), want.len(), "dims {dims} row {i}");
                let mut got_sizes: Vec<usize> = got.iter().map(|h| h.count).collect();
                let mut want_sizes: Vec<usize> = want.iter().map(|c| c.0).collect();
                got_sizes.sort_unstable();
                want_sizes.sort_unstable();
                assert_eq!(got_sizes, want_sizes, "dims {dims} row {i}");
                for (count, lo, hi) in &want {
                    assert!(
                        got.iter().any(|h| h.count == *count
                            && &h.min_values == lo
                            && &h.max_values == hi),
                        "dims {dims} row {i}: no match for {count} {lo:?} {hi:?} in {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn identical_records_have_a_finite_density() {
        let mut hotspots = detector(100, 1e-200, 2, 2);
        hotspots.push(&[3.0, 3.0]).unwrap();
        let result = hotspots.push_hotspots(&[3.0, 3.0]).unwrap();
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].density, f64::MAX);
    }
}
