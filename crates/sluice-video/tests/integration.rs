//! Integration tests for sluice-video: the HTTP API end to end over
//! loopback — control plane, PutMedia with ACKs, GetMedia in the layout of
//! the real service's samples, ListFragments, GetMediaForFragmentList, and
//! bad input.

// Test helpers outside #[test] fns panic on failure on purpose.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sluice_video::ebml::{self, read_header, read_simple_tags};
use sluice_video::follow;
use sluice_video::mkv::testing;
use sluice_video::{Clock, ManualClock, SystemClock, VideoApi, VideoConfig, server};
use tokio::net::{TcpListener, TcpStream};

// ---------- test media, built by hand ----------

fn header(tracks: &[u64]) -> Vec<u8> {
    testing::header_with(tracks, 100_000_000, Some((320, 240)))
}

/// Unknown-size cluster at `tc` ms: 20 frames 100 ms apart on track 1.
fn cluster(tc: u64, seed: u8) -> Vec<u8> {
    testing::cluster_of(tc, 20, 100, |i| {
        (0..300)
            .map(|k| (k as u8).wrapping_mul(seed).wrapping_add(i as u8))
            .collect()
    })
}

// ---------- server and client ----------

struct Server {
    addr: SocketAddr,
    api: VideoApi,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(name: &str) -> Server {
    start_with(name, |_| {}).await
}

async fn start_with(name: &str, tweak: impl FnOnce(&mut VideoConfig)) -> Server {
    start_clocked(name, Arc::new(SystemClock), tweak).await
}

/// [`start_with`] on a clock the test drives (server timestamps).
async fn start_clocked(
    name: &str,
    clock: Arc<dyn Clock>,
    tweak: impl FnOnce(&mut VideoConfig),
) -> Server {
    let dir = std::env::temp_dir().join(format!("sluice-video-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = VideoConfig::new(&dir);
    config.get_media_idle = Duration::from_millis(400);
    tweak(&mut config);
    let api = VideoApi::open(config, clock).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(api.clone(), listener, async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        api,
        _stop: tx,
        _dir: TempDir(dir),
    }
}

async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Bytes) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::post(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

async fn call(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let (status, _, bytes) = post(addr, path, &[], body.to_string().into_bytes()).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn put_media(addr: SocketAddr, stream: &str, body: Vec<u8>) -> Vec<Value> {
    let (status, _, bytes) = post(
        addr,
        "/putMedia",
        &[
            ("x-amzn-stream-name", stream),
            ("x-amzn-fragment-timecode-type", "RELATIVE"),
            ("x-amzn-producer-start-timestamp", "1700000000.000"),
        ],
        body,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn create(addr: SocketAddr, name: &str, hours: u64) {
    let (s, v) = call(
        addr,
        "/createStream",
        json!({"StreamName": name, "DataRetentionInHours": hours}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

// ---------- reading GetMedia output ----------

/// One chunk of GetMedia output: what is in it, in order.
#[derive(Debug, Default)]
struct Chunk {
    /// Top-level / Segment-level items: "EBML", "Segment?", element names,
    /// AWS tag names, "Cluster".
    items: Vec<String>,
    tags: Vec<(String, String)>,
    clusters: Vec<Vec<u8>>,
    segment_unknown_8: bool,
}

fn chunks(data: &[u8]) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Ok(Some(h)) = read_header(&data[pos..]) else {
            break;
        };
        let start = pos;
        match h.id {
            ebml::ID_EBML => {
                out.push(Chunk::default());
                pos += h.header_len + h.size.unwrap() as usize;
                out.last_mut().unwrap().items.push("EBML".into());
            }
            ebml::ID_SEGMENT => {
                let c = out.last_mut().unwrap();
                c.segment_unknown_8 = h.size.is_none() && h.header_len == 12;
                c.items.push("Segment".into());
                pos += h.header_len;
            }
            ebml::ID_CLUSTER => {
                let end = match h.size {
                    Some(s) => pos + h.header_len + s as usize,
                    None => {
                        let mut p = pos + h.header_len;
                        while p < data.len() {
                            let Ok(Some(ch)) = read_header(&data[p..]) else {
                                break;
                            };
                            if ebml::is_segment_child(ch.id) || ch.id == ebml::ID_EBML {
                                break;
                            }
                            p += ch.header_len + ch.size.unwrap() as usize;
                        }
                        p
                    }
                };
                let c = out.last_mut().unwrap();
                c.items.push("Cluster".into());
                c.clusters.push(data[start..end].to_vec());
                pos = end;
            }
            ebml::ID_TAGS => {
                let end = pos + h.header_len + h.size.unwrap() as usize;
                let pairs = read_simple_tags(&data[pos + h.header_len..end]);
                let c = out.last_mut().unwrap();
                if pairs.iter().any(|(n, _)| n.starts_with("AWS_KINESISVIDEO")) {
                    c.items.extend(pairs.iter().map(|(n, _)| n.clone()));
                    c.tags.extend(pairs);
                } else {
                    c.items.push("Tags".into());
                }
                pos = end;
            }
            other => {
                out.last_mut().unwrap().items.push(format!("{other:X}"));
                pos += h.header_len + h.size.unwrap() as usize;
            }
        }
    }
    out
}

/// The items of a chunk from the fragment tags on (what KVS adds is the same
/// for every producer header).
fn kvs_items(c: &Chunk) -> Vec<String> {
    let first = c
        .items
        .iter()
        .position(|i| i == "AWS_KINESISVIDEO_FRAGMENT_NUMBER")
        .unwrap();
    c.items[first..]
        .iter()
        .filter(|i| !matches!(i.as_str(), "Tags" | "1C53BB6B"))
        .cloned()
        .collect()
}

fn tag<'a>(c: &'a Chunk, name: &str) -> &'a str {
    &c.tags.iter().find(|(n, _)| n == name).unwrap().1
}

fn samples_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kvs-samples");
    if d.join("output_get_media.mkv").exists() {
        Some(d)
    } else {
        println!("note: ../shared/kvs-samples not found, sample layout checks skipped");
        None
    }
}

// ---------- tests ----------

#[tokio::test]
async fn control_plane() {
    let srv = start("control").await;
    let a = srv.addr;
    let (s, v) = call(a, "/createStream", json!({"StreamName": "cam-1", "DataRetentionInHours": 2, "MediaType": "video/h264", "Tags": {"team": "ops"}})).await;
    assert_eq!(s, 200);
    let arn = v["StreamARN"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:kinesisvideo:"));
    let (s, _) = call(a, "/createStream", json!({"StreamName": "cam-1"})).await;
    assert_eq!(s, 400);
    let (s, v) = call(a, "/describeStream", json!({"StreamName": "cam-1"})).await;
    assert_eq!(s, 200);
    assert_eq!(v["StreamInfo"]["DataRetentionInHours"], 2);
    assert_eq!(v["StreamInfo"]["Status"], "ACTIVE");
    let version = v["StreamInfo"]["Version"].as_str().unwrap().to_string();
    let (s, _) = call(a, "/updateDataRetention", json!({"StreamName": "cam-1", "CurrentVersion": version, "Operation": "INCREASE_DATA_RETENTION", "DataRetentionChangeInHours": 3})).await;
    assert_eq!(s, 200);
    let (_, v) = call(a, "/describeStream", json!({"StreamARN": arn})).await;
    assert_eq!(v["StreamInfo"]["DataRetentionInHours"], 5);
    let (s, v) = call(a, "/updateDataRetention", json!({"StreamName": "cam-1", "CurrentVersion": version, "Operation": "INCREASE_DATA_RETENTION", "DataRetentionChangeInHours": 3})).await;
    assert_eq!(s, 400, "{v}");
    call(
        a,
        "/tagStream",
        json!({"StreamName": "cam-1", "Tags": {"k": "v"}}),
    )
    .await;
    call(
        a,
        "/untagStream",
        json!({"StreamName": "cam-1", "TagKeyList": ["team"]}),
    )
    .await;
    let (_, v) = call(a, "/listTagsForStream", json!({"StreamName": "cam-1"})).await;
    assert_eq!(v["Tags"], json!({"k": "v"}));
    create(a, "other", 0).await;
    let (_, v) = call(a, "/listStreams", json!({"StreamNameCondition": {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "cam"}})).await;
    assert_eq!(v["StreamInfoList"].as_array().unwrap().len(), 1);
    let (_, v) = call(
        a,
        "/getDataEndpoint",
        json!({"StreamName": "cam-1", "APIName": "GET_MEDIA"}),
    )
    .await;
    assert_eq!(v["DataEndpoint"], format!("http://{a}"));
    let (s, v) = call(a, "/deleteStream", json!({"StreamARN": arn})).await;
    assert_eq!(s, 200, "{v}");
    let (status, headers, _) = post(
        a,
        "/describeStream",
        &[],
        br#"{"StreamName":"cam-1"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(headers["x-amzn-ErrorType"], "ResourceNotFoundException");
}

#[tokio::test]
async fn put_media_then_get_media_round_trip() {
    let srv = start("roundtrip").await;
    let a = srv.addr;
    create(a, "cam", 24).await;
    let mut events = srv.api.subscribe_fragments();
    let clusters: Vec<Vec<u8>> = (0..3).map(|i| cluster(i * 2000, i as u8 + 3)).collect();
    let body = [vec![header(&[1])], clusters.clone()].concat().concat();
    let acks = put_media(a, "cam", body).await;
    let kinds: Vec<&str> = acks
        .iter()
        .map(|v| v["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "PERSISTED").count(),
        3,
        "{acks:?}"
    );
    assert_eq!(kinds[0], "BUFFERING");
    assert!(kinds.iter().all(|k| *k != "ERROR"));
    let persisted: Vec<&Value> = acks
        .iter()
        .filter(|v| v["EventType"] == "PERSISTED")
        .collect();
    assert_eq!(persisted[1]["FragmentTimecode"], 2000);
    let numbers: Vec<String> = persisted
        .iter()
        .map(|v| v["FragmentNumber"].as_str().unwrap().to_string())
        .collect();
    let ev = events.recv().await.unwrap();
    assert_eq!(ev.frame_count, 20);
    assert_eq!(ev.width, Some(320));
    assert_eq!(ev.fragment_number.as_deref(), Some(numbers[0].as_str()));

    let (s, _, out) = post(
        a,
        "/getMedia",
        &[],
        json!({"StreamName": "cam", "StartSelector": {"StartSelectorType": "EARLIEST"}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(s, 200);
    let got = chunks(&out);
    assert_eq!(got.len(), 3);
    for (i, c) in got.iter().enumerate() {
        assert!(c.segment_unknown_8);
        assert_eq!(
            c.clusters,
            vec![clusters[i].clone()],
            "cluster {i} byte for byte"
        );
        assert_eq!(tag(c, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), numbers[i]);
        assert_eq!(tag(c, "AWS_KINESISVIDEO_CONTINUATION_TOKEN"), numbers[i]);
        assert_eq!(
            tag(c, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"),
            format!("{}.000", 1_700_000_000 + 2 * i)
        );
        assert_eq!(
            kvs_items(c),
            [
                "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
                "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
                "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                "Cluster",
                "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW",
                "AWS_KINESISVIDEO_CONTINUATION_TOKEN"
            ]
        );
    }
    // The same layout as the real service's output.
    if let Some(dir) = samples_dir() {
        let sample = std::fs::read(dir.join("output_get_media.mkv")).unwrap();
        let theirs = chunks(&sample);
        assert_eq!(theirs.len(), 5);
        for c in &theirs {
            assert!(c.segment_unknown_8);
            assert_eq!(kvs_items(c), kvs_items(&got[0]));
        }
    }

    // Start selectors.
    let sel = |s: Value| {
        json!({"StreamName": "cam", "StartSelector": s})
            .to_string()
            .into_bytes()
    };
    let (_, _, out) = post(
        a,
        "/getMedia",
        &[],
        sel(json!({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": numbers[1]})),
    )
    .await;
    assert_eq!(chunks(&out).len(), 2);
    let (_, _, out) = post(
        a,
        "/getMedia",
        &[],
        sel(json!({"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": numbers[1]})),
    )
    .await;
    assert_eq!(chunks(&out)[0].clusters[0], clusters[2]);
    let (_, _, out) = post(
        a,
        "/getMedia",
        &[],
        sel(json!({"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": 1_700_000_003.0})),
    )
    .await;
    assert_eq!(chunks(&out).len(), 2);
    let (s, _, _) = post(
        a,
        "/getMedia",
        &[],
        sel(json!({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": "1"})),
    )
    .await;
    assert_eq!(s, 404);

    // ListFragments with pagination and a timestamp range.
    let (_, v) = call(
        a,
        "/listFragments",
        json!({"StreamName": "cam", "MaxResults": 2}),
    )
    .await;
    assert_eq!(v["Fragments"].as_array().unwrap().len(), 2);
    let (_, v2) = call(
        a,
        "/listFragments",
        json!({"StreamName": "cam", "MaxResults": 2, "NextToken": v["NextToken"]}),
    )
    .await;
    assert_eq!(v2["Fragments"][0]["FragmentNumber"], numbers[2].as_str());
    assert!(v2.get("NextToken").is_none());
    let f = &v["Fragments"][0];
    assert_eq!(f["FragmentLengthInMilliseconds"], 2000);
    assert_eq!(f["ProducerTimestamp"], 1_700_000_000.0);
    let (_, v) = call(a, "/listFragments", json!({"StreamName": "cam", "FragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": {"StartTimestamp": 1_700_000_001.0, "EndTimestamp": 1_700_000_004.0}}})).await;
    assert_eq!(v["Fragments"].as_array().unwrap().len(), 2);

    // GetMediaForFragmentList, in the order asked.
    let (s, _, out) = post(
        a,
        "/getMediaForFragmentList",
        &[],
        json!({"StreamName": "cam", "Fragments": [numbers[2], numbers[0]]})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(s, 200);
    let got = chunks(&out);
    assert_eq!(got[0].clusters[0], clusters[2]);
    assert_eq!(got[1].clusters[0], clusters[0]);
}

#[tokio::test]
async fn get_media_follows_the_live_head() {
    let srv = start("live").await;
    let a = srv.addr;
    create(a, "live", 1).await;
    let reader = tokio::spawn(async move {
        post(
            a,
            "/getMedia",
            &[],
            json!({"StreamName": "live", "StartSelector": {"StartSelectorType": "NOW"}})
                .to_string()
                .into_bytes(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = cluster(0, 9);
    put_media(
        a,
        "live",
        [header(&[1]), c.clone(), cluster(2000, 1)].concat(),
    )
    .await;
    let (_, _, out) = reader.await.unwrap();
    let got = chunks(&out);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].clusters[0], c);
}

/// Rows until `n` have come (or 10 s pass).
async fn rows(f: &mut follow::Follower, n: usize) -> Vec<follow::Followed> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < n && tokio::time::Instant::now() < deadline {
        got.extend(f.next_batch(100, Duration::from_millis(100)).await.unwrap());
    }
    got
}

#[tokio::test]
async fn follow_reads_every_fragment_back_as_a_row_across_get_media_calls() {
    let srv = start("follow").await;
    let a = srv.addr;
    create(a, "cam", 1).await;
    let acks = put_media(
        a,
        "cam",
        [
            header(&[1]),
            cluster(0, 1),
            cluster(2000, 2),
            cluster(4000, 3),
        ]
        .concat(),
    )
    .await;
    let numbers = persisted(&acks);
    assert_eq!(numbers.len(), 3);
    let options = |start| follow::FollowOptions {
        start,
        idle: Duration::from_millis(300),
        ..follow::FollowOptions::new(format!("http://{a}"))
    };
    let mut f = follow::follow("cam", options(follow::FollowStart::Earliest)).unwrap();
    let got = rows(&mut f, 3).await;
    let got_numbers: Vec<String> = got
        .iter()
        .map(|r| r.event.fragment_number.clone().unwrap())
        .collect();
    assert_eq!(got_numbers, numbers);
    for (i, r) in got.iter().enumerate() {
        let e = &r.event;
        assert_eq!(e.stream_name, "cam");
        assert_eq!((e.frame_count, e.keyframe_count), (20, 1));
        assert_eq!(e.duration_ms, 2000);
        assert_eq!(e.producer_ms, Some(1_700_000_000_000 + 2000 * i as i64));
        assert_eq!(e.gap_ms, (i > 0).then_some(0));
        assert_eq!((e.width, e.height), (Some(320), Some(240)));
        assert_eq!(e.ack_status.as_str(), "PERSISTED");
        assert_eq!(r.continuation_token, numbers[i]);
    }
    // The server ends an idle GetMedia (400 ms); the follower goes on from
    // its continuation token and is caught up meanwhile.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(f.caught_up());
    let more = put_media(a, "cam", [header(&[1]), cluster(6000, 4)].concat()).await;
    let late = rows(&mut f, 1).await;
    assert_eq!(late.len(), 1);
    assert_eq!(
        late[0].event.fragment_number,
        persisted(&more).first().cloned()
    );
    // GAP_MS spans GetMedia calls: the new fragment starts where the
    // last one read ended.
    assert_eq!(late[0].event.gap_ms, Some(0));

    // Resuming after a fragment reads only the ones after it.
    let mut resumed = follow::follow(
        "cam",
        follow::FollowOptions {
            resume: [("cam".to_string(), numbers[1].clone())].into(),
            ..options(follow::FollowStart::Now)
        },
    )
    .unwrap();
    let after = rows(&mut resumed, 2).await;
    let after_numbers: Vec<_> = after
        .iter()
        .map(|r| r.event.fragment_number.clone().unwrap())
        .collect();
    assert_eq!(after_numbers[0], numbers[2]);
    assert_eq!(after.len(), 2);
    // Its GAP_MS counts from the end of the fragment resumed after.
    assert_eq!(after[0].event.gap_ms, Some(0));

    // `*`: every stream, one listed later from its earliest fragment.
    let mut every = follow::follow(
        "*",
        follow::FollowOptions {
            list_every: Duration::from_millis(200),
            ..options(follow::FollowStart::Earliest)
        },
    )
    .unwrap();
    assert_eq!(rows(&mut every, 4).await.len(), 4);
    create(a, "door", 1).await;
    put_media(a, "door", [header(&[1]), cluster(0, 5)].concat()).await;
    let door = rows(&mut every, 1).await;
    assert_eq!(door[0].event.stream_name, "door");

    // A named stream that does not exist, without waiting: the AWS error.
    let mut missing = follow::follow(
        "nope",
        follow::FollowOptions {
            wait_for_stream: false,
            ..options(follow::FollowStart::Now)
        },
    )
    .unwrap();
    let e = missing
        .next_batch(10, Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ResourceNotFoundException"), "{e}");
}

#[tokio::test]
async fn bad_input_gets_error_acks_and_keeps_earlier_fragments() {
    let srv = start("bad").await;
    let a = srv.addr;
    create(a, "bad", 1).await;
    let acks = put_media(a, "bad", b"definitely not a matroska stream".to_vec()).await;
    assert_eq!(acks.last().unwrap()["ErrorId"], 4006, "{acks:?}");

    // Truncated: two good fragments, then the third cut short.
    let body = [
        header(&[1]),
        cluster(0, 1),
        cluster(2000, 2),
        cluster(4000, 3),
    ]
    .concat();
    let acks = put_media(a, "bad", body[..body.len() - 100].to_vec()).await;
    let errors: Vec<&Value> = acks.iter().filter(|v| v["EventType"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{acks:?}");
    assert_eq!(errors[0]["ErrorId"], 4006);
    assert_eq!(errors[0]["FragmentTimecode"], 4000);
    assert_eq!(
        acks.iter()
            .filter(|v| v["EventType"] == "PERSISTED")
            .count(),
        2
    );

    // Non-monotonic timecodes: the back-stepping fragment alone is refused.
    let body = [
        header(&[1]),
        cluster(10_000, 1),
        cluster(5_000, 2),
        cluster(12_000, 3),
    ]
    .concat();
    let acks = put_media(a, "bad", body).await;
    let errors: Vec<&Value> = acks.iter().filter(|v| v["EventType"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{acks:?}");
    assert_eq!(errors[0]["ErrorId"], 4004);
    assert_eq!(
        acks.iter()
            .filter(|v| v["EventType"] == "PERSISTED")
            .count(),
        2
    );

    let (_, v) = call(a, "/listFragments", json!({"StreamName": "bad"})).await;
    assert_eq!(v["Fragments"].as_array().unwrap().len(), 4);

    // Unknown stream: 404 before any ACK.
    let (s, h, _) = post(a, "/putMedia", &[("x-amzn-stream-name", "nope")], vec![]).await;
    assert_eq!(s, 404);
    assert_eq!(h["x-amzn-ErrorType"], "ResourceNotFoundException");
}

#[test]
fn aws_tags_match_the_samples_byte_for_byte() {
    let Some(dir) = samples_dir() else { return };
    for file in [
        "output_get_media.mkv",
        "output-get-media-non-increasing-timecode.mkv",
        "test_mixed_tags.mkv",
    ] {
        let data = std::fs::read(dir.join(file)).unwrap();
        // Find every AWS Tags element (4-byte sizes) and rebuild it.
        let mut n = 0;
        for i in 0..data.len().saturating_sub(8) {
            if data[i..i + 5] != [0x12, 0x54, 0xC3, 0x67, 0x10] {
                continue;
            }
            let h = read_header(&data[i..]).unwrap().unwrap();
            let end = i + h.header_len + h.size.unwrap() as usize;
            if end > data.len() {
                continue;
            }
            let pairs = read_simple_tags(&data[i + h.header_len..end]);
            if !pairs.iter().all(|(k, _)| k.starts_with("AWS_KINESISVIDEO")) {
                continue;
            }
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(ebml::aws_tags(&refs), &data[i..end], "{file} at {i}");
            n += 1;
        }
        assert!(n >= 1, "{file}");
    }
}

#[tokio::test]
async fn oversize_fragment_gets_4001_and_the_session_goes_on() {
    let srv = start_with("oversize", |c| c.limits.max_fragment_bytes = 8_000).await;
    let a = srv.addr;
    create(a, "big", 1).await;
    let mut events = srv.api.subscribe_fragments();
    let mut big = cluster(2000, 5);
    big.extend(cluster(2000, 6)[18..].to_vec()); // same cluster, twice the frames
    let small = |tc: u64| cluster(tc, 7);
    let body = [header(&[1]), small(0), big, small(4000)].concat();
    let acks = put_media(a, "big", body).await;
    let errors: Vec<&Value> = acks.iter().filter(|v| v["EventType"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{acks:?}");
    assert_eq!(errors[0]["ErrorId"], 4001);
    assert_eq!(errors[0]["FragmentTimecode"], 2000);
    assert_eq!(
        acks.iter()
            .filter(|v| v["EventType"] == "PERSISTED")
            .count(),
        2
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let e = events.recv().await.unwrap();
        statuses.push((e.ack_status, e.error_id));
    }
    assert!(
        statuses.contains(&(sluice_video::AckStatus::Error, Some(4001))),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn client_that_never_reads_acks_loses_nothing() {
    use tokio::io::AsyncWriteExt;
    let srv = start("noack").await;
    let a = srv.addr;
    create(a, "cam", 1).await;
    let body = [
        header(&[1]),
        cluster(0, 1),
        cluster(2000, 2),
        cluster(4000, 3),
    ]
    .concat();
    let mut tcp = TcpStream::connect(a).await.unwrap();
    let head = format!(
        "POST /putMedia HTTP/1.1\r\nhost: x\r\nx-amzn-stream-name: cam\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body).await.unwrap();
    drop(tcp); // hang up without reading a single ACK
    let mut n = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, v) = call(a, "/listFragments", json!({"StreamName": "cam"})).await;
        n = v["Fragments"].as_array().unwrap().len();
        if n == 3 {
            break;
        }
    }
    assert_eq!(n, 3);
}

#[tokio::test]
async fn one_put_media_connection_per_stream_and_idle_acks() {
    let srv = start_with("conn", |c| {
        c.put_media_idle_ack = Duration::from_millis(100)
    })
    .await;
    let a = srv.addr;
    create(a, "cam", 1).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let tcp = TcpStream::connect(a).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::post("/putMedia")
        .header("host", "x")
        .header("x-amzn-stream-name", "cam")
        .body(sluice_video::body::from_channel(rx))
        .unwrap();
    tx.send(Bytes::from([header(&[1]), cluster(0, 1)].concat()))
        .await
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    // A second writer is refused while the first is open.
    let (s, h, _) = post(a, "/putMedia", &[("x-amzn-stream-name", "cam")], vec![]).await;
    assert_eq!(s, 400);
    assert_eq!(h["x-amzn-ErrorType"], "ConnectionLimitExceededException");
    // No data for a while: IDLE.
    let mut seen = String::new();
    while !seen.contains("IDLE") {
        let f = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&f.into_data().unwrap()));
    }
    assert!(seen.contains("BUFFERING"), "{seen}");
    drop(tx);
    while let Some(f) = body.frame().await {
        seen.push_str(&String::from_utf8_lossy(&f.unwrap().into_data().unwrap()));
    }
    assert!(seen.contains("PERSISTED"), "{seen}");
    // The connection is free again.
    let acks = put_media(a, "cam", [header(&[1]), cluster(9000, 1)].concat()).await;
    assert!(
        acks.iter().any(|v| v["EventType"] == "PERSISTED"),
        "{acks:?}"
    );
}

// ---------- GetClip, UpdateStream, SERVER_TIMESTAMP selectors ----------

/// An `avcC` record (baseline profile, one SPS, one PPS); `tag` varies the
/// SPS so two records differ.
fn avcc(tag: u8) -> Vec<u8> {
    vec![
        1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, tag, 1, 0, 4, 0x68, 0xce, 0x38, 0x80,
    ]
}

/// A header whose H.264 track carries CodecPrivate, as GetClip needs.
fn avc_header(tag: u8) -> Vec<u8> {
    testing::header_with_codec(&[1], 100_000_000, Some((320, 240)), Some(&avcc(tag)))
}

/// 20 frames 100 ms apart at `tc` ms, each `len` bytes of `marker`.
fn marked_cluster(tc: u64, marker: u8, len: usize) -> Vec<u8> {
    testing::cluster_of(tc, 20, 100, |_| vec![marker; len])
}

/// A cluster at `tc` ms whose frames are none of them keyframes.
fn keyless_cluster(tc: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ebml::write_id(&mut out, ebml::ID_CLUSTER);
    out.push(0xFF);
    out.extend(testing::uint(ebml::ID_TIMECODE, tc));
    for i in 0..5u16 {
        let mut b = vec![0x81];
        b.extend_from_slice(&(i * 100).to_be_bytes());
        b.push(0);
        b.extend_from_slice(&[7; 32]);
        out.extend(testing::element(ebml::ID_SIMPLE_BLOCK, &b));
    }
    out
}

/// The numbers of PERSISTED fragments in an ACK stream.
fn persisted(acks: &[Value]) -> Vec<String> {
    acks.iter()
        .filter(|v| v["EventType"] == "PERSISTED")
        .map(|v| v["FragmentNumber"].as_str().unwrap().to_string())
        .collect()
}

fn clip_request(stream: &str, kind: &str, start_ms: i64, end_ms: i64) -> Value {
    json!({"StreamName": stream, "ClipFragmentSelector": {"FragmentSelectorType": kind,
        "TimestampRange": {"StartTimestamp": start_ms as f64 / 1000.0,
                           "EndTimestamp": end_ms as f64 / 1000.0}}})
}

/// GetClip: status, error type (empty on success), body.
async fn get_clip(addr: SocketAddr, req: Value) -> (u16, String, Bytes) {
    let (s, h, body) = post(addr, "/getClip", &[], req.to_string().into_bytes()).await;
    let kind = h
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, kind, body)
}

/// The sample count of an MP4's `stsz` box.
fn mp4_samples(mp4: &[u8]) -> u32 {
    let p = mp4.windows(4).position(|w| w == b"stsz").unwrap();
    u32::from_be_bytes(mp4[p + 12..p + 16].try_into().unwrap())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

const T0: i64 = 1_800_000_000_000;
const P0: i64 = 1_700_000_000_000;

#[tokio::test]
async fn get_clip_exceptions_follow_aws() {
    let clock = Arc::new(ManualClock::new(T0));
    let srv = start_clocked("clip-errors", clock.clone(), |_| {}).await;
    let a = srv.addr;
    let past = |s| clip_request(s, "SERVER_TIMESTAMP", T0 - 60_000, T0 - 1_000);

    let (s, kind, _) = get_clip(a, past("nope")).await;
    assert_eq!((s, kind.as_str()), (404, "ResourceNotFoundException"));

    create(a, "zero", 0).await;
    let (s, kind, _) = get_clip(a, past("zero")).await;
    assert_eq!((s, kind.as_str()), (400, "NoDataRetentionException"));

    create(a, "clip", 1).await;
    // No fragment starts in the range.
    let (s, kind, body) = get_clip(a, past("clip")).await;
    assert_eq!((s, kind.as_str()), (404, "ResourceNotFoundException"));
    let msg: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        msg["message"].as_str().unwrap().contains("no fragments"),
        "{msg}"
    );

    // The selector and ClipTimestampRange rules.
    for (req, why) in [
        (json!({"StreamName": "clip"}), "no selector"),
        (
            json!({"StreamName": "clip", "ClipFragmentSelector": {"FragmentSelectorType": "ARRIVAL", "TimestampRange": {"StartTimestamp": 1, "EndTimestamp": 2}}}),
            "bad selector type",
        ),
        (
            clip_request("clip", "SERVER_TIMESTAMP", T0 - 1_000, T0 - 1_000),
            "end = start",
        ),
        (
            clip_request("clip", "SERVER_TIMESTAMP", T0 - 1_000, T0 - 2_000),
            "end < start",
        ),
        (
            clip_request("clip", "PRODUCER_TIMESTAMP", P0, P0 + 24 * 3_600_000 + 1),
            "over 24 h",
        ),
        (
            clip_request("clip", "SERVER_TIMESTAMP", T0 - 1_000, T0 + 1_000),
            "end in the future",
        ),
    ] {
        let (s, kind, _) = get_clip(a, req).await;
        assert_eq!(
            (s, kind.as_str()),
            (400, "InvalidArgumentException"),
            "{why}"
        );
    }

    // Media without CodecPrivate.
    put_media(a, "clip", [header(&[1]), cluster(0, 1)].concat()).await;
    clock.advance(10_000);
    let range = clip_request("clip", "SERVER_TIMESTAMP", T0, T0 + 5_000);
    let (s, kind, _) = get_clip(a, range).await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "MissingCodecPrivateDataException")
    );

    // A track that is not H.264 (MPEG-4 part 2: same length codec ID).
    create(a, "asp", 1).await;
    let mut asp = avc_header(0x1e);
    let at = asp
        .windows(15)
        .position(|w| w == b"V_MPEG4/ISO/AVC")
        .unwrap();
    asp[at..at + 15].copy_from_slice(b"V_MPEG4/ISO/ASP");
    put_media(a, "asp", [asp, marked_cluster(0, 1, 8)].concat()).await;
    clock.advance(10_000);
    let range = clip_request("asp", "SERVER_TIMESTAMP", T0, T0 + 15_000);
    let (s, kind, _) = get_clip(a, range).await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "UnsupportedStreamMediaTypeException")
    );

    // No keyframe in the clip's frames.
    create(a, "keyless", 1).await;
    let start = clock.now_ms();
    put_media(
        a,
        "keyless",
        [avc_header(0x1e), keyless_cluster(0)].concat(),
    )
    .await;
    clock.advance(10_000);
    let range = clip_request("keyless", "SERVER_TIMESTAMP", start, start + 5_000);
    let (s, kind, _) = get_clip(a, range).await;
    assert_eq!((s, kind.as_str()), (400, "InvalidMediaFrameException"));

    // Codec private data that changes within the clip.
    create(a, "cpd", 1).await;
    let start = clock.now_ms();
    put_media(
        a,
        "cpd",
        [avc_header(0x1e), marked_cluster(0, 1, 8)].concat(),
    )
    .await;
    clock.advance(5_000);
    put_media(
        a,
        "cpd",
        [avc_header(0x1f), marked_cluster(0, 2, 8)].concat(),
    )
    .await;
    clock.advance(10_000);
    let (s, kind, _) = get_clip(
        a,
        clip_request("cpd", "SERVER_TIMESTAMP", start, start + 4_000),
    )
    .await;
    assert_eq!(
        (s, kind.as_str()),
        (200, ""),
        "one CodecPrivate alone is fine"
    );
    let (s, kind, _) = get_clip(
        a,
        clip_request("cpd", "SERVER_TIMESTAMP", start, start + 9_000),
    )
    .await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "InvalidCodecPrivateDataException")
    );
}

#[tokio::test]
async fn get_clip_over_its_call_rate_is_client_limit_exceeded() {
    let clock = Arc::new(ManualClock::new(T0));
    let srv = start_clocked("clip-rate", clock.clone(), |c| {
        c.clip.max_per_second = Some(2);
    })
    .await;
    let a = srv.addr;
    create(a, "cam", 1).await;
    create(a, "other", 1).await;
    let req = |s| clip_request(s, "SERVER_TIMESTAMP", T0 - 60_000, T0 - 1_000);
    // Two calls in the second go through (to a 404: nothing stored) ...
    for _ in 0..2 {
        let (s, kind, _) = get_clip(a, req("cam")).await;
        assert_eq!((s, kind.as_str()), (404, "ResourceNotFoundException"));
    }
    // ... the third is throttled, per stream ...
    let (s, kind, _) = get_clip(a, req("cam")).await;
    assert_eq!((s, kind.as_str()), (400, "ClientLimitExceededException"));
    let (s, _, _) = get_clip(a, req("other")).await;
    assert_eq!(s, 404);
    // ... until a second has passed on the service's clock.
    clock.advance(1_000);
    let (s, _, _) = get_clip(a, req("cam")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn server_timestamp_selectors_and_clip_limits() {
    let clock = Arc::new(ManualClock::new(T0));
    let srv = start_clocked("server-ts", clock.clone(), |c| {
        c.clip.max_fragments = 3;
        c.clip.max_bytes = 4 * 20 * 16;
    })
    .await;
    let a = srv.addr;
    create(a, "cam", 1).await;
    // Fragment k: server time T0 + 10 s * k, producer time P0 + 2 s * k,
    // 20 frames of 16 bytes of 0x41 + k (the last: 200 bytes each).
    let mut numbers = Vec::new();
    for k in 0..5u8 {
        clock.set(T0 + 10_000 * i64::from(k));
        let len = if k == 4 { 200 } else { 16 };
        let c = marked_cluster(u64::from(k) * 2_000, 0x41 + k, len);
        let acks = put_media(a, "cam", [avc_header(0x1e), c].concat()).await;
        numbers.extend(persisted(&acks));
    }
    assert_eq!(numbers.len(), 5);
    clock.set(T0 + 100_000);
    let marker = |k: u8| vec![0x41 + k; 16];

    // ListFragments, SERVER_TIMESTAMP range: fragments starting in it, both ends inclusive.
    let (s, v) = call(a, "/listFragments", json!({"StreamName": "cam", "FragmentSelector": {"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": {"StartTimestamp": (T0 + 10_000) as f64 / 1000.0, "EndTimestamp": (T0 + 30_000) as f64 / 1000.0}}})).await;
    assert_eq!(s, 200, "{v}");
    let listed: Vec<&str> = v["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FragmentNumber"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&numbers[1], &numbers[2], &numbers[3]]);
    assert_eq!(
        v["Fragments"][0]["ServerTimestamp"],
        (T0 + 10_000) as f64 / 1000.0
    );

    // GetMedia, StartSelector SERVER_TIMESTAMP: from the fragment holding
    // the time, or else the next one.
    for (ts, first) in [
        (T0 + 20_000, 2),
        (T0 + 21_500, 2),
        (T0 + 25_000, 3),
        (T0 - 5_000, 0),
    ] {
        let (s, _, out) = post(
            a,
            "/getMedia",
            &[],
            json!({"StreamName": "cam", "StartSelector": {"StartSelectorType": "SERVER_TIMESTAMP", "StartTimestamp": ts as f64 / 1000.0}})
                .to_string()
                .into_bytes(),
        )
        .await;
        assert_eq!(s, 200);
        let got = chunks(&out);
        assert_eq!(got.len(), 5 - first, "from {ts}");
        assert_eq!(
            tag(&got[0], "AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
            numbers[first]
        );
        assert_eq!(
            tag(&got[0], "AWS_KINESISVIDEO_SERVER_TIMESTAMP"),
            sluice_video::api::fmt_secs(T0 + 10_000 * first as i64)
        );
    }

    // GetClip, SERVER_TIMESTAMP: fragments 1..=3 start in [T0+10 s, T0+30 s].
    let (s, kind, mp4) = get_clip(
        a,
        clip_request("cam", "SERVER_TIMESTAMP", T0 + 10_000, T0 + 30_000),
    )
    .await;
    assert_eq!((s, kind.as_str()), (200, ""));
    assert_eq!(mp4_samples(&mp4), 60);
    assert!(!contains(&mp4, &marker(0)) && !contains(&mp4, &marker(4)));
    assert!((1..=3).all(|k| contains(&mp4, &marker(k))));

    // PRODUCER_TIMESTAMP: fragment 0 starts before the range and runs into
    // it, so it is left out.
    let (s, _, mp4) = get_clip(
        a,
        clip_request("cam", "PRODUCER_TIMESTAMP", P0 + 1_000, P0 + 4_000),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(mp4_samples(&mp4), 40);
    assert!(
        !contains(&mp4, &marker(0)) && contains(&mp4, &marker(1)) && contains(&mp4, &marker(2))
    );

    // The fragment limit (3 here, 200 at AWS): the first ones from the start.
    let (s, _, mp4) = get_clip(a, clip_request("cam", "SERVER_TIMESTAMP", T0, T0 + 100_000)).await;
    assert_eq!(s, 200);
    assert_eq!(mp4_samples(&mp4), 60);
    assert!((0..3).all(|k| contains(&mp4, &marker(k))) && !contains(&mp4, &marker(3)));

    // The byte limit (1280 here, 100 MB at AWS): whole frames up to it.
    // Fragment 3 is 320 bytes; 4 of fragment 4's 200-byte frames fit.
    let (s, _, mp4) = get_clip(
        a,
        clip_request("cam", "SERVER_TIMESTAMP", T0 + 30_000, T0 + 40_000),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(mp4_samples(&mp4), 24);
}

#[tokio::test]
async fn update_stream_changes_device_and_media_type_under_its_version() {
    let srv = start("update").await;
    let a = srv.addr;
    let (s, _) = call(a, "/createStream", json!({"StreamName": "cam", "DataRetentionInHours": 1, "DeviceName": "dev-1", "MediaType": "video/h264"})).await;
    assert_eq!(s, 200);
    let describe = || async {
        let (s, v) = call(a, "/describeStream", json!({"StreamName": "cam"})).await;
        assert_eq!(s, 200, "{v}");
        v["StreamInfo"].clone()
    };
    let before = describe().await;
    assert_eq!(before["DeviceName"], "dev-1");
    let v1 = before["Version"].as_str().unwrap().to_string();

    let (s, v) = call(a, "/updateStream", json!({"StreamName": "cam", "CurrentVersion": v1, "DeviceName": "dev-2", "MediaType": "video/h265"})).await;
    assert_eq!(s, 200, "{v}");
    let after = describe().await;
    assert_eq!(after["DeviceName"], "dev-2");
    assert_eq!(after["MediaType"], "video/h265");
    let v2 = after["Version"].as_str().unwrap().to_string();
    assert_ne!(v2, v1);

    // Only what is given changes; by ARN works too.
    let arn = after["StreamARN"].as_str().unwrap();
    let (s, _) = call(
        a,
        "/updateStream",
        json!({"StreamARN": arn, "CurrentVersion": v2, "MediaType": "video/h264"}),
    )
    .await;
    assert_eq!(s, 200);
    let third = describe().await;
    assert_eq!(third["DeviceName"], "dev-2");
    assert_eq!(third["MediaType"], "video/h264");
    assert_ne!(third["Version"], v2.as_str());

    // A stale version: VersionMismatchException, nothing changes.
    let (status, headers, _) = post(
        a,
        "/updateStream",
        &[],
        json!({"StreamName": "cam", "CurrentVersion": v1, "DeviceName": "dev-3"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-ErrorType"], "VersionMismatchException");
    assert_eq!(describe().await["DeviceName"], "dev-2");

    // CurrentVersion is required; an unknown stream is not found.
    let (status, headers, _) = post(
        a,
        "/updateStream",
        &[],
        json!({"StreamName": "cam", "DeviceName": "dev-3"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-ErrorType"], "InvalidArgumentException");
    let (status, headers, _) = post(
        a,
        "/updateStream",
        &[],
        json!({"StreamName": "nope", "CurrentVersion": v1})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(headers["x-amzn-ErrorType"], "ResourceNotFoundException");
}

// ---------- GetClip over H.265 and over H.264 + AAC ----------

/// A minimal `hvcC` record: version 1, the fixed 23 bytes, no arrays.
fn hvcc() -> Vec<u8> {
    let mut v = vec![1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90];
    v.extend_from_slice(&[0xF0, 0, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 0]);
    v
}

/// Every box of an MP4, nested ones included: (path such as
/// `/moov/trak/tkhd`, offset of its body in the file, body length).
fn mp4_boxes(mp4: &[u8]) -> Vec<(String, usize, usize)> {
    fn walk(mp4: &[u8], from: usize, to: usize, path: &str, out: &mut Vec<(String, usize, usize)>) {
        let mut p = from;
        while p + 8 <= to {
            let size = u32::from_be_bytes(mp4[p..p + 4].try_into().unwrap()) as usize;
            assert!(
                size >= 8 && p + size <= to,
                "box at {p} of {size} bytes overruns"
            );
            let kind = String::from_utf8_lossy(&mp4[p + 4..p + 8]).into_owned();
            let here = format!("{path}/{kind}");
            out.push((here.clone(), p + 8, size - 8));
            let skip = match kind.as_str() {
                "moov" | "trak" | "mdia" | "minf" | "stbl" | "edts" | "dinf" => Some(0),
                "stsd" => Some(8),
                "avc1" | "hvc1" => Some(78),
                "mp4a" | "alaw" => Some(28),
                _ => None,
            };
            if let Some(skip) = skip {
                walk(mp4, p + 8 + skip, p + size, &here, out);
            }
            p += size;
        }
    }
    let mut out = Vec::new();
    walk(mp4, 0, mp4.len(), "", &mut out);
    out
}

/// The bodies of the boxes at `path`.
fn mp4_bodies<'a>(mp4: &'a [u8], path: &str) -> Vec<&'a [u8]> {
    mp4_boxes(mp4)
        .into_iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, at, len)| &mp4[at..at + len])
        .collect()
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

const STBL: &str = "/moov/trak/mdia/minf/stbl";

#[tokio::test]
async fn get_clip_muxes_h265_video() {
    let clock = Arc::new(ManualClock::new(T0));
    let srv = start_clocked("clip-hevc", clock.clone(), |_| {}).await;
    let a = srv.addr;
    create(a, "hevc", 1).await;
    let head = testing::header_of(&[testing::TrackSpec {
        number: 1,
        track_type: 1,
        codec_id: "V_MPEGH/ISO/HEVC",
        codec_private: Some(&hvcc()),
        default_duration_ns: Some(100_000_000),
        video: Some((1280, 720)),
        ..Default::default()
    }]);
    let body = [
        head,
        marked_cluster(0, 0x51, 24),
        marked_cluster(2000, 0x52, 24),
    ]
    .concat();
    assert_eq!(persisted(&put_media(a, "hevc", body).await).len(), 2);
    clock.advance(10_000);
    let (s, kind, mp4) =
        get_clip(a, clip_request("hevc", "SERVER_TIMESTAMP", T0, T0 + 5_000)).await;
    assert_eq!((s, kind.as_str()), (200, ""));
    assert_eq!(mp4_bodies(&mp4, "/moov/trak").len(), 1);
    let hvcc_box = mp4_bodies(&mp4, &format!("{STBL}/stsd/hvc1/hvcC"));
    assert_eq!(hvcc_box, vec![&hvcc()[..]]);
    assert!(mp4_bodies(&mp4, &format!("{STBL}/stsd/avc1")).is_empty());
    let tkhd = mp4_bodies(&mp4, "/moov/trak/tkhd")[0];
    assert_eq!((be32(tkhd, 76) >> 16, be32(tkhd, 80) >> 16), (1280, 720));
    assert_eq!(mp4_samples(&mp4), 40);
    let stss = mp4_bodies(&mp4, &format!("{STBL}/stss"))[0];
    assert_eq!(&stss[4..], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 21]);
    let stco = mp4_bodies(&mp4, &format!("{STBL}/stco"))[0];
    let at = be32(stco, 8) as usize;
    assert_eq!(&mp4[at..at + 24], &[0x51; 24]);

    // An hvcC that is not one (Annex B start code): AWS's exception.
    create(a, "annexb", 1).await;
    let head = testing::header_of(&[testing::TrackSpec {
        number: 1,
        track_type: 1,
        codec_id: "V_MPEGH/ISO/HEVC",
        codec_private: Some(&[0, 0, 0, 1, 0x40, 1, 0x0C]),
        default_duration_ns: Some(100_000_000),
        ..Default::default()
    }]);
    let start = clock.now_ms();
    put_media(a, "annexb", [head, marked_cluster(0, 1, 8)].concat()).await;
    clock.advance(10_000);
    let (s, kind, _) = get_clip(
        a,
        clip_request("annexb", "SERVER_TIMESTAMP", start, start + 5_000),
    )
    .await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "InvalidCodecPrivateDataException")
    );
}

/// H.264 on track 1 (100 ms frames of 30 bytes, marker `0x10 + i`) and AAC
/// on track 2 (1024 samples at 48 kHz: 21.33 ms frames of 10 bytes, marker
/// `0xA0`), one Cluster per second, blocks in time order.
fn av_clusters(seconds: u64) -> (Vec<Vec<u8>>, Vec<(u64, usize)>) {
    let mut clusters = Vec::new();
    let mut order = Vec::new();
    for c in 0..seconds {
        let mut blocks: Vec<(u64, i16, bool, Vec<u8>)> = (0..10)
            .map(|i| (1, i * 100, i == 0, vec![0x10 + i as u8; 30]))
            .collect();
        let tc = c as i64 * 1000;
        for k in 0..seconds as i64 * 47 {
            let ms = k * 64 / 3;
            if (tc..tc + 1000).contains(&ms) {
                blocks.push((2, (ms - tc) as i16, true, vec![0xA0; 10]));
            }
        }
        blocks.sort_by_key(|b| (b.1, b.0));
        order.extend(blocks.iter().map(|b| (b.0, b.3.len())));
        clusters.push(testing::cluster_blocks(c * 1000, &blocks));
    }
    (clusters, order)
}

fn av_header(audio_codec: &str, audio_private: Option<&[u8]>) -> Vec<u8> {
    testing::header_of(&[
        testing::TrackSpec {
            number: 1,
            track_type: 1,
            codec_id: "V_MPEG4/ISO/AVC",
            codec_private: Some(&avcc(0x1e)),
            default_duration_ns: Some(100_000_000),
            video: Some((320, 240)),
            ..Default::default()
        },
        testing::TrackSpec {
            number: 2,
            track_type: 2,
            codec_id: audio_codec,
            codec_private: audio_private,
            audio: Some((48_000.0, 2)),
            ..Default::default()
        },
    ])
}

#[tokio::test]
async fn get_clip_muxes_h264_with_aac_audio() {
    let clock = Arc::new(ManualClock::new(T0));
    let max_bytes = 1000;
    let srv = start_clocked("clip-aac", clock.clone(), |c| c.clip.max_bytes = max_bytes).await;
    let a = srv.addr;
    create(a, "av", 1).await;
    let asc = [0x11u8, 0x90]; // AAC-LC, 48 kHz, stereo
    let (clusters, order) = av_clusters(1);
    let body = [vec![av_header("A_AAC", Some(&asc))], clusters]
        .concat()
        .concat();
    assert_eq!(persisted(&put_media(a, "av", body).await).len(), 1);
    clock.advance(10_000);
    let (s, kind, mp4) = get_clip(a, clip_request("av", "SERVER_TIMESTAMP", T0, T0 + 5_000)).await;
    assert_eq!((s, kind.as_str()), (200, ""));
    let audio_frames = order.iter().filter(|o| o.0 == 2).count();
    assert_eq!(audio_frames, 47);

    // Two traks: video 1 (vide, 90 kHz, stss), audio 2 (soun, smhd, 48 kHz).
    assert_eq!(mp4_bodies(&mp4, "/moov/trak").len(), 2);
    let tkhd = mp4_bodies(&mp4, "/moov/trak/tkhd");
    assert_eq!((be32(tkhd[0], 12), be32(tkhd[1], 12)), (1, 2));
    let hdlr = mp4_bodies(&mp4, "/moov/trak/mdia/hdlr");
    assert_eq!(
        (&hdlr[0][8..12], &hdlr[1][8..12]),
        (&b"vide"[..], &b"soun"[..])
    );
    let mdhd = mp4_bodies(&mp4, "/moov/trak/mdia/mdhd");
    assert_eq!((be32(mdhd[0], 12), be32(mdhd[1], 12)), (90_000, 48_000));
    assert_eq!(mp4_bodies(&mp4, "/moov/trak/mdia/minf/smhd").len(), 1);
    assert_eq!(mp4_bodies(&mp4, &format!("{STBL}/stss")).len(), 1);
    let esds = mp4_bodies(&mp4, &format!("{STBL}/stsd/mp4a/esds"));
    assert!(esds.len() == 1 && contains(esds[0], &[0x05, 0x80, 0x80, 0x80, 2, 0x11, 0x90]));
    let mp4a = mp4_boxes(&mp4)
        .into_iter()
        .find(|b| b.0.ends_with("/mp4a"))
        .unwrap();
    let entry = &mp4[mp4a.1..mp4a.1 + mp4a.2];
    assert_eq!(
        (
            u16::from_be_bytes([entry[16], entry[17]]),
            be32(entry, 24) >> 16
        ),
        (2, 48_000)
    );
    // Audio sample times: every frame 1024 samples.
    let stts = mp4_bodies(&mp4, &format!("{STBL}/stts"));
    assert_eq!(&stts[1][4..], &[0, 0, 0, 1, 0, 0, 0, 47, 0, 0, 4, 0]);
    // mvhd holds the longer track: audio, 47 * 1024 / 48 kHz = 1002 ms.
    let mvhd = mp4_bodies(&mp4, "/moov/mvhd")[0];
    assert_eq!(be32(mvhd, 16), 47 * 1024 * 1000 / 48_000);
    // Each track's chunk offset points at its first frame in the one mdat.
    let stco = mp4_bodies(&mp4, &format!("{STBL}/stco"));
    let (v, au) = (be32(stco[0], 8) as usize, be32(stco[1], 8) as usize);
    let mdat = mp4_boxes(&mp4)
        .into_iter()
        .find(|b| b.0 == "/mdat")
        .unwrap();
    assert_eq!(v, mdat.1);
    assert_eq!(&mp4[v..v + 30], &[0x10; 30]);
    assert_eq!(&mp4[v + 30..v + 60], &[0x11; 30]);
    assert_eq!(au, v + 300);
    assert_eq!(&mp4[au..au + 470], &[0xA0; 470][..]);
    assert_eq!(mdat.2, 770);

    // The byte limit counts both tracks' frames, in Cluster order.
    create(a, "av-long", 1).await;
    let start = clock.now_ms();
    let (clusters, order) = av_clusters(2);
    let body = [vec![av_header("A_AAC", Some(&asc))], clusters]
        .concat()
        .concat();
    assert_eq!(persisted(&put_media(a, "av-long", body).await).len(), 2);
    clock.advance(10_000);
    let (s, _, mp4) = get_clip(
        a,
        clip_request("av-long", "SERVER_TIMESTAMP", start, start + 5_000),
    )
    .await;
    assert_eq!(s, 200);
    let (mut kept, mut bytes) = ([0u32; 3], 0);
    for (track, len) in order {
        if bytes + len > max_bytes as usize {
            break;
        }
        bytes += len;
        kept[track as usize] += 1;
    }
    let stsz = mp4_bodies(&mp4, &format!("{STBL}/stsz"));
    assert_eq!((be32(stsz[0], 8), be32(stsz[1], 8)), (kept[1], kept[2]));
    assert!(kept[2] > 47, "the cut falls in the second second");
    let mdat = mp4_boxes(&mp4)
        .into_iter()
        .find(|b| b.0 == "/mdat")
        .unwrap();
    assert_eq!(mdat.2, bytes);
}

#[tokio::test]
async fn get_clip_audio_rules_follow_aws() {
    let clock = Arc::new(ManualClock::new(T0));
    let srv = start_clocked("clip-audio", clock.clone(), |_| {}).await;
    let a = srv.addr;
    let (clusters, _) = av_clusters(1);
    let cluster = clusters.concat();
    let mulaw = [
        7u8, 0, 1, 0, 0x40, 0x1F, 0, 0, 0x40, 0x1F, 0, 0, 1, 0, 8, 0, 0, 0,
    ];
    let mut alaw = mulaw;
    alaw[0] = 6;
    for (name, codec, private, want) in [
        (
            "opus",
            "A_OPUS",
            Some(&[1u8, 2][..]),
            "UnsupportedStreamMediaTypeException",
        ),
        (
            "mulaw",
            "A_MS/ACM",
            Some(&mulaw[..]),
            "UnsupportedStreamMediaTypeException",
        ),
        ("nocpd", "A_AAC", None, "MissingCodecPrivateDataException"),
        (
            "badasc",
            "A_AAC",
            Some(&[0x17u8, 0x10][..]),
            "InvalidCodecPrivateDataException",
        ),
        ("alaw", "A_MS/ACM", Some(&alaw[..]), ""),
    ] {
        create(a, name, 1).await;
        let start = clock.now_ms();
        let body = [av_header(codec, private), cluster.clone()].concat();
        assert_eq!(
            persisted(&put_media(a, name, body).await).len(),
            1,
            "{name}"
        );
        clock.advance(10_000);
        let (s, kind, mp4) = get_clip(
            a,
            clip_request(name, "SERVER_TIMESTAMP", start, start + 5_000),
        )
        .await;
        assert_eq!(kind, want, "{name}");
        if want.is_empty() {
            assert_eq!(s, 200);
            assert_eq!(mp4_bodies(&mp4, &format!("{STBL}/stsd/alaw")).len(), 1);
        } else {
            assert_eq!(s, 400, "{name}");
        }
    }

    // Tracks that change within the clip: video only, then audio too.
    create(a, "grows", 1).await;
    let start = clock.now_ms();
    put_media(
        a,
        "grows",
        [avc_header(0x1e), marked_cluster(0, 1, 8)].concat(),
    )
    .await;
    clock.advance(3_000);
    let asc = [0x11u8, 0x90];
    put_media(
        a,
        "grows",
        [av_header("A_AAC", Some(&asc)), cluster.clone()].concat(),
    )
    .await;
    clock.advance(10_000);
    let (s, kind, _) = get_clip(
        a,
        clip_request("grows", "SERVER_TIMESTAMP", start, start + 5_000),
    )
    .await;
    assert_eq!(
        (s, kind.as_str()),
        (400, "UnsupportedStreamMediaTypeException")
    );
}
