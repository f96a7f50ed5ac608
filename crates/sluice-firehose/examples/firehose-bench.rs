//! Delivery throughput benchmark until `sluice bench` wires it:
//! `cargo run --release -p sluice-firehose --example firehose-bench -- [MB]`.

use std::sync::Arc;

use sluice_firehose::SystemClock;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mb: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(64);
    let dir = tempfile::tempdir()?;
    let report =
        sluice_firehose::bench::run(dir.path(), mb * 1_000_000, Arc::new(SystemClock)).await?;
    println!("{report}");
    Ok(())
}
