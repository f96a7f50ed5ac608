//! Ingest and read benchmarks of sluice-video ([`sluice_video::bench`]), over loopback:
//! `cargo run --release -p sluice-video --example video-bench -- [--mb 256] [--fragments 100000] [--latency-fragments 100] [--dir DIR]`
//!
//! Prints one line per figure: PutMedia ingest MB/s against the disk's raw
//! sequential write in the same run (target ≥ 80%), PERSISTED ACK latency
//! of a live producer, and GetMedia time to first byte with `--fragments`
//! fragments indexed. `sluice bench --mode video` runs the same.

use anyhow::Context;
use sluice_video::bench::{self, Bench, BenchOptions};

fn main() -> anyhow::Result<()> {
    let mut opts = BenchOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => opts.mb = args.next().context("--mb N")?.parse()?,
            "--fragments" => {
                opts.indexed_fragments = args.next().context("--fragments N")?.parse()?
            }
            "--latency-fragments" => {
                opts.live_fragments = args.next().context("--latency-fragments N")?.parse()?
            }
            "--dir" => opts.data_dir = Some(args.next().context("--dir DIR")?.into()),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    for figure in bench::run(&Bench::ALL, &opts)? {
        println!("{figure:#}");
    }
    Ok(())
}
