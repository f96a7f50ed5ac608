//! Schema discovery: infer an [`InputSchema`] (record format, row path,
//! RecordColumns) from sample records, as KDA's DiscoverInputSchema does.
//!
//! The entry point is [`discover_schema`]; its [`DiscoveredSchema`] prints
//! as an `[[input]]` section of app.toml / case.toml
//! ([`DiscoveredSchema::to_toml`]) and as AWS InputSchema JSON
//! ([`DiscoveredSchema::to_aws_json`]). No DataFusion is involved.
//!
//! What follows KDA's documentation (Developer Guide, "Using the Schema
//! Discovery Feature on Streaming Data", "… on Static Data", "Working with
//! JSONPath"):
//!
//! - **Names** keep the source's case (`state` stays `state`, so SQL quotes
//!   it: `"state"`). A name is renamed to `COL_` + what is left of it when it
//!   is a reserved SQL word (`year` → `COL_year`), holds characters other than
//!   letters, digits and `_` (they are dropped: `USER@DOMAIN` →
//!   `COL_USERDOMAIN`), begins with a digit, or is longer than 100
//!   characters (cut so the name has 100). When nothing is left (`@@`) the
//!   name is `COL_` + the column's position, from 0.
//! - **CSV**: with a header line, the header's fields name the columns and
//!   the header takes no part in typing (the documented `data.csv` example:
//!   `year` → `COL_year INTEGER`, `state` with values `AK`/`AL` →
//!   `VARCHAR(4)`); RecordRowDelimiter is `\r\n` when the rows end so.
//!   CSV columns have no Mapping (they are taken by position).
//! - **VARCHAR(n)**: n is the longest sample value, rounded up to a power of
//!   two, at least 4 (the example: 2 → 4, 9 → 16, 35 → 64).
//! - **JSON** rows are the whole record (RecordRowPath `$`); mappings are
//!   JSONPaths; an array is read whole, as one VARCHAR field (`$.tags[0:]`,
//!   "all of the contents of the array are returned as a single field").
//!
//! Where the documentation is silent, what a KDA user expects:
//!
//! - **Nested objects** are flattened: `$.a.b` becomes column `a_b` (the
//!   path's keys joined by `_`, then named by the rules above; `$.A.B` →
//!   `A_B`). Keys that are not plain names are mapped as `$['k']`.
//! - **Types**: numbers that fit 32 bits → INTEGER, 64 bits → BIGINT, with a
//!   fraction or exponent → DOUBLE; `true`/`false` → BOOLEAN; strings in a
//!   KDA timestamp form (`2018-08-01 20:17:30.000`, ISO `T`/`Z` forms) →
//!   TIMESTAMP, `yyyy-MM-dd` → DATE; anything else VARCHAR(n). In CSV the
//!   same rules read the text (a number with a leading zero, `007`, stays
//!   VARCHAR); in JSON a string is never read as a number, as the producer
//!   chose a string.
//! - **Mixed types** across records widen: INTEGER + BIGINT → BIGINT, any
//!   integer + DOUBLE → DOUBLE, DATE + TIMESTAMP → TIMESTAMP; any other mix
//!   (a number in one record, a string in another) → VARCHAR(n), n from the
//!   longest text form. NULL and missing values do not count; a column that
//!   is NULL in every sample is VARCHAR(4).
//! - **Column order** is the order keys first appear in the samples; two
//!   columns whose names come out the same get `_2`, `_3`, … appended.
//! - The names of the source stream's own columns (`ROWTIME`,
//!   `APPROXIMATE_ARRIVAL_TIME`, `PARTITION_KEY`, `SHARD_ID`,
//!   `SEQUENCE_NUMBER`) count as reserved, so a record field never hides them.
//! - Records that are JSON arrays of objects give RecordRowPath `$[0:]` (one
//!   row per element).
//! - CSV: the column delimiter is the first of `,` `\t` `|` `;` that splits
//!   every row into the same number (> 1) of fields, else `,`. The first row
//!   is a header when each of its fields is text and some column below it is
//!   typed (a number, boolean or time in every sample); a file of text
//!   columns only is read without a header unless told
//!   ([`DiscoverOptions::header`]). Columns without a header are `COL_0`,
//!   `COL_1`, …. The header is Sluice's `header = true` (skip the first
//!   line); AWS's InputSchema has no such field.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};

use crate::error::{EngineError, Result};
use crate::io::input::{InputSchema, RecordColumn, RecordFormat, parse_timestamp, split_csv};
use crate::types::SqlType;

/// The format of the sample records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// One JSON value per record.
    Json,
    /// Delimited text, one or more rows per record.
    Csv,
}

/// What the caller knows about the samples; `None` means "infer it".
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// JSON or CSV; inferred from the first record when `None`.
    pub format: Option<SampleFormat>,
    /// CSV column delimiter.
    pub delimiter: Option<String>,
    /// CSV: whether the first row is a header.
    pub header: Option<bool>,
}

/// The schema [`discover_schema`] inferred.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredSchema {
    /// RecordFormat: JSON with its row path, or CSV with its delimiters.
    pub format: RecordFormat,
    /// CSV: the first row is a header (Sluice skips it: `header = true`).
    pub header: bool,
    /// RecordColumns, in the order their fields first appear.
    pub columns: Vec<RecordColumn>,
    /// How many rows the types were inferred from.
    pub rows: usize,
}

/// Infers the InputSchema of `records` (their bytes; empty records are
/// skipped but counted, so "record 3" is the third one given — the third
/// line of a file read line by line). `origin` names the samples in errors.
///
/// Errors ([`EngineError::Config`], naming `origin` and the record): no
/// non-empty record; a record that is not UTF-8; with JSON, a record that
/// is not valid JSON, or not an object (or an array of objects).
pub fn discover_schema(
    records: &[&[u8]],
    options: &DiscoverOptions,
    origin: &str,
) -> Result<DiscoveredSchema> {
    let err = |record: usize, message: String| EngineError::Config {
        context: if record == 0 {
            origin.to_string()
        } else {
            format!("{origin}: record {record}")
        },
        message,
    };
    let mut texts: Vec<(usize, &str)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let text = std::str::from_utf8(r)
            .map_err(|e| err(i + 1, format!("not UTF-8 text (KDA reads UTF-8): {e}")))?;
        if !text.trim().is_empty() {
            texts.push((i + 1, text));
        }
    }
    let Some(&(_, first)) = texts.first() else {
        return Err(err(0, "no records to discover a schema from".into()));
    };
    let format = options.format.unwrap_or_else(|| {
        let t = first.trim_start();
        let json_like = t.starts_with('{') || t.starts_with('[');
        if json_like && serde_json::from_str::<Value>(first).is_ok() {
            SampleFormat::Json
        } else {
            SampleFormat::Csv
        }
    });
    match format {
        SampleFormat::Json => discover_json(&texts, err),
        SampleFormat::Csv => Ok(discover_csv(&texts, options)),
    }
}

impl DiscoveredSchema {
    /// The engine's InputSchema.
    pub fn input_schema(&self) -> InputSchema {
        InputSchema {
            format: self.format.clone(),
            columns: Some(self.columns.clone()),
        }
    }

    /// An `[[input]]` section for app.toml / case.toml feeding `stream`;
    /// `source` are extra `key = "value"` lines (e.g. `file`, or
    /// `kinesis_stream` and `endpoint`), printed after `stream`.
    pub fn to_toml(&self, stream: &str, source: &[(&str, &str)]) -> String {
        let mut out = String::from("[[input]]\n");
        let _ = writeln!(out, "stream = {}", toml_str(stream));
        for (k, v) in source {
            let _ = writeln!(out, "{k} = {}", toml_str(v));
        }
        match &self.format {
            RecordFormat::Json { row_path } => {
                out.push_str("format = \"json\"\n");
                let _ = writeln!(out, "row_path = {}", toml_str(row_path));
            }
            RecordFormat::Csv {
                column_delimiter,
                row_delimiter,
            } => {
                out.push_str("format = \"csv\"\n");
                let _ = writeln!(out, "delimiter = {}", toml_str(column_delimiter));
                if row_delimiter != "\n" {
                    let _ = writeln!(out, "row_delimiter = {}", toml_str(row_delimiter));
                }
                if self.header {
                    out.push_str("header = true\n");
                }
            }
        }
        out.push_str("columns = [\n");
        for c in &self.columns {
            let _ = write!(
                out,
                "  {{ name = {}, type = \"{}\"",
                toml_str(&c.name),
                c.sql_type
            );
            if let Some(m) = &c.mapping {
                let _ = write!(out, ", mapping = {}", toml_str(m));
            }
            out.push_str(" },\n");
        }
        out.push_str("]\n");
        out
    }

    /// KDA's InputSchema JSON (what DiscoverInputSchema returns and
    /// CreateApplication takes).
    pub fn to_aws_json(&self) -> Value {
        let (format_type, mapping) = match &self.format {
            RecordFormat::Json { row_path } => (
                "JSON",
                json!({ "JSONMappingParameters": { "RecordRowPath": row_path } }),
            ),
            RecordFormat::Csv {
                column_delimiter,
                row_delimiter,
            } => (
                "CSV",
                json!({ "CSVMappingParameters": {
                    "RecordRowDelimiter": row_delimiter,
                    "RecordColumnDelimiter": column_delimiter,
                } }),
            ),
        };
        let columns: Vec<Value> = self
            .columns
            .iter()
            .map(|c| {
                let mut v = json!({ "Name": c.name, "SqlType": c.sql_type.to_string() });
                if let (Some(m), Some(o)) = (&c.mapping, v.as_object_mut()) {
                    o.insert("Mapping".into(), Value::String(m.clone()));
                }
                v
            })
            .collect();
        json!({
            "RecordFormat": { "RecordFormatType": format_type, "MappingParameters": mapping },
            "RecordEncoding": "UTF-8",
            "RecordColumns": columns,
        })
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------- values --

/// What one sample value says about its column's type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    /// An integer; `true` when it needs 64 bits.
    Int(bool),
    Float,
    Timestamp,
    Date,
    Text,
}

/// What a column's samples said.
#[derive(Debug, Default, Clone)]
struct Stats {
    values: usize,
    bools: usize,
    ints: usize,
    bigints: usize,
    floats: usize,
    timestamps: usize,
    dates: usize,
    max_len: usize,
}

impl Stats {
    fn observe(&mut self, kind: Kind, text_len: usize) {
        self.values += 1;
        self.max_len = self.max_len.max(text_len);
        match kind {
            Kind::Bool => self.bools += 1,
            Kind::Int(false) => self.ints += 1,
            Kind::Int(true) => self.bigints += 1,
            Kind::Float => self.floats += 1,
            Kind::Timestamp => self.timestamps += 1,
            Kind::Date => self.dates += 1,
            Kind::Text => {}
        }
    }

    /// Every sample value was typed (not text): the header test.
    fn all_typed(&self) -> bool {
        self.values > 0
            && self
                .sql_type()
                .is_some_and(|t| !matches!(t, SqlType::Varchar(_)))
    }

    fn sql_type(&self) -> Option<SqlType> {
        let n = self.values;
        if n == 0 {
            return None;
        }
        let numbers = self.ints + self.bigints + self.floats;
        Some(if self.bools == n {
            SqlType::Boolean
        } else if numbers == n && self.floats > 0 {
            SqlType::Double
        } else if numbers == n && self.bigints > 0 {
            SqlType::BigInt
        } else if numbers == n {
            SqlType::Integer
        } else if self.dates == n {
            SqlType::Date
        } else if self.timestamps + self.dates == n {
            SqlType::Timestamp
        } else {
            SqlType::Varchar(varchar_len(self.max_len))
        })
    }

    fn sql_type_or_default(&self) -> SqlType {
        self.sql_type().unwrap_or(SqlType::Varchar(4))
    }
}

/// VARCHAR length for values of at most `len` characters: the next power
/// of two, at least 4.
fn varchar_len(len: usize) -> u32 {
    u32::try_from(len.max(4).next_power_of_two()).unwrap_or(u32::MAX)
}

/// The kind of a string found in a JSON record: a time, or text.
fn string_kind(s: &str) -> Kind {
    let t = s.trim();
    if is_date(t) {
        Kind::Date
    } else if t.len() >= 16 && t.as_bytes().get(4) == Some(&b'-') && parse_timestamp(t).is_some() {
        Kind::Timestamp
    } else {
        Kind::Text
    }
}

fn is_date(t: &str) -> bool {
    t.len() == 10 && chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok()
}

/// The kind of a CSV field, or `None` for an empty one (NULL).
fn text_kind(s: &str) -> Option<Kind> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        return Some(Kind::Bool);
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if leading_zero {
            return Some(Kind::Text);
        }
        return Some(match t.parse::<i64>() {
            Ok(n) => Kind::Int(i32::try_from(n).is_err()),
            Err(_) => Kind::Text,
        });
    }
    let numeric_chars = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    let starts_like_number = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if numeric_chars
        && starts_like_number
        && !leading_zero
        && t.parse::<f64>().is_ok_and(f64::is_finite)
    {
        return Some(Kind::Float);
    }
    Some(string_kind(t))
}

// ------------------------------------------------------------------ names --

/// SQL reserved words (SQL:2008, which KDA's SQL follows), upper case,
/// sorted; with the source stream's own column names.
const RESERVED: &[&str] = &[
    "ABS",
    "ALL",
    "ALLOCATE",
    "ALTER",
    "AND",
    "ANY",
    "APPROXIMATE_ARRIVAL_TIME",
    "ARE",
    "ARRAY",
    "AS",
    "ASENSITIVE",
    "ASYMMETRIC",
    "AT",
    "ATOMIC",
    "AUTHORIZATION",
    "AVG",
    "BEGIN",
    "BETWEEN",
    "BIGINT",
    "BINARY",
    "BLOB",
    "BOOLEAN",
    "BOTH",
    "BY",
    "CALL",
    "CALLED",
    "CARDINALITY",
    "CASCADED",
    "CASE",
    "CAST",
    "CEIL",
    "CEILING",
    "CHAR",
    "CHARACTER",
    "CHARACTER_LENGTH",
    "CHAR_LENGTH",
    "CHECK",
    "CLOB",
    "CLOSE",
    "COALESCE",
    "COLLATE",
    "COLLECT",
    "COLUMN",
    "COMMIT",
    "CONDITION",
    "CONNECT",
    "CONSTRAINT",
    "CONVERT",
    "CORR",
    "CORRESPONDING",
    "COUNT",
    "COVAR_POP",
    "COVAR_SAMP",
    "CREATE",
    "CROSS",
    "CUBE",
    "CUME_DIST",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_PATH",
    "CURRENT_ROLE",
    "CURRENT_ROW",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "CURSOR",
    "CYCLE",
    "DATE",
    "DAY",
    "DEALLOCATE",
    "DEC",
    "DECIMAL",
    "DECLARE",
    "DEFAULT",
    "DELETE",
    "DENSE_RANK",
    "DEREF",
    "DESCRIBE",
    "DETERMINISTIC",
    "DISCONNECT",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "DYNAMIC",
    "EACH",
    "ELEMENT",
    "ELSE",
    "END",
    "END-EXEC",
    "ESCAPE",
    "EVERY",
    "EXCEPT",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "EXP",
    "EXTERNAL",
    "EXTRACT",
    "FALSE",
    "FETCH",
    "FILTER",
    "FIRST_VALUE",
    "FLOAT",
    "FLOOR",
    "FOR",
    "FOREIGN",
    "FREE",
    "FROM",
    "FULL",
    "FUNCTION",
    "FUSION",
    "GET",
    "GLOBAL",
    "GRANT",
    "GROUP",
    "GROUPING",
    "HAVING",
    "HOLD",
    "HOUR",
    "IDENTITY",
    "IN",
    "INDICATOR",
    "INNER",
    "INOUT",
    "INSENSITIVE",
    "INSERT",
    "INT",
    "INTEGER",
    "INTERSECT",
    "INTERSECTION",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LANGUAGE",
    "LARGE",
    "LAST_VALUE",
    "LATERAL",
    "LEADING",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LN",
    "LOCAL",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "LOWER",
    "MATCH",
    "MAX",
    "MEMBER",
    "MERGE",
    "METHOD",
    "MIN",
    "MINUTE",
    "MOD",
    "MODIFIES",
    "MODULE",
    "MONTH",
    "MULTISET",
    "NATIONAL",
    "NATURAL",
    "NCHAR",
    "NCLOB",
    "NEW",
    "NO",
    "NONE",
    "NORMALIZE",
    "NOT",
    "NULL",
    "NULLIF",
    "NUMERIC",
    "OCTET_LENGTH",
    "OF",
    "OFFSET",
    "OLD",
    "ON",
    "ONLY",
    "OPEN",
    "OR",
    "ORDER",
    "OUT",
    "OUTER",
    "OVER",
    "OVERLAPS",
    "OVERLAY",
    "PARAMETER",
    "PARTITION",
    "PARTITION_KEY",
    "PERCENTILE_CONT",
    "PERCENTILE_DISC",
    "PERCENT_RANK",
    "POSITION",
    "POWER",
    "PRECISION",
    "PREPARE",
    "PRIMARY",
    "PROCEDURE",
    "RANGE",
    "RANK",
    "READS",
    "REAL",
    "RECURSIVE",
    "REF",
    "REFERENCES",
    "REFERENCING",
    "REGR_AVGX",
    "REGR_AVGY",
    "REGR_COUNT",
    "REGR_INTERCEPT",
    "REGR_R2",
    "REGR_SLOPE",
    "REGR_SXX",
    "REGR_SXY",
    "REGR_SYY",
    "RELEASE",
    "RESULT",
    "RETURN",
    "RETURNS",
    "REVOKE",
    "RIGHT",
    "ROLLBACK",
    "ROLLUP",
    "ROW",
    "ROWS",
    "ROWTIME",
    "ROW_NUMBER",
    "SAVEPOINT",
    "SCOPE",
    "SCROLL",
    "SEARCH",
    "SECOND",
    "SELECT",
    "SENSITIVE",
    "SEQUENCE_NUMBER",
    "SESSION_USER",
    "SET",
    "SHARD_ID",
    "SIMILAR",
    "SMALLINT",
    "SOME",
    "SPECIFIC",
    "SPECIFICTYPE",
    "SQL",
    "SQLEXCEPTION",
    "SQLSTATE",
    "SQLWARNING",
    "SQRT",
    "START",
    "STATIC",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "STREAM",
    "SUBMULTISET",
    "SUBSTRING",
    "SUM",
    "SYMMETRIC",
    "SYSTEM",
    "SYSTEM_USER",
    "TABLE",
    "TABLESAMPLE",
    "THEN",
    "TIME",
    "TIMESTAMP",
    "TIMEZONE_HOUR",
    "TIMEZONE_MINUTE",
    "TINYINT",
    "TO",
    "TRAILING",
    "TRANSLATE",
    "TRANSLATION",
    "TREAT",
    "TRIGGER",
    "TRIM",
    "TRUE",
    "UESCAPE",
    "UNION",
    "UNIQUE",
    "UNKNOWN",
    "UNNEST",
    "UPDATE",
    "UPPER",
    "USER",
    "USING",
    "VALUE",
    "VALUES",
    "VARBINARY",
    "VARCHAR",
    "VARYING",
    "VAR_POP",
    "VAR_SAMP",
    "WHEN",
    "WHENEVER",
    "WHERE",
    "WIDTH_BUCKET",
    "WINDOW",
    "WITH",
    "WITHIN",
    "WITHOUT",
    "YEAR",
];

fn is_reserved(name: &str) -> bool {
    RESERVED
        .binary_search(&name.to_ascii_uppercase().as_str())
        .is_ok()
}

/// The column name KDA's discovery gives a source field `raw` at
/// `position` (see the module docs).
fn column_name(raw: &str, position: usize) -> String {
    const MAX: usize = 100;
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if kept.is_empty() {
        return format!("COL_{position}");
    }
    let renamed = kept.len() != raw.len()
        || is_reserved(&kept)
        || kept.starts_with(|c: char| c.is_ascii_digit())
        || kept.len() > MAX;
    if !renamed {
        return kept;
    }
    let mut name = format!("COL_{kept}");
    name.truncate(MAX);
    name
}

/// Makes `names` distinct by appending `_2`, `_3`, … to repeats.
fn dedupe(names: &mut [String]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for n in names.iter_mut() {
        let count = seen.entry(n.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            let mut k = *count;
            let mut candidate = format!("{n}_{k}");
            while seen.contains_key(&candidate) {
                k += 1;
                candidate = format!("{n}_{k}");
            }
            seen.insert(candidate.clone(), 1);
            *n = candidate;
        }
    }
}

// ------------------------------------------------------------------- JSON --

/// A JSON value with object keys in record order.
enum Node {
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Scalar(Value),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Node, E> {
                Ok(Node::Scalar(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Node, E> {
                Ok(Node::Scalar(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Node, E> {
                Ok(Node::Scalar(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Node, E> {
                Ok(Node::Scalar(Value::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Node, E> {
                Ok(Node::Scalar(Value::String(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Node, E> {
                Ok(Node::Scalar(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = a.next_element()? {
                    items.push(n);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
                let mut fields: Vec<(String, Node)> = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Node>()? {
                    // A repeated key: the last one wins, as serde_json's does.
                    fields.retain(|(old, _)| *old != k);
                    fields.push((k, v));
                }
                Ok(Node::Object(fields))
            }
        }
        d.deserialize_any(V)
    }
}

impl Node {
    /// Characters of the value as a VARCHAR column receives it: a string's
    /// own text, else its compact JSON text (an array or object whole).
    fn text_len(&self) -> usize {
        match self {
            Node::Scalar(Value::String(s)) => s.chars().count(),
            other => other.json_len(),
        }
    }

    /// Characters of its compact JSON text.
    fn json_len(&self) -> usize {
        let text_len = |v: &Value| v.to_string().chars().count();
        match self {
            Node::Scalar(v) => text_len(v),
            Node::Array(items) => {
                2 + items.iter().map(Node::json_len).sum::<usize>() + items.len().saturating_sub(1)
            }
            Node::Object(fields) => {
                2 + fields
                    .iter()
                    .map(|(k, v)| text_len(&Value::String(k.clone())) + 1 + v.json_len())
                    .sum::<usize>()
                    + fields.len().saturating_sub(1)
            }
        }
    }
}

/// A discovered JSON column: its path of keys, whether it is an array read
/// whole, and its samples.
struct JsonColumn {
    keys: Vec<String>,
    array: bool,
    stats: Stats,
}

#[derive(Default)]
struct JsonColumns {
    columns: Vec<JsonColumn>,
    index: HashMap<(Vec<String>, bool), usize>,
}

impl JsonColumns {
    fn column(&mut self, keys: &[String], array: bool) -> &mut Stats {
        let key = (keys.to_vec(), array);
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.columns.push(JsonColumn {
                    keys: keys.to_vec(),
                    array,
                    stats: Stats::default(),
                });
                self.index.insert(key, self.columns.len() - 1);
                self.columns.len() - 1
            }
        };
        &mut self.columns[i].stats
    }

    /// Flattens one row object into its leaf columns.
    fn visit(&mut self, keys: &mut Vec<String>, node: &Node) {
        match node {
            Node::Object(fields) if !fields.is_empty() => {
                for (k, v) in fields {
                    keys.push(k.clone());
                    self.visit(keys, v);
                    keys.pop();
                }
            }
            Node::Object(_) => {
                let len = node.text_len();
                self.column(keys, false).observe(Kind::Text, len);
            }
            Node::Array(_) => {
                let len = node.text_len();
                self.column(keys, true).observe(Kind::Text, len);
            }
            Node::Scalar(Value::Null) => {
                self.column(keys, false);
            }
            Node::Scalar(v) => {
                let kind = match v {
                    Value::Bool(_) => Kind::Bool,
                    Value::Number(n) => match n.as_i64() {
                        Some(i) => Kind::Int(i32::try_from(i).is_err()),
                        None => Kind::Float,
                    },
                    Value::String(s) => string_kind(s),
                    _ => Kind::Text,
                };
                self.column(keys, false).observe(kind, node.text_len());
            }
        }
    }
}

/// `$.a.b`, `$['odd key']`, with `[0:]` for an array read whole.
fn json_path(keys: &[String], array: bool) -> String {
    let mut p = String::from("$");
    for k in keys {
        let plain = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            p.push('.');
            p.push_str(k);
        } else if k.contains('\'') {
            let _ = write!(p, "[\"{k}\"]");
        } else {
            let _ = write!(p, "['{k}']");
        }
    }
    if array {
        p.push_str("[0:]");
    }
    p
}

fn discover_json(
    texts: &[(usize, &str)],
    err: impl Fn(usize, String) -> EngineError,
) -> Result<DiscoveredSchema> {
    let mut cols = JsonColumns::default();
    let mut array_records: Option<bool> = None;
    let mut rows = 0;
    for &(n, text) in texts {
        let node: Node = serde_json::from_str(text).map_err(|e| {
            err(
                n,
                format!("not valid JSON ({e}); give --format csv for text"),
            )
        })?;
        let is_array = matches!(node, Node::Array(_));
        match array_records {
            None => array_records = Some(is_array),
            Some(a) if a != is_array => {
                return Err(err(
                    n,
                    "an array, where earlier records are objects (or the reverse): one row path cannot read both".into(),
                ));
            }
            Some(_) => {}
        }
        let row_nodes: Vec<&Node> = match &node {
            Node::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for row in row_nodes {
            if !matches!(row, Node::Object(_)) {
                return Err(err(
                    n,
                    "not a JSON object (or an array of objects): its fields cannot map to columns"
                        .into(),
                ));
            }
            rows += 1;
            cols.visit(&mut Vec::new(), row);
        }
    }
    let mut names: Vec<String> = cols
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| column_name(&c.keys.join("_"), i))
        .collect();
    dedupe(&mut names);
    let columns = cols
        .columns
        .iter()
        .zip(names)
        .map(|(c, name)| RecordColumn {
            name,
            sql_type: c.stats.sql_type_or_default(),
            mapping: Some(json_path(&c.keys, c.array)),
        })
        .collect();
    Ok(DiscoveredSchema {
        format: RecordFormat::Json {
            row_path: if array_records == Some(true) {
                "$[0:]".into()
            } else {
                "$".into()
            },
        },
        header: false,
        columns,
        rows,
    })
}

// -------------------------------------------------------------------- CSV --

fn discover_csv(texts: &[(usize, &str)], options: &DiscoverOptions) -> DiscoveredSchema {
    // Rows end with \r\n when some row does and none ends with a bare \n
    // (a record may be one line without its line end, or many lines).
    let mut lines: Vec<&str> = Vec::new();
    let (mut saw_cr, mut bare_lf) = (false, false);
    for &(_, text) in texts {
        let pieces: Vec<&str> = text.split('\n').collect();
        let last = pieces.len() - 1;
        for (j, piece) in pieces.into_iter().enumerate() {
            let line = match piece.strip_suffix('\r') {
                Some(l) => {
                    saw_cr = true;
                    l
                }
                None => {
                    bare_lf |= j < last;
                    piece
                }
            };
            if !line.trim().is_empty() {
                lines.push(line);
            }
        }
    }
    let crlf = saw_cr && !bare_lf;
    let delimiter = options
        .delimiter
        .clone()
        .unwrap_or_else(|| guess_delimiter(&lines).to_string());
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split_csv(l, &delimiter)).collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let typed = |rows: &[Vec<String>]| -> Vec<Stats> {
        let mut stats = vec![Stats::default(); width];
        for row in rows {
            for (i, f) in row.iter().enumerate() {
                if let Some(kind) = text_kind(f) {
                    stats[i].observe(kind, f.trim().chars().count());
                }
            }
        }
        stats
    };
    let header = options.header.unwrap_or_else(|| {
        let Some((first, rest)) = rows.split_first() else {
            return false;
        };
        let first_is_text = first.len() == width
            && first
                .iter()
                .all(|f| text_kind(f).is_some_and(|k| k == Kind::Text));
        first_is_text && !rest.is_empty() && typed(rest).iter().any(Stats::all_typed)
    });
    let (names_row, data) = match rows.split_first() {
        Some((first, rest)) if header => (Some(first), rest),
        _ => (None, &rows[..]),
    };
    let stats = typed(data);
    let mut names: Vec<String> = (0..width)
        .map(|i| match names_row.and_then(|r| r.get(i)) {
            Some(h) => column_name(h.trim(), i),
            None => format!("COL_{i}"),
        })
        .collect();
    dedupe(&mut names);
    DiscoveredSchema {
        format: RecordFormat::Csv {
            column_delimiter: delimiter,
            row_delimiter: if crlf { "\r\n".into() } else { "\n".into() },
        },
        header,
        columns: names
            .into_iter()
            .zip(stats)
            .map(|(name, s)| RecordColumn {
                name,
                sql_type: s.sql_type_or_default(),
                mapping: None,
            })
            .collect(),
        rows: data.len(),
    }
}

/// The first of `,` `\t` `|` `;` that splits every row into the same
/// number (> 1) of fields; else `,`.
fn guess_delimiter(lines: &[&str]) -> &'static str {
    for d in [",", "\t", "|", ";"] {
        let mut counts = lines.iter().map(|l| split_csv(l, d).len());
        if let Some(first) = counts.next()
            && first > 1
            && counts.all(|c| c == first)
        {
            return d;
        }
    }
    ","
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;

    fn json(lines: &[&str]) -> DiscoveredSchema {
        let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        discover_schema(&records, &DiscoverOptions::default(), "sample").unwrap()
    }

    fn cols(s: &DiscoveredSchema) -> Vec<(String, String, Option<String>)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type.to_string(), c.mapping.clone()))
            .collect()
    }

    fn col(name: &str, t: &str, m: Option<&str>) -> (String, String, Option<String>) {
        (name.into(), t.into(), m.map(str::to_string))
    }

    #[test]
    fn names_follow_kda_renaming_rules() {
        // The documented examples.
        assert_eq!(column_name("USER", 0), "COL_USER");
        assert_eq!(column_name("USER@DOMAIN", 1), "COL_USERDOMAIN");
        assert_eq!(column_name("@@", 0), "COL_0");
        assert_eq!(column_name("year", 0), "COL_year");
        assert_eq!(column_name("state", 2), "state");
        // Begins with a digit; too long; source-stream columns.
        assert_eq!(column_name("1st", 0), "COL_1st");
        let long = "a".repeat(120);
        let n = column_name(&long, 0);
        assert_eq!(n.len(), 100);
        assert!(n.starts_with("COL_aaa"));
        assert_eq!(column_name("rowtime", 0), "COL_rowtime");
        assert_eq!(column_name("TICKER_SYMBOL", 0), "TICKER_SYMBOL");
        let mut names = vec!["a".to_string(), "a".into(), "a_2".into(), "a".into()];
        dedupe(&mut names);
        assert_eq!(names, ["a", "a_2", "a_2_2", "a_3"]);
        assert!(
            RESERVED.windows(2).all(|w| w[0] < w[1]),
            "RESERVED is sorted"
        );
    }

    #[test]
    fn varchar_lengths_round_up_to_a_power_of_two() {
        assert_eq!(varchar_len(0), 4);
        assert_eq!(varchar_len(2), 4);
        assert_eq!(varchar_len(4), 4);
        assert_eq!(varchar_len(9), 16);
        assert_eq!(varchar_len(35), 64);
    }

    #[test]
    fn json_types_widen_across_records_and_nested_objects_flatten() {
        let s = json(&[
            r#"{"ticker":"AMZN","price":12,"qty":3,"ok":true,"at":"2018-08-01 20:17:30.000","trade":{"venue":"X","px":1.5},"tags":["a","b"],"v":1}"#,
            r#"{"ticker":"GOOGL","price":12.25,"qty":5000000000,"ok":false,"at":"2018-08-01T20:17:31Z","trade":{"venue":"NYSE","px":2},"tags":[],"v":"one","gone":null}"#,
            "",
            r#"{"day":"2024-01-02","user name":"x","TIMESTAMP":1}"#,
        ]);
        assert_eq!(
            s.format,
            RecordFormat::Json {
                row_path: "$".into()
            }
        );
        assert_eq!(s.rows, 3);
        assert_eq!(
            cols(&s),
            [
                col("ticker", "VARCHAR(8)", Some("$.ticker")),
                col("price", "DOUBLE", Some("$.price")),
                col("qty", "BIGINT", Some("$.qty")),
                col("ok", "BOOLEAN", Some("$.ok")),
                col("COL_at", "TIMESTAMP", Some("$.at")),
                col("trade_venue", "VARCHAR(4)", Some("$.trade.venue")),
                col("trade_px", "DOUBLE", Some("$.trade.px")),
                col("tags", "VARCHAR(16)", Some("$.tags[0:]")),
                col("v", "VARCHAR(4)", Some("$.v")),
                col("gone", "VARCHAR(4)", Some("$.gone")),
                col("COL_day", "DATE", Some("$.day")),
                col("COL_username", "VARCHAR(4)", Some("$['user name']")),
                col("COL_TIMESTAMP", "INTEGER", Some("$.TIMESTAMP")),
            ]
        );
    }

    #[test]
    fn json_arrays_of_rows_get_a_row_path_and_bad_records_are_named() {
        let s = json(&[r#"[{"a":1},{"a":2,"b":"x"}]"#]);
        assert_eq!(
            s.format,
            RecordFormat::Json {
                row_path: "$[0:]".into()
            }
        );
        assert_eq!(s.rows, 2);
        let bad = |lines: &[&str]| {
            let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
            let o = DiscoverOptions {
                format: Some(SampleFormat::Json),
                ..Default::default()
            };
            discover_schema(&records, &o, "s.jsonl")
                .unwrap_err()
                .to_string()
        };
        let e = bad(&["{\"a\":1}", "", "{oops"]);
        assert!(e.starts_with("s.jsonl: record 3: not valid JSON"), "{e}");
        let e = bad(&["{\"a\":1}", "[{\"a\":1}]"]);
        assert!(e.contains("record 2: an array"), "{e}");
        let e = bad(&["42"]);
        assert!(e.contains("record 1: not a JSON object"), "{e}");
        let e = bad(&["", " "]);
        assert!(e.contains("no records"), "{e}");
    }

    #[test]
    fn csv_like_the_documented_example() {
        // KDA's documented discovery of data.csv (sch-dis-ref): header names,
        // reserved words renamed, INTEGER / VARCHAR(n), \r\n rows.
        let data = "year,month,state,producer_type,energy_source,units,consumption\r\n\
                    2001,1,AK,TotalElectricPowerIndustry,Coal,ShortTons,47615\r\n\
                    2001,1,AK,ElectricGeneratorsElectricUtilities,Coal,ShortTons,16535\r\n\
                    2001,1,AL,TotalElectricPowerIndustry,Coal,ShortTons,3020601\r\n";
        let s =
            discover_schema(&[data.as_bytes()], &DiscoverOptions::default(), "data.csv").unwrap();
        assert!(s.header);
        assert_eq!(
            s.format,
            RecordFormat::Csv {
                column_delimiter: ",".into(),
                row_delimiter: "\r\n".into()
            }
        );
        assert_eq!(
            cols(&s),
            [
                col("COL_year", "INTEGER", None),
                col("COL_month", "INTEGER", None),
                col("state", "VARCHAR(4)", None),
                col("producer_type", "VARCHAR(64)", None),
                col("energy_source", "VARCHAR(4)", None),
                col("units", "VARCHAR(16)", None),
                col("consumption", "INTEGER", None),
            ]
        );
    }

    #[test]
    fn csv_without_header_delimiter_guessed_and_text_kinds() {
        let lines = [
            "AMZN|12.5|007|true|2024-01-02 10:00:00|",
            "GOOG|3|010|FALSE|2024-01-02 10:00:01|x",
        ];
        let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        let s = discover_schema(&records, &DiscoverOptions::default(), "t.csv").unwrap();
        assert!(!s.header);
        assert_eq!(
            cols(&s),
            [
                col("COL_0", "VARCHAR(4)", None),
                col("COL_1", "DOUBLE", None),
                col("COL_2", "VARCHAR(4)", None),
                col("COL_3", "BOOLEAN", None),
                col("COL_4", "TIMESTAMP", None),
                col("COL_5", "VARCHAR(4)", None),
            ]
        );
        assert_eq!(text_kind("-12"), Some(Kind::Int(false)));
        assert_eq!(text_kind("9999999999"), Some(Kind::Int(true)));
        assert_eq!(text_kind("1e3"), Some(Kind::Float));
        assert_eq!(text_kind("inf"), Some(Kind::Text));
        assert_eq!(text_kind("0"), Some(Kind::Int(false)));
        assert_eq!(text_kind("0.5"), Some(Kind::Float));
        assert_eq!(text_kind(" "), None);
        // Told there is a header: names come from it even for text columns.
        let o = DiscoverOptions {
            header: Some(true),
            ..Default::default()
        };
        let s = discover_schema(&[b"a,b\nx,y\n"], &o, "h.csv").unwrap();
        assert_eq!(cols(&s)[1], col("b", "VARCHAR(4)", None));
    }

    #[test]
    fn printed_sections_parse_back_to_the_same_input_schema() {
        for s in [
            json(&[r#"{"a":{"b":1},"say \"hi\"":"x\\y"}"#]),
            discover_schema(&[b"n;t\r\n1;x\r\n"], &DiscoverOptions::default(), "x.csv").unwrap(),
        ] {
            let text = s.to_toml("SOURCE_SQL_STREAM_001", &[("file", "in.jsonl")]);
            let config = AppConfig::parse(&text, "printed").unwrap();
            let input = &config.inputs().unwrap()[0];
            assert_eq!(input.stream, "SOURCE_SQL_STREAM_001");
            assert_eq!(input.schema, s.input_schema(), "{text}");
            assert_eq!(config.input[0].file.as_deref(), Some("in.jsonl"));
        }
    }

    #[test]
    fn aws_json_has_kda_field_names() {
        let s = json(&[r#"{"A":{"B":"x"}}"#]);
        assert_eq!(
            s.to_aws_json(),
            json!({
                "RecordFormat": {
                    "RecordFormatType": "JSON",
                    "MappingParameters": { "JSONMappingParameters": { "RecordRowPath": "$" } }
                },
                "RecordEncoding": "UTF-8",
                "RecordColumns": [ { "Name": "A_B", "SqlType": "VARCHAR(4)", "Mapping": "$.A.B" } ]
            })
        );
        let s = discover_schema(&[b"1,2"], &DiscoverOptions::default(), "c").unwrap();
        let v = s.to_aws_json();
        assert_eq!(
            v["RecordFormat"]["MappingParameters"]["CSVMappingParameters"]["RecordRowDelimiter"],
            "\n"
        );
        assert_eq!(
            v["RecordColumns"][1],
            json!({ "Name": "COL_1", "SqlType": "INTEGER" })
        );
    }
}
