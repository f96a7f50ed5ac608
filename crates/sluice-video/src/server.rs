//! A standalone HTTP/1.1 server for [`VideoApi`] (the example binary and the
//! tests use it; the `sluice` CLI routes to [`VideoApi::handle`] from its
//! own combined server instead). Entry point: [`serve`].

use std::convert::Infallible;
use std::future::Future;

use http::{Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::api::VideoApi;
use crate::body;

/// Serve `api` on `listener` until `shutdown` completes. Paths that are
/// not KVS paths get a 404 `UnknownOperationException`.
pub async fn serve(api: VideoApi, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let api = api.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let api = api.clone();
                        async move {
                            if VideoApi::matches(req.uri().path()) {
                                Ok::<_, Infallible>(api.handle(req).await)
                            } else {
                                let mut resp = Response::new(body::full(
                                    r#"{"__type":"UnknownOperationException","message":"unknown operation"}"#,
                                ));
                                *resp.status_mut() = StatusCode::NOT_FOUND;
                                resp.headers_mut().insert(
                                    "x-amzn-ErrorType",
                                    http::HeaderValue::from_static("UnknownOperationException"),
                                );
                                Ok(resp)
                            }
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), svc)
                        .await;
                });
            }
            () = &mut shutdown => return,
        }
    }
}
