//! Records per second of `HOTSPOTS` on one core: the Developer Guide's
//! setting (x, y uniform in [0, 10], one record in five from a 1 × 1 square
//! that moves every 1,000 records; windowSize 1000, scanRadius 0.2, 17
//! points), the same with plain noise, half the records hot, a 5-column
//! variant, and the worst case: a scanRadius wider than the data, so every
//! record neighbours every other (run on a twentieth of the records).
//!
//! `cargo run --release -p sluice-hotspots --example hotspots-bench [records]`

use std::time::Instant;

use sluice_hotspots::{Hotspots, HotspotsConfig, HotspotsError};

/// xorshift64*: test data only.
struct Noise(u64);

impl Noise {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The Developer Guide's generator, in `columns` columns: with probability
/// `hot` a record comes from the current unit hypercube, else from [0, 10]^d.
fn rows(columns: usize, hot: f64, records: usize) -> Vec<Vec<f64>> {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut corner = vec![0.0; columns];
    (0..records)
        .map(|i| {
            if i % 1_000 == 0 {
                corner = (0..columns).map(|_| 9.0 * noise.unit()).collect();
            }
            if noise.unit() < hot {
                corner.iter().map(|c| c + noise.unit()).collect()
            } else {
                (0..columns).map(|_| 10.0 * noise.unit()).collect()
            }
        })
        .collect()
}

fn run(label: &str, config: HotspotsConfig, hot: f64, records: usize) -> Result<(), HotspotsError> {
    let rows = rows(config.dimensions, hot, records);
    let mut hotspots = Hotspots::new(config.clone())?;
    let start = Instant::now();
    let mut found = 0usize;
    let mut bytes = 0usize;
    for row in &rows {
        let text = hotspots.push(row)?;
        bytes += text.len();
        found += usize::from(text.len() > 15);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "HOTSPOTS {label:<28} window {} radius {} minPts {} columns {}: {records} records in {seconds:.2} s = {:>8.0} records/s ({:.0}% rows with a hotspot, {:.0} JSON bytes/row)",
        config.window_size,
        config.scan_radius,
        config.minimum_number_of_points,
        config.dimensions,
        records as f64 / seconds,
        100.0 * found as f64 / records as f64,
        bytes as f64 / records as f64,
    );
    Ok(())
}

fn main() -> Result<(), HotspotsError> {
    let records = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    run(
        "developer guide (20% hot)",
        HotspotsConfig::new(1_000, 0.2, 17, 2),
        0.2,
        records,
    )?;
    run(
        "uniform noise",
        HotspotsConfig::new(1_000, 0.2, 17, 2),
        0.0,
        records,
    )?;
    run(
        "50% hot",
        HotspotsConfig::new(1_000, 0.2, 17, 2),
        0.5,
        records,
    )?;
    run(
        "5 columns (20% hot)",
        HotspotsConfig::new(1_000, 0.5, 17, 5),
        0.2,
        records,
    )?;
    run(
        "worst case (all neighbours)",
        HotspotsConfig::new(1_000, 100.0, 17, 2),
        0.2,
        (records / 20).max(1),
    )?;
    Ok(())
}
