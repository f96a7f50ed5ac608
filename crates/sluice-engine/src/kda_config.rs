//! A KDA application's AWS configuration, read as its owners have it, and
//! turned into a Sluice app: its SQL (ApplicationCode) and an [`AppConfig`]
//! (`[[input]]`, `[[reference]]`, `[[output]]`).
//!
//! Accepted forms ([`read_kda_config`] tells them apart):
//! - `aws kinesisanalytics describe-application` output
//!   (`ApplicationDetail` with `InputDescriptions`, ...), and
//!   `aws kinesisanalyticsv2 describe-application` of a SQL application
//!   (`ApplicationConfigurationDescription.SqlApplicationConfigurationDescription`);
//! - a CloudFormation template in JSON or YAML (short-form tags such as
//!   `!Ref`, `!GetAtt` and `!Sub` read as their `Fn::` forms):
//!   `AWS::KinesisAnalytics::Application`
//!   resources, with the `AWS::KinesisAnalytics::ApplicationOutput` and
//!   `ApplicationReferenceDataSource` resources whose ApplicationName
//!   names (or `Ref`s) them;
//! - Terraform's JSON syntax (`*.tf.json`): `aws_kinesis_analytics_application`
//!   resources (`inputs`, `outputs`, `reference_data_sources` blocks).
//!
//! ARNs (and CloudFormation references, by logical ID) become locations
//! through an [`ArnMap`]: by default a stream ARN
//! `arn:aws:kinesis:<region>:<account>:stream/<name>` is the stream
//! `<name>` of Sluice's own shard log, a Firehose ARN the delivery stream of
//! that name, and a bucket ARN `arn:aws:s3:::<bucket>` the S3 bucket; the
//! map file says otherwise per ARN (a remote KDS endpoint, real AWS, a local
//! directory or another object_store URL for a bucket).
//!
//! InputParallelism N gives N inputs, `<NamePrefix>_001` .. `_00N`, each
//! reading a share of the stream's shards.
//!
//! Lambda functions (InputProcessingConfiguration, LambdaOutput) run where
//! the map's `[lambdas]` says: an `http(s)://` URL or a local command, by
//! KDA's record contracts.
//!
//! What Sluice cannot run (an encoding other than UTF-8, a preprocessing
//! Lambda on a Firehose input) is named, all of it in one error, when the app is built
//! ([`KdaApplication::to_app`]); nothing is dropped silently.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{AppConfig, ColumnConfig, InputConfig, OutputConfig, ReferenceConfig};
use crate::error::{EngineError, Result};

/// One KDA application as its AWS configuration describes it.
#[derive(Debug, Clone)]
pub struct KdaApplication {
    /// ApplicationName.
    pub name: String,
    /// ApplicationCode: the SQL.
    pub code: String,
    /// Inputs.
    pub inputs: Vec<KdaInput>,
    /// Outputs.
    pub outputs: Vec<KdaOutput>,
    /// Reference data sources.
    pub references: Vec<KdaReference>,
    /// What Sluice does not support, each naming where it is in the file.
    pub unsupported: Vec<String>,
}

/// An Input: a Kinesis data stream mapped into in-application streams.
#[derive(Debug, Clone)]
pub struct KdaInput {
    /// Where it is in the file, for messages.
    pub path: String,
    /// NamePrefix: the in-application stream is `<NamePrefix>_001`.
    pub name_prefix: String,
    /// InputSchema.
    pub schema: KdaSchema,
    /// InputParallelism Count.
    pub parallelism: u32,
    /// InputStartingPosition (NOW, TRIM_HORIZON, LAST_STOPPED_POINT).
    pub starting_position: Option<String>,
    /// KinesisStreamsInput ResourceARN (or a CloudFormation reference).
    pub stream: Option<String>,
    /// InputProcessingConfiguration's InputLambdaProcessor ResourceARN.
    pub preprocessing: Option<String>,
    /// KinesisFirehoseInput ResourceARN: the records entering that
    /// delivery stream.
    pub firehose: Option<String>,
}

/// A RecordFormat, RecordEncoding and RecordColumns.
#[derive(Debug, Clone)]
pub struct KdaSchema {
    /// JSON (with its RecordRowPath) or CSV (with its delimiters).
    pub format: KdaFormat,
    /// RecordColumns: Name, SqlType, Mapping.
    pub columns: Vec<ColumnConfig>,
}

/// RecordFormatType and its MappingParameters.
#[derive(Debug, Clone)]
pub enum KdaFormat {
    /// JSON with a RecordRowPath.
    Json {
        /// RecordRowPath, e.g. `$`.
        row_path: String,
    },
    /// CSV with its delimiters.
    Csv {
        /// RecordRowDelimiter.
        row_delimiter: String,
        /// RecordColumnDelimiter.
        column_delimiter: String,
    },
}

/// An Output: an in-application stream written to a destination.
#[derive(Debug, Clone)]
pub struct KdaOutput {
    /// Where it is in the file.
    pub path: String,
    /// Name: the in-application stream.
    pub name: String,
    /// DestinationSchema RecordFormatType, `json` or `csv`.
    pub format: String,
    /// The destination.
    pub destination: KdaDestination,
}

/// Where an Output goes.
#[derive(Debug, Clone)]
pub enum KdaDestination {
    /// KinesisStreamsOutput ResourceARN.
    Stream(String),
    /// KinesisFirehoseOutput ResourceARN.
    Firehose(String),
    /// LambdaOutput ResourceARN.
    Lambda(String),
}

/// A ReferenceDataSource: an S3 object read as a table.
#[derive(Debug, Clone)]
pub struct KdaReference {
    /// Where it is in the file.
    pub path: String,
    /// TableName.
    pub table: String,
    /// S3ReferenceDataSource BucketARN (or a CloudFormation reference).
    pub bucket: String,
    /// FileKey.
    pub key: String,
    /// ReferenceSchema.
    pub schema: KdaSchema,
}

/// Where ARNs (and CloudFormation logical IDs) point: the `--arn-map` file.
///
/// ```toml
/// [streams."arn:aws:kinesis:us-east-1:123456789012:stream/ticker"]
/// name = "ticker"                      # in this process's shard log
/// [streams."arn:aws:kinesis:us-east-1:123456789012:stream/out"]
/// endpoint = "http://127.0.0.1:4567"   # another sluice serve, or Amazon Kinesis
/// [delivery_streams.ExampleDelivery]   # a CloudFormation logical ID
/// name = "example-delivery"
/// [buckets."arn:aws:s3:::ref-bucket"]
/// url = "reference-data"               # a directory, file:// or s3:// URL
/// [lambdas]
/// "arn:aws:lambda:us-east-1:123456789012:function:clean" = "http://127.0.0.1:9000/"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArnMap {
    /// Kinesis data streams.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamTarget>,
    /// Firehose delivery streams.
    #[serde(default)]
    pub delivery_streams: BTreeMap<String, StreamTarget>,
    /// S3 buckets of reference data.
    #[serde(default)]
    pub buckets: BTreeMap<String, BucketTarget>,
    /// Lambda functions (preprocessing, output): ARN → an `http(s)://`
    /// URL or `command:<program> <args>`.
    #[serde(default)]
    pub lambdas: BTreeMap<String, String>,
}

/// A stream's place: a name (default: the ARN's), and a remote endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamTarget {
    /// The stream's name there.
    pub name: Option<String>,
    /// A KDS endpoint URL; `aws` for Amazon Kinesis in the ARN's region.
    pub endpoint: Option<String>,
    /// The endpoint's region (default: the ARN's).
    pub region: Option<String>,
}

/// A bucket's place: a directory or object_store URL the FileKeys are in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketTarget {
    /// Directory (relative to the map file's directory as given by the
    /// caller), `file://` or `s3://` URL.
    pub url: String,
    /// `s3://` only: an S3-compatible endpoint.
    pub endpoint: Option<String>,
    /// `s3://` only: the region.
    pub region: Option<String>,
    /// `s3://` only: unsigned requests.
    #[serde(default)]
    pub anonymous: bool,
}

impl ArnMap {
    /// Parses an ARN map file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| EngineError::Config {
            context: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }
}

fn config_error(context: impl Into<String>, message: impl Into<String>) -> EngineError {
    EngineError::Config {
        context: context.into(),
        message: message.into(),
    }
}

/// A JSON value and where it is, for messages.
#[derive(Clone, Copy)]
struct At<'a> {
    value: &'a Value,
    origin: &'a str,
}

/// A CloudFormation value as text: a string, `Ref` / `Fn::GetAtt` as the
/// logical ID they name, `Fn::Sub` as its template, `Fn::Join` joined.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => {
            if let Some(r) = o.get("Ref") {
                return r.as_str().map(str::to_string);
            }
            if let Some(g) = o.get("Fn::GetAtt") {
                return match g {
                    Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                    Value::String(s) => s.split('.').next().map(str::to_string),
                    _ => None,
                };
            }
            if let Some(s) = o.get("Fn::Sub") {
                return match s {
                    Value::String(s) => Some(s.clone()),
                    Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                    _ => None,
                };
            }
            if let Some(Value::Array(j)) = o.get("Fn::Join") {
                let sep = j.first().and_then(Value::as_str).unwrap_or("");
                let parts = j.get(1).and_then(Value::as_array)?;
                let parts: Option<Vec<String>> = parts.iter().map(text_of).collect();
                return parts.map(|p| p.join(sep));
            }
            None
        }
        _ => None,
    }
}

impl<'a> At<'a> {
    fn get(&self, key: &str) -> Option<At<'a>> {
        self.value.get(key).map(|value| At {
            value,
            origin: self.origin,
        })
    }

    fn req(&self, key: &str, path: &str) -> Result<At<'a>> {
        self.get(key)
            .ok_or_else(|| config_error(self.origin, format!("{path}: no {key}")))
    }

    fn text(&self, key: &str, path: &str) -> Result<String> {
        let v = self.req(key, path)?;
        text_of(v.value).ok_or_else(|| {
            config_error(
                self.origin,
                format!("{path}.{key}: expected a string, got {}", v.value),
            )
        })
    }

    fn opt_text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(|v| text_of(v.value))
    }

    /// An array (a single object counts as one element, as Terraform's
    /// JSON syntax writes one block).
    fn list(&self, key: &str) -> Vec<At<'a>> {
        match self.get(key).map(|v| v.value) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|value| At {
                    value,
                    origin: self.origin,
                })
                .collect(),
            Some(value @ Value::Object(_)) => vec![At {
                value,
                origin: self.origin,
            }],
            _ => Vec::new(),
        }
    }
}

/// Reads the KDA applications of a configuration file's text (JSON); see
/// the [module docs](self) for the forms. `origin` names the file in
/// errors.
pub fn read_kda_config(text: &str, origin: &str) -> Result<Vec<KdaApplication>> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json) if text.trim_start().starts_with(['{', '[']) => {
            return Err(config_error(origin, format!("not JSON: {json}")));
        }
        Err(_) => yaml_to_json(text)
            .map_err(|e| config_error(origin, format!("neither JSON nor YAML: {e}")))?,
    };
    let root = At {
        value: &value,
        origin,
    };
    if let Some(detail) = root.get("ApplicationDetail") {
        return Ok(vec![describe_application(detail)?]);
    }
    if let Some(resources) = root.get("Resources") {
        return cloudformation(resources);
    }
    if let Some(apps) = root
        .get("resource")
        .and_then(|r| r.get("aws_kinesis_analytics_application"))
    {
        return terraform(apps);
    }
    Err(config_error(
        origin,
        "not a KDA configuration: expected describe-application output (ApplicationDetail), a CloudFormation template (Resources) or Terraform JSON (resource.aws_kinesis_analytics_application)",
    ))
}

/// A YAML document (a CloudFormation template) as the JSON it stands for:
/// `!Ref x` is `{"Ref": x}`, `!GetAtt a.b` is `{"Fn::GetAtt": [a, b]}`,
/// `!Condition c` is `{"Condition": c}`, any other `!Name v` is
/// `{"Fn::Name": v}`.
fn yaml_to_json(text: &str) -> std::result::Result<Value, serde_norway::Error> {
    fn convert(v: serde_norway::Value) -> Value {
        use serde_norway::Value as Y;
        match v {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(b),
            Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
            Y::String(s) => Value::String(s),
            Y::Sequence(items) => Value::Array(items.into_iter().map(convert).collect()),
            Y::Mapping(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Y::String(s) => s,
                            other => serde_norway::to_string(&other)
                                .map(|s| s.trim_end().to_string())
                                .unwrap_or_default(),
                        };
                        (key, convert(v))
                    })
                    .collect(),
            ),
            Y::Tagged(t) => {
                let tag = t.tag.to_string();
                let name = tag.trim_start_matches('!');
                let value = convert(t.value);
                let (key, value) = match (name, value) {
                    ("Ref", v) => ("Ref".to_string(), v),
                    ("Condition", v) => ("Condition".to_string(), v),
                    ("GetAtt", Value::String(s)) => {
                        let parts: Vec<Value> = s
                            .splitn(2, '.')
                            .map(|p| Value::String(p.to_string()))
                            .collect();
                        ("Fn::GetAtt".to_string(), Value::Array(parts))
                    }
                    (other, v) => (format!("Fn::{other}"), v),
                };
                let mut o = serde_json::Map::new();
                o.insert(key, value);
                Value::Object(o)
            }
        }
    }
    let v: serde_norway::Value = serde_norway::from_str(text)?;
    Ok(convert(v))
}

fn describe_application(detail: At<'_>) -> Result<KdaApplication> {
    let path = "ApplicationDetail";
    let name = detail.text("ApplicationName", path)?;
    // v2 keeps the SQL and the inputs one level down.
    let (code, sql, sql_path) = match detail.get("ApplicationConfigurationDescription") {
        Some(conf) => {
            let p = "ApplicationDetail.ApplicationConfigurationDescription";
            let code = conf
                .req("ApplicationCodeConfigurationDescription", p)?
                .req("CodeContentDescription", p)?
                .text("TextContent", p)?;
            let sql = conf.req("SqlApplicationConfigurationDescription", p)?;
            (
                code,
                sql,
                format!("{p}.SqlApplicationConfigurationDescription"),
            )
        }
        None => (
            detail.text("ApplicationCode", path)?,
            detail,
            path.to_string(),
        ),
    };
    let mut app = KdaApplication {
        name,
        code,
        inputs: Vec::new(),
        outputs: Vec::new(),
        references: Vec::new(),
        unsupported: Vec::new(),
    };
    for (i, input) in sql.list("InputDescriptions").into_iter().enumerate() {
        let p = format!("{sql_path}.InputDescriptions[{i}]");
        app.read_input(input, &p, Aws::Describe)?;
    }
    for (i, output) in sql.list("OutputDescriptions").into_iter().enumerate() {
        let p = format!("{sql_path}.OutputDescriptions[{i}]");
        app.read_output(output, &p, Aws::Describe)?;
    }
    for (i, r) in sql
        .list("ReferenceDataSourceDescriptions")
        .into_iter()
        .enumerate()
    {
        let p = format!("{sql_path}.ReferenceDataSourceDescriptions[{i}]");
        app.read_reference(r, &p, Aws::Describe)?;
    }
    Ok(app)
}

/// How a form spells the parts of an Input / Output / ReferenceDataSource.
#[derive(Clone, Copy, PartialEq)]
enum Aws {
    /// describe-application: `...Description` keys.
    Describe,
    /// CloudFormation (and the create API): plain keys.
    Create,
}

impl Aws {
    fn key(self, base: &str) -> String {
        match self {
            Aws::Describe => format!("{base}Description"),
            Aws::Create => base.to_string(),
        }
    }
}

impl KdaApplication {
    fn read_input(&mut self, input: At<'_>, path: &str, form: Aws) -> Result<()> {
        let name_prefix = input.text("NamePrefix", path)?;
        let schema = read_schema(
            input.req("InputSchema", path)?,
            &format!("{path}.InputSchema"),
        )?;
        if let Some(e) = schema_encoding(input.req("InputSchema", path)?) {
            self.unsupported.push(format!(
                "{path}.InputSchema.RecordEncoding {e} (Sluice reads UTF-8)"
            ));
        }
        let parallelism = input
            .get("InputParallelism")
            .and_then(|p| p.get("Count"))
            .and_then(|c| c.value.as_u64().or_else(|| text_of(c.value)?.parse().ok()))
            .unwrap_or(1) as u32;
        let starting_position = input
            .get("InputStartingPositionConfiguration")
            .and_then(|s| s.opt_text("InputStartingPosition"));
        let preprocessing = match input.get(&form.key("InputProcessingConfiguration")) {
            Some(p) => {
                let ppath = format!("{path}.InputProcessingConfiguration");
                let lambda = p.req(&form.key("InputLambdaProcessor"), &ppath)?;
                Some(lambda.text("ResourceARN", &ppath)?)
            }
            None => None,
        };
        let firehose = input
            .get(&form.key("KinesisFirehoseInput"))
            .map(|f| f.text("ResourceARN", &format!("{path}.KinesisFirehoseInput")))
            .transpose()?;
        if firehose.is_some() && input.get(&form.key("KinesisStreamsInput")).is_some() {
            return Err(config_error(
                input.origin,
                format!(
                    "{path}: both KinesisStreamsInput and KinesisFirehoseInput; an input has one source"
                ),
            ));
        }
        if firehose.is_some() && preprocessing.is_some() {
            self.unsupported.push(format!(
                "{path}: a preprocessing Lambda on a Firehose input (Sluice preprocesses Kinesis data stream inputs)"
            ));
        }
        let stream = input
            .get(&form.key("KinesisStreamsInput"))
            .map(|k| k.text("ResourceARN", &format!("{path}.KinesisStreamsInput")))
            .transpose()?;
        self.inputs.push(KdaInput {
            path: path.to_string(),
            name_prefix,
            schema,
            parallelism,
            starting_position,
            stream,
            preprocessing,
            firehose,
        });
        Ok(())
    }

    fn read_output(&mut self, output: At<'_>, path: &str, form: Aws) -> Result<()> {
        let name = output.text("Name", path)?;
        let format = output
            .get("DestinationSchema")
            .and_then(|d| d.opt_text("RecordFormatType"))
            .unwrap_or_else(|| "JSON".into())
            .to_ascii_lowercase();
        if format != "json" && format != "csv" {
            return Err(config_error(
                output.origin,
                format!("{path}.DestinationSchema.RecordFormatType {format}: expected JSON or CSV"),
            ));
        }
        let arn = |key: &str| -> Result<Option<String>> {
            output
                .get(&form.key(key))
                .map(|o| o.text("ResourceARN", &format!("{path}.{key}")))
                .transpose()
        };
        let destination = if let Some(a) = arn("KinesisStreamsOutput")? {
            KdaDestination::Stream(a)
        } else if let Some(a) = arn("KinesisFirehoseOutput")? {
            KdaDestination::Firehose(a)
        } else if let Some(a) = arn("LambdaOutput")? {
            KdaDestination::Lambda(a)
        } else {
            return Err(config_error(
                output.origin,
                format!("{path}: no KinesisStreamsOutput, KinesisFirehoseOutput or LambdaOutput"),
            ));
        };
        self.outputs.push(KdaOutput {
            path: path.to_string(),
            name,
            format,
            destination,
        });
        Ok(())
    }

    fn read_reference(&mut self, r: At<'_>, path: &str, form: Aws) -> Result<()> {
        let table = r.text("TableName", path)?;
        let s3_key = form.key("S3ReferenceDataSource");
        let s3 = r.req(&s3_key, path)?;
        let s3_path = format!("{path}.{s3_key}");
        let bucket = s3.text("BucketARN", &s3_path)?;
        let key = s3.text("FileKey", &s3_path)?;
        let schema_at = r.req("ReferenceSchema", path)?;
        let schema = read_schema(schema_at, &format!("{path}.ReferenceSchema"))?;
        if let Some(e) = schema_encoding(schema_at) {
            self.unsupported.push(format!(
                "{path}.ReferenceSchema.RecordEncoding {e} (Sluice reads UTF-8)"
            ));
        }
        self.references.push(KdaReference {
            path: path.to_string(),
            table,
            bucket,
            key,
            schema,
        });
        Ok(())
    }

    /// The app Sluice runs: the SQL and its configuration, ARNs placed by
    /// `map`. Errors: everything [`KdaApplication::unsupported`] lists, in
    /// one message; an ARN that names no stream or bucket.
    pub fn to_app(&self, map: &ArnMap) -> Result<(String, AppConfig)> {
        if !self.unsupported.is_empty() {
            return Err(config_error(
                format!("KDA application {}", self.name),
                format!(
                    "Sluice cannot run these parts of it:\n  - {}",
                    self.unsupported.join("\n  - ")
                ),
            ));
        }
        let mut config = AppConfig {
            description: Some(format!("KDA application {}", self.name)),
            ..AppConfig::default()
        };
        for input in &self.inputs {
            let (format, row_path, delimiter, row_delimiter) = format_keys(&input.schema.format);
            let mut i = InputConfig {
                stream: format!("{}_001", input.name_prefix),
                file: None,
                format,
                envelope: "none".into(),
                start: None,
                step_ms: None,
                row_path,
                delimiter,
                row_delimiter,
                header: false,
                columns: Some(input.schema.columns.clone()),
                kinesis_stream: None,
                endpoint: None,
                region: None,
                starting_position: None,
                parallelism: None,
                share: None,
                preprocessing_lambda: None,
                delivery_stream: None,
                video_stream: None,
            };
            match (&input.stream, &input.firehose) {
                (None, Some(arn)) => {
                    let place = stream_place(
                        arn,
                        map.delivery_streams.get(arn),
                        "delivery_streams",
                        &input.path,
                    )?;
                    if place.endpoint.is_some() {
                        return Err(config_error(
                            &input.path,
                            format!(
                                "delivery stream {arn}: an app reads the Firehose streams of its own process; give a name, not an endpoint"
                            ),
                        ));
                    }
                    i.delivery_stream = Some(place.name);
                }
                (Some(arn), _) => {
                    let place = stream_place(arn, map.streams.get(arn), "streams", &input.path)?;
                    i.kinesis_stream = Some(place.name);
                    i.endpoint = place.endpoint;
                    i.region = place.region;
                    i.starting_position = input.starting_position.clone();
                    i.parallelism = (input.parallelism != 1).then_some(input.parallelism);
                    i.preprocessing_lambda = input
                        .preprocessing
                        .as_deref()
                        .map(|arn| lambda_place(arn, map, &input.path))
                        .transpose()?;
                }
                (None, None) => {
                    return Err(config_error(
                        &input.path,
                        "no KinesisStreamsInput or KinesisFirehoseInput",
                    ));
                }
            }
            config.input.push(i);
        }
        for output in &self.outputs {
            let mut o = OutputConfig {
                stream: output.name.clone(),
                kinesis_stream: None,
                delivery_stream: None,
                file: None,
                lambda: None,
                format: output.format.clone(),
                endpoint: None,
                region: None,
            };
            match &output.destination {
                KdaDestination::Stream(arn) => {
                    let place = stream_place(arn, map.streams.get(arn), "streams", &output.path)?;
                    o.kinesis_stream = Some(place.name);
                    o.endpoint = place.endpoint;
                    o.region = place.region;
                }
                KdaDestination::Firehose(arn) => {
                    let place = stream_place(
                        arn,
                        map.delivery_streams.get(arn),
                        "delivery_streams",
                        &output.path,
                    )?;
                    if place.endpoint.is_some() {
                        return Err(config_error(
                            &output.path,
                            format!(
                                "delivery stream {arn}: Sluice delivers to Firehose streams of its own process; give a name, not an endpoint"
                            ),
                        ));
                    }
                    o.delivery_stream = Some(place.name);
                }
                KdaDestination::Lambda(arn) => {
                    o.lambda = Some(lambda_place(arn, map, &output.path)?);
                }
            }
            config.output.push(o);
        }
        for r in &self.references {
            let (file, target) =
                bucket_place(&r.bucket, &r.key, map.buckets.get(&r.bucket), &r.path)?;
            let (format, row_path, delimiter, _) = format_keys(&r.schema.format);
            config.reference.push(ReferenceConfig {
                table: r.table.clone(),
                file,
                format: Some(format),
                header: false,
                delimiter,
                row_path,
                columns: Some(r.schema.columns.clone()),
                endpoint: target.and_then(|t| t.endpoint.clone()),
                region: target.and_then(|t| t.region.clone()),
                access_key_id: None,
                secret_access_key: None,
                session_token: None,
                anonymous: target.is_some_and(|t| t.anonymous),
            });
        }
        Ok((self.code.clone(), config))
    }
}

/// Where a Lambda ARN runs: the map's URL or command (an ARN that is
/// already one stands for itself).
fn lambda_place(arn: &str, map: &ArnMap, path: &str) -> Result<String> {
    if arn.starts_with("http://") || arn.starts_with("https://") || arn.starts_with("command:") {
        return Ok(arn.to_string());
    }
    map.lambdas.get(arn).cloned().ok_or_else(|| {
        config_error(
            path,
            format!(
                "the Lambda function {arn} runs where the ARN map says: [lambdas] \"{arn}\" = \"http://...\" (its URL) or \"command:<program>\""
            ),
        )
    })
}

/// (format, row_path, delimiter, row_delimiter) of an `[[input]]`.
fn format_keys(f: &KdaFormat) -> (String, Option<String>, Option<String>, Option<String>) {
    match f {
        KdaFormat::Json { row_path } => ("json".into(), Some(row_path.clone()), None, None),
        KdaFormat::Csv {
            row_delimiter,
            column_delimiter,
        } => (
            "csv".into(),
            None,
            Some(column_delimiter.clone()),
            Some(row_delimiter.clone()),
        ),
    }
}

struct Place {
    name: String,
    endpoint: Option<String>,
    region: Option<String>,
}

/// `arn:aws:<service>:<region>:<account>:<kind>/<name>` → (region, name).
/// A CloudFormation `Fn::Sub` ARN (`arn:aws:kinesis:${AWS::Region}:...`)
/// gives its name and no region.
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    if !arn.starts_with("arn:") {
        return None;
    }
    let (_, name) = arn.rsplit_once('/')?;
    let region = arn
        .split(':')
        .nth(3)
        .filter(|r| !r.contains('$'))
        .unwrap_or("");
    (!name.is_empty()).then_some((region, name))
}

fn stream_place(
    arn: &str,
    target: Option<&StreamTarget>,
    section: &str,
    path: &str,
) -> Result<Place> {
    let parts = arn_parts(arn);
    let name = target
        .and_then(|t| t.name.clone())
        .or_else(|| parts.map(|(_, n)| n.to_string()))
        .ok_or_else(|| {
            config_error(
                path,
                format!(
                    "{arn} is not an ARN (a CloudFormation reference?): place it in the ARN map, [{section}.{arn}] name = \"...\""
                ),
            )
        })?;
    let region = target
        .and_then(|t| t.region.clone())
        .or_else(|| parts.map(|(r, _)| r.to_string()).filter(|r| !r.is_empty()));
    let endpoint = match target.and_then(|t| t.endpoint.as_deref()) {
        Some("aws") => {
            let r = region.clone().ok_or_else(|| {
                config_error(
                    path,
                    format!("{arn}: endpoint \"aws\" needs a region (in the ARN or the map)"),
                )
            })?;
            Some(format!("https://kinesis.{r}.amazonaws.com"))
        }
        Some(url) => Some(url.to_string()),
        None => None,
    };
    Ok(Place {
        name,
        region: endpoint.as_ref().and(region),
        endpoint,
    })
}

fn bucket_place<'m>(
    bucket: &str,
    key: &str,
    target: Option<&'m BucketTarget>,
    path: &str,
) -> Result<(String, Option<&'m BucketTarget>)> {
    if let Some(t) = target {
        let base = t.url.trim_end_matches('/');
        return Ok((format!("{base}/{key}"), Some(t)));
    }
    match bucket.strip_prefix("arn:aws:s3:::") {
        Some(name) if !name.is_empty() => Ok((format!("s3://{name}/{key}"), None)),
        _ => Err(config_error(
            path,
            format!(
                "bucket {bucket} is not an S3 bucket ARN (a CloudFormation reference?): place it in the ARN map, [buckets.{bucket}] url = \"...\""
            ),
        )),
    }
}

/// RecordEncoding, when it is not UTF-8.
fn schema_encoding(schema: At<'_>) -> Option<String> {
    schema
        .opt_text("RecordEncoding")
        .filter(|e| !e.eq_ignore_ascii_case("UTF-8") && !e.eq_ignore_ascii_case("UTF8"))
}

fn read_schema(schema: At<'_>, path: &str) -> Result<KdaSchema> {
    let format_at = schema.req("RecordFormat", path)?;
    let fpath = format!("{path}.RecordFormat");
    let kind = format_at.text("RecordFormatType", &fpath)?;
    let mapping = format_at.get("MappingParameters");
    let format = match kind.to_ascii_uppercase().as_str() {
        "JSON" => KdaFormat::Json {
            row_path: mapping
                .and_then(|m| m.get("JSONMappingParameters"))
                .and_then(|j| j.opt_text("RecordRowPath"))
                .unwrap_or_else(|| "$".into()),
        },
        "CSV" => {
            let csv = mapping.and_then(|m| m.get("CSVMappingParameters"));
            KdaFormat::Csv {
                row_delimiter: csv
                    .and_then(|c| c.opt_text("RecordRowDelimiter"))
                    .unwrap_or_else(|| "\n".into()),
                column_delimiter: csv
                    .and_then(|c| c.opt_text("RecordColumnDelimiter"))
                    .unwrap_or_else(|| ",".into()),
            }
        }
        other => {
            return Err(config_error(
                schema.origin,
                format!("{fpath}.RecordFormatType {other}: expected JSON or CSV"),
            ));
        }
    };
    let mut columns = Vec::new();
    for (i, c) in schema.list("RecordColumns").into_iter().enumerate() {
        let cpath = format!("{path}.RecordColumns[{i}]");
        columns.push(ColumnConfig {
            name: c.text("Name", &cpath)?,
            sql_type: c.text("SqlType", &cpath)?,
            mapping: c.opt_text("Mapping"),
        });
    }
    if columns.is_empty() {
        return Err(config_error(
            schema.origin,
            format!("{path}: no RecordColumns"),
        ));
    }
    Ok(KdaSchema { format, columns })
}

const CFN_APPLICATION: &str = "AWS::KinesisAnalytics::Application";
const CFN_OUTPUT: &str = "AWS::KinesisAnalytics::ApplicationOutput";
const CFN_REFERENCE: &str = "AWS::KinesisAnalytics::ApplicationReferenceDataSource";

fn cloudformation(resources: At<'_>) -> Result<Vec<KdaApplication>> {
    let Some(all) = resources.value.as_object() else {
        return Err(config_error(
            resources.origin,
            "Resources: expected an object",
        ));
    };
    let at = |value| At {
        value,
        origin: resources.origin,
    };
    // Applications by logical ID, and by ApplicationName.
    let mut apps: Vec<(String, KdaApplication)> = Vec::new();
    for (id, r) in all {
        if r.get("Type").and_then(Value::as_str) != Some(CFN_APPLICATION) {
            continue;
        }
        let path = format!("Resources.{id}.Properties");
        let props = at(r).req("Properties", &format!("Resources.{id}"))?;
        let mut app = KdaApplication {
            name: props
                .opt_text("ApplicationName")
                .unwrap_or_else(|| id.clone()),
            code: props.text("ApplicationCode", &path)?,
            inputs: Vec::new(),
            outputs: Vec::new(),
            references: Vec::new(),
            unsupported: Vec::new(),
        };
        for (i, input) in props.list("Inputs").into_iter().enumerate() {
            app.read_input(input, &format!("{path}.Inputs[{i}]"), Aws::Create)?;
        }
        apps.push((id.clone(), app));
    }
    if apps.is_empty() {
        return Err(config_error(
            resources.origin,
            format!("Resources: no {CFN_APPLICATION}"),
        ));
    }
    for (id, r) in all {
        let kind = r.get("Type").and_then(Value::as_str);
        if kind != Some(CFN_OUTPUT) && kind != Some(CFN_REFERENCE) {
            continue;
        }
        let path = format!("Resources.{id}.Properties");
        let props = at(r).req("Properties", &format!("Resources.{id}"))?;
        let owner = props.text("ApplicationName", &path)?;
        let Some((_, app)) = apps
            .iter_mut()
            .find(|(lid, a)| *lid == owner || a.name == owner)
        else {
            return Err(config_error(
                resources.origin,
                format!(
                    "{path}.ApplicationName {owner}: no {CFN_APPLICATION} of that name or logical ID"
                ),
            ));
        };
        if kind == Some(CFN_OUTPUT) {
            app.read_output(
                props.req("Output", &path)?,
                &format!("{path}.Output"),
                Aws::Create,
            )?;
        } else {
            app.read_reference(
                props.req("ReferenceDataSource", &path)?,
                &format!("{path}.ReferenceDataSource"),
                Aws::Create,
            )?;
        }
    }
    Ok(apps.into_iter().map(|(_, a)| a).collect())
}

fn terraform(apps: At<'_>) -> Result<Vec<KdaApplication>> {
    let Some(all) = apps.value.as_object() else {
        return Err(config_error(
            apps.origin,
            "resource.aws_kinesis_analytics_application: expected an object",
        ));
    };
    let mut out = Vec::new();
    for (id, r) in all {
        let path = format!("resource.aws_kinesis_analytics_application.{id}");
        let r = At {
            value: r,
            origin: apps.origin,
        };
        let mut app = KdaApplication {
            name: r.opt_text("name").unwrap_or_else(|| id.clone()),
            code: r.text("code", &path)?,
            inputs: Vec::new(),
            outputs: Vec::new(),
            references: Vec::new(),
            unsupported: Vec::new(),
        };
        for (i, input) in r.list("inputs").into_iter().enumerate() {
            let p = format!("{path}.inputs[{i}]");
            let name_prefix = input.text("name_prefix", &p)?;
            let schema = tf_schema(input.req("schema", &p)?, &format!("{p}.schema"))?;
            let parallelism = input
                .get("parallelism")
                .and_then(|x| x.get("count"))
                .and_then(|c| c.value.as_u64())
                .unwrap_or(1) as u32;
            app.inputs.push(KdaInput {
                path: p.clone(),
                name_prefix,
                schema,
                parallelism,
                starting_position: input
                    .get("starting_position_configuration")
                    .and_then(|s| s.opt_text("starting_position")),
                stream: input
                    .get("kinesis_stream")
                    .map(|k| k.text("resource_arn", &format!("{p}.kinesis_stream")))
                    .transpose()?,
                preprocessing: input
                    .get("processing_configuration")
                    .and_then(|c| c.get("lambda"))
                    .map(|l| {
                        l.text(
                            "resource_arn",
                            &format!("{p}.processing_configuration.lambda"),
                        )
                    })
                    .transpose()?,
                firehose: input
                    .get("kinesis_firehose")
                    .map(|f| f.text("resource_arn", &format!("{p}.kinesis_firehose")))
                    .transpose()?,
            });
        }
        for (i, o) in r.list("outputs").into_iter().enumerate() {
            let p = format!("{path}.outputs[{i}]");
            let name = o.text("name", &p)?;
            let format = o
                .get("schema")
                .and_then(|s| s.opt_text("record_format_type"))
                .unwrap_or_else(|| "JSON".into())
                .to_ascii_lowercase();
            let arn = |key: &str| {
                o.get(key)
                    .map(|x| x.text("resource_arn", &format!("{p}.{key}")))
                    .transpose()
            };
            let destination = if let Some(a) = arn("kinesis_stream")? {
                KdaDestination::Stream(a)
            } else if let Some(a) = arn("kinesis_firehose")? {
                KdaDestination::Firehose(a)
            } else if let Some(a) = arn("lambda")? {
                KdaDestination::Lambda(a)
            } else {
                return Err(config_error(
                    apps.origin,
                    format!("{p}: no kinesis_stream, kinesis_firehose or lambda"),
                ));
            };
            app.outputs.push(KdaOutput {
                path: p,
                name,
                format,
                destination,
            });
        }
        for (i, rd) in r.list("reference_data_sources").into_iter().enumerate() {
            let p = format!("{path}.reference_data_sources[{i}]");
            let s3 = rd.req("s3", &p)?;
            app.references.push(KdaReference {
                path: p.clone(),
                table: rd.text("table_name", &p)?,
                bucket: s3.text("bucket_arn", &format!("{p}.s3"))?,
                key: s3.text("file_key", &format!("{p}.s3"))?,
                schema: tf_schema(rd.req("schema", &p)?, &format!("{p}.schema"))?,
            });
        }
        out.push(app);
    }
    Ok(out)
}

/// Terraform's `schema` block: `record_columns`, `record_encoding`,
/// `record_format { mapping_parameters { json | csv } }`.
fn tf_schema(schema: At<'_>, path: &str) -> Result<KdaSchema> {
    let format_at = schema.req("record_format", path)?;
    let mapping = format_at.get("mapping_parameters");
    let format = if let Some(csv) = mapping.and_then(|m| m.get("csv")) {
        KdaFormat::Csv {
            row_delimiter: csv
                .opt_text("record_row_delimiter")
                .unwrap_or_else(|| "\n".into()),
            column_delimiter: csv
                .opt_text("record_column_delimiter")
                .unwrap_or_else(|| ",".into()),
        }
    } else {
        KdaFormat::Json {
            row_path: mapping
                .and_then(|m| m.get("json"))
                .and_then(|j| j.opt_text("record_row_path"))
                .unwrap_or_else(|| "$".into()),
        }
    };
    let mut columns = Vec::new();
    for (i, c) in schema.list("record_columns").into_iter().enumerate() {
        let cpath = format!("{path}.record_columns[{i}]");
        columns.push(ColumnConfig {
            name: c.text("name", &cpath)?,
            sql_type: c.text("sql_type", &cpath)?,
            mapping: c.opt_text("mapping"),
        });
    }
    if columns.is_empty() {
        return Err(config_error(
            schema.origin,
            format!("{path}: no record_columns"),
        ));
    }
    Ok(KdaSchema { format, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIBE: &str = r#"{
      "ApplicationDetail": {
        "ApplicationName": "ticker-app",
        "ApplicationARN": "arn:aws:kinesisanalytics:us-east-1:123456789012:application/ticker-app",
        "ApplicationStatus": "READY",
        "ApplicationCode": "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (T VARCHAR(4));",
        "InputDescriptions": [{
          "InputId": "1.1",
          "NamePrefix": "SOURCE_SQL_STREAM",
          "InAppStreamNames": ["SOURCE_SQL_STREAM_001"],
          "KinesisStreamsInputDescription": {
            "ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/ticker",
            "RoleARN": "arn:aws:iam::123456789012:role/r"
          },
          "InputSchema": {
            "RecordFormat": {"RecordFormatType": "JSON",
              "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
            "RecordEncoding": "UTF-8",
            "RecordColumns": [{"Name": "T", "SqlType": "VARCHAR(4)", "Mapping": "$.ticker"}]
          },
          "InputParallelism": {"Count": 1},
          "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"}
        }],
        "OutputDescriptions": [{
          "OutputId": "1.2", "Name": "DESTINATION_SQL_STREAM",
          "KinesisFirehoseOutputDescription": {
            "ResourceARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/out"},
          "DestinationSchema": {"RecordFormatType": "CSV"}
        }],
        "ReferenceDataSourceDescriptions": [{
          "ReferenceId": "1.3", "TableName": "COMPANY",
          "S3ReferenceDataSourceDescription": {
            "BucketARN": "arn:aws:s3:::ref-bucket", "FileKey": "company.csv",
            "ReferenceRoleARN": "arn:aws:iam::123456789012:role/r"},
          "ReferenceSchema": {
            "RecordFormat": {"RecordFormatType": "CSV", "MappingParameters":
              {"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}}},
            "RecordEncoding": "UTF-8",
            "RecordColumns": [{"Name": "T", "SqlType": "VARCHAR(4)"},
                              {"Name": "NAME", "SqlType": "VARCHAR(32)"}]
          }
        }]
      }
    }"#;

    #[test]
    fn describe_application_becomes_inputs_outputs_and_tables() -> Result<()> {
        let apps = read_kda_config(DESCRIBE, "describe.json")?;
        let [app] = apps.as_slice() else {
            panic!("one application, got {apps:?}");
        };
        let map = ArnMap::parse(
            "[buckets.\"arn:aws:s3:::ref-bucket\"]\nurl = \"reference-data\"\n",
            "map.toml",
        )?;
        let (sql, config) = app.to_app(&map)?;
        assert!(sql.starts_with("CREATE OR REPLACE STREAM"));
        let input = &config.input[0];
        assert_eq!(input.stream, "SOURCE_SQL_STREAM_001");
        assert_eq!(input.kinesis_stream.as_deref(), Some("ticker"));
        assert_eq!(input.endpoint, None);
        assert_eq!(input.row_path.as_deref(), Some("$"));
        assert_eq!(input.starting_position.as_deref(), Some("TRIM_HORIZON"));
        let columns = input.columns.as_ref().map(Vec::len);
        assert_eq!(columns, Some(1));
        assert_eq!(config.output[0].delivery_stream.as_deref(), Some("out"));
        assert_eq!(config.output[0].format, "csv");
        assert_eq!(config.reference[0].file, "reference-data/company.csv");
        assert_eq!(config.reference[0].delimiter.as_deref(), Some(","));
        // The result is a valid Sluice configuration.
        config.inputs()?;
        Ok(())
    }

    #[test]
    fn a_stream_can_be_remote_or_real_aws() -> Result<()> {
        let apps = read_kda_config(DESCRIBE, "describe.json")?;
        let map = ArnMap::parse(
            "[streams.\"arn:aws:kinesis:us-east-1:123456789012:stream/ticker\"]\nendpoint = \"aws\"\n",
            "map.toml",
        )?;
        let (_, config) = apps[0].to_app(&map)?;
        assert_eq!(
            config.input[0].endpoint.as_deref(),
            Some("https://kinesis.us-east-1.amazonaws.com")
        );
        assert_eq!(config.input[0].region.as_deref(), Some("us-east-1"));
        // Without a map entry a bucket is the S3 bucket itself.
        assert_eq!(config.reference[0].file, "s3://ref-bucket/company.csv");
        Ok(())
    }

    #[test]
    fn unsupported_parts_are_named_together() -> Result<()> {
        let text = DESCRIBE
            .replace(
                "\"KinesisFirehoseOutputDescription\"",
                "\"LambdaOutputDescription\"",
            )
            .replace("\"RecordEncoding\": \"UTF-8\",\n            \"RecordColumns\": [{\"Name\": \"T\", \"SqlType\": \"VARCHAR(4)\", \"Mapping\"", "\"RecordEncoding\": \"ISO-8859-1\",\n            \"RecordColumns\": [{\"Name\": \"T\", \"SqlType\": \"VARCHAR(4)\", \"Mapping\"");
        let apps = read_kda_config(&text, "describe.json")?;
        let err = apps[0]
            .to_app(&ArnMap::default())
            .expect_err("refused")
            .to_string();
        assert!(err.contains("RecordEncoding ISO-8859-1"), "{err}");
        Ok(())
    }

    #[test]
    fn cloudformation_joins_outputs_and_references_to_their_application() -> Result<()> {
        let text = r#"{
          "Resources": {
            "App": {"Type": "AWS::KinesisAnalytics::Application", "Properties": {
              "ApplicationName": "cfn-app",
              "ApplicationCode": "CREATE STREAM \"D\" (T VARCHAR(4));",
              "Inputs": [{
                "NamePrefix": "SOURCE_SQL_STREAM",
                "KinesisStreamsInput": {"ResourceARN": {"Fn::GetAtt": ["InStream", "Arn"]},
                                        "RoleARN": {"Fn::GetAtt": ["Role", "Arn"]}},
                "InputParallelism": {"Count": 1},
                "InputSchema": {"RecordFormat": {"RecordFormatType": "JSON",
                  "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
                  "RecordEncoding": "UTF-8",
                  "RecordColumns": [{"Name": "T", "SqlType": "VARCHAR(4)", "Mapping": "$.t"}]}
              }]}},
            "Out": {"Type": "AWS::KinesisAnalytics::ApplicationOutput", "Properties": {
              "ApplicationName": {"Ref": "App"},
              "Output": {"Name": "D", "DestinationSchema": {"RecordFormatType": "JSON"},
                "KinesisStreamsOutput": {"ResourceARN": "arn:aws:kinesis:us-east-1:1:stream/out"}}}},
            "InStream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}}
          }
        }"#;
        let apps = read_kda_config(text, "template.json")?;
        let [app] = apps.as_slice() else {
            panic!("one application, got {apps:?}");
        };
        assert_eq!(app.outputs.len(), 1);
        // The input's stream is a logical ID: the map must place it.
        let err = app
            .to_app(&ArnMap::default())
            .expect_err("unplaced")
            .to_string();
        assert!(err.contains("[streams.InStream]"), "{err}");
        let map = ArnMap::parse("[streams.InStream]\nname = \"in\"\n", "map.toml")?;
        let (_, config) = app.to_app(&map)?;
        assert_eq!(config.input[0].kinesis_stream.as_deref(), Some("in"));
        assert_eq!(config.output[0].kinesis_stream.as_deref(), Some("out"));
        Ok(())
    }

    #[test]
    fn cloudformation_yaml_short_form_tags_read_as_their_fn_forms() -> Result<()> {
        let yaml = "Resources:\n  App:\n    Type: AWS::KinesisAnalytics::Application\n    Properties:\n      ApplicationCode: |\n        CREATE STREAM \"D\" (T VARCHAR(4));\n      Inputs:\n        - NamePrefix: SOURCE_SQL_STREAM\n          KinesisStreamsInput:\n            ResourceARN: !GetAtt [InStream, Arn]\n          InputSchema:\n            RecordFormat: { RecordFormatType: CSV }\n            RecordColumns:\n              - { Name: T, SqlType: VARCHAR(4) }\n  Out:\n    Type: AWS::KinesisAnalytics::ApplicationOutput\n    Properties:\n      ApplicationName: !Ref App\n      Output:\n        Name: D\n        KinesisStreamsOutput:\n          ResourceARN: !Sub \"arn:aws:kinesis:${AWS::Region}:${AWS::AccountId}:stream/out\"\n";
        let apps = read_kda_config(yaml, "template.yaml")?;
        let map = ArnMap::parse("[streams.InStream]\nname = \"in\"\n", "map.toml")?;
        let (sql, config) = apps[0].to_app(&map)?;
        assert_eq!(sql, "CREATE STREAM \"D\" (T VARCHAR(4));\n");
        assert_eq!(config.input[0].kinesis_stream.as_deref(), Some("in"));
        assert_eq!(config.input[0].delimiter.as_deref(), Some(","));
        assert_eq!(config.output[0].kinesis_stream.as_deref(), Some("out"));
        assert_eq!(config.output[0].region, None);
        let err = read_kda_config("{ not json", "x.json")
            .expect_err("bad")
            .to_string();
        assert!(err.contains("not JSON"), "{err}");
        Ok(())
    }

    #[test]
    fn terraform_json_blocks() -> Result<()> {
        let text = r#"{"resource": {"aws_kinesis_analytics_application": {"tf": {
          "name": "tf-app",
          "code": "CREATE STREAM \"D\" (T VARCHAR(4));",
          "inputs": {
            "name_prefix": "SOURCE_SQL_STREAM",
            "kinesis_stream": {"resource_arn": "arn:aws:kinesis:eu-west-1:1:stream/in", "role_arn": "r"},
            "parallelism": {"count": 1},
            "starting_position_configuration": {"starting_position": "NOW"},
            "schema": {"record_columns": [{"name": "T", "sql_type": "VARCHAR(4)", "mapping": "$.t"}],
                       "record_encoding": "UTF-8",
                       "record_format": {"mapping_parameters": {"json": {"record_row_path": "$"}}}}
          },
          "outputs": [{"name": "D", "schema": {"record_format_type": "JSON"},
                       "kinesis_firehose": {"resource_arn": "arn:aws:firehose:eu-west-1:1:deliverystream/d", "role_arn": "r"}}]
        }}}}"#;
        let apps = read_kda_config(text, "main.tf.json")?;
        let (_, config) = apps[0].to_app(&ArnMap::default())?;
        assert_eq!(config.input[0].kinesis_stream.as_deref(), Some("in"));
        assert_eq!(config.input[0].starting_position.as_deref(), Some("NOW"));
        assert_eq!(config.output[0].delivery_stream.as_deref(), Some("d"));
        Ok(())
    }
}
