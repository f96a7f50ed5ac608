//! Reading one request's members as AWS's request reader (Coral) does:
//! the JVM-style SerializationException texts for a member of the wrong
//! type, and the ValidationException list of constraint failures (at most
//! ten, `N validation errors detected: Value X at 'member' ...`).

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{ApiError, ApiResult, lower_first};

/// Reads the members of one request, collecting constraint failures.
pub(super) struct Input<'a> {
    obj: &'a Map<String, Value>,
    path: String,
    pub(super) errors: Vec<String>,
}

/// The class AWS's JSON reader names for every JSON number.
pub(super) const TRUNCATING_NUMBER: &str =
    "com.amazon.coral.value.json.numbers.TruncatingBigNumber";

pub(super) fn type_error(expected: &str, v: &Value) -> ApiError {
    let msg = match (expected, v) {
        (_, Value::Array(_)) => "Start of list found where not expected".to_owned(),
        (_, Value::Object(_)) => "Start of structure or map found where not expected.".to_owned(),
        ("Blob", Value::Bool(_)) => "class java.lang.Boolean can not be converted to a Blob".into(),
        ("Blob", Value::Number(_)) => {
            format!("class {TRUNCATING_NUMBER} can not be converted to a Blob")
        }
        ("Boolean", Value::String(s)) => {
            format!("'{}' can not be converted to an Boolean", s.to_uppercase())
        }
        (t, Value::Bool(_)) => format!("class java.lang.Boolean can not be converted to an {t}"),
        (t, Value::Number(_)) => {
            format!("class {TRUNCATING_NUMBER} can not be converted to an {t}")
        }
        (t, Value::String(_)) => format!("class java.lang.String can not be converted to an {t}"),
        (_, Value::Null) => "Unexpected null".into(),
    };
    ApiError::serialization(msg)
}

/// Base64 as AWS's reader takes it, failing with its words.
pub(super) fn decode_blob(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(4) {
        return Err(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            s.len()
        ));
    }
    let bytes = s.as_bytes();
    let bad = bytes.iter().enumerate().find(|&(i, &b)| {
        !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
            || (b == b'=' && bytes.get(i + 1).is_some_and(|n| *n != b'='))
    });
    if let Some((_, &b)) = bad {
        return Err(format!("Invalid Base64 character: '{}'", b as char));
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| "Invalid last non-pad Base64 character dectected".to_owned())
}

impl<'a> Input<'a> {
    pub(super) fn new(obj: &'a Map<String, Value>) -> Self {
        Input {
            obj,
            path: String::new(),
            errors: Vec::new(),
        }
    }

    pub(super) fn nested(obj: &'a Map<String, Value>, path: String) -> Self {
        Input {
            obj,
            path,
            errors: Vec::new(),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn member(&self, key: &str) -> String {
        format!("{}{}", self.path, lower_first(key))
    }

    pub(super) fn fail(&mut self, key: &str, value: Option<String>, constraint: &str) {
        if self.errors.len() >= 10 {
            return;
        }
        let value = value.map_or_else(|| "null".to_owned(), |v| format!("'{v}'"));
        self.errors.push(format!(
            "Value {value} at '{}' failed to satisfy constraint: {constraint}",
            self.member(key)
        ));
    }

    pub(super) fn string(&mut self, key: &str) -> ApiResult<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(type_error("String", v)),
        }
    }

    pub(super) fn required(&mut self, key: &str, v: Option<&str>) {
        if v.is_none() {
            self.fail(key, None, "Member must not be null");
        }
    }

    pub(super) fn length(&mut self, key: &str, v: Option<&str>, min: usize, max: usize) {
        if let Some(s) = v {
            let n = s.chars().count();
            if n < min {
                self.fail(
                    key,
                    Some(s.into()),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if n > max {
                self.fail(
                    key,
                    Some(s.into()),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    pub(super) fn pattern(
        &mut self,
        key: &str,
        v: Option<&str>,
        ok: fn(&str) -> bool,
        pattern: &str,
    ) {
        if let Some(s) = v
            && !ok(s)
        {
            self.fail(
                key,
                Some(s.into()),
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    pub(super) fn enumeration(&mut self, key: &str, v: Option<&str>, values: &[&str]) {
        if let Some(s) = v
            && !values.contains(&s)
        {
            self.fail(
                key,
                Some(s.into()),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ),
            );
        }
    }

    pub(super) fn int(&mut self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            // AWS truncates a fraction and caps an Integer at 2^31 - 1
            // before it validates the value.
            Some(Value::Number(n)) => Ok(n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f.floor() as i64))
                .map(|v| v.min(i64::from(i32::MAX)))),
            Some(v) => Err(type_error("Integer", v)),
        }
    }

    pub(super) fn range(&mut self, key: &str, v: Option<i64>, min: i64, max: i64) {
        if let Some(n) = v {
            if n < min {
                self.fail(
                    key,
                    Some(n.to_string()),
                    &format!("Member must have value greater than or equal to {min}"),
                );
            } else if n > max {
                self.fail(
                    key,
                    Some(n.to_string()),
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
    }

    pub(super) fn boolean(&mut self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(type_error("Boolean", v)),
        }
    }

    pub(super) fn blob(&mut self, key: &str) -> ApiResult<Option<Vec<u8>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => decode_blob(s).map(Some).map_err(|why| {
                ApiError::serialization(format!("'{s}' can not be converted to a Blob: {why}"))
            }),
            Some(v) => Err(type_error("Blob", v)),
        }
    }

    pub(super) fn blob_length(&mut self, key: &str, v: Option<&[u8]>, max: usize) {
        if let Some(b) = v
            && b.len() > max
        {
            let n = b.len();
            self.fail(
                key,
                Some(format!("java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]")),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub(super) fn list(&mut self, key: &str) -> ApiResult<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(Value::Object(_)) => Err(ApiError::serialization(
                "Start of structure or map found where not expected.",
            )),
            Some(_) => Err(ApiError::serialization("Expected list or null")),
        }
    }

    pub(super) fn map(&mut self, key: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(Value::Array(_)) => Err(ApiError::serialization(
                "Start of list found where not expected",
            )),
            Some(_) => Err(ApiError::serialization("Expected map or null")),
        }
    }

    pub(super) fn structure(&mut self, key: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(Value::Array(_)) => Err(ApiError::serialization(
                "Start of list found where not expected",
            )),
            Some(_) => Err(ApiError::serialization("Expected null")),
        }
    }

    /// A timestamp: epoch seconds as a number (AWS's JSON reader refuses
    /// strings; CBOR's tagged times arrive here as numbers).
    pub(super) fn timestamp(&mut self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().map(|f| (f * 1000.0).round() as i64)),
            Some(Value::String(_)) => Err(ApiError::serialization(
                "class java.lang.String can not be converted to milliseconds since epoch",
            )),
            Some(Value::Bool(_)) => Err(ApiError::serialization(
                "class java.lang.Boolean can not be converted to milliseconds since epoch",
            )),
            Some(v) => Err(type_error("Timestamp", v)),
        }
    }

    pub(super) fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    pub(super) fn finish(&mut self) -> ApiResult<()> {
        finish_errors(self.take_errors())
    }
}

pub(super) fn finish_errors(errors: Vec<String>) -> ApiResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    Err(ApiError::new(
        "ValidationException",
        format!(
            "{n} validation error{} detected: {}",
            if n > 1 { "s" } else { "" },
            errors.join("; ")
        ),
    ))
}
