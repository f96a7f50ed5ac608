//! What the console's editor asks of the server: the check `sluice check`
//! runs, as problems at their line and column ([`check`]); the templates of
//! a new app ([`templates`]); and a source stream's schema, inferred from
//! its records as `sluice discover` does ([`schema`]).

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};
use sluice_engine::{AppConfig, DiscoverOptions, EngineError, discover_schema};
use sluice_kds::{IteratorStart, Kds, ShardFilter};

use super::apps::ConsoleError;
use crate::load::{BuildError, LoadedApp};

/// One problem of an app, where it is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// `sql` or `config`.
    #[serde(rename = "in")]
    pub place: &'static str,
    /// 1-based line (1 when the problem has no position).
    pub line: u64,
    /// 1-based column (1 when the problem has no position).
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

/// Checks `sql` with the inputs, outputs and reference tables of `config`
/// (app.toml text; none: no inputs), as `sluice check` does, loading
/// reference tables relative to `dir`. No problem: an empty list.
pub fn check(sql: &str, config: Option<&str>, dir: &Path) -> Vec<Problem> {
    let config_path = dir.join("app.toml");
    let config = match config.filter(|c| !c.trim().is_empty()) {
        None => AppConfig::default(),
        Some(text) => match AppConfig::parse(text, "app.toml") {
            Ok(c) => c,
            Err(e) => return vec![config_problem(&e.to_string())],
        },
    };
    for out in &config.output {
        if let Err(e) = out.target().and_then(|_| out.record_format()) {
            return vec![config_problem(&e.to_string())];
        }
    }
    let loaded = LoadedApp {
        sql_path: dir.join("app.sql"),
        sql: sql.to_string(),
        config_path: Some(config_path),
        config,
    };
    match loaded.try_build(None) {
        Ok(_) => Vec::new(),
        Err(BuildError::Table(message)) => vec![config_problem(&message)],
        Err(BuildError::Engine(e)) => vec![engine_problem(&e)],
    }
}

fn engine_problem(e: &EngineError) -> Problem {
    let message = e.to_string();
    match e.location() {
        Some(at) => {
            // The message starts with its own `line:column: `.
            let prefix = format!("{}:{}: ", at.line, at.column);
            Problem {
                place: "sql",
                line: at.line.max(1),
                column: at.column.max(1),
                message: message
                    .strip_prefix(&prefix)
                    .unwrap_or(&message)
                    .to_string(),
            }
        }
        // Errors without a position are about the inputs the config declares.
        None => Problem {
            place: if matches!(e, EngineError::Config { .. }) {
                "config"
            } else {
                "sql"
            },
            line: 1,
            column: 1,
            message,
        },
    }
}

/// A config problem, at the line and column TOML's message gives.
fn config_problem(message: &str) -> Problem {
    let (line, column) = toml_position(message).unwrap_or((1, 1));
    Problem {
        place: "config",
        line,
        column,
        message: message.to_string(),
    }
}

/// `line N, column M` in a TOML parse error.
fn toml_position(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.find("line ")? + 5..];
    let (line, rest) = rest.split_once(", column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// A template: an example app, reading from the Kinesis stream the page
/// puts in place of `{{stream}}`.
struct Template {
    id: &'static str,
    title: &'static str,
    sql: &'static str,
    config: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        id: "continuous-filter",
        title: "Continuous filter",
        sql: include_str!("../../../../sql-examples/continuous-filter/app.sql"),
        config: include_str!("../../../../sql-examples/continuous-filter/app.toml"),
    },
    Template {
        id: "tumbling-aggregate",
        title: "Tumbling aggregate (per minute)",
        sql: include_str!("../../../../sql-examples/ticker-tumbling/app.sql"),
        config: include_str!("../../../../sql-examples/ticker-tumbling/app.toml"),
    },
    Template {
        id: "sliding-window",
        title: "Sliding window (moving average)",
        sql: include_str!("../../../../sql-examples/sliding-moving-average/app.sql"),
        config: include_str!("../../../../sql-examples/sliding-moving-average/app.toml"),
    },
    Template {
        id: "anomaly-detection",
        title: "Anomaly detection (RANDOM_CUT_FOREST)",
        sql: include_str!("../../../../sql-examples/anomaly-detection/app.sql"),
        config: include_str!("../../../../sql-examples/anomaly-detection/app.toml"),
    },
];

/// The example's config read from a Kinesis stream instead of its sample
/// file: `file` and `envelope` give way to `kinesis_stream = "{{stream}}"`.
fn from_kinesis(config: &str) -> String {
    let mut out = String::new();
    for line in config.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        match key {
            "file" => out.push_str("kinesis_stream = \"{{stream}}\"\n"),
            "envelope" => {}
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The templates of a new app.
pub fn templates() -> Vec<Value> {
    TEMPLATES
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "title": t.title,
                "sql": t.sql,
                "config": from_kinesis(t.config),
            })
        })
        .collect()
}

/// Records shown with a schema.
const SHOWN: usize = 20;
/// Most records read from one shard while looking for the latest.
const READ_PER_SHARD: usize = 100_000;

/// The latest `limit` records of Kinesis stream `stream`, and the columns
/// inferred from them with the `[[input]]` section that reads them.
pub fn schema(kds: &Kds, stream: &str, limit: usize) -> Result<Value, ConsoleError> {
    let not_found = |e: sluice_kds::KdsError| ConsoleError::NotFound(e.to_string());
    let shards = kds
        .list_shards(stream, &ShardFilter::default())
        .map_err(not_found)?;
    let mut records: Vec<(i64, Vec<u8>)> = Vec::new();
    for shard in shards {
        let mut it = kds
            .get_shard_iterator(stream, &shard.shard_id, &IteratorStart::TrimHorizon)
            .map_err(not_found)?;
        let mut latest: std::collections::VecDeque<(i64, Vec<u8>)> = Default::default();
        let mut read = 0;
        while read < READ_PER_SHARD {
            let page = kds
                .get_records(&it, 10_000)
                .map_err(|e| ConsoleError::Internal(e.to_string()))?;
            if page.records.is_empty() {
                break;
            }
            read += page.records.len();
            for r in page.records {
                latest.push_back((r.arrival_ms, r.data.to_vec()));
                if latest.len() > limit {
                    latest.pop_front();
                }
            }
            match page.next_shard_iterator {
                Some(next) => it = next,
                None => break,
            }
        }
        records.extend(latest);
    }
    records.sort_by_key(|r| r.0);
    let skip = records.len().saturating_sub(limit);
    let records: Vec<Vec<u8>> = records.into_iter().skip(skip).map(|r| r.1).collect();
    let shown: Vec<String> = records
        .iter()
        .rev()
        .take(SHOWN)
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    let source = [("kinesis_stream", stream)];
    if records.is_empty() {
        return Ok(json!({
            "stream": stream,
            "records": shown,
            "columns": [],
            "input_toml": format!(
                "[[input]]\nstream = \"SOURCE_SQL_STREAM_001\"\nkinesis_stream = \"{stream}\"\nformat = \"json\"\ncolumns = [\n]\n"
            ),
        }));
    }
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let schema = discover_schema(
        &refs,
        &DiscoverOptions::default(),
        &format!("Kinesis stream {stream}"),
    )
    .map_err(|e| ConsoleError::bad(&e.to_string()))?;
    let columns: Vec<Value> = schema
        .columns
        .iter()
        .map(|c| json!({"name": c.name, "sql_type": c.sql_type.to_string(), "mapping": c.mapping}))
        .collect();
    Ok(json!({
        "stream": stream,
        "records": shown,
        "columns": columns,
        "input_toml": schema.to_toml("SOURCE_SQL_STREAM_001", &source),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_placed() {
        let dir = std::env::temp_dir();
        let config = from_kinesis(TEMPLATES[0].config).replace("{{stream}}", "ticks");
        assert_eq!(check(TEMPLATES[0].sql, Some(&config), &dir), Vec::new());
        let bad = TEMPLATES[0]
            .sql
            .replace("WHERE ABS(change)", "WHERE ABS(chnage)");
        let problems = check(&bad, Some(&config), &dir);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let line = bad
            .lines()
            .position(|l| l.contains("chnage"))
            .map(|i| i as u64 + 1);
        assert_eq!(Some(problems[0].line), line, "{problems:?}");
        assert_eq!(problems[0].place, "sql");
        let problems = check(TEMPLATES[0].sql, Some("[[input]\nstream = 1"), &dir);
        assert_eq!(problems[0].place, "config");
        assert_eq!(problems[0].line, 1, "{problems:?}");
    }

    #[test]
    fn templates_read_from_a_stream() {
        for t in templates() {
            let config = t["config"].as_str().unwrap_or_default();
            assert!(
                config.contains("kinesis_stream = \"{{stream}}\""),
                "{config}"
            );
            assert!(!config.contains("input.jsonl"), "{config}");
        }
    }

    #[test]
    fn toml_positions() {
        assert_eq!(
            toml_position("TOML parse error at line 3, column 7\n  |"),
            Some((3, 7))
        );
        assert_eq!(toml_position("no position"), None);
    }
}
