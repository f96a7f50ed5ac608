//! Integration tests for sluice-reference over the network: an HTTP server
//! started inside the test on 127.0.0.1 (ETag / Last-Modified / neither),
//! and S3 through an S3-compatible server (ignored here; `ci.sh` starts a
//! moto server and runs them with `SLUICE_REFERENCE_S3_ENDPOINT` set).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sluice_reference::{
    Decode, ObjectLocation, ReferenceError, ReferenceOptions, ReferenceTable, Refresh, ReloadEvent,
    S3Options,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc::unbounded_channel;

/// One row per line; a line containing `BAD` is rejected with its number.
fn lines() -> Decode<Vec<String>> {
    Arc::new(|bytes: &[u8]| {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                if l.contains("BAD") {
                    Err(format!("line {}: malformed row {l:?}", i + 1))
                } else {
                    Ok(l.to_owned())
                }
            })
            .collect()
    })
}

fn no_watch() -> ReferenceOptions {
    ReferenceOptions {
        check_interval: None,
        ..ReferenceOptions::default()
    }
}

/// What the test server serves at `/tables/companies.csv`.
#[derive(Debug, Clone)]
struct Served {
    body: &'static str,
    e_tag: Option<&'static str>,
    last_modified: Option<&'static str>,
    status: StatusCode,
}

struct Server {
    addr: SocketAddr,
    served: Arc<Mutex<Served>>,
    /// Methods of the requests received, in order.
    log: Arc<Mutex<Vec<Method>>>,
}

impl Server {
    async fn start(served: Served) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(served));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (Arc::clone(&served), Arc::clone(&log));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, l) = (Arc::clone(&s), Arc::clone(&l));
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (s, l) = (Arc::clone(&s), Arc::clone(&l));
                        async move { Ok::<_, Infallible>(respond(&req, &s, &l)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, served, log }
    }

    fn url(&self) -> String {
        format!("http://{}/tables/companies.csv", self.addr)
    }

    fn set(&self, f: impl FnOnce(&mut Served)) {
        f(&mut self.served.lock().unwrap());
    }

    fn take_log(&self) -> Vec<Method> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn respond(
    req: &Request<Incoming>,
    served: &Mutex<Served>,
    log: &Mutex<Vec<Method>>,
) -> Response<Full<Bytes>> {
    log.lock().unwrap().push(req.method().clone());
    let s = served.lock().unwrap().clone();
    if req.uri().path() != "/tables/companies.csv" {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    let mut b = Response::builder().status(s.status);
    if s.status == StatusCode::OK {
        if let Some(e) = s.e_tag {
            b = b.header("ETag", e);
        }
        if let Some(t) = s.last_modified {
            b = b.header("Last-Modified", t);
        }
    }
    // hyper sends the Content-Length of this body and no body for HEAD.
    b.body(Full::new(Bytes::from_static(s.body.as_bytes())))
        .unwrap()
}

fn served(body: &'static str, e_tag: Option<&'static str>) -> Served {
    Served {
        body,
        e_tag,
        last_modified: Some("Sun, 01 Jun 2025 12:00:00 GMT"),
        status: StatusCode::OK,
    }
}

#[tokio::test]
async fn http_object_with_an_etag_is_reloaded_when_the_etag_changes() {
    let server = Server::start(served("AMZN,Amazon\n", Some("\"v1\""))).await;
    let location = ObjectLocation::parse(&server.url(), Path::new("/")).unwrap();
    let table = ReferenceTable::load(location, lines(), no_watch())
        .await
        .unwrap();
    let s = table.current();
    assert_eq!(s.data, vec!["AMZN,Amazon"]);
    assert_eq!(s.e_tag.as_deref(), Some("\"v1\""));
    assert_eq!(
        s.last_modified.map(|t| t.to_rfc3339()).as_deref(),
        Some("2025-06-01T12:00:00+00:00")
    );
    assert_eq!(server.take_log(), [Method::GET]);

    // Unchanged: one HEAD, no GET.
    assert!(matches!(table.refresh().await, Ok(Refresh::Unchanged)));
    assert_eq!(server.take_log(), [Method::HEAD]);

    server.set(|s| {
        s.body = "AMZN,Amazon\nMSFT,Microsoft\n";
        s.e_tag = Some("\"v2\"");
    });
    match table.refresh().await.unwrap() {
        Refresh::Reloaded(s) => {
            assert_eq!((s.version, s.data.len()), (2, 2));
            assert_eq!(s.e_tag.as_deref(), Some("\"v2\""));
        }
        Refresh::Unchanged => panic!("the ETag changed"),
    }
    assert_eq!(server.take_log(), [Method::HEAD, Method::GET]);
}

#[tokio::test]
async fn http_server_errors_keep_the_old_table() {
    let server = Server::start(served("AMZN,Amazon\n", Some("\"v1\""))).await;
    let location = ObjectLocation::parse(&server.url(), Path::new("/")).unwrap();
    let table = ReferenceTable::load(location, lines(), no_watch())
        .await
        .unwrap();

    server.set(|s| s.status = StatusCode::FORBIDDEN);
    let e = table.refresh().await.unwrap_err();
    assert!(
        matches!(
            e,
            ReferenceError::Fetch {
                operation: "HEAD",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&server.url()), "{e}");
    assert_eq!(table.current().data, vec!["AMZN,Amazon"]);
    assert!(table.last_error().is_some());

    server.set(|s| {
        s.status = StatusCode::OK;
        s.body = "AMZN,Amazon\nBAD\n";
        s.e_tag = Some("\"v2\"");
    });
    let e = table.refresh().await.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("(ETag \"v2\"): line 2: malformed row \"BAD\""),
        "{e}"
    );
    assert_eq!(table.current().version, 1);

    // Back to the loaded version: readable again, nothing to reload.
    server.set(|s| {
        s.body = "AMZN,Amazon\n";
        s.e_tag = Some("\"v1\"");
    });
    assert!(matches!(table.refresh().await, Ok(Refresh::Unchanged)));
    assert!(table.last_error().is_none());

    let missing = ObjectLocation::parse(
        &format!("http://{}/tables/none.csv", server.addr),
        Path::new("/"),
    )
    .unwrap();
    let e = ReferenceTable::load(missing, lines(), no_watch())
        .await
        .unwrap_err();
    assert!(matches!(e, ReferenceError::NotFound { .. }), "{e}");
    assert!(e.to_string().ends_with("/tables/none.csv not found"), "{e}");
}

#[tokio::test]
async fn http_object_without_etag_or_last_modified_is_compared_by_content() {
    let mut s = served("AMZN,Amazon\n", None);
    s.last_modified = None;
    let server = Server::start(s).await;
    let location = ObjectLocation::parse(&server.url(), Path::new("/")).unwrap();
    let table = ReferenceTable::load(location, lines(), no_watch())
        .await
        .unwrap();
    let s = table.current();
    assert_eq!((s.e_tag.as_deref(), s.last_modified), (None, None));
    server.take_log();

    // Nothing in the metadata can show a change: the bytes are fetched and compared.
    assert!(matches!(table.refresh().await, Ok(Refresh::Unchanged)));
    assert_eq!(server.take_log(), [Method::HEAD, Method::GET]);
    server.set(|s| s.body = "MSFT,Msoft!\n"); // same length, other bytes
    match table.refresh().await.unwrap() {
        Refresh::Reloaded(s) => assert_eq!(s.data, vec!["MSFT,Msoft!"]),
        Refresh::Unchanged => panic!("the bytes changed"),
    }
}

#[tokio::test]
async fn http_object_is_reloaded_by_the_background_task() {
    let server = Server::start(served("AMZN,Amazon\n", Some("\"v1\""))).await;
    let location = ObjectLocation::parse(&server.url(), Path::new("/")).unwrap();
    let (tx, mut events) = unbounded_channel();
    let options = ReferenceOptions {
        check_interval: Some(Duration::from_millis(20)),
        on_event: Arc::new(move |e: &ReloadEvent| {
            let _ = tx.send(e.clone());
        }),
        ..ReferenceOptions::default()
    };
    let table = ReferenceTable::load(location, lines(), options)
        .await
        .unwrap();
    server.set(|s| {
        s.body = "AMZN,Amazon\nMSFT,Microsoft\n";
        s.e_tag = Some("\"v2\"");
    });
    let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("no reload within 20 s")
        .unwrap();
    assert!(
        matches!(event, ReloadEvent::Reloaded { version: 2, .. }),
        "{event}"
    );
    assert_eq!(table.current().data.len(), 2);
}

/// The S3-compatible endpoint `ci.sh` started (a moto server), with bucket
/// `sluice-reference` holding `companies.csv` = "AMZN,Amazon\n".
fn s3() -> S3Options {
    let endpoint = std::env::var("SLUICE_REFERENCE_S3_ENDPOINT")
        .expect("SLUICE_REFERENCE_S3_ENDPOINT (set by crates/sluice-reference/ci.sh)");
    S3Options {
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        ..S3Options::default()
    }
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: run by crates/sluice-reference/ci.sh"]
async fn s3_object_is_loaded_and_reloaded_when_it_changes() {
    use object_store::{ObjectStoreExt, PutPayload};

    let s3 = s3();
    let location =
        ObjectLocation::parse("s3://sluice-reference/companies.csv", Path::new("/")).unwrap();
    let options = ReferenceOptions {
        s3: s3.clone(),
        check_interval: None,
        ..ReferenceOptions::default()
    };
    let table = ReferenceTable::load(location.clone(), lines(), options.clone())
        .await
        .unwrap();
    let first = table.current();
    assert_eq!(first.data, vec!["AMZN,Amazon"]);
    assert!(first.e_tag.is_some());
    assert!(matches!(table.refresh().await, Ok(Refresh::Unchanged)));

    // Overwrite the object through the same store.
    let (store, path) = location.open(&s3).unwrap();
    store
        .put(
            &path,
            PutPayload::from_static(b"AMZN,Amazon\nMSFT,Microsoft\n"),
        )
        .await
        .unwrap();
    match table.refresh().await.unwrap() {
        Refresh::Reloaded(s) => {
            assert_eq!((s.version, s.data.len()), (2, 2));
            assert_ne!(s.e_tag, first.e_tag);
        }
        Refresh::Unchanged => panic!("the object was overwritten"),
    }

    // A bad version keeps version 2.
    store
        .put(&path, PutPayload::from_static(b"AMZN,Amazon\nBAD\n"))
        .await
        .unwrap();
    let e = table.refresh().await.unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    assert_eq!(table.current().version, 2);

    // Deleted: NotFound, still version 2.
    store.delete(&path).await.unwrap();
    let e = table.refresh().await.unwrap_err();
    assert!(matches!(e, ReferenceError::NotFound { .. }), "{e}");
    assert_eq!(table.current().data.len(), 2);
    // Put the original back for the next run of this test.
    store
        .put(&path, PutPayload::from_static(b"AMZN,Amazon\n"))
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: run by crates/sluice-reference/ci.sh"]
async fn s3_missing_bucket_or_key_names_the_url() {
    let options = ReferenceOptions {
        s3: s3(),
        check_interval: None,
        ..ReferenceOptions::default()
    };
    let missing = ObjectLocation::parse("s3://sluice-reference/none.csv", Path::new("/")).unwrap();
    let e = ReferenceTable::load(missing, lines(), options.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, ReferenceError::NotFound { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("reference object s3://sluice-reference/none.csv not found"),
        "{e}"
    );
    let no_bucket = ObjectLocation::parse("s3://no-such-bucket/t.csv", Path::new("/")).unwrap();
    let e = ReferenceTable::load(no_bucket, lines(), options)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("s3://no-such-bucket/t.csv"), "{e}");
}
