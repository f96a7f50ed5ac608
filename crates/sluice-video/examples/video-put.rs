//! Send a Matroska file (or stdin) to a Kinesis Video stream with the
//! crate's PutMedia client, printing every ACK as its JSON line:
//! `cargo run -p sluice-video --example video-put -- FILE|- --endpoint URL --stream NAME [--realtime] [--relative START_SECS]`
//! (the `sluice video put` command calls the same [`put_media`]).

use anyhow::{Context, bail};
use sluice_video::client::{FragmentTimecodeType, PutMediaOptions, put_media};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut file = None;
    let mut endpoint = None;
    let mut stream = None;
    let mut options = PutMediaOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--endpoint" => endpoint = Some(args.next().context("--endpoint URL")?),
            "--stream" => stream = Some(args.next().context("--stream NAME")?),
            "--realtime" => options.realtime = true,
            "--relative" => {
                options.fragment_timecode_type = FragmentTimecodeType::Relative;
                options.producer_start_timestamp =
                    Some(args.next().context("--relative START_SECS")?.parse()?);
            }
            other if file.is_none() && (other == "-" || !other.starts_with("--")) => {
                file = Some(other.to_string())
            }
            other => bail!("unknown argument {other}"),
        }
    }
    let (Some(file), Some(endpoint), Some(stream)) = (file, endpoint, stream) else {
        bail!(
            "usage: put FILE|- --endpoint URL --stream NAME [--realtime] [--relative START_SECS]"
        );
    };
    let print = |ack: &sluice_video::client::Ack| println!("{ack}");
    let summary = if file == "-" {
        put_media(&endpoint, &stream, tokio::io::stdin(), &options, print).await?
    } else {
        let f = tokio::fs::File::open(&file)
            .await
            .with_context(|| format!("open {file}"))?;
        put_media(&endpoint, &stream, f, &options, print).await?
    };
    eprintln!(
        "{} fragments, {} RECEIVED, {} PERSISTED, {} ERROR, {} connection(s)",
        summary.fragments, summary.received, summary.persisted, summary.errors, summary.connections
    );
    Ok(())
}
