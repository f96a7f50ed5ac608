//! A small async client for the read side of any Kinesis Data Streams
//! endpoint (a remote sluice or Amazon Kinesis): [`KdsClient`] speaks AWS
//! JSON 1.1 (`X-Amz-Target: Kinesis_20131202.<Operation>`) over HTTP/1.1,
//! plain or TLS (rustls with the ring provider and the system's root
//! certificates), and signs with AWS Signature V4 ([`SigV4Signer`]) when
//! [`RemoteEndpoint::credentials`] are given, reading time from an injected
//! [`Clock`].
//!
//! Operations: ListShards (all pages), GetShardIterator, GetRecords, and
//! [`KdsClient::call`] for any other. An error answer becomes
//! [`KdsError::Remote`] with the endpoint's `__type` and message; a
//! connection failure, timeout or non-KDS answer becomes
//! [`KdsError::Transport`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::api::TARGET_PREFIX;
use crate::clock::Clock;
use crate::error::{KdsError, Result};
use crate::ids;
use crate::kds::{IteratorStart, Record, ShardDescription};
use crate::sigv4::SigV4Signer;

/// Content type of AWS JSON 1.1.
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Answers larger than this are refused (GetRecords returns at most 10 MiB
/// of data, which base64 makes about 13.4 MiB).
const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// The access key id of requests made without credentials.
pub const ANONYMOUS_ACCESS_KEY: &str = "SLUICEANONYMOUS";

/// How long one request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// AWS credentials. `Debug` never shows the secret or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (`AKIA...`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, as the AWS SDKs read them; `None` unless both
    /// of the first two are set.
    pub fn from_env() -> Option<Credentials> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Credentials {
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }
}

/// A KDS endpoint reached over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEndpoint {
    /// `http://127.0.0.1:4567` or `https://kinesis.eu-west-1.amazonaws.com`.
    pub url: String,
    /// Region in the signature's scope.
    pub region: String,
    /// `Some`: every request is signed with SigV4 by these credentials.
    /// `None`: signed by the anonymous key [`ANONYMOUS_ACCESS_KEY`], which
    /// only a sluice server with authentication off accepts.
    pub credentials: Option<Credentials>,
}

impl RemoteEndpoint {
    /// Amazon Kinesis in `region`: `https://kinesis.<region>.amazonaws.com`.
    pub fn aws(region: &str, credentials: Option<Credentials>) -> RemoteEndpoint {
        RemoteEndpoint {
            url: format!("https://kinesis.{region}.amazonaws.com"),
            region: region.to_owned(),
            credentials,
        }
    }
}

/// A child shard as GetRecords reports it at the end of a closed shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildShard {
    /// Its id.
    pub shard_id: String,
    /// Its parent shard ids (one for a split, two for a merge).
    pub parent_shards: Vec<String>,
}

/// GetRecords' answer from a remote endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRecords {
    /// The records, in order (`explicit_hash_key` is always `None`: the API
    /// does not return it).
    pub records: Vec<Record>,
    /// Where to continue; `None` once a closed shard is read to its end.
    pub next_shard_iterator: Option<String>,
    /// How far this read is behind the newest record, ms.
    pub millis_behind_latest: Option<i64>,
    /// At the end of a closed shard: its children.
    pub child_shards: Vec<ChildShard>,
}

/// An async client for one KDS endpoint; cheap to clone.
#[derive(Clone)]
pub struct KdsClient {
    url: String,
    uri: Uri,
    host: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    signer: SigV4Signer,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl std::fmt::Debug for KdsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KdsClient")
            .field("url", &self.url)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

fn endpoint_error(url: &str, reason: impl Into<String>) -> KdsError {
    KdsError::Endpoint {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

impl KdsClient {
    /// A client for `endpoint`, signing (when it has credentials) with the
    /// time of `clock`.
    ///
    /// Errors: [`KdsError::Endpoint`] for a URL that is not `http://` or
    /// `https://` with a host, or (for `https`) when the system has no
    /// usable root certificates.
    pub fn new(endpoint: &RemoteEndpoint, clock: Arc<dyn Clock>) -> Result<KdsClient> {
        let url = endpoint.url.as_str();
        let uri: Uri = url
            .parse()
            .map_err(|e| endpoint_error(url, format!("not a URL ({e})")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(endpoint_error(url, "the scheme must be http or https")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| endpoint_error(url, "no host"))?;
        if uri.query().is_some() {
            return Err(endpoint_error(url, "an endpoint takes no query string"));
        }
        let default_port = if https { 443 } else { 80 };
        // The Host header as AWS SDKs send it: no port when it is the default.
        let host = match authority.port_u16() {
            Some(p) if p == default_port => authority.host().to_owned(),
            _ => authority.as_str().to_owned(),
        };
        let mut roots = rustls::RootCertStore::empty();
        if https {
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                let why = native
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_owned(), ToString::to_string);
                return Err(endpoint_error(
                    url,
                    format!("no usable root certificates on this system ({why})"),
                ));
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| endpoint_error(url, format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        // Without credentials the request is still signed, with an
        // anonymous key: Kinesis refuses a request with no Authorization
        // header before anything else, and a sluice server with
        // authentication off checks only the header's form.
        let anonymous = Credentials {
            access_key_id: ANONYMOUS_ACCESS_KEY.to_owned(),
            secret_access_key: String::new(),
            session_token: None,
        };
        let c = endpoint.credentials.as_ref().unwrap_or(&anonymous);
        let signer = SigV4Signer::new(
            c.access_key_id.clone(),
            c.secret_access_key.clone(),
            c.session_token.clone(),
            endpoint.region.clone(),
            "kinesis",
        );
        Ok(KdsClient {
            url: url.to_owned(),
            uri,
            host,
            client,
            signer,
            clock,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets how long one request may take (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> KdsClient {
        self.timeout = timeout;
        self
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `Kinesis_20131202.<operation>` with a JSON body; returns the
    /// answer's JSON.
    pub async fn call(&self, operation: &'static str, body: &Value) -> Result<Value> {
        let transport = |reason: String| KdsError::Transport {
            endpoint: self.url.clone(),
            operation,
            reason,
        };
        let body = serde_json::to_vec(body).map_err(|e| transport(e.to_string()))?;
        let target = format!("{TARGET_PREFIX}{operation}");
        let mut req = Request::post(self.uri.clone())
            .header(http::header::HOST, &self.host)
            .header(http::header::CONTENT_TYPE, JSON_CONTENT_TYPE)
            .header("x-amz-target", &target)
            .header(http::header::USER_AGENT, "sluice-kds-reader")
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| transport(e.to_string()))?;
        let path = self.uri.path();
        let signed = self.signer.sign(
            "POST",
            if path.is_empty() { "/" } else { path },
            "",
            &[
                ("host", &self.host),
                ("content-type", JSON_CONTENT_TYPE),
                ("x-amz-target", &target),
            ],
            &body,
            self.clock.now_ms(),
        );
        for (name, value) in signed {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| transport(format!("header {name} is not valid in HTTP")))?;
            req.headers_mut().insert(name, value);
        }
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| transport(error_chain(&e)))?;
            let (parts, body) = resp.into_parts();
            let bytes = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| transport(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, KdsError>((parts, bytes))
        };
        let (parts, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| transport(format!("no answer within {:?}", self.timeout)))??;
        // Operations such as CreateStream are answered with an empty body.
        let json: Option<Value> = if bytes.is_empty() {
            Some(Value::Object(serde_json::Map::new()))
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if parts.status.is_success() {
            return json.ok_or_else(|| {
                transport(format!(
                    "HTTP {} with a body that is not JSON: {}",
                    parts.status.as_u16(),
                    snippet(&bytes)
                ))
            });
        }
        let header_type = parts
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_owned());
        let json_type = json
            .as_ref()
            .and_then(|j| j.get("__type").or_else(|| j.get("code")))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let kind = json_type
            .or(header_type)
            .map(|k| k.rsplit('#').next().unwrap_or(&k).to_owned())
            .unwrap_or_else(|| format!("HTTP{}", parts.status.as_u16()));
        let message = json
            .as_ref()
            .and_then(|j| j.get("message").or_else(|| j.get("Message")))
            .and_then(Value::as_str)
            .map_or_else(|| snippet(&bytes), str::to_owned);
        Err(KdsError::Remote {
            endpoint: self.url.clone(),
            operation,
            status: parts.status.as_u16(),
            kind,
            message,
        })
    }

    /// ListShards of `stream`, every page.
    ///
    /// `index` of each shard is the number in its id (`shardId-<n>`), 0 for
    /// ids of another form.
    pub async fn list_shards(&self, stream: &str) -> Result<Vec<ShardDescription>> {
        let mut out = Vec::new();
        let mut body = json!({ "StreamName": stream });
        loop {
            let page = self.call("ListShards", &body).await?;
            let shards = page
                .get("Shards")
                .and_then(Value::as_array)
                .ok_or_else(|| self.malformed("ListShards", "no Shards list"))?;
            for s in shards {
                out.push(self.shard(s)?);
            }
            match page.get("NextToken").and_then(Value::as_str) {
                Some(token) => body = json!({ "NextToken": token }),
                None => return Ok(out),
            }
        }
    }

    fn shard(&self, s: &Value) -> Result<ShardDescription> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let shard_id = text(s.get("ShardId"))
            .ok_or_else(|| self.malformed("ListShards", "a shard without ShardId"))?;
        let hash = |k: &str| -> u128 {
            s.get("HashKeyRange")
                .and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let range = s.get("SequenceNumberRange");
        Ok(ShardDescription {
            index: ids::parse_shard_id(&shard_id).unwrap_or(0),
            parent_shard_id: text(s.get("ParentShardId")),
            adjacent_parent_shard_id: text(s.get("AdjacentParentShardId")),
            starting_hash_key: hash("StartingHashKey"),
            ending_hash_key: hash("EndingHashKey"),
            starting_sequence_number: text(range.and_then(|r| r.get("StartingSequenceNumber")))
                .unwrap_or_default(),
            ending_sequence_number: text(range.and_then(|r| r.get("EndingSequenceNumber"))),
            shard_id,
        })
    }

    /// GetShardIterator: the iterator token.
    pub async fn get_shard_iterator(
        &self,
        stream: &str,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<String> {
        let mut body = json!({ "StreamName": stream, "ShardId": shard_id });
        match start {
            IteratorStart::TrimHorizon => body["ShardIteratorType"] = json!("TRIM_HORIZON"),
            IteratorStart::Latest => body["ShardIteratorType"] = json!("LATEST"),
            IteratorStart::AtSequenceNumber(s) => {
                body["ShardIteratorType"] = json!("AT_SEQUENCE_NUMBER");
                body["StartingSequenceNumber"] = json!(s);
            }
            IteratorStart::AfterSequenceNumber(s) => {
                body["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                body["StartingSequenceNumber"] = json!(s);
            }
            IteratorStart::AtTimestamp(ms) => {
                body["ShardIteratorType"] = json!("AT_TIMESTAMP");
                // Epoch seconds with milliseconds, as the SDKs send it.
                body["Timestamp"] = json!(*ms as f64 / 1000.0);
            }
        }
        let out = self.call("GetShardIterator", &body).await?;
        out.get("ShardIterator")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.malformed("GetShardIterator", "no ShardIterator"))
    }

    /// GetRecords at `iterator`, at most `limit` records (1..=10,000).
    pub async fn get_records(&self, iterator: &str, limit: usize) -> Result<RemoteRecords> {
        let body = json!({ "ShardIterator": iterator, "Limit": limit.clamp(1, 10_000) });
        let out = self.call("GetRecords", &body).await?;
        let list = out
            .get("Records")
            .and_then(Value::as_array)
            .ok_or_else(|| self.malformed("GetRecords", "no Records list"))?;
        let mut records = Vec::with_capacity(list.len());
        for r in list {
            let field = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.malformed("GetRecords", &format!("a record without {k}")))
            };
            let data = base64::engine::general_purpose::STANDARD
                .decode(field("Data")?)
                .map_err(|e| self.malformed("GetRecords", &format!("Data is not base64: {e}")))?;
            let arrival_ms = r
                .get("ApproximateArrivalTimestamp")
                .and_then(Value::as_f64)
                .map_or(0, |secs| (secs * 1000.0).round() as i64);
            records.push(Record {
                sequence_number: field("SequenceNumber")?.to_owned(),
                arrival_ms,
                partition_key: field("PartitionKey")?.to_owned(),
                data,
                explicit_hash_key: None,
                encrypted: r.get("EncryptionType").and_then(Value::as_str) == Some("KMS"),
            });
        }
        let child_shards = out
            .get("ChildShards")
            .and_then(Value::as_array)
            .map(|children| {
                children
                    .iter()
                    .filter_map(|c| {
                        Some(ChildShard {
                            shard_id: c.get("ShardId")?.as_str()?.to_owned(),
                            parent_shards: c
                                .get("ParentShards")
                                .and_then(Value::as_array)
                                .map(|p| {
                                    p.iter()
                                        .filter_map(|v| v.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(RemoteRecords {
            records,
            next_shard_iterator: out
                .get("NextShardIterator")
                .and_then(Value::as_str)
                .map(str::to_owned),
            millis_behind_latest: out.get("MillisBehindLatest").and_then(Value::as_i64),
            child_shards,
        })
    }

    fn malformed(&self, operation: &'static str, what: &str) -> KdsError {
        KdsError::Transport {
            endpoint: self.url.clone(),
            operation,
            reason: format!("the answer is not what KDS sends: {what}"),
        }
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The start of a body, for error messages.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn endpoint(url: &str) -> RemoteEndpoint {
        RemoteEndpoint {
            url: url.into(),
            region: "us-east-1".into(),
            credentials: None,
        }
    }

    #[test]
    fn endpoint_urls() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(0));
        let c = KdsClient::new(&endpoint("http://127.0.0.1:4567"), clock.clone()).unwrap();
        assert_eq!(c.host, "127.0.0.1:4567");
        let c = KdsClient::new(&endpoint("http://localhost:80/"), clock.clone()).unwrap();
        assert_eq!(c.host, "localhost");
        for bad in ["ftp://x", "127.0.0.1:4567", "http://", "http://h/?a=b", ""] {
            let err = KdsClient::new(&endpoint(bad), clock.clone()).unwrap_err();
            assert!(matches!(err, KdsError::Endpoint { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert_eq!(
            RemoteEndpoint::aws("eu-west-1", None).url,
            "https://kinesis.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s3cr3t".into(),
            session_token: Some("t0k3n".into()),
        };
        let text = format!("{c:?}");
        assert!(text.contains("AKID") && !text.contains("s3cr3t") && !text.contains("t0k3n"));
    }
}
