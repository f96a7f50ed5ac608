//! A Firehose API server for trying real clients before the `sluice` CLI
//! serves it: `cargo run -p sluice-firehose --example firehose-serve -- --listen
//! 127.0.0.1:PORT --data-dir DIR --bucket-dir DIR`. Runs until SIGTERM or
//! SIGINT; bucket `b` of `arn:aws:s3:::b` is the directory `<bucket-dir>/b`,
//! or, with `--s3-endpoint URL` instead of `--bucket-dir`, bucket `b` at that
//! S3-compatible endpoint (credentials from `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY`).

use std::sync::Arc;

use anyhow::{Context, bail};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sluice_firehose::{
    Buckets, Firehose, FirehoseApi, FirehoseOptions, LocalBuckets, S3Buckets, SystemClock,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen = "127.0.0.1:4573".to_owned();
    let mut data_dir = None;
    let mut bucket_dir = None;
    let mut s3_endpoint = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = val()?,
            "--data-dir" => data_dir = Some(val()?),
            "--bucket-dir" => bucket_dir = Some(val()?),
            "--s3-endpoint" => s3_endpoint = Some(val()?),
            other => bail!("unknown argument {other}"),
        }
    }
    let data_dir = data_dir.context("--data-dir is required")?;
    let buckets: Arc<dyn Buckets> = match (bucket_dir, s3_endpoint) {
        (Some(dir), None) => Arc::new(LocalBuckets::new(dir)),
        (None, Some(ep)) => Arc::new(S3Buckets::new(Some(ep), "us-east-1")),
        _ => bail!("give exactly one of --bucket-dir and --s3-endpoint"),
    };
    let firehose = Firehose::open(FirehoseOptions::new(
        &data_dir,
        buckets,
        Arc::new(SystemClock),
    ))
    .with_context(|| format!("opening {data_dir}"))?;
    let api = FirehoseApi::new(firehose.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    // Registered before the address is printed: a SIGTERM right after it
    // still stops the server cleanly.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, _) = accepted?;
                let api = api.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    // Deliver what is buffered; anything left stays in the durable buffer.
    if let Err(e) = firehose.flush_all().await {
        eprintln!("flush on shutdown: {e:#}");
    }
    firehose.close();
    Ok(())
}
