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
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(clock.clone())).unwrap();
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
