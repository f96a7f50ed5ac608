//! The HTTP front of the KDS API: what AWS checks, and in which order,
//! before an operation runs — method, CORS, content type, body, target and
//! the form of the Authorization header or presigned query — with AWS's
//! answers for each (XML for requests it cannot place, JSON or CBOR once it
//! knows the protocol).
//!
//! The order, as Kinesis answers it:
//! 1. `OPTIONS` with an `Origin`: a CORS preflight answer, nothing else.
//! 2. Any method but `POST`: `AccessDeniedException` in XML (403).
//! 3. No body: `SerializationException` for a known operation, else
//!    `UnknownOperationException` — in JSON for `application/x-amz-json-1.1`,
//!    in CBOR for any other content type.
//! 4. A content type that is none of JSON 1.1, CBOR 1.1 or `application/json`:
//!    `AccessDeniedException` (no target) or `UnknownOperationException`
//!    (404), in XML.
//! 5. A body that is not an object in its protocol: `SerializationException`.
//! 6. `application/json` (the old Coral form): `UnknownOperationException`.
//! 7. An unknown target: `UnknownOperationException`.
//! 8. The Authorization header or the presigned query: present, one of
//!    them, and with every part AWS requires; only then (with `--auth
//!    sigv4`) the signature itself.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use crate::cbor;

/// Content type of AWS JSON 1.1.
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The old Coral JSON content type, which Kinesis no longer serves.
const LEGACY_JSON_CONTENT_TYPE: &str = "application/json";

/// The service part of every Kinesis target.
pub const SERVICE: &str = "Kinesis_20131202";

/// Headers a browser may read from a cross-origin answer, as AWS lists them.
pub const CORS_EXPOSE_HEADERS: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";

/// The protocol a request speaks, by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `application/x-amz-json-1.1`.
    Json,
    /// `application/x-amz-cbor-1.1`.
    Cbor,
    /// `application/json`.
    LegacyJson,
    /// Anything else, or none.
    Other,
}

impl Protocol {
    /// The protocol of a `Content-Type` value (parameters and spaces ignored).
    pub fn of(content_type: Option<&str>) -> Protocol {
        let essence = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        match essence {
            JSON_CONTENT_TYPE => Protocol::Json,
            cbor::CONTENT_TYPE => Protocol::Cbor,
            LEGACY_JSON_CONTENT_TYPE => Protocol::LegacyJson,
            _ => Protocol::Other,
        }
    }

    /// The protocol AWS answers an empty or unparseable request in.
    fn answer(self) -> Protocol {
        match self {
            Protocol::Json => Protocol::Json,
            _ => Protocol::Cbor,
        }
    }
}

/// An answer made by the front: status, content type (none for XML) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontAnswer {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type`, when AWS sends one.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

impl FrontAnswer {
    fn xml(status: StatusCode, kind: &str, message: Option<&str>) -> FrontAnswer {
        let body = match message {
            Some(m) => format!("<{kind}>\n  <Message>{m}</Message>\n</{kind}>\n"),
            None => format!("<{kind}/>\n"),
        };
        FrontAnswer {
            status,
            content_type: None,
            body: body.into_bytes(),
        }
    }

    fn encoded(status: StatusCode, protocol: Protocol, value: &Value) -> FrontAnswer {
        match protocol {
            Protocol::Cbor => FrontAnswer {
                status,
                content_type: Some(cbor::CONTENT_TYPE),
                body: cbor::encode(value),
            },
            Protocol::LegacyJson => FrontAnswer {
                status,
                content_type: Some(LEGACY_JSON_CONTENT_TYPE),
                body: value.to_string().into_bytes(),
            },
            Protocol::Json | Protocol::Other => FrontAnswer {
                status,
                content_type: Some(JSON_CONTENT_TYPE),
                body: value.to_string().into_bytes(),
            },
        }
    }

    /// A JSON or CBOR error `{"__type": kind[, "message": ..]}`, status 400.
    pub fn error(protocol: Protocol, kind: &str, message: Option<&str>) -> FrontAnswer {
        let value = match message {
            Some(m) => json!({"__type": kind, "message": m}),
            None => json!({"__type": kind}),
        };
        FrontAnswer::encoded(StatusCode::BAD_REQUEST, protocol, &value)
    }

    fn legacy(status: StatusCode, kind: &str) -> FrontAnswer {
        let value = json!({
            "Output": {"__type": format!("com.amazon.coral.service#{kind}")},
            "Version": "1.0",
        });
        FrontAnswer::encoded(status, Protocol::LegacyJson, &value)
    }
}

/// What the front decided about a request.
#[derive(Debug)]
pub enum Verdict<'a> {
    /// Answer this and stop.
    Answer(FrontAnswer),
    /// Run `operation` in `protocol`.
    Run {
        /// The operation (after `Kinesis_20131202.`).
        operation: &'a str,
        /// JSON or CBOR.
        protocol: Protocol,
    },
}

/// The CORS preflight answer's headers for an `OPTIONS` request with an
/// `Origin`: allow any origin, echo the requested headers and method, cache
/// for two days.
pub fn preflight_headers(request: &HeaderMap) -> Vec<(&'static str, HeaderValue)> {
    let mut out = vec![("access-control-allow-origin", HeaderValue::from_static("*"))];
    if let Some(h) = request.get("access-control-request-headers") {
        out.push(("access-control-allow-headers", h.clone()));
    }
    if let Some(m) = request.get("access-control-request-method") {
        out.push(("access-control-allow-methods", m.clone()));
    }
    out.push(("access-control-max-age", HeaderValue::from_static("172800")));
    out
}

/// Checks one request as AWS does before it runs the operation (steps 2-8
/// of the module's list; the preflight is the caller's). `operations` is
/// the list of operations the API knows.
pub fn check<'a>(
    method: &Method,
    headers: &'a HeaderMap,
    query: Option<&str>,
    body: &[u8],
    operations: &[&str],
) -> Verdict<'a> {
    if method != Method::POST {
        return Verdict::Answer(FrontAnswer::xml(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            Some("Unable to determine service/operation name to be authorized"),
        ));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let protocol = Protocol::of(header("content-type"));
    let target = header("x-amz-target").unwrap_or("");
    let (service, operation) = target.split_once('.').unwrap_or((target, ""));
    let operation = operation.split('.').next().unwrap_or("");
    let known = service == SERVICE && operations.contains(&operation);
    if body.is_empty() {
        let kind = if known {
            "SerializationException"
        } else {
            "UnknownOperationException"
        };
        return Verdict::Answer(FrontAnswer::error(protocol.answer(), kind, None));
    }
    if protocol == Protocol::Other {
        return Verdict::Answer(if service.is_empty() || operation.is_empty() {
            FrontAnswer::xml(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                Some("Unable to determine service/operation name to be authorized"),
            )
        } else {
            FrontAnswer::xml(StatusCode::NOT_FOUND, "UnknownOperationException", None)
        });
    }
    if !is_object(protocol, body) {
        return Verdict::Answer(match protocol {
            Protocol::LegacyJson => {
                FrontAnswer::legacy(StatusCode::BAD_REQUEST, "SerializationException")
            }
            _ => FrontAnswer::error(protocol, "SerializationException", None),
        });
    }
    if protocol == Protocol::LegacyJson {
        return Verdict::Answer(FrontAnswer::legacy(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
        ));
    }
    if !known {
        return Verdict::Answer(FrontAnswer::error(
            protocol,
            "UnknownOperationException",
            None,
        ));
    }
    if let Some((kind, message)) = auth_form_error(
        header("authorization"),
        header("x-amz-date").or(header("date")),
        query,
    ) {
        return Verdict::Answer(FrontAnswer::error(protocol, kind, Some(&message)));
    }
    Verdict::Run {
        operation,
        protocol,
    }
}

/// True if `body` is one object in `protocol`. JSON is only scanned, not
/// built, so the PutRecords path pays little for the check.
fn is_object(protocol: Protocol, body: &[u8]) -> bool {
    match protocol {
        Protocol::Cbor => matches!(cbor::decode(body), Some(Value::Object(_))),
        _ => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            first == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
        }
    }
}

/// AWS's checks on the form of the request's credentials: an
/// Authorization header or a presigned query (not both, not neither), with
/// every part present. Returns `(__type, message)` of the first failure.
pub fn auth_form_error(
    authorization: Option<&str>,
    date: Option<&str>,
    query: Option<&str>,
) -> Option<(&'static str, String)> {
    let params: Vec<(&str, &str)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let presigned = params.iter().any(|(k, _)| *k == "X-Amz-Algorithm");
    match (authorization, presigned) {
        (Some(_), true) => Some((
            "InvalidSignatureException",
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.".into(),
        )),
        (None, false) => Some((
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".into(),
        )),
        (Some(header), false) => {
            // `ALGORITHM Credential=.., SignedHeaders=.., Signature=..`: the
            // parts after the algorithm, split at commas and spaces.
            let parts: Vec<(&str, &str)> = header
                .split([',', ' '])
                .skip(1)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let mut kv = p.split('=');
                    (kv.next().unwrap_or(""), kv.next().unwrap_or(""))
                })
                .collect();
            let mut message = String::new();
            for required in ["Credential", "Signature", "SignedHeaders"] {
                if !parts.iter().any(|(k, v)| *k == required && !v.is_empty()) {
                    message.push_str(&format!(
                        "Authorization header requires '{required}' parameter. "
                    ));
                }
            }
            if date.is_none_or(str::is_empty) {
                message.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
            }
            (!message.is_empty()).then(|| {
                (
                    "IncompleteSignatureException",
                    format!("{message}Authorization={header}"),
                )
            })
        }
        (None, true) => {
            let mut message = String::new();
            for required in [
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Signature",
                "X-Amz-SignedHeaders",
                "X-Amz-Date",
            ] {
                if !params.iter().any(|(k, v)| *k == required && !v.is_empty()) {
                    message.push_str(&format!(
                        "AWS query-string parameters must include '{required}'. "
                    ));
                }
            }
            (!message.is_empty()).then(|| {
                (
                    "IncompleteSignatureException",
                    format!("{message}Re-examine the query-string parameters."),
                )
            })
        }
    }
}

/// An `x-amz-id-2` value: 72 bytes in base64, as AWS sends, derived from
/// the request's number and time (unique per request, no randomness needed).
pub fn amz_id_2(request_number: u64, now_ms: i64) -> String {
    use base64::Engine as _;
    let mut bytes = Vec::with_capacity(80);
    let mut block = 0u8;
    while bytes.len() < 72 {
        let digest = Md5::new()
            .chain_update(request_number.to_be_bytes())
            .chain_update(now_ms.to_be_bytes())
            .chain_update([block])
            .finalize();
        bytes.extend_from_slice(&digest);
        block += 1;
    }
    bytes.truncate(72);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[&str] = &["ListStreams", "PutRecord"];

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn answer(v: Verdict<'_>) -> FrontAnswer {
        match v {
            Verdict::Answer(a) => a,
            Verdict::Run { operation, .. } => panic!("ran {operation}"),
        }
    }

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=c";

    #[test]
    fn methods_other_than_post_are_denied_in_xml() {
        let a = answer(check(&Method::GET, &HeaderMap::new(), None, b"", OPS));
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(a.content_type, None);
        assert_eq!(
            String::from_utf8(a.body).unwrap(),
            "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n"
        );
    }

    #[test]
    fn empty_bodies_answer_in_cbor_unless_json() {
        let h = headers(&[("x-amz-target", "Kinesis_20131202.ListStreams")]);
        let a = answer(check(&Method::POST, &h, None, b"", OPS));
        assert_eq!(a.content_type, Some(cbor::CONTENT_TYPE));
        assert_eq!(
            cbor::decode(&a.body),
            Some(json!({"__type": "SerializationException"}))
        );
        let h = headers(&[("content-type", "  application/x-amz-json-1.1 ; x")]);
        let a = answer(check(&Method::POST, &h, None, b"", OPS));
        assert_eq!(a.content_type, Some(JSON_CONTENT_TYPE));
        assert_eq!(a.body, br#"{"__type":"UnknownOperationException"}"#);
    }

    #[test]
    fn unknown_content_types_and_legacy_json() {
        let h = headers(&[("x-amz-target", "Kinesis_20131202.ListStreams")]);
        let a = answer(check(&Method::POST, &h, None, b"{}", OPS));
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert_eq!(a.body, b"<UnknownOperationException/>\n");
        let h = headers(&[
            ("x-amz-target", "Kinesis_20131202.ListStreams"),
            ("content-type", "application/json"),
        ]);
        let a = answer(check(&Method::POST, &h, None, b"hello", OPS));
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            serde_json::from_slice::<Value>(&a.body).unwrap(),
            json!({"Output": {"__type": "com.amazon.coral.service#SerializationException"}, "Version": "1.0"})
        );
        let a = answer(check(&Method::POST, &h, None, b"{}", OPS));
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn serialization_before_target_before_auth() {
        let h = headers(&[("content-type", JSON_CONTENT_TYPE), ("x-amz-target", "X.Y")]);
        let a = answer(check(&Method::POST, &h, None, b"hello", OPS));
        assert_eq!(a.body, br#"{"__type":"SerializationException"}"#);
        let a = answer(check(&Method::POST, &h, None, b"{}", OPS));
        assert_eq!(a.body, br#"{"__type":"UnknownOperationException"}"#);
        let h = headers(&[
            ("content-type", JSON_CONTENT_TYPE),
            ("x-amz-target", "Kinesis_20131202.ListStreams"),
        ]);
        let a = answer(check(&Method::POST, &h, None, b"{}", OPS));
        assert_eq!(
            a.body,
            br#"{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}"#
        );
        let h = headers(&[
            ("content-type", JSON_CONTENT_TYPE),
            ("x-amz-target", "Kinesis_20131202.ListStreams"),
            ("authorization", SIGNED),
            ("x-amz-date", "20260101T000000Z"),
        ]);
        assert!(matches!(
            check(&Method::POST, &h, None, b" {}", OPS),
            Verdict::Run {
                operation: "ListStreams",
                protocol: Protocol::Json
            }
        ));
    }

    #[test]
    fn authorization_forms() {
        let (kind, msg) = auth_form_error(Some("X"), None, None).unwrap();
        assert_eq!(kind, "IncompleteSignatureException");
        assert_eq!(
            msg,
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=X"
        );
        let (_, msg) =
            auth_form_error(Some("AWS4- Signature=b Credential=a"), Some("a"), None).unwrap();
        assert_eq!(
            msg,
            "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4- Signature=b Credential=a"
        );
        let (kind, _) = auth_form_error(Some("X"), None, Some("X-Amz-Algorithm")).unwrap();
        assert_eq!(kind, "InvalidSignatureException");
        let (_, msg) = auth_form_error(
            None,
            None,
            Some("X-Amz-Algorithm=a&X-Amz-Credential=b&X-Amz-Signature=c&X-Amz-Date=d"),
        )
        .unwrap();
        assert_eq!(
            msg,
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
        );
        let (kind, _) = auth_form_error(None, None, Some("X-Amz-Credential=a")).unwrap();
        assert_eq!(kind, "MissingAuthenticationTokenException");
        assert_eq!(auth_form_error(Some(SIGNED), Some("d"), None), None);
    }

    #[test]
    fn amz_id_2_is_72_bytes() {
        use base64::Engine as _;
        let id = amz_id_2(7, 1_700_000_000_000);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&id)
            .unwrap();
        assert_eq!(raw.len(), 72);
        assert_ne!(id, amz_id_2(8, 1_700_000_000_000));
    }
}
