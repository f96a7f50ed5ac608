//! `sluice video put FILE|-`: the PutMedia client on the command line.
//!
//! Streams a Matroska file (or stdin) to a Kinesis Video stream at
//! `--endpoint` (`sluice serve`, or any PutMedia endpoint) through
//! `sluice_video::client::put_media`, printing every ACK as the JSON line
//! the service sends. `--realtime` paces fragments by their timestamps (a
//! live camera's timing); after a broken connection the client resumes
//! with the first unacknowledged fragment. Requests are signed (SigV4,
//! `UNSIGNED-PAYLOAD` as the body streams) with `--access-key ID:SECRET` or
//! the AWS_* environment's credentials, unsigned when there are none. Exits
//! non-zero when a fragment was rejected or the upload failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sluice_video::client::{Ack, FragmentTimecodeType, PutMediaOptions, RequestSigner, put_media};

/// `sluice video ...`.
#[derive(Subcommand)]
pub enum VideoCommand {
    /// Send a Matroska file (or `-` for stdin) through PutMedia, printing every ACK.
    Put(PutArgs),
}

/// Arguments of `sluice video put`.
#[derive(Args)]
pub struct PutArgs {
    /// The Matroska source: a file, or `-` for stdin.
    source: String,
    /// The Kinesis Video endpoint, e.g. http://127.0.0.1:4567.
    #[arg(long)]
    endpoint: String,
    /// The stream to put to.
    #[arg(long = "stream-name", alias = "stream")]
    stream_name: String,
    /// Pace fragments by their timestamps instead of sending at once.
    #[arg(long)]
    realtime: bool,
    /// RELATIVE fragment timecodes counted from this producer start time
    /// (epoch seconds); ABSOLUTE timecodes otherwise.
    #[arg(long, value_name = "START_SECS")]
    relative: Option<f64>,
    /// Connections in a row that acknowledge nothing before giving up.
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// Sign with this key pair (default: AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, if set).
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    access_key: Option<String>,
    /// The region in the signature (default: AWS_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
}

/// SigV4 for the Kinesis Video clients through the shard log crate's signer.
#[derive(Debug)]
struct Signer(sluice_kds::sigv4::SigV4Signer);

impl RequestSigner for Signer {
    fn sign(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<(String, String)> {
        let now = sluice_kds::Clock::now_ms(&sluice_kds::SystemClock);
        let payload_hash = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
            .map_or("UNSIGNED-PAYLOAD", |(_, v)| *v);
        self.0
            .sign_with_payload_hash(method, path, "", headers, payload_hash, now)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }
}

/// The signer `--access-key` or the environment asks for, if any.
fn signer(args: &PutArgs) -> Result<Option<Arc<dyn RequestSigner>>> {
    let credentials = match &args.access_key {
        Some(pair) => {
            let (id, secret) = pair
                .split_once(':')
                .with_context(|| format!("--access-key {pair:?}: expected ID:SECRET"))?;
            Some(sluice_kds::Credentials {
                access_key_id: id.to_owned(),
                secret_access_key: secret.to_owned(),
                session_token: None,
            })
        }
        None => sluice_kds::Credentials::from_env(),
    };
    let region = args
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_owned());
    Ok(signer_for(credentials, region))
}

/// A SigV4 signer for Kinesis Video in `region`, when there are credentials.
pub fn signer_for(
    credentials: Option<sluice_kds::Credentials>,
    region: String,
) -> Option<Arc<dyn RequestSigner>> {
    credentials.map(|c| {
        Arc::new(Signer(sluice_kds::sigv4::SigV4Signer::new(
            c.access_key_id,
            c.secret_access_key,
            c.session_token,
            region,
            "kinesisvideo",
        ))) as Arc<dyn RequestSigner>
    })
}

pub fn video(command: VideoCommand) -> Result<ExitCode> {
    match command {
        VideoCommand::Put(args) => put(args),
    }
}

fn put(args: PutArgs) -> Result<ExitCode> {
    let mut options = PutMediaOptions {
        realtime: args.realtime,
        max_attempts: args.max_attempts,
        signer: signer(&args)?,
        ..Default::default()
    };
    if let Some(start) = args.relative {
        options.fragment_timecode_type = FragmentTimecodeType::Relative;
        options.producer_start_timestamp = Some(start);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let print = |ack: &Ack| println!("{ack}");
    let summary = runtime.block_on(async {
        if args.source == "-" {
            put_media(
                &args.endpoint,
                &args.stream_name,
                tokio::io::stdin(),
                &options,
                print,
            )
            .await
        } else {
            let path = PathBuf::from(&args.source);
            let file = tokio::fs::File::open(&path).await.map_err(|e| {
                sluice_video::VideoError::Client {
                    endpoint: args.endpoint.clone(),
                    reason: format!("cannot open {}: {e}", path.display()),
                }
            })?;
            put_media(&args.endpoint, &args.stream_name, file, &options, print).await
        }
    })?;
    eprintln!(
        "sluice video put: {} fragments ({} bytes), {} RECEIVED, {} PERSISTED, {} ERROR, {} connection(s)",
        summary.fragments,
        summary.source_bytes,
        summary.received,
        summary.persisted,
        summary.errors,
        summary.connections
    );
    Ok(if summary.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
