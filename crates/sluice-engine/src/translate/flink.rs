//! The Flink SQL script of an application ([`to_flink`]): session
//! settings, one source table per input, a view per in-application stream
//! (the UNION ALL of the pumps into it, in dependency order), the sinks,
//! and one `EXECUTE STATEMENT SET` with an `INSERT INTO` per sink.
//!
//! Sources: every input is a table over its records whose ROWTIME is the
//! record's arrival (Kinesis' approximate arrival time) with a watermark
//! on it; a view named as the in-application stream gives it KDA's
//! columns (`ROWTIME`, `APPROXIMATE_ARRIVAL_TIME`, the input's columns).
//! [`Connectors`] says where records come from and rows go:
//!
//! - [`Connectors::Files`], the test form: input `S` is the JSON lines
//!   `SRC/S.jsonl` (or the CSV lines `SRC/S.csv`) of the case's records as
//!   they are, each with its arrival in epoch milliseconds (`"_arrival_ms"`
//!   in a JSON record, the last field of a CSV record); reference table
//!   `T` is `SRC/T.csv` or `SRC/T.json` (CSV without its header line);
//!   each stream the case expects rows
//!   of is written to `SINK/<STREAM>` as JSON lines, with `ROWTIME`.
//! - [`Connectors::Kinesis`]: inputs and outputs as the configuration's
//!   `[[input]]` / `[[output]]`s say (Kinesis data streams, Firehose
//!   delivery streams, files); without outputs, the final streams are
//!   printed.

use std::fmt::Write as _;

use super::expr::{ident, sql_type, string_literal};
use super::pump::{Rowtime, pump_select};
use super::{Refusal, Refusals};
use crate::config::{AppConfig, InputConfig, ReferenceConfig};
use crate::error::Location;
use crate::plan::{APPROXIMATE_ARRIVAL_TIME, AppPlan, ROWTIME, StreamDef, TableDecl};
use crate::types::SqlType;

/// Where the script's sources read and its sinks write.
#[derive(Debug, Clone)]
pub enum Connectors {
    /// The test form (the contract with the Flink test runner): sources
    /// are files under `source_dir`, sinks directories under `sink_dir`.
    Files {
        /// Where the runner puts `<STREAM>.jsonl|csv` and `<TABLE>.csv|json`.
        source_dir: String,
        /// Where `SINK_<STREAM>` tables write (`<sink_dir>/<STREAM>`).
        sink_dir: String,
        /// The streams to write: those the case expects rows of.
        sinks: Vec<String>,
        /// The case expects `error_stream` rows, which Flink cannot give.
        expects_error_rows: bool,
    },
    /// The configuration's Kinesis / Firehose inputs and outputs.
    Kinesis,
}

/// A translated application: Flink SQL statements, `;`-terminated, with
/// `--` comments (notes on known differences among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkScript {
    /// The script's text.
    pub text: String,
}

impl std::fmt::Display for FlinkScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

const CONFIG: Location = Location { line: 0, column: 0 };

/// The field of a record that holds its arrival (epoch ms), in the test form.
const ARRIVAL_FIELD: &str = "_arrival_ms";

/// Translates `plan` (planned from `config`'s inputs and reference tables)
/// into a Flink SQL script; or every construct Flink cannot express the
/// same way.
pub fn to_flink(
    plan: &AppPlan,
    config: &AppConfig,
    connectors: &Connectors,
) -> Result<FlinkScript, Refusals> {
    let mut refusals = Vec::new();
    let mut out = String::new();
    let mut notes: Vec<String> = Vec::new();
    let _ = writeln!(
        out,
        "-- Flink SQL (1.20 / 2.x) translated by sluice from a Kinesis Data Analytics SQL application."
    );
    out.push_str("SET 'table.local-time-zone' = 'UTC';\n");
    if let Connectors::Files {
        expects_error_rows, ..
    } = connectors
    {
        out.push_str("SET 'execution.runtime-mode' = 'streaming';\n");
        out.push_str("SET 'parallelism.default' = '1';\n");
        // The filesystem sink commits its files on checkpoints.
        out.push_str("SET 'execution.checkpointing.interval' = '1 s';\n");
        if *expects_error_rows {
            refusals.push(Refusal::new(
                CONFIG,
                "error_stream rows (expected/error_stream.jsonl)",
                "Flink has no error stream: a row that fails fails the job",
            ));
        }
    }
    out.push('\n');

    // Sources.
    for s in plan.streams.iter().filter(|s| s.is_source) {
        let Some(input) = config.input.iter().find(|i| i.stream == s.name) else {
            refusals.push(Refusal::new(
                s.declared_at,
                format!("source stream \"{}\"", s.name),
                "no [[input]] feeds it",
            ));
            continue;
        };
        match source_table(s, input, connectors, &mut notes) {
            Ok(sql) => out.push_str(&sql),
            Err(r) => refusals.push(r),
        }
    }
    // Reference tables.
    for t in plan.tables.iter().filter(|t| !t.is_values()) {
        let Some(r) = config.reference.iter().find(|r| r.table == t.name) else {
            continue;
        };
        match reference_table(t, r, connectors, None) {
            Ok(sql) => out.push_str(&sql),
            Err(r) => refusals.push(r),
        }
    }
    // Versioned reference tables, for LEFT OUTER joins.
    let mut versioned: Vec<Option<String>> = vec![None; plan.pumps.len()];
    let access = table_access(plan, config);
    for (i, p) in plan.pumps.iter().enumerate() {
        let Some((name, keys)) = versioned_table(plan, p) else {
            continue;
        };
        let Some(crate::plan::JoinRight::Table(side)) = p.join.as_ref().map(|j| &j.right) else {
            continue;
        };
        let t = &plan.tables[side.table];
        let Some(r) = config.reference.iter().find(|r| r.table == t.name) else {
            continue;
        };
        if let Ok(sql) = reference_table(t, r, connectors, Some((&name, &keys))) {
            out.push_str(&sql);
            versioned[i] = Some(name);
        }
    }

    // In-application streams, upstream first: a stream's view comes after
    // the last pump into it.
    let mut rowtime: Vec<Rowtime> = plan
        .streams
        .iter()
        .map(|s| {
            if s.is_source {
                Rowtime::Early(0)
            } else {
                Rowtime::Plain
            }
        })
        .collect();
    let mut selects: Vec<Vec<String>> = vec![Vec::new(); plan.streams.len()];
    let mut remaining: Vec<usize> = vec![0; plan.streams.len()];
    let mut fed: Vec<Vec<Rowtime>> = vec![Vec::new(); plan.streams.len()];
    for p in plan.pumps.iter().filter(|p| !p.stopped) {
        remaining[p.into] += 1;
    }
    for &pi in &plan.pump_order {
        let p = &plan.pumps[pi];
        if p.stopped {
            continue;
        }
        match pump_select(plan, p, &rowtime, versioned[pi].as_deref(), &access) {
            Ok(sql) => {
                for n in sql.notes {
                    let n = format!("pump \"{}\" (line {}): {n}", p.name, p.declared_at.line);
                    if !notes.contains(&n) {
                        notes.push(n);
                    }
                }
                if let Some(view) = sql.prelude {
                    let _ = writeln!(out, "{view}");
                }
                selects[p.into].push(sql.select);
                fed[p.into].push(sql.rowtime);
            }
            Err(mut r) => {
                refusals.append(&mut r);
                // Refused already: what reads it is judged as if it were
                // a plain stream of rows.
                fed[p.into].push(Rowtime::Early(0));
            }
        }
        remaining[p.into] -= 1;
        if remaining[p.into] == 0 {
            let s = &plan.streams[p.into];
            let first = fed[p.into].first().copied().unwrap_or(Rowtime::Plain);
            if fed[p.into].iter().all(|r| *r == first) {
                rowtime[p.into] = first;
            } else if selects[p.into].len() == fed[p.into].len() {
                refusals.push(Refusal::new(
                    s.declared_at,
                    format!("pumps into stream \"{}\" from windows and from rows", s.name),
                    "their ROWTIMEs are different Flink time attributes (a window's is its end less 1 ms), which one view cannot union",
                ));
            }
            if !selects[p.into].is_empty() {
                let _ = writeln!(
                    out,
                    "CREATE TEMPORARY VIEW {} AS\n{};\n",
                    ident(&s.name),
                    selects[p.into].join("\nUNION ALL\n")
                );
            }
        }
    }
    // Streams no running pump feeds: no rows.
    for (i, s) in plan.streams.iter().enumerate() {
        if s.is_source
            || i == plan.error_stream
            || plan.pumps.iter().any(|p| p.into == i && !p.stopped)
        {
            continue;
        }
        let _ = writeln!(
            out,
            "CREATE TEMPORARY VIEW {} AS\n{};\n",
            ident(&s.name),
            empty_rows(s)
        );
    }

    // Sinks.
    let mut inserts = Vec::new();
    match connectors {
        Connectors::Files {
            sink_dir, sinks, ..
        } => {
            for name in sinks {
                if name == crate::plan::ERROR_STREAM {
                    continue;
                }
                let Some(i) = plan.stream_index(name) else {
                    continue;
                };
                let s = &plan.streams[i];
                let sink = format!("SINK_{}", s.name);
                let path = format!("{}/{}", sink_dir.trim_end_matches('/'), s.name);
                let _ = writeln!(
                    out,
                    "CREATE TABLE {} (\n{}\n) WITH ('connector' = 'filesystem', 'path' = {}, 'format' = 'json');\n",
                    ident(&sink),
                    sink_columns(s),
                    string_literal(&path)
                );
                inserts.push(insert(&sink, s, rowtime[i]));
            }
        }
        Connectors::Kinesis => {
            if config.output.is_empty() {
                for (i, s) in plan.streams.iter().enumerate() {
                    let read = plan
                        .pumps
                        .iter()
                        .any(|p| !p.stopped && p.reads().contains(&i));
                    if s.is_source || s.hidden || i == plan.error_stream || read {
                        continue;
                    }
                    let sink = format!("SINK_{}", s.name);
                    let _ = writeln!(
                        out,
                        "CREATE TABLE {} (\n{}\n) WITH ('connector' = 'print');\n",
                        ident(&sink),
                        sink_columns(s)
                    );
                    inserts.push(insert(&sink, s, rowtime[i]));
                }
            }
            for (n, o) in config.output.iter().enumerate() {
                let Some(i) = plan.stream_index(&o.stream) else {
                    refusals.push(Refusal::new(
                        CONFIG,
                        format!("[[output]] {}", o.stream),
                        "no such in-application stream",
                    ));
                    continue;
                };
                if i == plan.error_stream {
                    refusals.push(Refusal::new(
                        CONFIG,
                        "[[output]] error_stream",
                        "Flink has no error stream: a row that fails fails the job",
                    ));
                    continue;
                }
                let s = &plan.streams[i];
                if let Some(k) = o
                    .kinesis_stream
                    .as_deref()
                    .filter(|k| !k.starts_with("arn:"))
                {
                    notes.push(format!(
                        "output {}: the Kinesis sink's stream.arn is made from the name {k} with account 000000000000 (sluice serve's); on AWS, give the stream's ARN as kinesis_stream",
                        s.name
                    ));
                }
                let with = match output_options(o) {
                    Ok(w) => w,
                    Err(r) => {
                        refusals.push(r);
                        continue;
                    }
                };
                let sink = format!("OUTPUT_{}_{}", n + 1, s.name);
                let _ = writeln!(
                    out,
                    "CREATE TABLE {} (\n{}\n) WITH ({with});\n",
                    ident(&sink),
                    sink_columns(s)
                );
                inserts.push(insert(&sink, s, rowtime[i]));
            }
        }
    }

    if !refusals.is_empty() {
        return Err(Refusals(refusals));
    }
    if inserts.is_empty() {
        out.push_str("-- note: no sink: nothing is written.\n");
    } else {
        let _ = writeln!(
            out,
            "EXECUTE STATEMENT SET\nBEGIN\n{}\nEND;",
            inserts.join("\n")
        );
    }
    let mut text = String::new();
    let mut lines = out.lines();
    // Notes after the header comment.
    if let Some(first) = lines.next() {
        text.push_str(first);
        text.push('\n');
    }
    for n in &notes {
        let _ = writeln!(text, "-- note: {n}");
    }
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    Ok(FlinkScript { text })
}

/// The columns of a sink of stream `s`: ROWTIME, then its columns.
fn sink_columns(s: &StreamDef) -> String {
    let mut cols = vec![format!("  {} TIMESTAMP(3)", ident(ROWTIME))];
    for c in &s.columns {
        cols.push(format!("  {} {}", ident(&c.name), sql_type(c.sql_type)));
    }
    cols.join(",\n")
}

fn insert(sink: &str, s: &StreamDef, rowtime: Rowtime) -> String {
    let mut cols = vec![format!("CAST({} AS TIMESTAMP(3))", rowtime.kda_value())];
    cols.extend(s.columns.iter().map(|c| ident(&c.name)));
    format!(
        "INSERT INTO {} SELECT {} FROM {};",
        ident(sink),
        cols.join(", "),
        ident(&s.name)
    )
}

/// A query of no rows with stream `s`'s columns.
fn empty_rows(s: &StreamDef) -> String {
    let mut cols = vec![format!("CAST(NULL AS TIMESTAMP(3)) AS {}", ident(ROWTIME))];
    for c in &s.columns {
        cols.push(format!(
            "CAST(NULL AS {}) AS {}",
            sql_type(c.sql_type),
            ident(&c.name)
        ));
    }
    format!(
        "SELECT {} FROM (VALUES (1)) AS t(x) WHERE 1 = 0",
        cols.join(", ")
    )
}

/// A record field of a JSON source: a value, an object (a ROW) or an
/// array (an ARRAY of one element type).
#[derive(Debug)]
enum JsonField {
    /// Not typed yet.
    Empty,
    Leaf(String),
    Row(Vec<(String, JsonField)>),
    Array(Box<JsonField>),
}

fn json_type(f: &JsonField) -> String {
    match f {
        JsonField::Empty => "STRING".into(),
        JsonField::Leaf(t) => t.clone(),
        JsonField::Row(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(n, f)| format!("{} {}", ident(n), json_type(f)))
                .collect();
            format!("ROW<{}>", inner.join(", "))
        }
        JsonField::Array(e) => format!("ARRAY<{}>", json_type(e)),
    }
}

/// One step of a JSONPath mapping.
#[derive(Debug, Clone, PartialEq)]
enum PathStep {
    /// `.key`
    Key(String),
    /// `[n]`, from 0
    Index(usize),
}

/// The steps of a JSONPath mapping `$.a.b[0].c` (`None` for what this
/// translation does not read: wildcards, quoted keys, filters).
fn json_path(mapping: &str) -> Option<Vec<PathStep>> {
    let mut rest = mapping.strip_prefix('$')?;
    let mut steps = Vec::new();
    let plain = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '$';
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(|c: char| !plain(c)).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(PathStep::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(PathStep::Index(r[..end].trim().parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    matches!(steps.first(), Some(PathStep::Key(_))).then_some(steps)
}

/// Adds a value of type `t` at `path` under `node`; false when the path
/// clashes with another (a value and an object at once, two types).
fn add_json_field(node: &mut JsonField, path: &[PathStep], t: &str) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return match node {
            JsonField::Empty => {
                *node = JsonField::Leaf(t.to_string());
                true
            }
            JsonField::Leaf(have) => have == t,
            _ => false,
        };
    };
    match first {
        PathStep::Key(k) => {
            if matches!(node, JsonField::Empty) {
                *node = JsonField::Row(Vec::new());
            }
            let JsonField::Row(fields) = node else {
                return false;
            };
            if !fields.iter().any(|(n, _)| n == k) {
                fields.push((k.clone(), JsonField::Empty));
            }
            match fields.iter_mut().find(|(n, _)| n == k) {
                Some((_, child)) => add_json_field(child, rest, t),
                None => false,
            }
        }
        PathStep::Index(_) => {
            if matches!(node, JsonField::Empty) {
                *node = JsonField::Array(Box::new(JsonField::Empty));
            }
            let JsonField::Array(element) = node else {
                return false;
            };
            add_json_field(element, rest, t)
        }
    }
}

/// How a column at `path` is read in Flink SQL (arrays count from 1).
fn json_access(path: &[PathStep]) -> String {
    let mut s = String::new();
    for (i, step) in path.iter().enumerate() {
        match step {
            PathStep::Key(k) if i == 0 => s.push_str(&ident(k)),
            PathStep::Key(k) => {
                s.push('.');
                s.push_str(&ident(k));
            }
            PathStep::Index(n) => s.push_str(&format!("[{}]", n + 1)),
        }
    }
    s
}

/// The type a column is read as from a record: strings unbounded (the
/// view cuts them to the column's length), timestamps as text (the view
/// reads both `2024-01-01 10:00:00` and `2024-01-01T10:00:00Z`, as KDA).
fn record_type(t: SqlType) -> String {
    match t {
        SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Timestamp => "STRING".into(),
        other => sql_type(other),
    }
}

/// The source table and view of input stream `s`.
fn source_table(
    s: &StreamDef,
    input: &InputConfig,
    connectors: &Connectors,
    notes: &mut Vec<String>,
) -> Result<String, Refusal> {
    let refuse = |what: String, why: &str| Refusal::new(s.declared_at, what, why);
    let records = format!("{}$records", s.name);
    // (table column or path expression, column) per stream column.
    let mut fields: Vec<String> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let format = input.format.to_ascii_lowercase();
    let mut with: Vec<(String, String)> = Vec::new();
    if format == "json" {
        if input.row_path.as_deref().is_some_and(|p| p != "$") {
            return Err(refuse(
                format!("[[input]] {} row_path", s.name),
                "a JSON row path other than $ (several rows per record) has no Flink format option",
            ));
        }
        let mut tree = JsonField::Row(Vec::new());
        for c in &s.columns {
            let mapping = input
                .columns
                .as_ref()
                .and_then(|cols| cols.iter().find(|x| x.name == c.name))
                .and_then(|x| x.mapping.clone());
            let path = match &mapping {
                Some(m) => json_path(m).ok_or_else(|| {
                    refuse(
                        format!("JSONPath mapping {m} of column {}", c.name),
                        "only object keys and array indexes ($.a.b[0]) are translated",
                    )
                })?,
                None => vec![PathStep::Key(c.name.clone())],
            };
            if let Some(PathStep::Key(k)) = path.first()
                && (k == ARRIVAL_FIELD || k == ROWTIME)
            {
                return Err(refuse(
                    format!("JSON key {k}"),
                    "the translation uses this name itself",
                ));
            }
            if path.iter().any(|p| matches!(p, PathStep::Index(_))) {
                notes.push(format!(
                    "column {}: an array index past the array's end is NULL in KDA; Flink's ARRAY access may fail instead",
                    c.name
                ));
            }
            if !add_json_field(&mut tree, &path, &record_type(c.sql_type)) {
                return Err(refuse(
                    format!("JSONPath mapping of column {}", c.name),
                    "it clashes with another column's mapping",
                ));
            }
            values.push(column_value(&json_access(&path), c));
        }
        if let JsonField::Row(top) = &tree {
            for (n, f) in top {
                fields.push(format!("{} {}", ident(n), json_type(f)));
            }
        }
        with.push(("format".into(), "json".into()));
        with.push(("json.ignore-parse-errors".into(), "false".into()));
    } else if format == "csv" {
        let delimiter = input.delimiter.clone().unwrap_or_else(|| ",".into());
        if delimiter.chars().count() != 1 {
            return Err(refuse(
                format!("CSV column delimiter {delimiter:?}"),
                "Flink's CSV format splits on one character",
            ));
        }
        if input.row_delimiter.as_deref().is_some_and(|d| d != "\n") {
            return Err(refuse(
                format!("[[input]] {} row_delimiter", s.name),
                "Flink's CSV format reads one row per line",
            ));
        }
        for c in &s.columns {
            fields.push(format!("{} {}", ident(&c.name), record_type(c.sql_type)));
            values.push(column_value(&ident(&c.name), c));
        }
        with.push(("format".into(), "csv".into()));
        with.push(("csv.field-delimiter".into(), delimiter));
    } else {
        return Err(refuse(
            format!("record format {format}"),
            "only JSON and CSV are translated",
        ));
    }

    let arrival;
    match connectors {
        Connectors::Files { source_dir, .. } => {
            fields.push(format!("{} BIGINT", ident(ARRIVAL_FIELD)));
            arrival = format!("TO_TIMESTAMP_LTZ({}, 3)", ident(ARRIVAL_FIELD));
            let ext = if format == "json" { "jsonl" } else { "csv" };
            with.insert(0, ("connector".into(), "filesystem".into()));
            with.insert(
                1,
                (
                    "path".into(),
                    format!("{}/{}.{ext}", source_dir.trim_end_matches('/'), s.name),
                ),
            );
        }
        Connectors::Kinesis => {
            let Some(stream) = &input.kinesis_stream else {
                return Err(refuse(
                    format!("[[input]] {}", s.name),
                    "has no kinesis_stream: the script's sources are Kinesis data streams (--case translates a case's files)",
                ));
            };
            // ROWTIME is the record's ApproximateArrivalTimestamp, the
            // `timestamp` metadata column. Flink's AWS connectors (5.x,
            // 6.x) expose metadata columns only from `kinesis-legacy`
            // (the `kinesis` Source's VIRTUAL columns wait on FLINK-36671),
            // whose options name the stream rather than its ARN.
            fields.push(format!(
                "{} TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL",
                ident("_arrival")
            ));
            arrival = ident("_arrival");
            let region = input.region.clone().unwrap_or_else(|| "us-east-1".into());
            let name = stream
                .rsplit_once(":stream/")
                .map_or(stream.as_str(), |(_, n)| n);
            let mut kinesis = vec![
                ("connector".to_string(), "kinesis-legacy".to_string()),
                ("stream".into(), name.to_string()),
                ("aws.region".into(), region),
            ];
            if let Some(e) = &input.endpoint {
                kinesis.push(("aws.endpoint".into(), e.clone()));
            }
            let position = match input.starting_position.as_deref() {
                Some(p) if p.eq_ignore_ascii_case("TRIM_HORIZON") => "TRIM_HORIZON",
                _ => "LATEST",
            };
            kinesis.push(("scan.stream.initpos".into(), position.into()));
            kinesis.append(&mut with);
            with = kinesis;
        }
    }
    fields.push(format!(
        "{} AS CAST({arrival} AS TIMESTAMP(3))",
        ident(ROWTIME)
    ));
    fields.push(format!(
        "{} AS CAST({arrival} AS TIMESTAMP(3))",
        ident(&format!("{APPROXIMATE_ARRIVAL_TIME}$"))
    ));
    // 1 ms behind: a row of the same ROWTIME as the one before it is
    // not late (Flink's operators drop a row at or behind the watermark).
    fields.push(format!(
        "WATERMARK FOR {r} AS {r} - INTERVAL '0.001' SECOND",
        r = ident(ROWTIME)
    ));
    let mut sql = format!(
        "CREATE TABLE {} (\n  {}\n) WITH (\n  {}\n);\n\n",
        ident(&records),
        fields.join(",\n  "),
        options(&with).join(",\n  ")
    );
    let mut cols = vec![
        ident(ROWTIME),
        format!(
            "{} AS {}",
            ident(&format!("{APPROXIMATE_ARRIVAL_TIME}$")),
            ident(APPROXIMATE_ARRIVAL_TIME)
        ),
    ];
    cols.extend(values);
    let _ = writeln!(
        sql,
        "CREATE TEMPORARY VIEW {} AS\nSELECT {} FROM {};\n",
        ident(&s.name),
        cols.join(", "),
        ident(&records)
    );
    Ok(sql)
}

/// A record's value as column `c`, named as the column.
fn column_value(access: &str, c: &crate::plan::StreamColumn) -> String {
    match c.sql_type {
        SqlType::Char(_) | SqlType::Varchar(_) => format!(
            "CAST({access} AS {}) AS {}",
            sql_type(c.sql_type),
            ident(&c.name)
        ),
        SqlType::Timestamp => format!(
            "CAST(REPLACE(REPLACE({access}, 'T', ' '), 'Z', '') AS TIMESTAMP(3)) AS {}",
            ident(&c.name)
        ),
        _ => format!("{access} AS {}", ident(&c.name)),
    }
}

fn options(with: &[(String, String)]) -> Vec<String> {
    with.iter()
        .map(|(k, v)| format!("{} = {}", string_literal(k), string_literal(v)))
        .collect()
}

/// A stream's ARN: as given, or built from its name and region (the
/// account of `sluice serve`'s ARNs).
fn stream_arn(stream: &str, region: &str) -> String {
    if stream.starts_with("arn:") {
        stream.to_string()
    } else {
        format!("arn:aws:kinesis:{region}:000000000000:stream/{stream}")
    }
}

/// A reference table: a table over its object. With `versioned` (a
/// name and the join's key columns), a versioned table for Flink's
/// event-time temporal join: the key columns its primary key, and every
/// row valid from the epoch on.
fn reference_table(
    t: &TableDecl,
    r: &ReferenceConfig,
    connectors: &Connectors,
    versioned: Option<(&str, &[String])>,
) -> Result<String, Refusal> {
    let refuse = |why: &str| Refusal::new(CONFIG, format!("reference table {}", t.name), why);
    let format = r
        .format
        .clone()
        .unwrap_or_else(|| {
            if r.file.ends_with(".json") || r.file.ends_with(".jsonl") {
                "json".into()
            } else {
                "csv".into()
            }
        })
        .to_ascii_lowercase();
    let ext = match format.as_str() {
        "json" => "json",
        "csv" => "csv",
        _ => return Err(refuse("only JSON and CSV objects are translated")),
    };
    let path = match connectors {
        Connectors::Files { source_dir, .. } => {
            format!("{}/{}.{ext}", source_dir.trim_end_matches('/'), t.name)
        }
        Connectors::Kinesis => r.file.clone(),
    };
    let mut with = vec![
        ("connector".to_string(), "filesystem".to_string()),
        ("path".into(), path),
        ("format".into(), format.clone()),
    ];
    if format == "csv" {
        // The test form's files have no header line (the runner drops it).
        if r.header && matches!(connectors, Connectors::Kinesis) {
            return Err(refuse(
                "a CSV object with a header line: Flink's CSV format cannot skip it",
            ));
        }
        with.push((
            "csv.field-delimiter".into(),
            r.delimiter.clone().unwrap_or_else(|| ",".into()),
        ));
    } else if r.row_path.as_deref().is_some_and(|p| p != "$") {
        return Err(refuse("a JSON row path other than $"));
    }
    let (mut cols, paths) = reference_fields(t, r, format == "json").map_err(|w| refuse(&w))?;
    let mut name = t.name.clone();
    if let Some((versioned, keys)) = versioned {
        name = versioned.to_string();
        // The primary key: the keys' top-level fields.
        let keys = keys
            .iter()
            .map(|k| {
                let i = t.columns.iter().position(|c| c.name == *k)?;
                match paths.get(i).map(Vec::as_slice) {
                    Some([PathStep::Key(f)]) => Some(f.clone()),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| refuse("a join key nested in the table's JSON objects"))?;
        let since = ident(VALID_FROM);
        cols.push(format!(
            "{since} AS CAST(TIMESTAMP '1970-01-01 00:00:00' AS TIMESTAMP(3))"
        ));
        cols.push(format!("WATERMARK FOR {since} AS {since}"));
        let keys: Vec<String> = keys.iter().map(|k| ident(k)).collect();
        cols.push(format!("PRIMARY KEY ({}) NOT ENFORCED", keys.join(", ")));
    }
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) WITH (\n  {}\n);\n\n",
        ident(&name),
        cols.join(",\n  "),
        options(&with).join(",\n  ")
    ))
}

/// A reference table's fields (DDL lines: JSON keys as its mappings say,
/// nested ones as ROW / ARRAY types; CSV columns by position) and where
/// each of its columns is among them.
fn reference_fields(
    t: &TableDecl,
    r: &ReferenceConfig,
    json: bool,
) -> Result<(Vec<String>, Vec<Vec<PathStep>>), String> {
    let mut paths = Vec::new();
    let mut tree = JsonField::Row(Vec::new());
    for c in &t.columns {
        let mapping = r
            .columns
            .as_ref()
            .and_then(|cols| cols.iter().find(|x| x.name == c.name))
            .and_then(|x| x.mapping.clone())
            .filter(|_| json);
        let path = match &mapping {
            Some(m) => json_path(m).ok_or_else(|| {
                format!(
                    "JSONPath mapping {m} of column {} is not translated",
                    c.name
                )
            })?,
            None => vec![PathStep::Key(c.name.clone())],
        };
        if !add_json_field(&mut tree, &path, &sql_type(c.sql_type)) {
            return Err(format!(
                "the mapping of column {} clashes with another's",
                c.name
            ));
        }
        paths.push(path);
    }
    let mut fields = Vec::new();
    if let JsonField::Row(top) = &tree {
        for (n, f) in top {
            fields.push(format!("{} {}", ident(n), json_type(f)));
        }
    }
    Ok((fields, paths))
}

/// How each column of each of the plan's tables is read from its Flink
/// table (`r.<access>`): a reference table's by its fields, a VALUES
/// table's by name.
pub(super) fn table_access(plan: &AppPlan, config: &AppConfig) -> Vec<Vec<String>> {
    plan.tables
        .iter()
        .map(|t| {
            let by_name = || t.columns.iter().map(|c| ident(&c.name)).collect();
            let Some(r) = config.reference.iter().find(|r| r.table == t.name) else {
                return by_name();
            };
            let json = r
                .format
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("json"))
                || (r.format.is_none()
                    && (r.file.ends_with(".json") || r.file.ends_with(".jsonl")));
            match reference_fields(t, r, json) {
                Ok((_, paths)) => paths.iter().map(|p| json_access(p)).collect(),
                Err(_) => by_name(),
            }
        })
        .collect()
}

/// The version time of a versioned reference table's rows.
const VALID_FROM: &str = "__valid_from";

/// The versioned table a LEFT OUTER join of a reference table reads
/// (`<TABLE>$<PUMP>`), and the table's key columns, when its keys are
/// plain columns of the table.
fn versioned_table(plan: &AppPlan, pump: &crate::plan::PumpDef) -> Option<(String, Vec<String>)> {
    use datafusion::physical_expr::expressions::Column;
    let j = pump.join.as_ref()?;
    let crate::plan::JoinRight::Table(side) = &j.right else {
        return None;
    };
    if j.kind != crate::plan::JoinKind::LeftOuter || side.keys.is_empty() {
        return None;
    }
    let t = plan.tables.get(side.table)?;
    if t.is_values() {
        return None;
    }
    let keys = side
        .keys
        .iter()
        .map(|k| {
            k.downcast_ref::<Column>()
                .and_then(|c| t.columns.get(c.index()))
                .map(|c| c.name.clone())
        })
        .collect::<Option<Vec<_>>>()?;
    Some((format!("{}${}", t.name, pump.name), keys))
}

/// The connector options of an `[[output]]`.
fn output_options(o: &crate::config::OutputConfig) -> Result<String, Refusal> {
    let format = o.format.to_ascii_lowercase();
    let region = o.region.clone().unwrap_or_else(|| "us-east-1".into());
    let mut with: Vec<(String, String)> = if let Some(k) = &o.kinesis_stream {
        let mut w = vec![
            ("connector".to_string(), "kinesis".to_string()),
            ("stream.arn".into(), stream_arn(k, &region)),
            ("aws.region".into(), region),
        ];
        if let Some(e) = &o.endpoint {
            w.push(("aws.endpoint".into(), e.clone()));
        }
        w
    } else if let Some(d) = &o.delivery_stream {
        let mut w = vec![
            ("connector".to_string(), "firehose".to_string()),
            ("delivery-stream".into(), d.clone()),
            ("aws.region".into(), region),
        ];
        if let Some(e) = &o.endpoint {
            w.push(("aws.endpoint".into(), e.clone()));
        }
        w
    } else if let Some(f) = &o.file {
        vec![
            ("connector".to_string(), "filesystem".to_string()),
            ("path".into(), f.clone()),
        ]
    } else {
        return Err(Refusal::new(
            CONFIG,
            format!("[[output]] {}", o.stream),
            "only Kinesis data stream, Firehose and file outputs are translated (a Lambda output is not)",
        ));
    };
    with.push(("format".into(), format));
    Ok(options(&with).join(", "))
}
