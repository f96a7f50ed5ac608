//! [`RandomCutForest`]: shingling, warm-up, and the trees with their
//! samplers; [`Attribution`] for the explanation.

use crate::config::ForestConfig;
use crate::error::{RcfError, Result};
use crate::rng::SplitMix64;
use crate::sampler::{Decision, Sampler};
use crate::tree::Tree;

/// One input column's share of a record's anomaly score
/// (`RANDOM_CUT_FOREST_WITH_EXPLANATION`), summed over the column's shingle
/// positions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Attribution {
    /// Share due to the column being above what the forest has seen.
    pub high: f64,
    /// Share due to the column being below what the forest has seen.
    pub low: f64,
}

/// Which way a column is anomalous (KDA's `DIRECTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher than the recent values (`"HIGH"`).
    High,
    /// Lower than the recent values (`"LOW"`).
    Low,
}

impl Direction {
    /// `"HIGH"` or `"LOW"`, as KDA writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::High => "HIGH",
            Direction::Low => "LOW",
        }
    }
}

impl Attribution {
    /// KDA's `ATTRIBUTION_SCORE`: the column's whole share, `high + low`.
    /// The record's attribution scores sum to its anomaly score.
    pub fn score(&self) -> f64 {
        self.high + self.low
    }

    /// KDA's `DIRECTION`: the larger side (`High` on a tie).
    pub fn direction(&self) -> Direction {
        if self.high >= self.low {
            Direction::High
        } else {
            Direction::Low
        }
    }

    /// KDA's `STRENGTH`: how much more of the share lies on the
    /// [`direction`](Self::direction) side than on the other,
    /// `|high − low|` (0 to [`score`](Self::score)).
    pub fn strength(&self) -> f64 {
        (self.high - self.low).abs()
    }
}

/// One tree with the sampler that decides its points and its own random
/// stream (so trees do not depend on each other's draws).
#[derive(Debug, Clone)]
struct Member {
    tree: Tree,
    sampler: Sampler,
    rng: SplitMix64,
}

/// A random cut forest over a stream of records; see the crate
/// documentation for the model, the score and the memory bound.
#[derive(Debug, Clone)]
pub struct RandomCutForest {
    config: ForestConfig,
    members: Vec<Member>,
    /// The last `shingleSize` records, oldest first.
    shingle: Vec<f64>,
    /// Records taken (valid ones).
    records: u64,
    /// Shingled points offered to the samplers.
    points: u64,
    output_after: u64,
}

impl RandomCutForest {
    /// An empty forest; fails if a parameter is outside KDA's range
    /// ([`ForestConfig::validate`]). Allocates all its memory here.
    pub fn new(config: ForestConfig) -> Result<Self> {
        config.validate()?;
        let dim = config.shingled_dimensions();
        let lambda = 1.0 / config.time_decay;
        let mut seeder = SplitMix64::new(config.seed);
        let members = (0..config.number_of_trees)
            .map(|_| Member {
                tree: Tree::new(dim, config.sub_sample_size),
                sampler: Sampler::new(config.sub_sample_size, lambda),
                rng: SplitMix64::new(seeder.next_u64()),
            })
            .collect();
        Ok(Self {
            output_after: config.effective_output_after() as u64,
            shingle: vec![0.0; dim],
            members,
            records: 0,
            points: 0,
            config,
        })
    }

    /// The forest's parameters.
    pub fn config(&self) -> &ForestConfig {
        &self.config
    }

    /// Records taken so far (rejected records are not counted).
    pub fn records_seen(&self) -> u64 {
        self.records
    }

    /// Whether the next full shingle gets a real score (warm-up is over).
    pub fn is_warm(&self) -> bool {
        self.points >= self.output_after
    }

    /// Points each tree holds now; never more than `subSampleSize`.
    pub fn tree_sample_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.members.iter().map(|m| m.sampler.len())
    }

    /// Scores `record` (one value per numeric column), then adds it to the
    /// forest. Returns 0 during warm-up and until `shingleSize` records have
    /// arrived. A record of the wrong width or with a NaN or infinite value
    /// is an error and leaves the forest unchanged.
    pub fn score_and_update(&mut self, record: &[f64]) -> Result<f64> {
        if !self.take(record)? {
            return Ok(0.0);
        }
        let score = if self.is_warm() {
            let point = &self.shingle;
            let sum: f64 = self.members.iter_mut().map(|m| m.tree.score(point)).sum();
            sum / self.members.len() as f64
        } else {
            0.0
        };
        self.update();
        Ok(score)
    }

    /// Like [`Self::score_and_update`], with each input column's
    /// [`Attribution`] (all zero during warm-up). The attributions' scores
    /// sum to the returned score.
    pub fn explain_and_update(&mut self, record: &[f64]) -> Result<(f64, Vec<Attribution>)> {
        let columns = self.config.dimensions;
        if !self.take(record)? || !self.is_warm() {
            if self.records >= self.config.shingle_size as u64 {
                self.update();
            }
            return Ok((0.0, vec![Attribution::default(); columns]));
        }
        let dim = self.shingle.len();
        let mut high = vec![0.0; dim];
        let mut low = vec![0.0; dim];
        let point = &self.shingle;
        for m in &mut self.members {
            m.tree.attribution(point, &mut high, &mut low);
        }
        let trees = self.members.len() as f64;
        let mut out = vec![Attribution::default(); columns];
        for (i, (h, l)) in high.iter().zip(&low).enumerate() {
            let a = &mut out[i % columns];
            a.high += h / trees;
            a.low += l / trees;
        }
        let score = out.iter().map(Attribution::score).sum();
        self.update();
        Ok((score, out))
    }

    /// Checks `record` and shifts it into the shingle. `Ok(true)` when the
    /// shingle is full (there is a point to score and add).
    fn take(&mut self, record: &[f64]) -> Result<bool> {
        let columns = self.config.dimensions;
        if record.len() != columns {
            return Err(RcfError::WrongDimensions {
                expected: columns,
                got: record.len(),
            });
        }
        if let Some((column, &value)) = record.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(RcfError::NonFiniteInput { column, value });
        }
        let len = self.shingle.len();
        self.shingle.copy_within(columns.., 0);
        self.shingle[len - columns..].copy_from_slice(record);
        self.records += 1;
        Ok(self.records >= self.config.shingle_size as u64)
    }

    /// Offers the current shingle to every tree's sampler.
    fn update(&mut self) {
        self.points += 1;
        let t = self.points;
        let point = &self.shingle;
        for m in &mut self.members {
            if let Decision::Accept { key, evict } = m.sampler.offer(t, &mut m.rng) {
                if let Some(leaf) = evict {
                    m.tree.delete(leaf);
                }
                if let Some(leaf) = m.tree.insert(point, &mut m.rng) {
                    m.sampler.accepted(key, leaf);
                }
            }
        }
    }

    /// Checks every tree's invariants and that each holds what its sampler
    /// says (tests only).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        for m in &self.members {
            assert_eq!(m.tree.check() as usize, m.sampler.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test data: uniform and standard normal draws from the crate's own
    /// generator.
    struct Data(SplitMix64);

    impl Data {
        fn new(seed: u64) -> Self {
            Self(SplitMix64::new(seed))
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.0.next_open01(), self.0.next_open01());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    fn config(dimensions: usize) -> ForestConfig {
        ForestConfig {
            number_of_trees: 50,
            seed: 7,
            ..ForestConfig::kda_defaults(dimensions)
        }
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    #[test]
    fn outliers_score_well_above_inliers() {
        let mut forest = RandomCutForest::new(config(2)).unwrap();
        let mut data = Data::new(1);
        for _ in 0..2_000 {
            forest
                .score_and_update(&[data.normal(), data.normal()])
                .unwrap();
        }
        let mut inliers = Vec::new();
        let mut outliers = Vec::new();
        for i in 0..500 {
            if i % 50 == 25 {
                let sign = if i % 100 == 25 { 1.0 } else { -1.0 };
                outliers.push(forest.score_and_update(&[8.0 * sign, 6.0]).unwrap());
            } else {
                inliers.push(
                    forest
                        .score_and_update(&[data.normal(), data.normal()])
                        .unwrap(),
                );
            }
        }
        let inlier_mean = mean(&inliers);
        let lowest_outlier = outliers.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(
            inlier_mean > 0.3 && inlier_mean < 1.5,
            "inlier mean {inlier_mean}"
        );
        assert!(
            lowest_outlier > 2.5 * inlier_mean,
            "lowest outlier {lowest_outlier}, inlier mean {inlier_mean}"
        );
        forest.check();
    }

    #[test]
    fn warm_up_scores_zero_then_scores() {
        let cfg = ForestConfig {
            shingle_size: 3,
            ..config(1)
        };
        let warm = cfg.effective_output_after(); // 64 points
        assert_eq!(warm, 64);
        let mut forest = RandomCutForest::new(cfg).unwrap();
        let mut data = Data::new(2);
        // 2 records to fill the shingle, then 64 points of warm-up.
        for i in 0..(2 + warm) {
            assert!(!forest.is_warm() || i >= 2 + warm);
            assert_eq!(
                forest.score_and_update(&[data.normal()]).unwrap(),
                0.0,
                "record {i}"
            );
        }
        assert!(forest.is_warm());
        assert!(forest.score_and_update(&[data.normal()]).unwrap() > 0.0);
        // explain_and_update warms up the same way.
        let mut forest = RandomCutForest::new(config(2)).unwrap();
        for _ in 0..warm {
            let (score, attribution) = forest.explain_and_update(&[1.0, 2.0]).unwrap();
            assert_eq!(score, 0.0);
            assert_eq!(attribution, vec![Attribution::default(); 2]);
        }
        let (score, _) = forest.explain_and_update(&[50.0, 2.0]).unwrap();
        assert!(score > 0.0);
    }

    #[test]
    fn same_seed_same_scores() {
        let run = |seed: u64| {
            let mut forest = RandomCutForest::new(ForestConfig { seed, ..config(3) }).unwrap();
            let mut data = Data::new(3);
            (0..1_500)
                .map(|_| {
                    let r = [data.normal(), data.normal(), 10.0 * data.normal()];
                    forest.score_and_update(&r).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let a = run(11);
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
    }

    #[test]
    fn trees_never_hold_more_than_sub_sample_size() {
        let cfg = ForestConfig {
            number_of_trees: 10,
            sub_sample_size: 32,
            time_decay: 50.0,
            shingle_size: 2,
            ..config(2)
        };
        let mut forest = RandomCutForest::new(cfg).unwrap();
        let mut data = Data::new(4);
        for i in 0..5_000 {
            // Some exact repeats too, to exercise duplicate leaves.
            let r = if i % 7 == 0 {
                [1.0, 1.0]
            } else {
                [data.normal(), data.normal()]
            };
            forest.score_and_update(&r).unwrap();
            assert!(forest.tree_sample_sizes().all(|n| n <= 32));
            if i % 500 == 0 {
                forest.check();
            }
        }
        assert!(forest.tree_sample_sizes().all(|n| n == 32));
        forest.check();
    }

    #[test]
    fn constant_stream_scores_low_and_duplicates_are_counted() {
        let mut forest = RandomCutForest::new(config(1)).unwrap();
        for _ in 0..1_000 {
            forest.score_and_update(&[5.0]).unwrap();
        }
        forest.check();
        let same = forest.score_and_update(&[5.0]).unwrap();
        let other = forest.score_and_update(&[6.0]).unwrap();
        // One leaf of mass 256 at the root: damped by 1 - 256/512, scored as
        // log2(257) levels deep, times log2(257): exactly 0.5.
        assert!((same - 0.5).abs() < 1e-12, "{same}");
        // Unseen, cut off at the root: 1 × log2(257).
        assert!((other - 257f64.log2()).abs() < 1e-12, "{other}");
    }

    /// A sine of period 17.3 (1 column): a half-period phase jump keeps every
    /// value inside the usual range, so only the shape (the shingle) shows
    /// it. Returns the highest score over the 1,000 records before the
    /// break and over the 10 records from it.
    fn sine_with_phase_break(shingle_size: usize) -> (f64, f64) {
        let cfg = ForestConfig {
            shingle_size,
            ..config(1)
        };
        let mut forest = RandomCutForest::new(cfg).unwrap();
        let period = 17.3;
        let wave = |t: f64, phase: f64| (std::f64::consts::TAU * t / period + phase).sin();
        let mut before: f64 = 0.0;
        for t in 0..3_000 {
            let s = forest.score_and_update(&[wave(f64::from(t), 0.0)]).unwrap();
            if t >= 2_000 {
                before = before.max(s);
            }
        }
        let mut after: f64 = 0.0;
        for t in 3_000..3_010 {
            let s = forest
                .score_and_update(&[wave(f64::from(t), std::f64::consts::PI)])
                .unwrap();
            after = after.max(s);
        }
        (before, after)
    }

    #[test]
    fn shingling_detects_a_phase_break_a_single_point_does_not() {
        let (before, after) = sine_with_phase_break(8);
        // Seed 7: shingled 1.02 before, 1.89 after; single point 1.04, 0.95.
        assert!(
            after > 1.5 * before,
            "shingled: before {before}, after {after}"
        );
        let (before1, after1) = sine_with_phase_break(1);
        assert!(
            after1 < 1.1 * before1,
            "single point: before {before1}, after {after1}"
        );
    }

    #[test]
    fn time_decay_adapts_to_a_level_shift() {
        let cfg = ForestConfig {
            time_decay: 256.0,
            ..config(1)
        };
        let mut forest = RandomCutForest::new(cfg).unwrap();
        let mut data = Data::new(5);
        let mut baseline = Vec::new();
        for t in 0..3_000 {
            let s = forest.score_and_update(&[data.normal()]).unwrap();
            if t >= 2_000 {
                baseline.push(s);
            }
        }
        let baseline = mean(&baseline);
        let mut shifted = Vec::new();
        for _ in 0..3_000 {
            shifted.push(forest.score_and_update(&[50.0 + data.normal()]).unwrap());
        }
        let first = mean(&shifted[..5]);
        let last = mean(&shifted[2_000..]);
        assert!(first > 3.0 * baseline, "first {first}, baseline {baseline}");
        assert!(last < 1.3 * baseline, "last {last}, baseline {baseline}");
        forest.check();
    }

    #[test]
    fn attribution_points_at_the_column_that_moved() {
        let mut forest = RandomCutForest::new(config(3)).unwrap();
        let mut data = Data::new(6);
        for _ in 0..2_000 {
            let r = [data.normal(), 10.0 + data.normal(), data.normal()];
            forest.explain_and_update(&r).unwrap();
        }
        // Column 1 far too high.
        let (score, a) = forest.explain_and_update(&[0.0, 20.0, 0.0]).unwrap();
        let sum: f64 = a.iter().map(Attribution::score).sum();
        assert!((sum - score).abs() < 1e-9 * score.max(1.0));
        assert!(a[1].score() > 0.8 * score, "{a:?}");
        assert_eq!(a[1].direction(), Direction::High);
        assert!(a[1].strength() > 0.9 * a[1].score());
        // Column 2 far too low.
        let (score, a) = forest.explain_and_update(&[0.0, 10.0, -9.0]).unwrap();
        assert!(a[2].score() > 0.8 * score, "{a:?}");
        assert_eq!(a[2].direction(), Direction::Low);
        assert_eq!(a[2].direction().as_str(), "LOW");
    }

    #[test]
    fn explanation_agrees_with_the_score() {
        let cfg = ForestConfig {
            shingle_size: 4,
            ..config(2)
        };
        let mut plain = RandomCutForest::new(cfg.clone()).unwrap();
        let mut explained = RandomCutForest::new(cfg).unwrap();
        let mut data = Data::new(8);
        for t in 0..1_500 {
            let r = if t % 97 == 0 {
                [30.0, data.normal()]
            } else {
                [data.normal(), data.normal()]
            };
            let s = plain.score_and_update(&r).unwrap();
            let (e, a) = explained.explain_and_update(&r).unwrap();
            assert_eq!(a.len(), 2);
            assert!((s - e).abs() <= 1e-9 * s.max(1.0), "t {t}: {s} vs {e}");
        }
    }

    #[test]
    fn non_finite_and_wrong_width_records_are_rejected_without_effect() {
        let mut forest = RandomCutForest::new(config(2)).unwrap();
        let mut twin = RandomCutForest::new(config(2)).unwrap();
        let mut data = Data::new(9);
        for t in 0..500 {
            let r = [data.normal(), data.normal()];
            if t % 50 == 0 {
                assert!(matches!(
                    forest.score_and_update(&[r[0], f64::NAN]),
                    Err(RcfError::NonFiniteInput { column: 1, value }) if value.is_nan()
                ));
                assert!(matches!(
                    forest.score_and_update(&[f64::INFINITY, 0.0]),
                    Err(RcfError::NonFiniteInput { column: 0, .. })
                ));
                assert_eq!(
                    forest.explain_and_update(&[1.0]).unwrap_err(),
                    RcfError::WrongDimensions {
                        expected: 2,
                        got: 1
                    }
                );
            }
            assert_eq!(
                forest.score_and_update(&r).unwrap(),
                twin.score_and_update(&r).unwrap()
            );
        }
        assert_eq!(forest.records_seen(), 500);
        let err = forest
            .score_and_update(&[f64::NEG_INFINITY, 0.0])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 0 is -inf: RANDOM_CUT_FOREST scores finite numbers only"
        );
    }

    #[test]
    fn parameters_outside_kda_ranges_are_rejected() {
        let base = ForestConfig::kda_defaults(2);
        assert_eq!(base.validate(), Ok(()));
        let cases = [
            (
                ForestConfig {
                    number_of_trees: 0,
                    ..base.clone()
                },
                "numberOfTrees must be between 1 and 1000 (inclusive), got 0",
            ),
            (
                ForestConfig {
                    number_of_trees: 1_001,
                    ..base.clone()
                },
                "numberOfTrees must be between 1 and 1000 (inclusive), got 1001",
            ),
            (
                ForestConfig {
                    sub_sample_size: 9,
                    ..base.clone()
                },
                "subSampleSize must be between 10 and 1000 (inclusive), got 9",
            ),
            (
                ForestConfig {
                    sub_sample_size: 1_001,
                    ..base.clone()
                },
                "subSampleSize must be between 10 and 1000 (inclusive), got 1001",
            ),
            (
                ForestConfig {
                    time_decay: 0.0,
                    ..base.clone()
                },
                "timeDecay must be between 1 and 2147483647 (inclusive), got 0",
            ),
            (
                ForestConfig {
                    time_decay: f64::NAN,
                    ..base.clone()
                },
                "timeDecay must be between 1 and 2147483647 (inclusive), got NaN",
            ),
            (
                ForestConfig {
                    shingle_size: 0,
                    ..base.clone()
                },
                "shingleSize must be between 1 and 30 (inclusive), got 0",
            ),
            (
                ForestConfig {
                    shingle_size: 31,
                    ..base.clone()
                },
                "shingleSize must be between 1 and 30 (inclusive), got 31",
            ),
            (
                ForestConfig {
                    dimensions: 0,
                    ..base.clone()
                },
                "dimensions must be between 1 and 1000 (inclusive), got 0",
            ),
            (
                ForestConfig {
                    output_after: Some(0),
                    ..base.clone()
                },
                "outputAfter must be between 1 and 4294967295 (inclusive), got 0",
            ),
        ];
        for (cfg, message) in cases {
            let err = RandomCutForest::new(cfg).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        let err = ForestConfig {
            shingle_size: 31,
            ..base
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err,
            RcfError::ParameterOutOfRange {
                parameter: "shingleSize",
                value: 31.0,
                min: 1.0,
                max: 30.0
            }
        );
    }
}
