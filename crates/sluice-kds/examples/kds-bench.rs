//! The shard log's benchmarks (a)–(e), each printed beside its target: a
//! thin wrapper over [`sluice_kds::bench`], which describes them.
//! `sluice bench --mode kds` prints the same figures;
//! `cargo run --release -p sluice-kds --example kds-bench -- [a|b|c|d|e|all]`
//! runs some of them alone, with more knobs.

use std::path::PathBuf;

use clap::Parser;
use sluice_kds::bench::{self, Bench, BenchOptions};

#[derive(Parser)]
struct Args {
    /// Which benchmarks: a, b, c, d, e, several (like bd) or all.
    #[arg(default_value = "all")]
    which: String,
    /// Seconds each benchmark runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// HTTP connections of the Rust load generator (b).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Producers of the embedded benchmarks: threads for (c), tasks for (e).
    #[arg(long, default_value_t = 64)]
    producers: usize,
    /// Shards of the embedded benchmarks' stream ((c) and (e)).
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Where the benchmark's data directories go.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let opts = BenchOptions {
        seconds: args.seconds,
        connections: args.connections,
        producers: args.producers,
        shards: args.shards,
        data_dir: args.data_dir,
        venv: None,
    };
    let mut missed = Vec::new();
    for which in Bench::parse_list(&args.which)? {
        for figure in bench::run(&[which], &opts)? {
            println!("{figure:#}");
            if figure.met != Some(true) {
                missed.extend(figure.label);
            }
        }
    }
    if !missed.is_empty() {
        println!("targets missed or not run: {missed:?}");
    }
    Ok(())
}
