//! Running one case directory: app.sql + case.toml + inputs + expected rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use sluice_engine::output::row_json;
use sluice_engine::{AppConfig, Application, ERROR_STREAM, ManualClock, Record};

use crate::compare::{Order, Row, compare_rows};
use crate::envelope::{read_merged, runs};
use crate::{Result, TestkitError, expressions, read};

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// The case's directory, as given.
    pub name: String,
    /// Checks that passed (1 for an app case; one per line of expressions.tsv).
    pub passed: usize,
    /// Why checks failed, one entry per failed check.
    pub failures: Vec<String>,
}

impl CaseOutcome {
    fn single(name: &str, result: std::result::Result<(), String>) -> Self {
        match result {
            Ok(()) => Self {
                name: name.into(),
                passed: 1,
                failures: vec![],
            },
            Err(why) => Self {
                name: name.into(),
                passed: 0,
                failures: vec![why],
            },
        }
    }
}

/// `[expect]` of case.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default = "rowtime_order")]
    order: String,
    #[serde(default = "flush_end")]
    end: String,
    #[serde(default = "default_tolerance")]
    float_tolerance: f64,
    error: Option<String>,
}

fn rowtime_order() -> String {
    "rowtime".into()
}
fn flush_end() -> String {
    "flush".into()
}
fn default_tolerance() -> f64 {
    1e-9
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            order: rowtime_order(),
            end: flush_end(),
            float_tolerance: default_tolerance(),
            error: None,
        }
    }
}

/// Every case directory under `roots` (a directory holding app.sql or
/// expressions.tsv), sorted.
pub fn find_cases(roots: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for r in roots {
        walk(r, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if dir.join("app.sql").is_file() || dir.join("expressions.tsv").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| TestkitError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        walk(&d, out)?;
    }
    Ok(())
}

/// Runs one case; with `bless`, writes the emitted rows as its expected files.
pub fn run_case(dir: &Path, bless: bool) -> CaseOutcome {
    let name = dir.display().to_string();
    let mut outcome = CaseOutcome {
        name: name.clone(),
        passed: 0,
        failures: vec![],
    };
    if dir.join("expressions.tsv").is_file() {
        match expressions::run_file(&dir.join("expressions.tsv")) {
            Ok(checks) => {
                for c in checks {
                    match c.failure {
                        None => outcome.passed += 1,
                        Some(f) => outcome
                            .failures
                            .push(format!("expressions.tsv:{}: {}: {f}", c.line, c.expression)),
                    }
                }
            }
            Err(e) => outcome.failures.push(e.to_string()),
        }
    }
    if dir.join("app.sql").is_file() {
        let r = run_app_case(dir, bless)
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let single = CaseOutcome::single(&name, r);
        outcome.passed += single.passed;
        outcome.failures.extend(single.failures);
    }
    outcome
}

/// The rows each stream emitted, in order.
type Emitted = Arc<Mutex<BTreeMap<String, Vec<Row>>>>;

fn run_app_case(dir: &Path, bless: bool) -> Result<std::result::Result<(), String>> {
    let sql = read(&dir.join("app.sql"))?;
    let toml_path = dir.join("case.toml");
    let config = if toml_path.is_file() {
        AppConfig::parse(&read(&toml_path)?, &toml_path.display().to_string())?
    } else {
        AppConfig::default()
    };
    let expect: Expect = match &config.expect {
        Some(t) => t
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| TestkitError::Content {
                path: toml_path.display().to_string(),
                line: 0,
                message: format!("[expect]: {}", e.to_string().trim_end()),
            })?,
        None => Expect::default(),
    };
    let order = match expect.order.as_str() {
        "rowtime" => Order::Rowtime,
        "any" => Order::Any,
        other => {
            return Ok(Err(format!(
                "case.toml: expect.order \"{other}\" is not rowtime or any"
            )));
        }
    };
    if !["flush", "stop"].contains(&expect.end.as_str()) {
        return Ok(Err(format!(
            "case.toml: expect.end \"{}\" is not flush or stop",
            expect.end
        )));
    }
    let tables = match sluice_engine::reference::load_all(
        &config.reference,
        dir,
        &sluice_engine::reference::OpenOptions::default(),
    ) {
        Ok(t) => t,
        Err(e) => match &expect.error {
            Some(text) if e.to_string().contains(text.as_str()) => return Ok(Ok(())),
            _ => return Ok(Err(format!("reference tables: {e}"))),
        },
    };
    let inputs = config.inputs()?;
    let clock = ManualClock::new(0);
    let app = Application::with_tables(&sql, &inputs, &tables, Arc::new(clock.clone()));
    let mut app = match (app, &expect.error) {
        (Err(e), Some(text)) => {
            let msg = e.to_string();
            return Ok(if msg.contains(text.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "expected an error containing \"{text}\", got: {msg}"
                ))
            });
        }
        (Ok(_), Some(text)) => {
            return Ok(Err(format!(
                "expected the app to be rejected with \"{text}\", but it was accepted"
            )));
        }
        (Err(e), None) => return Ok(Err(format!("app rejected: {e}"))),
        (Ok(app), None) => app,
    };
    let emitted: Emitted = Arc::default();
    let streams: Vec<String> = app.plan().streams.iter().map(|s| s.name.clone()).collect();
    for s in &streams {
        let sink = Arc::clone(&emitted);
        let name = s.clone();
        app.subscribe(s, move |batch| {
            let mut rows = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                if let Ok(serde_json::Value::Object(m)) =
                    serde_json::from_str::<serde_json::Value>(&row_json(batch, i, true))
                {
                    rows.push(m);
                }
            }
            if let Ok(mut e) = sink.lock() {
                e.entry(name.clone()).or_default().extend(rows);
            }
        })?;
    }
    let records = read_merged(dir, &config.input)?;
    for run in runs(&records, 8192) {
        let batch: Vec<Record> = records[run.clone()]
            .iter()
            .map(|(_, r)| r.record())
            .collect();
        // The clock is where the replay is: at the run's first record, so
        // it never runs ahead of a record being processed (a clock function
        // gives each row max(clock, ROWTIME): its ROWTIME in a replay).
        clock.advance_to(records[run.start].1.arrival_ms);
        app.push_records(&inputs[records[run.start].0].stream, &batch)?;
    }
    if expect.end == "flush" {
        app.flush()?;
    }
    let emitted = emitted.lock().map(|e| e.clone()).unwrap_or_default();
    let expected_dir = dir.join("expected");
    if bless {
        let outputs: Vec<String> = app
            .plan()
            .streams
            .iter()
            .filter(|s| !s.is_source && !s.hidden)
            .map(|s| s.name.clone())
            .collect();
        return bless_case(&expected_dir, &emitted, &outputs).map(Ok);
    }
    let mut expected_files: Vec<PathBuf> = match std::fs::read_dir(&expected_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(_) => Vec::new(),
    };
    expected_files.sort();
    let mut checked_error_stream = false;
    for f in expected_files {
        let stream = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if !streams.contains(&stream) {
            return Ok(Err(format!(
                "expected/{stream}.jsonl: the app has no stream \"{stream}\""
            )));
        }
        let expected = read_rows(&f)?;
        let actual = emitted.get(&stream).cloned().unwrap_or_default();
        let strict = stream != ERROR_STREAM;
        checked_error_stream |= stream == ERROR_STREAM;
        if let Err(why) = compare_rows(&expected, &actual, order, expect.float_tolerance, strict) {
            return Ok(Err(format!("{stream}: {why}")));
        }
    }
    if !checked_error_stream && let Some(row) = emitted.get(ERROR_STREAM).and_then(|r| r.first()) {
        return Ok(Err(format!(
            "error_stream: unexpected row (no expected/error_stream.jsonl)\n    actual:   {}",
            serde_json::Value::Object(row.clone())
        )));
    }
    Ok(Ok(()))
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line).map_err(|e| TestkitError::Content {
            path: path.display().to_string(),
            line: n + 1,
            message: format!("not a JSON object: {e}"),
        })?;
        rows.push(row);
    }
    Ok(rows)
}

fn bless_case(
    expected_dir: &Path,
    emitted: &BTreeMap<String, Vec<Row>>,
    streams: &[String],
) -> Result<()> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TestkitError::Io { path, source }
    };
    std::fs::create_dir_all(expected_dir).map_err(io(expected_dir))?;
    for s in streams {
        let path = expected_dir.join(format!("{s}.jsonl"));
        let rows = emitted.get(s).map(Vec::as_slice).unwrap_or_default();
        if rows.is_empty() && !path.exists() {
            continue;
        }
        let mut text = String::new();
        for r in rows {
            text.push_str(&serde_json::Value::Object(r.clone()).to_string());
            text.push('\n');
        }
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(())
}
