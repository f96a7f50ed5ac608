//! `sluice bench nexmark`: the Nexmark queries of `sql-examples/nexmark/`.
//!
//! For each query q0–q8 the app (its app.sql and app.toml, built into the
//! binary) runs over N events of [`sluice_nexmark::Generator`] (default
//! 10M: 1,000 s of event time at 10,000 events/s), three times:
//! - engine-only: the events as Arrow batches of the app's input columns,
//!   pushed into SOURCE_SQL_STREAM_001;
//! - end-to-end JSON: the events as JSON records, decoded through the app's
//!   input schema, ROWTIME = event time (the arrival time a Kinesis stream
//!   would stamp);
//! - check: 100,000 events (fewer if N is smaller) through the JSON path,
//!   generated at 2,000 events/s (50 s of event time, so that the
//!   10-second windows close five times), every output row compared with
//!   [`sluice_nexmark::oracle`]'s independent computation of the query
//!   (order by ROWTIME, equal ROWTIMEs as a multiset). A difference fails
//!   the command.
//!
//! The clock runs only while the engine works (push and flush): making the
//! events, their JSON text or their Arrow arrays is not timed. Each line
//! gives events/s, the seconds timed, the rows the app emitted and the
//! process's peak RSS; `--json` prints the same as one JSON object.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluice_bench::{Figure, Unit};
use sluice_engine::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    new_null_array,
};
use sluice_engine::arrow::compute::cast;
use sluice_engine::arrow::datatypes::SchemaRef;
use sluice_engine::{AppConfig, Application, Input, ManualClock, Record};
use sluice_nexmark::{Event, Generator, GeneratorConfig, TimedEvent, oracle};
use sluice_testkit::compare::{Order, Row, compare_rows};

use super::peak_rss_mb;
use super::report::Report;

const SOURCE: &str = "SOURCE_SQL_STREAM_001";
const DESTINATION: &str = "DESTINATION_SQL_STREAM";
/// Events of the check run.
const CHECK_EVENTS: u64 = 100_000;

/// The generator settings of the timed runs: the reference's defaults.
fn timed_config() -> GeneratorConfig {
    GeneratorConfig::default()
}

/// The generator settings of the check run: 2,000 events/s.
fn check_config() -> GeneratorConfig {
    GeneratorConfig {
        events_per_second: 2000,
        ..GeneratorConfig::default()
    }
}

/// The apps, as in `sql-examples/nexmark/<q>/`: (query, app.sql, app.toml).
const APPS: [(&str, &str, &str); 9] = [
    (
        "q0",
        include_str!("../../../../sql-examples/nexmark/q0/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q0/app.toml"),
    ),
    (
        "q1",
        include_str!("../../../../sql-examples/nexmark/q1/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q1/app.toml"),
    ),
    (
        "q2",
        include_str!("../../../../sql-examples/nexmark/q2/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q2/app.toml"),
    ),
    (
        "q3",
        include_str!("../../../../sql-examples/nexmark/q3/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q3/app.toml"),
    ),
    (
        "q4",
        include_str!("../../../../sql-examples/nexmark/q4/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q4/app.toml"),
    ),
    (
        "q5",
        include_str!("../../../../sql-examples/nexmark/q5/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q5/app.toml"),
    ),
    (
        "q6",
        include_str!("../../../../sql-examples/nexmark/q6/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q6/app.toml"),
    ),
    (
        "q7",
        include_str!("../../../../sql-examples/nexmark/q7/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q7/app.toml"),
    ),
    (
        "q8",
        include_str!("../../../../sql-examples/nexmark/q8/app.sql"),
        include_str!("../../../../sql-examples/nexmark/q8/app.toml"),
    ),
];

/// A check run: a query's rows against the independent computation.
#[derive(serde::Serialize)]
struct Check {
    query: &'static str,
    events: u64,
    /// Seconds the engine worked.
    seconds: f64,
    rows_out: u64,
    peak_rss_mb: f64,
    /// Whether every row matched.
    ok: bool,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} check: {} ({} events, {} rows out, compared row by row with the independent computation)",
            self.query,
            if self.ok { "OK" } else { "FAILED" },
            self.events,
            self.rows_out
        )
    }
}

/// The destination rows a check run keeps.
type KeptRows = Arc<Mutex<Vec<Row>>>;

/// The app of `query` with a sink on its destination stream: rows counted,
/// and, when `keep` is set, kept as JSON rows (with ROWTIME).
fn build(sql: &str, toml: &str, keep: bool) -> Result<(Application, Arc<AtomicU64>, KeptRows)> {
    let config = AppConfig::parse(toml, "app.toml")?;
    let inputs: Vec<Input> = config.inputs()?;
    let mut app = Application::new(sql, &inputs, Arc::new(ManualClock::new(0)))?;
    let count = Arc::new(AtomicU64::new(0));
    let rows = Arc::new(Mutex::new(Vec::new()));
    let (c, r) = (Arc::clone(&count), Arc::clone(&rows));
    app.subscribe(DESTINATION, move |b| {
        c.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        if keep && let Ok(mut rows) = r.lock() {
            for i in 0..b.num_rows() {
                let line = sluice_engine::output::row_json(b, i, true);
                if let Ok(serde_json::Value::Object(row)) = serde_json::from_str(&line) {
                    rows.push(row);
                }
            }
        }
    })?;
    Ok((app, count, rows))
}

/// One column of the app's input, for `events`, named as in app.toml.
fn column(name: &str, events: &[TimedEvent]) -> Result<ArrayRef> {
    macro_rules! ints {
        ($kind:ident, $field:ident) => {
            Arc::new(Int64Array::from_iter(events.iter().map(
                |e| match &e.event {
                    Event::$kind(x) => Some(x.$field as i64),
                    _ => None,
                },
            ))) as ArrayRef
        };
    }
    macro_rules! strings {
        ($kind:ident, $field:ident) => {
            Arc::new(StringArray::from_iter(events.iter().map(
                |e| match &e.event {
                    Event::$kind(x) => Some(&*x.$field),
                    _ => None,
                },
            ))) as ArrayRef
        };
    }
    Ok(match name {
        "EVENT_TYPE" => Arc::new(Int32Array::from_iter_values(
            events.iter().map(|e| e.event.type_code()),
        )),
        "P_ID" => ints!(Person, id),
        "P_NAME" => strings!(Person, name),
        "P_EMAIL" => strings!(Person, email_address),
        "P_CREDIT_CARD" => strings!(Person, credit_card),
        "P_CITY" => strings!(Person, city),
        "P_STATE" => strings!(Person, state),
        "A_ID" => ints!(Auction, id),
        "A_ITEM_NAME" => strings!(Auction, item_name),
        "A_DESCRIPTION" => strings!(Auction, description),
        "A_INITIAL_BID" => ints!(Auction, initial_bid),
        "A_RESERVE" => ints!(Auction, reserve),
        "A_EXPIRES" => ints!(Auction, expires),
        "A_SELLER" => ints!(Auction, seller),
        "A_CATEGORY" => ints!(Auction, category),
        "B_AUCTION" => ints!(Bid, auction),
        "B_BIDDER" => ints!(Bid, bidder),
        "B_PRICE" => ints!(Bid, price),
        "B_CHANNEL" => strings!(Bid, channel),
        "B_URL" => strings!(Bid, url),
        other => bail!("the Nexmark bench has no data for input column {other}"),
    })
}

/// `events` as a source batch of `schema`: ROWTIME and
/// APPROXIMATE_ARRIVAL_TIME the event time, the record metadata NULL, then
/// the input columns by name.
fn arrow_batch(schema: &SchemaRef, events: &[TimedEvent]) -> Result<RecordBatch> {
    let times: ArrayRef = Arc::new(TimestampMillisecondArray::from_iter_values(
        events.iter().map(|e| e.time_ms),
    ));
    let mut arrays = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let array = match field.name().as_str() {
            _ if i < 2 => Arc::clone(&times),
            "PARTITION_KEY" | "SHARD_ID" | "SEQUENCE_NUMBER" => {
                new_null_array(field.data_type(), events.len())
            }
            name => column(name, events)?,
        };
        let array = if array.data_type() == field.data_type() {
            array
        } else {
            cast(&array, field.data_type())?
        };
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}

/// How events reach the app.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    Arrow,
    Json,
}

/// Pushes `n` events through `path` in batches of `batch`; the engine
/// time (push and flush).
fn push(
    app: &mut Application,
    config: GeneratorConfig,
    n: u64,
    batch: usize,
    path: Path,
) -> Result<Duration> {
    let schema = app
        .stream_schema(SOURCE)
        .with_context(|| format!("the app has no {SOURCE}"))?;
    let mut generator = Generator::new(config);
    let mut timed = Duration::ZERO;
    let (mut events, mut text, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
    let mut done = 0u64;
    while done < n {
        let m = (n - done).min(batch as u64) as usize;
        events.clear();
        events.extend(generator.by_ref().take(m));
        match path {
            Path::Arrow => {
                let b = arrow_batch(&schema, &events)?;
                let started = Instant::now();
                app.push_batch(SOURCE, b)?;
                timed += started.elapsed();
            }
            Path::Json => {
                text.clear();
                offsets.clear();
                for e in &events {
                    offsets.push(text.len());
                    e.write_json(&mut text);
                }
                offsets.push(text.len());
                let records: Vec<Record> = events
                    .iter()
                    .enumerate()
                    .map(|(j, e)| Record::new(&text[offsets[j]..offsets[j + 1]], e.time_ms))
                    .collect();
                let started = Instant::now();
                app.push_records(SOURCE, &records)?;
                timed += started.elapsed();
            }
        }
        done += m as u64;
    }
    let started = Instant::now();
    app.flush()?;
    Ok(timed + started.elapsed())
}

fn timed(
    query: &'static str,
    sql: &str,
    toml: &str,
    n: u64,
    batch: usize,
    path: Path,
) -> Result<Figure> {
    let (mut app, count, _) = build(sql, toml, false)?;
    let secs = push(&mut app, timed_config(), n, batch, path)?.as_secs_f64();
    let mode = match path {
        Path::Arrow => "engine-only",
        Path::Json => "end-to-end json",
    };
    Ok(Figure {
        rows: Some(n),
        rows_out: Some(count.load(Ordering::Relaxed)),
        wall_seconds: Some(secs),
        peak_rss_mb: Some(peak_rss_mb()),
        ..Figure::new(
            format!("{query} {mode}"),
            n as f64 / secs,
            Unit::EventsPerSecond,
        )
    })
}

/// The check run: the app's rows against the oracle's. `Err` only when the
/// app cannot run; a difference is `ok: false` and printed on stderr.
fn check(query: &'static str, sql: &str, toml: &str, n: u64, batch: usize) -> Result<Check> {
    let (mut app, count, rows) = build(sql, toml, true)?;
    let secs = push(&mut app, check_config(), n, batch, Path::Json)?.as_secs_f64();
    let events: Vec<TimedEvent> = Generator::new(check_config()).take(n as usize).collect();
    let expected: Vec<Row> = oracle::expected(query, &events)?
        .iter()
        .filter_map(|r| match serde_json::from_str(&r.to_json_line()) {
            Ok(serde_json::Value::Object(row)) => Some(row),
            _ => None,
        })
        .collect();
    let actual = rows.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let verdict = compare_rows(&expected, &actual, Order::Rowtime, 1e-9, true);
    if let Err(why) = &verdict {
        eprintln!(
            "nexmark {query}: {} rows out, {} expected: {why}",
            actual.len(),
            expected.len()
        );
    }
    Ok(Check {
        query,
        events: n,
        seconds: secs,
        rows_out: count.load(Ordering::Relaxed),
        peak_rss_mb: peak_rss_mb(),
        ok: verdict.is_ok() && expected.len() == actual.len(),
    })
}

/// Runs every query (or those of `only`): engine-only and end-to-end JSON
/// on `n` events, then the check; fails when a check fails.
pub fn nexmark(n: u64, batch: usize, only: &[String], report: &mut Report) -> Result<()> {
    if let Some(q) = only
        .iter()
        .find(|q| !APPS.iter().any(|(name, ..)| name == q))
    {
        bail!("--query {q}: expected one of q0 .. q8");
    }
    let mut failed = Vec::new();
    let chosen = APPS
        .into_iter()
        .filter(|(name, ..)| only.is_empty() || only.iter().any(|q| q == name));
    for (query, sql, toml) in chosen {
        for path in [Path::Arrow, Path::Json] {
            let figure = timed(query, sql, toml, n, batch, path)?;
            report.add("nexmark", "nexmark", &figure)?;
        }
        let check = check(query, sql, toml, n.min(CHECK_EVENTS), batch)?;
        report.add_check("nexmark", "nexmark", &check)?;
        if !check.ok {
            failed.push(query);
        }
    }
    if !failed.is_empty() {
        bail!(
            "nexmark: the result of {} differs from the independent computation",
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_app_matches_the_oracle_on_a_small_run() {
        // 25,000 events at 2,000 per second: two 10-second windows close.
        for (query, sql, toml) in APPS {
            let f = check(query, sql, toml, 25_000, 4096).unwrap();
            assert!(f.ok, "{query}");
        }
    }

    #[test]
    fn a_wrong_result_fails_the_check() {
        // q0's app (prices in dollars) checked against q1's rows (euros).
        let (_, sql, toml) = APPS[0];
        let f = check("q1", sql, toml, 5_000, 1024).unwrap();
        assert!(!f.ok);
    }

    #[test]
    fn arrow_and_json_inputs_give_the_same_rows() {
        for (query, sql, toml) in APPS {
            let arrow = timed(query, sql, toml, 20_000, 4096, Path::Arrow).unwrap();
            let json = timed(query, sql, toml, 20_000, 4096, Path::Json).unwrap();
            assert_eq!(arrow.rows_out, json.rows_out, "{query}");
            assert!(
                arrow.rows_out > Some(0) || query == "q5" || query == "q7",
                "{query}"
            );
        }
    }
}
