//! `sluice serve` and `sluice kds serve`: the local Kinesis.
//!
//! `sluice serve` answers the Kinesis Data Streams, Firehose and Kinesis
//! Video Streams APIs on one port, so one `--endpoint-url` serves every AWS
//! client; requests are told apart by `X-Amz-Target` (`Kinesis_20131202.*`,
//! `Firehose_20150804.*`) and, for Kinesis Video's rest-json API, by path.
//! With `--apps DIR` it also runs the applications in DIR against its own
//! streams. `sluice kds serve` answers the KDS API alone. Both run until
//! SIGTERM or SIGINT, then stop accepting, let requests in flight finish,
//! deliver what Firehose holds, stop the apps at a checkpoint and exit.
//!
//! It also serves the web console ([`crate::console`]) at `/`, unless
//! `--console off`: requests without `X-Amz-Target` for `/` or under
//! `/console/`.
//!
//! Layout of `--data-dir`: `kds/` (the shard log), `firehose/` (delivery
//! streams and their durable buffers), `buckets/` (the default Firehose
//! destination: a directory per bucket), `video/` (video streams),
//! `checkpoints/` (apps' read positions), `apps/` (apps made in the
//! console, started with the server), and a `LOCK` file held while a
//! process uses the directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use sluice_engine::{Clock, SystemClock};
use sluice_firehose::{Buckets, Firehose, FirehoseApi, FirehoseOptions, LocalBuckets, S3Buckets};
use sluice_kds::sigv4::SigV4Verifier;
use sluice_kds::{ApiOptions, Kds, KdsApi, KdsOptions};
use sluice_video::{VideoApi, VideoConfig};

use crate::connect::Services;
use crate::console::Console;
use crate::console::apps::AppRegistry;

/// Options shared by `sluice serve` and `sluice kds serve`.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4567")]
    pub listen: String,
    /// Directory for all data (created when missing).
    #[arg(long, default_value = ".sluice")]
    pub data_dir: PathBuf,
    /// Authentication: `off` or `sigv4`.
    #[arg(long, default_value = "off")]
    pub auth: String,
    /// Access keys accepted with `--auth sigv4`, as ACCESS_KEY_ID:SECRET (repeatable).
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    pub access_keys: Vec<String>,
    /// Enforce AWS's per-shard throughput limits (ProvisionedThroughputExceededException).
    #[arg(long)]
    pub throttle: bool,
    /// Also serve TLS on the same port with this PEM certificate chain
    /// (connections opening with a TLS handshake; the rest stay cleartext).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long a new stream is CREATING before it is ACTIVE, as on AWS
    /// (where it takes seconds); 0 makes it ACTIVE at once.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub create_delay_ms: u32,
    /// How long a deleted stream is still described as DELETING.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delete_delay_ms: u32,
    /// How long a stream is UPDATING after resharding or a retention or
    /// encryption change.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub update_delay_ms: u32,
}

impl ServerArgs {
    /// The shard log's options these flags ask for.
    pub fn kds_options(&self) -> KdsOptions {
        KdsOptions {
            throttle: self.throttle,
            create_delay_ms: i64::from(self.create_delay_ms),
            delete_delay_ms: i64::from(self.delete_delay_ms),
            update_delay_ms: i64::from(self.update_delay_ms),
            ..KdsOptions::default()
        }
    }
}

/// The rustls config for `--tls-cert`/`--tls-key`, if given.
macro_rules! tls_config {
    ($args:expr) => {
        match (&$args.tls_cert, &$args.tls_key) {
            (Some(cert), Some(key)) => Some(sluice_kds::load_tls_config(cert, key)?),
            _ => None,
        }
    };
}

impl ServerArgs {
    fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "http(s)"
        } else {
            "http"
        }
    }
}

/// Arguments of `sluice serve`.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Also run applications: an app directory (app.sql + app.toml), or a
    /// directory of them (repeatable).
    #[arg(long, value_name = "DIR")]
    pub apps: Vec<PathBuf>,
    /// Firehose destinations: buckets as directories under DIR (default DATA_DIR/buckets).
    #[arg(long, value_name = "DIR", conflicts_with = "s3_endpoint")]
    pub bucket_dir: Option<PathBuf>,
    /// Firehose destinations: an S3-compatible endpoint (credentials from the AWS_* environment).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region for `--s3-endpoint`.
    #[arg(long, default_value = "us-east-1")]
    pub s3_region: String,
    /// Delivery streams to define at start: a JSON file holding AWS's
    /// CreateDeliveryStream request (what `aws firehose
    /// create-delivery-stream --cli-input-json` takes), or an array of them
    /// (repeatable). A stream that exists already is kept as it is.
    #[arg(long = "firehose", value_name = "FILE")]
    pub firehose_files: Vec<PathBuf>,
    /// An ARN map (the TOML of `sluice run --kda-config --arn-map`): its
    /// `[lambdas]` give the Lambda functions that delivery streams'
    /// processing configurations name by ARN an `http(s)://` URL or a
    /// `command:` to run.
    #[arg(long, value_name = "FILE")]
    pub arn_map: Option<PathBuf>,
    /// Where delivery streams of type KinesisStreamAsSource read their
    /// Kinesis stream: another Kinesis endpoint (a sluice, or Amazon
    /// Kinesis with credentials from the AWS_* environment). Default: this
    /// server's own streams.
    #[arg(long, value_name = "URL")]
    pub firehose_source_endpoint: Option<String>,
    /// Firehose: how long records wait for a destination it cannot write to
    /// before they are dropped (AWS: 24 hours); fractions allowed.
    #[arg(long, value_name = "HOURS", default_value_t = 24.0, value_parser = retry_hours)]
    pub firehose_retry_hours: f64,
    /// Kinesis Video: how long GetMedia waits at the live edge for a new
    /// fragment before it ends the response.
    #[arg(long, value_name = "MS")]
    pub get_media_idle_ms: Option<u64>,
    /// The web console at `/` (SQL editor, live streams): `on` or `off`.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub console: String,
}

/// Parses `--firehose-retry-hours`: a finite number of hours above zero.
fn retry_hours(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(h) if h.is_finite() && h > 0.0 && h <= 24.0 * 365.0 => Ok(h),
        _ => Err(format!("{s:?} is not a number of hours in (0, 8760]")),
    }
}

/// The Lambda functions an ARN map's `[lambdas]` name, as Firehose runs them.
fn lambdas_from_arn_map(path: &Path) -> Result<sluice_firehose::transform::Lambdas> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--arn-map {}: reading it", path.display()))?;
    let map = sluice_engine::kda_config::ArnMap::parse(&text, &path.display().to_string())?;
    map.lambdas
        .into_iter()
        .map(|(arn, target)| {
            let t = sluice_firehose::transform::LambdaTarget::from_arn(&target).with_context(|| {
                format!(
                    "--arn-map {}: lambda {arn} = {target:?} is neither an http(s):// URL nor command:<program>",
                    path.display()
                )
            })?;
            Ok((arn, t))
        })
        .collect()
}

/// Holds `DATA_DIR/LOCK` while this process uses the directory: two
/// processes appending to one shard log would corrupt it.
pub struct DataDirLock {
    _file: File,
}

/// Creates `dir` and locks it, or says which process-free reason it cannot.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is in use by another sluice process (give another --data-dir, or point this one at that server with an endpoint)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).context(format!("locking {}", path.display()))
        }
    }
}

fn verifier(args: &ServerArgs) -> Result<Option<Arc<SigV4Verifier>>> {
    match args.auth.as_str() {
        "off" => {
            if !args.access_keys.is_empty() {
                bail!("--access-key needs --auth sigv4");
            }
            Ok(None)
        }
        "sigv4" => {
            let mut keys = Vec::new();
            for k in &args.access_keys {
                let (id, secret) = k
                    .split_once(':')
                    .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                    .context("--access-key must be ACCESS_KEY_ID:SECRET")?;
                keys.push((id.to_owned(), secret.to_owned()));
            }
            if keys.is_empty() {
                bail!("--auth sigv4 needs at least one --access-key ID:SECRET");
            }
            Ok(Some(Arc::new(SigV4Verifier::new(keys))))
        }
        other => bail!("--auth must be off or sigv4, not \"{other}\""),
    }
}

/// Opens the shard log in `DATA_DIR/kds`, reading time from `clock`.
pub fn open_kds(data_dir: &Path, options: KdsOptions, clock: Arc<dyn Clock>) -> Result<Kds> {
    let dir = data_dir.join("kds");
    let kds = Kds::open(&dir, options, clock)
        .with_context(|| format!("opening the shard log in {}", dir.display()))?;
    for (stream, shard, reason) in kds.stopped_shards() {
        eprintln!("sluice: stream {stream} shard {shard} is stopped: {reason}");
    }
    Ok(kds)
}

/// Firehose destinations as directories: `bucket_dir`, else `DATA_DIR/buckets`.
pub fn local_buckets(data_dir: &Path, bucket_dir: Option<&Path>) -> Arc<dyn Buckets> {
    Arc::new(LocalBuckets::new(
        bucket_dir.map_or_else(|| data_dir.join("buckets"), Path::to_path_buf),
    ))
}

/// Opens Firehose in `DATA_DIR/firehose` (its delivery drivers run on
/// `rt`), reading time from `clock`.
pub fn open_firehose(
    rt: &tokio::runtime::Runtime,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    buckets: Arc<dyn Buckets>,
    configure: impl FnOnce(&mut FirehoseOptions),
) -> Result<Firehose> {
    let dir = data_dir.join("firehose");
    rt.block_on(async {
        let mut options = FirehoseOptions::new(&dir, buckets, clock);
        configure(&mut options);
        Firehose::open(options)
    })
    .with_context(|| format!("opening Firehose in {}", dir.display()))
}

/// Creates the delivery streams `file` defines (`--firehose`): one
/// CreateDeliveryStream request, or an array of them, through the API a
/// client would call. A stream of that name that exists already is kept
/// (said on stderr); any other refusal stops the start with AWS's error.
async fn define_delivery_streams(api: &FirehoseApi, file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--firehose {}: reading it", file.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("--firehose {}: not JSON", file.display()))?;
    let requests = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    for request in requests {
        let name = request
            .get("DeliveryStreamName")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "--firehose {}: a CreateDeliveryStream request names its DeliveryStreamName",
                    file.display()
                )
            })?;
        let (status, answer) = api
            .handle_json(
                "Firehose_20150804.CreateDeliveryStream",
                request.to_string().as_bytes(),
            )
            .await;
        let kind = answer["__type"].as_str().unwrap_or_default();
        match status {
            200 => eprintln!(
                "sluice: delivery stream {name} created from {}",
                file.display()
            ),
            _ if kind == "ResourceInUseException" => eprintln!(
                "sluice: delivery stream {name} exists already; kept as it is (delete it to define it again from {})",
                file.display()
            ),
            _ => bail!(
                "--firehose {}: CreateDeliveryStream {name}: {kind}: {}",
                file.display(),
                answer["message"]
                    .as_str()
                    .or(answer["Message"].as_str())
                    .unwrap_or_default()
            ),
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `sluice kds serve`.
pub fn kds_serve(args: ServerArgs) -> Result<ExitCode> {
    let _lock = lock_data_dir(&args.data_dir)?;
    let auth = verifier(&args)?;
    let tls = tls_config!(args);
    let kds = open_kds(&args.data_dir, args.kds_options(), Arc::new(SystemClock))?;
    let rt = runtime()?;
    rt.block_on(async move {
        let shutdown = sluice_kds::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!(
            "sluice: Kinesis Data Streams on http://{}",
            listener.local_addr()?
        );
        let api = KdsApi::new(
            kds,
            ApiOptions {
                auth,
                ..ApiOptions::default()
            },
        );
        sluice_kds::serve_api(listener, api, tls, shutdown).await;
        eprintln!("sluice: stopped");
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Every service behind one port.
#[derive(Clone)]
pub struct Router {
    kds: KdsApi,
    firehose: FirehoseApi,
    video: VideoApi,
    auth: Option<Arc<SigV4Verifier>>,
    /// The clock every service of this server reads (signatures' age too).
    clock: Arc<dyn Clock>,
    /// The web console, unless `--console off`.
    console: Option<Arc<Console>>,
}

type ApiBody = sluice_kds::api::ApiBody;

impl Router {
    /// Answers one request with the service it is for.
    pub async fn route(&self, req: Request<Incoming>) -> Response<ApiBody> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if target.starts_with("Firehose_20150804.") {
            return match &self.auth {
                None => self.firehose.handle(req).await,
                Some(auth) => self.firehose_signed(auth, req).await,
            };
        }
        if target.is_empty() && VideoApi::matches(req.uri().path()) {
            if let Some(auth) = &self.auth {
                return video_signed(auth, &self.video, self.clock.now_ms(), req).await;
            }
            return self.video.handle(req).await;
        }
        if target.is_empty()
            && let Some(console) = &self.console
            && Console::matches(req.uri().path())
        {
            return console.handle(req).await;
        }
        self.kds.handle(req).await
    }

    async fn firehose_signed(
        &self,
        auth: &SigV4Verifier,
        req: Request<Incoming>,
    ) -> Response<ApiBody> {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return json_error(400, "SerializationException", &e.to_string()),
        };
        if let Err(e) = auth.verify(&signed_request(&parts, &body), self.clock.now_ms()) {
            return json_error(400, e.kind, &e.message);
        }
        self.firehose
            .handle(Request::from_parts(parts, Full::new(body)))
            .await
    }
}

/// Kinesis Video requests with `--auth sigv4`: the control plane and the
/// archived-media API carry small bodies, verified whole. PutMedia streams
/// its body, so only requests signed with `UNSIGNED-PAYLOAD` are verified
/// without reading it.
async fn video_signed(
    auth: &SigV4Verifier,
    video: &VideoApi,
    now: i64,
    req: Request<Incoming>,
) -> Response<ApiBody> {
    let unsigned = req
        .headers()
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
    if unsigned {
        let (parts, body) = req.into_parts();
        if let Err(e) = auth.verify(&signed_request(&parts, b"UNSIGNED-PAYLOAD"), now) {
            return rest_error(403, e.kind, &e.message);
        }
        return video.handle(Request::from_parts(parts, body)).await;
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return rest_error(400, "InvalidArgumentException", &e.to_string()),
    };
    if let Err(e) = auth.verify(&signed_request(&parts, &body), now) {
        return rest_error(403, e.kind, &e.message);
    }
    video
        .route(Request::from_parts(parts, Full::new(body)))
        .await
}

/// The parts of a request its SigV4 signature covers.
pub fn signed_request<'a>(
    parts: &'a http::request::Parts,
    body: &'a [u8],
) -> sluice_kds::sigv4::SignedRequest<'a> {
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if !headers.iter().any(|(k, _)| k == "host")
        && let Some(a) = parts.uri.authority()
    {
        headers.push(("host".into(), a.as_str().to_owned()));
    }
    sluice_kds::sigv4::SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers,
        body,
    }
}

fn full(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    error_type: Option<&str>,
) -> Response<ApiBody> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", content_type);
    if let Some(t) = error_type {
        b = b.header("x-amzn-errortype", t);
    }
    b.body(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    )
    .unwrap_or_default()
}

fn json_error(status: u16, kind: &str, message: &str) -> Response<ApiBody> {
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    full(
        status,
        "application/x-amz-json-1.1",
        body.into_bytes(),
        None,
    )
}

fn rest_error(status: u16, kind: &str, message: &str) -> Response<ApiBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    full(status, "application/json", body.into_bytes(), Some(kind))
}

/// `sluice serve`.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let server = &args.server;
    let _lock = lock_data_dir(&server.data_dir)?;
    let auth = verifier(server)?;
    let tls = tls_config!(server);
    // One clock for every service and app of this server.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let kds = open_kds(&server.data_dir, server.kds_options(), Arc::clone(&clock))?;
    let rt = runtime()?;
    let buckets: Arc<dyn Buckets> = match &args.s3_endpoint {
        Some(ep) => Arc::new(S3Buckets::new(Some(ep.clone()), &args.s3_region)),
        None => local_buckets(&server.data_dir, args.bucket_dir.as_deref()),
    };
    let lambdas = match &args.arn_map {
        Some(path) => lambdas_from_arn_map(path)?,
        None => Default::default(),
    };
    // KinesisStreamAsSource streams read this server's streams, or the
    // endpoint given.
    let source = match &args.firehose_source_endpoint {
        Some(url) => sluice_kds::ReaderSource::Remote(sluice_kds::RemoteEndpoint {
            url: url.clone(),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            credentials: sluice_kds::Credentials::from_env(),
        }),
        None => sluice_kds::ReaderSource::Embedded(kds.clone()),
    };
    let retention = std::time::Duration::from_secs_f64(args.firehose_retry_hours * 3600.0);
    let firehose = open_firehose(&rt, &server.data_dir, Arc::clone(&clock), buckets, |o| {
        o.lambdas = lambdas;
        o.kinesis = Some(source);
        o.retention = retention;
    })?;
    let video_dir = server.data_dir.join("video");
    let video = rt
        .block_on(async {
            let mut config = VideoConfig::new(&video_dir);
            config.https = tls.is_some();
            if let Some(ms) = args.get_media_idle_ms {
                config.get_media_idle = std::time::Duration::from_millis(ms);
            }
            VideoApi::open(config, Arc::clone(&clock))
        })
        .with_context(|| format!("opening Kinesis Video in {}", video_dir.display()))?;

    let firehose_api = FirehoseApi::new(firehose.clone());
    for file in &args.firehose_files {
        rt.block_on(define_delivery_streams(&firehose_api, file))?;
    }

    // Apps first, so a bad app stops the start with its error.
    let services = Services {
        kds: Some(kds.clone()),
        firehose: Some(firehose.clone()),
        video: Some(video.clone()),
        runtime: rt.handle().clone(),
        checkpoint_dir: server.data_dir.join("checkpoints"),
        clock: Arc::clone(&clock),
    };
    // New apps go in the first --apps directory of apps, else in the data
    // directory's apps/, whose apps start with the server too.
    let own_apps = server.data_dir.join("apps");
    let apps_dir = args
        .apps
        .iter()
        .find(|d| d.is_dir() && !d.join("app.sql").is_file())
        .cloned()
        .unwrap_or_else(|| own_apps.clone());
    let registry = Arc::new(AppRegistry::new(services, apps_dir.clone()));
    let mut app_dirs = args.apps.clone();
    if apps_dir == own_apps && own_apps.is_dir()
        // find_apps refuses a directory without apps.
        && crate::connect::find_apps(&own_apps).is_ok()
    {
        app_dirs.push(own_apps);
    }
    let mut running = 0;
    for dir in &app_dirs {
        running += registry.start_found(dir)?;
    }

    let console = (args.console == "on").then(|| {
        Arc::new(Console::new(
            kds.clone(),
            firehose.clone(),
            video.clone(),
            Arc::clone(&registry),
            auth.clone(),
            Arc::clone(&clock),
        ))
    });
    let router = Router {
        console: console.clone(),
        kds: KdsApi::new(
            kds.clone(),
            ApiOptions {
                auth: auth.clone(),
                ..ApiOptions::default()
            },
        ),
        firehose: firehose_api,
        video: video.clone(),
        auth,
        clock,
    };
    let result = rt.block_on(async {
        let shutdown = sluice_kds::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(&server.listen)
            .await
            .with_context(|| format!("listening on {}", server.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "sluice: Kinesis Data Streams, Firehose and Kinesis Video on {}://{addr}{}",
            server.scheme(),
            match running {
                0 => String::new(),
                n => format!(", running {n} app(s)"),
            }
        );
        let sampler = console.as_ref().map(|c| {
            eprintln!("sluice: console at {}://{addr}/", server.scheme());
            c.spawn_sampler()
        });
        let video_retention = video.spawn_retention(std::time::Duration::from_secs(60));
        let kds_retention = sluice_kds::spawn_retention(kds.clone());
        let handler = move |req: Request<Incoming>| {
            let router = router.clone();
            async move { router.route(req).await }
        };
        sluice_kds::serve_with(listener, handler, tls, shutdown).await;
        video_retention.abort();
        kds_retention.abort();
        if let Some(s) = sampler {
            s.abort();
        }
        anyhow::Ok(())
    });
    // Stop the apps at a checkpoint, then deliver what Firehose holds.
    let mut failed = false;
    for e in registry.stop_all() {
        eprintln!("sluice: {e}");
        failed = true;
    }
    rt.block_on(async {
        if let Err(e) = firehose.flush_all().await {
            eprintln!("sluice: Firehose delivery on shutdown: {e:#} (the records stay buffered)");
        }
    });
    firehose.close();
    result?;
    eprintln!("sluice: stopped");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
