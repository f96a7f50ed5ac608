//! `StreamReader` through the remote KDS client against this crate's own
//! HTTP server on a loopback port: SigV4 signing checked by the server's
//! verifier (and refused when wrong), unsigned access, resharding followed,
//! expired iterators renewed, throttling backed off, checkpoints across a
//! restart, and a corrupt checkpoint file reported.

use std::sync::Arc;
use std::time::Duration;

use sluice_kds::sigv4::SigV4Verifier;
use sluice_kds::{
    ApiOptions, CheckpointStore, Credentials, Kds, KdsApi, KdsError, KdsOptions, ManualClock,
    PutEntry, ReadRecord, ReaderOptions, ReaderSource, ReaderStart, RemoteEndpoint, StreamReader,
};

const T0: i64 = 1_700_000_000_000;
const KEY: &str = "AKIDSLUICETEST";
const SECRET: &str = "sluice/test+secret";

struct Server {
    dir: tempfile::TempDir,
    kds: Kds,
    clock: ManualClock,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn server(signed: bool, options: KdsOptions) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let kds = Kds::open(dir.path().join("log"), options, Arc::new(clock.clone())).unwrap();
    let auth = signed.then(|| Arc::new(SigV4Verifier::new([(KEY.to_owned(), SECRET.to_owned())])));
    let api = KdsApi::new(
        kds.clone(),
        ApiOptions {
            auth,
            ..ApiOptions::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sluice_kds::serve(listener, api, async {
        let _ = stopped.await;
    }));
    Server {
        dir,
        kds,
        clock,
        url,
        stop: Some(stop),
        task,
    }
}

impl Server {
    fn put(&self, range: std::ops::Range<u32>) {
        for i in range {
            self.kds
                .put_record(
                    "s",
                    PutEntry {
                        partition_key: format!("key-{}", i % 13),
                        explicit_hash_key: None,
                        data: i.to_string().into_bytes(),
                    },
                )
                .unwrap();
        }
    }

    fn endpoint(&self, credentials: Option<(&str, &str)>) -> RemoteEndpoint {
        RemoteEndpoint {
            url: self.url.clone(),
            region: "us-east-1".into(),
            credentials: credentials.map(|(k, s)| Credentials {
                access_key_id: k.into(),
                secret_access_key: s.into(),
                session_token: None,
            }),
        }
    }

    fn options(&self) -> ReaderOptions {
        ReaderOptions {
            idle_between_reads: Duration::from_millis(5),
            relist_every: Duration::from_millis(100),
            // The signer's time is the server's: skew checks pass as time moves.
            clock: Arc::new(self.clock.clone()),
            ..ReaderOptions::default()
        }
    }

    fn store(&self) -> CheckpointStore {
        CheckpointStore::open(self.dir.path().join("app.checkpoint")).unwrap()
    }

    async fn reader(
        &self,
        credentials: Option<(&str, &str)>,
        start: ReaderStart,
        store: Option<CheckpointStore>,
    ) -> Result<StreamReader, KdsError> {
        StreamReader::open_with(
            ReaderSource::Remote(self.endpoint(credentials)),
            "s",
            start,
            store,
            self.options(),
        )
        .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn values(records: &[ReadRecord]) -> Vec<u32> {
    let mut v: Vec<u32> = records
        .iter()
        .map(|r| std::str::from_utf8(&r.data).unwrap().parse().unwrap())
        .collect();
    v.sort_unstable();
    v
}

async fn read(reader: &mut StreamReader, n: usize, max: usize) -> Vec<ReadRecord> {
    let mut out = Vec::new();
    let mut empty = 0;
    while out.len() < n && empty < 5 {
        let batch = reader
            .next_batch(max.min(n - out.len()), Duration::from_millis(50))
            .await
            .unwrap();
        empty = if batch.is_empty() { empty + 1 } else { 0 };
        out.extend(batch);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_reader_follows_a_split_and_resumes_from_its_checkpoint() {
    let srv = server(true, KdsOptions::default()).await;
    srv.kds.create_stream("s", Some(2)).unwrap();
    srv.put(0..30);
    let mut r = srv
        .reader(
            Some((KEY, SECRET)),
            ReaderStart::TrimHorizon,
            Some(srv.store()),
        )
        .await
        .unwrap();
    let first = read(&mut r, 30, 8).await;
    assert_eq!(values(&first), (0..30).collect::<Vec<_>>());
    assert!(r.millis_behind_latest().is_some());
    srv.kds
        .split_shard("s", "shardId-000000000000", 1u128 << 126)
        .unwrap();
    srv.put(30..60);
    let second = read(&mut r, 30, 8).await;
    assert_eq!(values(&second), (30..60).collect::<Vec<_>>());
    // The parent's last records come before any of its children's.
    let last_parent = second
        .iter()
        .rposition(|r| r.shard_id == "shardId-000000000000");
    let first_child = second
        .iter()
        .position(|r| r.shard_id == "shardId-000000000002" || r.shard_id == "shardId-000000000003");
    if let (Some(p), Some(c)) = (last_parent, first_child) {
        assert!(p < c);
    }
    assert!(first_child.is_some(), "children were read");
    r.commit().unwrap();
    drop(r);

    let mut again = srv
        .reader(
            Some((KEY, SECRET)),
            ReaderStart::TrimHorizon,
            Some(srv.store()),
        )
        .await
        .unwrap();
    assert!(read(&mut again, 1, 100).await.is_empty(), "no duplicates");
    srv.put(60..70);
    assert_eq!(
        values(&read(&mut again, 10, 100).await),
        (60..70).collect::<Vec<_>>()
    );
    again.commit().unwrap();
    drop(again);

    // A damaged checkpoint file is an error naming it, never a fresh start.
    let path = srv.dir.path().join("app.checkpoint");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("after 4", "after 5", 1)).unwrap();
    let err = CheckpointStore::open(&path).unwrap_err();
    assert!(matches!(err, KdsError::CorruptCheckpoint { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_signed_or_unsigned_requests_are_refused_with_the_servers_error() {
    let srv = server(true, KdsOptions::default()).await;
    srv.kds.create_stream("s", Some(1)).unwrap();
    let cases = [
        (Some((KEY, "not-the-secret")), "InvalidSignatureException"),
        (Some(("AKIDUNKNOWN", SECRET)), "UnrecognizedClientException"),
        // Without credentials the client signs with the anonymous key,
        // which a server checking signatures does not know.
        (None, "UnrecognizedClientException"),
    ];
    for (credentials, expected) in cases {
        let err = srv
            .reader(credentials, ReaderStart::TrimHorizon, None)
            .await
            .unwrap_err();
        match &err {
            KdsError::Remote {
                kind,
                operation,
                status,
                ..
            } => {
                assert_eq!(kind, expected, "{err}");
                assert_eq!(*operation, "ListShards");
                assert!(*status >= 400);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains(&srv.url), "{err}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_reader_renews_expired_iterators_and_backs_off_when_throttled() {
    let srv = server(
        false,
        KdsOptions {
            throttle: true,
            ..KdsOptions::default()
        },
    )
    .await;
    let err = srv
        .reader(None, ReaderStart::TrimHorizon, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} answered ListShards with HTTP 400 ResourceNotFoundException: Stream s under account 000000000000 not found.",
            srv.url
        )
    );
    srv.kds.create_stream("s", Some(1)).unwrap();
    srv.put(0..20);
    let mut r = srv
        .reader(None, ReaderStart::TrimHorizon, None)
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(r.next_batch(2, Duration::from_millis(20)).await.unwrap());
    }
    assert_eq!(values(&got), (0..10).collect::<Vec<_>>());
    // Sixth GetRecords in this second: ProvisionedThroughputExceededException, backed off.
    assert!(
        r.next_batch(2, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );
    // Six minutes later the held iterator has expired: renewed after the
    // last record returned, nothing skipped or repeated.
    srv.clock.advance(6 * 60_000);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rest = read(&mut r, 10, 3).await;
    assert_eq!(values(&rest), (10..20).collect::<Vec<_>>());
    srv.stop().await;
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = StreamReader::open(
        ReaderSource::Remote(RemoteEndpoint {
            url: url.clone(),
            region: "us-east-1".into(),
            credentials: None,
        }),
        "s",
        ReaderStart::TrimHorizon,
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, KdsError::Transport { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("ListShards to {url} failed")),
        "{err}"
    );
}
