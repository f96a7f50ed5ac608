//! Integration tests for sluice-firehose: the Firehose API end to end
//! (through `FirehoseApi::handle`) into a local-directory bucket.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sluice_firehose::{Firehose, FirehoseApi, FirehoseOptions, LocalBuckets, ManualClock};

struct Env {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    buckets: PathBuf,
    clock: ManualClock,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self {
            data: tmp.path().join("data"),
            buckets: tmp.path().join("buckets"),
            clock: ManualClock::at(Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()),
            _tmp: tmp,
        }
    }

    fn api(&self) -> FirehoseApi {
        let mut opts = FirehoseOptions::new(
            &self.data,
            Arc::new(LocalBuckets::new(&self.buckets)),
            Arc::new(self.clock.clone()),
        );
        opts.spawn_drivers = false;
        FirehoseApi::new(Firehose::open(opts).unwrap())
    }
}

async fn call(api: &FirehoseApi, op: &str, body: Value) -> (u16, Value) {
    let req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("X-Amz-Target", format!("Firehose_20150804.{op}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = api.handle(req).await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let k = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                // object_store writes an object to a staging file and renames
                // it: one seen here may be gone by the time it is read.
                match std::fs::read(&p) {
                    Ok(bytes) => out.push((k, bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => panic!("reading {k}: {e}"),
                }
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out.sort();
    out
}

fn create_body(name: &str, extra: Value) -> Value {
    let mut dest = json!({
        "RoleARN": "arn:aws:iam::123456789012:role/firehose",
        "BucketARN": "arn:aws:s3:::bucket-a",
    });
    if let (Some(d), Some(e)) = (dest.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    json!({"DeliveryStreamName": name, "DeliveryStreamType": "DirectPut",
           "ExtendedS3DestinationConfiguration": dest})
}

#[tokio::test]
async fn create_put_flush_describe() {
    let env = Env::new();
    let api = env.api();
    let (st, v) = call(
        &api,
        "CreateDeliveryStream",
        create_body("s", json!({"Prefix": "logs/"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["DeliveryStreamARN"],
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/s"
    );
    let (st, v) = call(&api, "CreateDeliveryStream", create_body("s", json!({}))).await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("ResourceInUseException"))
    );

    let (st, v) = call(
        &api,
        "PutRecordBatch",
        json!({"DeliveryStreamName": "s", "Records": [{"Data": b64(b"a\n")}, {"Data": b64(b"b\n")}]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["FailedPutCount"], 0);
    assert_eq!(v["RequestResponses"].as_array().unwrap().len(), 2);
    let (st, _) = call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"c\n")}}),
    )
    .await;
    assert_eq!(st, 200);

    api.firehose().flush_all().await.unwrap();
    let objs = files(&env.buckets.join("bucket-a"));
    assert_eq!(objs.len(), 1);
    assert!(
        objs[0]
            .0
            .starts_with("logs/2025/06/01/12/s-1-2025-06-01-12-00-00-"),
        "{}",
        objs[0].0
    );
    assert_eq!(objs[0].1, b"a\nb\nc\n");

    let (st, v) = call(
        &api,
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s"}),
    )
    .await;
    assert_eq!(st, 200);
    let d = &v["DeliveryStreamDescription"];
    assert_eq!(d["VersionId"], "1");
    assert_eq!(d["DeliveryStreamStatus"], "ACTIVE");
    let ext = &d["Destinations"][0]["ExtendedS3DestinationDescription"];
    assert_eq!(
        ext["BufferingHints"],
        json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
    );
    assert_eq!(ext["CompressionFormat"], "UNCOMPRESSED");

    let (_, v) = call(&api, "ListDeliveryStreams", json!({})).await;
    assert_eq!(
        v,
        json!({"DeliveryStreamNames": ["s"], "HasMoreDeliveryStreams": false})
    );
}

#[tokio::test]
async fn errors_have_aws_types() {
    let env = Env::new();
    let api = env.api();
    let (st, v) = call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "nope", "Record": {"Data": ""}}),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["__type"], "ResourceNotFoundException");
    assert_eq!(
        v["message"],
        "Firehose nope under account 123456789012 not found."
    );

    let (_, v) = call(
        &api,
        "CreateDeliveryStream",
        create_body("p", json!({"Prefix": "x/!{timestamp:yyyy}/"})),
    )
    .await;
    assert_eq!(v["__type"], "InvalidArgumentException", "{v}");

    call(&api, "CreateDeliveryStream", create_body("s", json!({}))).await;
    let recs: Vec<Value> = (0..501).map(|_| json!({"Data": b64(b"x")})).collect();
    let (_, v) = call(
        &api,
        "PutRecordBatch",
        json!({"DeliveryStreamName": "s", "Records": recs}),
    )
    .await;
    assert_eq!(v["__type"], "ValidationException", "{v}");
    let big = b64(&vec![b'x'; 1_024_001]);
    let (_, v) = call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": big}}),
    )
    .await;
    assert_eq!(v["__type"], "ValidationException", "{v}");
    let recs: Vec<Value> = (0..5)
        .map(|_| json!({"Data": b64(&vec![b'x'; 1_000_000])}))
        .collect();
    let (_, v) = call(
        &api,
        "PutRecordBatch",
        json!({"DeliveryStreamName": "s", "Records": recs}),
    )
    .await;
    assert_eq!(v["__type"], "InvalidArgumentException", "{v}");
    assert_eq!(v["message"], "Records size exceeds 4 MB limit");
    let (_, v) = call(&api, "Nope", json!({})).await;
    assert_eq!(v["__type"], "UnknownOperationException");

    let (_, v) = call(
        &api,
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "k", "DeliveryStreamType": "KinesisStreamAsSource",
               "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/x", "RoleARN": "r"},
               "ExtendedS3DestinationConfiguration": {"BucketARN": "arn:aws:s3:::b"}}),
    )
    .await;
    // this Firehose has no Kinesis Data Streams to read (FirehoseOptions::kinesis)
    assert_eq!(v["__type"], "InvalidArgumentException", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Kinesis Data Streams source"),
        "{v}"
    );
}

#[tokio::test]
async fn update_destination_checks_version_and_renames_objects() {
    let env = Env::new();
    let api = env.api();
    call(&api, "CreateDeliveryStream", create_body("s", json!({}))).await;
    call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"v1")}}),
    )
    .await;
    let upd = json!({"DeliveryStreamName": "s", "CurrentDeliveryStreamVersionId": "1",
                     "DestinationId": "destinationId-000000000001",
                     "ExtendedS3DestinationUpdate": {"CompressionFormat": "GZIP", "Prefix": "v2/"}});
    let (st, v) = call(&api, "UpdateDestination", upd.clone()).await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = call(&api, "UpdateDestination", upd).await;
    assert_eq!(v["__type"], "ConcurrentModificationException");
    call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"v2")}}),
    )
    .await;
    api.firehose().flush_all().await.unwrap();
    let objs = files(&env.buckets.join("bucket-a"));
    assert_eq!(objs.len(), 2);
    assert!(objs[0].0.starts_with("2025/06/01/12/s-1-"), "{}", objs[0].0);
    assert_eq!(objs[0].1, b"v1");
    assert!(
        objs[1].0.starts_with("v22025/06/01/12/s-2-")
            || objs[1].0.starts_with("v2/2025/06/01/12/s-2-"),
        "{}",
        objs[1].0
    );
    assert!(objs[1].0.ends_with(".gz"));
    let (_, v) = call(
        &api,
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s"}),
    )
    .await;
    assert_eq!(v["DeliveryStreamDescription"]["VersionId"], "2");
}

#[tokio::test]
async fn tags_round_trip() {
    let env = Env::new();
    let api = env.api();
    call(&api, "CreateDeliveryStream", create_body("s", json!({}))).await;
    let (st, _) = call(&api, "TagDeliveryStream", json!({"DeliveryStreamName": "s", "Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]})).await;
    assert_eq!(st, 200);
    call(
        &api,
        "UntagDeliveryStream",
        json!({"DeliveryStreamName": "s", "TagKeys": ["b"]}),
    )
    .await;
    let (_, v) = call(
        &api,
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "s"}),
    )
    .await;
    assert_eq!(
        v,
        json!({"Tags": [{"Key": "a", "Value": "1"}], "HasMoreTags": false})
    );
}

#[tokio::test]
async fn restart_recovers_streams_and_buffered_records() {
    let env = Env::new();
    {
        let api = env.api();
        call(
            &api,
            "CreateDeliveryStream",
            create_body("s", json!({"CompressionFormat": "Snappy"})),
        )
        .await;
        call(
            &api,
            "PutRecord",
            json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"kept")}}),
        )
        .await;
        // dropped without flushing: the process "crashes"
    }
    let api = env.api();
    let (_, v) = call(&api, "ListDeliveryStreams", json!({})).await;
    assert_eq!(v["DeliveryStreamNames"], json!(["s"]));
    api.firehose().flush_all().await.unwrap();
    let objs = files(&env.buckets.join("bucket-a"));
    assert_eq!(objs.len(), 1);
    assert!(objs[0].0.ends_with(".snappy"));
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut snap::read::FrameDecoder::new(&objs[0].1[..]), &mut out)
        .unwrap();
    assert_eq!(out, b"kept");
    let (st, _) = call(
        &api,
        "DeleteDeliveryStream",
        json!({"DeliveryStreamName": "s"}),
    )
    .await;
    assert_eq!(st, 200);
    let (_, v) = call(
        &api,
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s"}),
    )
    .await;
    assert_eq!(v["__type"], "ResourceNotFoundException");
}

/// A loopback endpoint answering Firehose's response contract; counts
/// requests and keeps their bodies.
async fn http_sink() -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let seen = Arc::clone(&s);
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let doc: Value = serde_json::from_slice(&body).unwrap();
                            let id = doc["requestId"].clone();
                            seen.lock().unwrap().push(doc);
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from(json!({"requestId": id, "timestamp": 0}).to_string()),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/"), seen)
}

#[tokio::test]
async fn http_endpoint_destination_through_the_api() {
    let env = Env::new();
    let api = env.api();
    let (url, seen) = http_sink().await;
    let body = json!({"DeliveryStreamName": "h", "DeliveryStreamType": "DirectPut",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": url, "Name": "sink", "AccessKey": "k"},
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "RetryOptions": {"DurationInSeconds": 30},
            "S3BackupMode": "FailedDataOnly",
            "S3Configuration": {"RoleARN": "arn:aws:iam::123456789012:role/r",
                "BucketARN": "arn:aws:s3:::failed"}}});
    let (st, v) = call(&api, "CreateDeliveryStream", body.clone()).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = call(
        &api,
        "PutRecordBatch",
        json!({"DeliveryStreamName": "h", "Records": [{"Data": b64(b"one")}, {"Data": b64(b"two")}]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = call(
        &api,
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "h"}),
    )
    .await;
    let d =
        &v["DeliveryStreamDescription"]["Destinations"][0]["HttpEndpointDestinationDescription"];
    assert_eq!(
        d["EndpointConfiguration"],
        json!({"Url": url, "Name": "sink"})
    );
    assert_eq!(d["S3BackupMode"], "FailedDataOnly");
    assert_eq!(d["RetryOptions"]["DurationInSeconds"], 30);
    assert_eq!(
        d["S3DestinationDescription"]["BucketARN"],
        "arn:aws:s3:::failed"
    );
    // the stream and its buffered records survive a restart
    drop(api);
    let api = env.api();
    api.firehose().flush_all().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0]["records"],
        json!([{"data": b64(b"one")}, {"data": b64(b"two")}])
    );
    assert!(!env.buckets.join("failed").exists());
    // an S3 destination and an HTTP endpoint together are refused
    let mut both = body;
    both["DeliveryStreamName"] = json!("h2");
    both["ExtendedS3DestinationConfiguration"] = json!({"BucketARN": "arn:aws:s3:::x"});
    let (st, v) = call(&api, "CreateDeliveryStream", both).await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("InvalidArgumentException"))
    );
}

/// Waits (real time, bounded) until `want` distinct records were delivered
/// under `root`; returns each record line with how often it was delivered.
async fn wait_delivered(root: &Path, want: usize) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..400 {
        seen.clear();
        if root.exists() {
            for (_, body) in files(root) {
                for line in String::from_utf8(body).unwrap().lines() {
                    *seen.entry(line.to_owned()).or_insert(0) += 1;
                }
            }
        }
        if seen.len() >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_stream_as_source_delivers_and_resumes_after_restart() {
    use sluice_kds::{Kds, KdsOptions, PutEntry, ReaderSource};
    let env = Env::new();
    let kds = Kds::open(
        env.data.join("kds"),
        KdsOptions::default(),
        Arc::new(sluice_kds::SystemClock),
    )
    .unwrap();
    kds.create_stream("src", Some(2)).unwrap();
    let put = |from: usize, to: usize| {
        for i in from..to {
            kds.put_record(
                "src",
                PutEntry {
                    partition_key: format!("pk{i}"),
                    explicit_hash_key: None,
                    data: format!("r{i:04}\n").into_bytes(),
                },
            )
            .unwrap();
        }
    };
    let open = || {
        let mut opts = FirehoseOptions::new(
            env.data.join("firehose"),
            Arc::new(LocalBuckets::new(&env.buckets)),
            Arc::new(env.clock.clone()),
        );
        opts.kinesis = Some(ReaderSource::Embedded(kds.clone()));
        FirehoseApi::new(Firehose::open(opts).unwrap())
    };
    let api = open();
    let body = |arn: &str| {
        json!({"DeliveryStreamName": "k", "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": arn,
                "RoleARN": "arn:aws:iam::123456789012:role/r"},
            "ExtendedS3DestinationConfiguration": {"BucketARN": "arn:aws:s3:::kb",
                "BufferingHints": {"IntervalInSeconds": 0}}})
    };
    let (st, v) = call(
        &api,
        "CreateDeliveryStream",
        body(&kds.stream_arn("missing")),
    )
    .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("InvalidArgumentException"))
    );
    assert!(
        v["message"].as_str().unwrap().contains("does not exist"),
        "{v}"
    );
    let (st, v) = call(&api, "CreateDeliveryStream", body(&kds.stream_arn("src"))).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "k", "Record": {"Data": b64(b"x")}}),
    )
    .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("InvalidArgumentException"))
    );
    put(0, 50);
    let seen = wait_delivered(&env.buckets.join("kb"), 50).await;
    assert_eq!(seen.len(), 50, "{seen:?}");
    assert!(api.firehose().source_error("k").unwrap().is_none());
    api.firehose().shutdown().await;
    drop(api);

    // written while the delivery stream is down: delivered after restart
    put(50, 80);
    let api = open();
    let seen = wait_delivered(&env.buckets.join("kb"), 80).await;
    api.firehose().shutdown().await;
    let want: Vec<String> = (0..80).map(|i| format!("r{i:04}")).collect();
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        want,
        "none missing"
    );
    let (_, v) = call(
        &api,
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "k"}),
    )
    .await;
    assert_eq!(
        v["DeliveryStreamDescription"]["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"],
        kds.stream_arn("src")
    );

    // without a Kinesis source configured, such streams are refused
    let plain = env.api();
    let (st, v) = call(&plain, "CreateDeliveryStream", {
        let mut b = body(&kds.stream_arn("src"));
        b["DeliveryStreamName"] = json!("k2");
        b
    })
    .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("InvalidArgumentException")),
        "{v}"
    );
}

/// AWS fails the whole PutRecordBatch when a record is over 1,000 KiB, naming
/// every such record; none of the good records around them is taken.
#[tokio::test]
async fn put_record_batch_oversize_record_fails_the_whole_call() {
    let env = Env::new();
    let api = env.api();
    let (st, v) = call(&api, "CreateDeliveryStream", create_body("big", json!({}))).await;
    assert_eq!(st, 200, "{v}");
    let over = vec![b'x'; 1_024_001];
    let (st, v) = call(
        &api,
        "PutRecordBatch",
        json!({"DeliveryStreamName": "big", "Records": [
            {"Data": b64(b"good-1\n")}, {"Data": b64(&over)},
            {"Data": b64(b"good-2\n")}, {"Data": b64(&over)}]}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["__type"], "ValidationException");
    let each = |i: usize| {
        format!(
            "Value 'java.nio.HeapByteBuffer[pos=0 lim=1024001 cap=1024001]' at 'records.{i}.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"
        )
    };
    assert_eq!(
        v["message"],
        format!("2 validation errors detected: {}; {}", each(2), each(4))
    );
    // PutRecord words it the same way
    let (st, v) = call(
        &api,
        "PutRecord",
        json!({"DeliveryStreamName": "big", "Record": {"Data": b64(&over)}}),
    )
    .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1024001 cap=1024001]' at 'record.data'"),
        "{v}"
    );
    // exactly 1,000 KiB is allowed
    let (st, v) = call(
        &api,
        "PutRecordBatch",
        json!({"DeliveryStreamName": "big", "Records": [
            {"Data": b64(b"ok\n")}, {"Data": b64(&over[..1_024_000])}]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["FailedPutCount"], 0);
    api.firehose().flush_all().await.unwrap();
    let objs = files(&env.buckets.join("bucket-a"));
    assert_eq!(
        objs.len(),
        1,
        "{:?}",
        objs.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let mut want = b"ok\n".to_vec();
    want.extend_from_slice(&over[..1_024_000]);
    assert_eq!(objs[0].1, want, "only the accepted batch is delivered");
}

/// A valid batch whose records cannot be made durable answers 200 with a
/// per-record ErrorCode for each and FailedPutCount; resent, they are taken.
#[tokio::test]
async fn put_record_batch_reports_records_it_could_not_take() {
    let env = Env::new();
    let api = env.api();
    let (st, v) = call(&api, "CreateDeliveryStream", create_body("fail", json!({}))).await;
    assert_eq!(st, 200, "{v}");
    // the stream's buffer directory becomes a file: no buffer can be opened
    let buffers = env.data.join("streams/fail/buffers");
    std::fs::remove_dir_all(&buffers).unwrap();
    std::fs::write(&buffers, b"not a directory").unwrap();
    let body = json!({"DeliveryStreamName": "fail", "Records": [
        {"Data": b64(b"a\n")}, {"Data": b64(b"b\n")}, {"Data": b64(b"c\n")}]});
    let (st, v) = call(&api, "PutRecordBatch", body.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["FailedPutCount"], 3);
    let entries = v["RequestResponses"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for e in entries {
        assert_eq!(e["ErrorCode"], "InternalFailure", "{e}");
        assert!(!e["ErrorMessage"].as_str().unwrap().is_empty());
        assert!(e.get("RecordId").is_none(), "{e}");
    }
    // the disk is back: the producer resends and the records are taken once
    std::fs::remove_file(&buffers).unwrap();
    std::fs::create_dir_all(&buffers).unwrap();
    let (st, v) = call(&api, "PutRecordBatch", body).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["FailedPutCount"], 0);
    api.firehose().flush_all().await.unwrap();
    let objs = files(&env.buckets.join("bucket-a"));
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0].1, b"a\nb\nc\n");
}

/// `FirehoseOptions::retention` (24 h by default, as AWS) reaches every
/// stream, created or reopened.
#[tokio::test]
async fn retention_option_reaches_the_streams() {
    let env = Env::new();
    let opts = |hours: u64| {
        let mut o = FirehoseOptions::new(
            &env.data,
            Arc::new(LocalBuckets::new(&env.buckets)),
            Arc::new(env.clock.clone()),
        );
        o.spawn_drivers = false;
        if hours > 0 {
            o.retention = std::time::Duration::from_secs(hours * 3600);
        }
        o
    };
    let api = FirehoseApi::new(Firehose::open(opts(0)).unwrap());
    let (st, v) = call(&api, "CreateDeliveryStream", create_body("r", json!({}))).await;
    assert_eq!(st, 200, "{v}");
    let day = std::time::Duration::from_secs(24 * 3600);
    assert_eq!(api.firehose().stream("r").unwrap().retention(), day);
    drop(api);
    let reopened = Firehose::open(opts(3)).unwrap();
    assert_eq!(
        reopened.stream("r").unwrap().retention(),
        std::time::Duration::from_secs(3 * 3600)
    );
}
