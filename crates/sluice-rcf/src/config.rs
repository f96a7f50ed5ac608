//! [`ForestConfig`]: the parameters of KDA's `RANDOM_CUT_FOREST`, their
//! defaults and their allowed ranges.

use crate::error::{RcfError, Result};

/// KDA's default `numberOfTrees`.
pub const DEFAULT_NUMBER_OF_TREES: usize = 100;
/// KDA's default `subSampleSize`.
pub const DEFAULT_SUB_SAMPLE_SIZE: usize = 256;
/// KDA's default `timeDecay`.
pub const DEFAULT_TIME_DECAY: f64 = 100_000.0;
/// KDA's default `shingleSize`.
pub const DEFAULT_SHINGLE_SIZE: usize = 1;

/// Allowed `numberOfTrees` (KDA: 1 to 1,000).
pub const NUMBER_OF_TREES_RANGE: (usize, usize) = (1, 1_000);
/// Allowed `subSampleSize` (KDA: 10 to 1,000).
pub const SUB_SAMPLE_SIZE_RANGE: (usize, usize) = (10, 1_000);
/// Allowed `timeDecay` (KDA: 1 to the largest INTEGER).
pub const TIME_DECAY_RANGE: (f64, f64) = (1.0, i32::MAX as f64);
/// Allowed `shingleSize` (KDA: 1 to 30).
pub const SHINGLE_SIZE_RANGE: (usize, usize) = (1, 30);
/// Numeric columns per record this crate accepts (not a KDA parameter).
pub const DIMENSIONS_RANGE: (usize, usize) = (1, 1_000);

/// How a [`RandomCutForest`](crate::RandomCutForest) samples, shingles and
/// warms up. Start from [`ForestConfig::kda_defaults`] and override what the
/// SQL call passes.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestConfig {
    /// KDA `numberOfTrees`: trees in the forest; the score is their mean.
    pub number_of_trees: usize,
    /// KDA `subSampleSize`: points each tree keeps (its reservoir).
    pub sub_sample_size: usize,
    /// KDA `timeDecay`: how many recent records the sample mostly reflects.
    /// The sampler's decay rate is `λ = 1 / timeDecay` per shingled point:
    /// a point that arrived `timeDecay` points ago weighs `1/e` of a new one.
    pub time_decay: f64,
    /// KDA `shingleSize`: consecutive records concatenated into one point.
    pub shingle_size: usize,
    /// Numeric columns per record (the cursor's numeric columns).
    pub dimensions: usize,
    /// Seed of every random choice (sampling and cuts): the same seed and
    /// input give the same scores.
    pub seed: u64,
    /// Shingled points the forest must have taken in before it scores;
    /// scores are 0 until then. `None` is `max(1, subSampleSize / 4)`, the
    /// AWS random cut forest library's default. Not a KDA parameter.
    pub output_after: Option<usize>,
}

impl ForestConfig {
    /// KDA's defaults (100 trees, 256 samples, timeDecay 100,000, shingle 1)
    /// for records of `dimensions` numeric columns, seed 0.
    pub fn kda_defaults(dimensions: usize) -> Self {
        Self {
            number_of_trees: DEFAULT_NUMBER_OF_TREES,
            sub_sample_size: DEFAULT_SUB_SAMPLE_SIZE,
            time_decay: DEFAULT_TIME_DECAY,
            shingle_size: DEFAULT_SHINGLE_SIZE,
            dimensions,
            seed: 0,
            output_after: None,
        }
    }

    /// Checks every parameter against KDA's range; the error names the
    /// parameter (as KDA spells it) and the range.
    pub fn validate(&self) -> Result<()> {
        check_usize("numberOfTrees", self.number_of_trees, NUMBER_OF_TREES_RANGE)?;
        check_usize("subSampleSize", self.sub_sample_size, SUB_SAMPLE_SIZE_RANGE)?;
        let (min, max) = TIME_DECAY_RANGE;
        // NaN fails both comparisons' negation, so test "inside" positively.
        if !(self.time_decay >= min && self.time_decay <= max) {
            return Err(RcfError::ParameterOutOfRange {
                parameter: "timeDecay",
                value: self.time_decay,
                min,
                max,
            });
        }
        check_usize("shingleSize", self.shingle_size, SHINGLE_SIZE_RANGE)?;
        check_usize("dimensions", self.dimensions, DIMENSIONS_RANGE)?;
        if let Some(n) = self.output_after {
            check_usize("outputAfter", n, (1, u32::MAX as usize))?;
        }
        Ok(())
    }

    /// Values per shingled point: `dimensions × shingleSize`.
    pub fn shingled_dimensions(&self) -> usize {
        self.dimensions * self.shingle_size
    }

    /// The warm-up length in shingled points (see [`Self::output_after`]).
    pub fn effective_output_after(&self) -> usize {
        self.output_after
            .unwrap_or((self.sub_sample_size / 4).max(1))
    }
}

fn check_usize(parameter: &'static str, value: usize, (min, max): (usize, usize)) -> Result<()> {
    if value < min || value > max {
        return Err(RcfError::ParameterOutOfRange {
            parameter,
            value: value as f64,
            min: min as f64,
            max: max as f64,
        });
    }
    Ok(())
}
