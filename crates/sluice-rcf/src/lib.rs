//! Random cut forest anomaly detection for Sluice: the algorithm behind
//! KDA's `RANDOM_CUT_FOREST` and `RANDOM_CUT_FOREST_WITH_EXPLANATION`
//! (Guha, Mishra, Roy, Schrijvers, "Robust Random Cut Forest Based Anomaly
//! Detection on Streams", ICML 2016). No SQL here: the engine's table
//! function operator feeds each cursor row's numeric columns in, in stream
//! order, and writes `ANOMALY_SCORE` (and `ANOMALY_EXPLANATION`) out.
//!
//! Entry point: [`RandomCutForest::new`] with a [`ForestConfig`] (start from
//! [`ForestConfig::kda_defaults`]), then per record
//! [`RandomCutForest::score_and_update`] or
//! [`RandomCutForest::explain_and_update`].
//!
//! ```
//! use sluice_rcf::{ForestConfig, RandomCutForest};
//!
//! let mut forest = RandomCutForest::new(ForestConfig::kda_defaults(1))?;
//! for i in 0..1_000 {
//!     let x = (f64::from(i) * 0.1).sin();
//!     forest.score_and_update(&[x])?;
//! }
//! let normal = forest.score_and_update(&[0.5])?;
//! let spike = forest.score_and_update(&[25.0])?;
//! assert!(spike > 2.0 * normal);
//! # Ok::<(), sluice_rcf::RcfError>(())
//! ```
//!
//! # The model
//!
//! * **Shingling.** With `shingleSize` s the forest's points are the
//!   concatenation of the last s records (oldest first), `dimensions × s`
//!   values. Until s records have arrived there is no point: the score is 0
//!   and the forest is unchanged.
//! * **Sampling.** Each of the `numberOfTrees` trees keeps at most
//!   `subSampleSize` points, chosen by time-decayed reservoir sampling with
//!   decay `λ = 1 / timeDecay` per point (see the `sampler` module): new
//!   points enter a tree when their random key beats the worst kept one,
//!   which leaves the tree. Trees are maintained incrementally: insertion
//!   draws random cuts down the path (dimension in proportion to the
//!   bounding box's range, value uniform), as in the paper; deletion splices
//!   the leaf out and shrinks the boxes above.
//! * **Score, then update.** A record is scored against the forest as it
//!   was before the record, then offered to every tree's sampler.
//! * **Warm-up.** The score is 0 until the forest has taken in
//!   [`ForestConfig::output_after`] points (default `subSampleSize / 4`,
//!   64 with KDA's defaults, the AWS library's rule).
//!
//! # The score
//!
//! For one tree, follow the point `p`'s path from the root to the leaf it
//! falls into. At the leaf (depth `D`, root depth 0) the score starts at
//! `1/(D+1)`: the value of being isolated there. Going up, at each node at
//! depth `k` with bounding box `B`, a random cut of `B ∪ {p}` separates `p`
//! from `B` with probability `P = (range sum of B ∪ {p} − range sum of B) /
//! range sum of B ∪ {p}`; the score becomes `P/(k+1) + (1 − P)·score`. Once
//! `P` is 0 (p inside the box) nothing above changes it. If the leaf's point
//! equals `p` (p was seen before, m copies), the score is
//! `(1 − m/(2·mass)) / (D + log2(m+1))` instead. The tree's score is
//! multiplied by `log2(mass + 1)` (mass = points in the tree), and the
//! forest's score is the mean over trees. Points like the sample score about
//! 1 or below; isolated points score several times higher. This is the
//! expected "displacement" of the paper approximated bottom-up, as the AWS
//! random cut forest library's anomaly score visitor defines it.
//!
//! # The attribution
//!
//! The same recurrence, split by dimension and side: at each step the
//! separation probability `P` is the sum over dimensions of the gap above
//! the box (`p[d] − max[d]`, "high") and below it (`min[d] − p[d]`, "low"),
//! over the merged range sum, so each dimension's high and low parts
//! follow `part·/(k+1) + (1 − P)·previous`. Summed over all dimensions and
//! both sides this is exactly the score. A duplicate's score is spread
//! evenly. [`Attribution`] then adds up the shingle positions of each input
//! column; the attributions of a record sum to its score, as KDA states.
//!
//! # Agreement with AWS's implementation
//!
//! `ci.sh` runs `tests/agreement/agreement.py`: AWS's random cut forest
//! (its Rust library, through the `krcf` Python binding) and the
//! `rcf-scores` example score the same series with KDA's defaults (krcf's
//! `lambda` is `1 / timeDecay`; both warm up for `subSampleSize / 4`
//! points). Sluice's scores rank the rows as AWS's do (Spearman ≥ 0.85, as
//! two seeds of AWS's agree with each other) and put every planted anomaly
//! in the top 1%. One known difference, invisible in those figures: while a
//! tree's sample is filling, AWS's sampler takes a new point only with a
//! probability that falls from 1 (below 1/8 full) towards 0 (full), so its
//! trees hold fewer points early on; Sluice's take every point until full.
//!
//! # Memory
//!
//! Fixed when the forest is built, independent of the stream length: each
//! tree holds `subSampleSize` leaves (a point of `dimensions × shingleSize`
//! f64 each) and `subSampleSize − 1` internal nodes (a bounding box of
//! `2 × dimensions × shingleSize` f64 plus about 32 bytes), and the sampler
//! 16 bytes per point: about
//! `numberOfTrees × subSampleSize × (24 × dimensions × shingleSize + 72)`
//! bytes — 100 trees × 256 samples × 1 column ≈ 2.4 MB.

mod config;
mod error;
mod forest;
mod rng;
mod sampler;
mod tree;

pub use config::{
    DEFAULT_NUMBER_OF_TREES, DEFAULT_SHINGLE_SIZE, DEFAULT_SUB_SAMPLE_SIZE, DEFAULT_TIME_DECAY,
    DIMENSIONS_RANGE, ForestConfig, NUMBER_OF_TREES_RANGE, SHINGLE_SIZE_RANGE,
    SUB_SAMPLE_SIZE_RANGE, TIME_DECAY_RANGE,
};
pub use error::{RcfError, Result};
pub use forest::{Attribution, Direction, RandomCutForest};
