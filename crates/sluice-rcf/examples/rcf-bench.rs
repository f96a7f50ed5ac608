//! Records per second of `RANDOM_CUT_FOREST` with KDA's defaults (100 trees,
//! 256 samples, timeDecay 100,000) on one core, for 1 and 5 numeric columns
//! and shingleSize 1 and 4.
//!
//! `cargo run --release -p sluice-rcf --example rcf-bench [records]`

use std::time::Instant;

use sluice_rcf::{ForestConfig, RandomCutForest};

/// xorshift64*: test data only.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

fn run(columns: usize, shingle_size: usize, records: usize) -> Result<(), sluice_rcf::RcfError> {
    let config = ForestConfig {
        shingle_size,
        ..ForestConfig::kda_defaults(columns)
    };
    let mut forest = RandomCutForest::new(config)?;
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let rows: Vec<Vec<f64>> = (0..records)
        .map(|i| {
            (0..columns)
                .map(|c| {
                    let t = i as f64 / (20.0 + c as f64);
                    let spike = if i % 997 == 0 { 8.0 } else { 0.0 };
                    (t * std::f64::consts::TAU).sin() + 0.1 * noise.next() + spike
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut total = 0.0;
    for row in &rows {
        total += forest.score_and_update(row)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "RANDOM_CUT_FOREST  columns {columns}  shingleSize {shingle_size}: {records} records in {seconds:.2} s = {:>8.0} records/s (mean score {:.3})",
        records as f64 / seconds,
        total / records as f64
    );
    Ok(())
}

fn main() -> Result<(), sluice_rcf::RcfError> {
    let records = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    run(1, 1, records)?;
    run(5, 1, records)?;
    run(1, 4, records)?;
    run(5, 4, records)?;
    Ok(())
}
