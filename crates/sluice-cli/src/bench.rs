//! `sluice bench`: the built-in workload W1.
//!
//! N rows (default 10M): `k = id % 1000`, `v = id % 100`, ROWTIME of row id
//! = id × 0.6 ms (100,000 rows per minute); the app is a 1-minute tumbling
//! `COUNT(*)`, `SUM(v)` per k. Two modes, one line each:
//! - engine-only: rows generated as Arrow batches and pushed in;
//! - end-to-end JSON: the same rows as JSON records, decoded through the
//!   app's input schema.
//!
//! Workload W2 (`--mode w2`): W1's rows, a sliding window per k,
//! `COUNT(*)`, `SUM(v)`, `MAX(v)` `OVER (PARTITION BY k RANGE INTERVAL ..
//! PRECEDING)`, engine-only, with a 1-minute and with a 1-hour window
//! (the speed must not fall as the window grows), five runs of each,
//! interleaved, each window's figure their median.
//!
//! Workload W3 (`--mode reference`): a 1M-row reference table (CSV, id,
//! name, sector) is written to a temporary directory and loaded the way
//! `sluice run` loads `[[reference]]` (timed), then W1-shaped rows with
//! `K = id × 7919 mod 1M` are joined to it on `K = ID` (engine-only): every
//! row must find its table row, and the SECTOR it gets must be `K mod 20`.
//!
//! Workload W4 (`--mode logs`): Apache common-log lines (a distinct host,
//! size and path per line) taken apart by W3C_LOG_PARSE(line, 'COMMON') and
//! by REGEX_LOG_PARSE with a pattern of the same seven groups, in a
//! subquery whose fields the outer query selects (engine-only), then by
//! FAST_REGEX_LOG_PARSE with the same seven groups and with a simple
//! four-group split: every line's status and size must come back.
//!
//! Workload W5 (`--mode rcf`): W1's rows through
//! `RANDOM_CUT_FOREST(CURSOR(SELECT STREAM V FROM ..))` with KDA's defaults
//! (100 trees, 256 samples), one numeric column, engine-only: every row
//! comes out with its score. `--mode engine` (every engine workload) and
//! `all` run it on a tenth of `--rows`; `--mode w1` runs W1 engine-only
//! alone.
//!
//! Each line gives rows/s (wall clock), the CPU seconds the process used,
//! and its peak RSS so far (Linux `/proc/self`); a figure with a target
//! (W1, W2, W3) ends with it and MET or MISSED, one without it with
//! `no target set` (every line is a [`sluice_bench::Figure`]). W2 also prints how its two
//! window lengths compare (within 10%) and the bytes of window state per
//! row the 1-hour window holds. With `--json` every mode's figures,
//! engine and services alike, come out as one JSON object instead
//! (module [`report`]).
//!
//! `--mode kds` runs the shard log's benchmarks (a)–(d) of
//! [`sluice_kds::bench`] (PutRecords from one boto3 client and from a Rust
//! load generator, embedded appends against the disk's own write + fdatasync
//! rate, put-to-get latency), `--seconds` each, and prints one line per
//! figure: the figure, its baseline where there is one, its target and MET
//! or MISSED; with `--json`, one JSON object instead.
//!
//! `--mode video` runs [`sluice_video::bench`]: PutMedia ingest MB/s
//! against the disk's raw sequential write in the same run (target ≥ 80%),
//! PERSISTED ACK latency of a live producer and GetMedia time to first
//! byte, sized by `--seconds` ([`sluice_video::bench::BenchOptions::for_seconds`]).
//! `--mode firehose` runs [`sluice_firehose::bench`] on `--seconds` × 32
//! MB of JSON records (1 MB at least): UNCOMPRESSED delivery against
//! `object_store` alone (target ≥ 80%) and GZIP delivery against the
//! encoder alone (target ≤ 1.2× its time). Both print one line per figure,
//! or with `--json` one JSON object, and both are in `--mode all`.
//!
//! `--mode nexmark` runs the Nexmark apps of `sql-examples/nexmark/`
//! (module [`nexmark`]): events/s per query, engine-only and end-to-end
//! JSON, and a check of each query's rows against an independent
//! computation; in `--mode all` too.

mod nexmark;
mod report;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use sluice_engine::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, TimestampMillisecondArray, new_null_array,
};
use sluice_engine::{
    Application, Input, InputSchema, ManualClock, Record, RecordColumn, RecordFormat, SqlType,
};

use report::{Report, rate};
use sluice_bench::{Figure, Target, Unit};

/// Arguments of `sluice bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which benchmarks, as `--mode` takes them (`sluice bench kds`).
    #[arg(value_name = "WHICH", conflicts_with = "mode")]
    which: Option<String>,
    /// Rows to push.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// `engine` (every engine workload below), `w1` (W1 engine-only),
    /// `json` (W1 from JSON), `w2`, `reference` (W3), `logs` (W4), `rcf`
    /// (W5), `kds` (the shard log's benchmarks (a)–(d)), `video`
    /// (PutMedia ingest, ACK latency, GetMedia first byte), `firehose`
    /// (delivery UNCOMPRESSED and GZIP), `nexmark` (the Nexmark queries
    /// q0–q8, `--rows` events), or `all`.
    #[arg(long, default_value = "all")]
    mode: String,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    batch: usize,
    /// Seconds each KDS benchmark runs (`--mode kds`); the video and
    /// Firehose benchmarks are sized to take about as long.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Print every figure as one JSON object, a list per section
    /// (`engine`, `kds`, `video`, `firehose`, `nexmark`), instead of lines.
    #[arg(long)]
    json: bool,
    /// `--mode nexmark`: only these queries (comma-separated, e.g. `q3,q5`).
    #[arg(long, value_delimiter = ',')]
    query: Vec<String>,
}

const W1_SQL: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (K INTEGER, ROW_COUNT BIGINT, V_SUM BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM K, COUNT(*), SUM(V)
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY K, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
"#;

/// Output rows seen, and the totals of COUNT and SUM over all output rows.
type Totals = (Arc<AtomicU64>, Arc<Mutex<(i64, i64)>>);

/// W1's source stream: JSON records `{"id", "k", "v"}` (W2 and W3 read the same).
fn w1_input() -> Input {
    let col = |name: &str, t: SqlType, path: &str| RecordColumn {
        name: name.into(),
        sql_type: t,
        mapping: Some(path.into()),
    };
    Input {
        stream: "SOURCE_SQL_STREAM_001".into(),
        schema: InputSchema {
            format: RecordFormat::Json {
                row_path: "$".into(),
            },
            columns: Some(vec![
                col("ID", SqlType::BigInt, "$.id"),
                col("K", SqlType::Integer, "$.k"),
                col("V", SqlType::Integer, "$.v"),
            ]),
        },
    }
}

fn w1_app() -> Result<(Application, Totals)> {
    let input = w1_input();
    let mut app = Application::new(W1_SQL, &[input], Arc::new(ManualClock::new(0)))?;
    let rows = Arc::new(AtomicU64::new(0));
    let sums = Arc::new(Mutex::new((0i64, 0i64)));
    let (r, s) = (Arc::clone(&rows), Arc::clone(&sums));
    app.subscribe("DESTINATION_SQL_STREAM", move |b| {
        r.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        let count = sluice_engine::arrow::compute::sum(
            b.column(2)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("BIGINT column"),
        );
        let v = sluice_engine::arrow::compute::sum(
            b.column(3)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("BIGINT column"),
        );
        if let Ok(mut s) = s.lock() {
            s.0 += count.unwrap_or(0);
            s.1 += v.unwrap_or(0);
        }
    })?;
    Ok((app, (rows, sums)))
}

fn rowtime(id: u64) -> i64 {
    (id * 3 / 5) as i64
}

/// CPU seconds (user + system) this process has used.
/// Pushes rows `0..n` into the source stream in batches of `batch` made by
/// `make(schema, first id, count)`, then flushes; returns the CPU seconds
/// and the instant at the start, for [`report`].
fn push_rows(
    app: &mut Application,
    n: u64,
    batch: usize,
    make: fn(&sluice_engine::arrow::datatypes::SchemaRef, u64, u64) -> Result<RecordBatch>,
) -> Result<(f64, Instant)> {
    let schema = app
        .stream_schema("SOURCE_SQL_STREAM_001")
        .ok_or_else(|| anyhow::anyhow!("no source stream"))?;
    let (cpu0, started) = (cpu_seconds(), Instant::now());
    let mut id = 0u64;
    while id < n {
        let m = (n - id).min(batch as u64);
        app.push_batch("SOURCE_SQL_STREAM_001", make(&schema, id, m)?)?;
        id += m;
    }
    app.flush()?;
    Ok((cpu0, started))
}

fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn check_result(n: u64, rows: &AtomicU64, sums: &Mutex<(i64, i64)>) -> Result<()> {
    let (count, vsum) = *sums.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let expected_v: i64 = (0..n).map(|id| (id % 100) as i64).sum();
    if count != n as i64 || vsum != expected_v {
        bail!("wrong result: COUNT total {count} (want {n}), SUM total {vsum} (want {expected_v})");
    }
    let windows = rowtime(n.saturating_sub(1)) / 60_000 + 1;
    let out = rows.load(Ordering::Relaxed);
    if out == 0 || out > windows as u64 * 1000 {
        bail!("wrong result: {out} output rows for {windows} windows");
    }
    Ok(())
}

/// Reports the rate of `n` rows pushed since `started` (see
/// [`rate`]), against `target` rows/s if one is set;
/// returns the rate.
fn report_rate(
    report: &mut Report,
    name: &str,
    (n, started, cpu0): (u64, Instant, f64),
    target: Option<f64>,
) -> Result<f64> {
    let mut figure = rate(name, n, started, cpu0);
    if let Some(t) = target {
        figure = figure.with_target(Target::AtLeast(t));
    }
    report.add("engine", "", &figure)?;
    Ok(figure.value)
}

/// Engine targets (issue 22): W1 engine-only keeps the figure it had when
/// the targets were set; W1 from JSON on one core; W2 at both window
/// lengths, within 10% of each other; W3's join and table load.
const W1_ENGINE_TARGET: f64 = 57.5e6;
const W1_JSON_TARGET: f64 = 6e6;
const W2_TARGET: f64 = 8e6;
const W2_SPREAD: f64 = 0.9;
const W3_JOIN_TARGET: f64 = 5e6;
const W3_LOAD_TARGET_MS: f64 = 2000.0;

/// Runs of each W2 window; the figure is their median.
const W2_RUNS: usize = 5;

/// W2 at 1 minute and 1 hour, [`W2_RUNS`] times each, interleaved (a slow
/// moment of the machine then falls on both windows, not on one), each
/// window's figure the run of median speed; then how the two medians
/// compare and what the longer window's state costs per row it holds
/// (from the peak RSS after the first run of each: the 1-minute window
/// runs first).
fn w2_both(n: u64, batch: usize, report: &mut Report) -> Result<()> {
    let (mut shorts, mut longs) = (Vec::new(), Vec::new());
    for _ in 0..W2_RUNS {
        shorts.push(w2(n, batch, 1)?);
        longs.push(w2(n, batch, 60)?);
    }
    let (rss_short, rss_long) = (shorts[0].1, longs[0].1);
    let mut median = |mut runs: Vec<(Figure, f64)>| -> Result<f64> {
        let rates: Vec<String> = runs
            .iter()
            .map(|(f, _)| format!("{:.1}M", f.value / 1e6))
            .collect();
        runs.sort_by(|a, b| a.0.value.total_cmp(&b.0.value));
        let (mut figure, _) = runs.swap_remove(runs.len() / 2);
        figure.detail = format!("median of {W2_RUNS} runs: {}", rates.join(", "));
        report.add("engine", "", &figure)?;
        Ok(figure.value)
    };
    let short = median(shorts)?;
    let long = median(longs)?;
    let ratio = long.min(short) / long.max(short);
    let spread = Figure::new("w2 1-hour vs 1-minute window", ratio, Unit::OfTheFaster)
        .with_target(Target::AtLeast(W2_SPREAD));
    report.add("engine", "", &spread)?;
    // Rows of one key are 600 ms apart: a window holds range/600 + 1 of
    // each of the 1,000 keys' rows.
    let held = |minutes: u64| (minutes * 60_000 / 600 + 1).min(n.div_ceil(1000)) * 1000;
    let extra = held(60).saturating_sub(held(1));
    if extra > 0 && rss_long > rss_short {
        let state = Figure::new(
            "w2 window state",
            (rss_long - rss_short) * 1024.0 * 1024.0 / extra as f64,
            Unit::BytesPerHeldRow,
        )
        .with_detail(format!(
            "{:.0} MB more peak RSS for {:.1}M more rows held",
            rss_long - rss_short,
            extra as f64 / 1e6
        ));
        report.add("engine", "", &state)?;
    }
    Ok(())
}

fn w2_sql(minutes: u32) -> String {
    format!(
        r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (K INTEGER, ROW_COUNT BIGINT, V_SUM BIGINT, V_MAX INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM K, COUNT(*) OVER W, SUM(V) OVER W, MAX(V) OVER W
  FROM "SOURCE_SQL_STREAM_001"
  WINDOW W AS (PARTITION BY K RANGE INTERVAL '{minutes}' MINUTE PRECEDING);
"#
    )
}

/// What W2's output rows added up to: rows, the sum of ROW_COUNT, and rows
/// whose SUM or MAX is wrong (every row of key k has v = k % 100).
#[derive(Default)]
struct W2Totals {
    rows: u64,
    count_sum: i64,
    wrong: u64,
}

/// Sum over all rows of W2's COUNT for `n` rows and a window of `window_ms`.
fn w2_expected_count_sum(n: u64, window_ms: i64) -> i64 {
    // Rows of one key are 600 ms apart, so a window holds at most
    // window/600 + 1 of them (the lower bound is inclusive).
    let full = window_ms / 600 + 1;
    (0..1000u64)
        .map(|k| {
            let m = if k < n {
                ((n - 1 - k) / 1000 + 1) as i64
            } else {
                0
            };
            if m <= full {
                m * (m + 1) / 2
            } else {
                full * (full + 1) / 2 + (m - full) * full
            }
        })
        .sum()
}

/// W2 with a window of `minutes`: its figure (against the target) and the
/// peak RSS after it.
fn w2(n: u64, batch: usize, minutes: u32) -> Result<(Figure, f64)> {
    let input = w1_input();
    let mut app = Application::new(&w2_sql(minutes), &[input], Arc::new(ManualClock::new(0)))?;
    let totals = Arc::new(Mutex::new(W2Totals::default()));
    let sink = Arc::clone(&totals);
    app.subscribe("DESTINATION_SQL_STREAM", move |b| {
        let col = |i: usize| b.column(i).as_any();
        let (Some(k), Some(c), Some(s), Some(m)) = (
            col(1).downcast_ref::<Int32Array>(),
            col(2).downcast_ref::<Int64Array>(),
            col(3).downcast_ref::<Int64Array>(),
            col(4).downcast_ref::<Int32Array>(),
        ) else {
            if let Ok(mut t) = sink.lock() {
                t.wrong += b.num_rows() as u64;
            }
            return;
        };
        let (k, c, s, m) = (k.values(), c.values(), s.values(), m.values());
        let mut count_sum = 0i64;
        let mut wrong = 0u64;
        for i in 0..b.num_rows() {
            let v = i64::from(k[i] % 100);
            count_sum += c[i];
            wrong += u64::from(i64::from(m[i]) != v || s[i] != c[i] * v);
        }
        if let Ok(mut t) = sink.lock() {
            t.rows += b.num_rows() as u64;
            t.count_sum += count_sum;
            t.wrong += wrong;
        }
    })?;
    let (cpu0, started) = push_rows(&mut app, n, batch, w1_batch)?;
    let label = if minutes.is_multiple_of(60) {
        format!("w2 engine-only, {}-hour window", minutes / 60)
    } else {
        format!("w2 engine-only, {minutes}-minute window")
    };
    let figure = rate(label, n, started, cpu0).with_target(Target::AtLeast(W2_TARGET));
    let rss = peak_rss_mb();
    let t = totals.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let expected = w2_expected_count_sum(n, i64::from(minutes) * 60_000);
    if t.rows != n || t.wrong != 0 || t.count_sum != expected {
        bail!(
            "wrong result: {} rows (want {n}), {} with a wrong SUM or MAX, COUNT total {} (want {expected})",
            t.rows,
            t.wrong,
            t.count_sum
        );
    }
    Ok((figure, rss))
}

const W3_TABLE_ROWS: u64 = 1_000_000;

const W3_SQL: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (K INTEGER, V INTEGER, NAME VARCHAR(16), SECTOR INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM s.K, s.V, r.NAME, r.SECTOR
  FROM "SOURCE_SQL_STREAM_001" AS s
  JOIN "COMPANIES" AS r ON s.K = r.ID;
"#;

/// W3: reference-table load time, then the stream-to-table join.
fn w3(n: u64, batch: usize, report: &mut Report) -> Result<()> {
    use sluice_engine::config::{ColumnConfig, ReferenceConfig};
    let dir = std::env::temp_dir().join(format!("sluice-bench-w3-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("companies.csv");
    let mut text = Vec::with_capacity(32 * W3_TABLE_ROWS as usize);
    text.extend_from_slice(b"ID,NAME,SECTOR\n");
    for id in 0..W3_TABLE_ROWS {
        push_decimal(&mut text, id);
        text.extend_from_slice(b",company-");
        push_decimal(&mut text, id);
        text.push(b',');
        push_decimal(&mut text, id % 20);
        text.push(b'\n');
    }
    std::fs::write(&file, &text)?;
    let col = |name: &str, t: &str| ColumnConfig {
        name: name.into(),
        sql_type: t.into(),
        mapping: None,
    };
    let config = ReferenceConfig {
        table: "COMPANIES".into(),
        file: file.to_string_lossy().into_owned(),
        format: Some("csv".into()),
        header: true,
        delimiter: None,
        row_path: None,
        columns: Some(vec![
            col("ID", "INTEGER"),
            col("NAME", "VARCHAR(16)"),
            col("SECTOR", "INTEGER"),
        ]),
        endpoint: None,
        region: None,
        access_key_id: None,
        secret_access_key: None,
        session_token: None,
        anonymous: false,
    };
    let started = Instant::now();
    let tables = sluice_engine::reference::load_all(
        &[config],
        &dir,
        &sluice_engine::reference::OpenOptions::default(),
    )?;
    let load_secs = started.elapsed().as_secs_f64();
    let loaded = tables
        .first()
        .map(|t| t.source.current().1.num_rows())
        .unwrap_or(0);
    let load = Figure {
        peak_rss_mb: Some(peak_rss_mb()),
        ..Figure::new("w3 reference load", load_secs * 1e3, Unit::Milliseconds)
    }
    .with_detail(format!(
        "{loaded} rows, {:.1} MB CSV",
        text.len() as f64 / 1e6
    ))
    .with_target(Target::Below(W3_LOAD_TARGET_MS));
    report.add("engine", "", &load)?;
    let _ = std::fs::remove_dir_all(&dir);
    if loaded as u64 != W3_TABLE_ROWS {
        bail!("the reference table has {loaded} rows, want {W3_TABLE_ROWS}");
    }
    let input = w1_input();
    let mut app =
        Application::with_tables(W3_SQL, &[input], &tables, Arc::new(ManualClock::new(0)))?;
    // Rows seen, and rows whose SECTOR is not K mod 20.
    let totals = Arc::new(Mutex::new((0u64, 0u64)));
    let sink = Arc::clone(&totals);
    app.subscribe("DESTINATION_SQL_STREAM", move |b| {
        let col = |i: usize| b.column(i).as_any().downcast_ref::<Int32Array>();
        let (Some(k), Some(sector)) = (col(1), col(4)) else {
            if let Ok(mut t) = sink.lock() {
                t.1 += b.num_rows() as u64;
            }
            return;
        };
        let wrong = k
            .values()
            .iter()
            .zip(sector.values())
            .filter(|(k, s)| **k % 20 != **s)
            .count() as u64;
        if let Ok(mut t) = sink.lock() {
            t.0 += b.num_rows() as u64;
            t.1 += wrong;
        }
    })?;
    let (cpu0, started) = push_rows(&mut app, n, batch, w3_batch)?;
    report_rate(
        report,
        "w3 stream-to-table join, engine-only",
        (n, started, cpu0),
        Some(W3_JOIN_TARGET),
    )?;
    let t = totals.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    if t.0 != n || t.1 != 0 {
        bail!(
            "wrong result: {} joined rows (want {n}), {} with a wrong SECTOR",
            t.0,
            t.1
        );
    }
    Ok(())
}

/// W3's rows: W1's, with K spread over the whole table.
fn w3_batch(
    schema: &sluice_engine::arrow::datatypes::SchemaRef,
    id: u64,
    m: u64,
) -> Result<RecordBatch> {
    let ids: Vec<u64> = (id..id + m).collect();
    let times: ArrayRef = Arc::new(TimestampMillisecondArray::from_iter_values(
        ids.iter().map(|&i| rowtime(i)),
    ));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.iter().map(|&i| i as i64))),
        Arc::new(Int32Array::from_iter_values(
            ids.iter().map(|&i| ((i * 7919) % W3_TABLE_ROWS) as i32),
        )),
        Arc::new(Int32Array::from_iter_values(
            ids.iter().map(|&i| (i % 100) as i32),
        )),
    ];
    source_batch(schema, times, cols)
}

/// A source batch: ROWTIME and APPROXIMATE_ARRIVAL_TIME both `times`, the
/// record-metadata columns NULL (no Kinesis record behind these rows), then
/// the user columns `cols`.
fn source_batch(
    schema: &sluice_engine::arrow::datatypes::SchemaRef,
    times: ArrayRef,
    cols: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let rows = times.len();
    let mut arrays = vec![Arc::clone(&times), times];
    let n_meta = schema.fields().len().saturating_sub(2 + cols.len());
    for f in &schema.fields()[2..2 + n_meta] {
        arrays.push(new_null_array(f.data_type(), rows));
    }
    arrays.extend(cols);
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}

/// W1's rows `id .. id + m` as a source batch.
fn w1_batch(
    schema: &sluice_engine::arrow::datatypes::SchemaRef,
    id: u64,
    m: u64,
) -> Result<RecordBatch> {
    let ids: Vec<u64> = (id..id + m).collect();
    let times: ArrayRef = Arc::new(TimestampMillisecondArray::from_iter_values(
        ids.iter().map(|&i| rowtime(i)),
    ));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.iter().map(|&i| i as i64))),
        Arc::new(Int32Array::from_iter_values(
            ids.iter().map(|&i| (i % 1000) as i32),
        )),
        Arc::new(Int32Array::from_iter_values(
            ids.iter().map(|&i| (i % 100) as i32),
        )),
    ];
    source_batch(schema, times, cols)
}

fn engine_only(n: u64, batch: usize, report: &mut Report) -> Result<()> {
    let (mut app, (rows, sums)) = w1_app()?;
    let (cpu0, started) = push_rows(&mut app, n, batch, w1_batch)?;
    report_rate(
        report,
        "engine-only",
        (n, started, cpu0),
        Some(W1_ENGINE_TARGET),
    )?;
    check_result(n, &rows, &sums)
}

/// Appends `n` in decimal (cheaper than `write!`, so that the benchmark
/// measures decoding rather than the formatting of its own input).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn end_to_end_json(n: u64, batch: usize, report: &mut Report) -> Result<()> {
    let (mut app, (rows, sums)) = w1_app()?;
    let (cpu0, started) = (cpu_seconds(), Instant::now());
    let mut id = 0u64;
    let mut text: Vec<u8> = Vec::new();
    let mut offsets = Vec::with_capacity(batch + 1);
    while id < n {
        let m = (n - id).min(batch as u64);
        text.clear();
        offsets.clear();
        for i in id..id + m {
            offsets.push(text.len());
            text.extend_from_slice(b"{\"id\":");
            push_decimal(&mut text, i);
            text.extend_from_slice(b",\"k\":");
            push_decimal(&mut text, i % 1000);
            text.extend_from_slice(b",\"v\":");
            push_decimal(&mut text, i % 100);
            text.push(b'}');
        }
        offsets.push(text.len());
        let records: Vec<Record> = (0..m as usize)
            .map(|j| Record::new(&text[offsets[j]..offsets[j + 1]], rowtime(id + j as u64)))
            .collect();
        app.push_records("SOURCE_SQL_STREAM_001", &records)?;
        id += m;
    }
    app.flush()?;
    report_rate(
        report,
        "end-to-end json",
        (n, started, cpu0),
        Some(W1_JSON_TARGET),
    )?;
    check_result(n, &rows, &sums)
}

/// W4's app: `parser` is the call that takes LINE apart into COLUMN1..7.
/// W4's app: `parser`'s ROW in a subquery, fields `fields` (the host,
/// status and size) selected by the outer query.
fn w4_sql(parser: &str, fields: [usize; 3]) -> String {
    let [host, status, size] = fields;
    format!(
        r#"
CREATE OR REPLACE STREAM "PARSED" (HOST VARCHAR(64), STATUS VARCHAR(8), BYTES VARCHAR(16));
CREATE OR REPLACE PUMP "PARSE_PUMP" AS INSERT INTO "PARSED"
  SELECT STREAM t.r.COLUMN{host}, t.r.COLUMN{status}, t.r.COLUMN{size}
  FROM (SELECT STREAM {parser} AS r FROM "SOURCE_SQL_STREAM_001") AS t;
"#
    )
}

fn w4_batch(
    schema: &sluice_engine::arrow::datatypes::SchemaRef,
    id: u64,
    m: u64,
) -> Result<RecordBatch> {
    let ids: Vec<u64> = (id..id + m).collect();
    let times: ArrayRef = Arc::new(TimestampMillisecondArray::from_iter_values(
        ids.iter().map(|&i| rowtime(i)),
    ));
    let lines: sluice_engine::arrow::array::StringArray = ids
        .iter()
        .map(|&i| {
            Some(format!(
                "10.{}.{}.{} - user{} [07/Dec/2026:10:{:02}:{:02} +0000] \"GET /page/{} HTTP/1.1\" 200 {}",
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255,
                i % 97,
                (i / 60) % 60,
                i % 60,
                i,
                i % 5000
            ))
        })
        .collect();
    source_batch(schema, times, vec![Arc::new(lines)])
}

fn w4(
    n: u64,
    batch: usize,
    (name, parser, fields): (&str, &str, [usize; 3]),
    report: &mut Report,
) -> Result<()> {
    let input = Input {
        stream: "SOURCE_SQL_STREAM_001".into(),
        schema: InputSchema {
            format: RecordFormat::Json {
                row_path: "$".into(),
            },
            columns: Some(vec![RecordColumn {
                name: "LINE".into(),
                sql_type: SqlType::Varchar(256),
                mapping: Some("$.line".into()),
            }]),
        },
    };
    let mut app = Application::new(
        &w4_sql(parser, fields),
        &[input],
        Arc::new(ManualClock::new(0)),
    )?;
    let rows = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let (r, b) = (Arc::clone(&rows), Arc::clone(&bytes));
    app.subscribe("PARSED", move |batch| {
        let status = batch
            .column(2)
            .as_any()
            .downcast_ref::<sluice_engine::arrow::array::StringArray>();
        let size = batch
            .column(3)
            .as_any()
            .downcast_ref::<sluice_engine::arrow::array::StringArray>();
        if let (Some(status), Some(size)) = (status, size) {
            for i in 0..batch.num_rows() {
                if status.value(i) == "200" {
                    r.fetch_add(1, Ordering::Relaxed);
                }
                b.fetch_add(size.value(i).parse::<u64>().unwrap_or(0), Ordering::Relaxed);
            }
        }
    })?;
    let (cpu0, started) = push_rows(&mut app, n, batch, w4_batch)?;
    report_rate(report, name, (n, started, cpu0), None)?;
    let want: u64 = (0..n).map(|i| i % 5000).sum();
    let (got_rows, got_bytes) = (rows.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
    if got_rows != n || got_bytes != want {
        bail!(
            "{name}: {got_rows} lines parsed with status 200 (want {n}), {got_bytes} bytes (want {want})"
        );
    }
    Ok(())
}

fn logs(n: u64, batch: usize, report: &mut Report) -> Result<()> {
    let parsers: [(&str, &str, [usize; 3]); 4] = [
        (
            "W4 W3C_LOG_PARSE COMMON",
            "W3C_LOG_PARSE(LINE, 'COMMON')",
            [1, 6, 7],
        ),
        (
            "W4 REGEX_LOG_PARSE",
            r#"REGEX_LOG_PARSE(LINE, '(\S+) (\S+) (\S+) (\[[^\]]*\]) "([^"]*)" (\S+) (\S+)')"#,
            [1, 6, 7],
        ),
        (
            "W4 FAST_REGEX_LOG_PARSE (7 groups)",
            r#"FAST_REGEX_LOG_PARSE(LINE, '([^ ]*) ([^ ]*) ([^ ]*) \[([^\]]*)\] \"([^\"]*)\" ([0-9]*) ([0-9]*)')"#,
            [1, 6, 7],
        ),
        (
            "W4 FAST_REGEX_LOG_PARSE (simple: 4 groups)",
            r#"FAST_REGEX_LOG_PARSE(LINE, '(.*) \"(.*)\" ([0-9]*) ([0-9]*)')"#,
            [1, 3, 4],
        ),
    ];
    for parser in parsers {
        w4(n, batch, parser, report)?;
    }
    Ok(())
}

/// W5: RANDOM_CUT_FOREST with KDA's defaults over W1's V column.
fn w5(n: u64, batch: usize, report: &mut Report) -> Result<()> {
    let sql = r#"
CREATE OR REPLACE STREAM "SCORED" (V INTEGER, ANOMALY_SCORE DOUBLE);
CREATE OR REPLACE PUMP "SCORE_PUMP" AS INSERT INTO "SCORED"
  SELECT STREAM V, ANOMALY_SCORE
  FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM V FROM "SOURCE_SQL_STREAM_001")));
"#;
    let mut app = Application::new(sql, &[w1_input()], Arc::new(ManualClock::new(0)))?;
    let rows = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&rows);
    app.subscribe("SCORED", move |b| {
        r.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
    })?;
    let (cpu0, started) = push_rows(&mut app, n, batch, w1_batch)?;
    report_rate(
        report,
        "W5 RANDOM_CUT_FOREST (defaults, 1 column)",
        (n, started, cpu0),
        None,
    )?;
    let got = rows.load(Ordering::Relaxed);
    if got != n {
        bail!("W5: {got} rows scored, want {n}");
    }
    Ok(())
}

/// The shard log's benchmarks (a)–(d), one at a time so that each line
/// appears as its figure is measured.
fn kds(seconds: f64, report: &mut Report) -> Result<()> {
    use sluice_kds::bench::{self, Bench, BenchOptions};
    let opts = BenchOptions {
        seconds,
        ..BenchOptions::default()
    };
    for which in Bench::ALL {
        for figure in bench::run(&[which], &opts)? {
            report.add("kds", "kds", &figure)?;
        }
    }
    Ok(())
}

/// The video benchmarks (a)–(c), one at a time so that each line appears
/// as its figure is measured.
fn video(seconds: f64, report: &mut Report) -> Result<()> {
    use sluice_video::bench::{self, Bench, BenchOptions};
    let opts = BenchOptions::for_seconds(seconds);
    for which in Bench::ALL {
        for figure in bench::run(&[which], &opts)? {
            report.add("video", "video", &figure)?;
        }
    }
    Ok(())
}

/// The Firehose delivery benchmark on `seconds` × 32 MB of records (its
/// seven passes over them take about `seconds` here).
fn firehose(seconds: f64, report: &mut Report) -> Result<()> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds must be above 0, not {seconds}");
    }
    let bytes = ((seconds * 32e6) as usize).max(1_000_000);
    let dir = std::env::temp_dir().join(format!("sluice-firehose-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let measured = runtime.block_on(sluice_firehose::bench::run(
        &dir,
        bytes,
        Arc::new(sluice_firehose::SystemClock),
    ));
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
    for figure in &measured?.figures() {
        report.add("firehose", "firehose", figure)?;
    }
    Ok(())
}

/// Every engine workload: W1 engine-only and from JSON, W2, W3, W4, and
/// W5 on a tenth of the rows (the forest scores about 90k rows/s).
fn engine(n: u64, batch: usize, r: &mut Report) -> Result<()> {
    engine_only(n, batch, r)?;
    end_to_end_json(n, batch, r)?;
    w2_both(n, batch, r)?;
    w3(n, batch, r)?;
    logs(n, batch, r)?;
    w5((n / 10).max(1), batch, r)
}

/// Runs the benchmarks `sluice bench` was asked for; every figure goes to
/// one [`Report`] (lines, or one JSON object with `--json`).
pub fn bench(args: BenchArgs) -> Result<ExitCode> {
    let mode = args.which.as_deref().unwrap_or(&args.mode);
    let (n, batch) = (args.rows, args.batch);
    let mut report = Report::new(args.json);
    let r = &mut report;
    match mode {
        "engine" => engine(n, batch, r)?,
        "w1" => engine_only(n, batch, r)?,
        "json" => end_to_end_json(n, batch, r)?,
        "w2" => w2_both(n, batch, r)?,
        "reference" => w3(n, batch, r)?,
        "logs" => logs(n, batch, r)?,
        "rcf" => w5(n, batch, r)?,
        "kds" => kds(args.seconds, r)?,
        "video" => video(args.seconds, r)?,
        "firehose" => firehose(args.seconds, r)?,
        "nexmark" => nexmark::nexmark(n, batch, &args.query, r)?,
        "all" => {
            engine(n, batch, r)?;
            kds(args.seconds, r)?;
            video(args.seconds, r)?;
            firehose(args.seconds, r)?;
            nexmark::nexmark(n, batch, &[], r)?;
        }
        other => {
            bail!(
                "bench {other}: expected engine, w1, json, w2, reference, logs, rcf, kds, video, firehose, nexmark or all"
            )
        }
    }
    report.finish()?;
    Ok(ExitCode::SUCCESS)
}
