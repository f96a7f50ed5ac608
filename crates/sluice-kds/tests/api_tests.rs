//! The JSON API through `KdsApi::handle_json`, with a manual clock.

use std::sync::Arc;

use serde_json::{Value, json};
use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, ManualClock};

const T0: i64 = 1_700_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    api: KdsApi,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    fixture_with(KdsOptions::default())
}

fn fixture_with(options: KdsOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let kds = Kds::open(dir.path(), options, Arc::new(clock.clone())).unwrap();
    Fixture {
        _dir: dir,
        api: KdsApi::new(kds, ApiOptions::default()),
        clock,
    }
}

impl Fixture {
    fn call(&self, op: &str, body: Value) -> (u16, Value) {
        self.raw(
            Some(&format!("Kinesis_20131202.{op}")),
            body.to_string().as_bytes(),
        )
    }

    fn raw(&self, target: Option<&str>, body: &[u8]) -> (u16, Value) {
        let (status, bytes) = self.api.handle_json(target, body);
        if bytes.is_empty() {
            return (status.as_u16(), json!({}));
        }
        (status.as_u16(), serde_json::from_slice(&bytes).unwrap())
    }

    fn ok(&self, op: &str, body: Value) -> Value {
        let (status, v) = self.call(op, body);
        assert_eq!(status, 200, "{op}: {v}");
        v
    }

    fn err(&self, op: &str, body: Value) -> (String, String) {
        let (status, v) = self.call(op, body);
        assert_eq!(status, 400, "{op}: {v}");
        (
            v["__type"].as_str().unwrap().to_owned(),
            // SerializationException carries `Message`, the others `message`.
            v["message"]
                .as_str()
                .or(v["Message"].as_str())
                .unwrap_or("")
                .to_owned(),
        )
    }

    fn iterator(&self, stream: &str, shard: &str, extra: Value) -> String {
        let mut body = json!({"StreamName": stream, "ShardId": shard});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.ok("GetShardIterator", body)["ShardIterator"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn create_describe_list_delete() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s1", "ShardCount": 3}));
    let (t, m) = f.err("CreateStream", json!({"StreamName": "s1", "ShardCount": 3}));
    assert_eq!(t, "ResourceInUseException");
    assert_eq!(m, "Stream s1 under account 000000000000 already exists.");
    let d = f.ok("DescribeStream", json!({"StreamName": "s1"}));
    let d = &d["StreamDescription"];
    assert_eq!(d["StreamStatus"], "ACTIVE");
    assert_eq!(d["Shards"].as_array().unwrap().len(), 3);
    assert_eq!(d["RetentionPeriodHours"], 24);
    assert_eq!(
        d["StreamCreationTimestamp"].as_f64().unwrap(),
        1_700_000_000.0
    );
    assert_eq!(
        d["StreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/s1"
    );
    assert_eq!(d["Shards"][0]["HashKeyRange"]["StartingHashKey"], "0");
    assert_eq!(
        d["Shards"][2]["HashKeyRange"]["EndingHashKey"],
        "340282366920938463463374607431768211455"
    );
    let s = f.ok(
        "DescribeStreamSummary",
        json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s1"}),
    );
    assert_eq!(s["StreamDescriptionSummary"]["OpenShardCount"], 3);
    f.ok(
        "CreateStream",
        json!({"StreamName": "a..b", "ShardCount": 1}),
    );
    let l = f.ok("ListStreams", json!({"Limit": 1}));
    assert_eq!(l["StreamNames"], json!(["a..b"]));
    assert_eq!(l["HasMoreStreams"], true);
    let l2 = f.ok("ListStreams", json!({"NextToken": l["NextToken"]}));
    assert_eq!(l2["StreamNames"], json!(["s1"]));
    f.ok("DeleteStream", json!({"StreamName": "s1"}));
    let (t, m) = f.err("DescribeStream", json!({"StreamName": "s1"}));
    assert_eq!(t, "ResourceNotFoundException");
    assert_eq!(m, "Stream s1 under account 000000000000 not found.");
    let limits = f.ok("DescribeLimits", json!({}));
    assert_eq!(limits["OpenShardCount"], 1);
    assert_eq!(limits["ShardLimit"], 500);
}

#[test]
fn put_get_every_iterator_type() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let first = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64("zero")}),
    );
    assert_eq!(first["ShardId"], "shardId-000000000000");
    f.clock.advance(1000);
    let many = f.ok(
        "PutRecords",
        json!({"StreamName": "s", "Records": [
            {"PartitionKey": "a", "Data": b64("one")},
            {"PartitionKey": "b", "Data": b64("two")},
        ]}),
    );
    assert_eq!(many["FailedRecordCount"], 0);
    let seq1 = many["Records"][0]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let seq0 = first["SequenceNumber"].as_str().unwrap();
    assert!(seq0 < seq1.as_str());

    let shard = "shardId-000000000000";
    let data = |it: &str| -> (Vec<String>, Value) {
        let r = f.ok("GetRecords", json!({"ShardIterator": it}));
        let d = r["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Data"].as_str().unwrap().to_owned())
            .collect();
        (d, r)
    };
    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    let (d, r) = data(&th);
    assert_eq!(d, vec![b64("zero"), b64("one"), b64("two")]);
    assert_eq!(r["MillisBehindLatest"], 0);
    assert!(r["NextShardIterator"].is_string());
    let ts = r["Records"][1]["ApproximateArrivalTimestamp"]
        .as_f64()
        .unwrap();
    assert_eq!(ts, 1_700_000_001.0);

    let at = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": seq1}),
    );
    assert_eq!(data(&at).0, vec![b64("one"), b64("two")]);
    let after = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": seq1}),
    );
    assert_eq!(data(&after).0, vec![b64("two")]);
    let ts_it = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1_700_000_000.5}),
    );
    assert_eq!(data(&ts_it).0, vec![b64("one"), b64("two")]);
    let latest = f.iterator("s", shard, json!({"ShardIteratorType": "LATEST"}));
    let (d, r) = data(&latest);
    assert!(d.is_empty());
    f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64("three")}),
    );
    let next = r["NextShardIterator"].as_str().unwrap();
    assert_eq!(data(next).0, vec![b64("three")]);

    // Limit and MillisBehindLatest.
    f.clock.advance(5000);
    let r = f.ok("GetRecords", json!({"ShardIterator": th, "Limit": 1}));
    assert_eq!(r["Records"].as_array().unwrap().len(), 1);
    assert_eq!(r["MillisBehindLatest"], 5000);

    // Expiry after five minutes.
    f.clock.advance(300_001);
    let (t, m) = f.err("GetRecords", json!({"ShardIterator": th}));
    assert_eq!(t, "ExpiredIteratorException");
    assert!(
        m.starts_with("Iterator expired. The iterator was created at time "),
        "{m}"
    );
    let (t, m) = f.err("GetRecords", json!({"ShardIterator": "bm9wZQ=="}));
    assert_eq!(
        (t.as_str(), m.as_str()),
        ("InvalidArgumentException", "Invalid ShardIterator.")
    );
}

#[test]
fn routing_by_md5_and_explicit_hash_key() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 2}));
    // MD5("a") starts 0x0c: low half. MD5("b") = 92eb5ffe...: high half.
    let a = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": ""}),
    );
    let b = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "b", "Data": ""}),
    );
    assert_eq!(a["ShardId"], "shardId-000000000000");
    assert_eq!(b["ShardId"], "shardId-000000000001");
    let e = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": "",
               "ExplicitHashKey": "340282366920938463463374607431768211455"}),
    );
    assert_eq!(e["ShardId"], "shardId-000000000001");
    let (t, m) = f.err(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": "",
               "ExplicitHashKey": "340282366920938463463374607431768211456"}),
    );
    assert_eq!(t, "InvalidArgumentException");
    assert!(m.starts_with("Invalid ExplicitHashKey."), "{m}");
}

#[test]
fn bad_requests_get_aws_errors() {
    let f = fixture();
    let (s, v) = f.raw(Some("Kinesis_20131202.Nope"), b"{}");
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    let (s, v) = f.raw(None, b"{}");
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    let (s, v) = f.raw(Some("Kinesis_20131202.ListStreams"), b"{not json");
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (s, v) = f.raw(Some("Kinesis_20131202.ListStreams"), b"");
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (t, m) = f.err("CreateStream", json!({"StreamName": 5, "ShardCount": 1}));
    assert_eq!(t, "SerializationException");
    assert_eq!(
        m,
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    let (t, m) = f.err(
        "CreateStream",
        json!({"StreamName": "x", "ShardCount": "1"}),
    );
    assert_eq!(t, "SerializationException");
    assert_eq!(
        m,
        "class java.lang.String can not be converted to an Integer"
    );
    let (t, m) = f.err(
        "CreateStream",
        json!({"StreamName": "a/b", "ShardCount": 0}),
    );
    assert_eq!(t, "ValidationException");
    assert_eq!(
        m,
        "2 validation errors detected: Value 'a/b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    let (t, m) = f.err("DescribeStream", json!({}));
    assert_eq!(t, "ValidationException");
    assert_eq!(
        m,
        "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"
    );
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let (t, m) = f.err(
        "PutRecords",
        json!({"StreamName": "s", "Records": [{"PartitionKey": "", "Data": ""}]}),
    );
    assert_eq!(t, "ValidationException");
    assert!(m.contains("at 'records.1.member.partitionKey'"), "{m}");
    let (t, _) = f.err(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": "!!"}),
    );
    assert_eq!(t, "SerializationException");
    let (t, m) = f.err(
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": "shardId-000000000009", "ShardIteratorType": "LATEST"}),
    );
    assert_eq!(t, "ResourceNotFoundException");
    assert_eq!(
        m,
        "Shard shardId-000000000009 in stream s under account 000000000000 does not exist"
    );
    let (t, m) = f.err(
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_SEQUENCE_NUMBER"}),
    );
    assert_eq!(t, "InvalidArgumentException");
    assert!(m.ends_with("Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber."));
}

#[test]
fn retention_tags_and_list_shards_paging() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 5}));
    let (t, m) = f.err(
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 23}),
    );
    assert_eq!(t, "InvalidArgumentException");
    assert_eq!(
        m,
        "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short."
    );
    f.ok(
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 48}),
    );
    let (t, _) = f.err(
        "DecreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 72}),
    );
    assert_eq!(t, "InvalidArgumentException");
    f.ok(
        "DecreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 24}),
    );
    f.ok(
        "AddTagsToStream",
        json!({"StreamName": "s", "Tags": {"a": "1", "b": "2"}}),
    );
    f.ok(
        "RemoveTagsFromStream",
        json!({"StreamName": "s", "TagKeys": ["a"]}),
    );
    let tags = f.ok("ListTagsForStream", json!({"StreamName": "s"}));
    assert_eq!(tags["Tags"], json!([{"Key": "b", "Value": "2"}]));

    let mut seen = Vec::new();
    let mut page = f.ok("ListShards", json!({"StreamName": "s", "MaxResults": 2}));
    loop {
        for s in page["Shards"].as_array().unwrap() {
            seen.push(s["ShardId"].as_str().unwrap().to_owned());
        }
        match page["NextToken"].as_str() {
            Some(t) => page = f.ok("ListShards", json!({"NextToken": t, "MaxResults": 2})),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[4], "shardId-000000000004");
    let (t, m) = f.err("ListShards", json!({"StreamName": "s", "NextToken": "x"}));
    assert_eq!(t, "InvalidArgumentException");
    assert_eq!(m, "NextToken and StreamName cannot be provided together.");
    let after = f.ok(
        "ListShards",
        json!({"StreamName": "s", "ExclusiveStartShardId": "shardId-000000000002"}),
    );
    assert_eq!(after["Shards"].as_array().unwrap().len(), 2);
}

#[test]
fn split_merge_and_child_shards() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": b64("p")}),
    );
    let th = f.iterator(
        "s",
        "shardId-000000000000",
        json!({"ShardIteratorType": "TRIM_HORIZON"}),
    );
    f.ok(
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000",
               "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    );
    let (t, _) = f.err(
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000",
               "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    );
    assert_eq!(t, "ResourceInUseException");
    let d = f.ok("DescribeStream", json!({"StreamName": "s"}));
    let shards = d["StreamDescription"]["Shards"].as_array().unwrap().clone();
    assert_eq!(shards.len(), 3);
    assert!(shards[0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
    assert_eq!(shards[1]["ParentShardId"], "shardId-000000000000");
    // Reading the closed parent to its end names the children.
    let r = f.ok("GetRecords", json!({"ShardIterator": th}));
    assert_eq!(r["Records"].as_array().unwrap().len(), 1);
    assert!(r.get("NextShardIterator").is_none());
    assert_eq!(r["ChildShards"].as_array().unwrap().len(), 2);
    // New writes go to the children.
    let p = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": b64("c")}),
    );
    assert_eq!(p["ShardId"], "shardId-000000000001");
    f.ok(
        "MergeShards",
        json!({"StreamName": "s", "ShardToMerge": "shardId-000000000001",
               "AdjacentShardToMerge": "shardId-000000000002"}),
    );
    let open = f.ok(
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AT_LATEST"}}),
    );
    assert_eq!(open["Shards"][0]["ShardId"], "shardId-000000000003");
    assert_eq!(
        open["Shards"][0]["AdjacentParentShardId"],
        "shardId-000000000002"
    );
    let u = f.ok(
        "UpdateShardCount",
        json!({"StreamName": "s", "TargetShardCount": 2, "ScalingType": "UNIFORM_SCALING"}),
    );
    assert_eq!(u["CurrentShardCount"], 1);
    let s = f.ok("DescribeStreamSummary", json!({"StreamName": "s"}));
    assert_eq!(s["StreamDescriptionSummary"]["OpenShardCount"], 2);
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let seq = {
        let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(clock.clone())).unwrap();
        let api = KdsApi::new(kds, ApiOptions::default());
        api.handle_json(
            Some("Kinesis_20131202.CreateStream"),
            br#"{"StreamName":"s","ShardCount":2}"#,
        );
        let (_, b) = api.handle_json(
            Some("Kinesis_20131202.PutRecord"),
            br#"{"StreamName":"s","PartitionKey":"k","Data":"aGk="}"#,
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        v["SequenceNumber"].as_str().unwrap().to_owned()
    };
    let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(clock)).unwrap();
    let out = kds.describe_stream("s").unwrap();
    let shard = out
        .shards
        .iter()
        .find(|s| s.starting_sequence_number[..22] == seq[..22])
        .unwrap();
    let it = kds
        .get_shard_iterator(
            "s",
            &shard.shard_id,
            &sluice_kds::IteratorStart::TrimHorizon,
        )
        .unwrap();
    let r = kds.get_records(&it, 100).unwrap();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].sequence_number, seq);
    assert_eq!(r.records[0].data, b"hi");
}

#[test]
fn cbor_requests_and_answers() {
    use ciborium::value::Value as Cbor;
    let f = fixture();
    let req = |v: &Cbor| {
        let mut b = Vec::new();
        ciborium::ser::into_writer(v, &mut b).unwrap();
        b
    };
    let text = |s: &str| Cbor::Text(s.into());
    let (s, _) = f.api.handle_cbor(
        Some("Kinesis_20131202.CreateStream"),
        &req(&Cbor::Map(vec![
            (text("StreamName"), text("c")),
            (text("ShardCount"), Cbor::Integer(1.into())),
        ])),
    );
    assert_eq!(s.as_u16(), 200);
    let (s, _) = f.api.handle_cbor(
        Some("Kinesis_20131202.PutRecord"),
        &req(&Cbor::Map(vec![
            (text("StreamName"), text("c")),
            (text("PartitionKey"), text("k")),
            (text("Data"), Cbor::Bytes(b"raw".to_vec())),
        ])),
    );
    assert_eq!(s.as_u16(), 200);
    let it = f.iterator(
        "c",
        "shardId-000000000000",
        json!({"ShardIteratorType": "TRIM_HORIZON"}),
    );
    let (s, body) = f.api.handle_cbor(
        Some("Kinesis_20131202.GetRecords"),
        &req(&Cbor::Map(vec![(text("ShardIterator"), text(&it))])),
    );
    assert_eq!(s.as_u16(), 200);
    let v: Cbor = ciborium::de::from_reader(body.as_slice()).unwrap();
    let dbg = format!("{v:?}");
    assert!(dbg.contains("Bytes([114, 97, 119])"), "{dbg}");
    assert!(
        dbg.contains("Tag(1, Integer(Integer(1700000000000)))"),
        "{dbg}"
    );
    let (s, body) = f
        .api
        .handle_cbor(Some("Kinesis_20131202.GetRecords"), b"\xff\xff");
    assert_eq!(s.as_u16(), 400);
    let v: Cbor = ciborium::de::from_reader(body.as_slice()).unwrap();
    assert!(format!("{v:?}").contains("SerializationException"));
}

#[test]
fn stream_consumers() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
    let c = f.ok(
        "RegisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c1"}),
    );
    let carn = c["Consumer"]["ConsumerARN"].as_str().unwrap().to_owned();
    assert_eq!(carn, format!("{arn}/consumer/c1:1700000000"));
    let (t, _) = f.err(
        "RegisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c1"}),
    );
    assert_eq!(t, "ResourceInUseException");
    let d = f.ok("DescribeStreamConsumer", json!({"ConsumerARN": carn}));
    assert_eq!(d["ConsumerDescription"]["StreamARN"], arn);
    f.ok(
        "RegisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c2"}),
    );
    let l = f.ok(
        "ListStreamConsumers",
        json!({"StreamARN": arn, "MaxResults": 1}),
    );
    assert_eq!(l["Consumers"][0]["ConsumerName"], "c1");
    let l = f.ok(
        "ListStreamConsumers",
        json!({"StreamARN": arn, "NextToken": l["NextToken"]}),
    );
    assert_eq!(l["Consumers"][0]["ConsumerName"], "c2");
    let s = f.ok("DescribeStreamSummary", json!({"StreamName": "s"}));
    assert_eq!(s["StreamDescriptionSummary"]["ConsumerCount"], 2);
    f.ok(
        "DeregisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c1"}),
    );
    let (t, _) = f.err("DescribeStreamConsumer", json!({"ConsumerARN": carn}));
    assert_eq!(t, "ResourceNotFoundException");
}

const HOUR: i64 = 3_600_000;

impl Fixture {
    fn datas(&self, iterator: &str) -> Vec<String> {
        self.ok("GetRecords", json!({"ShardIterator": iterator}))["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Data"].as_str().unwrap().to_owned())
            .collect()
    }

    fn put(&self, stream: &str, data: &str) -> String {
        self.ok(
            "PutRecord",
            json!({"StreamName": stream, "PartitionKey": "k", "Data": b64(data)}),
        )["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn starting_sequence_number(&self, stream: &str) -> Value {
        self.ok("DescribeStream", json!({"StreamName": stream}))["StreamDescription"]["Shards"][0]
            ["SequenceNumberRange"]["StartingSequenceNumber"]
            .clone()
    }
}

#[test]
fn retention_deletes_expired_records_as_aws_shows_it() {
    // One segment per write, so retention can drop each record on its own.
    let f = fixture_with(KdsOptions {
        segment_bytes: 1,
        ..KdsOptions::default()
    });
    let shard = "shardId-000000000000";
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let start = f.starting_sequence_number("s");
    let old = f.put("s", "old");
    f.clock.advance(HOUR);
    let kept = f.put("s", "kept");
    // 24.5 hours after the first write: it has expired, the second has not.
    f.clock.advance(23 * HOUR + HOUR / 2);
    let before = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    let at_old = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": old}),
    );
    // What the server's retention task (spawn_retention) runs each minute.
    f.api.kds().enforce_retention().unwrap();

    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    assert_eq!(f.datas(&th), vec![b64("kept")]);
    let r = f.ok("GetRecords", json!({"ShardIterator": th}));
    assert_eq!(r["Records"][0]["SequenceNumber"], json!(kept));
    // Iterators at an expired position read from the trim horizon: taken
    // before the trim, or after it at the expired record's sequence number.
    assert_eq!(f.datas(&before), vec![b64("kept")]);
    assert_eq!(f.datas(&at_old), vec![b64("kept")]);
    let at = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": old}),
    );
    assert_eq!(f.datas(&at), vec![b64("kept")]);
    let after = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": old}),
    );
    assert_eq!(f.datas(&after), vec![b64("kept")]);
    let ts = f.iterator(
        "s",
        shard,
        json!({"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": T0 / 1000}),
    );
    assert_eq!(f.datas(&ts), vec![b64("kept")]);
    // The shard's StartingSequenceNumber does not move with the trim horizon.
    assert_eq!(f.starting_sequence_number("s"), start);
    let listed = f.ok("ListShards", json!({"StreamName": "s"}));
    assert_eq!(
        listed["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"],
        start
    );
    let (t, _) = f.err(
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": shard, "ShardIteratorType": "AT_SEQUENCE_NUMBER",
               "StartingSequenceNumber": "1"}),
    );
    assert_eq!(t, "InvalidArgumentException");
}

#[test]
fn decreasing_retention_deletes_what_it_leaves_behind() {
    let f = fixture_with(KdsOptions {
        segment_bytes: 1,
        ..KdsOptions::default()
    });
    let shard = "shardId-000000000000";
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    f.ok(
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 48}),
    );
    f.put("s", "day0");
    f.clock.advance(30 * HOUR);
    f.put("s", "day1");
    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    assert_eq!(f.datas(&th), vec![b64("day0"), b64("day1")]);
    f.ok(
        "DecreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 24}),
    );
    let d = f.ok("DescribeStreamSummary", json!({"StreamName": "s"}));
    assert_eq!(d["StreamDescriptionSummary"]["RetentionPeriodHours"], 24);
    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    assert_eq!(f.datas(&th), vec![b64("day1")]);
}

#[test]
fn stream_encryption_start_and_stop() {
    let f = fixture_with(KdsOptions {
        update_delay_ms: 1000,
        ..KdsOptions::default()
    });
    let shard = "shardId-000000000000";
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let summary = |f: &Fixture| {
        f.ok("DescribeStreamSummary", json!({"StreamName": "s"}))["StreamDescriptionSummary"]
            .clone()
    };
    let describe = |f: &Fixture| {
        f.ok("DescribeStream", json!({"StreamName": "s"}))["StreamDescription"].clone()
    };
    let d = describe(&f);
    assert_eq!(d["EncryptionType"], "NONE");
    assert!(d.get("KeyId").is_none(), "{d}");
    assert_eq!(summary(&f)["EncryptionType"], "NONE");
    // AWS names no EncryptionType in a put's answer while there is none.
    let p = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64("plain")}),
    );
    assert!(p.get("EncryptionType").is_none(), "{p}");
    let p = f.ok(
        "PutRecords",
        json!({"StreamName": "s", "Records": [{"PartitionKey": "k", "Data": b64("plain2")}]}),
    );
    assert!(p.get("EncryptionType").is_none(), "{p}");
    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    let r = f.ok("GetRecords", json!({"ShardIterator": th}));
    assert!(r["Records"][0].get("EncryptionType").is_none(), "{r}");

    // StartStreamEncryption answers an empty body; the stream is UPDATING a while.
    let (status, body) = f.api.handle_json(
        Some("Kinesis_20131202.StartStreamEncryption"),
        json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!((status.as_u16(), body.as_slice()), (200, &b""[..]));
    let d = describe(&f);
    assert_eq!(d["StreamStatus"], "UPDATING");
    assert_eq!(d["EncryptionType"], "KMS");
    assert_eq!(d["KeyId"], "alias/aws/kinesis");
    f.clock.advance(1000);
    let s = summary(&f);
    assert_eq!(s["StreamStatus"], "ACTIVE");
    assert_eq!(s["EncryptionType"], "KMS");
    assert_eq!(s["KeyId"], "alias/aws/kinesis");
    let p = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64("secret")}),
    );
    assert_eq!(p["EncryptionType"], "KMS");
    let p = f.ok(
        "PutRecords",
        json!({"StreamName": "s", "Records": [{"PartitionKey": "k", "Data": b64("secret2")}]}),
    );
    assert_eq!(p["EncryptionType"], "KMS");
    assert_eq!(p["FailedRecordCount"], 0);
    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    let r = f.ok("GetRecords", json!({"ShardIterator": th}));
    assert_eq!(r["Records"][2]["EncryptionType"], "KMS");
    assert_eq!(r["Records"][3]["EncryptionType"], "KMS");

    f.ok(
        "StopStreamEncryption",
        json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    );
    f.clock.advance(1000);
    let d = describe(&f);
    assert_eq!(d["EncryptionType"], "NONE");
    assert!(d.get("KeyId").is_none(), "{d}");
    let p = f.ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64("plain3")}),
    );
    assert!(p.get("EncryptionType").is_none(), "{p}");
    // Each record keeps the encryption it was written with.
    let th = f.iterator("s", shard, json!({"ShardIteratorType": "TRIM_HORIZON"}));
    let r = f.ok("GetRecords", json!({"ShardIterator": th}));
    let kinds: Vec<Option<&str>> = r["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.get("EncryptionType").and_then(Value::as_str))
        .collect();
    assert_eq!(kinds, [None, None, Some("KMS"), Some("KMS"), None]);
}

#[test]
fn stream_encryption_validation() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    for op in ["StartStreamEncryption", "StopStreamEncryption"] {
        let (t, m) = f.err(op, json!({"StreamName": "s", "KeyId": "k"}));
        assert_eq!(t, "ValidationException");
        assert_eq!(
            m,
            "1 validation error detected: Value null at 'encryptionType' failed to satisfy constraint: Member must not be null"
        );
        let (t, m) = f.err(op, json!({"StreamName": "s", "EncryptionType": "KMS"}));
        assert_eq!(t, "ValidationException");
        assert_eq!(
            m,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        let (t, m) = f.err(
            op,
            json!({"StreamName": "s", "EncryptionType": "AES", "KeyId": "k"}),
        );
        assert_eq!(t, "ValidationException");
        // AWS lists the set in an order of its own; both values are in it.
        assert!(
            m.starts_with("1 validation error detected: Value 'AES' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: ["),
            "{m}"
        );
        assert!(m.contains("KMS") && m.contains("NONE"), "{m}");
        let (t, m) = f.err(
            op,
            json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": ""}),
        );
        assert_eq!(t, "ValidationException");
        assert_eq!(
            m,
            "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        let long = "k".repeat(2049);
        let (t, m) = f.err(
            op,
            json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": long}),
        );
        assert_eq!(t, "ValidationException");
        assert_eq!(
            m,
            format!(
                "1 validation error detected: Value '{long}' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048"
            )
        );
        let (t, m) = f.err(
            op,
            json!({"StreamName": "nope", "EncryptionType": "KMS", "KeyId": "k"}),
        );
        assert_eq!(t, "ResourceNotFoundException");
        assert_eq!(m, "Stream nope under account 000000000000 not found.");
        let (t, m) = f.err(
            op,
            json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": 5}),
        );
        assert_eq!(t, "SerializationException");
        assert_eq!(
            m,
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
        );
    }
}

/// AWS stops serving a record once it is older than the retention period,
/// whatever else the shard holds: also in the segment being written, which
/// is never deleted whole (the log's horizon moves past it).
#[test]
fn retention_expires_records_of_the_open_segment() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    f.put("s", "old");
    f.clock.advance(25 * HOUR);
    f.api.kds().enforce_retention().unwrap();
    let th = f.iterator(
        "s",
        "shardId-000000000000",
        json!({"ShardIteratorType": "TRIM_HORIZON"}),
    );
    assert_eq!(f.datas(&th), Vec::<String>::new());
}

/// ListShards' paging rules: a NextToken stands alone (no stream, start
/// shard or creation time beside it), lasts 300 seconds, and the timestamp
/// filters need their Timestamp.
#[test]
fn list_shards_token_rules() {
    let f = fixture();
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 3}));
    let page = f.ok("ListShards", json!({"StreamName": "s", "MaxResults": 1}));
    let token = page["NextToken"].as_str().unwrap().to_owned();
    let next = f.ok("ListShards", json!({"NextToken": token, "MaxResults": 1}));
    assert_eq!(next["Shards"][0]["ShardId"], "shardId-000000000001");
    for (extra, member) in [
        (
            json!({"ExclusiveStartShardId": "shardId-000000000000"}),
            "ExclusiveStartShardId",
        ),
        (
            json!({"StreamCreationTimestamp": 1_700_000_000}),
            "StreamCreationTimestamp",
        ),
    ] {
        let mut body = json!({"NextToken": token});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (t, m) = f.err("ListShards", body);
        assert_eq!(t, "InvalidArgumentException");
        assert_eq!(
            m,
            format!("NextToken and {member} cannot be provided together.")
        );
    }
    let (t, m) = f.err(
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AT_TIMESTAMP"}}),
    );
    assert_eq!(t, "InvalidArgumentException");
    assert_eq!(
        m,
        "Must specify Timestamp for shard filter type AT_TIMESTAMP."
    );
    f.clock.advance(300_001);
    let (t, _) = f.err("ListShards", json!({"NextToken": token}));
    assert_eq!(t, "ExpiredNextTokenException");
}
