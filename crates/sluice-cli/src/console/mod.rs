//! The web console of `sluice serve`: the KDA console's SQL editor and live
//! stream view, on the same port as the AWS APIs.
//!
//! A request without `X-Amz-Target` for `/` or under `/console/` comes
//! here ([`Console::matches`]). The page itself is three files compiled into
//! the binary (`assets/`: plain HTML, CSS and JavaScript, no build step);
//! everything it shows comes from the JSON API under `/console/api/`:
//!
//! - `GET overview`: streams, delivery streams, video streams and apps with
//!   their rates ([`overview`]);
//! - `POST streams`: create a Kinesis data stream;
//! - `GET streams/{s}/schema`: sample a stream and infer its columns, as
//!   `sluice discover` does ([`editor::schema`]);
//! - `GET templates`; `POST check`: the check `sluice check` runs, as
//!   problems at their line and column ([`editor::check`]);
//! - `GET apps`, `GET apps/{a}`, `PUT apps/{a}` (save and run),
//!   `POST apps/{a}/stop`, `POST apps/{a}/start` ([`apps::AppRegistry`]);
//! - `GET apps/{a}/streams/{s}/rows`: Server-Sent Events of an
//!   in-application stream's rows, the last 1,000 first.
//!
//! With `--auth sigv4` every API call must be signed (the page asks for a
//! key pair and signs with WebCrypto; the secret stays in the page). Errors
//! are `{"error": {"type", "message"}}` with an HTTP status.

pub mod apps;
pub mod editor;
pub mod overview;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};
use sluice_engine::Clock;
use sluice_firehose::Firehose;
use sluice_kds::Kds;
use sluice_kds::sigv4::SigV4Verifier;
use sluice_video::VideoApi;

use self::apps::{AppRegistry, ConsoleError};
use crate::monitor::StreamTap;

type ApiBody = sluice_kds::api::ApiBody;

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// Largest request body the console takes (an app's SQL and config).
const MAX_BODY: usize = 1 << 20;
/// How often a live row stream sends a keepalive comment.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The console: the services it shows and the apps it runs.
pub struct Console {
    kds: Kds,
    firehose: Firehose,
    video: VideoApi,
    apps: Arc<AppRegistry>,
    auth: Option<Arc<SigV4Verifier>>,
    clock: Arc<dyn Clock>,
    rates: overview::Rates,
}

impl Console {
    /// A console over these services and apps (`auth`: the server's
    /// SigV4 keys, when it checks signatures).
    pub fn new(
        kds: Kds,
        firehose: Firehose,
        video: VideoApi,
        apps: Arc<AppRegistry>,
        auth: Option<Arc<SigV4Verifier>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            kds,
            firehose,
            video,
            apps,
            auth,
            clock,
            rates: overview::Rates::default(),
        }
    }

    /// Samples the counters behind the rates once a second, on the
    /// current tokio runtime, until the returned task is aborted.
    pub fn spawn_sampler(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let counters = overview::counters(&this.kds, &this.video, &this.apps);
                this.rates.sample(this.clock.now_ms(), counters);
            }
        })
    }

    /// Whether a request without `X-Amz-Target` is the console's.
    pub fn matches(path: &str) -> bool {
        path == "/" || path.starts_with("/console/")
    }

    /// Answers one console request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ApiBody> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let method = parts.method.clone();
        if !path.starts_with("/console/api/") {
            return match (method, path.as_str()) {
                (Method::GET, "/") => asset("text/html; charset=utf-8", INDEX_HTML),
                (Method::GET, "/console/console.js") => {
                    asset("text/javascript; charset=utf-8", CONSOLE_JS)
                }
                (Method::GET, "/console/console.css") => {
                    asset("text/css; charset=utf-8", CONSOLE_CSS)
                }
                (Method::GET, "/console/config") => json_response(
                    200,
                    &json!({
                        "auth": if self.auth.is_some() { "sigv4" } else { "off" },
                        "region_hint": "us-east-1",
                    }),
                ),
                _ => error(404, "NotFound", &format!("no console page at {path}")),
            };
        }
        let body = match read_body(body).await {
            Ok(b) => b,
            Err(e) => return e.response(),
        };
        if let Some(auth) = &self.auth {
            let signed = crate::serve::signed_request(&parts, &body);
            if let Err(e) = auth.verify(&signed, self.clock.now_ms()) {
                return error(403, e.kind, &e.message);
            }
        }
        let rest = &path["/console/api/".len()..];
        let segments: Vec<String> = rest
            .split('/')
            .map(|s| percent_decode(s).unwrap_or_else(|| s.to_string()))
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let query = parts.uri.query().unwrap_or("");
        match self.api(&method, &segs, query, &body).await {
            Ok(Reply::Json(status, v)) => json_response(status, &v),
            Ok(Reply::Rows(tap)) => rows_stream(tap),
            Err(e) => e.response(),
        }
    }

    async fn api(
        &self,
        method: &Method,
        segs: &[&str],
        query: &str,
        body: &[u8],
    ) -> Result<Reply, ConsoleError> {
        let ok = |v: Value| Ok(Reply::Json(200, v));
        match (method, segs) {
            (&Method::GET, ["overview"]) => ok(overview::overview(
                &self.kds,
                &self.firehose,
                &self.video,
                &self.apps,
                &self.rates,
                self.clock.now_ms(),
            )),
            (&Method::POST, ["streams"]) => {
                let v = parse_json(body)?;
                let name = v["name"]
                    .as_str()
                    .ok_or_else(|| ConsoleError::bad("give the stream's \"name\""))?;
                let shards = match &v["shards"] {
                    Value::Null => 1,
                    n => n
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            ConsoleError::bad("\"shards\" must be a positive integer")
                        })?,
                };
                if self.kds.stream_exists(name) {
                    return Err(ConsoleError::Conflict(format!(
                        "stream {name} already exists"
                    )));
                }
                self.kds
                    .create_stream(name, Some(shards))
                    .map_err(|e| ConsoleError::bad(&e.to_string()))?;
                ok(json!({"name": name}))
            }
            (&Method::GET, ["streams", stream, "schema"]) => {
                let limit = query_param(query, "limit")
                    .and_then(|l| l.parse::<usize>().ok())
                    .unwrap_or(100)
                    .clamp(1, 1000);
                let kds = self.kds.clone();
                let stream = stream.to_string();
                let v = tokio::task::spawn_blocking(move || editor::schema(&kds, &stream, limit))
                    .await
                    .map_err(|e| ConsoleError::Internal(e.to_string()))??;
                ok(v)
            }
            (&Method::GET, ["templates"]) => ok(json!({"templates": editor::templates()})),
            (&Method::POST, ["check"]) => {
                let v = parse_json(body)?;
                let sql = v["sql"].as_str().unwrap_or_default().to_string();
                let config = v["config"].as_str().map(str::to_string);
                let dir = self.apps.apps_dir().to_path_buf();
                let problems = tokio::task::spawn_blocking(move || {
                    editor::check(&sql, config.as_deref(), &dir)
                })
                .await
                .map_err(|e| ConsoleError::Internal(e.to_string()))?;
                ok(json!({"ok": problems.is_empty(), "problems": problems}))
            }
            (&Method::GET, ["apps"]) => ok(json!({"apps": self.apps.summaries(&self.rates)})),
            (&Method::GET, ["apps", app]) => ok(self.apps.detail(app, &self.rates)?),
            (&Method::PUT, ["apps", app]) => {
                let v = parse_json(body)?;
                let sql = v["sql"]
                    .as_str()
                    .ok_or_else(|| ConsoleError::bad("give the app's \"sql\""))?
                    .to_string();
                let config = v["config"].as_str().unwrap_or_default().to_string();
                let start = start_position(&v["start"])?;
                let (apps, name) = (Arc::clone(&self.apps), app.to_string());
                tokio::task::spawn_blocking(move || apps.save(&name, &sql, &config, start))
                    .await
                    .map_err(|e| ConsoleError::Internal(e.to_string()))??;
                ok(self.apps.detail(app, &self.rates)?)
            }
            (&Method::POST, ["apps", app, "stop"]) => {
                let (apps, name) = (Arc::clone(&self.apps), app.to_string());
                tokio::task::spawn_blocking(move || apps.stop(&name))
                    .await
                    .map_err(|e| ConsoleError::Internal(e.to_string()))??;
                ok(self.apps.detail(app, &self.rates)?)
            }
            (&Method::POST, ["apps", app, "start"]) => {
                let v = if body.is_empty() {
                    Value::Null
                } else {
                    parse_json(body)?
                };
                let start = start_position(&v["position"])?;
                let (apps, name) = (Arc::clone(&self.apps), app.to_string());
                tokio::task::spawn_blocking(move || apps.start(&name, start))
                    .await
                    .map_err(|e| ConsoleError::Internal(e.to_string()))??;
                ok(self.apps.detail(app, &self.rates)?)
            }
            (&Method::GET, ["apps", app, "streams", stream, "rows"]) => {
                Ok(Reply::Rows(self.apps.tap(app, stream)?))
            }
            _ => Err(ConsoleError::NotFound(format!(
                "no console API {method} /console/api/{}",
                segs.join("/")
            ))),
        }
    }
}

/// What an API call answers.
enum Reply {
    Json(u16, Value),
    /// The live rows of a stream.
    Rows(Arc<StreamTap>),
}

/// `start`/`position`: NOW, TRIM_HORIZON or LAST_STOPPED_POINT (default).
fn start_position(v: &Value) -> Result<&'static str, ConsoleError> {
    match v.as_str() {
        None | Some("LAST_STOPPED_POINT") => Ok("LAST_STOPPED_POINT"),
        Some("NOW") => Ok("NOW"),
        Some("TRIM_HORIZON") => Ok("TRIM_HORIZON"),
        Some(other) => Err(ConsoleError::bad(&format!(
            "starting position {other:?}: expected NOW, TRIM_HORIZON or LAST_STOPPED_POINT"
        ))),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ConsoleError> {
    serde_json::from_slice(body)
        .map_err(|e| ConsoleError::bad(&format!("the request body is not JSON: {e}")))
}

async fn read_body(body: Incoming) -> Result<Bytes, ConsoleError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ConsoleError::bad(&format!("reading the request body: {e}")))
}

/// The value of `name` in a query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v).unwrap_or_else(|| v.to_string()))
    })
}

/// Decodes `%XX` escapes (None: a bad escape or not UTF-8).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn full_body(b: impl Into<Bytes>) -> ApiBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn asset(content_type: &str, text: &'static str) -> Response<ApiBody> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(full_body(text))
        .unwrap_or_default()
}

fn json_response(status: u16, v: &Value) -> Response<ApiBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(full_body(v.to_string()))
        .unwrap_or_default()
}

fn error(status: u16, kind: &str, message: &str) -> Response<ApiBody> {
    json_response(
        status,
        &json!({"error": {"type": kind, "message": message}}),
    )
}

/// Server-Sent Events of a stream's rows: its columns, the kept rows, then
/// each batch as it is emitted. Ends when the app's run ends.
fn rows_stream(tap: Arc<StreamTap>) -> Response<ApiBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let (kept, mut live) = tap.watch();
    let columns = json!({"columns": tap.columns});
    // Only the receiver is held from here on: when the app's run ends and
    // its tap is dropped, the stream ends.
    drop(tap);
    tokio::spawn(async move {
        if tx
            .send(frame("schema", &columns.to_string()))
            .await
            .is_err()
        {
            return;
        }
        let rows: Vec<String> = kept.iter().flat_map(StreamTap::rows_json).collect();
        if tx.send(rows_frame(&rows)).await.is_err() {
            return;
        }
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                got = live.recv() => match got {
                    Ok(batch) => {
                        let rows = StreamTap::rows_json(&batch);
                        if tx.send(rows_frame(&rows)).await.is_err() {
                            return;
                        }
                    }
                    // A slow reader missed batches: it goes on with the next.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = keepalive.tick() => {
                    if tx.send(Bytes::from_static(b": keepalive\n\n")).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-store")
        .body(sluice_video::body::from_channel(rx))
        .unwrap_or_default()
}

fn frame(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn rows_frame(rows: &[String]) -> Bytes {
    frame("rows", &format!("{{\"rows\":[{}]}}", rows.join(",")))
}

impl ConsoleError {
    /// The HTTP answer to this error.
    pub fn response(&self) -> Response<ApiBody> {
        match self {
            ConsoleError::NotFound(m) => error(404, "NotFound", m),
            ConsoleError::BadRequest(m) => error(400, "BadRequest", m),
            ConsoleError::Conflict(m) => error(409, "Conflict", m),
            ConsoleError::Problems(problems) => json_response(
                400,
                &json!({
                    "error": {"type": "BadRequest", "message": "the app has problems; nothing was changed"},
                    "problems": problems,
                }),
            ),
            ConsoleError::Internal(m) => error(500, "Internal", m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_decode() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(query_param("x=1&limit=20", "limit").as_deref(), Some("20"));
        assert_eq!(query_param("x=1", "limit"), None);
        assert!(Console::matches("/"));
        assert!(Console::matches("/console/api/overview"));
        assert!(!Console::matches("/getMedia"));
    }

    #[test]
    fn starting_positions() {
        assert_eq!(
            start_position(&Value::Null).ok(),
            Some("LAST_STOPPED_POINT")
        );
        assert_eq!(start_position(&json!("NOW")).ok(), Some("NOW"));
        assert!(start_position(&json!("SOON")).is_err());
    }
}
