//! The Kinesis Data Streams JSON 1.1 API: [`KdsApi`] turns an HTTP request
//! with `X-Amz-Target: Kinesis_20131202.<Operation>` into a call on [`Kds`]
//! and answers as AWS does, errors included (`__type` and message).
//!
//! Request checking follows AWS's order: the HTTP front ([`crate::front`]:
//! method, content type, body, target, the Authorization header's form),
//! then member types (SerializationException), then constraints
//! (ValidationException, up to 10 listed; `input.rs`), then the operation.
//!
//! The operations live by layer: the control plane here, the data plane in
//! `records.rs`, enhanced fan-out in `consumers.rs`, stream settings and
//! resource tags in `settings.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Map, Value, json};

use crate::cbor;
use crate::error::KdsError;
use crate::eventstream::{self, ChannelBody};
use crate::front;
use crate::ids;
use crate::kds::{
    ConsumerDescription, GetRecordsOutput, IteratorStart, Kds, PutEntry, ShardDescription,
    ShardFilter, ShardIterator, StreamDescription,
};
use crate::sigv4::{SigV4Verifier, SignedRequest};

mod consumers;
mod input;
mod records;
mod settings;

use input::{Input, finish_errors, type_error};

/// Response body type of [`KdsApi::handle`].
pub type ApiBody = BoxBody<Bytes, std::io::Error>;

/// The JSON target prefix of Kinesis Data Streams.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// `None`: no authentication (the default). `Some`: every request must
    /// carry a valid AWS Signature V4 by one of the verifier's keys.
    pub auth: Option<std::sync::Arc<SigV4Verifier>>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            max_body_bytes: 7 << 20,
            auth: None,
        }
    }
}

/// The KDS API over a [`Kds`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct KdsApi {
    kds: Kds,
    options: ApiOptions,
    /// When each (consumer ARN, shard) subscription last started, by the
    /// log's clock: AWS refuses another within five seconds.
    subscriptions:
        std::sync::Arc<parking_lot::Mutex<std::collections::HashMap<(String, u32), i64>>>,
}

/// An error answer: AWS `__type`, message, HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The `__type`.
    pub kind: &'static str,
    /// The message (`None`: AWS sends none).
    pub message: Option<String>,
    /// HTTP status.
    pub status: StatusCode,
}

impl ApiError {
    fn new(kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: Some(message.into()),
            status: StatusCode::BAD_REQUEST,
        }
    }

    fn bare(kind: &'static str) -> ApiError {
        ApiError {
            kind,
            message: None,
            status: StatusCode::BAD_REQUEST,
        }
    }

    fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new("SerializationException", message)
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new("InvalidArgumentException", message)
    }

    fn body(&self) -> Value {
        match &self.message {
            // AWS's request reader (Coral) names the key `Message`; the
            // service's own exceptions name it `message`.
            Some(m) if self.kind == "SerializationException" => {
                json!({"__type": self.kind, "Message": m})
            }
            Some(m) => json!({"__type": self.kind, "message": m}),
            None => json!({"__type": self.kind}),
        }
    }
}

impl From<KdsError> for ApiError {
    fn from(e: KdsError) -> ApiError {
        ApiError {
            kind: e.aws_type(),
            // AWS's InternalFailure for a request it cannot serve says nothing.
            message: (!matches!(e, KdsError::InternalFailure { .. })).then(|| e.to_string()),
            status: if e.is_client_error() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
        }
    }
}

type ApiResult<T = Value> = Result<T, ApiError>;

/// A request body as the object of members every operation reads: AWS's
/// bare SerializationException when it is empty, not JSON (or CBOR), or
/// not an object.
fn parse_request(body: &[u8], is_cbor: bool) -> ApiResult<serde_json::Map<String, Value>> {
    if body.is_empty() {
        return Err(ApiError::bare("SerializationException"));
    }
    let parsed: Value = if is_cbor {
        cbor::decode(body).ok_or_else(|| ApiError::bare("SerializationException"))?
    } else {
        serde_json::from_slice(body).map_err(|_| ApiError::bare("SerializationException"))?
    };
    match parsed {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::bare("SerializationException")),
    }
}

/// An operation's result as the response's status and body, in JSON or
/// CBOR: an empty body for an operation AWS answers with none.
fn encode_answer(result: ApiResult, is_cbor: bool) -> (StatusCode, Vec<u8>) {
    match (result, is_cbor) {
        (Ok(Value::Null), _) => (StatusCode::OK, Vec::new()),
        (Ok(v), true) => (StatusCode::OK, cbor::encode(&v)),
        (Ok(v), false) => (StatusCode::OK, v.to_string().into_bytes()),
        (Err(e), true) => (e.status, cbor::encode(&e.body())),
        (Err(e), false) => (e.status, e.body().to_string().into_bytes()),
    }
}

/// What an operation that AWS answers with an empty body returns.
const NO_CONTENT: Value = Value::Null;

const STREAM_NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";
const STREAM_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";
const HASH_KEY_PATTERN: &str = "0|([1-9]\\d{0,38})";
const SEQUENCE_PATTERN: &str = "0|([1-9]\\d{0,128})";
const CONSUMER_ARN_PATTERN: &str = "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+";

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn is_decimal(s: &str, max_digits: usize) -> bool {
    s == "0"
        || (!s.is_empty()
            && s.len() <= max_digits
            && !s.starts_with('0')
            && s.bytes().all(|b| b.is_ascii_digit()))
}

/// What follows the account in `arn:aws.*:kinesis:.*:\d{12}:...`, if the
/// text has that shape.
fn after_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws")?;
    let k = rest.find(":kinesis:")?;
    let after = &rest[k + ":kinesis:".len()..];
    after.match_indices(':').find_map(|(i, _)| {
        let digits = after.get(i + 1..i + 13)?;
        (digits.bytes().all(|b| b.is_ascii_digit()) && after.get(i + 13..i + 14) == Some(":"))
            .then(|| &after[i + 14..])
    })
}

/// `arn:aws.*:kinesis:.*:\d{12}:.*stream/NAME/consumer/NAME:DIGITS`.
fn is_consumer_arn(s: &str) -> bool {
    let Some((head, secs)) = s.rsplit_once(':') else {
        return false;
    };
    let Some((stream_part, consumer)) = head.rsplit_once("/consumer/") else {
        return false;
    };
    let Some((_, stream)) = stream_part.rsplit_once("stream/") else {
        return false;
    };
    after_account(head).is_some()
        && is_name(stream)
        && is_name(consumer)
        && !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
}

fn is_stream_arn(s: &str) -> bool {
    // arn:aws.*:kinesis:.*:\d{12}:stream/\S+
    let Some(rest) = s.strip_prefix("arn:aws") else {
        return false;
    };
    let Some(kin) = rest.find(":kinesis:") else {
        return false;
    };
    let after = &rest[kin + ":kinesis:".len()..];
    let Some(st) = after.find(":stream/") else {
        return false;
    };
    let before = &after[..st];
    let account_ok = before.len() >= 12 && {
        let acct = &before[before.len() - 12..];
        acct.bytes().all(|b| b.is_ascii_digit())
            && (before.len() == 12 || before.as_bytes()[before.len() - 13] == b':')
    };
    let name = &after[st + ":stream/".len()..];
    account_ok && !name.is_empty() && !name.chars().any(char::is_whitespace)
}

/// Epoch seconds with millisecond precision, never in scientific notation.
fn epoch_seconds(ms: i64) -> Value {
    let secs = ms as f64 / 1000.0;
    serde_json::Number::from_f64(secs).map_or(Value::Null, Value::Number)
}

fn shard_json(s: &ShardDescription) -> Value {
    let mut seq = Map::new();
    seq.insert(
        "StartingSequenceNumber".into(),
        Value::String(s.starting_sequence_number.clone()),
    );
    if let Some(e) = &s.ending_sequence_number {
        seq.insert("EndingSequenceNumber".into(), Value::String(e.clone()));
    }
    let mut m = Map::new();
    m.insert("ShardId".into(), Value::String(s.shard_id.clone()));
    if let Some(p) = &s.parent_shard_id {
        m.insert("ParentShardId".into(), Value::String(p.clone()));
    }
    if let Some(p) = &s.adjacent_parent_shard_id {
        m.insert("AdjacentParentShardId".into(), Value::String(p.clone()));
    }
    m.insert(
        "HashKeyRange".into(),
        json!({
            "StartingHashKey": s.starting_hash_key.to_string(),
            "EndingHashKey": s.ending_hash_key.to_string(),
        }),
    );
    m.insert("SequenceNumberRange".into(), Value::Object(seq));
    Value::Object(m)
}

fn encryption_fields(d: &StreamDescription, m: &mut Map<String, Value>) {
    match &d.encryption_key {
        Some(k) => {
            m.insert("EncryptionType".into(), json!("KMS"));
            m.insert("KeyId".into(), json!(k));
        }
        None => {
            m.insert("EncryptionType".into(), json!("NONE"));
        }
    }
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(1);

impl KdsApi {
    /// The API over `kds`.
    pub fn new(kds: Kds, options: ApiOptions) -> KdsApi {
        KdsApi {
            kds,
            options,
            subscriptions: Default::default(),
        }
    }

    /// The log behind the API.
    pub fn kds(&self) -> &Kds {
        &self.kds
    }

    /// Answers one HTTP request (hyper 1.x).
    pub async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<ApiBody> {
        self.handle_any(req).await
    }

    /// Like [`Self::handle`], for any request body type.
    pub async fn handle_any<B>(&self, req: Request<B>) -> Response<ApiBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let origin = parts.headers.contains_key(http::header::ORIGIN);
        if parts.method == http::Method::OPTIONS && origin {
            let mut resp = self.response(StatusCode::OK, None, Vec::new());
            for (name, value) in front::preflight_headers(&parts.headers) {
                resp.headers_mut().insert(name, value);
            }
            return resp;
        }
        let mut resp = self.answer(parts, body).await;
        let n = REQUEST_COUNTER.load(Ordering::Relaxed);
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&front::amz_id_2(n, self.kds.clock().now_ms())) {
            h.insert("x-amz-id-2", v);
        }
        if origin {
            h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
            h.insert(
                "access-control-expose-headers",
                HeaderValue::from_static(front::CORS_EXPOSE_HEADERS),
            );
        }
        resp
    }

    async fn answer<B>(&self, parts: http::request::Parts, body: B) -> Response<ApiBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let body = match Limited::new(body, self.options.max_body_bytes)
            .collect()
            .await
        {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let too_big = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let err = if too_big {
                    ApiError {
                        kind: "SerializationException",
                        message: Some("Request body too large".into()),
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                    }
                } else {
                    ApiError::serialization("Could not read the request body")
                };
                return self.json_response(err.status, err.body().to_string().into_bytes());
            }
        };
        let (operation, protocol) = match front::check(
            &parts.method,
            &parts.headers,
            parts.uri.query(),
            &body,
            OPERATIONS,
        ) {
            front::Verdict::Answer(a) => return self.response(a.status, a.content_type, a.body),
            front::Verdict::Run {
                operation,
                protocol,
            } => (operation.to_owned(), protocol),
        };
        let is_cbor = protocol == front::Protocol::Cbor;
        let content_type = if is_cbor {
            cbor::CONTENT_TYPE
        } else {
            front::JSON_CONTENT_TYPE
        };
        if let Some(auth) = &self.options.auth {
            let mut headers: Vec<(String, String)> = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            if let Some(a) = parts.uri.authority() {
                // HTTP/2 carries the host as the :authority pseudo-header,
                // which clients sign either as `host` (botocore, the Java
                // SDK) or under its own name (the JS SDK v3 over HTTP/2).
                if !headers.iter().any(|(k, _)| k == "host") {
                    headers.push(("host".into(), a.as_str().to_owned()));
                }
                headers.push((":authority".into(), a.as_str().to_owned()));
            }
            let signed = SignedRequest {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers,
                body: &body,
            };
            if let Err(e) = auth.verify(&signed, self.kds.clock().now_ms()) {
                let a = front::FrontAnswer::error(protocol, e.kind, Some(&e.message));
                return self.response(a.status, a.content_type, a.body);
            }
        }
        if operation == "SubscribeToShard" {
            return self.subscribe(body, is_cbor).await;
        }
        // Producers' hot path: a plain JSON PutRecords (typed parse), then
        // any PutRecord or PutRecords, wait for their group commits as
        // tasks, not on blocking threads.
        if operation == "PutRecords"
            && !is_cbor
            && let Some((status, bytes)) = self.put_records_fast_async(&body).await
        {
            return self.response(status, Some(content_type), bytes);
        }
        if let Some(result) = self.put_async(&operation, &body, is_cbor).await {
            let (status, bytes) = encode_answer(result, is_cbor);
            return self.response(status, Some(content_type), bytes);
        }
        let target = format!("{TARGET_PREFIX}{operation}");
        let api = self.clone();
        let answer = tokio::task::spawn_blocking(move || {
            if is_cbor {
                api.handle_cbor(Some(&target), &body)
            } else {
                api.handle_json(Some(&target), &body)
            }
        })
        .await;
        match answer {
            Ok((status, bytes)) => self.response(status, Some(content_type), bytes),
            Err(_) => {
                let err = ApiError {
                    kind: "InternalFailure",
                    message: Some("The request processing has failed because of an unknown error, exception or failure.".into()),
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                };
                self.json_response(err.status, err.body().to_string().into_bytes())
            }
        }
    }

    fn json_response(&self, status: StatusCode, body: Vec<u8>) -> Response<ApiBody> {
        self.response(status, Some(front::JSON_CONTENT_TYPE), body)
    }

    fn response(
        &self,
        status: StatusCode,
        content_type: Option<&'static str>,
        body: Vec<u8>,
    ) -> Response<ApiBody> {
        let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = self.kds.clock().now_ms() as u64;
        let id = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (t >> 16) as u32,
            t as u16,
            0x4000 | ((n >> 48) as u16 & 0x0fff),
            0x8000 | ((n >> 32) as u16 & 0x3fff),
            n & 0xffff_ffff_ffff
        );
        let body: ApiBody = Full::new(Bytes::from(body))
            .map_err(|never: std::convert::Infallible| -> std::io::Error { match never {} })
            .boxed();
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        if let Some(t) = content_type {
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(t));
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("x-amzn-requestid", v);
        }
        resp
    }

    /// Answers a request given its `X-Amz-Target` and body: (status, JSON body).
    /// Blocking: does disk I/O.
    pub fn handle_json(&self, target: Option<&str>, body: &[u8]) -> (StatusCode, Vec<u8>) {
        if target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) == Some("PutRecords")
            && let Some(answer) = self.put_records_fast(body)
        {
            return answer;
        }
        encode_answer(self.dispatch(target, body, false), false)
    }

    /// Like [`Self::handle_json`] for an AWS CBOR 1.1 body; answers in CBOR.
    pub fn handle_cbor(&self, target: Option<&str>, body: &[u8]) -> (StatusCode, Vec<u8>) {
        encode_answer(self.dispatch(target, body, true), true)
    }

    fn dispatch(&self, target: Option<&str>, body: &[u8], is_cbor: bool) -> ApiResult {
        let operation = target
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .filter(|op| OPERATIONS.contains(op))
            .ok_or_else(|| ApiError::bare("UnknownOperationException"))?;
        let obj = parse_request(body, is_cbor)?;
        let mut input = Input::new(&obj);
        match operation {
            "CreateStream" => self.create_stream(&mut input),
            "DeleteStream" => self.delete_stream(&mut input),
            "DescribeStream" => self.describe_stream(&mut input),
            "DescribeStreamSummary" => self.describe_stream_summary(&mut input),
            "ListStreams" => self.list_streams(&mut input),
            "ListShards" => self.list_shards(&mut input),
            "PutRecord" => self.put_record(&mut input),
            "PutRecords" => self.put_records(&mut input),
            "GetShardIterator" => self.get_shard_iterator(&mut input),
            "GetRecords" => self.get_records(&mut input),
            "IncreaseStreamRetentionPeriod" => self.retention(&mut input, true),
            "DecreaseStreamRetentionPeriod" => self.retention(&mut input, false),
            "AddTagsToStream" => self.add_tags(&mut input),
            "RemoveTagsFromStream" => self.remove_tags(&mut input),
            "ListTagsForStream" => self.list_tags(&mut input),
            "SplitShard" => self.split_shard(&mut input),
            "MergeShards" => self.merge_shards(&mut input),
            "UpdateShardCount" => self.update_shard_count(&mut input),
            "DescribeLimits" => self.describe_limits(&mut input),
            "StartStreamEncryption" => self.encryption(&mut input, true),
            "StopStreamEncryption" => self.encryption(&mut input, false),
            "RegisterStreamConsumer" => self.register_consumer(&mut input),
            "DeregisterStreamConsumer" => self.deregister_consumer(&mut input),
            "DescribeStreamConsumer" => self.describe_consumer(&mut input),
            "ListStreamConsumers" => self.list_consumers(&mut input),
            "EnableEnhancedMonitoring" => self.enhanced_monitoring(&mut input, true),
            "DisableEnhancedMonitoring" => self.enhanced_monitoring(&mut input, false),
            "UpdateStreamMode" => self.update_stream_mode(&mut input),
            "TagResource" => self.tag_resource(&mut input),
            "UntagResource" => self.untag_resource(&mut input),
            "ListTagsForResource" => self.list_tags_for_resource(&mut input),
            "SubscribeToShard" => Err(ApiError::invalid(
                "SubscribeToShard is answered as an event stream over HTTP only.",
            )),
            _ => Err(ApiError::bare("UnknownOperationException")),
        }
    }

    /// Reads StreamName / StreamARN (one is required) and checks their constraints.
    fn stream_ref(&self, input: &mut Input<'_>) -> ApiResult<Option<String>> {
        let name = input.string("StreamName")?;
        let arn = input.string("StreamARN")?;
        input.length("StreamName", name, 1, 128);
        input.pattern("StreamName", name, is_name, STREAM_NAME_PATTERN);
        input.length("StreamARN", arn, 1, 2048);
        input.pattern("StreamARN", arn, is_stream_arn, STREAM_ARN_PATTERN);
        if name.is_none() && arn.is_none() {
            input.required("StreamName", None);
        }
        Ok(match (name, arn) {
            (Some(n), _) => Some(n.to_owned()),
            (None, Some(a)) => Some(
                self.kds
                    .name_from_arn(a)
                    .map_or_else(|| a.to_owned(), str::to_owned),
            ),
            (None, None) => None,
        })
    }

    fn need_stream(&self, input: &mut Input<'_>) -> ApiResult<String> {
        let s = self.stream_ref(input)?;
        input.finish()?;
        s.ok_or_else(|| ApiError::invalid("StreamName or StreamARN is required."))
    }

    fn create_stream(&self, input: &mut Input<'_>) -> ApiResult {
        let name = input.string("StreamName")?;
        let count = input.int("ShardCount")?;
        let mode = match input.structure("StreamModeDetails")? {
            Some(m) => {
                let mut sub = Input::nested(m, "streamModeDetails.".into());
                let mode = sub.string("StreamMode")?;
                sub.required("StreamMode", mode);
                sub.enumeration("StreamMode", mode, &["PROVISIONED", "ON_DEMAND"]);
                input.errors.extend(sub.take_errors());
                mode
            }
            None => None,
        };
        let tags = self.tag_map(input)?;
        input.required("StreamName", name);
        input.length("StreamName", name, 1, 128);
        input.pattern("StreamName", name, is_name, STREAM_NAME_PATTERN);
        input.range("ShardCount", count, 1, 100_000);
        input.finish()?;
        let name = name.unwrap_or_default();
        let shards = match (mode, count) {
            (Some("ON_DEMAND"), Some(_)) => {
                return Err(ApiError::new(
                    "ValidationException",
                    "ShardCount should not be specified for ON_DEMAND streams.",
                ));
            }
            (Some("ON_DEMAND"), None) | (None, None) => None,
            (Some(_), None) => {
                return Err(ApiError::new(
                    "ValidationException",
                    "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not be null",
                ));
            }
            (_, Some(n)) => Some(n as u32),
        };
        self.kds.create_stream(name, shards)?;
        if let Some(tags) = tags
            && !tags.is_empty()
        {
            self.kds.add_tags(name, tags)?;
        }
        Ok(NO_CONTENT)
    }

    fn tag_map(&self, input: &mut Input<'_>) -> ApiResult<Option<BTreeMap<String, String>>> {
        let Some(m) = input.map("Tags")? else {
            return Ok(None);
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => return Err(type_error("String", other)),
            };
            out.insert(k.clone(), v);
        }
        let shown = || {
            let pairs: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Some(format!("{{{}}}", pairs.join(", ")))
        };
        if out.len() > 200 {
            input.fail(
                "Tags",
                shown(),
                "Member must have length less than or equal to 200",
            );
        }
        if out.keys().any(|k| k.is_empty() || k.chars().count() > 128) {
            input.fail("Tags", shown(), "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        }
        if out.values().any(|v| v.chars().count() > 256) {
            input.fail("Tags", shown(), "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]");
        }
        Ok(Some(out))
    }

    fn delete_stream(&self, input: &mut Input<'_>) -> ApiResult {
        input.boolean("EnforceConsumerDeletion")?;
        let name = self.need_stream(input)?;
        self.kds.delete_stream(&name)?;
        Ok(NO_CONTENT)
    }

    fn describe_stream(&self, input: &mut Input<'_>) -> ApiResult {
        let limit = input.int("Limit")?;
        let start = input.string("ExclusiveStartShardId")?;
        input.range("Limit", limit, 1, 10_000);
        input.length("ExclusiveStartShardId", start, 1, 128);
        input.pattern("ExclusiveStartShardId", start, is_name, STREAM_NAME_PATTERN);
        let name = self.need_stream(input)?;
        let d = self.kds.describe_stream(&name)?;
        let after = start.and_then(ids::parse_shard_id);
        let limit = limit.unwrap_or(100) as usize;
        let shards: Vec<&ShardDescription> = d
            .shards
            .iter()
            .filter(|s| after.is_none_or(|a| s.index > a))
            .collect();
        let has_more = shards.len() > limit;
        let shards: Vec<Value> = shards.into_iter().take(limit).map(shard_json).collect();
        let mut m = Map::new();
        m.insert("StreamName".into(), json!(d.name));
        m.insert("StreamARN".into(), json!(d.arn));
        m.insert("StreamStatus".into(), json!(d.status));
        m.insert("StreamModeDetails".into(), json!({"StreamMode": d.mode}));
        m.insert("Shards".into(), Value::Array(shards));
        m.insert("HasMoreShards".into(), json!(has_more));
        m.insert("RetentionPeriodHours".into(), json!(d.retention_hours));
        m.insert(
            "StreamCreationTimestamp".into(),
            epoch_seconds(d.created_ms),
        );
        m.insert(
            "EnhancedMonitoring".into(),
            json!([{"ShardLevelMetrics": d.shard_level_metrics}]),
        );
        encryption_fields(&d, &mut m);
        Ok(json!({ "StreamDescription": m }))
    }

    fn describe_stream_summary(&self, input: &mut Input<'_>) -> ApiResult {
        let name = self.need_stream(input)?;
        let d = self.kds.describe_stream(&name)?;
        let mut m = Map::new();
        m.insert("StreamName".into(), json!(d.name));
        m.insert("StreamARN".into(), json!(d.arn));
        m.insert("StreamStatus".into(), json!(d.status));
        m.insert("StreamModeDetails".into(), json!({"StreamMode": d.mode}));
        m.insert("RetentionPeriodHours".into(), json!(d.retention_hours));
        m.insert(
            "StreamCreationTimestamp".into(),
            epoch_seconds(d.created_ms),
        );
        m.insert(
            "EnhancedMonitoring".into(),
            json!([{"ShardLevelMetrics": d.shard_level_metrics}]),
        );
        encryption_fields(&d, &mut m);
        m.insert("OpenShardCount".into(), json!(d.open_shard_count));
        m.insert(
            "ConsumerCount".into(),
            json!(self.kds.list_consumers(&name).map_or(0, |c| c.len())),
        );
        Ok(json!({ "StreamDescriptionSummary": m }))
    }

    fn list_streams(&self, input: &mut Input<'_>) -> ApiResult {
        let limit = input.int("Limit")?;
        let start = input.string("ExclusiveStartStreamName")?;
        let token = input.string("NextToken")?;
        input.range("Limit", limit, 1, 10_000);
        input.length("ExclusiveStartStreamName", start, 1, 128);
        input.pattern(
            "ExclusiveStartStreamName",
            start,
            is_name,
            STREAM_NAME_PATTERN,
        );
        input.length("NextToken", token, 1, 1048576);
        input.finish()?;
        let after = match token {
            Some(t) => Some(decode_token(t, "streams", self.kds.clock().now_ms())?),
            None => start.map(str::to_owned),
        };
        let limit = limit.unwrap_or(100) as usize;
        let names: Vec<String> = self
            .kds
            .list_streams()
            .into_iter()
            .filter(|n| after.as_deref().is_none_or(|a| n.as_str() > a))
            .collect();
        let has_more = names.len() > limit;
        let page: Vec<String> = names.into_iter().take(limit).collect();
        let mut summaries = Vec::new();
        for n in &page {
            if let Ok(d) = self.kds.describe_stream(n) {
                summaries.push(json!({
                    "StreamName": d.name,
                    "StreamARN": d.arn,
                    "StreamStatus": d.status,
                    "StreamModeDetails": {"StreamMode": d.mode},
                    "StreamCreationTimestamp": epoch_seconds(d.created_ms),
                }));
            }
        }
        let mut out = json!({
            "StreamNames": page,
            "HasMoreStreams": has_more,
            "StreamSummaries": summaries,
        });
        if has_more && let Some(last) = page.last() {
            out["NextToken"] = json!(encode_token("streams", self.kds.clock().now_ms(), last));
        }
        Ok(out)
    }

    fn list_shards(&self, input: &mut Input<'_>) -> ApiResult {
        let token = input.string("NextToken")?;
        let start = input.string("ExclusiveStartShardId")?;
        let max = input.int("MaxResults")?;
        let created = input.timestamp("StreamCreationTimestamp")?;
        let filter = match input.structure("ShardFilter")? {
            Some(m) => {
                let mut sub = Input::nested(m, "shardFilter.".into());
                let kind = sub.string("Type")?;
                let shard_id = sub.string("ShardId")?;
                let ts = sub.timestamp("Timestamp")?;
                sub.required("Type", kind);
                sub.enumeration(
                    "Type",
                    kind,
                    &[
                        "AFTER_SHARD_ID",
                        "AT_TRIM_HORIZON",
                        "FROM_TRIM_HORIZON",
                        "AT_LATEST",
                        "AT_TIMESTAMP",
                        "FROM_TIMESTAMP",
                    ],
                );
                input.errors.extend(sub.take_errors());
                Some((kind.map(str::to_owned), shard_id.map(str::to_owned), ts))
            }
            None => None,
        };
        let name = input.string("StreamName")?;
        let arn = input.string("StreamARN")?;
        input.length("StreamName", name, 1, 128);
        input.pattern("StreamName", name, is_name, STREAM_NAME_PATTERN);
        input.length("StreamARN", arn, 1, 2048);
        input.pattern("StreamARN", arn, is_stream_arn, STREAM_ARN_PATTERN);
        input.length("NextToken", token, 1, 1048576);
        input.length("ExclusiveStartShardId", start, 1, 128);
        input.pattern("ExclusiveStartShardId", start, is_name, STREAM_NAME_PATTERN);
        input.range("MaxResults", max, 1, 10_000);
        input.finish()?;
        let stream = name.map(str::to_owned).or_else(|| {
            arn.map(|a| {
                self.kds
                    .name_from_arn(a)
                    .map_or_else(|| a.to_owned(), str::to_owned)
            })
        });
        let (stream, after) = match (stream, token) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "NextToken and StreamName cannot be provided together.",
                ));
            }
            // The token names the stream and the place; AWS takes neither
            // beside it.
            (None, Some(_)) if start.is_some() => {
                return Err(ApiError::invalid(
                    "NextToken and ExclusiveStartShardId cannot be provided together.",
                ));
            }
            (None, Some(_)) if created.is_some() => {
                return Err(ApiError::invalid(
                    "NextToken and StreamCreationTimestamp cannot be provided together.",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "Either NextToken or StreamName should be provided.",
                ));
            }
            (Some(s), None) => (s, start.map(str::to_owned)),
            (None, Some(t)) => {
                let inner = decode_token(t, "shards", self.kds.clock().now_ms())?;
                let (s, last) = inner.split_once('\n').ok_or_else(|| {
                    ApiError::invalid("Invalid ShardId in ExclusiveStartShardId.")
                })?;
                (s.to_owned(), Some(last.to_owned()))
            }
        };
        let mut f = ShardFilter {
            exclusive_start_shard_id: after,
            ..ShardFilter::default()
        };
        if let Some((kind, shard_id, ts)) = filter {
            if kind.as_deref() == Some("AFTER_SHARD_ID") && shard_id.is_none() {
                return Err(ApiError::invalid(
                    "Must specify ShardId for shard filter type AFTER_SHARD_ID.",
                ));
            }
            if let Some(k @ ("AT_TIMESTAMP" | "FROM_TIMESTAMP")) = kind.as_deref()
                && ts.is_none()
            {
                return Err(ApiError::invalid(format!(
                    "Must specify Timestamp for shard filter type {k}."
                )));
            }
            f.filter_type = kind;
            f.shard_id = shard_id;
            f.timestamp_ms = ts;
        }
        let shards = self.kds.list_shards(&stream, &f)?;
        let limit = max.unwrap_or(1000) as usize;
        let has_more = shards.len() > limit;
        let page: Vec<&ShardDescription> = shards.iter().take(limit).collect();
        let mut out = json!({ "Shards": page.iter().map(|s| shard_json(s)).collect::<Vec<_>>() });
        if has_more && let Some(last) = page.last() {
            out["NextToken"] = json!(encode_token(
                "shards",
                self.kds.clock().now_ms(),
                &format!("{stream}\n{}", last.shard_id)
            ));
        }
        Ok(out)
    }
    fn retention(&self, input: &mut Input<'_>, increase: bool) -> ApiResult {
        let hours = input.int("RetentionPeriodHours")?;
        if hours.is_none() {
            input.fail("RetentionPeriodHours", None, "Member must not be null");
        }
        // The model sets a floor of 1 only; the 24..=8760 hours are the
        // service's own check (InvalidArgumentException).
        input.range("RetentionPeriodHours", hours, 1, i64::from(i32::MAX));
        let name = self.need_stream(input)?;
        let hours = hours.unwrap_or_default() as u32;
        if increase {
            self.kds.increase_retention(&name, hours)?;
        } else {
            self.kds.decrease_retention(&name, hours)?;
        }
        Ok(NO_CONTENT)
    }

    /// The required Tags member (AddTagsToStream, TagResource).
    fn tags_member(&self, input: &mut Input<'_>) -> ApiResult<BTreeMap<String, String>> {
        let tags = self.tag_map(input)?;
        match &tags {
            None => input.fail("Tags", None, "Member must not be null"),
            Some(t) if t.is_empty() => input.fail(
                "Tags",
                Some("{}".into()),
                "Member must have length greater than or equal to 1",
            ),
            _ => {}
        }
        Ok(tags.unwrap_or_default())
    }

    /// The required TagKeys member (RemoveTagsFromStream, UntagResource).
    fn tag_keys_member(&self, input: &mut Input<'_>) -> ApiResult<Vec<String>> {
        let keys = input.list("TagKeys")?;
        let mut out = Vec::new();
        for k in keys.into_iter().flatten() {
            match k {
                Value::String(s) => out.push(s.clone()),
                other => return Err(type_error("String", other)),
            }
        }
        match keys {
            None => input.fail("TagKeys", None, "Member must not be null"),
            Some(k) if k.is_empty() => input.fail(
                "TagKeys",
                Some("[]".into()),
                "Member must have length greater than or equal to 1",
            ),
            Some(k) if k.len() > 50 => input.fail(
                "TagKeys",
                Some(format!("[{}]", out.join(", "))),
                "Member must have length less than or equal to 50",
            ),
            _ => {}
        }
        if out.iter().any(|k| k.is_empty() || k.chars().count() > 128) {
            input.fail(
                "TagKeys",
                Some(format!("[{}]", out.join(", "))),
                "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]",
            );
        }
        Ok(out)
    }

    fn add_tags(&self, input: &mut Input<'_>) -> ApiResult {
        let tags = self.tags_member(input)?;
        let name = self.need_stream(input)?;
        self.kds.add_tags(&name, tags)?;
        Ok(NO_CONTENT)
    }

    fn remove_tags(&self, input: &mut Input<'_>) -> ApiResult {
        let keys = self.tag_keys_member(input)?;
        let name = self.need_stream(input)?;
        self.kds.remove_tags(&name, &keys)?;
        Ok(NO_CONTENT)
    }

    fn list_tags(&self, input: &mut Input<'_>) -> ApiResult {
        let start = input.string("ExclusiveStartTagKey")?;
        let limit = input.int("Limit")?;
        input.length("ExclusiveStartTagKey", start, 1, 128);
        input.range("Limit", limit, 1, 50);
        let name = self.need_stream(input)?;
        let d = self.kds.describe_stream(&name)?;
        let limit = limit.unwrap_or(50) as usize;
        let tags: Vec<(&String, &String)> = d
            .tags
            .iter()
            .filter(|(k, _)| start.is_none_or(|s| k.as_str() > s))
            .collect();
        let has_more = tags.len() > limit;
        let tags: Vec<Value> = tags
            .into_iter()
            .take(limit)
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags, "HasMoreTags": has_more}))
    }

    fn split_shard(&self, input: &mut Input<'_>) -> ApiResult {
        let shard = input.string("ShardToSplit")?;
        let key = input.string("NewStartingHashKey")?;
        input.required("ShardToSplit", shard);
        input.length("ShardToSplit", shard, 1, 128);
        input.pattern("ShardToSplit", shard, is_name, STREAM_NAME_PATTERN);
        input.required("NewStartingHashKey", key);
        input.pattern(
            "NewStartingHashKey",
            key,
            |s| is_decimal(s, 39),
            HASH_KEY_PATTERN,
        );
        let name = self.need_stream(input)?;
        self.kds
            .split_shard_at(&name, shard.unwrap_or_default(), key.unwrap_or_default())?;
        Ok(NO_CONTENT)
    }

    fn merge_shards(&self, input: &mut Input<'_>) -> ApiResult {
        let a = input.string("ShardToMerge")?;
        let b = input.string("AdjacentShardToMerge")?;
        for (k, v) in [("ShardToMerge", a), ("AdjacentShardToMerge", b)] {
            input.required(k, v);
            input.length(k, v, 1, 128);
            input.pattern(k, v, is_name, STREAM_NAME_PATTERN);
        }
        let name = self.need_stream(input)?;
        self.kds
            .merge_shards(&name, a.unwrap_or_default(), b.unwrap_or_default())?;
        Ok(NO_CONTENT)
    }

    fn update_shard_count(&self, input: &mut Input<'_>) -> ApiResult {
        let target = input.int("TargetShardCount")?;
        let scaling = input.string("ScalingType")?;
        if target.is_none() {
            input.fail("TargetShardCount", None, "Member must not be null");
        }
        input.range("TargetShardCount", target, 1, 100_000);
        input.required("ScalingType", scaling);
        input.enumeration("ScalingType", scaling, &["UNIFORM_SCALING"]);
        let name = self.need_stream(input)?;
        let target = target.unwrap_or(1) as u32;
        let current = self.kds.update_shard_count(&name, target)?;
        Ok(json!({
            "StreamName": name,
            "CurrentShardCount": current,
            "TargetShardCount": target,
            "StreamARN": self.kds.stream_arn(&name),
        }))
    }

    fn describe_limits(&self, input: &mut Input<'_>) -> ApiResult {
        input.finish()?;
        let (open, limit, on_demand) = self.kds.shard_usage();
        Ok(json!({
            "ShardLimit": limit,
            "OpenShardCount": open,
            "OnDemandStreamCount": on_demand,
            "OnDemandStreamCountLimit": 50,
        }))
    }

    fn encryption(&self, input: &mut Input<'_>, start: bool) -> ApiResult {
        let kind = input.string("EncryptionType")?;
        let key = input.string("KeyId")?;
        input.required("EncryptionType", kind);
        input.enumeration("EncryptionType", kind, &["NONE", "KMS"]);
        input.required("KeyId", key);
        input.length("KeyId", key, 1, 2048);
        let name = self.need_stream(input)?;
        self.kds
            .set_encryption(&name, start.then(|| key.unwrap_or_default().to_owned()))?;
        Ok(NO_CONTENT)
    }
}

/// How long a NextToken may be used, as AWS documents (300 seconds).
const TOKEN_TTL_MS: i64 = 300_000;

/// A NextToken: the listing it continues, when it was issued, and where.
fn encode_token(kind: &str, issued_ms: i64, value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}\n{issued_ms}\n{value}"))
}

/// Reads a token of `kind`; ExpiredNextTokenException once it is older than
/// [`TOKEN_TTL_MS`].
fn decode_token(token: &str, kind: &str, now_ms: i64) -> ApiResult<String> {
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let parts = text.as_deref().and_then(|t| {
        let rest = t.strip_prefix(&format!("{kind}\n"))?;
        let (issued, value) = rest.split_once('\n')?;
        Some((issued.parse::<i64>().ok()?, value.to_owned()))
    });
    let (issued, value) =
        parts.ok_or_else(|| ApiError::invalid(format!("Invalid NextToken: {token}")))?;
    if now_ms - issued > TOKEN_TTL_MS {
        return Err(ApiError::new(
            "ExpiredNextTokenException",
            format!(
                "The NextToken has expired: it was issued more than {} seconds ago.",
                TOKEN_TTL_MS / 1000
            ),
        ));
    }
    Ok(value)
}

/// Operations this API answers.
pub const OPERATIONS: &[&str] = &[
    "AddTagsToStream",
    "CreateStream",
    "DecreaseStreamRetentionPeriod",
    "DeleteStream",
    "DeregisterStreamConsumer",
    "DescribeStreamConsumer",
    "DescribeLimits",
    "DescribeStream",
    "DescribeStreamSummary",
    "DisableEnhancedMonitoring",
    "EnableEnhancedMonitoring",
    "GetRecords",
    "GetShardIterator",
    "IncreaseStreamRetentionPeriod",
    "ListShards",
    "ListStreamConsumers",
    "ListStreams",
    "ListTagsForResource",
    "ListTagsForStream",
    "MergeShards",
    "PutRecord",
    "PutRecords",
    "RegisterStreamConsumer",
    "RemoveTagsFromStream",
    "SplitShard",
    "StartStreamEncryption",
    "StopStreamEncryption",
    "SubscribeToShard",
    "TagResource",
    "UntagResource",
    "UpdateShardCount",
    "UpdateStreamMode",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn api_with_stream(dir: &std::path::Path) -> KdsApi {
        let kds = Kds::open(
            dir,
            crate::KdsOptions::default(),
            std::sync::Arc::new(crate::ManualClock::new(1_700_000_000_000)),
        )
        .unwrap();
        kds.create_stream("s", Some(3)).unwrap();
        KdsApi::new(kds, ApiOptions::default())
    }

    #[test]
    fn put_records_fast_path_answers_as_the_general_path() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (fast, general) = (api_with_stream(a.path()), api_with_stream(b.path()));
        let records: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"Data":"cmVjb3Jk","PartitionKey":"k\u00e9-{i}"}}"#))
            .collect();
        let body = format!(r#"{{"StreamName":"s","Records":[{}]}}"#, records.join(","));
        let (status, answer) = fast.put_records_fast(body.as_bytes()).unwrap();
        assert_eq!(status, StatusCode::OK);
        let expected =
            general.dispatch(Some("Kinesis_20131202.PutRecords"), body.as_bytes(), false);
        // The same answer; key order may differ (serde_json's preserve_order
        // feature is on in workspace builds), which JSON clients ignore.
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer, expected.unwrap());
        // A missing stream: the same error.
        let body = r#"{"StreamName":"nope","Records":[{"Data":"eA==","PartitionKey":"p"}]}"#;
        let (status, answer) = fast.put_records_fast(body.as_bytes()).unwrap();
        let expected = general
            .dispatch(Some("Kinesis_20131202.PutRecords"), body.as_bytes(), false)
            .unwrap_err();
        assert_eq!(status, expected.status);
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        let expected: serde_json::Value =
            serde_json::from_str(&expected.body().to_string()).unwrap();
        assert_eq!(answer, expected);
    }

    #[test]
    fn put_records_async_fast_path_answers_as_the_general_path() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (fast, general) = (api_with_stream(a.path()), api_with_stream(b.path()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let records: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"Data":"cmVjb3Jk","PartitionKey":"k-{i}"}}"#))
            .collect();
        let body = format!(r#"{{"StreamName":"s","Records":[{}]}}"#, records.join(","));
        let (status, answer) = runtime
            .block_on(fast.put_records_fast_async(body.as_bytes()))
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        let expected =
            general.dispatch(Some("Kinesis_20131202.PutRecords"), body.as_bytes(), false);
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer, expected.unwrap());
        // What the fast path leaves to the general one, it leaves async too.
        let odd = r#"{"StreamName":"s","Records":[{"Data":"eA==","PartitionKey":""}]}"#;
        assert!(
            runtime
                .block_on(fast.put_records_fast_async(odd.as_bytes()))
                .is_none()
        );
    }

    #[test]
    fn async_puts_answer_as_the_blocking_dispatch() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (tasks, blocking) = (api_with_stream(a.path()), api_with_stream(b.path()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let cases = [
            (
                "PutRecord",
                r#"{"StreamName":"s","Data":"eA==","PartitionKey":"p"}"#,
            ),
            (
                "PutRecord",
                r#"{"StreamName":"s","Data":"eA==","PartitionKey":"p","ExplicitHashKey":"7"}"#,
            ),
            (
                "PutRecord",
                r#"{"StreamName":"nope","Data":"eA==","PartitionKey":"p"}"#,
            ),
            ("PutRecord", r#"{"StreamName":"s","PartitionKey":""}"#),
            ("PutRecord", "[1]"),
            ("PutRecord", ""),
            (
                "PutRecords",
                r#"{"StreamName":"s","Records":[{"Data":"eA==","PartitionKey":"p","ExplicitHashKey":"1"},{"Data":"eQ==","PartitionKey":"q"}]}"#,
            ),
            ("PutRecords", r#"{"StreamName":"s","Records":[]}"#),
            (
                "PutRecords",
                r#"{"StreamName":"nope","Records":[{"Data":"eA==","PartitionKey":"p"}]}"#,
            ),
        ];
        for (operation, body) in cases {
            let target = format!("{TARGET_PREFIX}{operation}");
            for is_cbor in [false, true] {
                let body: Vec<u8> = if is_cbor && !body.is_empty() {
                    match serde_json::from_str::<Value>(body) {
                        Ok(v) => cbor::encode(&v),
                        Err(_) => continue,
                    }
                } else {
                    body.as_bytes().to_vec()
                };
                let got = runtime
                    .block_on(tasks.put_async(operation, &body, is_cbor))
                    .unwrap();
                let want = blocking.dispatch(Some(&target), &body, is_cbor);
                match (got, want) {
                    (Ok(g), Ok(w)) => assert_eq!(g, w, "{operation} {body:?}"),
                    (Err(g), Err(w)) => {
                        assert_eq!((g.status, g.body()), (w.status, w.body()), "{operation}")
                    }
                    (g, w) => panic!("{operation} {body:?}: {g:?} against {w:?}"),
                }
            }
        }
        assert!(
            runtime
                .block_on(tasks.put_async("ListStreams", b"{}", false))
                .is_none()
        );
    }

    #[test]
    fn put_records_fast_path_leaves_the_rest_to_the_general_path() {
        let dir = tempfile::tempdir().unwrap();
        let api = api_with_stream(dir.path());
        for body in [
            r#"{"StreamName":"s","Records":[]}"#,
            r#"{"StreamName":"s","Records":[{"Data":"eA==","PartitionKey":""}]}"#,
            r#"{"StreamName":"s","Records":[{"Data":"!!","PartitionKey":"p"}]}"#,
            r#"{"StreamName":"s","Records":[{"Data":"eA==","PartitionKey":"p","ExplicitHashKey":"1"}]}"#,
            r#"{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","Records":[{"Data":"eA==","PartitionKey":"p"}]}"#,
            r#"{"StreamName":"s/..","Records":[{"Data":"eA==","PartitionKey":"p"}]}"#,
            r#"{"StreamName":"s","Records":[{"Data":null,"PartitionKey":"p"}]}"#,
            r#"{"StreamName":"s","Records":[{"Data":"eA==","PartitionKey":"p"}],"Extra":1}"#,
            r#"{"StreamName":"s","StreamName":"s","Records":[{"Data":"eA==","PartitionKey":"p"}]}"#,
            "not json",
        ] {
            assert!(api.put_records_fast(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn epoch_seconds_never_scientific() {
        for ms in [
            0i64,
            1,
            999,
            1_700_000_000_123,
            1_700_000_000_000,
            4_102_444_800_000,
        ] {
            let text = epoch_seconds(ms).to_string();
            assert!(!text.contains('e') && !text.contains('E'), "{text}");
        }
    }

    #[test]
    fn arn_pattern() {
        assert!(is_stream_arn(
            "arn:aws:kinesis:us-east-1:000000000000:stream/s"
        ));
        assert!(!is_stream_arn("arn:aws:kinesis:us-east-1:0000:stream/s"));
        assert!(!is_stream_arn("foo"));
    }
}
