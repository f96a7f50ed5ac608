//! Application configuration files: `app.toml` / `case.toml`.
//!
//! The `[[input]]` sections say which in-application stream each input
//! feeds and how its records map to columns (KDA's InputSchema); the
//! `[[reference]]` sections name reference tables. The same file format
//! serves `sluice run` (app.toml) and `sluice test` (case.toml, which adds
//! `[expect]`; see ../shared/CASE-FORMAT.md). Unknown keys are errors, so a
//! typo never silently changes what runs.

use serde::Deserialize;

use crate::app::Input;
use crate::error::{EngineError, Result};
use crate::input::{InputSchema, RecordColumn, RecordFormat};
use crate::types::SqlType;

/// An app.toml or case.toml.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// One line about the app or case.
    pub description: Option<String>,
    /// Inputs, one per fed source stream.
    #[serde(default)]
    pub input: Vec<InputConfig>,
    /// Reference tables.
    #[serde(default)]
    pub reference: Vec<ReferenceConfig>,
    /// Test expectations (case.toml only); read by the test harness.
    pub expect: Option<toml::Table>,
}

/// One `[[input]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// The in-application stream it feeds.
    pub stream: String,
    /// The file of records (relative to the config file).
    pub file: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default = "default_format")]
    pub format: String,
    /// How arrival times are given: `none`, `arrival` or `kds`.
    #[serde(default = "default_envelope")]
    pub envelope: String,
    /// `none` only: ROWTIME of line 1 (RFC 3339).
    pub start: Option<String>,
    /// `none` only: ROWTIME step per line, in ms.
    pub step_ms: Option<i64>,
    /// JSON: KDA RecordRowPath.
    pub row_path: Option<String>,
    /// CSV: KDA RecordColumnDelimiter.
    pub delimiter: Option<String>,
    /// CSV: KDA RecordRowDelimiter.
    pub row_delimiter: Option<String>,
    /// CSV: skip the file's first line.
    #[serde(default)]
    pub header: bool,
    /// KDA RecordColumns; omitted when the app declares the stream.
    pub columns: Option<Vec<ColumnConfig>>,
}

fn default_format() -> String {
    "json".into()
}

fn default_envelope() -> String {
    "none".into()
}

/// One RecordColumn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Column name (as KDA names it: written exactly).
    pub name: String,
    /// SQL type, e.g. `VARCHAR(4)`.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// JSON path mapping, e.g. `$.ticker`.
    pub mapping: Option<String>,
}

/// One `[[reference]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
    /// Table name.
    pub table: String,
    /// A path or object_store URL.
    pub file: String,
    /// `csv` or `json`.
    pub format: Option<String>,
    /// CSV: skip the first line.
    #[serde(default)]
    pub header: bool,
    /// CSV column delimiter.
    pub delimiter: Option<String>,
    /// Columns.
    pub columns: Option<Vec<ColumnConfig>>,
}

impl AppConfig {
    /// Parses the text of an app.toml / case.toml; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| EngineError::Config {
            context: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// The engine inputs these sections describe.
    pub fn inputs(&self) -> Result<Vec<Input>> {
        self.input.iter().map(InputConfig::to_input).collect()
    }
}

impl InputConfig {
    /// The engine input: stream and InputSchema.
    pub fn to_input(&self) -> Result<Input> {
        let ctx = |message: String| EngineError::Config {
            context: format!("[[input]] {}", self.stream),
            message,
        };
        let format = match self.format.to_ascii_lowercase().as_str() {
            "json" => RecordFormat::Json {
                row_path: self.row_path.clone().unwrap_or_else(|| "$".into()),
            },
            "csv" => RecordFormat::Csv {
                column_delimiter: self.delimiter.clone().unwrap_or_else(|| ",".into()),
                row_delimiter: self.row_delimiter.clone().unwrap_or_else(|| "\n".into()),
            },
            other => return Err(ctx(format!("format \"{other}\" is not json or csv"))),
        };
        if !["none", "arrival", "kds"].contains(&self.envelope.as_str()) {
            return Err(ctx(format!(
                "envelope \"{}\" is not none, arrival or kds",
                self.envelope
            )));
        }
        let columns = match &self.columns {
            None => None,
            Some(cols) => Some(
                cols.iter()
                    .map(|c| {
                        Ok(RecordColumn {
                            name: c.name.clone(),
                            sql_type: SqlType::parse(&c.sql_type)
                                .map_err(|m| ctx(format!("column {}: {m}", c.name)))?,
                            mapping: c.mapping.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Input {
            stream: self.stream.clone(),
            schema: InputSchema { format, columns },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_inputs() {
        let c = AppConfig::parse(
            r#"
            [[input]]
            stream = "SOURCE_SQL_STREAM_001"
            file = "input.jsonl"
            envelope = "arrival"
            columns = [ { name = "TICKER", type = "VARCHAR(4)", mapping = "$.t" } ]
            [expect]
            order = "any"
            "#,
            "case.toml",
        )
        .unwrap();
        let inputs = c.inputs().unwrap();
        assert_eq!(inputs[0].stream, "SOURCE_SQL_STREAM_001");
        assert_eq!(
            inputs[0].schema.columns.as_ref().unwrap()[0].sql_type,
            SqlType::Varchar(4)
        );
    }

    #[test]
    fn rejects_unknown_keys_and_types() {
        let e = AppConfig::parse("[[input]]\nstream = \"S\"\nfromat = \"json\"\n", "app.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fromat"), "{e}");
        let c = AppConfig::parse(
            "[[input]]\nstream = \"S\"\ncolumns = [{ name = \"A\", type = \"JSONB\" }]\n",
            "app.toml",
        )
        .unwrap();
        assert!(c.inputs().unwrap_err().to_string().contains("column A"));
    }
}
