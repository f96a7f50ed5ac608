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
use sluice_engine::{AppConfig, Application, ERROR_STREAM, PumpRows};
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
}

impl Node {
    /// Whether rows are counted through it (streams and pumps): its rate
    /// is [`AppMonitor::counters`]' counter of the same id.
    pub fn counted(&self) -> bool {
        matches!(self.kind, "stream" | "pump" | "error")
    }
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
    /// Its index in the plan.
    index: usize,
}

/// What a running app shows; see the module docs.
pub struct AppMonitor {
    taps: BTreeMap<String, Arc<StreamTap>>,
    /// The app's pumps, in declaration order (those the planner made for
    /// subqueries left out).
    pub pumps: Vec<PumpInfo>,
    pump_rows: PumpRows,
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
        for s in plan.streams.iter().filter(|s| !s.hidden) {
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
            .enumerate()
            .filter(|(_, p)| !plan.streams[p.into].hidden)
            .map(|(index, p)| PumpInfo {
                name: p.name.clone(),
                target: plan.streams[p.into].name.clone(),
                index,
            })
            .collect();
        let (nodes, edges) = graph(app, config);
        for (name, tap) in &taps {
            let tap = Arc::clone(tap);
            app.subscribe(name, move |batch| tap.push(batch))?;
        }
        let pump_rows = app.pump_rows();
        Ok(Arc::new(Self {
            taps,
            pumps,
            pump_rows,
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

    /// Rows pump `pump` inserted so far.
    pub fn pump_rows(&self, pump: &PumpInfo) -> u64 {
        self.pump_rows.rows(pump.index)
    }

    /// The app's counters, by the id of the graph node they count through:
    /// rows into each stream (`stream:NAME`) and from each pump
    /// (`pump:NAME`).
    pub fn counters(&self) -> Vec<(String, u64)> {
        let streams = self
            .taps
            .iter()
            .map(|(name, tap)| (format!("stream:{name}"), tap.rows()));
        let pumps = self
            .pumps
            .iter()
            .map(|p| (format!("pump:{}", p.name), self.pump_rows(p)));
        streams.chain(pumps).collect()
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
    // The streams a pump reads, seen through the hidden streams (and the
    // pumps feeding them) the planner made for subqueries.
    let visible_reads = |p: &sluice_engine::plan::PumpDef| -> Vec<usize> {
        let mut out = Vec::new();
        let mut todo = p.reads();
        let mut seen = std::collections::HashSet::new();
        while let Some(s) = todo.pop() {
            if !seen.insert(s) {
                continue;
            }
            if plan.streams[s].hidden {
                for q in plan.pumps.iter().filter(|q| q.into == s) {
                    todo.extend(q.reads());
                }
            } else if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    };
    for (i, s) in plan.streams.iter().enumerate() {
        if s.hidden {
            continue;
        }
        let error = i == plan.error_stream;
        nodes.push(Node {
            id: stream_id(i),
            kind: if error { "error" } else { "stream" },
            label: s.name.clone(),
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
            });
        }
    }
    for p in plan.pumps.iter().filter(|p| !plan.streams[p.into].hidden) {
        let id = format!("pump:{}", p.name);
        nodes.push(Node {
            id: id.clone(),
            kind: "pump",
            label: p.name.clone(),
        });
        for r in visible_reads(p) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::{ManualClock, Record};

    const CONFIG: &str = r#"
[[input]]
stream = "SOURCE_SQL_STREAM_001"
kinesis_stream = "ticks"
columns = [
  { name = "SYM", type = "VARCHAR(4)", mapping = "$.sym" },
  { name = "PX", type = "DOUBLE", mapping = "$.px" },
]
"#;

    const SQL: &str = r#"
CREATE STREAM "OUT" (SYM VARCHAR(4), PX DOUBLE);
CREATE PUMP "P" AS INSERT INTO "OUT"
  SELECT STREAM SYM, PX FROM (SELECT STREAM * FROM "SOURCE_SQL_STREAM_001" WHERE PX > 1);
"#;

    fn app() -> (Application, AppConfig) {
        let config = AppConfig::parse(CONFIG, "app.toml").unwrap();
        let inputs = config.inputs().unwrap();
        let app = Application::new(SQL, &inputs, Arc::new(ManualClock::new(0))).unwrap();
        (app, config)
    }

    #[test]
    fn graph_hides_what_the_planner_made_for_subqueries() {
        let (mut app, config) = app();
        let m = AppMonitor::attach(&mut app, &config).unwrap();
        let ids: Vec<&str> = m.nodes.iter().map(|n| n.id.as_str()).collect();
        assert!(ids.iter().all(|id| !id.contains('$')), "{ids:?}");
        assert_eq!(m.pumps.len(), 1);
        let has = |from: &str, to: &str| m.edges.iter().any(|e| e.from == from && e.to == to);
        assert!(has(
            "in:SOURCE_SQL_STREAM_001",
            "stream:SOURCE_SQL_STREAM_001"
        ));
        assert!(has("stream:SOURCE_SQL_STREAM_001", "pump:P"));
        assert!(has("pump:P", "stream:OUT"));
        assert_eq!(
            m.stream_names(),
            ["OUT", "SOURCE_SQL_STREAM_001", ERROR_STREAM]
        );
    }

    #[test]
    fn taps_keep_the_last_rows_and_count_every_row() {
        let (mut app, config) = app();
        let m = AppMonitor::attach(&mut app, &config).unwrap();
        let (kept, mut live) = m.tap("OUT").unwrap().watch();
        assert!(kept.is_empty());
        let data: Vec<String> = (0..1500)
            .map(|i| format!(r#"{{"sym": "A", "px": {}}}"#, i % 3))
            .collect();
        let records: Vec<Record<'_>> = data
            .iter()
            .enumerate()
            .map(|(i, d)| Record::new(d.as_bytes(), i as i64))
            .collect();
        app.push_records("SOURCE_SQL_STREAM_001", &records).unwrap();
        app.flush().unwrap();
        // px 2 of every 3 records passes the filter.
        let passed = 500;
        assert_eq!(m.tap("OUT").unwrap().rows(), passed);
        assert_eq!(m.pump_rows(&m.pumps[0]), passed);
        let counters: BTreeMap<String, u64> = m.counters().into_iter().collect();
        assert_eq!(counters["pump:P"], passed);
        assert_eq!(counters["stream:SOURCE_SQL_STREAM_001"], 1500);
        let (kept, _) = m.tap("SOURCE_SQL_STREAM_001").unwrap().watch();
        let kept_rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(kept_rows, KEEP_ROWS, "only the last rows are kept");
        let got = live.try_recv().unwrap();
        let rows = StreamTap::rows_json(&got);
        assert!(rows[0].contains("\"PX\": 2.0"), "{rows:?}");
        assert!(rows[0].contains("\"ROWTIME\""), "{rows:?}");
        m.set_input_lag(-5);
        assert_eq!(m.input_lag_ms(), Some(0));
    }
}
