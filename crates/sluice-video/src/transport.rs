//! How the clients reach a Kinesis Video endpoint: plain HTTP/1.1 or TLS
//! (rustls with the ring provider and the system's root certificates,
//! which `SSL_CERT_FILE` can replace), and the signed JSON calls of the
//! control plane, GetDataEndpoint first among them.
//!
//! Amazon Kinesis Video serves the media APIs (PutMedia, GetMedia) on a
//! per-stream data endpoint that [`data_endpoint`] asks the control
//! endpoint for; `sluice serve` answers with its own address, so the same
//! two steps work against both.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::client::RequestSigner;
use crate::error::{Result, VideoError};

/// A byte stream to the server, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A parsed endpoint URL: `http://host:port` or `https://host[:port]`,
/// with an optional base path.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// As given.
    pub url: String,
    /// TLS.
    pub https: bool,
    /// Host name or address (no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The Host header: no port when it is the scheme's default.
    pub authority: String,
    /// Base path without a trailing `/`.
    pub base: String,
}

impl Endpoint {
    /// Parse `url`. Errors: [`VideoError::InvalidArgument`] naming `field`
    /// for anything but an `http`/`https` URL with a host.
    pub fn parse(url: &str, field: &'static str) -> Result<Endpoint> {
        let bad = |reason: String| VideoError::InvalidArgument {
            field,
            reason: format!("{url:?}: {reason}"),
        };
        let uri: Uri = url.parse().map_err(|e| bad(format!("not a URL ({e})")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(bad(format!("scheme {other} (http or https)"))),
            None => return Err(bad("no scheme (http://host:port)".into())),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host".into()))?;
        let default_port = if https { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            authority.host().to_string()
        } else {
            authority.as_str().to_string()
        };
        Ok(Endpoint {
            url: url.to_string(),
            https,
            host: authority.host().trim_matches(['[', ']']).to_string(),
            port,
            authority: host_header,
            base: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The full path of an API operation, e.g. `/getMedia`.
    pub fn path(&self, operation: &str) -> String {
        format!("{}{operation}", self.base)
    }

    /// An error about this endpoint.
    pub fn error(&self, reason: impl Into<String>) -> VideoError {
        VideoError::Client {
            endpoint: self.url.clone(),
            reason: reason.into(),
        }
    }

    /// Open a connection (TLS for `https`), Nagle off.
    pub async fn connect(&self) -> Result<Box<dyn Io>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.error(format!("connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        if !self.https {
            return Ok(Box::new(tcp));
        }
        let config = tls_config().map_err(|e| self.error(e))?;
        let name = rustls_pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| self.error(format!("TLS server name {:?}: {e}", self.host)))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| self.error(format!("TLS: {e}")))?;
        Ok(Box::new(tls))
    }

    /// One signed JSON POST to `operation` (a control-plane or index
    /// call); the answer's JSON. AWS errors come back as
    /// [`VideoError::Client`] with `Type: message`.
    pub async fn call(
        &self,
        operation: &'static str,
        body: &Value,
        signer: Option<&Arc<dyn RequestSigner>>,
    ) -> Result<Value> {
        let resp = self.post(operation, body, signer).await?;
        let status = resp.status();
        let kind = error_type(resp.headers());
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.error(format!("{operation}: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(self.remote(operation, status, kind.as_deref(), &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("{operation}: the answer is not JSON ({e})")))
    }

    /// A signed JSON POST whose answer streams (GetMedia): the response,
    /// its body unread.
    pub async fn post(
        &self,
        operation: &str,
        body: &Value,
        signer: Option<&Arc<dyn RequestSigner>>,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        let payload = body.to_string().into_bytes();
        let path = self.path(operation);
        let hash = hex(&Sha256::digest(&payload));
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", self.authority.as_str()),
            ("content-type", "application/json"),
        ];
        let signed = signer.map(|s| {
            headers.push(("x-amz-content-sha256", hash.as_str()));
            s.sign("POST", &path, &headers)
        });
        let mut req = Request::post(path.as_str());
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        for (k, v) in signed.iter().flatten() {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| self.error(format!("{operation}: {e}")))?;
        let io = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| self.error(format!("handshake: {e}")))?;
        tokio::spawn(conn);
        sender
            .send_request(req)
            .await
            .map_err(|e| self.error(format!("{operation}: {e}")))
    }
}

impl Endpoint {
    /// A non-2xx answer to `operation`, its body read, as
    /// [`VideoError::Remote`].
    pub async fn error_answer(
        &self,
        operation: &'static str,
        resp: http::Response<hyper::body::Incoming>,
    ) -> VideoError {
        let status = resp.status();
        let kind = error_type(resp.headers());
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.remote(operation, status, kind.as_deref(), &body)
    }

    /// An AWS error answer to `operation` as [`VideoError::Remote`].
    pub fn remote(
        &self,
        operation: &'static str,
        status: http::StatusCode,
        kind: Option<&str>,
        body: &[u8],
    ) -> VideoError {
        let (aws, message) = aws_error(status, kind, body);
        VideoError::Remote {
            endpoint: self.url.clone(),
            operation,
            aws,
            message,
        }
    }
}

/// The `x-amzn-ErrorType` header's type name, if any.
pub fn error_type(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("x-amzn-ErrorType")?.to_str().ok()?;
    Some(v.split(':').next().unwrap_or(v).to_string())
}

/// AWS's error answer as (type, message): the type from
/// `x-amzn-ErrorType` or `__type`, else `HTTP <status>`.
pub fn aws_error(status: http::StatusCode, kind: Option<&str>, body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let kind = kind
        .map(str::to_string)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v.get("__type")?.as_str())
                .map(|s| s.rsplit('#').next().unwrap_or(s).to_string())
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("Message"))?.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (kind, message)
}

/// Ask `control` where `stream`'s media API `api` (`PUT_MEDIA`,
/// `GET_MEDIA`) is served.
pub async fn data_endpoint(
    control: &Endpoint,
    stream: &str,
    api: &str,
    signer: Option<&Arc<dyn RequestSigner>>,
) -> Result<Endpoint> {
    let answer = control
        .call(
            "/getDataEndpoint",
            &serde_json::json!({ "StreamName": stream, "APIName": api }),
            signer,
        )
        .await?;
    let url = answer
        .get("DataEndpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| control.error("GetDataEndpoint: no DataEndpoint in the answer"))?;
    Endpoint::parse(url, "DataEndpoint")
}

/// The TLS client configuration, made once: the system's roots (or
/// `SSL_CERT_FILE`'s).
fn tls_config() -> std::result::Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>> =
        OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let native = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                let why = native
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_owned(), ToString::to_string);
                return Err(format!(
                    "no usable root certificates on this system ({why})"
                ));
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_their_host_header() {
        let e = Endpoint::parse("https://kinesisvideo.eu-west-1.amazonaws.com", "endpoint")
            .expect("https");
        assert!(e.https);
        assert_eq!(
            (e.port, e.authority.as_str()),
            (443, "kinesisvideo.eu-west-1.amazonaws.com")
        );
        assert_eq!(e.path("/getMedia"), "/getMedia");
        let e = Endpoint::parse("http://127.0.0.1:4567/", "endpoint").expect("http");
        assert_eq!((e.port, e.authority.as_str()), (4567, "127.0.0.1:4567"));
        let e = Endpoint::parse("http://[::1]:80/kvs", "endpoint").expect("v6");
        assert_eq!((e.host.as_str(), e.authority.as_str()), ("::1", "[::1]"));
        assert_eq!(e.path("/putMedia"), "/kvs/putMedia");
        let err = Endpoint::parse("ftp://x", "endpoint").expect_err("scheme");
        assert!(err.to_string().contains("scheme ftp"), "{err}");
        assert!(Endpoint::parse("127.0.0.1:4567", "endpoint").is_err());
    }

    #[test]
    fn aws_errors_read_type_and_message() {
        let s = aws_error(
            http::StatusCode::NOT_FOUND,
            None,
            br#"{"__type":"ResourceNotFoundException","message":"no stream"}"#,
        );
        assert_eq!(s, ("ResourceNotFoundException".into(), "no stream".into()));
        let s = aws_error(http::StatusCode::BAD_GATEWAY, None, b"upstream");
        assert_eq!(s, ("HTTP 502 Bad Gateway".into(), "upstream".into()));
    }
}
