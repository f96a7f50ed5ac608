//! Reference tables (KDA's ReferenceDataSource): tables a stream joins.
//!
//! The engine sees a table through [`ReferenceSource`]: its current rows as
//! one Arrow batch and a version that changes when the table is reloaded
//! (a join rebuilds its hash index then). [`FixedTable`] holds rows given
//! once (embedding, tests); [`open`] loads an object by URL through
//! `sluice-reference` (local files, `file://`, `s3://`, `http(s)://`) and
//! keeps it current in the background.
//!
//! Objects are decoded with the input decoder as KDA's ReferenceSchema says
//! ([`decode_reference`]): CSV (one row per line, optional header line) or
//! JSON (one object per line, or an array of objects). A row that does not
//! fit fails the whole load, naming its line: a table is never half loaded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;

use crate::config::ReferenceConfig;
use crate::error::{EngineError, Result};
use crate::io::input::{Decoder, InputSchema, Record, RecordColumn, RecordFormat};
use crate::plan::{StreamColumn, TableDecl};
use crate::types::SqlType;

/// The rows of a reference table, as the engine reads them.
pub trait ReferenceSource: Send + Sync {
    /// The current rows (the table's columns, in order) and their version,
    /// which changes whenever the rows do.
    fn current(&self) -> (u64, RecordBatch);
}

/// A reference table given to an application: name, columns, rows.
#[derive(Clone)]
pub struct ReferenceTable {
    /// Table name as the SQL names it.
    pub name: String,
    /// Its columns.
    pub columns: Vec<StreamColumn>,
    /// Where its rows come from.
    pub source: Arc<dyn ReferenceSource>,
}

impl std::fmt::Debug for ReferenceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceTable")
            .field("name", &self.name)
            .field("columns", &self.columns)
            .finish()
    }
}

impl ReferenceTable {
    /// The declaration the planner needs.
    pub fn decl(&self) -> TableDecl {
        TableDecl::reference(self.name.clone(), self.columns.clone())
    }
}

/// Rows given once; version 1 forever.
pub struct FixedTable(pub RecordBatch);

impl ReferenceSource for FixedTable {
    fn current(&self) -> (u64, RecordBatch) {
        (1, self.0.clone())
    }
}

/// KDA's ReferenceSchema for one table.
#[derive(Debug, Clone)]
pub struct ReferenceSchema {
    /// RecordFormat (JSON row path, or CSV delimiters).
    pub format: RecordFormat,
    /// CSV: the object starts with a header line to skip.
    pub header: bool,
    /// RecordColumns.
    pub columns: Vec<RecordColumn>,
}

impl ReferenceSchema {
    /// The schema a `[[reference]]` section gives.
    pub fn from_config(c: &ReferenceConfig) -> Result<Self> {
        let ctx = |message: String| EngineError::Config {
            context: format!("[[reference]] {}", c.table),
            message,
        };
        let format = match c
            .format
            .as_deref()
            .unwrap_or("csv")
            .to_ascii_lowercase()
            .as_str()
        {
            "csv" => RecordFormat::Csv {
                column_delimiter: c.delimiter.clone().unwrap_or_else(|| ",".into()),
                row_delimiter: "\n".into(),
            },
            "json" => RecordFormat::Json {
                row_path: c.row_path.clone().unwrap_or_else(|| "$".into()),
            },
            other => return Err(ctx(format!("format \"{other}\" is not json or csv"))),
        };
        let Some(cols) = &c.columns else {
            return Err(ctx(
                "columns are required (KDA's ReferenceSchema RecordColumns)".into(),
            ));
        };
        if cols.is_empty() {
            return Err(ctx("columns must not be empty".into()));
        }
        let columns = cols
            .iter()
            .map(|col| {
                Ok(RecordColumn {
                    name: col.name.clone(),
                    sql_type: SqlType::parse(&col.sql_type)
                        .map_err(|m| ctx(format!("column {}: {m}", col.name)))?,
                    mapping: col.mapping.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            format,
            header: c.header,
            columns,
        })
    }

    /// The table's columns.
    pub fn stream_columns(&self) -> Vec<StreamColumn> {
        self.columns
            .iter()
            .map(|c| StreamColumn::new(c.name.clone(), c.sql_type))
            .collect()
    }
}

/// Decodes a whole reference object into the table's rows. `table` names
/// it in errors, which give the 1-based line of the first bad row.
pub fn decode_reference(
    bytes: &[u8],
    table: &str,
    schema: &ReferenceSchema,
) -> std::result::Result<RecordBatch, String> {
    let columns = schema.stream_columns();
    let mut fields = vec![
        datafusion::arrow::datatypes::Field::new("__line", crate::types::ROWTIME_TYPE, false),
        datafusion::arrow::datatypes::Field::new("__line2", crate::types::ROWTIME_TYPE, true),
    ];
    for c in &columns {
        fields.push(datafusion::arrow::datatypes::Field::new(
            &c.name,
            c.sql_type.to_arrow(),
            true,
        ));
    }
    let input = InputSchema {
        format: schema.format.clone(),
        columns: Some(schema.columns.clone()),
    };
    let decoder = Decoder::new(table, &input, &columns, Arc::new(Schema::new(fields)))
        .map_err(|e| e.to_string())?;
    // Records with their 1-based line numbers.
    let mut records: Vec<Record> = Vec::new();
    let text_start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let trimmed = text_start.trim_ascii_start();
    let json = matches!(schema.format, RecordFormat::Json { .. });
    if json && trimmed.first() == Some(&b'[') {
        let values: Vec<&serde_json::value::RawValue> = serde_json::from_slice(trimmed)
            .map_err(|e| format!("reference table \"{table}\": not a JSON array of rows: {e}"))?;
        // Lines of each element: count newlines before it.
        let base = trimmed.as_ptr() as usize;
        let mut last = 0usize;
        let mut line_no = 1i64 + count_newlines(&text_start[..text_start.len() - trimmed.len()]);
        for v in values {
            let start = v.get().as_ptr() as usize - base;
            line_no += count_newlines(&trimmed[last..start]);
            last = start;
            records.push(Record::new(&trimmed[start..start + v.get().len()], line_no));
        }
    } else {
        for (i, line) in text_start.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if (i == 0 && schema.header && !json) || line.trim_ascii().is_empty() {
                continue;
            }
            records.push(Record::new(line, i as i64 + 1));
        }
    }
    let lines: Vec<i64> = records.iter().map(|r| r.arrival_ms).collect();
    let (batch, errors) = decoder
        .decode(&records, &lines)
        .map_err(|e| e.to_string())?;
    if let Some(e) = errors.first() {
        let line = e.data_rowtime.unwrap_or(0);
        let message = e
            .message
            .strip_prefix(&format!("input \"{table}\": "))
            .unwrap_or(&e.message);
        return Err(format!(
            "reference table \"{table}\", line {line}: {message}"
        ));
    }
    let cols = batch.columns()[2..].to_vec();
    let out_schema = Arc::new(Schema::new(batch.schema().fields()[2..].to_vec()));
    RecordBatch::try_new(out_schema, cols).map_err(|e| e.to_string())
}

fn count_newlines(b: &[u8]) -> i64 {
    b.iter().filter(|&&c| c == b'\n').count() as i64
}

impl ReferenceSource for sluice_reference::ReferenceTable<RecordBatch> {
    fn current(&self) -> (u64, RecordBatch) {
        let s = sluice_reference::ReferenceTable::current(self);
        (s.version, s.data.clone())
    }
}

/// Options for loading reference tables by URL.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Check for a changed object this often (`None`: load once).
    pub check_interval: Option<Duration>,
    /// The clock each version's load time is read from (`None`: the
    /// system clock); the app's own clock, so a replay's tables are
    /// stamped with replay time.
    pub clock: Option<Arc<dyn crate::Clock>>,
}

/// Loads a `[[reference]]` table (relative paths from `base_dir`) and keeps
/// it current in the background; must run inside a tokio runtime. Fails,
/// naming the URL and the cause, when the object cannot be fetched or
/// decoded at all.
pub async fn open(
    config: &ReferenceConfig,
    base_dir: &Path,
    options: &OpenOptions,
) -> Result<ReferenceTable> {
    let schema = ReferenceSchema::from_config(config)?;
    let ctx = |message: String| EngineError::Config {
        context: format!("[[reference]] {} ({})", config.table, config.file),
        message,
    };
    let location = sluice_reference::ObjectLocation::parse(&config.file, base_dir)
        .map_err(|e| ctx(e.to_string()))?;
    let name = config.table.clone();
    let decode_schema = schema.clone();
    let decode: sluice_reference::Decode<RecordBatch> =
        Arc::new(move |bytes: &[u8]| decode_reference(bytes, &name, &decode_schema));
    let s3 = config.s3_options(matches!(
        location.kind(),
        sluice_reference::LocationKind::S3 { .. }
    ))?;
    let mut opts = sluice_reference::ReferenceOptions {
        s3,
        check_interval: options.check_interval,
        ..Default::default()
    };
    if let Some(clock) = &options.clock {
        opts.clock = Arc::clone(clock);
    }
    let table = sluice_reference::ReferenceTable::load(location, decode, opts)
        .await
        .map_err(|e| ctx(e.to_string()))?;
    Ok(ReferenceTable {
        name: config.table.clone(),
        columns: schema.stream_columns(),
        source: Arc::new(table),
    })
}

/// Loads every `[[reference]]` table of an app (relative paths from
/// `base_dir`) from synchronous code: a thread of its own runs the fetches
/// and, when `options.check_interval` is set, keeps running the background
/// reloads for the life of the process. Fails on the first table that
/// cannot be loaded, naming its URL and the cause.
pub fn load_all(
    configs: &[ReferenceConfig],
    base_dir: &Path,
    options: &OpenOptions,
) -> Result<Vec<ReferenceTable>> {
    if configs.is_empty() {
        return Ok(Vec::new());
    }
    let configs = configs.to_vec();
    let base_dir = base_dir.to_path_buf();
    let options = options.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("sluice-reference".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(EngineError::Config {
                        context: "reference tables".into(),
                        message: format!("cannot start the loader: {e}"),
                    }));
                    return;
                }
            };
            rt.block_on(async {
                let mut tables = Vec::new();
                for c in &configs {
                    match open(c, &base_dir, &options).await {
                        Ok(t) => tables.push(t),
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                let _ = tx.send(Ok(tables));
                if options.check_interval.is_some() {
                    // Reloads run on this runtime from now on.
                    std::future::pending::<()>().await;
                }
            });
        });
    if let Err(e) = spawned {
        return Err(EngineError::Config {
            context: "reference tables".into(),
            message: format!("cannot start the loader thread: {e}"),
        });
    }
    rx.recv().unwrap_or_else(|_| {
        Err(EngineError::Config {
            context: "reference tables".into(),
            message: "the loader thread stopped before answering".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::AppConfig;
    use crate::io::input::Record;
    use crate::io::output::batch_json_lines;
    use crate::runtime::app::Application;

    /// A running stream-to-table join sees a reloaded table: rows pushed
    /// after the file changes join the new rows, and rows before it kept
    /// the old ones.
    #[test]
    fn a_running_join_picks_up_a_reloaded_table() {
        let dir =
            std::env::temp_dir().join(format!("sluice-reference-reload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("companies.csv");
        std::fs::write(&file, "AMZN,Amazon\n").unwrap();
        let config = AppConfig::parse(
            r#"
            [[input]]
            stream = "S"
            format = "json"
            columns = [ { name = "TICKER", type = "VARCHAR(4)", mapping = "$.t" } ]
            [[reference]]
            table = "COMPANIES"
            file = "companies.csv"
            format = "csv"
            columns = [ { name = "TICKER", type = "VARCHAR(4)" }, { name = "NAME", type = "VARCHAR(32)" } ]
            "#,
            "app.toml",
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let tables = load_all(
            &config.reference,
            &dir,
            &OpenOptions {
                check_interval: Some(Duration::from_millis(20)),
                clock: Some(clock.clone()),
            },
        )
        .unwrap();
        let mut app = Application::with_tables(
            "CREATE STREAM O (TICKER VARCHAR(4), NAME VARCHAR(32));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM s.TICKER, c.NAME \
             FROM S AS s JOIN COMPANIES AS c ON s.TICKER = c.TICKER;",
            &config.inputs().unwrap(),
            &tables,
            clock,
        )
        .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&out);
        app.subscribe("O", move |b| {
            sink.lock().unwrap().push_str(&batch_json_lines(b, false));
        })
        .unwrap();
        app.push_records("S", &[Record::new(br#"{"t": "AMZN"}"#, 1_000)])
            .unwrap();

        let before = tables[0].source.current().0;
        std::fs::write(&file, "AMZN,Amazon.com Inc.\nMSFT,Microsoft\n").unwrap();
        // Wait for the background check to swap the table in (not a timing
        // assertion: it only bounds how long a broken reload would hang).
        let deadline = Instant::now() + Duration::from_secs(20);
        while tables[0].source.current().0 == before {
            assert!(Instant::now() < deadline, "the table was not reloaded");
            std::thread::sleep(Duration::from_millis(10));
        }
        app.push_records(
            "S",
            &[
                Record::new(br#"{"t": "AMZN"}"#, 2_000),
                Record::new(br#"{"t": "MSFT"}"#, 2_000),
            ],
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            out.lock().unwrap().as_str(),
            "{\"TICKER\": \"AMZN\", \"NAME\": \"Amazon\"}\n\
             {\"TICKER\": \"AMZN\", \"NAME\": \"Amazon.com Inc.\"}\n\
             {\"TICKER\": \"MSFT\", \"NAME\": \"Microsoft\"}\n"
        );
    }
}
