//! The Firehose JSON 1.1 HTTP API: [`FirehoseApi::handle`] answers one
//! `POST /` request whose `X-Amz-Target` is `Firehose_20150804.<Operation>`
//! with AWS's response shapes and error `__type`s, over a [`Firehose`].
//!
//! Operations: CreateDeliveryStream, DeleteDeliveryStream,
//! DescribeDeliveryStream, ListDeliveryStreams, PutRecord, PutRecordBatch,
//! UpdateDestination, TagDeliveryStream, UntagDeliveryStream,
//! ListTagsForDeliveryStream.
//!
//! PutRecordBatch fails as AWS's API reference says: a request that breaks
//! the model (no records, over 500, a `Data` over 1,000 KiB — every such
//! record named in one `ValidationException`) or the 4 MB total
//! (`InvalidArgumentException`) fails as a whole and takes no record; a
//! valid request answers 200, and a record that could not be taken gets its
//! own `ErrorCode`/`ErrorMessage` in `RequestResponses`, counted in
//! `FailedPutCount`.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};

use crate::config::{CreateDeliveryStreamInput, Tag};
use crate::error::{FirehoseError, Result};
use crate::firehose::Firehose;

/// The response body type the API answers with.
pub type ApiBody = BoxBody<Bytes, std::io::Error>;

/// `X-Amz-Target` prefix of Firehose operations.
pub const TARGET_PREFIX: &str = "Firehose_20150804.";
/// Most records in one PutRecordBatch.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Most bytes (decoded) in one PutRecordBatch.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Most bytes in one record (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1_024_000;
/// Largest request body read.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The Firehose API over a [`Firehose`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct FirehoseApi {
    firehose: Firehose,
}

fn validation_null(field: &str) -> FirehoseError {
    FirehoseError::Validation {
        message: format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ),
    }
}

fn str_field<'a>(v: &'a Value, key: &str, wire: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| validation_null(wire))
}

/// The base64 `Data` of a record, decoded; not yet checked against
/// [`MAX_RECORD_BYTES`] (see [`oversize`]).
fn decode_data(v: &Value, wire: &str) -> Result<Bytes> {
    let s = v
        .get("Data")
        .and_then(Value::as_str)
        .ok_or_else(|| validation_null(wire))?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| FirehoseError::Serialization {
            message: format!("Could not decode base64 at '{wire}': {e}"),
        })?;
    Ok(Bytes::from(data))
}

/// AWS's text for a `Data` blob over [`MAX_RECORD_BYTES`] at `wire`, as its
/// (Java) front end words it, or None when the blob is within the limit.
fn oversize(data: &[u8], wire: &str) -> Option<String> {
    let n = data.len();
    (n > MAX_RECORD_BYTES).then(|| {
        format!(
            "Value 'java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]' at '{wire}' failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES}"
        )
    })
}

/// A `ValidationException` listing every violation, as AWS does:
/// "N validation error(s) detected: a; b".
fn validation(violations: &[String]) -> FirehoseError {
    let n = violations.len();
    FirehoseError::Validation {
        message: format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            violations.join("; ")
        ),
    }
}

impl FirehoseApi {
    /// The API over `firehose`.
    pub fn new(firehose: Firehose) -> Self {
        Self { firehose }
    }

    /// The streams behind the API.
    pub fn firehose(&self) -> &Firehose {
        &self.firehose
    }

    /// Answers one HTTP request (any body type hyper can give, e.g.
    /// `hyper::body::Incoming`).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ApiBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return respond(
                    413,
                    &json!({"__type": "SerializationException", "message": format!("Could not read the request body: {e}")}),
                );
            }
        };
        let (status, value) = self.handle_json(&target, &body).await;
        respond(status, &value)
    }

    /// Answers one operation given its `X-Amz-Target` and JSON body:
    /// (HTTP status, response JSON).
    pub async fn handle_json(&self, target: &str, body: &[u8]) -> (u16, Value) {
        match self.dispatch(target, body).await {
            Ok(v) => (200, v),
            Err(e) => (
                e.http_status(),
                json!({"__type": e.aws_type(), "message": e.to_string()}),
            ),
        }
    }

    async fn dispatch(&self, target: &str, body: &[u8]) -> Result<Value> {
        let op =
            target
                .strip_prefix(TARGET_PREFIX)
                .ok_or_else(|| FirehoseError::UnknownOperation {
                    target: target.to_owned(),
                })?;
        let input: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| FirehoseError::Serialization {
                message: format!("Start of structure or map found where not expected: {e}"),
            })?
        };
        let fh = &self.firehose;
        match op {
            "CreateDeliveryStream" => {
                let parsed: CreateDeliveryStreamInput =
                    serde_json::from_value(input).map_err(|e| FirehoseError::Serialization {
                        message: e.to_string(),
                    })?;
                let arn = fh.create(parsed)?;
                Ok(json!({"DeliveryStreamARN": arn}))
            }
            "DeleteDeliveryStream" => {
                fh.delete(str_field(
                    &input,
                    "DeliveryStreamName",
                    "deliveryStreamName",
                )?)?;
                Ok(json!({}))
            }
            "DescribeDeliveryStream" => {
                let d = fh.describe(str_field(
                    &input,
                    "DeliveryStreamName",
                    "deliveryStreamName",
                )?)?;
                Ok(json!({"DeliveryStreamDescription": d}))
            }
            "ListDeliveryStreams" => {
                let limit = input.get("Limit").and_then(Value::as_u64).unwrap_or(10);
                if !(1..=10000).contains(&limit) {
                    return Err(FirehoseError::Validation {
                        message: format!(
                            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
                        ),
                    });
                }
                let (names, more) = fh.list(
                    limit as usize,
                    input.get("DeliveryStreamType").and_then(Value::as_str),
                    input
                        .get("ExclusiveStartDeliveryStreamName")
                        .and_then(Value::as_str),
                );
                Ok(json!({"DeliveryStreamNames": names, "HasMoreDeliveryStreams": more}))
            }
            "PutRecord" => {
                let name = str_field(&input, "DeliveryStreamName", "deliveryStreamName")?;
                let record = input
                    .get("Record")
                    .ok_or_else(|| validation_null("record"))?;
                let data = decode_data(record, "record.data")?;
                if let Some(v) = oversize(&data, "record.data") {
                    return Err(validation(&[v]));
                }
                let mut ids = fh.put_record_batch(name, vec![data])?;
                Ok(json!({"RecordId": ids.pop().unwrap_or_default(), "Encrypted": false}))
            }
            "PutRecordBatch" => self.put_record_batch(&input),
            "UpdateDestination" => {
                let name = str_field(&input, "DeliveryStreamName", "deliveryStreamName")?;
                let version = str_field(
                    &input,
                    "CurrentDeliveryStreamVersionId",
                    "currentDeliveryStreamVersionId",
                )?;
                let dest_id = str_field(&input, "DestinationId", "destinationId")?;
                let updates: Vec<&Value> = [
                    "ExtendedS3DestinationUpdate",
                    "S3DestinationUpdate",
                    "HttpEndpointDestinationUpdate",
                ]
                .iter()
                .filter_map(|k| input.get(*k))
                .collect();
                let update = match updates.as_slice() {
                    [u] => (*u).clone(),
                    [] => json!({}),
                    _ => {
                        return Err(FirehoseError::invalid(
                            "DestinationUpdate",
                            "Only one destination update can be specified.",
                        ));
                    }
                };
                if let Some(k) = input.as_object().and_then(|o| {
                    o.keys()
                        .find(|k| {
                            k.ends_with("DestinationUpdate")
                                && !k.contains("S3")
                                && k.as_str() != "HttpEndpointDestinationUpdate"
                        })
                        .cloned()
                }) {
                    return Err(FirehoseError::invalid(
                        &k,
                        format!(
                            "{k} is not supported by sluice; only S3 and HTTP endpoint destinations are."
                        ),
                    ));
                }
                fh.update_destination(name, version, dest_id, &update)?;
                Ok(json!({}))
            }
            "TagDeliveryStream" => {
                let name = str_field(&input, "DeliveryStreamName", "deliveryStreamName")?;
                let tags: Vec<Tag> = serde_json::from_value(
                    input
                        .get("Tags")
                        .cloned()
                        .ok_or_else(|| validation_null("tags"))?,
                )
                .map_err(|e| FirehoseError::Serialization {
                    message: e.to_string(),
                })?;
                fh.tag(name, tags)?;
                Ok(json!({}))
            }
            "UntagDeliveryStream" => {
                let name = str_field(&input, "DeliveryStreamName", "deliveryStreamName")?;
                let keys: Vec<String> = serde_json::from_value(
                    input
                        .get("TagKeys")
                        .cloned()
                        .ok_or_else(|| validation_null("tagKeys"))?,
                )
                .map_err(|e| FirehoseError::Serialization {
                    message: e.to_string(),
                })?;
                fh.untag(name, &keys)?;
                Ok(json!({}))
            }
            "ListTagsForDeliveryStream" => {
                let name = str_field(&input, "DeliveryStreamName", "deliveryStreamName")?;
                let limit = input.get("Limit").and_then(Value::as_u64).unwrap_or(50);
                let (tags, more) = fh.list_tags(
                    name,
                    input.get("ExclusiveStartTagKey").and_then(Value::as_str),
                    limit as usize,
                )?;
                Ok(json!({"Tags": tags, "HasMoreTags": more}))
            }
            other => Err(FirehoseError::UnknownOperation {
                target: other.to_owned(),
            }),
        }
    }

    fn put_record_batch(&self, input: &Value) -> Result<Value> {
        let name = str_field(input, "DeliveryStreamName", "deliveryStreamName")?;
        let records = input
            .get("Records")
            .and_then(Value::as_array)
            .ok_or_else(|| validation_null("records"))?;
        if records.is_empty() || records.len() > MAX_BATCH_RECORDS {
            return Err(FirehoseError::Validation {
                message: format!(
                    "1 validation error detected: Value '{}' at 'records' failed to satisfy constraint: Member must have length {}",
                    records.len(),
                    if records.is_empty() {
                        "greater than or equal to 1".to_owned()
                    } else {
                        format!("less than or equal to {MAX_BATCH_RECORDS}")
                    }
                ),
            });
        }
        // A record over 1,000 KiB fails the whole call (ValidationException
        // naming every such record), not just its own entry: AWS checks the
        // request against its model before taking any record. Per-record
        // ErrorCodes are only for records that were valid but not taken.
        let mut data = Vec::with_capacity(records.len());
        let mut violations = Vec::new();
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            let wire = format!("records.{}.member.data", i + 1);
            let d = decode_data(r, &wire)?;
            violations.extend(oversize(&d, &wire));
            total += d.len();
            data.push(d);
        }
        if !violations.is_empty() {
            return Err(validation(&violations));
        }
        if total > MAX_BATCH_BYTES {
            return Err(FirehoseError::invalid(
                "Records",
                "Records size exceeds 4 MB limit",
            ));
        }
        let n = data.len();
        match self.firehose.put_record_batch(name, data) {
            Ok(ids) => Ok(json!({
                "FailedPutCount": 0,
                "Encrypted": false,
                "RequestResponses": ids.into_iter().map(|id| json!({"RecordId": id})).collect::<Vec<_>>(),
            })),
            // Could not make the records durable: every record failed, each
            // with its own ErrorCode as AWS reports a record it could not
            // take (InternalFailure: the write might or might not have
            // happened), and the producer resends the failed ones.
            Err(e @ (FirehoseError::Buffer { .. } | FirehoseError::CorruptBuffer { .. })) => {
                let msg = e.to_string();
                Ok(json!({
                    "FailedPutCount": n,
                    "Encrypted": false,
                    "RequestResponses": (0..n).map(|_| json!({"ErrorCode": "InternalFailure", "ErrorMessage": msg})).collect::<Vec<_>>(),
                }))
            }
            Err(e) => Err(e),
        }
    }
}

fn respond(status: u16, body: &Value) -> Response<ApiBody> {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let mut resp = Response::new(Full::new(bytes).map_err(|never| match never {}).boxed());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}
