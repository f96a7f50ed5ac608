//! The data plane: PutRecord, PutRecords (with a fast path for the common
//! request shape), GetShardIterator and GetRecords.

use super::input::Input;
use super::*;

/// A PutRecord or PutRecords that passed AWS's checks: the records to
/// append to `stream`.
pub(super) struct PutRequest {
    stream: String,
    entries: Vec<PutEntry>,
}

impl KdsApi {
    /// PutRecord and PutRecords as the server runs them: checked as
    /// [`KdsApi::dispatch`] checks them, then appended with
    /// [`Kds::put_records_async`](crate::Kds::put_records_async), the
    /// request awaiting its group commit without holding a thread.
    /// `None` for any other operation.
    pub(super) async fn put_async(
        &self,
        operation: &str,
        body: &[u8],
        is_cbor: bool,
    ) -> Option<ApiResult> {
        let single = match operation {
            "PutRecord" => true,
            "PutRecords" => false,
            _ => return None,
        };
        let request = parse_request(body, is_cbor).and_then(|obj| {
            let mut input = Input::new(&obj);
            if single {
                self.put_record_request(&mut input)
            } else {
                self.put_records_request(&mut input)
            }
        });
        Some(match request {
            Ok(r) => {
                let outcomes = self.kds.put_records_async(&r.stream, r.entries).await;
                self.put_answer(&r.stream, single, outcomes)
            }
            Err(e) => Err(e),
        })
    }

    pub(super) fn put_entry(&self, input: &mut Input<'_>) -> ApiResult<Option<PutEntry>> {
        let data = input.blob("Data")?;
        let pk = input.string("PartitionKey")?;
        let ehk = input.string("ExplicitHashKey")?;
        if data.is_none() {
            input.fail("Data", None, "Member must not be null");
        }
        input.blob_length("Data", data.as_deref(), 1 << 20);
        input.required("PartitionKey", pk);
        input.length("PartitionKey", pk, 1, 256);
        input.pattern(
            "ExplicitHashKey",
            ehk,
            |s| is_decimal(s, 39),
            HASH_KEY_PATTERN,
        );
        Ok(match (data, pk) {
            (Some(data), Some(pk)) => Some(PutEntry {
                partition_key: pk.to_owned(),
                explicit_hash_key: ehk.map(str::to_owned),
                data,
            }),
            _ => None,
        })
    }

    pub(super) fn put_record(&self, input: &mut Input<'_>) -> ApiResult {
        let request = self.put_record_request(input)?;
        let outcomes = self.kds.put_records(&request.stream, request.entries);
        self.put_answer(&request.stream, true, outcomes)
    }

    /// PutRecord's checks, in AWS's order: the request to append, or the
    /// error AWS answers.
    pub(super) fn put_record_request(&self, input: &mut Input<'_>) -> ApiResult<PutRequest> {
        let entry = self.put_entry(input)?;
        let seq = input.string("SequenceNumberForOrdering")?;
        input.pattern(
            "SequenceNumberForOrdering",
            seq,
            |s| is_decimal(s, 129),
            SEQUENCE_PATTERN,
        );
        let name = self.need_stream(input)?;
        let entry =
            entry.ok_or_else(|| ApiError::invalid("Data and PartitionKey are required."))?;
        if !self.kds.stream_exists(&name) {
            return Err(self.kds.not_found(&name).into());
        }
        check_hash_key(&entry)?;
        if let Some(seq) = seq {
            // Records are ordered by arrival already; AWS only checks that
            // the number is one it could have made.
            let now_secs = (self.kds.clock().now_ms() / 1000) as u64;
            let valid = ids::SequenceNumber::parse(seq)
                .is_some_and(|p| p.arrival_secs().is_none_or(|a| a <= now_secs));
            if !valid {
                return Err(ApiError::invalid(format!(
                    "ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {name} under account {} is invalid.",
                    self.kds.account()
                )));
            }
        }
        Ok(PutRequest {
            stream: name,
            entries: vec![entry],
        })
    }

    /// The answer to a PutRecord (`single`) or PutRecords of `stream`,
    /// given its records' outcomes: a PutRecord's failed record is the
    /// request's error; a PutRecords' failed records are listed with
    /// their error codes.
    pub(super) fn put_answer(
        &self,
        stream: &str,
        single: bool,
        outcomes: crate::Result<Vec<std::result::Result<crate::PutOutcome, KdsError>>>,
    ) -> ApiResult {
        let outcomes = outcomes?;
        let mut answer = if single {
            let out = outcomes
                .into_iter()
                .next()
                .unwrap_or_else(|| Err(KdsError::invalid("no record")))?;
            json!({
                "ShardId": out.shard_id,
                "SequenceNumber": out.sequence_number,
            })
        } else {
            let mut failed = 0;
            let results: Vec<Value> = outcomes
                .into_iter()
                .map(|o| match o {
                    Ok(p) => json!({"SequenceNumber": p.sequence_number, "ShardId": p.shard_id}),
                    Err(e) => {
                        failed += 1;
                        let code = if e.aws_type() == "ProvisionedThroughputExceededException" {
                            "ProvisionedThroughputExceededException"
                        } else {
                            "InternalFailure"
                        };
                        json!({"ErrorCode": code, "ErrorMessage": e.to_string()})
                    }
                })
                .collect();
            json!({
                "FailedRecordCount": failed,
                "Records": results,
            })
        };
        // AWS names the encryption only when there is one.
        if self.encrypted(stream) {
            answer["EncryptionType"] = json!("KMS");
        }
        Ok(answer)
    }

    pub(super) fn encrypted(&self, name: &str) -> bool {
        self.kds.is_encrypted(name)
    }

    /// PutRecords in JSON without the generic `Value` tree: a typed parse
    /// and an answer written directly (the hot path of producers). Only
    /// takes plainly valid requests (StreamName, Records of Data and
    /// PartitionKey, every constraint met); anything else returns `None` for
    /// the general path, which answers AWS's exact errors. The answer is
    /// byte-for-byte what the general path would send.
    pub(super) fn put_records_fast(&self, body: &[u8]) -> Option<(StatusCode, Vec<u8>)> {
        let (name, entries) = self.put_records_fast_request(body)?;
        let outcomes = self.kds.put_records(&name, entries);
        Some(self.put_records_fast_answer(&name, outcomes))
    }

    /// [`Self::put_records_fast`] for the server's async handler: the same
    /// parse and answer, the records appended with
    /// [`Kds::put_records_async`](crate::Kds::put_records_async), so the
    /// request waits for its group commit without holding a thread.
    pub(super) async fn put_records_fast_async(
        &self,
        body: &[u8],
    ) -> Option<(StatusCode, Vec<u8>)> {
        let (name, entries) = self.put_records_fast_request(body)?;
        let outcomes = self.kds.put_records_async(&name, entries).await;
        Some(self.put_records_fast_answer(&name, outcomes))
    }

    /// The fast path's parse: the stream name and records of a plainly
    /// valid PutRecords request, or `None` for the general path.
    fn put_records_fast_request(&self, body: &[u8]) -> Option<(String, Vec<PutEntry>)> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request<'a> {
            #[serde(rename = "StreamName", borrow)]
            stream_name: std::borrow::Cow<'a, str>,
            #[serde(rename = "Records", borrow)]
            records: Vec<Entry<'a>>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry<'a> {
            #[serde(rename = "Data", borrow)]
            data: std::borrow::Cow<'a, str>,
            #[serde(rename = "PartitionKey", borrow)]
            partition_key: std::borrow::Cow<'a, str>,
        }
        let request: Request<'_> = serde_json::from_slice(body).ok()?;
        let name = request.stream_name;
        if name.len() > 128 || !is_name(&name) || !(1..=500).contains(&request.records.len()) {
            return None;
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut entries = Vec::with_capacity(request.records.len());
        let mut total = 0;
        for r in request.records {
            let data = b64.decode(r.data.as_bytes()).ok()?;
            let key_chars = r.partition_key.chars().count();
            if data.len() > 1 << 20 || !(1..=256).contains(&key_chars) {
                return None;
            }
            total += data.len() + r.partition_key.len();
            entries.push(PutEntry {
                partition_key: r.partition_key.into_owned(),
                explicit_hash_key: None,
                data,
            });
        }
        if total > 5 << 20 {
            return None;
        }
        Some((name.into_owned(), entries))
    }

    /// The fast path's answer to a put of `name`, in serde_json's key order.
    fn put_records_fast_answer(
        &self,
        name: &str,
        outcomes: crate::Result<Vec<std::result::Result<crate::PutOutcome, crate::KdsError>>>,
    ) -> (StatusCode, Vec<u8>) {
        let outcomes = match outcomes {
            Ok(o) => o,
            Err(e) => {
                let err = ApiError::from(e);
                return (err.status, err.body().to_string().into_bytes());
            }
        };
        // Keys in serde_json's (sorted) order, as the general path writes them.
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        let mut out = String::with_capacity(32 + outcomes.len() * 110);
        out.push_str(if self.encrypted(name) {
            "{\"EncryptionType\":\"KMS\",\"FailedRecordCount\":"
        } else {
            "{\"FailedRecordCount\":"
        });
        out.push_str(&failed.to_string());
        out.push_str(",\"Records\":[");
        for (i, o) in outcomes.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match o {
                Ok(p) => {
                    out.push_str("{\"SequenceNumber\":\"");
                    out.push_str(&p.sequence_number);
                    out.push_str("\",\"ShardId\":\"");
                    out.push_str(&p.shard_id);
                    out.push_str("\"}");
                }
                Err(e) => {
                    let code = if e.aws_type() == "ProvisionedThroughputExceededException" {
                        "ProvisionedThroughputExceededException"
                    } else {
                        "InternalFailure"
                    };
                    out.push_str(
                        &json!({"ErrorCode": code, "ErrorMessage": e.to_string()}).to_string(),
                    );
                }
            }
        }
        out.push_str("]}");
        (StatusCode::OK, out.into_bytes())
    }

    pub(super) fn put_records(&self, input: &mut Input<'_>) -> ApiResult {
        let request = self.put_records_request(input)?;
        let outcomes = self.kds.put_records(&request.stream, request.entries);
        self.put_answer(&request.stream, false, outcomes)
    }

    /// PutRecords' checks, in AWS's order: the request to append, or the
    /// error AWS answers.
    pub(super) fn put_records_request(&self, input: &mut Input<'_>) -> ApiResult<PutRequest> {
        let records = input.list("Records")?;
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        if let Some(records) = records {
            for (i, r) in records.iter().enumerate() {
                let obj = match r {
                    Value::Object(o) => o,
                    Value::Array(_) => {
                        return Err(ApiError::serialization(
                            "Start of list found where not expected",
                        ));
                    }
                    _ => return Err(ApiError::serialization("Expected null")),
                };
                let mut sub = Input::nested(obj, format!("records.{}.member.", i + 1));
                if let Some(e) = self.put_entry(&mut sub)? {
                    entries.push(e);
                }
                errors.extend(sub.take_errors());
            }
        }
        // AWS checks the members in the model's order: Records (the list,
        // then each entry), then StreamName; at most ten errors are told.
        match records {
            None => input.fail("Records", None, "Member must not be null"),
            Some(r) if r.is_empty() => input.fail(
                "Records",
                Some("[]".into()),
                "Member must have length greater than or equal to 1",
            ),
            Some(r) if r.len() > 500 => input.fail(
                "Records",
                Some(format!(
                    "[{}]",
                    // Java's toString of each entry, as AWS prints them.
                    vec![
                        "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310";
                        r.len()
                    ]
                    .join(", ")
                )),
                "Member must have length less than or equal to 500",
            ),
            _ => {}
        }
        let mut all = input.take_errors();
        all.extend(errors);
        let name = self.stream_ref(input)?;
        all.extend(input.take_errors());
        all.truncate(10);
        finish_errors(all)?;
        let name = name.ok_or_else(|| ApiError::invalid("StreamName or StreamARN is required."))?;
        let total: usize = entries
            .iter()
            .map(|e| e.data.len() + e.partition_key.len())
            .sum();
        if total > 5 << 20 {
            return Err(ApiError::invalid("Records size exceeds 5 MB limit"));
        }
        for e in &entries {
            check_hash_key(e)?;
        }
        Ok(PutRequest {
            stream: name,
            entries,
        })
    }

    pub(super) fn get_shard_iterator(&self, input: &mut Input<'_>) -> ApiResult {
        let shard = input.string("ShardId")?;
        let kind = input.string("ShardIteratorType")?;
        let seq = input.string("StartingSequenceNumber")?;
        let ts = input.timestamp("Timestamp")?;
        input.required("ShardId", shard);
        input.length("ShardId", shard, 1, 128);
        input.pattern("ShardId", shard, is_name, STREAM_NAME_PATTERN);
        input.required("ShardIteratorType", kind);
        input.enumeration(
            "ShardIteratorType",
            kind,
            // In the order AWS lists them.
            &[
                "AFTER_SEQUENCE_NUMBER",
                "LATEST",
                "AT_TIMESTAMP",
                "AT_SEQUENCE_NUMBER",
                "TRIM_HORIZON",
            ],
        );
        input.pattern(
            "StartingSequenceNumber",
            seq,
            |s| is_decimal(s, 129),
            SEQUENCE_PATTERN,
        );
        let name = self.need_stream(input)?;
        let (shard, kind) = (shard.unwrap_or_default(), kind.unwrap_or_default());
        let mismatch = |what: &str| {
            ApiError::invalid(format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} and {what} StartingSequenceNumber."
            ))
        };
        let start = match (kind, seq, ts) {
            ("TRIM_HORIZON" | "LATEST", Some(_), _) => return Err(mismatch("also a")),
            ("TRIM_HORIZON", None, _) => IteratorStart::TrimHorizon,
            ("LATEST", None, _) => IteratorStart::Latest,
            ("AT_SEQUENCE_NUMBER", Some(s), _) => IteratorStart::AtSequenceNumber(s.to_owned()),
            ("AFTER_SEQUENCE_NUMBER", Some(s), _) => {
                IteratorStart::AfterSequenceNumber(s.to_owned())
            }
            ("AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER", None, _) => {
                return Err(mismatch("no"));
            }
            ("AT_TIMESTAMP", _, Some(t)) => {
                let now = self.kds.clock().now_ms();
                if t > now {
                    // The time as AWS prints it: the request's seconds times 1000.
                    let shown = match input.get("Timestamp") {
                        Some(Value::Number(n)) => n
                            .as_f64()
                            .map_or(t.to_string(), |f| (f * 1000.0).to_string()),
                        _ => t.to_string(),
                    };
                    return Err(ApiError::invalid(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {shown}, currentTimestampInMillis: {now}"
                    )));
                }
                IteratorStart::AtTimestamp(t)
            }
            ("AT_TIMESTAMP", _, None) => {
                return Err(ApiError::invalid(
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.",
                ));
            }
            _ => return Err(mismatch("no")),
        };
        let it = self.kds.get_shard_iterator(&name, shard, &start)?;
        Ok(json!({ "ShardIterator": it.encode() }))
    }

    pub(super) fn get_records(&self, input: &mut Input<'_>) -> ApiResult {
        let token = input.string("ShardIterator")?;
        let limit = input.int("Limit")?;
        input.string("StreamARN")?;
        input.required("ShardIterator", token);
        input.length("ShardIterator", token, 1, 512);
        input.range("Limit", limit, 1, 10_000);
        input.finish()?;
        let it = token
            .and_then(ShardIterator::decode)
            .ok_or_else(|| ApiError::invalid("Invalid ShardIterator."))?;
        let out = self
            .kds
            .get_records(&it, limit.unwrap_or(10_000) as usize)?;
        Ok(records_output_json(&out))
    }
}

/// GetRecords' answer: Records, MillisBehindLatest, NextShardIterator or ChildShards.
pub(super) fn records_output_json(out: &GetRecordsOutput) -> Value {
    let records: Vec<Value> = out
        .records
        .iter()
        .map(|r| {
            let mut m = json!({
                "SequenceNumber": r.sequence_number,
                "ApproximateArrivalTimestamp": epoch_seconds(r.arrival_ms),
                "Data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                "PartitionKey": r.partition_key,
            });
            if r.encrypted {
                m["EncryptionType"] = json!("KMS");
            }
            m
        })
        .collect();
    let mut resp = json!({
        "Records": records,
        "MillisBehindLatest": out.millis_behind_latest,
    });
    match &out.next_shard_iterator {
        Some(next) => resp["NextShardIterator"] = json!(next.encode()),
        None => {
            let children: Vec<Value> = out
                .child_shards
                .iter()
                .map(|c| {
                    let parents: Vec<&String> = c
                        .parent_shard_id
                        .iter()
                        .chain(c.adjacent_parent_shard_id.iter())
                        .collect();
                    json!({
                        "ShardId": c.shard_id,
                        "ParentShards": parents,
                        "HashKeyRange": {
                            "StartingHashKey": c.starting_hash_key.to_string(),
                            "EndingHashKey": c.ending_hash_key.to_string(),
                        },
                    })
                })
                .collect();
            resp["ChildShards"] = Value::Array(children);
        }
    }
    resp
}

pub(super) fn check_hash_key(e: &PutEntry) -> ApiResult<()> {
    if let Some(k) = &e.explicit_hash_key
        && ids::parse_hash_key(k).is_none()
    {
        return Err(ApiError::invalid(format!(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"
        )));
    }
    Ok(())
}
