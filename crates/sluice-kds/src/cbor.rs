//! AWS CBOR 1.1 (`application/x-amz-cbor-1.1`, the Java SDK's default) to and
//! from the JSON values the API works on.
//!
//! Requests: byte strings become base64 text (as JSON carries blobs) and
//! timestamps (tag 1, epoch milliseconds or seconds) become epoch seconds.
//! Responses: `Data` members go out as byte strings and `*Timestamp`
//! members as tag 1 with epoch milliseconds.

use base64::Engine as _;
use ciborium::value::{Integer, Value as Cbor};
use serde_json::{Map, Number, Value};

/// Content type of AWS CBOR.
pub const CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";

fn to_json(v: Cbor, tag: Option<u64>) -> Option<Value> {
    Some(match v {
        Cbor::Integer(i) => {
            let n = i128::from(i);
            if tag == Some(1) {
                return Number::from_f64(n as f64 / 1000.0).map(Value::Number);
            }
            if let Ok(x) = i64::try_from(n) {
                Value::Number(x.into())
            } else {
                Value::Number(Number::from_f64(n as f64)?)
            }
        }
        Cbor::Float(f) => {
            // Tag 1 with a float: seconds, per RFC 8949.
            Value::Number(Number::from_f64(f)?)
        }
        Cbor::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Text(t) => Value::String(t),
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Null => Value::Null,
        Cbor::Tag(t, inner) => to_json(*inner, Some(t))?,
        Cbor::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| to_json(x, None))
                .collect::<Option<Vec<_>>>()?,
        ),
        Cbor::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let Cbor::Text(k) = k else {
                    return None;
                };
                out.insert(k, to_json(v, None)?);
            }
            Value::Object(out)
        }
        _ => return None,
    })
}

/// Decodes a CBOR request body; `None` if it is not CBOR.
pub fn decode(body: &[u8]) -> Option<Value> {
    let v: Cbor = ciborium::de::from_reader(body).ok()?;
    to_json(v, None)
}

fn from_json(key: Option<&str>, v: &Value) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => {
            if key.is_some_and(|k| k.ends_with("Timestamp")) {
                let ms = (n.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                return Cbor::Tag(1, Box::new(Cbor::Integer(Integer::from(ms))));
            }
            match n.as_i64() {
                Some(i) => Cbor::Integer(Integer::from(i)),
                None => Cbor::Float(n.as_f64().unwrap_or(0.0)),
            }
        }
        Value::String(s) => {
            if key == Some("Data")
                && let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s)
            {
                return Cbor::Bytes(b);
            }
            Cbor::Text(s.clone())
        }
        Value::Array(a) => Cbor::Array(a.iter().map(|x| from_json(key, x)).collect()),
        Value::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, x)| (Cbor::Text(k.clone()), from_json(Some(k), x)))
                .collect(),
        ),
    }
}

/// Encodes a response value as CBOR.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&from_json(None, v), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_and_timestamps_round_trip() {
        let v = serde_json::json!({
            "Records": [{"Data": "aGk=", "ApproximateArrivalTimestamp": 1700000000.5}],
            "MillisBehindLatest": 0
        });
        let bytes = encode(&v);
        let raw: Cbor = ciborium::de::from_reader(bytes.as_slice()).unwrap();
        let text = format!("{raw:?}");
        assert!(text.contains("Bytes([104, 105])"), "{text}");
        assert!(
            text.contains("Tag(1, Integer(Integer(1700000000500)))"),
            "{text}"
        );
        let back = decode(&bytes).unwrap();
        assert_eq!(back["Records"][0]["Data"], "aGk=");
        assert_eq!(
            back["Records"][0]["ApproximateArrivalTimestamp"],
            1700000000.5
        );
        assert!(decode(b"\xff\x00").is_none());
    }
}
