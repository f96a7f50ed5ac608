//! The HTTP server: HTTP/1.1 and HTTP/2 on one listener, in cleartext (h2c
//! by prior knowledge) and in TLS (ALPN `h2` or `http/1.1`) on the same port,
//! stopping cleanly when told to.
//!
//! Entry points: [`serve`] (the KDS API in cleartext), [`serve_api`] (the
//! KDS API, optionally with TLS) and [`serve_with`], the generic serving
//! loop a caller uses to put any handler (several AWS APIs told apart by
//! `X-Amz-Target` and path) behind one port. [`load_tls_config`] reads the
//! certificate chain and private key from PEM files.
//!
//! Each connection's first byte picks the protocol: `0x16` (a TLS handshake
//! record) starts TLS with the configured certificate; anything else is
//! served in cleartext. hyper's `auto` builder then tells HTTP/1.1 from
//! HTTP/2 by the connection preface, so plaintext h2c and ALPN h2 both work.

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::api::{ApiBody, KdsApi};
use crate::error::{KdsError, Result};
use crate::kds::Kds;

/// How often expired segments are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// How long open connections get to finish once shutdown starts.
const DRAIN_FOR: Duration = Duration::from_secs(10);
/// How long a new connection gets to send its first byte and finish the TLS
/// handshake.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(30);
/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Serves the KDS API on `listener` in cleartext (HTTP/1.1 and h2c) until
/// `shutdown` completes; see [`serve_api`].
pub async fn serve(listener: TcpListener, api: KdsApi, shutdown: impl Future<Output = ()>) {
    serve_api(listener, api, None, shutdown).await;
}

/// Serves the KDS API on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish (up to 10 s) and returns.
///
/// With `tls`, connections that open with a TLS handshake are served over
/// TLS and the others in cleartext, on the same port. Also deletes expired
/// data once a minute (see [`spawn_retention`]).
pub async fn serve_api(
    listener: TcpListener,
    api: KdsApi,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let retention = spawn_retention(api.kds().clone());
    let handler = move |req: Request<Incoming>| {
        let api = api.clone();
        async move { api.handle(req).await }
    };
    serve_with(listener, handler, tls, shutdown).await;
    retention.abort();
}

/// Starts a task that deletes `kds`'s expired data once a minute, logging
/// failures to stderr; abort the handle to stop it. [`serve_api`] starts one
/// itself; a caller of [`serve_with`] starts its own.
pub fn spawn_retention(kds: Kds) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_EVERY);
        loop {
            tick.tick().await;
            let kds = kds.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || kds.enforce_retention()).await {
                eprintln!("sluice-kds: retention pass failed: {e}");
            }
        }
    })
}

/// Registers for SIGTERM and SIGINT now and resolves on either, even one
/// that comes before the future is first polled. Call it in the runtime
/// before announcing the address (then hand it to [`serve_with`] or
/// [`serve_api`]): until then the default action applies,
/// and a SIGTERM ends the process at once, unsuccessfully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// The generic serving loop: answers every request on `listener` with
/// `handler` until `shutdown` completes.
///
/// - `handler` is called once per request (HTTP/1.1 or HTTP/2, cleartext or
///   TLS) and must answer it; it never fails (errors are answers). It is
///   cloned per connection, so keep it cheap to clone (an `Arc` or a
///   closure over cheaply cloned state such as [`KdsApi`]).
/// - `tls`: `None` serves cleartext only. `Some(config)` also accepts TLS on
///   the same port, telling the two apart by the connection's first byte;
///   put `h2` and `http/1.1` in the config's ALPN protocols (as
///   [`load_tls_config`] does) to offer HTTP/2 over TLS.
/// - On shutdown: stops accepting, closes the listener, closes connections
///   that are still handshaking, lets in-flight requests finish (HTTP/1.1
///   keep-alive connections close after their current response, HTTP/2 ones
///   get GOAWAY) for up to 10 s, then returns. Response streams still open
///   after that (such as a SubscribeToShard event stream) are dropped with
///   the runtime's tasks.
///
/// Accept errors (such as running out of file descriptors) are logged to
/// stderr and retried after 50 ms; failed handshakes close that connection.
pub async fn serve_with<H, F>(
    listener: TcpListener,
    handler: H,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ApiBody>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let acceptor = tls.map(TlsAcceptor::from);
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                eprintln!("sluice: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let mut stopping = stopping_rx.clone();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let opened = tokio::select! {
                o = tokio::time::timeout(HANDSHAKE_WITHIN, open(stream, acceptor)) => o,
                _ = stopping.changed() => return,
            };
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler(req).await) }
            });
            match opened {
                Ok(Ok(Opened::Plain(tcp))) => {
                    let conn = builder
                        .serve_connection(TokioIo::new(tcp), service)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
                Ok(Ok(Opened::Tls(tls))) => {
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
                // A client that hung up, spoke bad TLS or stayed silent.
                Ok(Err(_)) | Err(_) => {}
            }
        });
    }
    let _ = stopping_tx.send(true);
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_FOR, graceful.shutdown()).await;
}

/// A connection ready for HTTP.
enum Opened {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Sniffs the first byte and does the TLS handshake if it starts one.
async fn open(stream: TcpStream, acceptor: Option<TlsAcceptor>) -> io::Result<Opened> {
    let Some(acceptor) = acceptor else {
        return Ok(Opened::Plain(stream));
    };
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if first[0] == TLS_HANDSHAKE_RECORD {
        Ok(Opened::Tls(Box::new(acceptor.accept(stream).await?)))
    } else {
        Ok(Opened::Plain(stream))
    }
}

/// Builds a TLS server config from a PEM certificate chain (leaf first) and
/// a PEM private key (PKCS#8, PKCS#1 or SEC1), offering ALPN `h2` and
/// `http/1.1`, with the `ring` crypto provider.
///
/// Errors name the file and what was wrong with it: unreadable, no
/// `CERTIFICATE` / private key block, or a key that does not match the
/// certificate.
pub fn load_tls_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServerConfig>> {
    let tls_error = |what: &'static str, path: &Path, reason: String| KdsError::Tls {
        what,
        path: path.to_owned(),
        reason,
    };
    let pem_reason = |e: rustls_pki_types::pem::Error, block: &str| match e {
        rustls_pki_types::pem::Error::Io(e) => e.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => format!("no PEM {block} block found"),
        other => format!("bad PEM: {other}"),
    };
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error("certificate", cert_pem, pem_reason(e, "CERTIFICATE")))?;
    if certs.is_empty() {
        return Err(tls_error(
            "certificate",
            cert_pem,
            "no PEM CERTIFICATE block found".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| tls_error("private key", key_pem, pem_reason(e, "PRIVATE KEY")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("certificate", cert_pem, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_error(
                "private key",
                key_pem,
                format!("does not fit certificate {}: {e}", cert_pem.display()),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_tls_config_names_the_file_that_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let missing = load_tls_config(&cert, &key).unwrap_err().to_string();
        assert!(
            missing.contains("certificate") && missing.contains("cert.pem"),
            "{missing}"
        );

        std::fs::write(&cert, "not a pem file\n").unwrap();
        let empty = load_tls_config(&cert, &key).unwrap_err().to_string();
        assert!(empty.contains("no PEM CERTIFICATE block"), "{empty}");

        let signed = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, signed.cert.pem()).unwrap();
        let no_key = load_tls_config(&cert, &key).unwrap_err().to_string();
        assert!(
            no_key.contains("private key") && no_key.contains("key.pem"),
            "{no_key}"
        );

        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let mismatch = load_tls_config(&cert, &key).unwrap_err().to_string();
        assert!(mismatch.contains("does not fit"), "{mismatch}");

        std::fs::write(&key, signed.signing_key.serialize_pem()).unwrap();
        let config = load_tls_config(&cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
