//! `sluice video put FILE|-`: the PutMedia client on the command line.
//!
//! Streams a Matroska file (or stdin) to a Kinesis Video stream at
//! `--endpoint` (`sluice serve`, or any PutMedia endpoint) through
//! `sluice_video::client::put_media`, printing every ACK as the JSON line
//! the service sends. `--realtime` paces fragments by their timestamps (a
//! live camera's timing); after a broken connection the client resumes
//! with the first unacknowledged fragment. Exits non-zero when a fragment
//! was rejected or the upload failed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sluice_video::client::{Ack, FragmentTimecodeType, PutMediaOptions, put_media};

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
