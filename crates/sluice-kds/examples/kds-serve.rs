//! Runs the KDS API alone until SIGTERM or SIGINT:
//! `cargo run -p sluice-kds --example kds-serve -- --listen 127.0.0.1:4567 --data-dir DIR`.
//! With `--tls-cert CERT.pem --tls-key KEY.pem` the same port also serves
//! HTTPS (HTTP/2 or HTTP/1.1 by ALPN) beside cleartext HTTP/1.1 and h2c.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sluice_kds::sigv4::SigV4Verifier;
use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, SystemClock};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4567")]
    listen: String,
    /// Directory for the shard log.
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Enforce AWS's per-shard throughput limits.
    #[arg(long)]
    throttle: bool,
    /// Authentication: `off` or `sigv4`.
    #[arg(long, default_value = "off")]
    auth: String,
    /// Access keys accepted with `--auth sigv4`, as ACCESS_KEY_ID:SECRET (repeatable).
    #[arg(long = "access-key")]
    access_keys: Vec<String>,
    /// PEM certificate chain for TLS on the same port (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for TLS on the same port (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// How long a new stream is CREATING, ms.
    #[arg(long, default_value_t = 0)]
    create_delay_ms: i64,
    /// How long a deleted stream is described as DELETING, ms.
    #[arg(long, default_value_t = 0)]
    delete_delay_ms: i64,
    /// How long a stream is UPDATING after a change, ms.
    #[arg(long, default_value_t = 0)]
    update_delay_ms: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = KdsOptions {
        throttle: args.throttle,
        create_delay_ms: args.create_delay_ms,
        delete_delay_ms: args.delete_delay_ms,
        update_delay_ms: args.update_delay_ms,
        ..KdsOptions::default()
    };
    let auth = match args.auth.as_str() {
        "off" => None,
        "sigv4" => {
            let mut keys = Vec::new();
            for k in &args.access_keys {
                let (id, secret) = k
                    .split_once(':')
                    .context("--access-key must be ACCESS_KEY_ID:SECRET")?;
                keys.push((id.to_owned(), secret.to_owned()));
            }
            Some(Arc::new(SigV4Verifier::new(keys)))
        }
        other => anyhow::bail!("--auth must be off or sigv4, not {other}"),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(sluice_kds::load_tls_config(cert, key)?),
        _ => None,
    };
    let kds = Kds::open(&args.data_dir, options, Arc::new(SystemClock))
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    for (stream, shard, reason) in kds.stopped_shards() {
        eprintln!("sluice-kds: stream {stream} shard {shard} is stopped: {reason}");
    }
    let shutdown = sluice_kds::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("sluice-kds: listening on {}", listener.local_addr()?);
    sluice_kds::serve_api(
        listener,
        KdsApi::new(
            kds,
            ApiOptions {
                auth,
                ..ApiOptions::default()
            },
        ),
        tls,
        shutdown,
    )
    .await;
    eprintln!("sluice-kds: stopped");
    Ok(())
}
