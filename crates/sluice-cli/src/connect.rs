//! Applications connected to Kinesis: inputs read from Kinesis data streams
//! (the shard log in this process, or any KDS endpoint), outputs written to
//! Kinesis data streams, Firehose delivery streams or files.
//!
//! Each app runs on its own thread. The loop: read a batch from each input
//! stream (ROWTIME = the record's arrival, kept non-decreasing), feed it,
//! deliver what the app emitted, and when every input is caught up advance
//! the app to the wall clock so windows close on time.
//!
//! Checkpoints are at-least-once and never lose window contents: a record's
//! read position is committed only once the app no longer holds it in an
//! open window ([`Application::retained_since`]) and everything the app
//! emitted has been delivered. A restart resumes from the checkpoint, so it
//! rebuilds exactly the windows that were open, and may repeat rows that
//! stateless pumps had already written.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use sluice_engine::config::{
    InputSource, KinesisLocation, OutputFormat, OutputTarget, StartingPosition, VideoLocation,
};
use sluice_engine::errors::ErrorRow;
use sluice_engine::output::{row_csv, row_json};
use sluice_engine::{Application, Clock, ERROR_STREAM, Record, RecordMeta, SystemClock};
use sluice_firehose::{Firehose, FirehoseError};
use sluice_kds::checkpoint::{CheckpointStore, ShardCheckpoint};
use sluice_kds::client::{Credentials, KdsClient, RemoteEndpoint};
use sluice_kds::reader::{
    ReadRecord, ReaderOptions, ReaderSource, ReaderStart, ShardShare, StreamReader,
};
use sluice_kds::{Kds, PutEntry};

use crate::lambda::{InRecord, KdaLambda, Preprocessed};
use crate::load::{LoadedApp, load_app};
use crate::monitor::AppMonitor;

/// The services an app can be connected to.
#[derive(Clone)]
pub struct Services {
    /// The shard log in this process, if any.
    pub kds: Option<Kds>,
    /// Firehose in this process, if any.
    pub firehose: Option<Firehose>,
    /// Kinesis Video in this process, if any (`video_stream` inputs).
    pub video: Option<sluice_video::VideoApi>,
    /// The async runtime that readers and Firehose run on.
    pub runtime: tokio::runtime::Handle,
    /// Apps' checkpoints live under here, a directory per app.
    pub checkpoint_dir: PathBuf,
    /// The clock the services and apps all read.
    pub clock: Arc<dyn Clock>,
}

/// How a connected run behaves.
#[derive(Clone)]
pub struct RunOptions {
    /// Stop once every input is caught up, closing open windows (a batch
    /// run over what the streams hold); otherwise run until `stop`.
    pub drain: bool,
    /// Set to stop the app.
    pub stop: Arc<AtomicBool>,
}

/// `dir` itself when it holds an app.sql, else each subdirectory with an
/// app.sql, in name order.
pub fn find_apps(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("app.sql").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.join("app.sql").is_file() {
            apps.push(path);
        }
    }
    apps.sort();
    if apps.is_empty() {
        bail!(
            "{}: no applications (directories with an app.sql)",
            dir.display()
        );
    }
    Ok(apps)
}

/// A running app.
pub struct AppHandle {
    name: String,
    thread: JoinHandle<Result<()>>,
}

impl AppHandle {
    /// Waits for the app to stop.
    pub fn join(self) -> Result<()> {
        match self.thread.join() {
            Ok(r) => r.with_context(|| format!("app {}", self.name)),
            Err(_) => Err(anyhow!("app {}: its thread panicked", self.name)),
        }
    }

    /// Whether the app's thread has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Builds the app at `path` (errors come back at once) and runs it on a
/// thread of its own until `stop` is set, every stream of it watched by an
/// [`AppMonitor`], its Kinesis inputs started from `start` (`NOW`,
/// `TRIM_HORIZON` or `LAST_STOPPED_POINT`) instead of their configured
/// positions when given.
pub fn spawn_monitored(
    path: &Path,
    services: Services,
    stop: Arc<AtomicBool>,
    start: Option<&str>,
) -> Result<(AppHandle, Arc<AppMonitor>)> {
    let mut loaded = load_app(path)?;
    if let Some(start) = start {
        for input in &mut loaded.config.input {
            if input.kinesis_stream.is_some() {
                input.starting_position = Some(start.to_string());
            }
        }
    }
    let name = app_name(path);
    let mut connected = Connected::new(&loaded, &name, services, false, false)?;
    let monitor = AppMonitor::attach(&mut connected.app, &loaded.config)?;
    connected.monitor = Some(Arc::clone(&monitor));
    let options = RunOptions { drain: false, stop };
    let thread = std::thread::Builder::new()
        .name(format!("app {name}"))
        .spawn(move || connected.run(&options))
        .context("starting an app thread")?;
    eprintln!("sluice: app {name} running");
    Ok((AppHandle { name, thread }, monitor))
}

/// `sluice run` of an app whose inputs are Kinesis data streams: the shard
/// log (and Firehose, for delivery_stream outputs) embedded from
/// `data_dir` unless every stream is remote; runs in the calling thread
/// until SIGTERM/SIGINT, or with `drain` until every input is read to its end.
pub fn run_from_kinesis(
    loaded: &LoadedApp,
    data_dir: &Path,
    drain: bool,
    rowtime: bool,
) -> Result<()> {
    let mut embedded = false;
    for c in &loaded.config.input {
        if let InputSource::Kinesis(k) = c.source()? {
            embedded |= k.endpoint.is_none();
        }
    }
    let mut firehose_needed = false;
    for o in &loaded.config.output {
        match o.target()? {
            OutputTarget::Kinesis(k) => embedded |= k.endpoint.is_none(),
            OutputTarget::Firehose(_) => firehose_needed = true,
            OutputTarget::File(_) | OutputTarget::Lambda(_) => {}
        }
    }
    let _lock = crate::serve::lock_data_dir(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let kds = if embedded {
        Some(crate::serve::open_kds(
            data_dir,
            sluice_kds::KdsOptions::default(),
            Arc::clone(&clock),
        )?)
    } else {
        None
    };
    let firehose = if firehose_needed {
        Some(crate::serve::open_firehose(
            &runtime,
            data_dir,
            Arc::clone(&clock),
            crate::serve::local_buckets(data_dir, None),
            |_| {},
        )?)
    } else {
        None
    };
    let services = Services {
        kds,
        firehose: firehose.clone(),
        video: None,
        runtime: runtime.handle().clone(),
        checkpoint_dir: data_dir.join("checkpoints"),
        clock,
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // Registered here, not when the task first runs.
        let shutdown = {
            let _in = runtime.enter();
            sluice_kds::shutdown_signal()
        };
        runtime.spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let name = app_name(&loaded.dir());
    let result = Connected::new(loaded, &name, services, rowtime, drain)
        .and_then(|mut c| c.run(&RunOptions { drain, stop }));
    if let Some(f) = firehose {
        runtime.block_on(async {
            if let Err(e) = f.flush_all().await {
                eprintln!("sluice: Firehose delivery: {e:#} (the records stay buffered)");
            }
        });
        f.close();
    }
    result
}

/// An app's name: its directory's (canonical) name. Its checkpoints live
/// under it.
pub fn app_name(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into())
}

/// Where an output's rows go.
enum Sink {
    Kds {
        kds: Kds,
        stream: String,
        next_key: u64,
    },
    Firehose {
        firehose: Firehose,
        stream: String,
    },
    File(Box<dyn Write + Send>),
    /// KDA's LambdaOutput.
    Lambda(KdaLambda),
    /// A Kinesis data stream behind another endpoint (a remote `sluice
    /// serve`, or Amazon Kinesis): PutRecords over HTTP.
    RemoteKds {
        client: Box<KdsClient>,
        stream: String,
        next_key: u64,
    },
}

/// Rows emitted and not yet delivered, per sink.
type Pending = Arc<Mutex<Vec<(usize, Vec<u8>)>>>;

struct Input {
    stream: String,
    from: InputFrom,
    /// KDA's preprocessing Lambda, and the stream ARN its events name.
    preprocess: Option<(KdaLambda, String)>,
    /// Records fed and not yet committed: (shard, sequence number, ROWTIME).
    fed: Vec<(String, String, i64)>,
    caught_up: bool,
}

/// Where an input's records come from.
enum InputFrom {
    /// A Kinesis data stream, read from its checkpoint.
    Kinesis(Box<StreamReader>),
    /// Fragments Kinesis Video ingests in this process, live (no
    /// checkpoint: a fragment's row exists only as it is ingested).
    Video {
        events: tokio::sync::broadcast::Receiver<sluice_video::FragmentEvent>,
        /// Only this video stream's fragments; `None`: every stream's.
        only: Option<String>,
    },
    /// Fragments of another Kinesis Video (an endpoint or a region), read
    /// back through GetMedia from the checkpoint.
    RemoteVideo {
        follower: Box<sluice_video::follow::Follower>,
        /// Per video stream, the last fragment whose rows no window holds.
        checkpoints: CheckpointStore,
    },
    /// Records entering a Firehose delivery stream of this process, live
    /// (KDA's KinesisFirehoseInput; no checkpoint: a delivery stream keeps
    /// no log to read again).
    Firehose {
        events: tokio::sync::broadcast::Receiver<sluice_firehose::IncomingRecords>,
        /// The delivery stream.
        only: String,
    },
}

struct Connected {
    app: Application,
    /// The ARN the Lambda events name the application by.
    application_arn: String,
    inputs: Vec<Input>,
    sinks: Vec<Sink>,
    pending: Pending,
    runtime: tokio::runtime::Handle,
    /// What a console watches, when one does.
    monitor: Option<Arc<AppMonitor>>,
}

/// A delivery stream's name, given as a name or an ARN.
fn delivery_stream_name(d: &str) -> String {
    d.rsplit_once(":deliverystream/")
        .map_or(d, |(_, n)| n)
        .to_string()
}

/// The account in the ARNs Sluice makes up for Lambda events.
const LOCAL_ACCOUNT: &str = "000000000000";
/// Most records read from one stream per step.
const READ_BATCH: usize = 10_000;
/// Most records per PutRecords (AWS's limit).
const PUT_BATCH: usize = 500;
/// How long a read waits for new records when every input is idle.
const IDLE_WAIT: Duration = Duration::from_millis(200);

impl Connected {
    /// `drain`: the run ends once the inputs are read, so a remote video
    /// stream that does not exist is an error rather than awaited.
    fn new(
        loaded: &LoadedApp,
        name: &str,
        services: Services,
        rowtime: bool,
        drain: bool,
    ) -> Result<Connected> {
        let mut app = loaded.build(Some(Arc::clone(&services.clock)))?;
        let origin = loaded
            .config_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| loaded.sql_path.display().to_string());

        // Outputs: as configured, else the app's final streams and error_stream.
        let pending: Pending = Arc::default();
        let mut sinks = Vec::new();
        let outputs = &loaded.config.output;
        if outputs.is_empty() {
            for stream in final_streams(&app) {
                let sink = sinks.len();
                sinks.push(Sink::File(Box::new(std::io::stdout())));
                subscribe(
                    &mut app,
                    &stream,
                    sink,
                    OutputFormat::Json,
                    rowtime,
                    true,
                    &pending,
                )?;
            }
            let sink = sinks.len();
            sinks.push(Sink::File(Box::new(std::io::stderr())));
            subscribe(
                &mut app,
                ERROR_STREAM,
                sink,
                OutputFormat::Json,
                rowtime,
                true,
                &pending,
            )?;
        }
        for out in outputs {
            let format = out.record_format().with_context(|| origin.clone())?;
            let sink = match out.target().with_context(|| origin.clone())? {
                OutputTarget::Kinesis(KinesisLocation {
                    name,
                    endpoint: Some(url),
                    region,
                    ..
                }) => {
                    let endpoint = RemoteEndpoint {
                        url: url.clone(),
                        region: region
                            .or_else(|| std::env::var("AWS_REGION").ok())
                            .unwrap_or_else(|| "us-east-1".into()),
                        credentials: Credentials::from_env(),
                    };
                    let client = KdsClient::new(&endpoint, Arc::clone(&services.clock))
                        .with_context(|| format!("{origin}: [[output]] {}", out.stream))?;
                    Sink::RemoteKds {
                        client: Box::new(client),
                        stream: name,
                        next_key: 0,
                    }
                }
                OutputTarget::Kinesis(k) => {
                    let kds = services.kds.clone().ok_or_else(|| {
                        anyhow!(
                            "{origin}: [[output]] {}: kinesis_stream \"{}\" needs the shard log (sluice serve, or sluice run --data-dir)",
                            out.stream,
                            k.name
                        )
                    })?;
                    let stream = kds_name(&kds, &k.name);
                    ensure_stream(&kds, &stream)?;
                    Sink::Kds {
                        kds,
                        stream,
                        next_key: 0,
                    }
                }
                OutputTarget::Firehose(d) => {
                    let firehose = services.firehose.clone().ok_or_else(|| {
                        anyhow!(
                            "{origin}: [[output]] {}: delivery_stream \"{d}\" needs Firehose (run the app with sluice serve --apps)",
                            out.stream
                        )
                    })?;
                    let stream = delivery_stream_name(&d);
                    if firehose.stream(&stream).is_err() {
                        eprintln!(
                            "sluice: app {name}: waiting for delivery stream {stream} (create it with the Firehose API)"
                        );
                    }
                    Sink::Firehose { firehose, stream }
                }
                OutputTarget::File(f) => {
                    let w: Box<dyn Write + Send> = if f == "-" {
                        Box::new(std::io::stdout())
                    } else {
                        let path = loaded.dir().join(&f);
                        Box::new(
                            File::options()
                                .create(true)
                                .append(true)
                                .open(&path)
                                .with_context(|| format!("opening {}", path.display()))?,
                        )
                    };
                    Sink::File(w)
                }
                OutputTarget::Lambda(place) => Sink::Lambda(
                    KdaLambda::new(&place)
                        .with_context(|| format!("{origin}: [[output]] {}", out.stream))?,
                ),
            };
            let id = sinks.len();
            // Files hold a line per row; Kinesis and Firehose records are
            // rows as KDA writes them (JSON without delimiter, CSV lines).
            let line = matches!(sink, Sink::File(_)) || format == OutputFormat::Csv;
            sinks.push(sink);
            subscribe(&mut app, &out.stream, id, format, rowtime, line, &pending)
                .with_context(|| format!("{origin}: [[output]] {}", out.stream))?;
        }

        // Inputs.
        let mut inputs = Vec::new();
        let ckpt_dir = services.checkpoint_dir.join(name);
        for input in &loaded.config.input {
            let k = match input.source().with_context(|| origin.clone())? {
                InputSource::Kinesis(k) => k,
                InputSource::Firehose(d) => {
                    let firehose = services.firehose.as_ref().ok_or_else(|| {
                        anyhow!(
                            "{origin}: [[input]] {}: delivery_stream \"{d}\" needs Firehose in this process (run the app with sluice serve --apps)",
                            input.stream
                        )
                    })?;
                    let only = delivery_stream_name(&d);
                    inputs.push(Input {
                        stream: input.stream.clone(),
                        from: InputFrom::Firehose {
                            events: firehose.subscribe_incoming(),
                            only,
                        },
                        preprocess: None,
                        fed: Vec::new(),
                        caught_up: false,
                    });
                    continue;
                }
                InputSource::Video(v) if v.is_remote() => {
                    let from = follow_video(&v, &ckpt_dir, &input.stream, &services, drain)
                        .with_context(|| {
                            format!(
                                "{origin}: [[input]] {}: video_stream \"{}\"",
                                input.stream, v.name
                            )
                        })?;
                    inputs.push(Input {
                        stream: input.stream.clone(),
                        from,
                        preprocess: None,
                        fed: Vec::new(),
                        caught_up: false,
                    });
                    continue;
                }
                InputSource::Video(v) => {
                    let video = services.video.as_ref().ok_or_else(|| {
                        anyhow!(
                            "{origin}: [[input]] {}: video_stream \"{}\" without an endpoint reads the fragments Kinesis Video ingests in this process: run the app with sluice serve --apps, or give the input an endpoint (a sluice serve, http://127.0.0.1:4567) or a region (Amazon Kinesis Video)",
                            input.stream,
                            v.name
                        )
                    })?;
                    inputs.push(Input {
                        stream: input.stream.clone(),
                        from: InputFrom::Video {
                            events: video.subscribe_fragments(),
                            only: (v.name != "*").then_some(v.name),
                        },
                        preprocess: None,
                        fed: Vec::new(),
                        caught_up: false,
                    });
                    continue;
                }
                InputSource::File(_) => bail!(
                    "{origin}: [[input]] {}: an app connected to Kinesis reads every input from a kinesis_stream or a video_stream",
                    input.stream
                ),
            };
            let source = match &k.endpoint {
                Some(url) => ReaderSource::Remote(RemoteEndpoint {
                    url: url.clone(),
                    region: k
                        .region
                        .clone()
                        .or_else(|| std::env::var("AWS_REGION").ok())
                        .unwrap_or_else(|| "us-east-1".into()),
                    credentials: Credentials::from_env(),
                }),
                None => ReaderSource::Embedded(services.kds.clone().ok_or_else(|| {
                    anyhow!(
                        "{origin}: [[input]] {}: kinesis_stream \"{}\" has no endpoint and there is no shard log here (give endpoint, or use sluice serve --apps / sluice run --data-dir)",
                        input.stream,
                        k.name
                    )
                })?),
            };
            let ckpt_path = checkpoint_path(&services.checkpoint_dir, name, &input.stream);
            std::fs::create_dir_all(&ckpt_dir)
                .with_context(|| format!("creating {}", ckpt_dir.display()))?;
            // KDA: NOW and TRIM_HORIZON start afresh; LAST_STOPPED_POINT
            // resumes where the last run committed (from the oldest record
            // when it never ran).
            let start = match k.starting_position {
                StartingPosition::Now => ReaderStart::Latest,
                StartingPosition::TrimHorizon | StartingPosition::LastStoppedPoint => {
                    ReaderStart::TrimHorizon
                }
            };
            if k.starting_position != StartingPosition::LastStoppedPoint && ckpt_path.exists() {
                std::fs::remove_file(&ckpt_path)
                    .with_context(|| format!("removing {}", ckpt_path.display()))?;
            }
            let checkpoints = CheckpointStore::open(&ckpt_path)
                .with_context(|| format!("[[input]] {}", input.stream))?;
            if let (ReaderSource::Embedded(kds), None) = (&source, &k.endpoint) {
                ensure_stream(kds, &k.name)?;
            }
            let reader = services
                .runtime
                .block_on(StreamReader::open_with(
                    source,
                    &k.name,
                    start,
                    Some(checkpoints),
                    ReaderOptions {
                        share: k.share.map(|(index, of)| ShardShare { index, of }),
                        ..ReaderOptions::default()
                    },
                ))
                .with_context(|| {
                    format!(
                        "{origin}: [[input]] {}: reading \"{}\"",
                        input.stream, k.name
                    )
                })?;
            let preprocess = match &input.preprocessing_lambda {
                Some(place) => {
                    let lambda = KdaLambda::new(place).with_context(|| {
                        format!("{origin}: [[input]] {} preprocessing_lambda", input.stream)
                    })?;
                    let arn = if k.name.starts_with("arn:") {
                        k.name.clone()
                    } else {
                        format!(
                            "arn:aws:kinesis:{}:{LOCAL_ACCOUNT}:stream/{}",
                            k.region.as_deref().unwrap_or("us-east-1"),
                            k.name
                        )
                    };
                    Some((lambda, arn))
                }
                None => None,
            };
            inputs.push(Input {
                stream: input.stream.clone(),
                from: InputFrom::Kinesis(Box::new(reader)),
                preprocess,
                fed: Vec::new(),
                caught_up: false,
            });
        }
        if inputs.is_empty() {
            bail!("{origin}: no [[input]] with a kinesis_stream or a video_stream");
        }
        Ok(Connected {
            app,
            application_arn: format!(
                "arn:aws:kinesisanalytics:us-east-1:{LOCAL_ACCOUNT}:application/{name}"
            ),
            inputs,
            sinks,
            pending,
            runtime: services.runtime,
            monitor: None,
        })
    }

    fn run(&mut self, options: &RunOptions) -> Result<()> {
        loop {
            if options.stop.load(Ordering::SeqCst) {
                // Stop at a checkpoint: open windows are not emitted; their
                // records are read again after a restart.
                self.deliver(&options.stop)?;
                return self.commit();
            }
            let idle = self.inputs.iter().all(|i| i.caught_up);
            let wait = if idle { IDLE_WAIT } else { Duration::ZERO };
            let mut got = 0;
            for k in 0..self.inputs.len() {
                got += self.read_one(k, wait / self.inputs.len() as u32)?;
            }
            if let Some(monitor) = &self.monitor {
                let lag = self
                    .inputs
                    .iter()
                    .filter_map(|i| match &i.from {
                        InputFrom::Kinesis(reader) => reader.millis_behind_latest(),
                        _ => None,
                    })
                    .max();
                if let Some(lag) = lag {
                    monitor.set_input_lag(lag);
                } else if self.inputs.iter().all(|i| i.caught_up) {
                    monitor.set_input_lag(0);
                }
            }
            if got == 0 && self.inputs.iter().all(|i| i.caught_up) {
                if options.drain {
                    self.app.flush()?;
                    self.deliver(&options.stop)?;
                    return self.commit();
                }
                // Nothing new anywhere: wall-clock time closes windows.
                self.app.tick()?;
            }
            self.deliver(&options.stop)?;
            self.commit()?;
        }
    }

    /// Reads and feeds one batch of input `k`; returns how many records.
    fn read_one(&mut self, k: usize, wait: Duration) -> Result<usize> {
        let input = &mut self.inputs[k];
        let reader = match &mut input.from {
            InputFrom::Kinesis(reader) => reader,
            InputFrom::Firehose { events, only } => {
                let rows = self.runtime.block_on(firehose_records(events, only, wait));
                input.caught_up = rows.is_empty();
                if rows.is_empty() {
                    return Ok(0);
                }
                let records: Vec<Record> = rows
                    .iter()
                    .map(|(arrival_ms, data)| Record::new(data, *arrival_ms))
                    .collect();
                let stream = input.stream.clone();
                self.app.push_records(&stream, &records)?;
                return Ok(rows.len());
            }
            InputFrom::RemoteVideo { follower, .. } => {
                let mut rows = self
                    .runtime
                    .block_on(follower.next_batch(READ_BATCH, wait))
                    .with_context(|| format!("reading input {}", input.stream))?;
                input.caught_up = rows.is_empty() && follower.caught_up();
                if rows.is_empty() {
                    return Ok(0);
                }
                // Streams interleave: feed in server-time order.
                rows.sort_by_key(|r| r.event.server_ms);
                let mut floor = self.app.now_ms();
                let mut data = Vec::with_capacity(rows.len());
                for r in &rows {
                    floor = floor.max(r.event.server_ms);
                    input.fed.push((
                        r.event.stream_name.clone(),
                        r.continuation_token.clone(),
                        floor,
                    ));
                    data.push(r.event.to_json().to_string().into_bytes());
                }
                let records: Vec<Record> = rows
                    .iter()
                    .zip(&data)
                    .map(|(r, d)| Record::new(d, r.event.server_ms))
                    .collect();
                let stream = input.stream.clone();
                self.app.push_records(&stream, &records)?;
                return Ok(rows.len());
            }
            InputFrom::Video { events, only } => {
                let rows = self
                    .runtime
                    .block_on(video_rows(events, only.as_deref(), wait));
                input.caught_up = rows.is_empty();
                if rows.is_empty() {
                    return Ok(0);
                }
                let records: Vec<Record> = rows
                    .iter()
                    .map(|(arrival_ms, data)| Record::new(data, *arrival_ms))
                    .collect();
                let stream = input.stream.clone();
                self.app.push_records(&stream, &records)?;
                return Ok(rows.len());
            }
        };
        let mut records: Vec<ReadRecord> = self
            .runtime
            .block_on(reader.next_batch(READ_BATCH, wait))
            .with_context(|| format!("reading input {}", input.stream))?;
        // Caught up: nothing new, and the shards read say they are at the tip.
        input.caught_up = records.is_empty() && reader.millis_behind_latest() == Some(0);
        if records.is_empty() {
            return Ok(0);
        }
        // Shards interleave: feed in arrival order.
        records.sort_by_key(|r| r.arrival_ms);
        let mut floor = self.app.now_ms();
        for r in &records {
            floor = floor.max(r.arrival_ms);
            input
                .fed
                .push((r.shard_id.clone(), r.sequence_number.clone(), floor));
        }
        // KDA's preprocessing Lambda: new data, dropped, or error_stream.
        let outcomes: Option<Vec<Preprocessed>> = match &input.preprocess {
            Some((lambda, stream_arn)) => {
                let asked: Vec<InRecord> = records
                    .iter()
                    .map(|r| InRecord {
                        data: &r.data,
                        id: &r.sequence_number,
                        shard_id: &r.shard_id,
                        partition_key: &r.partition_key,
                        arrival_ms: r.arrival_ms,
                    })
                    .collect();
                Some(self.runtime.block_on(lambda.preprocess(
                    &self.application_arn,
                    stream_arn,
                    &asked,
                )))
            }
            None => None,
        };
        let stream = input.stream.clone();
        // Each record's own metadata: PARTITION_KEY, SHARD_ID, SEQUENCE_NUMBER.
        let mut batch: Vec<Record> = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let data: &[u8] = match outcomes.as_ref().map(|o| &o[i]) {
                None => &r.data,
                Some(Preprocessed::Ok(d)) => d,
                Some(Preprocessed::Dropped) => continue,
                Some(Preprocessed::Failed(why)) => {
                    self.app.push_error(ErrorRow {
                        level: "ERROR",
                        name: "Lambda preprocessing",
                        message: format!(
                            "input {stream}: record {} of shard {}: {why}",
                            r.sequence_number, r.shard_id
                        ),
                        data_rowtime: Some(r.arrival_ms),
                        data_row: sluice_engine::errors::hex(&r.data),
                        pump: None,
                    });
                    continue;
                }
            };
            batch.push(Record {
                data,
                arrival_ms: r.arrival_ms,
                meta: RecordMeta {
                    partition_key: Some(&r.partition_key),
                    shard_id: Some(&r.shard_id),
                    sequence_number: Some(&r.sequence_number),
                },
            });
        }
        self.app.push_records(&stream, &batch)?;
        Ok(records.len())
    }

    /// Delivers every emitted row, retrying refused records; an output that
    /// keeps failing stops the app (its records are not committed).
    fn deliver(&mut self, stop: &AtomicBool) -> Result<()> {
        let rows = std::mem::take(
            &mut *self
                .pending
                .lock()
                .map_err(|_| anyhow!("output queue poisoned"))?,
        );
        if rows.is_empty() {
            return Ok(());
        }
        let mut by_sink: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
        for (sink, row) in rows {
            by_sink.entry(sink).or_default().push(row);
        }
        let mut sinks: Vec<_> = by_sink.into_iter().collect();
        sinks.sort_by_key(|(s, _)| *s);
        for (sink, rows) in sinks {
            match &mut self.sinks[sink] {
                Sink::File(w) => {
                    for row in &rows {
                        w.write_all(row).context("writing output")?;
                    }
                    w.flush().context("writing output")?;
                }
                Sink::Kds {
                    kds,
                    stream,
                    next_key,
                } => {
                    for chunk in rows.chunks(PUT_BATCH) {
                        let mut entries: Vec<PutEntry> = chunk
                            .iter()
                            .map(|row| {
                                *next_key += 1;
                                PutEntry {
                                    partition_key: next_key.to_string(),
                                    explicit_hash_key: None,
                                    data: row.clone(),
                                }
                            })
                            .collect();
                        put_all(kds, stream, &mut entries)?;
                    }
                }
                Sink::RemoteKds {
                    client,
                    stream,
                    next_key,
                } => {
                    for chunk in rows.chunks(PUT_BATCH) {
                        let entries: Vec<(String, Vec<u8>)> = chunk
                            .iter()
                            .map(|row| {
                                *next_key += 1;
                                (next_key.to_string(), row.clone())
                            })
                            .collect();
                        self.runtime
                            .block_on(put_remote(client, stream, entries, stop))?;
                    }
                }
                Sink::Lambda(lambda) => {
                    self.runtime
                        .block_on(lambda.deliver(&self.application_arn, &rows, stop))?;
                }
                Sink::Firehose { firehose, stream } => {
                    let _g = self.runtime.enter();
                    for chunk in rows.chunks(PUT_BATCH) {
                        let records: Vec<Bytes> =
                            chunk.iter().map(|r| Bytes::from(r.clone())).collect();
                        // A delivery stream not created yet: wait for it (the
                        // records are not committed meanwhile).
                        loop {
                            match firehose.put_record_batch(stream, records.clone()) {
                                Ok(_) => break,
                                Err(FirehoseError::NotFound { .. })
                                    if !stop.load(Ordering::SeqCst) =>
                                {
                                    std::thread::sleep(Duration::from_secs(1));
                                }
                                Err(e) => bail!("delivery stream {stream}: {e}"),
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits, per input, the records no open window holds any more.
    fn commit(&mut self) -> Result<()> {
        let held_since = self.app.retained_since();
        for input in &mut self.inputs {
            let done = match held_since {
                None => input.fed.len(),
                Some(t) => input.fed.partition_point(|(_, _, rowtime)| *rowtime < t),
            };
            if done == 0 {
                // A reader started at the head that has read nothing yet
                // still records where it started (once).
                if let InputFrom::Kinesis(reader) = &mut input.from {
                    reader
                        .commit_through(&HashMap::<&str, &str>::new())
                        .with_context(|| format!("checkpointing input {}", input.stream))?;
                }
                continue;
            }
            let mut through: HashMap<&str, &str> = HashMap::new();
            for (shard, seq, _) in &input.fed[..done] {
                through.insert(shard, seq);
            }
            match &mut input.from {
                InputFrom::Kinesis(reader) => reader
                    .commit_through(&through)
                    .with_context(|| format!("checkpointing input {}", input.stream))?,
                InputFrom::RemoteVideo { checkpoints, .. } => {
                    for (video_stream, token) in through {
                        checkpoints
                            .save(
                                video_stream,
                                [(
                                    VIDEO_CHECKPOINT_KEY.to_string(),
                                    ShardCheckpoint::After(token.to_string()),
                                )],
                            )
                            .with_context(|| format!("checkpointing input {}", input.stream))?;
                    }
                }
                InputFrom::Video { .. } | InputFrom::Firehose { .. } => {}
            }
            input.fed.drain(..done);
        }
        Ok(())
    }
}

/// The checkpoint file's "shard" of a video stream: one position each.
const VIDEO_CHECKPOINT_KEY: &str = "fragments";

/// The checkpoint file's "shard" of when a run started at NOW began
/// (server time), under the input's video stream or, for `*`,
/// [`ALL_VIDEO_STREAMS`].
const VIDEO_START_KEY: &str = "started";

/// The checkpoint file's stream name for a `*` input's NOW start (`*` is
/// not a checkpoint name; this entry's key keeps it apart from a stream of
/// the same name, whose positions are under [`VIDEO_CHECKPOINT_KEY`]).
const ALL_VIDEO_STREAMS: &str = "all";

/// A GetMedia follower of `v` (remote), from its starting position: NOW,
/// TRIM_HORIZON (the earliest fragment kept), or LAST_STOPPED_POINT (after
/// the checkpointed fragment of each stream; for a stream with none, from
/// when the last run started, if that run started at NOW, else the
/// earliest). A run started at NOW records when it started at once, so a
/// run stopped before it read anything still resumes from there.
fn follow_video(
    v: &VideoLocation,
    ckpt_dir: &Path,
    input: &str,
    services: &Services,
    drain: bool,
) -> Result<InputFrom> {
    let region = v
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint = v
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("https://kinesisvideo.{region}.amazonaws.com"));
    let ckpt_path = ckpt_dir.join(format!("{}.checkpoint", file_safe(input)));
    if v.starting_position != StartingPosition::LastStoppedPoint && ckpt_path.exists() {
        std::fs::remove_file(&ckpt_path)
            .with_context(|| format!("removing {}", ckpt_path.display()))?;
    }
    let checkpoints = CheckpointStore::open(&ckpt_path)?;
    let start_name = if v.name == "*" {
        ALL_VIDEO_STREAMS
    } else {
        v.name.as_str()
    };
    if v.starting_position == StartingPosition::Now {
        checkpoints
            .save(
                start_name,
                [(
                    VIDEO_START_KEY.to_string(),
                    ShardCheckpoint::Since(services.clock.now_ms()),
                )],
            )
            .with_context(|| format!("checkpointing input {input}"))?;
    }
    let mut options = sluice_video::follow::FollowOptions::new(endpoint);
    options.wait_for_stream = !drain;
    options.signer = crate::video::signer_for(sluice_kds::Credentials::from_env(), region);
    options.start = match v.starting_position {
        StartingPosition::Now => sluice_video::follow::FollowStart::Now,
        StartingPosition::TrimHorizon | StartingPosition::LastStoppedPoint => {
            sluice_video::follow::FollowStart::Earliest
        }
    };
    if v.starting_position == StartingPosition::LastStoppedPoint {
        // Every stream's checkpoint, whichever streams `*` finds.
        for (name, key, c) in checkpoints.entries() {
            match (key.as_str(), c) {
                (VIDEO_CHECKPOINT_KEY, ShardCheckpoint::After(token)) => {
                    options.resume.insert(name, token);
                }
                (VIDEO_START_KEY, ShardCheckpoint::Since(ms)) if name == start_name => {
                    options.start = sluice_video::follow::FollowStart::Since(ms);
                }
                _ => {}
            }
        }
    }
    let _guard = services.runtime.enter();
    let follower = sluice_video::follow::follow(&v.name, options)?;
    Ok(InputFrom::RemoteVideo {
        follower: Box::new(follower),
        checkpoints,
    })
}

/// Up to [`READ_BATCH`] records that entered delivery stream `only`
/// (arrival time, data), waiting up to `wait` for the first. Missed
/// batches (this reader fell behind) are reported on stderr.
async fn firehose_records(
    events: &mut tokio::sync::broadcast::Receiver<sluice_firehose::IncomingRecords>,
    only: &str,
    wait: Duration,
) -> Vec<(i64, Bytes)> {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let mut out = Vec::new();
    let take = |e: sluice_firehose::IncomingRecords, out: &mut Vec<(i64, Bytes)>| {
        if e.stream == only {
            out.extend(e.records.iter().map(|r| (e.arrival_ms, r.clone())));
        }
    };
    match tokio::time::timeout(wait, events.recv()).await {
        Ok(Ok(e)) => take(e, &mut out),
        Ok(Err(RecvError::Lagged(n))) => {
            eprintln!(
                "sluice: delivery stream {only}: {n} batches of records missed (the app fell behind)"
            );
        }
        Ok(Err(RecvError::Closed)) | Err(_) => return out,
    }
    while out.len() < READ_BATCH {
        match events.try_recv() {
            Ok(e) => take(e, &mut out),
            Err(TryRecvError::Lagged(n)) => {
                eprintln!(
                    "sluice: delivery stream {only}: {n} batches of records missed (the app fell behind)"
                );
            }
            Err(_) => break,
        }
    }
    out
}

/// Up to [`READ_BATCH`] fragment rows (server time, the row's JSON),
/// waiting up to `wait` for the first. Missed events (this reader fell
/// behind the broadcast buffer) are reported on stderr with their count.
async fn video_rows(
    events: &mut tokio::sync::broadcast::Receiver<sluice_video::FragmentEvent>,
    only: Option<&str>,
    wait: Duration,
) -> Vec<(i64, Vec<u8>)> {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let keep = |e: &sluice_video::FragmentEvent| only.is_none_or(|s| s == e.stream_name);
    let row = |e: &sluice_video::FragmentEvent| (e.server_ms, e.to_json().to_string().into_bytes());
    let mut rows = Vec::new();
    if !wait.is_zero() {
        match tokio::time::timeout(wait, events.recv()).await {
            Ok(Ok(e)) if keep(&e) => rows.push(row(&e)),
            Ok(Err(RecvError::Lagged(n))) => {
                eprintln!("sluice: video_stream input fell behind: {n} fragment rows missed");
            }
            _ => {}
        }
    }
    while rows.len() < READ_BATCH {
        match events.try_recv() {
            Ok(e) if keep(&e) => rows.push(row(&e)),
            Ok(_) => {}
            Err(TryRecvError::Lagged(n)) => {
                eprintln!("sluice: video_stream input fell behind: {n} fragment rows missed");
            }
            Err(_) => break,
        }
    }
    rows
}

/// Appends `entries`, retrying the records refused (throttling) with backoff.
/// PutRecords to a remote endpoint, sending refused records again (with
/// back-off) until all are in; a failed call is retried the same way.
/// Stopping the app gives up (the input is then not committed past them).
async fn put_remote(
    client: &KdsClient,
    stream: &str,
    mut entries: Vec<(String, Vec<u8>)>,
    stop: &AtomicBool,
) -> Result<()> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut backoff = Duration::from_millis(50);
    loop {
        let body = serde_json::json!({
            "StreamName": stream,
            "Records": entries.iter().map(|(key, data)| serde_json::json!({
                "PartitionKey": key,
                "Data": b64.encode(data),
            })).collect::<Vec<_>>(),
        });
        let failed: Vec<(String, Vec<u8>)> = match client.call("PutRecords", &body).await {
            Ok(answer) => {
                let results = answer["Records"].as_array().cloned().unwrap_or_default();
                if results.len() != entries.len() {
                    bail!(
                        "Kinesis stream {stream} at {}: PutRecords answered {} results for {} records",
                        client.url(),
                        results.len(),
                        entries.len()
                    );
                }
                entries
                    .into_iter()
                    .zip(results)
                    .filter_map(|(e, r)| r.get("ErrorCode").is_some().then_some(e))
                    .collect()
            }
            Err(e) => {
                eprintln!(
                    "sluice: Kinesis stream {stream} at {}: {e}; retrying",
                    client.url()
                );
                entries
            }
        };
        if failed.is_empty() {
            return Ok(());
        }
        if stop.load(Ordering::SeqCst) {
            bail!(
                "Kinesis stream {stream} at {}: {} records not written when the app stopped",
                client.url(),
                failed.len()
            );
        }
        entries = failed;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn put_all(kds: &Kds, stream: &str, entries: &mut Vec<PutEntry>) -> Result<()> {
    let mut backoff = Duration::from_millis(50);
    for _ in 0..20 {
        let sent = std::mem::take(entries);
        let outcomes = kds
            .put_records(stream, sent.clone())
            .map_err(|e| anyhow!("Kinesis stream {stream}: {e}"))?;
        let failed: Vec<PutEntry> = sent
            .into_iter()
            .zip(outcomes)
            .filter_map(|(entry, outcome)| outcome.is_err().then_some(entry))
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        *entries = failed;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    bail!(
        "Kinesis stream {stream}: {} records still refused after retries",
        entries.len()
    )
}

fn subscribe(
    app: &mut Application,
    stream: &str,
    sink: usize,
    format: OutputFormat,
    rowtime: bool,
    newline: bool,
    pending: &Pending,
) -> Result<()> {
    let pending = Arc::clone(pending);
    app.subscribe(stream, move |batch| {
        let rows = (0..batch.num_rows()).map(|i| {
            let mut row = match format {
                OutputFormat::Json => row_json(batch, i, rowtime),
                OutputFormat::Csv => row_csv(batch, i, rowtime),
            }
            .into_bytes();
            if newline {
                row.push(b'\n');
            }
            (sink, row)
        });
        if let Ok(mut p) = pending.lock() {
            p.extend(rows);
        }
    })?;
    Ok(())
}

/// The app's streams that pumps write and no pump reads.
pub fn final_streams(app: &Application) -> Vec<String> {
    let plan = app.plan();
    plan.streams
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            plan.pumps.iter().any(|p| p.into == *i)
                && !plan.pumps.iter().any(|p| p.reads().contains(i))
        })
        .map(|(_, s)| s.name.clone())
        .collect()
}

/// Creates the embedded stream `name` (one shard) when it does not exist,
/// so `sluice serve --apps` starts with one command.
fn ensure_stream(kds: &Kds, name: &str) -> Result<()> {
    let name = kds_name(kds, name);
    if kds.describe_stream(&name).is_ok() {
        return Ok(());
    }
    kds.create_stream(&name, Some(1))
        .map_err(|e| anyhow!("creating Kinesis stream {name}: {e}"))?;
    eprintln!("sluice: created Kinesis stream {name} (1 shard) for an app");
    Ok(())
}

/// A stream name from a name or ARN.
fn kds_name(kds: &Kds, name: &str) -> String {
    kds.name_from_arn(name).unwrap_or(name).to_string()
}

/// Where app `app` keeps the read position of its input `stream` (an
/// in-application stream fed by a Kinesis data stream).
pub fn checkpoint_path(checkpoint_dir: &Path, app: &str, stream: &str) -> PathBuf {
    checkpoint_dir
        .join(app)
        .join(format!("{}.checkpoint", file_safe(stream)))
}

/// A file name for an in-application stream name (quoted names may hold anything).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        + &format!("-{:08x}", crc(name))
}

fn crc(s: &str) -> u32 {
    // FNV-1a: distinct file names for names that map to the same characters.
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
