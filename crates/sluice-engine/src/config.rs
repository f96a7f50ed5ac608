//! Application configuration files: `app.toml` / `case.toml`.
//!
//! The `[[input]]` sections say which in-application stream each input
//! feeds and how its records map to columns (KDA's InputSchema); the
//! `[[reference]]` sections name reference tables. The same file format
//! serves `sluice run` (app.toml) and `sluice test` (case.toml, which adds
//! `[expect]`; see ../shared/CASE-FORMAT.md). Unknown keys are errors, so a
//! typo never silently changes what runs.

use serde::Deserialize;

use crate::error::{EngineError, Result};
use crate::io::input::{Input, InputSchema, RecordColumn, RecordFormat};
use crate::types::SqlType;

/// An app.toml or case.toml.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// One line about the app or case.
    pub description: Option<String>,
    /// Inputs, one per fed source stream.
    #[serde(default)]
    pub input: Vec<InputConfig>,
    /// Reference tables.
    #[serde(default)]
    pub reference: Vec<ReferenceConfig>,
    /// Destinations: in-application streams written to a Kinesis data
    /// stream, a Firehose delivery stream or a file.
    #[serde(default)]
    pub output: Vec<OutputConfig>,
    /// Test expectations (case.toml only); read by the test harness.
    pub expect: Option<toml::Table>,
}

/// One `[[input]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// The in-application stream it feeds.
    pub stream: String,
    /// The file of records (relative to the config file).
    pub file: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default = "default_format")]
    pub format: String,
    /// How arrival times are given: `none`, `arrival` or `kds`.
    #[serde(default = "default_envelope")]
    pub envelope: String,
    /// `none` only: ROWTIME of line 1 (RFC 3339).
    pub start: Option<String>,
    /// `none` only: ROWTIME step per line, in ms.
    pub step_ms: Option<i64>,
    /// JSON: KDA RecordRowPath.
    pub row_path: Option<String>,
    /// CSV: KDA RecordColumnDelimiter.
    pub delimiter: Option<String>,
    /// CSV: KDA RecordRowDelimiter.
    pub row_delimiter: Option<String>,
    /// CSV: skip the file's first line.
    #[serde(default)]
    pub header: bool,
    /// KDA RecordColumns; omitted when the app declares the stream.
    pub columns: Option<Vec<ColumnConfig>>,
    /// A Kinesis data stream (name or ARN) to read instead of a file.
    pub kinesis_stream: Option<String>,
    /// The Kinesis endpoint URL (another `sluice serve`, or Amazon
    /// Kinesis); without it, the shard log embedded in this process.
    pub endpoint: Option<String>,
    /// The region of `endpoint` (default: `AWS_REGION`, else us-east-1).
    pub region: Option<String>,
    /// KDA's InputStartingPosition: `NOW`, `TRIM_HORIZON` or
    /// `LAST_STOPPED_POINT` (default: the checkpoint, else TRIM_HORIZON).
    pub starting_position: Option<String>,
    /// KDA's InputParallelism Count (1 to 64, a `kinesis_stream` input
    /// only): the input's `stream` ends in `_001`, and `_002` .. `_00N`
    /// are created beside it, each reading a share of the shards
    /// (`sluice_kds::ShardShare`). [`AppConfig::parse`] expands it into N
    /// inputs.
    pub parallelism: Option<u32>,
    /// Set by the expansion of `parallelism`: which share of the shards
    /// (from 0) of how many this input reads.
    #[serde(skip)]
    pub share: Option<(u32, u32)>,
    /// KDA's InputProcessingConfiguration (a `kinesis_stream` input only):
    /// each batch of records goes through this function before it is
    /// mapped, by KDA's preprocessing Lambda contract (`recordId`, `result`
    /// Ok | Dropped | ProcessingFailed, base64 `data`): an `http(s)://` URL
    /// the batch is POSTed to, or `command:<program> <args>` run with it on
    /// stdin. A ProcessingFailed record goes to error_stream.
    pub preprocessing_lambda: Option<String>,
    /// KDA's KinesisFirehoseInput: feed the stream with the records that
    /// enter this Firehose delivery stream of the same process (`sluice
    /// serve --apps`), live from when the app starts (a delivery stream
    /// keeps no log to replay).
    pub delivery_stream: Option<String>,
    /// Feed the stream with the fragments of a Kinesis video stream (a
    /// name, or `*` for every stream): those Kinesis Video ingests in this
    /// process (`sluice serve --apps`), or, with `endpoint` or `region`,
    /// those read back through GetMedia from that Kinesis Video. Rows have
    /// the [`VIDEO_FRAGMENTS_COLUMNS`] unless `columns` says otherwise;
    /// ROWTIME is the fragment's server time.
    pub video_stream: Option<String>,
}

/// The columns of a `video_stream` input (the `VIDEO_FRAGMENTS` row), with
/// their types: one row per fragment PutMedia accepted or rejected.
pub const VIDEO_FRAGMENTS_COLUMNS: [(&str, &str); 15] = [
    ("STREAM_NAME", "VARCHAR(256)"),
    ("FRAGMENT_NUMBER", "VARCHAR(128)"),
    ("PRODUCER_TS", "TIMESTAMP"),
    ("SERVER_TS", "TIMESTAMP"),
    ("DURATION_MS", "BIGINT"),
    ("SIZE_BYTES", "BIGINT"),
    ("FRAME_COUNT", "INTEGER"),
    ("KEYFRAME_COUNT", "INTEGER"),
    ("CODEC_ID", "VARCHAR(64)"),
    ("WIDTH", "INTEGER"),
    ("HEIGHT", "INTEGER"),
    ("GAP_MS", "BIGINT"),
    ("INGEST_LATENCY_MS", "BIGINT"),
    ("ACK_STATUS", "VARCHAR(16)"),
    ("ERROR_ID", "INTEGER"),
];

/// Where an `[[input]]`'s records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A file of records (or none yet: given with `--input`).
    File(Option<String>),
    /// A Kinesis data stream.
    Kinesis(KinesisLocation),
    /// Kinesis Video fragments of this stream (`*`: of every stream).
    Video(VideoLocation),
    /// The records entering this Firehose delivery stream of the process.
    Firehose(String),
}

/// A Kinesis data stream or delivery stream, in this process or remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisLocation {
    /// Stream name or ARN.
    pub name: String,
    /// Remote endpoint URL; `None` for the embedded service.
    pub endpoint: Option<String>,
    /// Region of a remote endpoint.
    pub region: Option<String>,
    /// Starting position when reading (inputs only).
    pub starting_position: StartingPosition,
    /// The share of the shards read (InputParallelism): (index from 0, of).
    pub share: Option<(u32, u32)>,
}

/// A Kinesis video stream whose fragments are an input's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoLocation {
    /// Stream name, or `*` for every stream.
    pub name: String,
    /// The Kinesis Video endpoint to read through GetMedia; `None` with
    /// no region: the fragments this process ingests, live.
    pub endpoint: Option<String>,
    /// Amazon Kinesis Video's region (its endpoint when none is given),
    /// and the signature's.
    pub region: Option<String>,
    /// Where reading starts (with an endpoint or a region).
    pub starting_position: StartingPosition,
}

impl VideoLocation {
    /// Read from another Kinesis Video (an endpoint or a region), not the
    /// one in this process.
    pub fn is_remote(&self) -> bool {
        self.endpoint.is_some() || self.region.is_some()
    }
}

/// KDA's InputStartingPosition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// From new records only.
    Now,
    /// From the oldest record kept.
    TrimHorizon,
    /// From the checkpoint where the last run stopped (TRIM_HORIZON when
    /// there is none).
    LastStoppedPoint,
}

/// One `[[output]]`: KDA's Output (in-application stream → destination).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The in-application stream written out.
    pub stream: String,
    /// A Kinesis data stream (name or ARN).
    pub kinesis_stream: Option<String>,
    /// A Firehose delivery stream (name or ARN).
    pub delivery_stream: Option<String>,
    /// A file (relative to the config file; `-` for stdout): JSON lines or CSV.
    pub file: Option<String>,
    /// KDA's LambdaOutput: rows are delivered to this function by KDA's
    /// output Lambda contract (`recordId`, base64 `data`; the answer's
    /// `result` Ok | DeliveryFailed per record, failed ones retried): an
    /// `http(s)://` URL or `command:<program> <args>`.
    pub lambda: Option<String>,
    /// KDA's DestinationSchema RecordFormatType: `json` (default) or `csv`.
    #[serde(default = "default_format")]
    pub format: String,
    /// The endpoint URL of a remote Kinesis data stream.
    pub endpoint: Option<String>,
    /// The region of `endpoint`.
    pub region: Option<String>,
}

/// Where an `[[output]]` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// A Kinesis data stream: one record per row.
    Kinesis(KinesisLocation),
    /// A Firehose delivery stream in this process: one record per row.
    Firehose(String),
    /// A file: one line per row.
    File(String),
    /// A function, by KDA's output Lambda contract (its URL or command).
    Lambda(String),
}

/// KDA's DestinationSchema RecordFormatType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per row, no delimiter between records (as KDA writes).
    Json,
    /// One CSV line per row, ending in a newline.
    Csv,
}

fn default_format() -> String {
    "json".into()
}

fn default_envelope() -> String {
    "none".into()
}

/// One RecordColumn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Column name (as KDA names it: written exactly).
    pub name: String,
    /// SQL type, e.g. `VARCHAR(4)`.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// JSON path mapping, e.g. `$.ticker`.
    pub mapping: Option<String>,
}

/// One `[[reference]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
    /// Table name.
    pub table: String,
    /// A path or object_store URL.
    pub file: String,
    /// `csv` or `json`.
    pub format: Option<String>,
    /// CSV: skip the first line.
    #[serde(default)]
    pub header: bool,
    /// CSV column delimiter.
    pub delimiter: Option<String>,
    /// JSON: KDA RecordRowPath.
    pub row_path: Option<String>,
    /// Columns.
    pub columns: Option<Vec<ColumnConfig>>,
    /// `s3://` only: endpoint of an S3-compatible store (path-style).
    pub endpoint: Option<String>,
    /// `s3://` only: region to sign requests for.
    pub region: Option<String>,
    /// `s3://` only: access key ID (with `secret_access_key`); without
    /// both, the usual AWS environment variables and instance credentials.
    pub access_key_id: Option<String>,
    /// `s3://` only: secret access key.
    pub secret_access_key: Option<String>,
    /// `s3://` only: session token of temporary credentials.
    pub session_token: Option<String>,
    /// `s3://` only: unsigned requests (a public bucket).
    #[serde(default)]
    pub anonymous: bool,
}

impl ReferenceConfig {
    /// The S3 settings of this table: an error naming the key when one is
    /// given for a location that is not `s3://`, or when only one of
    /// `access_key_id` / `secret_access_key` is given.
    pub fn s3_options(&self, is_s3: bool) -> Result<sluice_reference::S3Options> {
        let err = |message: String| EngineError::Config {
            context: format!("[[reference]] {} ({})", self.table, self.file),
            message,
        };
        if !is_s3 {
            for (key, set) in [
                ("endpoint", self.endpoint.is_some()),
                ("region", self.region.is_some()),
                ("access_key_id", self.access_key_id.is_some()),
                ("secret_access_key", self.secret_access_key.is_some()),
                ("session_token", self.session_token.is_some()),
                ("anonymous", self.anonymous),
            ] {
                if set {
                    return Err(err(format!("{key} applies only to an s3:// file")));
                }
            }
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(err(
                "access_key_id and secret_access_key go together: give both or neither".into(),
            ));
        }
        if self.anonymous && (self.access_key_id.is_some() || self.session_token.is_some()) {
            return Err(err(
                "anonymous sends unsigned requests: it takes no credentials".into(),
            ));
        }
        Ok(sluice_reference::S3Options {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            allow_http: None,
            anonymous: self.anonymous,
        })
    }
}

impl AppConfig {
    /// Parses the text of an app.toml / case.toml; `origin` names it in
    /// errors. Inputs with `parallelism` are expanded
    /// ([`AppConfig::expand_parallel_inputs`]).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut config: AppConfig = toml::from_str(text).map_err(|e| EngineError::Config {
            context: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.expand_parallel_inputs()?;
        Ok(config)
    }

    /// Replaces each input with `parallelism = N` (N > 1) by N inputs,
    /// `<prefix>_001` .. `<prefix>_00N`, each reading one share of the
    /// Kinesis stream's shards, as KDA's InputParallelism creates them.
    pub fn expand_parallel_inputs(&mut self) -> Result<()> {
        let mut out = Vec::with_capacity(self.input.len());
        for input in std::mem::take(&mut self.input) {
            let n = match input.parallelism {
                None | Some(1) => {
                    out.push(input);
                    continue;
                }
                Some(n) => n,
            };
            let err = |message: String| EngineError::Config {
                context: format!("[[input]] {}", input.stream),
                message,
            };
            if !(1..=64).contains(&n) {
                return Err(err(format!(
                    "parallelism {n}: KDA's InputParallelism Count is 1 to 64"
                )));
            }
            if input.kinesis_stream.is_none() {
                return Err(err(
                    "parallelism divides a Kinesis data stream's shards: it needs kinesis_stream"
                        .into(),
                ));
            }
            let Some(prefix) = input.stream.strip_suffix("_001") else {
                return Err(err(format!(
                    "with parallelism {n} the stream is named <prefix>_001 (the first of the in-application streams KDA creates), not {}",
                    input.stream
                )));
            };
            for k in 0..n {
                let mut one = input.clone();
                one.stream = format!("{prefix}_{:03}", k + 1);
                one.parallelism = None;
                one.share = Some((k, n));
                out.push(one);
            }
        }
        self.input = out;
        Ok(())
    }

    /// The engine inputs these sections describe.
    pub fn inputs(&self) -> Result<Vec<Input>> {
        self.input.iter().map(InputConfig::to_input).collect()
    }
}

/// A function's place: an `http(s)://` URL or `command:<program> ...`.
fn check_lambda(target: &str) -> std::result::Result<(), String> {
    let ok = target.starts_with("http://")
        || target.starts_with("https://")
        || target
            .strip_prefix("command:")
            .is_some_and(|c| !c.trim().is_empty());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{target}\" is not an http(s):// URL or command:<program>"
        ))
    }
}

fn starting_position(s: Option<&str>, ctx: &str) -> Result<StartingPosition> {
    match s.map(str::to_ascii_uppercase).as_deref() {
        None | Some("LAST_STOPPED_POINT") => Ok(StartingPosition::LastStoppedPoint),
        Some("NOW") => Ok(StartingPosition::Now),
        Some("TRIM_HORIZON") => Ok(StartingPosition::TrimHorizon),
        Some(other) => Err(EngineError::Config {
            context: ctx.to_string(),
            message: format!(
                "starting_position \"{other}\" is not NOW, TRIM_HORIZON or LAST_STOPPED_POINT"
            ),
        }),
    }
}

impl InputConfig {
    /// Where the records come from: a file or a Kinesis data stream.
    pub fn source(&self) -> Result<InputSource> {
        let ctx = format!("[[input]] {}", self.stream);
        let err = |message: String| EngineError::Config {
            context: ctx.clone(),
            message,
        };
        if let Some(delivery) = &self.delivery_stream {
            for (key, set) in [
                ("file", self.file.is_some()),
                ("kinesis_stream", self.kinesis_stream.is_some()),
                ("video_stream", self.video_stream.is_some()),
                ("endpoint", self.endpoint.is_some()),
                ("region", self.region.is_some()),
                ("starting_position", self.starting_position.is_some()),
                ("preprocessing_lambda", self.preprocessing_lambda.is_some()),
                ("parallelism", self.parallelism.is_some()),
                ("start", self.start.is_some()),
                ("step_ms", self.step_ms.is_some()),
                ("envelope", self.envelope != "none"),
            ] {
                if set {
                    return Err(err(format!(
                        "{key} does not apply to a delivery_stream input (its records are those entering the delivery stream in this process, as they come)"
                    )));
                }
            }
            return Ok(InputSource::Firehose(delivery.clone()));
        }
        if let Some(video) = &self.video_stream {
            for (key, set) in [
                ("file", self.file.is_some()),
                ("kinesis_stream", self.kinesis_stream.is_some()),
                ("preprocessing_lambda", self.preprocessing_lambda.is_some()),
                ("start", self.start.is_some()),
                ("step_ms", self.step_ms.is_some()),
                ("envelope", self.envelope != "none"),
            ] {
                if set {
                    return Err(err(format!(
                        "{key} does not apply to a video_stream input (its rows are the stream's fragments)"
                    )));
                }
            }
            if !self.format.eq_ignore_ascii_case("json") {
                return Err(err(
                    "a video_stream input's rows are JSON (format = \"json\")".into(),
                ));
            }
            let location = VideoLocation {
                name: video.clone(),
                endpoint: self.endpoint.clone(),
                region: self.region.clone(),
                starting_position: starting_position(self.starting_position.as_deref(), &ctx)?,
            };
            if !location.is_remote() && self.starting_position.is_some() {
                return Err(err(
                    "starting_position applies to a video_stream read from an endpoint or region; the fragments this process ingests are read as they come".into(),
                ));
            }
            return Ok(InputSource::Video(location));
        }
        match &self.kinesis_stream {
            None => {
                for (key, set) in [
                    ("endpoint", self.endpoint.is_some()),
                    ("region", self.region.is_some()),
                    ("starting_position", self.starting_position.is_some()),
                    ("preprocessing_lambda", self.preprocessing_lambda.is_some()),
                ] {
                    if set {
                        return Err(err(format!("{key} applies only with kinesis_stream")));
                    }
                }
                Ok(InputSource::File(self.file.clone()))
            }
            Some(name) => {
                if self.file.is_some() {
                    return Err(err("give file or kinesis_stream, not both".into()));
                }
                if self.envelope != "none" || self.start.is_some() || self.step_ms.is_some() {
                    return Err(err(
                        "envelope, start and step_ms apply to files; a Kinesis record's ROWTIME is its arrival".into(),
                    ));
                }
                if let Some(l) = &self.preprocessing_lambda {
                    check_lambda(l).map_err(|m| err(format!("preprocessing_lambda: {m}")))?;
                }
                Ok(InputSource::Kinesis(KinesisLocation {
                    name: name.clone(),
                    endpoint: self.endpoint.clone(),
                    region: self.region.clone(),
                    starting_position: starting_position(self.starting_position.as_deref(), &ctx)?,
                    share: self.share,
                }))
            }
        }
    }

    /// The engine input: stream and InputSchema.
    pub fn to_input(&self) -> Result<Input> {
        let ctx = |message: String| EngineError::Config {
            context: format!("[[input]] {}", self.stream),
            message,
        };
        let format = match self.format.to_ascii_lowercase().as_str() {
            "json" => RecordFormat::Json {
                row_path: self.row_path.clone().unwrap_or_else(|| "$".into()),
            },
            "csv" => RecordFormat::Csv {
                column_delimiter: self.delimiter.clone().unwrap_or_else(|| ",".into()),
                row_delimiter: self.row_delimiter.clone().unwrap_or_else(|| "\n".into()),
            },
            other => return Err(ctx(format!("format \"{other}\" is not json or csv"))),
        };
        if !["none", "arrival", "kds"].contains(&self.envelope.as_str()) {
            return Err(ctx(format!(
                "envelope \"{}\" is not none, arrival or kds",
                self.envelope
            )));
        }
        let columns = match &self.columns {
            None if self.video_stream.is_some() => Some(
                VIDEO_FRAGMENTS_COLUMNS
                    .iter()
                    .map(|(name, t)| {
                        Ok(RecordColumn {
                            name: (*name).to_string(),
                            sql_type: SqlType::parse(t)
                                .map_err(|m| ctx(format!("column {name}: {m}")))?,
                            mapping: Some(format!("$.{name}")),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
            Some(cols) => Some(
                cols.iter()
                    .map(|c| {
                        Ok(RecordColumn {
                            name: c.name.clone(),
                            sql_type: SqlType::parse(&c.sql_type)
                                .map_err(|m| ctx(format!("column {}: {m}", c.name)))?,
                            mapping: c.mapping.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Input {
            stream: self.stream.clone(),
            schema: InputSchema { format, columns },
        })
    }
}

impl OutputConfig {
    /// Where the rows go.
    pub fn target(&self) -> Result<OutputTarget> {
        let err = |message: &str| EngineError::Config {
            context: format!("[[output]] {}", self.stream),
            message: message.to_string(),
        };
        let remote = self.endpoint.is_some() || self.region.is_some();
        if let Some(lambda) = &self.lambda {
            if self.kinesis_stream.is_some()
                || self.delivery_stream.is_some()
                || self.file.is_some()
            {
                return Err(err(
                    "give exactly one of kinesis_stream, delivery_stream, file and lambda",
                ));
            }
            if remote {
                return Err(err("endpoint and region apply to kinesis_stream only"));
            }
            check_lambda(lambda).map_err(|m| err(&m))?;
            return Ok(OutputTarget::Lambda(lambda.clone()));
        }
        match (&self.kinesis_stream, &self.delivery_stream, &self.file) {
            (Some(k), None, None) => Ok(OutputTarget::Kinesis(KinesisLocation {
                name: k.clone(),
                endpoint: self.endpoint.clone(),
                region: self.region.clone(),
                starting_position: StartingPosition::Now,
                share: None,
            })),
            (None, Some(_), None) if remote => Err(err(
                "a delivery_stream is written in this process; endpoint and region apply to kinesis_stream only",
            )),
            (None, Some(d), None) => Ok(OutputTarget::Firehose(d.clone())),
            (None, None, Some(_)) if remote => {
                Err(err("endpoint and region apply to kinesis_stream only"))
            }
            (None, None, Some(f)) => Ok(OutputTarget::File(f.clone())),
            _ => Err(err(
                "give exactly one of kinesis_stream, delivery_stream, file and lambda",
            )),
        }
    }

    /// The record format.
    pub fn record_format(&self) -> Result<OutputFormat> {
        match self.format.to_ascii_lowercase().as_str() {
            "json" => Ok(OutputFormat::Json),
            "csv" => Ok(OutputFormat::Csv),
            other => Err(EngineError::Config {
                context: format!("[[output]] {}", self.stream),
                message: format!("format \"{other}\" is not json or csv"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(extra: &str) -> ReferenceConfig {
        let c = AppConfig::parse(
            &format!(
                "[[reference]]\ntable = \"T\"\nfile = \"s3://b/k.csv\"\n{extra}\ncolumns = [ {{ name = \"A\", type = \"INTEGER\" }} ]\n"
            ),
            "app.toml",
        )
        .unwrap();
        c.reference.into_iter().next().unwrap()
    }

    #[test]
    fn reference_s3_credentials_reach_the_object_store_options() {
        let r = reference(
            "endpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\nsession_token = \"ST\"",
        );
        let o = r.s3_options(true).unwrap();
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.access_key_id.as_deref(), Some("AK"));
        assert_eq!(o.secret_access_key.as_deref(), Some("SK"));
        assert_eq!(o.session_token.as_deref(), Some("ST"));
        assert!(!o.anonymous);
        assert!(
            reference("anonymous = true")
                .s3_options(true)
                .unwrap()
                .anonymous
        );
    }

    #[test]
    fn reference_s3_settings_are_checked() {
        let e = reference("access_key_id = \"AK\"")
            .s3_options(true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("access_key_id and secret_access_key go together"),
            "{e}"
        );
        let e = reference("region = \"eu-west-1\"")
            .s3_options(false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("region applies only to an s3:// file"), "{e}");
        let e = reference("anonymous = true\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"")
            .s3_options(true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("anonymous sends unsigned requests"), "{e}");
    }

    #[test]
    fn parses_case_inputs() {
        let c = AppConfig::parse(
            r#"
            [[input]]
            stream = "SOURCE_SQL_STREAM_001"
            file = "input.jsonl"
            envelope = "arrival"
            columns = [ { name = "TICKER", type = "VARCHAR(4)", mapping = "$.t" } ]
            [expect]
            order = "any"
            "#,
            "case.toml",
        )
        .unwrap();
        let inputs = c.inputs().unwrap();
        assert_eq!(inputs[0].stream, "SOURCE_SQL_STREAM_001");
        assert_eq!(
            inputs[0].schema.columns.as_ref().unwrap()[0].sql_type,
            SqlType::Varchar(4)
        );
    }

    #[test]
    fn rejects_unknown_keys_and_types() {
        let e = AppConfig::parse("[[input]]\nstream = \"S\"\nfromat = \"json\"\n", "app.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fromat"), "{e}");
        let c = AppConfig::parse(
            "[[input]]\nstream = \"S\"\ncolumns = [{ name = \"A\", type = \"JSONB\" }]\n",
            "app.toml",
        )
        .unwrap();
        assert!(c.inputs().unwrap_err().to_string().contains("column A"));
    }

    #[test]
    fn kinesis_inputs_and_outputs() {
        let c = AppConfig::parse(
            r#"
            [[input]]
            stream = "SOURCE_SQL_STREAM_001"
            kinesis_stream = "ticks"
            starting_position = "now"
            [[output]]
            stream = "DESTINATION_SQL_STREAM"
            delivery_stream = "to-s3"
            format = "CSV"
            "#,
            "app.toml",
        )
        .unwrap();
        assert_eq!(
            c.input[0].source().unwrap(),
            InputSource::Kinesis(KinesisLocation {
                name: "ticks".into(),
                endpoint: None,
                region: None,
                starting_position: StartingPosition::Now,
                share: None,
            })
        );
        assert_eq!(
            c.output[0].target().unwrap(),
            OutputTarget::Firehose("to-s3".into())
        );
        assert_eq!(c.output[0].record_format().unwrap(), OutputFormat::Csv);

        let bad = |toml: &str| {
            let c = AppConfig::parse(toml, "app.toml").unwrap();
            let i = c.input.first().map(|i| i.source().map(|_| ()));
            let o = c.output.first().map(|o| o.target().map(|_| ()));
            i.into_iter()
                .chain(o)
                .find_map(|r| r.err())
                .unwrap()
                .to_string()
        };
        assert!(
            bad("[[input]]\nstream = \"S\"\nfile = \"a\"\nkinesis_stream = \"k\"\n")
                .contains("not both")
        );
        assert!(
            bad("[[input]]\nstream = \"S\"\nendpoint = \"http://x\"\n")
                .contains("only with kinesis_stream")
        );
        assert!(bad("[[input]]\nstream = \"S\"\nkinesis_stream = \"k\"\nstarting_position = \"LATEST\"\n").contains("LATEST"));
        assert!(bad("[[output]]\nstream = \"S\"\n").contains("exactly one"));
        assert!(
            bad("[[output]]\nstream = \"S\"\nfile = \"o\"\ndelivery_stream = \"d\"\n")
                .contains("exactly one")
        );
    }
}
