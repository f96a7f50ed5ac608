//! Data transformation with the Firehose Lambda record contract:
//! [`Transform::apply`] sends a sealed buffer's records, in invocations of at
//! most `BufferSizeInMBs`, to a function and takes back, per record,
//! `{recordId, result: Ok|Dropped|ProcessingFailed, data (base64),
//! metadata.partitionKeys}`.
//!
//! # Invocation
//!
//! The event is AWS's: `{"invocationId", "deliveryStreamArn", "region",
//! "records": [{"recordId", "approximateArrivalTimestamp", "data"}]}`. The
//! function is reached one of two ways, chosen by the processor's
//! `LambdaArn` parameter:
//!
//! - `http://...` or `https://...`: the event is POSTed there as JSON; a 2xx
//!   answer's body is the response.
//! - `command:<program> <args...>` (split on whitespace): the program is run
//!   with the event on stdin; exit status 0 and its stdout are the response.
//! - an `arn:aws:lambda:...` ARN: resolved to one of the above through the
//!   map given to [`crate::DeliveryStream::with_lambdas`] (`FirehoseOptions::lambdas`).
//!
//! # Failure
//!
//! A failed invocation (transport error, non-2xx status or non-zero exit, a
//! response that is not the contract: not JSON, a missing, unknown or
//! duplicated `recordId`, an unknown `result`, bad base64) is retried
//! `NumberOfRetries` times (default 3); after that every record of the
//! invocation goes to `processing-failed/` with the last error. Records the
//! function answers `ProcessingFailed` go there too
//! (`Lambda.ProcessingFailedStatus`); `Dropped` records are delivered
//! nowhere.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::buffer::BufferedRecord;
use crate::error::{FirehoseError, Result};
use crate::pipeline::{ErrorLines, PROCESSING_FAILED, push_error_line};

/// Default `NumberOfRetries`.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default `BufferSizeInMBs` of a Lambda processor.
pub const DEFAULT_INVOCATION_MB: f64 = 1.0;
/// How long one invocation may take (Firehose's Lambda timeout limit).
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaTarget {
    /// POST the event to this URL.
    Http(String),
    /// Run this program (and arguments) with the event on stdin.
    Command(Vec<String>),
}

impl LambdaTarget {
    /// The target a `LambdaArn` value names by itself (`http(s)://` or
    /// `command:`); None for a real ARN.
    pub fn from_arn(arn: &str) -> Option<Self> {
        if arn.starts_with("http://") || arn.starts_with("https://") {
            return Some(Self::Http(arn.to_owned()));
        }
        let cmd = arn.strip_prefix("command:")?;
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        (!argv.is_empty()).then_some(Self::Command(argv))
    }
}

/// Functions known by ARN.
pub type Lambdas = HashMap<String, LambdaTarget>;

/// A validated `Lambda` processor.
#[derive(Debug, Clone)]
pub struct Transform {
    /// The `LambdaArn` parameter as configured.
    pub lambda_arn: String,
    /// `NumberOfRetries`.
    pub retries: u32,
    /// Most bytes of record data per invocation (`BufferSizeInMBs`).
    pub invocation_bytes: usize,
}

/// A record after transformation.
#[derive(Debug, Clone)]
pub struct Transformed {
    /// The record to deliver.
    pub record: BufferedRecord,
    /// `metadata.partitionKeys` the function returned.
    pub partition_keys: BTreeMap<String, String>,
}

impl Transform {
    /// Validates a `Lambda` processor's parameters.
    pub fn from_parameters(params: &[(String, String)]) -> Result<Self> {
        const F: &str = "ProcessingConfiguration";
        let mut lambda_arn = None;
        let mut retries = DEFAULT_RETRIES;
        let mut mb = DEFAULT_INVOCATION_MB;
        for (name, value) in params {
            match name.as_str() {
                "LambdaArn" => lambda_arn = Some(value.clone()),
                "NumberOfRetries" => {
                    retries = value.parse().ok().filter(|n| *n <= 300).ok_or_else(|| {
                        FirehoseError::invalid(
                            F,
                            format!(
                                "NumberOfRetries must be an integer from 0 to 300, got {value:?}."
                            ),
                        )
                    })?;
                }
                "BufferSizeInMBs" => {
                    mb = value
                        .parse::<f64>()
                        .ok()
                        .filter(|n| (0.2..=3.0).contains(n))
                        .ok_or_else(|| {
                            FirehoseError::invalid(
                                F,
                                format!("BufferSizeInMBs of a Lambda processor must be from 0.2 to 3, got {value:?}."),
                            )
                        })?;
                }
                // Records reach the function when their S3 buffer is sealed.
                "BufferIntervalInSeconds" | "RoleArn" => {}
                other => {
                    return Err(FirehoseError::invalid(
                        F,
                        format!("Unknown Lambda processor parameter {other}."),
                    ));
                }
            }
        }
        let lambda_arn = lambda_arn.ok_or_else(|| {
            FirehoseError::invalid(F, "The Lambda processor needs a LambdaArn parameter.")
        })?;
        if LambdaTarget::from_arn(&lambda_arn).is_none() && !lambda_arn.starts_with("arn:") {
            return Err(FirehoseError::invalid(
                F,
                format!(
                    "LambdaArn {lambda_arn:?} is neither a Lambda ARN, an http(s):// URL nor command:<program>."
                ),
            ));
        }
        Ok(Self {
            lambda_arn,
            retries,
            invocation_bytes: (mb * 1024.0 * 1024.0) as usize,
        })
    }

    /// Where the function runs, given the known functions.
    pub fn target(&self, lambdas: &Lambdas) -> Result<LambdaTarget> {
        LambdaTarget::from_arn(&self.lambda_arn)
            .or_else(|| lambdas.get(&self.lambda_arn).cloned())
            .ok_or_else(|| {
                FirehoseError::invalid(
                    "ProcessingConfiguration",
                    format!(
                        "Lambda function {} is not known to sluice: give an http(s):// URL or command:<program> as LambdaArn, or map the ARN in the server's lambdas.",
                        self.lambda_arn
                    ),
                )
            })
    }

    /// Transforms `records`; `ids[i]` is record i's `recordId`. Returns the
    /// records to deliver, in order, and the error lines of failed ones.
    pub async fn apply(
        &self,
        target: &LambdaTarget,
        stream_arn: &str,
        region: &str,
        records: &[BufferedRecord],
        ids: &[String],
        now_ms: impl Fn() -> i64,
    ) -> (Vec<Transformed>, ErrorLines) {
        let mut out = Vec::with_capacity(records.len());
        let mut errors = ErrorLines::new();
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut size = 0;
            while end < records.len()
                && (end == start || size + records[end].data.len() <= self.invocation_bytes)
            {
                size += records[end].data.len();
                end += 1;
            }
            let chunk = &records[start..end];
            let chunk_ids = &ids[start..end];
            let mut attempts = 0;
            let result = loop {
                attempts += 1;
                match invoke_once(target, stream_arn, region, chunk, chunk_ids).await {
                    Ok(r) => break Ok(r),
                    Err(e) if attempts > self.retries => break Err(e),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(attempts))).await
                    }
                }
            };
            match result {
                Ok(answers) => {
                    for (rec, answer) in chunk.iter().zip(answers) {
                        match answer {
                            Answer::Ok {
                                data,
                                partition_keys,
                            } => out.push(Transformed {
                                record: BufferedRecord {
                                    arrival_ms: rec.arrival_ms,
                                    data,
                                },
                                partition_keys,
                            }),
                            Answer::Dropped => {}
                            Answer::Failed => push_error_line(
                                errors.entry(PROCESSING_FAILED).or_default(),
                                &rec.data,
                                attempts,
                                rec.arrival_ms,
                                now_ms(),
                                json!({
                                    "errorCode": "Lambda.ProcessingFailedStatus",
                                    "errorMessage": "The Lambda function returned ProcessingFailed for this record.",
                                    "lambdaArn": self.lambda_arn,
                                }),
                            ),
                        }
                    }
                }
                Err((code, message)) => {
                    let lines = errors.entry(PROCESSING_FAILED).or_default();
                    for rec in chunk {
                        push_error_line(
                            lines,
                            &rec.data,
                            attempts,
                            rec.arrival_ms,
                            now_ms(),
                            json!({"errorCode": code, "errorMessage": message, "lambdaArn": self.lambda_arn}),
                        );
                    }
                }
            }
            start = end;
        }
        (out, errors)
    }
}

/// One record's answer, in the order of the request.
#[derive(Debug, PartialEq)]
enum Answer {
    Ok {
        data: Bytes,
        partition_keys: BTreeMap<String, String>,
    },
    Dropped,
    Failed,
}

/// A failed invocation: (error code, message).
pub type InvokeError = (&'static str, String);

/// The Lambda event for `records`.
fn event(stream_arn: &str, region: &str, records: &[BufferedRecord], ids: &[String]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let recs: Vec<Value> = records
        .iter()
        .zip(ids)
        .map(|(r, id)| {
            json!({"recordId": id, "approximateArrivalTimestamp": r.arrival_ms, "data": b64.encode(&r.data)})
        })
        .collect();
    let ev = json!({
        "invocationId": uuid::Uuid::new_v4().to_string(),
        "deliveryStreamArn": stream_arn,
        "region": region,
        "records": recs,
    });
    serde_json::to_vec(&ev).unwrap_or_default()
}

async fn invoke_once(
    target: &LambdaTarget,
    stream_arn: &str,
    region: &str,
    records: &[BufferedRecord],
    ids: &[String],
) -> Result<Vec<Answer>, InvokeError> {
    let body = event(stream_arn, region, records, ids);
    let response = invoke(target, body).await?;
    parse_response(&response, ids)
}

/// Sends one event to a function and returns its response body: POSTs it
/// to an `http(s)://` target (a 2xx answer's body), or runs a `command:`
/// target with the event on stdin (exit status 0 and its stdout). Errors
/// are (error code, message) as Firehose records them:
/// `Lambda.InvokeFailed` (transport, spawn, timeout) or
/// `Lambda.FunctionError` (non-2xx status, non-zero exit). Other services'
/// Lambda contracts (KDA's preprocessing and output functions) use it too.
pub async fn invoke(target: &LambdaTarget, body: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
    match target {
        LambdaTarget::Http(url) => {
            let client = reqwest::Client::new();
            let resp = client
                .post(url)
                .header("Content-Type", "application/json")
                .timeout(INVOCATION_TIMEOUT)
                .body(body)
                .send()
                .await
                .map_err(|e| ("Lambda.InvokeFailed", format!("POST {url}: {e}")))?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| {
                (
                    "Lambda.InvokeFailed",
                    format!("POST {url}: reading the response: {e}"),
                )
            })?;
            if !status.is_success() {
                return Err((
                    "Lambda.FunctionError",
                    format!(
                        "POST {url} answered {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
                    ),
                ));
            }
            Ok(bytes.to_vec())
        }
        LambdaTarget::Command(argv) => run_command(argv, body).await,
    }
}

async fn run_command(argv: &[String], stdin: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
    use tokio::io::AsyncWriteExt;
    let Some((program, args)) = argv.split_first() else {
        return Err(("Lambda.InvokeFailed", "empty command".to_owned()));
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ("Lambda.InvokeFailed", format!("running {program}: {e}")))?;
    if let Some(mut input) = child.stdin.take() {
        // A program that exits without reading its input is judged by its
        // exit status and output below.
        let _ = input.write_all(&stdin).await;
    }
    let out = tokio::time::timeout(INVOCATION_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| ("Lambda.InvokeFailed", format!("{program} timed out")))?
        .map_err(|e| ("Lambda.InvokeFailed", format!("running {program}: {e}")))?;
    if !out.status.success() {
        return Err((
            "Lambda.FunctionError",
            format!(
                "{program} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(512)]).trim()
            ),
        ));
    }
    Ok(out.stdout)
}

/// Checks a response against the contract: one answer per requested
/// `recordId`, in request order.
fn parse_response(body: &[u8], ids: &[String]) -> Result<Vec<Answer>, InvokeError> {
    let bad = |m: String| ("Lambda.JsonProcessingException", m);
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("The response is not JSON: {e}")))?;
    let recs = v
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("The response has no records array.".to_owned()))?;
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut answers: Vec<Option<Answer>> = (0..ids.len()).map(|_| None).collect();
    for r in recs {
        let id = r.get("recordId").and_then(Value::as_str).ok_or_else(|| {
            (
                "Lambda.MissingRecordId",
                "A response record has no recordId.".to_owned(),
            )
        })?;
        let i = *index.get(id).ok_or_else(|| {
            (
                "Lambda.InvalidRecordId",
                format!("recordId {id} was not in the request."),
            )
        })?;
        let answer = match r.get("result").and_then(Value::as_str) {
            Some("Ok") => {
                let data = r.get("data").and_then(Value::as_str).unwrap_or("");
                let data = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| bad(format!("recordId {id}: data is not base64: {e}")))?;
                let mut partition_keys = BTreeMap::new();
                if let Some(keys) = r
                    .get("metadata")
                    .and_then(|m| m.get("partitionKeys"))
                    .and_then(Value::as_object)
                {
                    for (k, v) in keys {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        partition_keys.insert(k.clone(), v);
                    }
                }
                Answer::Ok {
                    data: Bytes::from(data),
                    partition_keys,
                }
            }
            Some("Dropped") => Answer::Dropped,
            Some("ProcessingFailed") => Answer::Failed,
            other => {
                return Err((
                    "Lambda.InvalidResult",
                    format!(
                        "recordId {id}: result {other:?} is not Ok, Dropped or ProcessingFailed."
                    ),
                ));
            }
        };
        if answers[i].replace(answer).is_some() {
            return Err((
                "Lambda.DuplicatedRecordId",
                format!("recordId {id} is answered twice."),
            ));
        }
    }
    if let Some(i) = answers.iter().position(Option::is_none) {
        return Err((
            "Lambda.MissingRecordId",
            format!("recordId {} is missing from the response.", ids[i]),
        ));
    }
    Ok(answers.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(n: usize) -> (Vec<BufferedRecord>, Vec<String>) {
        let r = (0..n)
            .map(|i| BufferedRecord {
                arrival_ms: i as i64,
                data: Bytes::from(format!("r{i}")),
            })
            .collect();
        (r, (0..n).map(|i| format!("id{i}")).collect())
    }

    #[test]
    fn response_contract() {
        let ids = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let ok = br#"{"records":[{"recordId":"c","result":"Dropped"},{"recordId":"a","result":"Ok","data":"eHk=","metadata":{"partitionKeys":{"k":"v","n":1}}},{"recordId":"b","result":"ProcessingFailed"}]}"#;
        let a = parse_response(ok, &ids).unwrap();
        assert_eq!(
            a[0],
            Answer::Ok {
                data: Bytes::from_static(b"xy"),
                partition_keys: [
                    ("k".to_owned(), "v".to_owned()),
                    ("n".to_owned(), "1".to_owned())
                ]
                .into()
            }
        );
        assert_eq!(a[1], Answer::Failed);
        assert_eq!(a[2], Answer::Dropped);
        let missing = br#"{"records":[{"recordId":"a","result":"Dropped"}]}"#;
        assert_eq!(
            parse_response(missing, &ids).unwrap_err().0,
            "Lambda.MissingRecordId"
        );
        let dup = br#"{"records":[{"recordId":"a","result":"Dropped"},{"recordId":"a","result":"Dropped"}]}"#;
        assert_eq!(
            parse_response(dup, &ids).unwrap_err().0,
            "Lambda.DuplicatedRecordId"
        );
        assert_eq!(
            parse_response(b"nope", &ids).unwrap_err().0,
            "Lambda.JsonProcessingException"
        );
        let weird = br#"{"records":[{"recordId":"a","result":"Maybe"}]}"#;
        assert_eq!(
            parse_response(weird, &ids).unwrap_err().0,
            "Lambda.InvalidResult"
        );
    }

    #[test]
    fn parameters() {
        let p = |v: &[(&str, &str)]| {
            Transform::from_parameters(
                &v.iter()
                    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                    .collect::<Vec<_>>(),
            )
        };
        let t = p(&[
            ("LambdaArn", "http://127.0.0.1:1/fn"),
            ("NumberOfRetries", "2"),
        ])
        .unwrap();
        assert_eq!(t.retries, 2);
        assert!(p(&[("NumberOfRetries", "2")]).is_err());
        assert!(p(&[("LambdaArn", "x"), ("NumberOfRetries", "301")]).is_err());
        assert!(p(&[("LambdaArn", "nonsense")]).is_err());
        let t = p(&[("LambdaArn", "arn:aws:lambda:us-east-1:1:function:f")]).unwrap();
        assert!(t.target(&Lambdas::new()).is_err());
        let known: Lambdas = [(
            t.lambda_arn.clone(),
            LambdaTarget::Command(vec!["cat".into()]),
        )]
        .into();
        assert_eq!(
            t.target(&known).unwrap(),
            LambdaTarget::Command(vec!["cat".into()])
        );
    }

    #[tokio::test]
    async fn command_transform_with_retries_and_failures() {
        let dir = tempfile::tempdir().unwrap();
        // Uppercases records; fails record r1; drops r2.
        let script = dir.path().join("fn.py");
        std::fs::write(
            &script,
            r#"import base64, json, sys
ev = json.load(sys.stdin)
out = []
for r in ev["records"]:
    d = base64.b64decode(r["data"])
    if d == b"r1":
        out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
    elif d == b"r2":
        out.append({"recordId": r["recordId"], "result": "Dropped", "data": r["data"]})
    else:
        out.append({"recordId": r["recordId"], "result": "Ok", "data": base64.b64encode(d.upper()).decode(),
                    "metadata": {"partitionKeys": {"p": d.decode()}}})
json.dump({"records": out}, sys.stdout)
"#,
        )
        .unwrap();
        let t = Transform {
            lambda_arn: format!("command:python3 {}", script.display()),
            retries: 0,
            invocation_bytes: 4,
        };
        let target = t.target(&Lambdas::new()).unwrap();
        let (records, ids) = recs(4);
        let (out, errors) = t
            .apply(&target, "arn", "us-east-1", &records, &ids, || 7)
            .await;
        let data: Vec<&[u8]> = out.iter().map(|t| &t.record.data[..]).collect();
        assert_eq!(data, vec![&b"R0"[..], &b"R3"[..]]);
        assert_eq!(out[1].partition_keys["p"], "r3");
        assert_eq!(out[1].record.arrival_ms, 3);
        let lines = &errors[PROCESSING_FAILED];
        let err: Value = serde_json::from_slice(lines.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(err["errorCode"], "Lambda.ProcessingFailedStatus");
        assert_eq!(err["rawData"], "cjE=");
        assert_eq!(err["attemptEndingTimestamp"], 7);

        // a function that always fails: every record to processing-failed
        // after 1 + NumberOfRetries attempts
        let t = Transform {
            lambda_arn: "command:false".into(),
            retries: 2,
            invocation_bytes: 1 << 20,
        };
        let target = t.target(&Lambdas::new()).unwrap();
        let (out, errors) = t
            .apply(&target, "arn", "us-east-1", &records, &ids, || 7)
            .await;
        assert!(out.is_empty());
        let lines: Vec<Value> = errors[PROCESSING_FAILED]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["attemptsMade"], 3);
        assert_eq!(lines[0]["errorCode"], "Lambda.FunctionError");
    }
}
