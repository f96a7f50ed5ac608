//! Delivery to an HTTP endpoint (`HttpEndpointDestinationConfiguration`):
//! [`HttpEndpoint::from_json`] validates the configuration and
//! [`HttpEndpoint::deliver`] sends one sealed buffer's records with
//! Firehose's request contract, retrying until `RetryOptions.DurationInSeconds`
//! has passed.
//!
//! # Request
//!
//! `POST <Url>` with headers `X-Amz-Firehose-Protocol-Version: 1.0`,
//! `X-Amz-Firehose-Request-Id` (the same on every retry of one request),
//! `X-Amz-Firehose-Source-Arn`, `X-Amz-Firehose-Access-Key` (when an
//! `AccessKey` is configured), `X-Amz-Firehose-Common-Attributes`
//! (`{"commonAttributes": {name: value}}`, when any are configured),
//! `Content-Type: application/json` and `Content-Encoding: gzip` when
//! `ContentEncoding` is `GZIP` (absent otherwise). The body is
//! `{"requestId", "timestamp" (ms), "records": [{"data": base64}]}`.
//!
//! # Response
//!
//! A request succeeds when the endpoint answers 200 with a JSON body whose
//! `requestId` is the request's. Anything else (transport error, timeout,
//! another status, a body that is not that JSON, another `requestId`) is a
//! failed attempt. Failed attempts are retried with exponential backoff and
//! full jitter (from 1 s, doubling to 30 s) until the retry duration, read
//! from the injected [`Clock`], has passed since the first attempt; then
//! every record goes to the error output prefix as `http-endpoint-failed`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::buffer::BufferedRecord;
use crate::clock::Clock;
use crate::error::{FirehoseError, Result};

/// Default `RetryOptions.DurationInSeconds`.
pub const DEFAULT_RETRY_SECS: u64 = 300;
/// Longest `RetryOptions.DurationInSeconds`.
pub const MAX_RETRY_SECS: u64 = 7200;
/// How long the endpoint has to answer one request (Firehose's 3 minutes).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// First backoff after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest backoff between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What is backed up to S3 (`S3BackupMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpBackupMode {
    /// Only records the endpoint did not accept (under `http-endpoint-failed/`).
    FailedDataOnly,
    /// Every record, besides the failed ones.
    AllData,
}

/// A validated HTTP endpoint destination.
#[derive(Debug, Clone)]
pub struct HttpEndpoint {
    /// `EndpointConfiguration.Url`.
    pub url: String,
    /// `EndpointConfiguration.Name`.
    pub name: Option<String>,
    /// `EndpointConfiguration.AccessKey`, sent as `X-Amz-Firehose-Access-Key`.
    pub access_key: Option<String>,
    /// `RequestConfiguration.ContentEncoding` is `GZIP`.
    pub gzip: bool,
    /// `RequestConfiguration.CommonAttributes`, by name.
    pub common_attributes: BTreeMap<String, String>,
    /// `RetryOptions.DurationInSeconds`.
    pub retry_duration: Duration,
    /// `S3BackupMode`.
    pub backup_mode: HttpBackupMode,
}

/// Why a request failed: AWS's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// `HttpEndpoint.*` error code for the error record.
    pub code: &'static str,
    /// What happened.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointJson {
    url: Option<String>,
    name: Option<String>,
    access_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeJson {
    attribute_name: String,
    attribute_value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RequestJson {
    content_encoding: Option<String>,
    #[serde(default)]
    common_attributes: Vec<AttributeJson>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RetryJson {
    duration_in_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HttpJson {
    endpoint_configuration: Option<EndpointJson>,
    request_configuration: Option<RequestJson>,
    retry_options: Option<RetryJson>,
    #[serde(rename = "S3BackupMode")]
    s3_backup_mode: Option<String>,
}

fn validation(path: &str, value: impl std::fmt::Display, constraint: &str) -> FirehoseError {
    FirehoseError::Validation {
        message: format!(
            "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
        ),
    }
}

fn null(path: &str) -> FirehoseError {
    FirehoseError::Validation {
        message: format!(
            "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ),
    }
}

impl HttpEndpoint {
    /// Validates the HTTP part of an `HttpEndpointDestinationConfiguration`;
    /// `path` is its member name for messages.
    pub fn from_json(json: &Value, path: &str) -> Result<Self> {
        let cfg: HttpJson =
            serde_json::from_value(json.clone()).map_err(|e| FirehoseError::Serialization {
                message: format!("{path}: {e}"),
            })?;
        let ep = cfg
            .endpoint_configuration
            .ok_or_else(|| null(&format!("{path}.endpointConfiguration")))?;
        let url = ep
            .url
            .ok_or_else(|| null(&format!("{path}.endpointConfiguration.url")))?;
        if url.is_empty() || url.len() > 1000 {
            return Err(validation(
                &format!("{path}.endpointConfiguration.url"),
                &url,
                "Member must have length less than or equal to 1000 and greater than or equal to 1",
            ));
        }
        // AWS takes https only; sluice also takes http so that endpoints on
        // loopback can be used without certificates.
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || reqwest::Url::parse(&url).is_err()
        {
            return Err(validation(
                &format!("{path}.endpointConfiguration.url"),
                &url,
                "Member must satisfy regular expression pattern: https://.*",
            ));
        }
        if let Some(n) = &ep.name
            && (n.is_empty() || n.len() > 256)
        {
            return Err(validation(
                &format!("{path}.endpointConfiguration.name"),
                n,
                "Member must have length less than or equal to 256 and greater than or equal to 1",
            ));
        }
        if let Some(k) = &ep.access_key
            && k.len() > 4096
        {
            return Err(validation(
                &format!("{path}.endpointConfiguration.accessKey"),
                "***",
                "Member must have length less than or equal to 4096",
            ));
        }
        let req = cfg.request_configuration.unwrap_or_default();
        let gzip = match req.content_encoding.as_deref() {
            None | Some("NONE") => false,
            Some("GZIP") => true,
            Some(other) => {
                return Err(validation(
                    &format!("{path}.requestConfiguration.contentEncoding"),
                    other,
                    "Member must satisfy enum value set: [NONE, GZIP]",
                ));
            }
        };
        if req.common_attributes.len() > 50 {
            return Err(validation(
                &format!("{path}.requestConfiguration.commonAttributes"),
                req.common_attributes.len(),
                "Member must have length less than or equal to 50",
            ));
        }
        let mut common_attributes = BTreeMap::new();
        for a in req.common_attributes {
            if a.attribute_name.is_empty() || a.attribute_name.len() > 256 {
                return Err(validation(
                    &format!("{path}.requestConfiguration.commonAttributes.member.attributeName"),
                    &a.attribute_name,
                    "Member must have length less than or equal to 256 and greater than or equal to 1",
                ));
            }
            if a.attribute_value.len() > 1024 {
                return Err(validation(
                    &format!("{path}.requestConfiguration.commonAttributes.member.attributeValue"),
                    &a.attribute_value,
                    "Member must have length less than or equal to 1024",
                ));
            }
            common_attributes.insert(a.attribute_name, a.attribute_value);
        }
        let retry = cfg
            .retry_options
            .unwrap_or_default()
            .duration_in_seconds
            .unwrap_or(DEFAULT_RETRY_SECS as i64);
        if !(0..=MAX_RETRY_SECS as i64).contains(&retry) {
            return Err(validation(
                &format!("{path}.retryOptions.durationInSeconds"),
                retry,
                if retry < 0 {
                    "Member must have value greater than or equal to 0"
                } else {
                    "Member must have value less than or equal to 7200"
                },
            ));
        }
        let backup_mode = match cfg.s3_backup_mode.as_deref() {
            None | Some("FailedDataOnly") => HttpBackupMode::FailedDataOnly,
            Some("AllData") => HttpBackupMode::AllData,
            Some(other) => {
                return Err(validation(
                    &format!("{path}.s3BackupMode"),
                    other,
                    "Member must satisfy enum value set: [FailedDataOnly, AllData]",
                ));
            }
        };
        Ok(Self {
            url,
            name: ep.name,
            access_key: ep.access_key,
            gzip,
            common_attributes,
            retry_duration: Duration::from_secs(retry as u64),
            backup_mode,
        })
    }

    /// The request body for `records` (before any gzip).
    pub fn body(request_id: &str, timestamp_ms: i64, records: &[BufferedRecord]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let recs: Vec<Value> = records
            .iter()
            .map(|r| json!({"data": b64.encode(&r.data)}))
            .collect();
        let doc = json!({"requestId": request_id, "timestamp": timestamp_ms, "records": recs});
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// One attempt: POSTs `body` (already encoded) and checks the answer.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        request_id: &str,
        source_arn: &str,
        body: Vec<u8>,
    ) -> std::result::Result<(), (&'static str, String)> {
        let mut req = client
            .post(&self.url)
            .timeout(REQUEST_TIMEOUT)
            .header("X-Amz-Firehose-Protocol-Version", "1.0")
            .header("X-Amz-Firehose-Request-Id", request_id)
            .header("X-Amz-Firehose-Source-Arn", source_arn)
            .header("Content-Type", "application/json");
        if let Some(k) = &self.access_key {
            req = req.header("X-Amz-Firehose-Access-Key", k);
        }
        if !self.common_attributes.is_empty() {
            let attrs = json!({"commonAttributes": self.common_attributes});
            req = req.header("X-Amz-Firehose-Common-Attributes", attrs.to_string());
        }
        if self.gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        let url = &self.url;
        let resp = req.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                (
                    "HttpEndpoint.RequestTimeout",
                    format!("POST {url}: no response within {REQUEST_TIMEOUT:?}"),
                )
            } else {
                ("HttpEndpoint.ConnectionFailed", format!("POST {url}: {e}"))
            }
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            (
                "HttpEndpoint.ConnectionReset",
                format!("POST {url}: reading the response: {e}"),
            )
        })?;
        let doc: Option<Value> = serde_json::from_slice(&bytes).ok();
        let error_message = doc
            .as_ref()
            .and_then(|d| d.get("errorMessage"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if status != reqwest::StatusCode::OK {
            let shown = if error_message.is_empty() {
                String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned()
            } else {
                error_message.to_owned()
            };
            return Err((
                "HttpEndpoint.DestinationException",
                format!("POST {url} answered {status}: {shown}"),
            ));
        }
        let Some(doc) = doc else {
            return Err((
                "HttpEndpoint.InvalidResponseFromDestination",
                format!("POST {url}: the response body is not JSON"),
            ));
        };
        match doc.get("requestId").and_then(Value::as_str) {
            Some(id) if id == request_id => Ok(()),
            Some(id) => Err((
                "HttpEndpoint.InvalidResponseFromDestination",
                format!(
                    "POST {url}: the response's requestId {id:?} is not the request's {request_id:?}"
                ),
            )),
            None => Err((
                "HttpEndpoint.InvalidResponseFromDestination",
                format!("POST {url}: the response has no requestId"),
            )),
        }
    }

    /// Delivers `records` as one request with id `request_id`, retrying
    /// until the retry duration has passed on `clock`. Ok carries the
    /// number of attempts made.
    pub async fn deliver(
        &self,
        request_id: &str,
        source_arn: &str,
        records: &[BufferedRecord],
        clock: &Arc<dyn Clock>,
    ) -> std::result::Result<u32, DeliveryFailure> {
        let client = reqwest::Client::new();
        let start = clock.now();
        let retry =
            chrono::TimeDelta::from_std(self.retry_duration).unwrap_or(chrono::TimeDelta::MAX);
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let mut body = Self::body(request_id, clock.now().timestamp_millis(), records);
            if self.gzip {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                body = enc
                    .write_all(&body)
                    .and_then(|()| enc.finish())
                    .map_err(|e| DeliveryFailure {
                        code: "HttpEndpoint.InternalError",
                        message: format!("gzip of the request body: {e}"),
                        attempts,
                    })?;
            }
            let (code, message) = match self.attempt(&client, request_id, source_arn, body).await {
                Ok(()) => return Ok(attempts),
                Err(e) => e,
            };
            let left = start + retry - clock.now();
            let Ok(left) = left.to_std() else {
                return Err(DeliveryFailure {
                    code,
                    message,
                    attempts,
                });
            };
            if left.is_zero() {
                return Err(DeliveryFailure {
                    code,
                    message,
                    attempts,
                });
            }
            // Full jitter: a uniform wait in [backoff/2, backoff].
            let jitter = rand::random_range(0.5..=1.0);
            let wait = backoff.mul_f64(jitter).min(left);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        let ok = json!({"EndpointConfiguration": {"Url": "https://example.com/x", "Name": "n", "AccessKey": "k"},
            "RequestConfiguration": {"ContentEncoding": "GZIP", "CommonAttributes": [
                {"AttributeName": "env", "AttributeValue": "dev"}]},
            "RetryOptions": {"DurationInSeconds": 60}, "S3BackupMode": "AllData"});
        let ep = HttpEndpoint::from_json(&ok, "p").unwrap();
        assert!(ep.gzip);
        assert_eq!(ep.retry_duration, Duration::from_secs(60));
        assert_eq!(ep.backup_mode, HttpBackupMode::AllData);
        assert_eq!(ep.common_attributes["env"], "dev");
        let err = |k: &str, v: Value| {
            let mut j = ok.clone();
            j[k] = v;
            HttpEndpoint::from_json(&j, "p").unwrap_err().to_string()
        };
        assert!(
            err("EndpointConfiguration", json!({"Url": "ftp://x"}))
                .contains("p.endpointConfiguration.url")
        );
        assert!(err("EndpointConfiguration", json!({})).contains("must not be null"));
        assert!(
            err("RequestConfiguration", json!({"ContentEncoding": "ZIP"})).contains("[NONE, GZIP]")
        );
        assert!(
            err("RetryOptions", json!({"DurationInSeconds": 7201}))
                .contains("less than or equal to 7200")
        );
        assert!(err("S3BackupMode", json!("Enabled")).contains("[FailedDataOnly, AllData]"));
    }

    #[test]
    fn body_contract() {
        let recs = vec![BufferedRecord {
            arrival_ms: 1,
            data: bytes::Bytes::from_static(b"hi"),
        }];
        let b: Value = serde_json::from_slice(&HttpEndpoint::body("rid", 42, &recs)).unwrap();
        assert_eq!(
            b,
            json!({"requestId": "rid", "timestamp": 42, "records": [{"data": "aGk="}]})
        );
    }
}
