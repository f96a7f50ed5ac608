//! The HTTP server on a loopback port: requests over HTTP/1.1, bad input,
//! and a clean stop.

use std::sync::Arc;
use std::time::Duration;

use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions, ManualClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(addr: std::net::SocketAddr, target: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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
