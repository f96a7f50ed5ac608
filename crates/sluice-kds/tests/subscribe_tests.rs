//! SubscribeToShard through `KdsApi::handle_any`, with a manual clock: the
//! event stream's messages decoded frame by frame, in JSON and in CBOR (the
//! Java SDK's protocol), at the end of a closed shard and at the end of the
//! five-minute subscription.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ciborium::value::Value as Cbor;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sluice_kds::api::ApiBody;
use sluice_kds::eventstream::{self, Message};
use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, ManualClock};

const T0: i64 = 1_700_000_000_000;
const CBOR: &str = "application/x-amz-cbor-1.1";
const JSON: &str = "application/x-amz-json-1.1";
const UNSIGNED_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0";
const SHARD0: &str = "shardId-000000000000";

struct Fixture {
    _dir: tempfile::TempDir,
    api: KdsApi,
    clock: ManualClock,
    consumer_arn: String,
}

/// A stream `s` of one shard and a registered consumer.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(clock.clone())).unwrap();
    let api = KdsApi::new(kds, ApiOptions::default());
    let f = Fixture {
        _dir: dir,
        api,
        clock,
        consumer_arn: String::new(),
    };
    f.ok("CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let c = f.ok(
        "RegisterStreamConsumer",
        json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "ConsumerName": "efo"}),
    );
    Fixture {
        consumer_arn: c["Consumer"]["ConsumerARN"].as_str().unwrap().to_owned(),
        ..f
    }
}

impl Fixture {
    fn ok(&self, op: &str, body: Value) -> Value {
        let (status, bytes) = self.api.handle_json(
            Some(&format!("Kinesis_20131202.{op}")),
            body.to_string().as_bytes(),
        );
        let v = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        assert_eq!(status.as_u16(), 200, "{op}: {v}");
        v
    }

    fn put(&self, data: &str) -> String {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(data);
        self.ok(
            "PutRecord",
            json!({"StreamName": "s", "PartitionKey": "a", "Data": data}),
        )["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends SubscribeToShard with `body` in `content_type`.
    async fn subscribe(&self, content_type: &str, body: Vec<u8>) -> http::Response<ApiBody> {
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "localhost")
            .header("authorization", UNSIGNED_AUTH)
            .header("x-amz-date", "20260101T000000Z")
            .header("x-amz-target", "Kinesis_20131202.SubscribeToShard")
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.api.handle_any(req).await
    }

    fn json_request(&self, shard: &str, position: Value) -> Vec<u8> {
        json!({"ConsumerARN": self.consumer_arn, "ShardId": shard, "StartingPosition": position})
            .to_string()
            .into_bytes()
    }
}

/// Reads an event stream message by message.
struct Events {
    body: ApiBody,
    buf: Vec<u8>,
}

impl Events {
    fn new(resp: http::Response<ApiBody>) -> Events {
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.amazon.eventstream"
        );
        Events {
            body: resp.into_body(),
            buf: Vec::new(),
        }
    }

    /// The next message, or `None` when the stream has ended.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some((m, used)) = eventstream::decode_message(&self.buf).unwrap() {
                self.buf.drain(..used);
                return Some(m);
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("the stream neither sent nor ended within 10 s");
            match frame {
                None => {
                    assert!(self.buf.is_empty(), "stream ended mid-message");
                    return None;
                }
                Some(f) => {
                    if let Ok(data) = f.unwrap().into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next SubscribeToShardEvent (JSON) that carries records or child
    /// shards, skipping the empty ones sent while the shard is idle.
    async fn next_batch(&mut self) -> Option<Value> {
        while let Some(m) = self.next().await {
            assert_eq!(m.header(":message-type"), Some("event"), "{m:?}");
            assert_eq!(m.header(":event-type"), Some("SubscribeToShardEvent"));
            assert_eq!(m.header(":content-type"), Some(JSON));
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            if !v["Records"].as_array().unwrap().is_empty() || v.get("ChildShards").is_some() {
                return Some(v);
            }
        }
        None
    }
}

fn datas(event: &Value) -> Vec<String> {
    use base64::Engine as _;
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(r["Data"].as_str().unwrap())
                .unwrap();
            String::from_utf8(b).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_shard_ends_with_child_shards_and_no_continuation() {
    let f = fixture();
    f.put("p0");
    f.put("p1");
    f.ok(
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": SHARD0,
               "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    );
    let resp = f
        .subscribe(
            JSON,
            f.json_request(SHARD0, json!({"Type": "TRIM_HORIZON"})),
        )
        .await;
    let mut events = Events::new(resp);
    let initial = events.next().await.unwrap();
    assert_eq!(initial.header(":event-type"), Some("initial-response"));
    assert_eq!(initial.header(":message-type"), Some("event"));
    assert_eq!(initial.payload, b"{}");
    let last = events.next_batch().await.unwrap();
    assert_eq!(datas(&last), ["p0", "p1"]);
    // AWS ends a closed shard with ChildShards and no
    // ContinuationSequenceNumber: the KCL reads that as the shard's end.
    assert!(last.get("ContinuationSequenceNumber").is_none(), "{last}");
    assert_eq!(last["MillisBehindLatest"], 0);
    assert_eq!(
        last["ChildShards"],
        json!([
            {"ShardId": "shardId-000000000001", "ParentShards": [SHARD0],
             "HashKeyRange": {"StartingHashKey": "0",
                              "EndingHashKey": "170141183460469231731687303715884105727"}},
            {"ShardId": "shardId-000000000002", "ParentShards": [SHARD0],
             "HashKeyRange": {"StartingHashKey": "170141183460469231731687303715884105728",
                              "EndingHashKey": "340282366920938463463374607431768211455"}},
        ])
    );
    assert!(
        events.next().await.is_none(),
        "the stream goes on after ChildShards"
    );

    // A child is open: its events carry a ContinuationSequenceNumber and no ChildShards.
    let seq = f.put("c0");
    let resp = f
        .subscribe(
            JSON,
            f.json_request("shardId-000000000001", json!({"Type": "TRIM_HORIZON"})),
        )
        .await;
    let mut events = Events::new(resp);
    events.next().await.unwrap();
    let e = events.next_batch().await.unwrap();
    assert_eq!(datas(&e), ["c0"]);
    assert_eq!(e["ContinuationSequenceNumber"], json!(seq));
    assert!(e.get("ChildShards").is_none(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_ends_after_five_minutes() {
    let f = fixture();
    let resp = f
        .subscribe(JSON, f.json_request(SHARD0, json!({"Type": "LATEST"})))
        .await;
    let mut events = Events::new(resp);
    assert_eq!(
        events.next().await.unwrap().header(":event-type"),
        Some("initial-response")
    );
    let seq = f.put("r0");
    let e = events.next_batch().await.unwrap();
    assert_eq!(datas(&e), ["r0"]);
    assert_eq!(e["ContinuationSequenceNumber"], json!(seq));
    assert_eq!(e["Records"][0]["SequenceNumber"], json!(seq));
    assert_eq!(e["Records"][0]["PartitionKey"], "a");
    assert!(e["Records"][0].get("EncryptionType").is_none(), "{e}");
    // One millisecond short of five minutes the subscription still delivers.
    f.clock.advance(5 * 60 * 1000 - 1);
    f.put("r1");
    let e = events.next_batch().await.unwrap();
    assert_eq!(datas(&e), ["r1"]);
    assert_eq!(e["MillisBehindLatest"], 0);
    // At five minutes the stream ends: the client subscribes again.
    f.clock.advance(1);
    while let Some(m) = events.next().await {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert!(v["Records"].as_array().unwrap().is_empty(), "{v}");
    }
}

fn cbor_bytes(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

fn cbor_get<'a>(v: &'a Cbor, key: &str) -> Option<&'a Cbor> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, x)| x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbor_subscription_sends_cbor_events() {
    let f = fixture();
    let seq = f.put("cbor-record");
    let text = |s: &str| Cbor::Text(s.into());
    let request = |carn: &str| {
        cbor_bytes(&Cbor::Map(vec![
            (text("ConsumerARN"), text(carn)),
            (text("ShardId"), text(SHARD0)),
            (
                text("StartingPosition"),
                Cbor::Map(vec![(text("Type"), text("TRIM_HORIZON"))]),
            ),
        ]))
    };
    let resp = f.subscribe(CBOR, request(&f.consumer_arn)).await;
    let mut events = Events::new(resp);
    let initial = events.next().await.unwrap();
    assert_eq!(initial.header(":event-type"), Some("initial-response"));
    assert_eq!(initial.header(":content-type"), Some(CBOR));
    let v: Cbor = ciborium::de::from_reader(initial.payload.as_slice()).unwrap();
    assert_eq!(v, Cbor::Map(vec![]));

    let event = events.next().await.unwrap();
    assert_eq!(event.header(":event-type"), Some("SubscribeToShardEvent"));
    assert_eq!(event.header(":message-type"), Some("event"));
    assert_eq!(event.header(":content-type"), Some(CBOR));
    let v: Cbor = ciborium::de::from_reader(event.payload.as_slice()).unwrap();
    assert_eq!(
        cbor_get(&v, "ContinuationSequenceNumber"),
        Some(&text(&seq))
    );
    assert_eq!(
        cbor_get(&v, "MillisBehindLatest"),
        Some(&Cbor::Integer(0.into()))
    );
    let records = cbor_get(&v, "Records").and_then(Cbor::as_array).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    // Blobs as byte strings, timestamps as tag 1 epoch milliseconds.
    assert_eq!(
        cbor_get(r, "Data"),
        Some(&Cbor::Bytes(b"cbor-record".to_vec()))
    );
    assert_eq!(
        cbor_get(r, "ApproximateArrivalTimestamp"),
        Some(&Cbor::Tag(1, Box::new(Cbor::Integer(T0.into()))))
    );
    assert_eq!(cbor_get(r, "SequenceNumber"), Some(&text(&seq)));
    assert_eq!(cbor_get(r, "PartitionKey"), Some(&text("a")));
    drop(events);

    // An error before the stream starts is answered in CBOR too.
    let resp = f
        .subscribe(
            CBOR,
            request("arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/nobody:1"),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], CBOR);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Cbor = ciborium::de::from_reader(body.as_ref()).unwrap();
    assert_eq!(
        cbor_get(&v, "__type"),
        Some(&text("ResourceNotFoundException"))
    );
    let resp = f.subscribe(CBOR, b"\xff\xff".to_vec()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], CBOR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_stream_events_name_kms() {
    let f = fixture();
    f.ok(
        "StartStreamEncryption",
        json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    );
    f.put("secret");
    let resp = f
        .subscribe(
            JSON,
            f.json_request(SHARD0, json!({"Type": "TRIM_HORIZON"})),
        )
        .await;
    let mut events = Events::new(resp);
    events.next().await.unwrap();
    let e = events.next_batch().await.unwrap();
    assert_eq!(e["Records"][0]["EncryptionType"], "KMS");
}
