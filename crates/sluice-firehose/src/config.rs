//! Delivery stream configuration in AWS's own JSON: [`CreateDeliveryStreamInput`]
//! is the CreateDeliveryStream request (so users can paste what they have), and
//! [`Destination::from_json`] validates an `ExtendedS3DestinationConfiguration`
//! (or the older `S3DestinationConfiguration`) into what delivery needs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::Arc;

use crate::compress::Compression;
use crate::convert::FormatConversion;
use crate::deaggregate::SubRecords;
use crate::error::{FirehoseError, Result};
use crate::http_endpoint::{HttpBackupMode, HttpEndpoint};
use crate::partition::PartitionQuery;
use crate::prefix::PrefixTemplate;
use crate::transform::Transform;

/// Default `BufferingHints.SizeInMBs`.
pub const DEFAULT_SIZE_MB: u64 = 5;
/// Default `BufferingHints.IntervalInSeconds`.
pub const DEFAULT_INTERVAL_SECS: u64 = 300;

/// A tag on a delivery stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The CreateDeliveryStream request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDeliveryStreamInput {
    pub delivery_stream_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_stream_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_stream_source_configuration: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_stream_encryption_configuration_input: Option<Value>,
    #[serde(
        default,
        rename = "S3DestinationConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_destination_configuration: Option<Value>,
    #[serde(
        default,
        rename = "ExtendedS3DestinationConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub extended_s3_destination_configuration: Option<Value>,
    #[serde(
        default,
        rename = "HttpEndpointDestinationConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_endpoint_destination_configuration: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Destinations sluice does not deliver to (Redshift, OpenSearch, ...).
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BufferingHintsJson {
    #[serde(rename = "SizeInMBs")]
    size_in_mbs: Option<i64>,
    interval_in_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessorParameterJson {
    parameter_name: String,
    parameter_value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessorJson {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    parameters: Vec<ProcessorParameterJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessingConfigurationJson {
    enabled: Option<bool>,
    #[serde(default)]
    processors: Vec<ProcessorJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnabledJson {
    enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3DestinationJson {
    #[serde(rename = "BucketARN")]
    bucket_arn: Option<String>,
    prefix: Option<String>,
    error_output_prefix: Option<String>,
    buffering_hints: Option<BufferingHintsJson>,
    compression_format: Option<String>,
    processing_configuration: Option<ProcessingConfigurationJson>,
    file_extension: Option<String>,
    custom_time_zone: Option<String>,
    dynamic_partitioning_configuration: Option<EnabledJson>,
    data_format_conversion_configuration: Option<Value>,
    #[serde(rename = "S3BackupMode")]
    s3_backup_mode: Option<String>,
    #[serde(rename = "S3BackupConfiguration")]
    s3_backup_configuration: Option<Value>,
}

/// Where and how source records are backed up (`S3BackupMode: Enabled`).
#[derive(Debug, Clone)]
pub struct Backup {
    /// The backup bucket.
    pub bucket: String,
    /// The backup configuration's `Prefix` (default `yyyy/MM/dd/HH/`).
    pub prefix: PrefixTemplate,
    /// The backup configuration's `CompressionFormat`.
    pub compression: Compression,
    /// Extension of backup objects (the compression's).
    pub extension: String,
}

impl Backup {
    /// Validates an `S3BackupConfiguration` (an `S3DestinationConfiguration`).
    pub fn from_json(json: &Value, path: &str) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct BackupJson {
            #[serde(rename = "BucketARN")]
            bucket_arn: Option<String>,
            prefix: Option<String>,
            error_output_prefix: Option<String>,
            compression_format: Option<String>,
        }
        let cfg: BackupJson =
            serde_json::from_value(json.clone()).map_err(|e| FirehoseError::Serialization {
                message: format!("{path}: {e}"),
            })?;
        let arn = cfg.bucket_arn.ok_or_else(|| FirehoseError::Validation {
            message: format!(
                "1 validation error detected: Value null at '{path}.bucketARN' failed to satisfy constraint: Member must not be null"
            ),
        })?;
        let bucket = bucket_from_arn(&arn, &format!("{path}.bucketARN"))?;
        let compression = match cfg.compression_format.as_deref() {
            None => Compression::Uncompressed,
            Some(s) => Compression::from_aws(s).ok_or_else(|| {
                validation(
                    &format!("{path}.compressionFormat"),
                    s,
                    "Member must satisfy enum value set: [HADOOP_SNAPPY, ZIP, Snappy, UNCOMPRESSED, GZIP]",
                )
            })?,
        };
        let (prefix, _) =
            PrefixTemplate::parse_pair(cfg.prefix.as_deref(), cfg.error_output_prefix.as_deref())?;
        if !prefix.partition_keys().is_empty() {
            return Err(FirehoseError::invalid(
                "S3BackupConfiguration",
                "The backup Prefix cannot use partition keys.",
            ));
        }
        Ok(Self {
            bucket,
            prefix,
            compression,
            extension: compression.extension().to_owned(),
        })
    }
}

/// A validated S3 destination: everything delivery needs.
#[derive(Debug, Clone)]
pub struct Destination {
    /// `arn:aws:s3:::bucket`
    pub bucket_arn: String,
    /// The bucket name from the ARN.
    pub bucket: String,
    /// Where delivered objects go.
    pub prefix: PrefixTemplate,
    /// Where failed records go.
    pub error_output_prefix: PrefixTemplate,
    /// Seal a buffer once it holds this many bytes (before compression).
    pub size_limit: u64,
    /// Seal a buffer this long after its first record arrived.
    pub interval: std::time::Duration,
    /// Object compression.
    pub compression: Compression,
    /// Extension for delivered objects (`FileExtension` or the compression's).
    pub extension: String,
    /// `AppendDelimiterToRecord`: a newline after each record.
    pub append_delimiter: bool,
    /// Dynamic partitioning: the `MetadataExtractionQuery`.
    pub partitioning: Option<PartitionQuery>,
    /// Dynamic partitioning by the keys the Lambda function returns
    /// (`partitionKeyFromLambda`), applied when the buffer is delivered.
    pub lambda_partitioning: bool,
    /// Data transformation by a Lambda processor.
    pub transform: Option<Arc<Transform>>,
    /// `RecordDeAggregation`: how records split into sub-records.
    pub sub_records: Option<SubRecords>,
    /// S3 backup of source records (`S3BackupMode: Enabled`).
    pub backup: Option<Backup>,
    /// Record format conversion to Parquet.
    pub conversion: Option<Arc<FormatConversion>>,
    /// Set for an HTTP endpoint destination: records are POSTed there and
    /// only failed records (and, with `AllData`, the backup) go to `bucket`.
    pub http: Option<Arc<HttpEndpoint>>,
    /// The configuration JSON as given (and as DescribeDeliveryStream shows it).
    pub json: Value,
}

fn validation(path: &str, value: impl std::fmt::Display, constraint: &str) -> FirehoseError {
    FirehoseError::Validation {
        message: format!(
            "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
        ),
    }
}

/// Checks a delivery stream name against AWS's constraints.
pub fn validate_stream_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 {
        return Err(validation(
            "deliveryStreamName",
            name,
            "Member must have length less than or equal to 64 and greater than or equal to 1",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(validation(
            "deliveryStreamName",
            name,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// The bucket name in `arn:<partition>:s3:::<bucket>`.
pub fn bucket_from_arn(arn: &str, path: &str) -> Result<String> {
    let bad = || {
        validation(
            path,
            arn,
            "Member must satisfy regular expression pattern: arn:.*:s3:::[\\w\\.\\-]{1,255}",
        )
    };
    let rest = arn.strip_prefix("arn:").ok_or_else(bad)?;
    let (_, bucket) = rest.split_once(":s3:::").ok_or_else(bad)?;
    if bucket.is_empty()
        || bucket.len() > 255
        || !bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(bad());
    }
    Ok(bucket.to_owned())
}

impl Destination {
    /// Validates an `ExtendedS3DestinationConfiguration` / `S3DestinationConfiguration`
    /// object; `path` is its member name for messages
    /// (`extendedS3DestinationConfiguration`).
    pub fn from_json(json: &Value, path: &str) -> Result<Self> {
        let cfg: S3DestinationJson =
            serde_json::from_value(json.clone()).map_err(|e| FirehoseError::Serialization {
                message: format!("{path}: {e}"),
            })?;
        let bucket_arn = cfg.bucket_arn.clone().ok_or_else(|| FirehoseError::Validation {
            message: format!(
                "1 validation error detected: Value null at '{path}.bucketARN' failed to satisfy constraint: Member must not be null"
            ),
        })?;
        let bucket = bucket_from_arn(&bucket_arn, &format!("{path}.bucketARN"))?;
        let hints = cfg.buffering_hints.clone().unwrap_or_default();
        let size_mb = hints.size_in_mbs.unwrap_or(DEFAULT_SIZE_MB as i64);
        if !(1..=128).contains(&size_mb) {
            return Err(validation(
                &format!("{path}.bufferingHints.sizeInMBs"),
                size_mb,
                if size_mb < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 128"
                },
            ));
        }
        let interval = hints
            .interval_in_seconds
            .unwrap_or(DEFAULT_INTERVAL_SECS as i64);
        if !(0..=900).contains(&interval) {
            return Err(validation(
                &format!("{path}.bufferingHints.intervalInSeconds"),
                interval,
                if interval < 0 {
                    "Member must have value greater than or equal to 0"
                } else {
                    "Member must have value less than or equal to 900"
                },
            ));
        }
        let compression = match cfg.compression_format.as_deref() {
            None => Compression::Uncompressed,
            Some(s) => Compression::from_aws(s).ok_or_else(|| {
                validation(
                    &format!("{path}.compressionFormat"),
                    s,
                    "Member must satisfy enum value set: [HADOOP_SNAPPY, ZIP, Snappy, UNCOMPRESSED, GZIP]",
                )
            })?,
        };
        let extension = match cfg.file_extension.as_deref() {
            None | Some("") => compression.extension().to_owned(),
            Some(ext) => {
                let ok = ext.len() <= 128
                    && ext.starts_with('.')
                    && ext.len() > 1
                    && ext[1..].chars().all(|c| {
                        c.is_ascii_digit()
                            || c.is_ascii_lowercase()
                            || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
                    });
                if !ok {
                    return Err(validation(
                        &format!("{path}.fileExtension"),
                        ext,
                        "Member must satisfy regular expression pattern: ^$|\\.[0-9a-z!\\-_.*'()]+",
                    ));
                }
                ext.to_owned()
            }
        };
        if let Some(tz) = cfg.custom_time_zone.as_deref()
            && !tz.is_empty()
            && tz != "UTC"
        {
            return Err(FirehoseError::invalid(
                "CustomTimeZone",
                format!("CustomTimeZone {tz} is not supported by sluice; only UTC is."),
            ));
        }
        let dynamic = cfg
            .dynamic_partitioning_configuration
            .as_ref()
            .and_then(|d| d.enabled)
            == Some(true);
        let conversion =
            FormatConversion::from_json(cfg.data_format_conversion_configuration.as_ref())?
                .map(Arc::new);
        if conversion.is_some() && compression != Compression::Uncompressed {
            return Err(FirehoseError::invalid(
                "CompressionFormat",
                format!(
                    "CompressionFormat must be UNCOMPRESSED when DataFormatConversionConfiguration is enabled (compression is set by the serializer), got {}.",
                    compression.as_aws()
                ),
            ));
        }
        let extension = match (&conversion, cfg.file_extension.as_deref()) {
            (Some(_), None | Some("")) => ".parquet".to_owned(),
            _ => extension,
        };
        let mut append_delimiter = false;
        let mut query = None;
        let mut transform = None;
        let mut sub_records = None;
        if let Some(pc) = &cfg.processing_configuration
            && pc.enabled.unwrap_or(false)
        {
            for p in &pc.processors {
                match p.kind.as_str() {
                    "AppendDelimiterToRecord" => {
                        append_delimiter = true;
                        if let Some(d) = p
                            .parameters
                            .iter()
                            .find(|x| x.parameter_name == "Delimiter")
                            && d.parameter_value != "\\n"
                            && d.parameter_value != "\n"
                        {
                            return Err(FirehoseError::invalid(
                                "ProcessingConfiguration",
                                format!(
                                    "Delimiter {:?} is not supported; AppendDelimiterToRecord appends a newline.",
                                    d.parameter_value
                                ),
                            ));
                        }
                    }
                    "MetadataExtraction" => {
                        for x in &p.parameters {
                            match x.parameter_name.as_str() {
                                "MetadataExtractionQuery" => {
                                    query = Some(PartitionQuery::new(&x.parameter_value)?);
                                }
                                "JsonParsingEngine" if x.parameter_value == "JQ-1.6" => {}
                                "JsonParsingEngine" => {
                                    return Err(FirehoseError::invalid(
                                        "ProcessingConfiguration",
                                        format!(
                                            "JsonParsingEngine {} is not supported; use JQ-1.6.",
                                            x.parameter_value
                                        ),
                                    ));
                                }
                                _ => {}
                            }
                        }
                    }
                    "Lambda" => {
                        let params: Vec<(String, String)> = p
                            .parameters
                            .iter()
                            .map(|x| (x.parameter_name.clone(), x.parameter_value.clone()))
                            .collect();
                        transform = Some(Arc::new(Transform::from_parameters(&params)?));
                    }
                    "RecordDeAggregation" => {
                        let param = |n: &str| {
                            p.parameters
                                .iter()
                                .find(|x| x.parameter_name == n)
                                .map(|x| x.parameter_value.as_str())
                        };
                        sub_records = Some(match param("SubRecordType") {
                            Some("JSON") | None => SubRecords::Json,
                            Some("DELIMITED") => {
                                use base64::Engine;
                                let d = param("Delimiter").ok_or_else(|| {
                                    FirehoseError::invalid(
                                        "ProcessingConfiguration",
                                        "RecordDeAggregation with SubRecordType DELIMITED needs a Delimiter (base64).",
                                    )
                                })?;
                                let bytes = base64::engine::general_purpose::STANDARD
                                    .decode(d)
                                    .ok()
                                    .filter(|b| !b.is_empty())
                                    .ok_or_else(|| {
                                        FirehoseError::invalid(
                                            "ProcessingConfiguration",
                                            format!("RecordDeAggregation Delimiter {d:?} is not non-empty base64."),
                                        )
                                    })?;
                                SubRecords::Delimited(bytes)
                            }
                            Some(other) => {
                                return Err(FirehoseError::invalid(
                                    "ProcessingConfiguration",
                                    format!("SubRecordType {other} is not JSON or DELIMITED."),
                                ));
                            }
                        });
                    }
                    other => {
                        return Err(FirehoseError::invalid(
                            "ProcessingConfiguration",
                            format!("Processor type {other} is not supported by sluice yet."),
                        ));
                    }
                }
            }
        }
        let (prefix, error_output_prefix) =
            PrefixTemplate::parse_pair(cfg.prefix.as_deref(), cfg.error_output_prefix.as_deref())?;
        let backup = match cfg.s3_backup_mode.as_deref() {
            None | Some("Disabled") => None,
            Some("Enabled") => {
                let b = cfg.s3_backup_configuration.as_ref().ok_or_else(|| {
                    FirehoseError::invalid(
                        "S3BackupConfiguration",
                        "S3BackupConfiguration must be specified when S3BackupMode is Enabled.",
                    )
                })?;
                Some(Backup::from_json(
                    b,
                    &format!("{path}.s3BackupConfiguration"),
                )?)
            }
            Some(other) => {
                return Err(validation(
                    &format!("{path}.s3BackupMode"),
                    other,
                    "Member must satisfy enum value set: [Enabled, Disabled]",
                ));
            }
        };
        let raw_prefix = cfg.prefix.as_deref().unwrap_or("");
        let query_keys = raw_prefix.contains("!{partitionKeyFromQuery:");
        let lambda_keys = raw_prefix.contains("!{partitionKeyFromLambda:");
        let uses_keys = query_keys || lambda_keys;
        if lambda_keys && transform.is_none() {
            return Err(FirehoseError::invalid(
                "Prefix",
                "partitionKeyFromLambda expressions need a Lambda processor in ProcessingConfiguration.",
            ));
        }
        if query.is_some() && transform.is_some() {
            return Err(FirehoseError::invalid(
                "ProcessingConfiguration",
                "sluice extracts MetadataExtraction keys before buffering and runs Lambda after it, so the two cannot be combined; return partition keys from the Lambda function (partitionKeyFromLambda) instead.",
            ));
        }
        let partitioning = if dynamic {
            if cfg.error_output_prefix.as_deref().unwrap_or("").is_empty() {
                return Err(FirehoseError::invalid(
                    "ErrorOutputPrefix",
                    "ErrorOutputPrefix must be specified when dynamic partitioning is enabled.",
                ));
            }
            if size_mb < 64 {
                return Err(FirehoseError::invalid(
                    "BufferingHints",
                    format!(
                        "BufferingHints.SizeInMBs must be at least 64 when dynamic partitioning is enabled, got {size_mb}."
                    ),
                ));
            }
            if interval == 0 {
                return Err(FirehoseError::invalid(
                    "BufferingHints",
                    "Zero buffering (IntervalInSeconds 0) is not available with dynamic partitioning.",
                ));
            }
            if !uses_keys {
                return Err(FirehoseError::invalid(
                    "Prefix",
                    "When dynamic partitioning is enabled, Prefix must contain at least one !{partitionKeyFromQuery:key} or !{partitionKeyFromLambda:key} expression.",
                ));
            }
            if !query_keys {
                None
            } else {
                Some(query.ok_or_else(|| {
                FirehoseError::invalid(
                    "ProcessingConfiguration",
                    "Prefix uses partitionKeyFromQuery but no MetadataExtraction processor with a MetadataExtractionQuery is configured.",
                )
            })?)
            }
        } else {
            if uses_keys {
                return Err(FirehoseError::invalid(
                    "Prefix",
                    "partitionKeyFromQuery and partitionKeyFromLambda expressions need DynamicPartitioningConfiguration.Enabled = true.",
                ));
            }
            if query.is_some() {
                return Err(FirehoseError::invalid(
                    "ProcessingConfiguration",
                    "The MetadataExtraction processor needs DynamicPartitioningConfiguration.Enabled = true.",
                ));
            }
            None
        };
        Ok(Self {
            bucket_arn,
            bucket,
            prefix,
            error_output_prefix,
            size_limit: size_mb as u64 * 1024 * 1024,
            interval: std::time::Duration::from_secs(interval as u64),
            compression,
            extension,
            append_delimiter,
            partitioning,
            lambda_partitioning: dynamic && lambda_keys,
            transform,
            sub_records,
            backup,
            conversion,
            http: None,
            json: json.clone(),
        })
    }

    /// Validates an `HttpEndpointDestinationConfiguration`: the endpoint, its
    /// `BufferingHints` (SizeInMBs 1–64, IntervalInSeconds 0–900),
    /// `ProcessingConfiguration`, and the `S3Configuration` that failed
    /// records (and with `S3BackupMode: AllData`, every record) go to.
    pub fn from_http_json(json: &Value, path: &str) -> Result<Self> {
        let http = HttpEndpoint::from_json(json, path)?;
        let hints: BufferingHintsJson = match json.get("BufferingHints") {
            None | Some(Value::Null) => BufferingHintsJson::default(),
            Some(h) => {
                serde_json::from_value(h.clone()).map_err(|e| FirehoseError::Serialization {
                    message: format!("{path}.bufferingHints: {e}"),
                })?
            }
        };
        if let Some(size) = hints.size_in_mbs
            && !(1..=64).contains(&size)
        {
            return Err(validation(
                &format!("{path}.bufferingHints.sizeInMBs"),
                size,
                if size < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 64"
                },
            ));
        }
        let s3 = json.get("S3Configuration").ok_or_else(|| FirehoseError::Validation {
            message: format!(
                "1 validation error detected: Value null at '{path}.s3Configuration' failed to satisfy constraint: Member must not be null"
            ),
        })?;
        let s3_path = format!("{path}.s3Configuration");
        let mut inner = serde_json::Map::new();
        for k in [
            "BucketARN",
            "Prefix",
            "ErrorOutputPrefix",
            "CompressionFormat",
        ] {
            if let Some(v) = s3.get(k) {
                inner.insert(k.to_owned(), v.clone());
            }
        }
        for k in ["BufferingHints", "ProcessingConfiguration"] {
            if let Some(v) = json.get(k) {
                inner.insert(k.to_owned(), v.clone());
            }
        }
        let mut dest = Self::from_json(&Value::Object(inner), &s3_path)?;
        if dest.partitioning.is_some() || dest.lambda_partitioning {
            return Err(FirehoseError::invalid(
                "ProcessingConfiguration",
                "Dynamic partitioning is only available for an Amazon S3 destination.",
            ));
        }
        dest.backup = match http.backup_mode {
            HttpBackupMode::FailedDataOnly => None,
            HttpBackupMode::AllData => Some(Backup::from_json(s3, &s3_path)?),
        };
        dest.http = Some(Arc::new(http));
        dest.json = json.clone();
        Ok(dest)
    }

    /// Validates a destination configuration of `kind` (`ExtendedS3`, `S3`
    /// or `HttpEndpoint`, as persisted by [`crate::Firehose`]).
    pub fn from_kind(kind: &str, json: &Value, path: &str) -> Result<Self> {
        if kind == "HttpEndpoint" {
            Self::from_http_json(json, path)
        } else {
            Self::from_json(json, path)
        }
    }

    /// The configuration with an `...DestinationUpdate` merged over it
    /// (members given in the update replace those configured).
    pub fn merged_json(&self, update: &Value) -> Value {
        let mut out = self.json.clone();
        if let (Some(base), Some(upd)) = (out.as_object_mut(), update.as_object()) {
            for (k, v) in upd {
                base.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let d = Destination::from_json(
            &json!({"BucketARN": "arn:aws:s3:::b", "RoleARN": "arn:aws:iam::1:role/r"}),
            "extendedS3DestinationConfiguration",
        )
        .unwrap();
        assert_eq!(d.bucket, "b");
        assert_eq!(d.size_limit, 5 * 1024 * 1024);
        assert_eq!(d.interval.as_secs(), 300);
        assert_eq!(d.extension, "");
    }

    #[test]
    fn bad_hints_and_extension() {
        let p = "extendedS3DestinationConfiguration";
        let e = Destination::from_json(
            &json!({"BucketARN": "arn:aws:s3:::b", "BufferingHints": {"SizeInMBs": 129}}),
            p,
        )
        .unwrap_err();
        assert_eq!(e.aws_type(), "ValidationException");
        assert!(e.to_string().contains("bufferingHints.sizeInMBs"), "{e}");
        let e = Destination::from_json(
            &json!({"BucketARN": "arn:aws:s3:::b", "FileExtension": "gz"}),
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("fileExtension"), "{e}");
        let e = Destination::from_json(&json!({"BucketARN": "nope"}), p).unwrap_err();
        assert!(e.to_string().contains("bucketARN"), "{e}");
        let d = Destination::from_json(
            &json!({"BucketARN": "arn:aws:s3:::b", "CompressionFormat": "GZIP", "FileExtension": ".json.gz",
                    "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]}}),
            p,
        )
        .unwrap();
        assert_eq!(d.extension, ".json.gz");
        assert!(d.append_delimiter);
    }

    #[test]
    fn names() {
        assert!(validate_stream_name("ok-name_1.x").is_ok());
        assert!(validate_stream_name("bad name").is_err());
        assert!(validate_stream_name("").is_err());
    }
}
