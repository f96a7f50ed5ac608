//! KDA's two Lambda record contracts, for apps connected to Kinesis:
//!
//! - **Input preprocessing** (InputProcessingConfiguration): a batch of
//!   records read from the stream goes to the function as
//!   `{"invocationId", "applicationArn", "streamArn", "records": [{"recordId",
//!   "data" (base64), "kinesisStreamRecordMetadata": {"shardId",
//!   "partitionKey", "sequenceNumber", "approximateArrivalTimestamp"}}]}`;
//!   it answers `{"records": [{"recordId", "result": "Ok" | "Dropped" |
//!   "ProcessingFailed", "data"}]}`. Ok records are mapped with their new
//!   data, Dropped ones vanish, ProcessingFailed ones go to error_stream.
//!   An invocation that fails (transport, status, exit, or an answer that
//!   is not the contract) is retried [`PREPROCESS_RETRIES`] times; then
//!   each of its records goes to error_stream with the reason.
//! - **Output** (LambdaOutput): rows go to the function as
//!   `{"invocationId", "applicationArn", "records": [{"recordId",
//!   "lambdaDeliveryRecordMetadata": {"retryHint"}, "data"}]}`; it answers
//!   `{"records": [{"recordId", "result": "Ok" | "DeliveryFailed"}]}`.
//!   Failed records (or a failed invocation) are sent again, `retryHint`
//!   counting the attempts, backing off up to 5 s, until they are
//!   delivered or the app is stopped (the input is then not checkpointed
//!   past them: they are produced again after a restart).
//!
//! The function is reached as the Firehose transformation reaches its own:
//! an `http(s)://` URL the event is POSTed to, or `command:<program>` run
//! with the event on stdin (`sluice_firehose::transform::invoke`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use sluice_firehose::transform::{LambdaTarget, invoke};

/// Retries of a failed preprocessing invocation.
pub const PREPROCESS_RETRIES: u32 = 3;
/// Most records per invocation.
pub const INVOCATION_RECORDS: usize = 500;

/// A function and where it runs.
pub struct KdaLambda {
    target: LambdaTarget,
    /// The URL or command, for messages.
    pub place: String,
}

/// One record to preprocess.
pub struct InRecord<'a> {
    /// The record's data.
    pub data: &'a [u8],
    /// recordId (KDA uses the sequence number).
    pub id: &'a str,
    /// Its shard.
    pub shard_id: &'a str,
    /// Its partition key.
    pub partition_key: &'a str,
    /// Its arrival time, ms.
    pub arrival_ms: i64,
}

/// What preprocessing made of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocessed {
    /// Map this data.
    Ok(Vec<u8>),
    /// Nothing.
    Dropped,
    /// To error_stream, with the reason.
    Failed(String),
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn invocation_id() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "sluice-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `records` of an answer by recordId, each checked to be one of the
/// ids asked, with a known `result`.
fn answers(
    body: &[u8],
    asked: &[&str],
    results: &[&str],
) -> Result<(Value, HashMap<String, usize>)> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        anyhow!(
            "the answer is not JSON: {e}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    let records = v
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the answer has no records array"))?;
    let mut by_id = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let id = r
            .get("recordId")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("answer record {i} has no recordId"))?;
        if !asked.contains(&id) {
            bail!("answer record {i}: recordId {id} was not asked");
        }
        let result = r.get("result").and_then(Value::as_str).unwrap_or("");
        if !results.contains(&result) {
            bail!(
                "answer record {i} (recordId {id}): result {result:?} is not one of {}",
                results.join(", ")
            );
        }
        if by_id.insert(id.to_string(), i).is_some() {
            bail!("recordId {id} is answered twice");
        }
    }
    if let Some(missing) = asked.iter().find(|id| !by_id.contains_key(**id)) {
        bail!("recordId {missing} has no answer");
    }
    Ok((v, by_id))
}

impl KdaLambda {
    /// A function at `place`: `http(s)://...` or `command:<program> ...`.
    pub fn new(place: &str) -> Result<Self> {
        let target = LambdaTarget::from_arn(place).ok_or_else(|| {
            anyhow!("Lambda \"{place}\" is not an http(s):// URL or command:<program>")
        })?;
        Ok(KdaLambda {
            target,
            place: place.to_string(),
        })
    }

    async fn call(&self, event: &Value) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(event)?;
        invoke(&self.target, body)
            .await
            .map_err(|(code, message)| anyhow!("{code}: {message}"))
    }

    /// Preprocesses `records` (see the [module docs](self)); one outcome
    /// per record, in order.
    pub async fn preprocess(
        &self,
        application_arn: &str,
        stream_arn: &str,
        records: &[InRecord<'_>],
    ) -> Vec<Preprocessed> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(INVOCATION_RECORDS) {
            let event = json!({
                "invocationId": invocation_id(),
                "applicationArn": application_arn,
                "streamArn": stream_arn,
                "records": chunk.iter().map(|r| json!({
                    "recordId": r.id,
                    "data": b64().encode(r.data),
                    "kinesisStreamRecordMetadata": {
                        "shardId": r.shard_id,
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.id,
                        "approximateArrivalTimestamp": r.arrival_ms,
                    },
                })).collect::<Vec<_>>(),
            });
            let ids: Vec<&str> = chunk.iter().map(|r| r.id).collect();
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                let result = match self.call(&event).await {
                    Ok(body) => Self::preprocessed(&body, &ids),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(o) => break Ok(o),
                    Err(e) if attempt > PREPROCESS_RETRIES => break Err(e),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    }
                }
            };
            match outcome {
                Ok(o) => out.extend(o),
                Err(e) => out.extend(chunk.iter().map(|_| {
                    Preprocessed::Failed(format!(
                        "preprocessing Lambda {} failed after {attempt} attempts: {e:#}",
                        self.place
                    ))
                })),
            }
        }
        out
    }

    fn preprocessed(body: &[u8], ids: &[&str]) -> Result<Vec<Preprocessed>> {
        let (v, by_id) = answers(body, ids, &["Ok", "Dropped", "ProcessingFailed"])?;
        ids.iter()
            .map(|id| {
                let r = &v["records"][by_id[*id]];
                Ok(match r["result"].as_str() {
                    Some("Ok") => {
                        let data = r.get("data").and_then(Value::as_str).unwrap_or("");
                        Preprocessed::Ok(
                            b64()
                                .decode(data)
                                .map_err(|e| anyhow!("recordId {id}: data is not base64: {e}"))?,
                        )
                    }
                    Some("Dropped") => Preprocessed::Dropped,
                    _ => Preprocessed::Failed(
                        "the preprocessing Lambda answered ProcessingFailed".into(),
                    ),
                })
            })
            .collect()
    }

    /// Delivers `rows` (see the [module docs](self)), retrying failed ones
    /// until they are delivered or `stop` is set (then an error).
    pub async fn deliver(
        &self,
        application_arn: &str,
        rows: &[Vec<u8>],
        stop: &AtomicBool,
    ) -> Result<()> {
        for chunk in rows.chunks(INVOCATION_RECORDS) {
            let mut left: Vec<usize> = (0..chunk.len()).collect();
            let mut hint = 0u64;
            while !left.is_empty() {
                let ids: Vec<String> = left.iter().map(|i| i.to_string()).collect();
                let event = json!({
                    "invocationId": invocation_id(),
                    "applicationArn": application_arn,
                    "records": left.iter().zip(&ids).map(|(&i, id)| json!({
                        "recordId": id,
                        "lambdaDeliveryRecordMetadata": { "retryHint": hint },
                        "data": b64().encode(&chunk[i]),
                    })).collect::<Vec<_>>(),
                });
                let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
                let failed = match self.call(&event).await {
                    Ok(body) => answers(&body, &asked, &["Ok", "DeliveryFailed"]).map(|(v, by)| {
                        left.iter()
                            .zip(&ids)
                            .filter(|(_, id)| v["records"][by[*id]]["result"] == "DeliveryFailed")
                            .map(|(i, _)| *i)
                            .collect::<Vec<_>>()
                    }),
                    Err(e) => Err(e),
                };
                left = match failed {
                    Ok(f) if f.is_empty() => Vec::new(),
                    Ok(f) => {
                        eprintln!(
                            "sluice: output Lambda {}: {} records DeliveryFailed, retrying",
                            self.place,
                            f.len()
                        );
                        f
                    }
                    Err(e) => {
                        eprintln!("sluice: output Lambda {}: {e:#}; retrying", self.place);
                        left
                    }
                };
                if left.is_empty() {
                    break;
                }
                if stop.load(Ordering::SeqCst) {
                    bail!(
                        "output Lambda {}: {} records not delivered when the app stopped",
                        self.place,
                        left.len()
                    );
                }
                hint += 1;
                tokio::time::sleep(Duration::from_millis((100 * hint).min(5_000))).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessing_answers_follow_the_contract() -> Result<()> {
        let body = br#"{"records": [
            {"recordId": "2", "result": "Dropped"},
            {"recordId": "1", "result": "Ok", "data": "QUJD"},
            {"recordId": "3", "result": "ProcessingFailed"}]}"#;
        let got = KdaLambda::preprocessed(body, &["1", "2", "3"])?;
        assert_eq!(
            got,
            vec![
                Preprocessed::Ok(b"ABC".to_vec()),
                Preprocessed::Dropped,
                Preprocessed::Failed("the preprocessing Lambda answered ProcessingFailed".into())
            ]
        );
        let err = |b: &[u8]| {
            KdaLambda::preprocessed(b, &["1"])
                .expect_err("refused")
                .to_string()
        };
        assert!(err(b"nope").contains("not JSON"));
        assert!(err(br#"{"records": []}"#).contains("recordId 1 has no answer"));
        assert!(
            err(br#"{"records": [{"recordId": "9", "result": "Ok"}]}"#).contains("was not asked")
        );
        assert!(
            err(br#"{"records": [{"recordId": "1", "result": "Maybe"}]}"#)
                .contains("is not one of")
        );
        Ok(())
    }
}
