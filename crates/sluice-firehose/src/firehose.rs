//! The delivery streams of one account: [`Firehose`] creates, describes,
//! updates, tags and deletes [`DeliveryStream`]s from AWS's own request JSON,
//! persists each stream's definition under `<data_dir>/streams/<name>/` and
//! reopens them (with their unsent buffers) on [`Firehose::open`].
//!
//! Layout under the data directory:
//!
//! ```text
//! streams/<name>/stream.json   StreamMeta: ARN, type, version, destination JSON, tags
//! streams/<name>/buffers/      the stream's durable buffer files (see `buffer`)
//! glue/<database>/<table>.json Glue tables for record format conversion (see `convert`)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::config::{CreateDeliveryStreamInput, Destination, Tag, validate_stream_name};
use crate::convert::inline_catalog_columns;
use crate::error::{FirehoseError, Result};
use crate::source::{KinesisSource, check_stream_exists, stream_name_from_arn};
use crate::store::Buckets;
use crate::stream::{DEFAULT_RETENTION, DeliveryStream};
use crate::transform::Lambdas;
use sluice_kds::ReaderSource;

/// The only destination id a stream has.
pub const DESTINATION_ID: &str = "destinationId-000000000001";
/// Most tags on one stream.
pub const MAX_TAGS: usize = 50;

/// Where and how a [`Firehose`] keeps its streams.
#[derive(Debug, Clone)]
pub struct FirehoseOptions {
    /// Stream definitions and durable buffers live here.
    pub data_dir: PathBuf,
    /// Where buckets are.
    pub buckets: Arc<dyn Buckets>,
    /// The time source for arrival times and buffering intervals.
    pub clock: Arc<dyn Clock>,
    /// Account id in ARNs and messages.
    pub account_id: String,
    /// Region in ARNs.
    pub region: String,
    /// Start a background delivery driver per stream (off in tests that
    /// flush by hand).
    pub spawn_drivers: bool,
    /// Lambda functions by ARN, for `Lambda` processors whose `LambdaArn`
    /// is a real ARN (an `http(s)://` URL or `command:` needs no entry).
    pub lambdas: Lambdas,
    /// Where `KinesisStreamAsSource` delivery streams read their Kinesis
    /// stream: an embedded [`sluice_kds::Kds`] (the stream ARN must be of its
    /// account and region) or a remote endpoint. `None`: such streams are
    /// refused at create.
    pub kinesis: Option<ReaderSource>,
    /// How long a stream keeps retrying a destination it cannot write to
    /// (the S3 bucket, or the S3 bucket behind an HTTP endpoint's error
    /// output), counted from the oldest record's arrival, before the
    /// buffer's records are dropped and counted in
    /// [`DeliveryStats::expired_records`](crate::DeliveryStats). AWS keeps
    /// retrying for 24 hours ([`DEFAULT_RETENTION`]); after that the data is
    /// lost.
    pub retention: Duration,
}

impl FirehoseOptions {
    /// Options with account `123456789012`, region `us-east-1`, drivers on.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        buckets: Arc<dyn Buckets>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            buckets,
            clock,
            account_id: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            spawn_drivers: true,
            lambdas: Lambdas::new(),
            kinesis: None,
            retention: DEFAULT_RETENTION,
        }
    }
}

/// A stream's persisted definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StreamMeta {
    name: String,
    arn: String,
    stream_type: String,
    version: u64,
    create_ms: i64,
    update_ms: i64,
    /// "ExtendedS3" or "S3": which configuration member it was created with.
    destination_kind: String,
    destination: Value,
    source: Option<Value>,
    tags: Vec<Tag>,
}

#[derive(Debug)]
struct Entry {
    meta: StreamMeta,
    stream: DeliveryStream,
    source: Option<SourceTask>,
}

/// The task reading a `KinesisStreamAsSource` stream's Kinesis stream.
#[derive(Debug)]
struct SourceTask {
    handle: tokio::task::JoinHandle<()>,
    last_error: Arc<Mutex<Option<String>>>,
}

#[derive(Debug)]
struct Inner {
    opts: FirehoseOptions,
    streams: Mutex<BTreeMap<String, Entry>>,
    /// Records as they enter a stream, for apps that read a delivery
    /// stream (KDA's KinesisFirehoseInput).
    incoming: tokio::sync::broadcast::Sender<IncomingRecords>,
}

/// How many batches of [`IncomingRecords`] a slow reader may fall behind
/// before it misses some (`RecvError::Lagged`).
pub const INCOMING_BUFFER: usize = 1024;

/// Records that entered delivery stream `stream` (PutRecord,
/// PutRecordBatch, or its source), as they entered: what an application
/// whose input is the delivery stream reads.
#[derive(Debug, Clone)]
pub struct IncomingRecords {
    /// The delivery stream.
    pub stream: String,
    /// When they arrived, ms since the epoch.
    pub arrival_ms: i64,
    /// The records' data.
    pub records: Arc<Vec<Bytes>>,
}

/// All delivery streams of one account; cheap to clone.
#[derive(Debug, Clone)]
pub struct Firehose {
    inner: Arc<Inner>,
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> FirehoseError + '_ {
    move |e| FirehoseError::buffer(path, e)
}

impl Firehose {
    /// Opens the streams persisted under `opts.data_dir`; their leftover
    /// buffers are delivered by their drivers. Needs a tokio runtime when
    /// drivers are on.
    pub fn open(opts: FirehoseOptions) -> Result<Self> {
        let dir = opts.data_dir.join("streams");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut streams = BTreeMap::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path().join("stream.json")))
            .filter(|p| p.exists())
            .collect();
        entries.sort();
        for path in entries {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let meta: StreamMeta =
                serde_json::from_slice(&bytes).map_err(|e| FirehoseError::CorruptBuffer {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            let dest =
                Destination::from_kind(&meta.destination_kind, &meta.destination, "destination")?;
            let stream = Self::open_stream(&opts, &meta, dest)?;
            let source = Self::start_source(&opts, &meta, &stream)?;
            streams.insert(
                meta.name.clone(),
                Entry {
                    meta,
                    stream,
                    source,
                },
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                opts,
                streams: Mutex::new(streams),
                incoming: tokio::sync::broadcast::channel(INCOMING_BUFFER).0,
            }),
        })
    }

    /// The records entering every delivery stream from now on (see
    /// [`IncomingRecords`]). Publishing never waits for a reader.
    pub fn subscribe_incoming(&self) -> tokio::sync::broadcast::Receiver<IncomingRecords> {
        self.inner.incoming.subscribe()
    }

    /// A copy of `records` for [`Self::publish`], when some app reads them.
    fn for_readers(&self, records: &[Bytes]) -> Option<Vec<Bytes>> {
        (self.inner.incoming.receiver_count() > 0).then(|| records.to_vec())
    }

    fn publish(&self, stream: &str, records: Option<Vec<Bytes>>) {
        if let Some(records) = records {
            let _ = self.inner.incoming.send(IncomingRecords {
                stream: stream.to_string(),
                arrival_ms: self.inner.opts.clock.now().timestamp_millis(),
                records: Arc::new(records),
            });
        }
    }

    fn open_stream(
        opts: &FirehoseOptions,
        meta: &StreamMeta,
        dest: Destination,
    ) -> Result<DeliveryStream> {
        let stream = DeliveryStream::open(
            &meta.name,
            dest,
            meta.version,
            opts.data_dir
                .join("streams")
                .join(&meta.name)
                .join("buffers"),
            Arc::clone(&opts.buckets),
            Arc::clone(&opts.clock),
        )?
        .with_identity(&meta.arn, &opts.region)
        .with_lambdas(opts.lambdas.clone())
        .with_retention(opts.retention);
        if opts.spawn_drivers {
            drop(stream.spawn_driver());
        }
        Ok(stream)
    }

    /// The Kinesis stream ARN of a `KinesisStreamSourceConfiguration`.
    fn source_arn(source: &Value) -> Result<&str> {
        source
            .get("KinesisStreamARN")
            .and_then(Value::as_str)
            .ok_or_else(|| FirehoseError::Validation {
                message: "1 validation error detected: Value null at 'kinesisStreamSourceConfiguration.kinesisStreamARN' failed to satisfy constraint: Member must not be null".to_owned(),
            })
    }

    fn kinesis(opts: &FirehoseOptions) -> Result<&ReaderSource> {
        opts.kinesis.as_ref().ok_or_else(|| {
            FirehoseError::invalid(
                "KinesisStreamSourceConfiguration",
                "KinesisStreamAsSource needs a Kinesis Data Streams source; this sluice has none configured (FirehoseOptions::kinesis).",
            )
        })
    }

    /// Starts reading a `KinesisStreamAsSource` stream's Kinesis stream
    /// (when drivers are on).
    fn start_source(
        opts: &FirehoseOptions,
        meta: &StreamMeta,
        stream: &DeliveryStream,
    ) -> Result<Option<SourceTask>> {
        let Some(src) = meta.source.as_ref() else {
            return Ok(None);
        };
        if meta.stream_type != "KinesisStreamAsSource" || !opts.spawn_drivers {
            return Ok(None);
        }
        let kinesis = Self::kinesis(opts)?;
        let arn = Self::source_arn(src)?;
        let name = stream_name_from_arn(kinesis, arn)?;
        let last_error = Arc::new(Mutex::new(None));
        let handle = KinesisSource::spawn(
            kinesis.clone(),
            name,
            meta.create_ms,
            Self::checkpoint_path(opts, &meta.name),
            stream.clone(),
            Arc::clone(&last_error),
        );
        Ok(Some(SourceTask { handle, last_error }))
    }

    /// The checkpoint file of stream `name`'s Kinesis source.
    fn checkpoint_path(opts: &FirehoseOptions, name: &str) -> PathBuf {
        opts.data_dir
            .join("streams")
            .join(name)
            .join("source-checkpoint.json")
    }

    /// The last error reading stream `name`'s Kinesis source, if its reader
    /// is failing (None when it reads fine or the stream has no source).
    pub fn source_error(&self, name: &str) -> Result<Option<String>> {
        let streams = self.streams();
        let e = streams.get(name).ok_or_else(|| self.not_found(name))?;
        Ok(e.source.as_ref().and_then(|s| {
            s.last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        }))
    }

    fn streams(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn not_found(&self, name: &str) -> FirehoseError {
        FirehoseError::NotFound {
            name: name.to_owned(),
            account: self.inner.opts.account_id.clone(),
        }
    }

    fn persist(&self, meta: &StreamMeta) -> Result<()> {
        let dir = self.inner.opts.data_dir.join("streams").join(&meta.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = dir.join("stream.json.tmp");
        let path = dir.join("stream.json");
        let body = serde_json::to_vec_pretty(meta).map_err(|e| FirehoseError::CorruptBuffer {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, body).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Where Glue-table JSON files for record format conversion are read:
    /// `<data_dir>/glue/<DatabaseName>/<TableName>.json`.
    pub fn glue_dir(&self) -> PathBuf {
        self.inner.opts.data_dir.join("glue")
    }

    /// A Lambda processor's function must be reachable.
    fn check_lambda(&self, dest: &Destination) -> Result<()> {
        if let Some(t) = &dest.transform {
            t.target(&self.inner.opts.lambdas)?;
        }
        Ok(())
    }

    /// The ARN of stream `name`.
    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:firehose:{}:{}:deliverystream/{name}",
            self.inner.opts.region, self.inner.opts.account_id
        )
    }

    /// CreateDeliveryStream. Returns the stream's ARN.
    pub fn create(&self, input: CreateDeliveryStreamInput) -> Result<String> {
        let name = input.delivery_stream_name.clone();
        validate_stream_name(&name)?;
        let stream_type = input
            .delivery_stream_type
            .clone()
            .unwrap_or_else(|| "DirectPut".to_owned());
        match stream_type.as_str() {
            "DirectPut" => {
                if input.kinesis_stream_source_configuration.is_some() {
                    return Err(FirehoseError::invalid(
                        "KinesisStreamSourceConfiguration",
                        "KinesisStreamSourceConfiguration is only allowed for the KinesisStreamAsSource delivery stream type.",
                    ));
                }
            }
            "KinesisStreamAsSource" => {
                let Some(src) = &input.kinesis_stream_source_configuration else {
                    return Err(FirehoseError::invalid(
                        "KinesisStreamSourceConfiguration",
                        "KinesisStreamSourceConfiguration is required for the KinesisStreamAsSource delivery stream type.",
                    ));
                };
                let arn = Self::source_arn(src)?;
                let kinesis = Self::kinesis(&self.inner.opts)?;
                let kinesis_name = stream_name_from_arn(kinesis, arn)?;
                check_stream_exists(kinesis, arn, &kinesis_name)?;
            }
            other => {
                return Err(FirehoseError::Validation {
                    message: format!(
                        "1 validation error detected: Value '{other}' at 'deliveryStreamType' failed to satisfy constraint: Member must satisfy enum value set: [DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]"
                    ),
                });
            }
        }
        if let Some(k) = input.other.keys().find(|k| k.ends_with("Configuration")) {
            return Err(FirehoseError::invalid(
                k,
                format!(
                    "{k} is not supported by sluice; use ExtendedS3DestinationConfiguration or S3DestinationConfiguration."
                ),
            ));
        }
        let given: Vec<(&str, &str, &Value)> = [
            (
                "ExtendedS3",
                "extendedS3DestinationConfiguration",
                &input.extended_s3_destination_configuration,
            ),
            (
                "S3",
                "s3DestinationConfiguration",
                &input.s3_destination_configuration,
            ),
            (
                "HttpEndpoint",
                "httpEndpointDestinationConfiguration",
                &input.http_endpoint_destination_configuration,
            ),
        ]
        .into_iter()
        .filter_map(|(k, p, j)| j.as_ref().map(|j| (k, p, j)))
        .collect();
        let (kind, path, dest_json) = match given.as_slice() {
            [one] => *one,
            [] => {
                return Err(FirehoseError::invalid(
                    "DestinationConfiguration",
                    "Exactly one destination configuration must be specified.",
                ));
            }
            _ => {
                return Err(FirehoseError::invalid(
                    "DestinationConfiguration",
                    "Only one destination configuration can be specified.",
                ));
            }
        };
        let tags = input.tags.clone().unwrap_or_default();
        check_tags(&tags)?;
        let mut dest_json = dest_json.clone();
        inline_catalog_columns(&mut dest_json, &self.glue_dir())?;
        let dest = Destination::from_kind(kind, &dest_json, path)?;
        self.check_lambda(&dest)?;
        let mut streams = self.streams();
        if streams.contains_key(&name) {
            return Err(FirehoseError::InUse {
                name,
                account: self.inner.opts.account_id.clone(),
            });
        }
        let now = self.inner.opts.clock.now().timestamp_millis();
        let meta = StreamMeta {
            arn: self.arn(&name),
            name: name.clone(),
            stream_type,
            version: 1,
            create_ms: now,
            update_ms: now,
            destination_kind: kind.to_owned(),
            destination: dest_json,
            source: input.kinesis_stream_source_configuration.clone(),
            tags,
        };
        self.persist(&meta)?;
        let stream = Self::open_stream(&self.inner.opts, &meta, dest)?;
        let source = Self::start_source(&self.inner.opts, &meta, &stream)?;
        let arn = meta.arn.clone();
        streams.insert(
            name,
            Entry {
                meta,
                stream,
                source,
            },
        );
        Ok(arn)
    }

    /// DeleteDeliveryStream: stops the stream and removes its definition and
    /// buffers (records not yet delivered are discarded, as in AWS).
    pub fn delete(&self, name: &str) -> Result<()> {
        let entry = self
            .streams()
            .remove(name)
            .ok_or_else(|| self.not_found(name))?;
        entry.stream.close();
        if let Some(s) = entry.source {
            s.handle.abort();
        }
        let dir = self.inner.opts.data_dir.join("streams").join(name);
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        Ok(())
    }

    /// The stream called `name`.
    pub fn stream(&self, name: &str) -> Result<DeliveryStream> {
        self.streams()
            .get(name)
            .map(|e| e.stream.clone())
            .ok_or_else(|| self.not_found(name))
    }

    /// Names of all streams, sorted.
    pub fn names(&self) -> Vec<String> {
        self.streams().keys().cloned().collect()
    }

    /// ListDeliveryStreams: names after `exclusive_start` of the given type,
    /// at most `limit`; and whether more remain.
    pub fn list(
        &self,
        limit: usize,
        stream_type: Option<&str>,
        exclusive_start: Option<&str>,
    ) -> (Vec<String>, bool) {
        let streams = self.streams();
        let mut names = streams
            .values()
            .filter(|e| stream_type.is_none_or(|t| e.meta.stream_type == t))
            .map(|e| e.meta.name.clone())
            .filter(|n| exclusive_start.is_none_or(|s| n.as_str() > s));
        let out: Vec<String> = names.by_ref().take(limit).collect();
        let more = names.next().is_some();
        (out, more)
    }

    /// PutRecordBatch into stream `name` (DirectPut streams only).
    pub fn put_record_batch(&self, name: &str, records: Vec<Bytes>) -> Result<Vec<String>> {
        let stream = {
            let streams = self.streams();
            let e = streams.get(name).ok_or_else(|| self.not_found(name))?;
            if e.meta.stream_type != "DirectPut" {
                return Err(FirehoseError::invalid(
                    "DeliveryStreamName",
                    format!(
                        "This operation is not permitted on {} delivery stream type.",
                        e.meta.stream_type
                    ),
                ));
            }
            e.stream.clone()
        };
        let copy = self.for_readers(&records);
        let ids = stream.put_record_batch(records)?;
        self.publish(name, copy);
        Ok(ids)
    }

    /// Delivers records from the stream's source (a KDS stream or an
    /// application's output) into stream `name`, whatever its type.
    /// KPL-aggregated records are opened into their user records.
    pub fn deliver_from_source(&self, name: &str, records: Vec<Bytes>) -> Result<Vec<String>> {
        let copy = self.for_readers(&records);
        let ids = self.stream(name)?.put_source_records(records)?;
        self.publish(name, copy);
        Ok(ids)
    }

    /// DescribeDeliveryStream's `DeliveryStreamDescription`.
    pub fn describe(&self, name: &str) -> Result<Value> {
        let streams = self.streams();
        let e = streams.get(name).ok_or_else(|| self.not_found(name))?;
        let m = &e.meta;
        let dest = e.stream.destination();
        let mut d = dest.json.clone();
        if let Some(o) = d.as_object_mut() {
            o.entry("RoleARN").or_insert(json!(""));
            o.insert(
                "Prefix".into(),
                o.get("Prefix").cloned().unwrap_or(json!("")),
            );
            o.insert(
                "BufferingHints".into(),
                json!({"SizeInMBs": dest.size_limit / (1024 * 1024), "IntervalInSeconds": dest.interval.as_secs()}),
            );
            o.insert("CompressionFormat".into(), json!(dest.compression.as_aws()));
            o.entry("EncryptionConfiguration")
                .or_insert(json!({"NoEncryptionConfig": "NoEncryption"}));
            o.entry("CloudWatchLoggingOptions")
                .or_insert(json!({"Enabled": false}));
        }
        let mut destination = json!({"DestinationId": DESTINATION_ID});
        if m.destination_kind == "HttpEndpoint" {
            let mut h = dest.json.clone();
            if let (Some(o), Some(http)) = (h.as_object_mut(), &dest.http) {
                // The access key is never shown.
                o.insert(
                    "EndpointConfiguration".into(),
                    json!({"Url": http.url, "Name": http.name}),
                );
                o.insert(
                    "BufferingHints".into(),
                    json!({"SizeInMBs": dest.size_limit / (1024 * 1024), "IntervalInSeconds": dest.interval.as_secs()}),
                );
                o.insert(
                    "RetryOptions".into(),
                    json!({"DurationInSeconds": http.retry_duration.as_secs()}),
                );
                o.insert(
                    "S3BackupMode".into(),
                    json!(match http.backup_mode {
                        crate::http_endpoint::HttpBackupMode::AllData => "AllData",
                        crate::http_endpoint::HttpBackupMode::FailedDataOnly => "FailedDataOnly",
                    }),
                );
                if let Some(s3) = o.remove("S3Configuration") {
                    o.insert("S3DestinationDescription".into(), s3);
                }
            }
            if let Some(o) = destination.as_object_mut() {
                o.insert("HttpEndpointDestinationDescription".into(), h);
            }
        } else if let Some(o) = destination.as_object_mut() {
            let mut s3 = serde_json::Map::new();
            if let Some(src) = d.as_object() {
                for k in [
                    "RoleARN",
                    "BucketARN",
                    "Prefix",
                    "ErrorOutputPrefix",
                    "BufferingHints",
                    "CompressionFormat",
                    "EncryptionConfiguration",
                    "CloudWatchLoggingOptions",
                ] {
                    if let Some(v) = src.get(k) {
                        s3.insert(k.to_owned(), v.clone());
                    }
                }
            }
            o.insert("S3DestinationDescription".into(), Value::Object(s3));
            if m.destination_kind == "ExtendedS3" {
                if let Some(x) = d.as_object_mut() {
                    x.entry("S3BackupMode").or_insert(json!("Disabled"));
                }
                o.insert("ExtendedS3DestinationDescription".into(), d);
            }
        }
        let mut out = json!({
            "DeliveryStreamName": m.name,
            "DeliveryStreamARN": m.arn,
            "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamEncryptionConfiguration": {"Status": "DISABLED"},
            "DeliveryStreamType": m.stream_type,
            "VersionId": m.version.to_string(),
            "CreateTimestamp": m.create_ms as f64 / 1000.0,
            "Destinations": [destination],
            "HasMoreDestinations": false,
        });
        if m.version > 1
            && let Some(o) = out.as_object_mut()
        {
            o.insert(
                "LastUpdateTimestamp".into(),
                json!(m.update_ms as f64 / 1000.0),
            );
        }
        if let (Some(src), Some(o)) = (&m.source, out.as_object_mut()) {
            let mut s = src.clone();
            if let Some(x) = s.as_object_mut() {
                x.insert(
                    "DeliveryStartTimestamp".into(),
                    json!(m.create_ms as f64 / 1000.0),
                );
            }
            o.insert(
                "Source".into(),
                json!({"KinesisStreamSourceDescription": s}),
            );
        }
        Ok(out)
    }

    /// UpdateDestination: merges `update` (an `ExtendedS3DestinationUpdate`
    /// or `S3DestinationUpdate`) over the destination when
    /// `current_version` matches, and bumps the version.
    pub fn update_destination(
        &self,
        name: &str,
        current_version: &str,
        destination_id: &str,
        update: &Value,
    ) -> Result<u64> {
        let mut streams = self.streams();
        let e = streams.get_mut(name).ok_or_else(|| self.not_found(name))?;
        if destination_id != DESTINATION_ID {
            return Err(FirehoseError::invalid(
                "DestinationId",
                format!("Destination Id {destination_id} not found."),
            ));
        }
        if current_version != e.meta.version.to_string() {
            return Err(FirehoseError::ConcurrentModification {
                name: name.to_owned(),
                current: e.meta.version.to_string(),
                given: current_version.to_owned(),
            });
        }
        let mut merged = e.stream.destination().merged_json(update);
        inline_catalog_columns(&mut merged, &self.inner.opts.data_dir.join("glue"))?;
        let path = match e.meta.destination_kind.as_str() {
            "HttpEndpoint" => "httpEndpointDestinationUpdate",
            _ => "extendedS3DestinationUpdate",
        };
        let dest = Destination::from_kind(&e.meta.destination_kind, &merged, path)?;
        self.check_lambda(&dest)?;
        let mut meta = e.meta.clone();
        meta.version += 1;
        meta.update_ms = self.inner.opts.clock.now().timestamp_millis();
        meta.destination = merged;
        self.persist(&meta)?;
        e.stream.update_destination(dest, meta.version);
        e.meta = meta;
        Ok(e.meta.version)
    }

    /// TagDeliveryStream: adds or replaces tags.
    pub fn tag(&self, name: &str, tags: Vec<Tag>) -> Result<()> {
        let mut streams = self.streams();
        let e = streams.get_mut(name).ok_or_else(|| self.not_found(name))?;
        let mut meta = e.meta.clone();
        for t in tags {
            match meta.tags.iter_mut().find(|x| x.key == t.key) {
                Some(x) => x.value = t.value,
                None => meta.tags.push(t),
            }
        }
        check_tags(&meta.tags)?;
        self.persist(&meta)?;
        e.meta = meta;
        Ok(())
    }

    /// UntagDeliveryStream.
    pub fn untag(&self, name: &str, keys: &[String]) -> Result<()> {
        let mut streams = self.streams();
        let e = streams.get_mut(name).ok_or_else(|| self.not_found(name))?;
        let mut meta = e.meta.clone();
        meta.tags.retain(|t| !keys.contains(&t.key));
        self.persist(&meta)?;
        e.meta = meta;
        Ok(())
    }

    /// ListTagsForDeliveryStream: tags after `exclusive_start` key, at most
    /// `limit`, and whether more remain.
    pub fn list_tags(
        &self,
        name: &str,
        exclusive_start: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Tag>, bool)> {
        let streams = self.streams();
        let e = streams.get(name).ok_or_else(|| self.not_found(name))?;
        let mut tags: Vec<Tag> = e.meta.tags.clone();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        let mut it = tags
            .into_iter()
            .filter(|t| exclusive_start.is_none_or(|s| t.key.as_str() > s));
        let out: Vec<Tag> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        Ok((out, more))
    }

    /// Seals and delivers every stream's buffers now.
    pub async fn flush_all(&self) -> Result<usize> {
        let streams: Vec<DeliveryStream> =
            self.streams().values().map(|e| e.stream.clone()).collect();
        let mut n = 0;
        for s in streams {
            n += s.flush().await?;
        }
        Ok(n)
    }

    /// Stops every stream's driver and Kinesis source (buffers stay on
    /// disk; source positions not yet delivered stay uncommitted).
    pub fn close(&self) {
        for e in self.streams().values() {
            e.stream.close();
        }
    }

    /// [`Self::close`], then waits for the Kinesis source tasks to end (so
    /// their checkpoint files are released and another [`Firehose::open`]
    /// on the same data directory can read them).
    pub async fn shutdown(&self) {
        self.close();
        let handles: Vec<tokio::task::JoinHandle<()>> = self
            .streams()
            .values_mut()
            .filter_map(|e| e.source.take().map(|s| s.handle))
            .collect();
        for h in handles {
            let _ = h.await;
        }
    }
}

fn check_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(FirehoseError::LimitExceeded {
            message: format!(
                "A delivery stream can have at most {MAX_TAGS} tags; {} were given.",
                tags.len()
            ),
        });
    }
    for t in tags {
        if t.key.is_empty() || t.key.len() > 128 {
            return Err(FirehoseError::Validation {
                message: format!(
                    "1 validation error detected: Value '{}' at 'tags.member.key' failed to satisfy constraint: Member must have length less than or equal to 128 and greater than or equal to 1",
                    t.key
                ),
            });
        }
    }
    Ok(())
}
