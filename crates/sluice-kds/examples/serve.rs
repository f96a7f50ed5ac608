//! Runs the KDS API alone until SIGTERM or SIGINT:
//! `cargo run -p sluice-kds --example serve -- --listen 127.0.0.1:4567 --data-dir DIR`.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, SystemClock};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4567")]
    listen: String,
    /// Directory for the shard log.
    #[arg(long)]
    data_dir: std::path::PathBuf,
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kds = Kds::open(&args.data_dir, KdsOptions::default(), Arc::new(SystemClock))
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    for (stream, shard, reason) in kds.stopped_shards() {
        eprintln!("sluice-kds: stream {stream} shard {shard} is stopped: {reason}");
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("sluice-kds: listening on {}", listener.local_addr()?);
    sluice_kds::serve(listener, KdsApi::new(kds, ApiOptions::default()), shutdown_signal()).await;
    eprintln!("sluice-kds: stopped");
    Ok(())
}
