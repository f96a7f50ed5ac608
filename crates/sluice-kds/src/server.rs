//! The HTTP server for [`KdsApi`]: HTTP/1.1 and cleartext HTTP/2 (h2c) on
//! one listener, stopping cleanly when told to. Entry point: [`serve`].

use std::future::Future;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::api::KdsApi;

/// How often expired segments are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// How long open connections get to finish once shutdown starts.
const DRAIN_FOR: Duration = Duration::from_secs(10);

/// Serves `api` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish (up to 10 s) and returns.
///
/// Also deletes expired data once a minute.
pub async fn serve(listener: TcpListener, api: KdsApi, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let retention = {
        let kds = api.kds().clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETENTION_EVERY);
            loop {
                tick.tick().await;
                let kds = kds.clone();
                if let Ok(Err(e)) =
                    tokio::task::spawn_blocking(move || kds.enforce_retention()).await
                {
                    eprintln!("sluice-kds: retention pass failed: {e}");
                }
            }
        })
    };
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                eprintln!("sluice-kds: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let api = api.clone();
        let service = service_fn(move |req| {
            let api = api.clone();
            async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    retention.abort();
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_FOR, graceful.shutdown()).await;
}
