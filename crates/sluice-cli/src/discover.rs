//! `sluice discover`: infer an input's schema from sample records, as KDA's
//! DiscoverInputSchema does, and print it as an `[[input]]` section of
//! app.toml / case.toml (or, with `--aws`, as AWS InputSchema JSON).
//!
//! Samples come from a file — JSON lines, one JSON document (an array of
//! records, or one record), or CSV lines; with `--envelope arrival|kds` the
//! case format's envelopes, e.g. what `aws kinesis get-records` printed — or
//! from a Kinesis data stream (`--kds STREAM --endpoint URL`), read from
//! TRIM_HORIZON through `sluice-kds`'s [`StreamReader`], as
//! [`crate::connect`] reads inputs. The shard log of a plain CLI call is not
//! running, so `--kds` needs an endpoint: a `sluice serve`, or Amazon
//! Kinesis. The inference itself is [`sluice_engine::discover_schema`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use sluice_engine::{AppConfig, DiscoverOptions, SampleFormat, discover_schema};
use sluice_kds::client::{Credentials, RemoteEndpoint};
use sluice_kds::reader::{ReaderSource, ReaderStart, StreamReader};

/// Records sampled from a stream unless `--limit` says otherwise.
const STREAM_SAMPLE: usize = 100;
/// How long sampling a stream may take.
const STREAM_WAIT: Duration = Duration::from_secs(10);

/// `sluice discover` arguments.
#[derive(clap::Args)]
pub struct DiscoverArgs {
    /// A file of sample records (JSON lines, a JSON document, or CSV).
    #[arg(required_unless_present = "kds", conflicts_with = "kds")]
    file: Option<PathBuf>,
    /// Sample records from this Kinesis data stream (name or ARN) instead.
    #[arg(long, value_name = "STREAM", requires = "endpoint")]
    kds: Option<String>,
    /// The Kinesis endpoint of --kds: a `sluice serve` URL, or Amazon Kinesis.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The region of --endpoint (default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// Sample at most N records (default: every record of FILE; 100 from a stream).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The records' format (default: JSON when the first record is JSON, else CSV).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// CSV column delimiter (default: guessed among , \t | ;); `\t` is a tab.
    #[arg(long)]
    delimiter: Option<String>,
    /// CSV: whether the first line is a header (default: guessed).
    #[arg(long, value_name = "true|false")]
    header: Option<bool>,
    /// FILE's envelope, as in case.toml: none, arrival or kds.
    #[arg(long, default_value = "none")]
    envelope: String,
    /// The in-application stream the printed [[input]] feeds.
    #[arg(long, default_value = "SOURCE_SQL_STREAM_001")]
    stream: String,
    /// Print AWS InputSchema JSON instead of an [[input]] section.
    #[arg(long)]
    aws: bool,
}

/// `--format`.
#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Csv,
}

/// Runs `sluice discover`.
pub fn discover(args: DiscoverArgs) -> Result<ExitCode> {
    let options = DiscoverOptions {
        format: args.format.map(|f| match f {
            FormatArg::Json => SampleFormat::Json,
            FormatArg::Csv => SampleFormat::Csv,
        }),
        delimiter: args.delimiter.as_deref().map(unescape),
        header: args.header,
    };
    let (origin, mut records, source) = match (&args.file, &args.kds) {
        (Some(path), _) => {
            let records = file_records(path, &args)?;
            let file = path.display().to_string();
            let mut source = vec![("file", file.clone())];
            if args.envelope != "none" {
                source.push(("envelope", args.envelope.clone()));
            }
            (file, records, source)
        }
        (None, Some(stream)) => {
            let Some(endpoint) = &args.endpoint else {
                bail!(
                    "--kds needs --endpoint (a sluice serve URL or Amazon Kinesis): a plain CLI call runs no shard log"
                );
            };
            let records = stream_records(stream, endpoint, &args)?;
            let mut source = vec![
                ("kinesis_stream", stream.clone()),
                ("endpoint", endpoint.clone()),
            ];
            if let Some(r) = &args.region {
                source.push(("region", r.clone()));
            }
            (format!("Kinesis stream {stream}"), records, source)
        }
        (None, None) => bail!("give FILE or --kds STREAM"),
    };
    if let Some(n) = args.limit {
        records.truncate(n);
    }
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let schema = discover_schema(&refs, &options, &origin)?;
    if args.aws {
        println!("{}", serde_json::to_string_pretty(&schema.to_aws_json())?);
    } else {
        let pairs: Vec<(&str, &str)> = source.iter().map(|(k, v)| (*k, v.as_str())).collect();
        println!(
            "# discovered from {} row(s) of {origin}\n{}",
            schema.rows,
            schema.to_toml(&args.stream, &pairs)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `\t` → tab (a shell makes typing a tab awkward).
fn unescape(d: &str) -> String {
    match d {
        "\\t" | "tab" => "\t".into(),
        other => other.to_string(),
    }
}

/// A file's records: its lines, or the records of one JSON document, or
/// the `data` of its envelope.
fn file_records(path: &Path, args: &DiscoverArgs) -> Result<Vec<Vec<u8>>> {
    if args.envelope != "none" {
        let format = match args.format {
            Some(FormatArg::Csv) => "csv",
            _ => "json",
        };
        let toml = format!(
            "[[input]]\nstream = \"S\"\nformat = \"{format}\"\nenvelope = \"{}\"\n",
            args.envelope.replace(['"', '\\'], "")
        );
        let config = AppConfig::parse(&toml, "--envelope")?;
        let input = config.input.first().context("--envelope")?;
        input.to_input()?;
        let records = sluice_testkit::envelope::read_records(path, input)?;
        return Ok(records.into_iter().map(|r| r.data).collect());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let lines = || -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        if out.last().is_some_and(Vec::is_empty) {
            out.pop();
        }
        out
    };
    if matches!(args.format, Some(FormatArg::Csv)) {
        return Ok(lines());
    }
    // JSON lines, unless the first line is not a whole JSON value but the
    // file is: a pretty-printed record, or an array of records.
    let first_line = bytes
        .split(|&b| b == b'\n')
        .find(|l| !l.trim_ascii().is_empty());
    let first_is_json =
        first_line.is_some_and(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok());
    if !first_is_json && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        let items = match v {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        return items
            .iter()
            .map(|v| serde_json::to_vec(v).map_err(Into::into))
            .collect();
    }
    Ok(lines())
}

/// Up to `--limit` (default [`STREAM_SAMPLE`]) records of a stream, from
/// TRIM_HORIZON, waiting at most [`STREAM_WAIT`].
fn stream_records(stream: &str, endpoint: &str, args: &DiscoverArgs) -> Result<Vec<Vec<u8>>> {
    let name = stream
        .rsplit_once(":stream/")
        .map_or(stream, |(_, n)| n)
        .to_string();
    let source = ReaderSource::Remote(RemoteEndpoint {
        url: endpoint.to_string(),
        region: args
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into()),
        credentials: Credentials::from_env(),
    });
    let limit = args.limit.unwrap_or(STREAM_SAMPLE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let records = runtime.block_on(async {
        let mut reader = StreamReader::open(source, &name, ReaderStart::TrimHorizon, None).await?;
        let mut out = Vec::new();
        let deadline = Instant::now() + STREAM_WAIT;
        while out.len() < limit && Instant::now() < deadline {
            let batch = reader
                .next_batch(limit - out.len(), Duration::from_millis(500))
                .await?;
            if batch.is_empty() && reader.millis_behind_latest() == Some(0) {
                break;
            }
            out.extend(batch.into_iter().map(|r| r.data));
        }
        Ok::<_, sluice_kds::KdsError>(out)
    });
    let records =
        records.with_context(|| format!("reading Kinesis stream {name} at {endpoint}"))?;
    if records.is_empty() {
        bail!(
            "Kinesis stream {name} at {endpoint} has no records to sample (read from TRIM_HORIZON)"
        );
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tab_delimiter_can_be_typed() {
        assert_eq!(unescape("\\t"), "\t");
        assert_eq!(unescape("|"), "|");
    }
}
