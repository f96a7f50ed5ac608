//! What a running app shows the console: the last rows of each of its
//! in-application streams (and `error_stream`), rows counted per stream,
//! how far its inputs are behind their streams' heads, and its graph.
//!
//! [`AppMonitor::attach`] subscribes to every stream of a built
//! [`Application`] before it runs. A tap keeps the emitted Arrow batches
//! themselves (sliced, no copy) up to [`KEEP_ROWS`] rows, and sends each
//! new batch to live readers; rows are only turned into JSON when a reader
//! asks ([`StreamTap::rows_json`]), so an app nobody watches pays a count
//! and a clone of an `Arc` per batch.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde::Serialize;
use sluice_engine::arrow::array::RecordBatch;
use sluice_engine::config::{InputSource, OutputTarget};
use sluice_engine::output::row_json;
use sluice_engine::plan::JoinRight;
use sluice_engine::{AppConfig, Application, ERROR_STREAM};
use tokio::sync::broadcast;

/// Rows of each stream a monitor keeps for a reader that joins late.
pub const KEEP_ROWS: usize = 1000;

/// One column of a stream, as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Its SQL type.
    #[serde(rename = "type")]
    pub sql_type: String,
}

/// The rows of one in-application stream, as they are emitted.
pub struct StreamTap {
    /// Its columns, ROWTIME first.
    pub columns: Vec<Column>,
    kept: Mutex<VecDeque<RecordBatch>>,
    rows: AtomicU64,
    live: broadcast::Sender<RecordBatch>,
}

impl StreamTap {
    fn new(columns: Vec<Column>) -> Self {
        Self {
            columns,
            kept: Mutex::new(VecDeque::new()),
            rows: AtomicU64::new(0),
            live: broadcast::channel(256).0,
        }
    }

    fn push(&self, batch: &RecordBatch) {
        let n = batch.num_rows();
        if n == 0 {
            return;
        }
        self.rows.fetch_add(n as u64, Ordering::Relaxed);
        let batch = if n > KEEP_ROWS {
            batch.slice(n - KEEP_ROWS, KEEP_ROWS)
        } else {
            batch.clone()
        };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.push_back(batch.clone());
        let mut total: usize = kept.iter().map(RecordBatch::num_rows).sum();
        while total > KEEP_ROWS {
            let Some(first) = kept.front_mut() else { break };
            let over = total - KEEP_ROWS;
            if first.num_rows() <= over {
                total -= first.num_rows();
                kept.pop_front();
            } else {
                *first = first.slice(over, first.num_rows() - over);
                total = KEEP_ROWS;
            }
        }
        drop(kept);
        // No receiver is not an error: nobody is watching.
        let _ = self.live.send(batch);
    }

    /// Rows emitted into the stream since the app started.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// The kept rows (oldest first) and a receiver of the batches emitted
    /// after them.
    pub fn watch(&self) -> (Vec<RecordBatch>, broadcast::Receiver<RecordBatch>) {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        // Subscribed under the lock: no batch falls between the two.
        let rx = self.live.subscribe();
        (kept.iter().cloned().collect(), rx)
    }

    /// The rows of `batch` as JSON objects (ROWTIME as KDA prints it).
    pub fn rows_json(batch: &RecordBatch) -> Vec<String> {
        (0..batch.num_rows())
            .map(|i| row_json(batch, i, true))
            .collect()
    }
}

/// A node of an app's graph.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Unique within the graph: `in:NAME`, `stream:NAME`, `pump:NAME`,
    /// `out:N`, `table:NAME`.
    pub id: String,
    /// `source` (a Kinesis stream or other input), `stream`, `pump`,
    /// `output`, `reference` or `error`.
    pub kind: &'static str,
    /// What the page prints.
    pub label: String,
    /// For `stream`, `pump` and `error` nodes: the stream whose rows count.
    #[serde(skip)]
    pub counts: Option<String>,
}

/// An edge of an app's graph.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// Node id.
    pub from: String,
    /// Node id.
    pub to: String,
}

/// A pump, and the stream it inserts into.
#[derive(Debug, Clone)]
pub struct PumpInfo {
    /// Pump name.
    pub name: String,
    /// The stream it inserts into.
    pub target: String,
}

/// What a running app shows; see the module docs.
pub struct AppMonitor {
    taps: BTreeMap<String, Arc<StreamTap>>,
    /// The app's pumps, in declaration order.
    pub pumps: Vec<PumpInfo>,
    /// The app's graph: its nodes.
    pub nodes: Vec<Node>,
    /// The app's graph: its edges.
    pub edges: Vec<Edge>,
    /// How far the inputs are behind their streams' heads, ms (-1: not
    /// known yet).
    input_lag_ms: AtomicI64,
}

impl AppMonitor {
    /// Subscribes to every stream of `app` (built from `config`).
    pub fn attach(app: &mut Application, config: &AppConfig) -> Result<Arc<Self>> {
        let plan = app.plan();
        let mut taps = BTreeMap::new();
        for s in &plan.streams {
            let mut columns = vec![Column {
                name: "ROWTIME".into(),
                sql_type: "TIMESTAMP".into(),
            }];
            columns.extend(s.columns.iter().map(|c| Column {
                name: c.name.clone(),
                sql_type: c.sql_type.to_string(),
            }));
            taps.insert(s.name.clone(), Arc::new(StreamTap::new(columns)));
        }
        let pumps = plan
            .pumps
            .iter()
            .map(|p| PumpInfo {
                name: p.name.clone(),
                target: plan.streams[p.into].name.clone(),
            })
            .collect();
        let (nodes, edges) = graph(app, config);
        for (name, tap) in &taps {
            let tap = Arc::clone(tap);
            app.subscribe(name, move |batch| tap.push(batch))?;
        }
        Ok(Arc::new(Self {
            taps,
            pumps,
            nodes,
            edges,
            input_lag_ms: AtomicI64::new(-1),
        }))
    }

    /// The tap of stream `name` (case-sensitive, as the plan names it; an
    /// unquoted name also matches in upper case).
    pub fn tap(&self, name: &str) -> Option<&Arc<StreamTap>> {
        self.taps
            .get(name)
            .or_else(|| self.taps.get(&name.to_ascii_uppercase()))
    }

    /// The names of the app's streams, `error_stream` last.
    pub fn stream_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .taps
            .keys()
            .filter(|n| n.as_str() != ERROR_STREAM)
            .cloned()
            .collect();
        if self.taps.contains_key(ERROR_STREAM) {
            names.push(ERROR_STREAM.to_string());
        }
        names
    }

    /// Rows emitted into `stream` so far (0 for an unknown stream).
    pub fn rows(&self, stream: &str) -> u64 {
        self.tap(stream).map_or(0, |t| t.rows())
    }

    /// Notes how far the inputs are behind their heads.
    pub fn set_input_lag(&self, ms: i64) {
        self.input_lag_ms.store(ms.max(0), Ordering::Relaxed);
    }

    /// How far the inputs are behind their heads, ms (None: not known).
    pub fn input_lag_ms(&self) -> Option<i64> {
        Some(self.input_lag_ms.load(Ordering::Relaxed)).filter(|ms| *ms >= 0)
    }
}

/// The graph of an app: its inputs, streams, pumps, reference tables and
/// outputs.
fn graph(app: &Application, config: &AppConfig) -> (Vec<Node>, Vec<Edge>) {
    let plan = app.plan();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let stream_id = |i: usize| format!("stream:{}", plan.streams[i].name);
    for (i, s) in plan.streams.iter().enumerate() {
        let error = i == plan.error_stream;
        nodes.push(Node {
            id: stream_id(i),
            kind: if error { "error" } else { "stream" },
            label: s.name.clone(),
            counts: Some(s.name.clone()),
        });
    }
    for input in &config.input {
        let label = match input.source() {
            Ok(InputSource::Kinesis(k)) => format!("Kinesis stream {}", k.name),
            Ok(InputSource::Firehose(d)) => format!("Firehose {d}"),
            Ok(InputSource::Video(v)) => format!("Kinesis Video {}", v.name),
            Ok(InputSource::File(f)) => {
                format!("file {}", f.as_deref().unwrap_or("(given at run)"))
            }
            Err(_) => "input".to_string(),
        };
        let id = format!("in:{}", input.stream);
        nodes.push(Node {
            id: id.clone(),
            kind: "source",
            label,
            counts: None,
        });
        if let Some(i) = plan.stream_index(&input.stream) {
            edges.push(Edge {
                from: id,
                to: stream_id(i),
            });
        }
    }
    for t in &plan.tables {
        if t.rows.is_none() {
            nodes.push(Node {
                id: format!("table:{}", t.name),
                kind: "reference",
                label: t.name.clone(),
                counts: None,
            });
        }
    }
    for p in &plan.pumps {
        let id = format!("pump:{}", p.name);
        nodes.push(Node {
            id: id.clone(),
            kind: "pump",
            label: p.name.clone(),
            counts: Some(plan.streams[p.into].name.clone()),
        });
        for r in p.reads() {
            edges.push(Edge {
                from: stream_id(r),
                to: id.clone(),
            });
        }
        if let Some(JoinRight::Table(t)) = p.join.as_ref().map(|j| &j.right)
            && let Some(table) = plan.tables.get(t.table)
            && table.rows.is_none()
        {
            edges.push(Edge {
                from: format!("table:{}", table.name),
                to: id.clone(),
            });
        }
        edges.push(Edge {
            from: id,
            to: stream_id(p.into),
        });
    }
    for (n, out) in config.output.iter().enumerate() {
        let label = match out.target() {
            Ok(OutputTarget::Kinesis(k)) => format!("Kinesis stream {}", k.name),
            Ok(OutputTarget::Firehose(d)) => format!("Firehose {d}"),
            Ok(OutputTarget::File(f)) => format!("file {f}"),
            Ok(OutputTarget::Lambda(_)) => "Lambda".to_string(),
            Err(_) => "output".to_string(),
        };
        let id = format!("out:{n}");
        nodes.push(Node {
            id: id.clone(),
            kind: "output",
            label,
            counts: None,
        });
        if let Some(i) = plan.stream_index(&out.stream) {
            edges.push(Edge {
                from: stream_id(i),
                to: id,
            });
        }
    }
    (nodes, edges)
}
