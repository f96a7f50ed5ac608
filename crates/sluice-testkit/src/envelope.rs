//! Input files → records with arrival times, by envelope.
//!
//! - `none`: one record per line; arrival of line *i* is `start + i × step_ms`.
//! - `arrival`: JSON lines `{"arrival": "...", "partition_key": "k", "data": ...}`;
//!   `data` is the record (a JSON value for JSON input, a string for CSV).
//! - `kds`: what `aws kinesis get-records` prints (`{"Records": [...]}`), or
//!   JSON lines of such records, with base64 `Data` and
//!   `ApproximateArrivalTimestamp` (epoch seconds or RFC 3339).
//!
//! Record metadata, for the source stream's `PARTITION_KEY`, `SHARD_ID` and
//! `SEQUENCE_NUMBER` columns: `kds` records give `PartitionKey` and
//! `SequenceNumber` (`get-records` output names no shard, so `SHARD_ID` is
//! NULL); `arrival` lines give `partition_key` when they have one; the rest
//! is NULL.

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use sluice_engine::Record;
use sluice_engine::config::{InputConfig, InputSource};
use sluice_engine::input::{RecordMeta, parse_timestamp};

use crate::{Result, TestkitError, read};

/// A record read from an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    /// The record bytes.
    pub data: Vec<u8>,
    /// Arrival time, ms since epoch.
    pub arrival_ms: i64,
    /// 1-based line of the file it came from.
    pub line: usize,
    /// Partition key, if the envelope gives one.
    pub partition_key: Option<String>,
    /// Sequence number, if the envelope gives one.
    pub sequence_number: Option<String>,
}

impl FileRecord {
    /// A record with no metadata.
    fn plain(data: Vec<u8>, arrival_ms: i64, line: usize) -> Self {
        Self {
            data,
            arrival_ms,
            line,
            partition_key: None,
            sequence_number: None,
        }
    }

    /// The engine's view of it.
    pub fn record(&self) -> Record<'_> {
        Record {
            data: &self.data,
            arrival_ms: self.arrival_ms,
            meta: RecordMeta {
                partition_key: self.partition_key.as_deref(),
                shard_id: None,
                sequence_number: self.sequence_number.as_deref(),
            },
        }
    }
}

#[derive(Deserialize)]
struct ArrivalLine<'a> {
    arrival: serde_json::Value,
    #[serde(default)]
    partition_key: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KdsRecord {
    data: String,
    approximate_arrival_timestamp: serde_json::Value,
    #[serde(default)]
    partition_key: Option<String>,
    #[serde(default)]
    sequence_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KdsResponse {
    records: Vec<KdsRecord>,
}

fn content(path: &Path, line: usize, message: impl Into<String>) -> TestkitError {
    TestkitError::Content {
        path: path.display().to_string(),
        line,
        message: message.into(),
    }
}

/// A time given as RFC 3339 / KDA text, or as epoch seconds.
pub fn parse_time_value(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => parse_timestamp(s),
        serde_json::Value::Number(n) => n.as_f64().map(|s| (s * 1000.0).round() as i64),
        _ => None,
    }
}

/// Reads the records of one input file.
pub fn read_records(path: &Path, input: &InputConfig) -> Result<Vec<FileRecord>> {
    let text = read(path)?;
    let mut out = Vec::new();
    match input.envelope.as_str() {
        "none" => {
            let start = match &input.start {
                Some(s) => parse_timestamp(s)
                    .ok_or_else(|| content(path, 0, format!("start \"{s}\" is not a timestamp")))?,
                None => 0,
            };
            let step = input.step_ms.unwrap_or(1000);
            let mut i = 0i64;
            for (n, line) in text.lines().enumerate() {
                if (n == 0 && input.header) || line.trim().is_empty() {
                    continue;
                }
                out.push(FileRecord::plain(
                    line.as_bytes().to_vec(),
                    start + i * step,
                    n + 1,
                ));
                i += 1;
            }
        }
        "arrival" => {
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let l: ArrivalLine = serde_json::from_str(line)
                    .map_err(|e| content(path, n + 1, format!("not an arrival envelope: {e}")))?;
                let arrival = parse_time_value(&l.arrival).ok_or_else(|| {
                    content(path, n + 1, format!("arrival {} is not a time", l.arrival))
                })?;
                let data = if input.format.eq_ignore_ascii_case("csv") {
                    match serde_json::from_str::<String>(l.data.get()) {
                        Ok(s) => s.into_bytes(),
                        Err(_) => l.data.get().as_bytes().to_vec(),
                    }
                } else {
                    l.data.get().as_bytes().to_vec()
                };
                out.push(FileRecord {
                    partition_key: l.partition_key,
                    ..FileRecord::plain(data, arrival, n + 1)
                });
            }
        }
        "kds" => {
            let mut records: Vec<(usize, KdsRecord)> = Vec::new();
            match serde_json::from_str::<KdsResponse>(&text) {
                Ok(r) => records.extend(r.records.into_iter().map(|r| (1, r))),
                Err(_) => {
                    for (n, line) in text.lines().enumerate() {
                        if line.trim().is_empty() {
                            continue;
                        }
                        if let Ok(r) = serde_json::from_str::<KdsResponse>(line) {
                            records.extend(r.records.into_iter().map(|r| (n + 1, r)));
                            continue;
                        }
                        let r: KdsRecord = serde_json::from_str(line).map_err(|e| {
                            content(path, n + 1, format!("not a Kinesis record: {e}"))
                        })?;
                        records.push((n + 1, r));
                    }
                }
            }
            for (line, r) in records {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r.data.trim())
                    .map_err(|e| content(path, line, format!("Data is not base64: {e}")))?;
                let arrival =
                    parse_time_value(&r.approximate_arrival_timestamp).ok_or_else(|| {
                        content(path, line, "ApproximateArrivalTimestamp is not a time")
                    })?;
                out.push(FileRecord {
                    partition_key: r.partition_key,
                    sequence_number: r.sequence_number,
                    ..FileRecord::plain(data, arrival, line)
                });
            }
        }
        other => return Err(content(path, 0, format!("unknown envelope \"{other}\""))),
    }
    Ok(out)
}

/// Reads the files of every input that has one (paths relative to `dir`)
/// and merges their records by arrival time: ties keep file order, and
/// inputs listed earlier come first. Each record is paired with the index
/// of its input. An input read from a Kinesis data stream is an error here:
/// replays and cases read files.
pub fn read_merged(dir: &Path, inputs: &[InputConfig]) -> Result<Vec<(usize, FileRecord)>> {
    let mut records = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if let InputSource::Video(v) = input.source()? {
            return Err(TestkitError::Engine(sluice_engine::EngineError::Config {
                context: format!("[[input]] {}", input.stream),
                message: format!(
                    "reads the fragments of Kinesis video stream \"{}\"; a replay or a case reads files: give the captured VIDEO_FRAGMENTS rows as a file",
                    v.name
                ),
            }));
        }
        if let InputSource::Kinesis(k) = input.source()? {
            return Err(TestkitError::Engine(sluice_engine::EngineError::Config {
                context: format!("[[input]] {}", input.stream),
                message: format!(
                    "reads the Kinesis data stream \"{}\"; a replay or a case reads files",
                    k.name
                ),
            }));
        }
        if let Some(file) = &input.file {
            for r in read_records(&dir.join(file), input)? {
                records.push((i, r));
            }
        }
    }
    records.sort_by_key(|(i, r)| (r.arrival_ms, *i));
    Ok(records)
}

/// Splits merged records into the runs they are fed in: consecutive records
/// of one input, at most `max` at a time.
pub fn runs(records: &[(usize, FileRecord)], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < records.len() {
        let mut j = k + 1;
        while j < records.len() && records[j].0 == records[k].0 && j - k < max.max(1) {
            j += 1;
        }
        out.push(k..j);
        k = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(envelope: &str, format: &str) -> InputConfig {
        sluice_engine::AppConfig::parse(
            &format!("[[input]]\nstream = \"S\"\nenvelope = \"{envelope}\"\nformat = \"{format}\"\nstart = \"2024-01-01T00:00:00Z\"\nstep_ms = 500\n"),
            "t",
        )
        .unwrap()
        .input
        .remove(0)
    }

    /// A test's own `sluice-envelope-{test}-{pid}` directory, removed with
    /// its files when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("sluice-envelope-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn none_arrival_and_kds() {
        let dir = Scratch::new("none");
        let p = dir.write("none.jsonl", "{\"a\":1}\n\n{\"a\":2}\n");
        let r = read_records(&p, &input("none", "json")).unwrap();
        assert_eq!(r[1].arrival_ms - r[0].arrival_ms, 500);
        assert_eq!(r[1].line, 3);

        let p = dir.write(
            "arrival.jsonl",
            "{\"arrival\": \"2024-01-01T00:00:01Z\", \"data\": {\"a\": 1}}\n{\"arrival\": \"2024-01-01T00:00:02Z\", \"data\": \"x,1\"}\n",
        );
        let r = read_records(&p, &input("arrival", "json")).unwrap();
        assert_eq!(r[0].data, b"{\"a\": 1}");
        let r = read_records(&p, &input("arrival", "csv")).unwrap();
        assert_eq!(r[1].data, b"x,1");

        let p = dir.write(
            "kds.json",
            "{\"Records\": [{\"SequenceNumber\": \"1\", \"ApproximateArrivalTimestamp\": 1704067200.5, \"Data\": \"eyJhIjoxfQ==\", \"PartitionKey\": \"k\"}]}",
        );
        let r = read_records(&p, &input("kds", "json")).unwrap();
        assert_eq!(r[0].data, b"{\"a\":1}");
        assert_eq!(r[0].arrival_ms, 1_704_067_200_500);
    }

    #[test]
    fn bad_envelope_names_file_and_line() {
        let dir = Scratch::new("bad");
        let p = dir.write(
            "bad.jsonl",
            "{\"arrival\": \"2024-01-01T00:00:01Z\", \"data\": 1}\nnot json\n",
        );
        let e = read_records(&p, &input("arrival", "json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.jsonl:2:"), "{e}");
    }
}
