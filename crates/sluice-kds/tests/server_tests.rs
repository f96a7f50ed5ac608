//! The HTTP server on a loopback port: requests over HTTP/1.1, bad input,
//! and a clean stop.

use std::sync::Arc;
use std::time::Duration;

use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, ManualClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An Authorization header of the form AWS requires (the servers under
/// test check no signature).
const UNSIGNED_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0";

async fn request(addr: std::net::SocketAddr, target: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20260101T000000Z\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let kds = Kds::open(
        dir.path(),
        KdsOptions::default(),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sluice_kds::serve(
        listener,
        KdsApi::new(kds, ApiOptions::default()),
        async {
            let _ = stopped.await;
        },
    ));
    let (s, b) = request(
        addr,
        "Kinesis_20131202.CreateStream",
        br#"{"StreamName":"x","ShardCount":1}"#,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = request(addr, "Kinesis_20131202.Bogus", b"{}").await;
    assert_eq!(s, 400);
    assert!(b.contains("UnknownOperationException"));
    let (s, b) = request(addr, "Kinesis_20131202.PutRecord", b"{\"StreamName\":").await;
    assert_eq!(s, 400);
    assert!(b.contains("SerializationException"));
    let (s, b) = request(addr, "Kinesis_20131202.ListStreams", b"{}").await;
    assert_eq!(s, 200);
    assert!(b.contains("\"x\""));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A TLS client trusting `cert` and offering `alpn`.
fn tls_connector(cert: &rcgen::Certificate, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn kds_request(target: &str, body: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post("https://localhost/")
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", UNSIGNED_AUTH)
        .header("x-amz-date", "20260101T000000Z")
        .header("host", "localhost")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap()
}

async fn body_text(resp: http::Response<hyper::body::Incoming>) -> (u16, String) {
    use http_body_util::BodyExt as _;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_h2_tls_http1_and_cleartext_share_one_port() {
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let dir = tempfile::tempdir().unwrap();
    let signed = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, signed.cert.pem()).unwrap();
    std::fs::write(&key_path, signed.signing_key.serialize_pem()).unwrap();
    let tls = sluice_kds::load_tls_config(&cert_path, &key_path).unwrap();

    let kds = Kds::open(
        dir.path().join("data"),
        KdsOptions::default(),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sluice_kds::serve_api(
        listener,
        KdsApi::new(kds, ApiOptions::default()),
        Some(tls),
        async {
            let _ = stopped.await;
        },
    ));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

    // TLS with ALPN h2: HTTP/2.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tls_connector(&signed.cert, b"h2")
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = h2
        .send_request(kds_request(
            "Kinesis_20131202.CreateStream",
            r#"{"StreamName":"over-tls","ShardCount":1}"#,
        ))
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let (s, b) = body_text(resp).await;
    assert_eq!(s, 200, "{b}");
    let resp = h2
        .send_request(kds_request(
            "Kinesis_20131202.PutRecord",
            r#"{"StreamName":"over-tls","PartitionKey":"p","Data":"aGk="}"#,
        ))
        .await
        .unwrap();
    let (s, b) = body_text(resp).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("shardId-000000000000"), "{b}");

    // TLS with ALPN http/1.1: HTTP/1.1.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tls_connector(&signed.cert, b"http/1.1")
        .connect(name.clone(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = h1
        .send_request(kds_request("Kinesis_20131202.ListStreams", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let (s, b) = body_text(resp).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("over-tls"), "{b}");

    // Cleartext HTTP/1.1 and h2c on the same port.
    let (s, b) = request(addr, "Kinesis_20131202.ListStreams", b"{}").await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("over-tls"), "{b}");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut h2c, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = h2c
        .send_request(kds_request(
            "Kinesis_20131202.DescribeStreamSummary",
            r#"{"StreamName":"over-tls"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let (s, b) = body_text(resp).await;
    assert_eq!(s, 200, "{b}");

    // A TLS client that does not trust the certificate is refused; the server goes on.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        tls_connector(&other.cert, b"h2")
            .connect(name, tcp)
            .await
            .is_err()
    );

    // A client that connects and says nothing does not hold up shutdown;
    // the open HTTP/2 and HTTP/1.1 connections are closed gracefully.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (entered_tx, entered_rx) = tokio::sync::mpsc::channel::<()>(1);
    let handler = move |_req: http::Request<hyper::body::Incoming>| {
        let entered = entered_tx.clone();
        async move {
            let _ = entered.send(()).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            use http_body_util::BodyExt as _;
            let body: sluice_kds::api::ApiBody =
                http_body_util::Full::new(bytes::Bytes::from_static(b"done"))
                    .map_err(|never: std::convert::Infallible| -> std::io::Error { match never {} })
                    .boxed();
            http::Response::new(body)
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sluice_kds::serve_with(listener, handler, None, async {
        let _ = stopped.await;
    }));
    let client = tokio::spawn(request(addr, "Anything", b"{}"));
    let mut entered_rx = entered_rx;
    entered_rx.recv().await.unwrap();
    stop.send(()).unwrap();
    let (status, body) = client.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "done"));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
