//! What a sealed buffer becomes on its way out: [`encode`] turns the
//! buffer's records into the delivered object's body (records concatenated,
//! newline-delimited when `AppendDelimiterToRecord` is on, then compressed;
//! or converted to Parquet) and collects the records that fail on the way as
//! AWS's error-record JSON lines, by error output type. [`Output`] is one
//! object to write.
//!
//! Error records (one JSON document per line, the record's bytes in base64
//! as `rawData`):
//!
//! - `format-conversion-failed`: `attemptsMade`, `arrivalTimestamp`,
//!   `ErrorCode`, `ErrorMessage`, `attemptEndingTimestamp`, `rawData`,
//!   `sequenceNumber`, `subSequenceNumber`, `dataCatalogTable`.
//! - `processing-failed`: `attemptsMade`, `arrivalTimestamp`, `errorCode`,
//!   `errorMessage`, `attemptEndingTimestamp`, `rawData`, `lambdaArn`.
//! - `http-endpoint-failed`: `attemptsMade`, `arrivalTimestamp`,
//!   `errorCode`, `errorMessage`, `attemptEndingTimestamp`, `rawData`.
//! - `partitioning-failed` / `activePartitionExceeded`: as
//!   `processing-failed` without `lambdaArn`.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use object_store::PutPayload;
use serde_json::{Value, json};

use crate::buffer::BufferedRecord;
use crate::compress::Compression;
use crate::config::Destination;
use crate::error::Result;

/// Error output type of records that do not fit the conversion schema.
pub const FORMAT_CONVERSION_FAILED: &str = "format-conversion-failed";
/// Error output type of records the transformation failed.
pub const PROCESSING_FAILED: &str = "processing-failed";
/// Error output type of records an HTTP endpoint did not accept in time.
pub const HTTP_ENDPOINT_FAILED: &str = "http-endpoint-failed";

/// One object to write.
#[derive(Debug)]
pub struct Output {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Object body.
    pub payload: PutPayload,
}

/// Error lines by error output type.
pub type ErrorLines = BTreeMap<&'static str, Vec<u8>>;

/// Appends one error record line to `out`. `fields` are the members besides
/// the common ones (`attemptsMade`, `arrivalTimestamp`,
/// `attemptEndingTimestamp`, `rawData`).
pub fn push_error_line(
    out: &mut Vec<u8>,
    data: &[u8],
    attempts: u32,
    arrival_ms: i64,
    ending_ms: i64,
    fields: Value,
) {
    let mut doc = json!({
        "attemptsMade": attempts,
        "arrivalTimestamp": arrival_ms,
    });
    if let (Some(o), Value::Object(extra)) = (doc.as_object_mut(), fields) {
        o.extend(extra);
        o.insert("attemptEndingTimestamp".into(), json!(ending_ms));
        o.insert(
            "rawData".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(data)),
        );
    }
    // Writing JSON to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &doc);
    out.push(b'\n');
}

/// The records concatenated (with a newline after each when `delimit`).
pub fn concat<'a>(records: impl Iterator<Item = &'a Bytes> + Clone, delimit: bool) -> Vec<u8> {
    let d = usize::from(delimit);
    let total: usize = records.clone().map(|r| r.len() + d).sum();
    let mut raw = Vec::with_capacity(total);
    for r in records {
        raw.extend_from_slice(r);
        if delimit {
            raw.push(b'\n');
        }
    }
    raw
}

/// Compresses the records' concatenation.
pub fn compressed<'a>(
    records: impl Iterator<Item = &'a Bytes> + Clone,
    delimit: bool,
    compression: Compression,
    key: &str,
) -> Result<PutPayload> {
    let raw = concat(records, delimit);
    Ok(match compression {
        Compression::Uncompressed => PutPayload::from(raw),
        c => PutPayload::from(c.compress(&raw, key)?),
    })
}

/// The body of the object delivered for `records` under `key` (None when no
/// record is left to deliver), and the error lines of records that failed.
pub fn encode(
    dest: &Destination,
    records: &[BufferedRecord],
    key: &str,
    now_ms: i64,
) -> Result<(Option<PutPayload>, ErrorLines)> {
    let mut errors = ErrorLines::new();
    if records.is_empty() {
        return Ok((None, errors));
    }
    let Some(conv) = &dest.conversion else {
        let body = compressed(
            records.iter().map(|r| &r.data),
            dest.append_delimiter,
            dest.compression,
            key,
        )?;
        return Ok((Some(body), errors));
    };
    let data: Vec<Bytes> = records.iter().map(|r| r.data.clone()).collect();
    let out = conv.convert(&data, key)?;
    if !out.failed.is_empty() {
        let lines = errors.entry(FORMAT_CONVERSION_FAILED).or_default();
        for (i, why) in &out.failed {
            let Some(r) = records.get(*i) else { continue };
            push_error_line(
                lines,
                &r.data,
                1,
                r.arrival_ms,
                now_ms,
                json!({
                    "ErrorCode": "DataFormatConversion.ParseError",
                    "ErrorMessage": why,
                    "sequenceNumber": Value::Null,
                    "subSequenceNumber": Value::Null,
                    "dataCatalogTable": conv.catalog_table,
                }),
            );
        }
    }
    Ok((out.parquet.map(PutPayload::from), errors))
}
