//! Run the Kinesis Video Streams API alone:
//! `cargo run -p sluice-video --example video-serve -- --listen 127.0.0.1:PORT --data-dir DIR`
//! Serves until SIGTERM or SIGINT. Prints `listening on ADDR` once ready.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_video::{SystemClock, VideoApi, VideoConfig, server};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen = "127.0.0.1:4567".to_string();
    let mut data_dir = None;
    let mut idle_ms = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().context("--listen ADDR")?,
            "--data-dir" => data_dir = Some(args.next().context("--data-dir DIR")?),
            "--get-media-idle-ms" => {
                idle_ms = Some(
                    args.next()
                        .context("--get-media-idle-ms MS")?
                        .parse::<u64>()?,
                )
            }
            other => bail!("unknown argument {other}; use --listen ADDR --data-dir DIR"),
        }
    }
    let data_dir = data_dir.context("--data-dir DIR is required")?;
    let mut config = VideoConfig::new(&data_dir);
    if let Some(ms) = idle_ms {
        config.get_media_idle = Duration::from_millis(ms);
    }
    let api = VideoApi::open(config, Arc::new(SystemClock))
        .with_context(|| format!("opening {data_dir}"))?;
    let _retention = api.spawn_retention(Duration::from_secs(60));
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // Registered before the address is printed: a SIGTERM right after it
    // still stops the server cleanly.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    println!("listening on {}", listener.local_addr()?);
    server::serve(api, listener, async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
    .await;
    Ok(())
}
