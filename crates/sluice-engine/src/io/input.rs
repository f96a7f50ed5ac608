//! Input: records (bytes with an arrival time) → rows of a source stream.
//!
//! An [`InputSchema`] is KDA's: a record format (JSON with a RecordRowPath,
//! or CSV with column and row delimiters) and RecordColumns (name, SQL type,
//! JSON path mapping). [`Decoder::decode`] turns a slice of records into one
//! Arrow batch of the stream's schema (ROWTIME, APPROXIMATE_ARRIVAL_TIME,
//! the record metadata PARTITION_KEY, SHARD_ID, SEQUENCE_NUMBER from each
//! [`RecordMeta`], columns), applying KDA's coercion rules (Developer Guide, "Mapping JSON
//! Data Types to SQL Data Types"):
//!
//! - JSON null or a missing field is NULL;
//! - a number or boolean into VARCHAR is its text; an object or array into
//!   VARCHAR is its source text; a string longer than VARCHAR(n) is cut;
//! - a string into a number is parsed; a number that does not fit the
//!   column (`123.4` into INTEGER) is a coercion error;
//! - BOOLEAN takes `true` (any case) as true and other strings as false, 0 as
//!   false and other numbers as true;
//! - DATE/TIME/TIMESTAMP take strings (`1992-02-14`, `1992-02-14 18:35:44.0`,
//!   ISO `T` forms); a number there is a coercion error.
//!
//! A record that fails becomes an [`ErrorRow`] (`Coercion error`, or
//! `Parse error` for bytes that are not JSON); the other records go on.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, Time32MillisecondBuilder, TimestampMillisecondBuilder,
    new_null_array,
};
use datafusion::arrow::compute::kernels::cast_utils::parse_decimal;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, SchemaRef};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::json_flat::{self, FlatValue, Member};
use crate::error::{EngineError, Result};
use crate::errors::{ErrorRow, hex};
use crate::plan::{SOURCE_METADATA, StreamColumn};
use crate::types::SqlType;

/// KDA's RecordFormat.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordFormat {
    /// JSON records; `row_path` is the RecordRowPath (`$` for the whole record).
    Json {
        /// JSONPath of the row inside a record.
        row_path: String,
    },
    /// CSV records, possibly several rows per record.
    Csv {
        /// RecordColumnDelimiter.
        column_delimiter: String,
        /// RecordRowDelimiter.
        row_delimiter: String,
    },
}

/// One of KDA's RecordColumns.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordColumn {
    /// Column name in the in-application stream.
    pub name: String,
    /// SqlType.
    pub sql_type: SqlType,
    /// Mapping: a JSONPath for JSON (`$.a.b`, `$.a[0]`); ignored for CSV
    /// (columns are taken by position).
    pub mapping: Option<String>,
}

/// An input of an application: which source stream it feeds, and how its
/// records map to columns.
#[derive(Debug, Clone)]
pub struct Input {
    /// The in-application stream it feeds, e.g. `SOURCE_SQL_STREAM_001`.
    pub stream: String,
    /// KDA's InputSchema.
    pub schema: InputSchema,
}

impl Input {
    /// The source stream it declares to the planner: its name, and its
    /// columns unless the application code declares the stream.
    pub fn source_decl(&self) -> crate::plan::SourceDecl {
        crate::plan::SourceDecl {
            stream: self.stream.clone(),
            columns: self.schema.stream_columns(),
        }
    }
}

/// KDA's InputSchema; `columns: None` maps the stream's declared columns by name.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSchema {
    /// RecordFormat.
    pub format: RecordFormat,
    /// RecordColumns, or `None` to use the stream's declared columns.
    pub columns: Option<Vec<RecordColumn>>,
}

impl InputSchema {
    /// JSON records, whole record as the row, columns from the stream declaration.
    pub fn json() -> Self {
        Self {
            format: RecordFormat::Json {
                row_path: "$".into(),
            },
            columns: None,
        }
    }

    /// The stream columns this schema defines, if it defines them.
    pub fn stream_columns(&self) -> Option<Vec<StreamColumn>> {
        self.columns.as_ref().map(|cols| {
            cols.iter()
                .map(|c| StreamColumn::new(c.name.clone(), c.sql_type))
                .collect()
        })
    }
}

/// One record to feed: its bytes, its arrival time (ms since epoch) and
/// the Kinesis metadata it came with.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The record's data, as a producer put it.
    pub data: &'a [u8],
    /// Approximate arrival time.
    pub arrival_ms: i64,
    /// Partition key, shard id and sequence number, where the source has them.
    pub meta: RecordMeta<'a>,
}

impl<'a> Record<'a> {
    /// A record with no Kinesis metadata (its metadata columns are NULL).
    pub fn new(data: &'a [u8], arrival_ms: i64) -> Self {
        Self {
            data,
            arrival_ms,
            meta: RecordMeta::default(),
        }
    }
}

/// The Kinesis metadata of a record, as KDA puts it in the source stream's
/// `PARTITION_KEY`, `SHARD_ID` and `SEQUENCE_NUMBER` columns; `None` is NULL
/// (a source that has no such thing, e.g. a file replayed without it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordMeta<'a> {
    /// The partition key the producer gave.
    pub partition_key: Option<&'a str>,
    /// The shard the record was read from.
    pub shard_id: Option<&'a str>,
    /// The record's sequence number in its shard.
    pub sequence_number: Option<&'a str>,
}

impl<'a> RecordMeta<'a> {
    /// The value of metadata column `i` of [`SOURCE_METADATA`].
    fn get(&self, i: usize) -> Option<&'a str> {
        match i {
            0 => self.partition_key,
            1 => self.shard_id,
            _ => self.sequence_number,
        }
    }
}

/// A step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    All,
}

fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let bad = |why: &str| format!("JSON path \"{path}\": {why}");
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| bad("must start with $"))?;
    let mut steps = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return Err(bad("empty name after '.'"));
                }
                steps.push(Step::Key(chars[start..j].iter().collect()));
                i = j;
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| bad("'[' without ']'"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner == "*" || inner == "0:" {
                    steps.push(Step::All);
                } else if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    steps.push(Step::Key(q.to_string()));
                } else {
                    let n = inner
                        .parse()
                        .map_err(|_| bad(&format!("bad index [{inner}]")))?;
                    steps.push(Step::Index(n));
                }
                i = close + 1;
            }
            c => return Err(bad(&format!("unexpected '{c}'"))),
        }
    }
    Ok(steps)
}

/// The value at `steps` below `v`. `[0:]` (or `[*]`) as the last step is
/// the whole array, as KDA reads it ("all of the contents of the array are
/// returned as a single field"); `[0:]` before further steps flattens the
/// array into rows, which only a row path does, so in a column it is NULL.
fn walk<'v>(mut v: &'v serde_json::Value, steps: &[Step]) -> Option<&'v serde_json::Value> {
    for (i, s) in steps.iter().enumerate() {
        v = match s {
            Step::Key(k) => v.get(k)?,
            Step::Index(i) => v.get(*i)?,
            Step::All if i + 1 == steps.len() && v.is_array() => v,
            Step::All => return None,
        };
    }
    Some(v)
}

/// A JSON value as found in a record, before coercion.
#[derive(Debug, Clone)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// An object or array: its source text.
    Composite(Cow<'a, str>),
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => write!(f, "null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Str(s) => write!(f, "\"{s}\""),
            Scalar::Composite(s) => write!(f, "{s}"),
        }
    }
}

fn scalar_from_raw(raw: &RawValue) -> std::result::Result<Scalar<'_>, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<Cow<str>>(text)
            .map(Scalar::Str)
            .map_err(|e| e.to_string()),
        Some(b'n') => Ok(Scalar::Null),
        Some(b't') => Ok(Scalar::Bool(true)),
        Some(b'f') => Ok(Scalar::Bool(false)),
        Some(b'{' | b'[') => Ok(Scalar::Composite(Cow::Borrowed(text))),
        _ => number_scalar(text),
    }
}

fn number_scalar(text: &str) -> std::result::Result<Scalar<'static>, String> {
    if let Ok(i) = text.parse::<i64>() {
        Ok(Scalar::Int(i))
    } else {
        text.parse::<f64>()
            .map(Scalar::Float)
            .map_err(|_| format!("bad number {text}"))
    }
}

fn scalar_from_value(v: &serde_json::Value) -> Scalar<'_> {
    match v {
        serde_json::Value::Null => Scalar::Null,
        serde_json::Value::Bool(b) => Scalar::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
        other => Scalar::Composite(Cow::Owned(other.to_string())),
    }
}

/// A value coerced to its column's type, ready to append.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(i128),
    Str(Cow<'a, str>),
    Bytes(Vec<u8>),
    Days(i32),
    Millis(i64),
}

/// Parses KDA's datetime strings to ms since the epoch (UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

fn parse_time(s: &str) -> Option<i32> {
    for f in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(t) = chrono::NaiveTime::parse_from_str(s.trim(), f) {
            use chrono::Timelike;
            return Some(
                (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32,
            );
        }
    }
    None
}

fn coerce<'a>(v: Scalar<'a>, t: SqlType) -> std::result::Result<Cell<'a>, String> {
    let fail = |v: &Scalar| format!("cannot coerce {v} to {t}");
    let int_range = |i: i64| -> bool {
        match t {
            SqlType::TinyInt => i8::try_from(i).is_ok(),
            SqlType::SmallInt => i16::try_from(i).is_ok(),
            SqlType::Integer => i32::try_from(i).is_ok(),
            _ => true,
        }
    };
    Ok(match (t, v) {
        (_, Scalar::Null) => Cell::Null,
        (SqlType::Boolean, Scalar::Bool(b)) => Cell::Bool(b),
        (SqlType::Boolean, Scalar::Int(i)) => Cell::Bool(i != 0),
        (SqlType::Boolean, Scalar::Float(x)) => Cell::Bool(x != 0.0),
        (SqlType::Boolean, Scalar::Str(s)) => Cell::Bool(s.trim().eq_ignore_ascii_case("true")),
        (SqlType::TinyInt | SqlType::SmallInt | SqlType::Integer | SqlType::BigInt, v) => {
            let i = match &v {
                Scalar::Int(i) => Some(*i),
                Scalar::Bool(b) => Some(i64::from(*b)),
                Scalar::Float(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => Some(*x as i64),
                Scalar::Str(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match i {
                Some(i) if int_range(i) => Cell::Int(i),
                _ => return Err(fail(&v)),
            }
        }
        (SqlType::Real | SqlType::Double, v) => match &v {
            Scalar::Int(i) => Cell::Float(*i as f64),
            Scalar::Float(x) => Cell::Float(*x),
            Scalar::Bool(b) => Cell::Float(if *b { 1.0 } else { 0.0 }),
            Scalar::Str(s) => Cell::Float(s.trim().parse().map_err(|_| fail(&v))?),
            _ => return Err(fail(&v)),
        },
        (SqlType::Decimal(p, s), v) => {
            let text = match &v {
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(x) => x.to_string(),
                Scalar::Str(x) => x.trim().to_string(),
                _ => return Err(fail(&v)),
            };
            Cell::Decimal(parse_decimal::<Decimal128Type>(&text, p, s).map_err(|_| fail(&v))?)
        }
        (SqlType::Char(n) | SqlType::Varchar(n), v) => {
            let s: Cow<'a, str> = match v {
                Scalar::Str(s) | Scalar::Composite(s) => s,
                Scalar::Int(i) => Cow::Owned(i.to_string()),
                Scalar::Float(x) => Cow::Owned(x.to_string()),
                Scalar::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
                Scalar::Null => return Ok(Cell::Null),
            };
            let n = n as usize;
            if s.len() > n
                && let Some((cut, _)) = s.char_indices().nth(n)
            {
                return Ok(Cell::Str(match s {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[..cut]),
                    Cow::Owned(o) => Cow::Owned(o[..cut].to_string()),
                }));
            }
            Cell::Str(s)
        }
        (SqlType::Varbinary(n), Scalar::Str(s)) => {
            let mut b = s.as_bytes().to_vec();
            b.truncate(n as usize);
            Cell::Bytes(b)
        }
        (SqlType::Timestamp, Scalar::Str(s)) => {
            Cell::Millis(parse_timestamp(&s).ok_or_else(|| fail(&Scalar::Str(s.clone())))?)
        }
        (SqlType::Date, Scalar::Str(s)) => {
            let ms = parse_timestamp(&s).ok_or_else(|| fail(&Scalar::Str(s.clone())))?;
            Cell::Days(ms.div_euclid(86_400_000) as i32)
        }
        (SqlType::Time, Scalar::Str(s)) => Cell::Millis(i64::from(
            parse_time(&s).ok_or_else(|| fail(&Scalar::Str(s.clone())))?,
        )),
        (_, v) => return Err(fail(&v)),
    })
}

/// An Arrow builder for one column.
enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Time(Time32MillisecondBuilder),
    Timestamp(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    /// A builder for `t` with room for `rows` values (one per record is
    /// the usual case).
    fn new(t: SqlType, rows: usize) -> Self {
        match t {
            SqlType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(rows)),
            SqlType::TinyInt => Self::Int8(Int8Builder::with_capacity(rows)),
            SqlType::SmallInt => Self::Int16(Int16Builder::with_capacity(rows)),
            SqlType::Integer => Self::Int32(Int32Builder::with_capacity(rows)),
            SqlType::BigInt => Self::Int64(Int64Builder::with_capacity(rows)),
            SqlType::Real => Self::Float32(Float32Builder::with_capacity(rows)),
            SqlType::Double => Self::Float64(Float64Builder::with_capacity(rows)),
            SqlType::Decimal(p, s) => Self::Decimal(Decimal128Builder::with_capacity(rows), p, s),
            SqlType::Char(_) | SqlType::Varchar(_) => {
                Self::Utf8(StringBuilder::with_capacity(rows, rows * 8))
            }
            SqlType::Varbinary(_) => Self::Binary(BinaryBuilder::with_capacity(rows, rows * 8)),
            SqlType::Date => Self::Date(Date32Builder::with_capacity(rows)),
            SqlType::Time => Self::Time(Time32MillisecondBuilder::with_capacity(rows)),
            SqlType::Timestamp => Self::Timestamp(TimestampMillisecondBuilder::with_capacity(rows)),
        }
    }

    /// Appends a cell produced by [`coerce`] for this column's type.
    fn append(&mut self, c: &Cell) {
        match (self, c) {
            (Self::Boolean(b), Cell::Bool(v)) => b.append_value(*v),
            (Self::Int8(b), Cell::Int(v)) => b.append_value(*v as i8),
            (Self::Int16(b), Cell::Int(v)) => b.append_value(*v as i16),
            (Self::Int32(b), Cell::Int(v)) => b.append_value(*v as i32),
            (Self::Int64(b), Cell::Int(v)) => b.append_value(*v),
            (Self::Float32(b), Cell::Float(v)) => b.append_value(*v as f32),
            (Self::Float64(b), Cell::Float(v)) => b.append_value(*v),
            (Self::Decimal(b, _, _), Cell::Decimal(v)) => b.append_value(*v),
            (Self::Utf8(b), Cell::Str(v)) => b.append_value(v),
            (Self::Binary(b), Cell::Bytes(v)) => b.append_value(v),
            (Self::Date(b), Cell::Days(v)) => b.append_value(*v),
            (Self::Time(b), Cell::Millis(v)) => b.append_value(*v as i32),
            (Self::Timestamp(b), Cell::Millis(v)) => b.append_value(*v),
            (s, _) => s.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Boolean(b) => b.append_null(),
            Self::Int8(b) => b.append_null(),
            Self::Int16(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Float32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Decimal(b, _, _) => b.append_null(),
            Self::Utf8(b) => b.append_null(),
            Self::Binary(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Time(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Int8(b) => Arc::new(b.finish()),
            Self::Int16(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Float32(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
            Self::Decimal(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .unwrap_or_else(|_| Decimal128Builder::new().finish()),
            ),
            Self::Utf8(b) => Arc::new(b.finish()),
            Self::Binary(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Time(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Boolean(b) => b.len(),
            Self::Int8(b) => b.len(),
            Self::Int16(b) => b.len(),
            Self::Int32(b) => b.len(),
            Self::Int64(b) => b.len(),
            Self::Float32(b) => b.len(),
            Self::Float64(b) => b.len(),
            Self::Decimal(b, _, _) => b.len(),
            Self::Utf8(b) => b.len(),
            Self::Binary(b) => b.len(),
            Self::Date(b) => b.len(),
            Self::Time(b) => b.len(),
            Self::Timestamp(b) => b.len(),
        }
    }
}

/// The columns fed by one top-level JSON key.
struct KeyColumns {
    key: String,
    columns: Vec<usize>,
    /// Read the value as raw text (else straight into a [`Scalar`]).
    raw: bool,
}

/// A column as the decoder reads it.
struct DecodeColumn {
    name: String,
    sql_type: SqlType,
    path: Vec<Step>,
}

/// Decodes records of one input into batches of its source stream.
pub struct Decoder {
    stream: String,
    format: RecordFormat,
    row_path: Vec<Step>,
    columns: Vec<DecodeColumn>,
    /// First path step → columns whose path starts there (JSON fast path;
    /// a short list scanned linearly beats hashing for a handful of keys).
    by_key: Vec<KeyColumns>,
    /// Every column's path is keys only (`$.a.b`, no `[0]` or `[0:]`), so
    /// the fast path can read nested objects.
    keys_only: bool,
    /// The record-metadata columns of the batch (after ROWTIME and
    /// APPROXIMATE_ARRIVAL_TIME), as indexes into [`SOURCE_METADATA`].
    metadata: Vec<usize>,
    schema: SchemaRef,
}

impl Decoder {
    /// A decoder for `schema`, feeding a stream whose columns are `stream_columns`
    /// and whose batch schema is `batch_schema`.
    pub fn new(
        stream: &str,
        schema: &InputSchema,
        stream_columns: &[StreamColumn],
        batch_schema: SchemaRef,
    ) -> Result<Self> {
        let config = |message: String| EngineError::Config {
            context: format!("input \"{stream}\""),
            message,
        };
        let row_path = match &schema.format {
            RecordFormat::Json { row_path } => parse_path(row_path).map_err(config)?,
            RecordFormat::Csv {
                column_delimiter,
                row_delimiter,
            } => {
                if column_delimiter.is_empty() || row_delimiter.is_empty() {
                    return Err(config("CSV delimiters must not be empty".into()));
                }
                Vec::new()
            }
        };
        // Batch fields: ROWTIME, APPROXIMATE_ARRIVAL_TIME, metadata, columns.
        let n_meta = batch_schema
            .fields()
            .len()
            .saturating_sub(2 + stream_columns.len());
        let metadata = batch_schema.fields()[2..2 + n_meta]
            .iter()
            .map(|f| {
                SOURCE_METADATA
                    .iter()
                    .position(|(name, _)| name == f.name())
                    .ok_or_else(|| config(format!("\"{}\" is not a metadata column", f.name())))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut columns = Vec::new();
        for c in stream_columns {
            let mapping = schema
                .columns
                .as_ref()
                .and_then(|cols| cols.iter().find(|rc| rc.name == c.name))
                .and_then(|rc| rc.mapping.clone());
            let path = match mapping {
                Some(m) => parse_path(&m).map_err(|e| config(format!("column {}: {e}", c.name)))?,
                None => vec![Step::Key(c.name.clone())],
            };
            columns.push(DecodeColumn {
                name: c.name.clone(),
                sql_type: c.sql_type,
                path,
            });
        }
        let mut by_key: Vec<KeyColumns> = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            if let Some(Step::Key(k)) = c.path.first() {
                match by_key.iter_mut().find(|e| e.key == *k) {
                    Some(e) => e.columns.push(i),
                    None => by_key.push(KeyColumns {
                        key: k.clone(),
                        columns: vec![i],
                        raw: false,
                    }),
                }
            }
        }
        // Values read as raw JSON text: nested paths, and character columns
        // (an object or array into VARCHAR is its source text).
        for e in by_key.iter_mut() {
            e.raw = e.columns.iter().any(|&i| {
                columns[i].path.len() > 1
                    || matches!(columns[i].sql_type, SqlType::Char(_) | SqlType::Varchar(_))
            });
        }
        Ok(Self {
            stream: stream.to_string(),
            format: schema.format.clone(),
            row_path,
            keys_only: columns
                .iter()
                .all(|c| c.path.iter().all(|s| matches!(s, Step::Key(_)))),
            columns,
            by_key,
            metadata,
            schema: batch_schema,
        })
    }

    /// Decodes records into one batch (`rowtimes[i]` is the ROWTIME of
    /// record `i`), and error rows for records that could not be mapped.
    pub fn decode<'a>(
        &self,
        records: &[Record<'a>],
        rowtimes: &[i64],
    ) -> Result<(RecordBatch, Vec<ErrorRow>)> {
        let mut builders: Vec<ColumnBuilder> = self
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.sql_type, records.len()))
            .collect();
        let mut rowtime_col = TimestampMillisecondBuilder::with_capacity(records.len());
        let mut arrivals = TimestampMillisecondBuilder::with_capacity(records.len());
        // A metadata column no record has is one NULL array, built at the end.
        let mut meta: Vec<Option<StringBuilder>> = self
            .metadata
            .iter()
            .map(|&m| {
                records
                    .iter()
                    .any(|r| r.meta.get(m).is_some())
                    .then(|| StringBuilder::with_capacity(records.len(), 0))
            })
            .collect();
        let any_meta = meta.iter().any(Option::is_some);
        let mut errors = Vec::new();
        let mut cells: Vec<Cell<'a>> = Vec::with_capacity(self.columns.len());
        let mut slots: Vec<Option<Scalar<'a>>> = vec![None; self.columns.len()];
        for (k, r) in records.iter().enumerate() {
            let rt = rowtimes.get(k).copied().unwrap_or(r.arrival_ms);
            let before = builders.first().map_or(0, ColumnBuilder::len);
            let result = match &self.format {
                RecordFormat::Json { .. } => {
                    self.json_rows(r.data, &mut slots, &mut cells, &mut builders)
                }
                RecordFormat::Csv {
                    column_delimiter,
                    row_delimiter,
                } => self.csv_rows(
                    r.data,
                    column_delimiter,
                    row_delimiter,
                    &mut cells,
                    &mut builders,
                ),
            };
            let after = builders.first().map_or(0, ColumnBuilder::len);
            let added = if self.columns.is_empty() {
                usize::from(result.is_ok())
            } else {
                after - before
            };
            for _ in 0..added {
                rowtime_col.append_value(rt);
                arrivals.append_value(r.arrival_ms);
            }
            if any_meta {
                for (b, &m) in meta.iter_mut().zip(&self.metadata) {
                    if let Some(b) = b {
                        for _ in 0..added {
                            b.append_option(r.meta.get(m));
                        }
                    }
                }
            }
            if let Err((name, message)) = result {
                errors.push(ErrorRow {
                    level: "WARNING",
                    name,
                    message: format!("input \"{}\": {message}", self.stream),
                    data_rowtime: Some(rt),
                    data_row: hex(r.data),
                    pump: None,
                });
            }
        }
        let rows = rowtime_col.len();
        let mut arrays: Vec<ArrayRef> =
            vec![Arc::new(rowtime_col.finish()), Arc::new(arrivals.finish())];
        arrays.extend(meta.iter_mut().map(|b| match b {
            Some(b) => Arc::new(b.finish()) as ArrayRef,
            None => new_null_array(&DataType::Utf8, rows),
        }));
        arrays.extend(builders.iter_mut().map(ColumnBuilder::finish));
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(|e| {
            EngineError::BatchSchema {
                stream: self.stream.clone(),
                message: e.to_string(),
            }
        })?;
        Ok((batch, errors))
    }

    fn push_row<'a>(
        &self,
        cells: &mut Vec<Cell<'a>>,
        values: impl Iterator<Item = Scalar<'a>>,
        builders: &mut [ColumnBuilder],
    ) -> std::result::Result<(), (&'static str, String)> {
        cells.clear();
        for (c, v) in self.columns.iter().zip(values) {
            // The common cases first; coerce has every rule.
            let cell = match (v, c.sql_type) {
                (Scalar::Null, _) => Cell::Null,
                (Scalar::Int(i), SqlType::BigInt) => Cell::Int(i),
                (Scalar::Int(i), SqlType::Integer) if i32::try_from(i).is_ok() => Cell::Int(i),
                (Scalar::Float(x), SqlType::Double) => Cell::Float(x),
                (v, t) => coerce(v, t)
                    .map_err(|m| ("Coercion error", format!("column \"{}\": {m}", c.name)))?,
            };
            cells.push(cell);
        }
        for (b, cell) in builders.iter_mut().zip(cells.iter()) {
            match cell {
                Cell::Null => b.append_null(),
                c => b.append(c),
            }
        }
        Ok(())
    }

    fn json_rows<'a>(
        &self,
        data: &'a [u8],
        slots: &mut [Option<Scalar<'a>>],
        cells: &mut Vec<Cell<'a>>,
        builders: &mut [ColumnBuilder],
    ) -> std::result::Result<(), (&'static str, String)> {
        let parse_error =
            |e: serde_json::Error| ("Parse error", format!("record is not valid JSON: {e}"));
        if self.row_path.is_empty() {
            // Fastest path: a flat object of scalars, scanned by hand.
            slots.iter_mut().for_each(|s| *s = None);
            if self.flat_row(data, slots).is_some() {
                return self.push_row(
                    cells,
                    slots.iter_mut().map(|s| s.take().unwrap_or(Scalar::Null)),
                    builders,
                );
            }
            // Fast path: read the top-level object once, borrowing values.
            slots.iter_mut().for_each(|s| *s = None);
            let mut de = serde_json::Deserializer::from_slice(data);
            let mut nested: Vec<(usize, Box<RawValue>)> = Vec::new();
            RowSeed {
                decoder: self,
                slots,
                nested: &mut nested,
            }
            .deserialize(&mut de)
            .map_err(parse_error)?;
            de.end().map_err(parse_error)?;
            let mut owned: Vec<(usize, Scalar<'static>)> = Vec::new();
            for (key_col, raw) in nested {
                let v: serde_json::Value = serde_json::from_str(raw.get()).map_err(parse_error)?;
                let Some(Step::Key(k)) = self.columns[key_col].path.first() else {
                    continue;
                };
                let Some(entry) = self.by_key.iter().find(|e| e.key == *k) else {
                    continue;
                };
                for &ci in &entry.columns {
                    let c = &self.columns[ci];
                    if c.path.len() > 1 {
                        let s = walk(&v, &c.path[1..]).map(scalar_from_value);
                        owned.push((ci, s.map(into_owned).unwrap_or(Scalar::Null)));
                    }
                }
            }
            for (ci, s) in owned {
                slots[ci] = Some(s);
            }
            return self.push_row(
                cells,
                slots.iter_mut().map(|s| s.take().unwrap_or(Scalar::Null)),
                builders,
            );
        }
        let v: serde_json::Value = serde_json::from_slice(data).map_err(parse_error)?;
        let rows: Vec<serde_json::Value> = match self.row_path.iter().position(|s| *s == Step::All)
        {
            Some(p) => match walk(&v, &self.row_path[..p]) {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|item| walk(item, &self.row_path[p + 1..]).cloned())
                    .collect(),
                _ => return Err(("Parse error", "row path does not lead to an array".into())),
            },
            None => match walk(&v, &self.row_path) {
                Some(row) => vec![row.clone()],
                None => return Err(("Parse error", "row path not found in record".into())),
            },
        };
        for row in &rows {
            let values: Vec<Scalar<'static>> = self
                .columns
                .iter()
                .map(|c| {
                    walk(row, &c.path)
                        .map(scalar_from_value)
                        .map(into_owned)
                        .unwrap_or(Scalar::Null)
                })
                .collect();
            self.push_row(cells, values.into_iter(), builders)?;
        }
        Ok(())
    }

    /// A record's mapped members into `slots`, as the serde_json reading
    /// below would put them there; `None` leaves the record to it (see
    /// [`json_flat`]). A member reached by a nested path is read as
    /// serde_json's `Value` holds it; an object whose source text a column
    /// takes (mapped to the object itself) is left to serde_json.
    fn flat_row<'a>(&self, data: &'a [u8], slots: &mut [Option<Scalar<'a>>]) -> Option<()> {
        json_flat::scan(data, |path, member| {
            let Some(entry) = self.by_key.iter().find(|e| same_key(&e.key, path[0])) else {
                return Some(());
            };
            let value = match member {
                Member::Scalar(v) => v,
                Member::Object => return self.enter_object(&entry.columns, path, slots),
            };
            if path.len() > 1 {
                return self.nested_scalar(&entry.columns, path, value, slots);
            }
            let scalar = match value {
                FlatValue::Null => Scalar::Null,
                FlatValue::Bool(b) => Scalar::Bool(b),
                FlatValue::Str(s) => Scalar::Str(Cow::Borrowed(s)),
                FlatValue::Int(i) => Scalar::Int(i),
                // Raw text, as scalar_from_raw reads it.
                FlatValue::Float(t) if entry.raw => number_scalar(t).ok()?,
                // As serde_json reads a number in place.
                FlatValue::Float(t) => Scalar::Float(serde_json::from_str::<f64>(t).ok()?),
            };
            if let [ci] = entry.columns[..]
                && self.columns[ci].path.len() == 1
            {
                slots[ci] = Some(scalar);
                return Some(());
            }
            for &ci in &entry.columns {
                // A deeper path into a scalar finds nothing.
                slots[ci] = Some(if self.columns[ci].path.len() == 1 {
                    scalar.clone()
                } else {
                    Scalar::Null
                });
            }
            Some(())
        })
    }

    /// The columns of `columns` whose path runs through `path`: with the
    /// length of their path.
    fn under<'c>(
        &'c self,
        columns: &'c [usize],
        path: &'c [&str],
    ) -> impl Iterator<Item = (usize, usize)> + 'c {
        columns.iter().filter_map(move |&ci| {
            let steps = &self.columns[ci].path;
            let through = steps.len() >= path.len()
                && steps.iter().zip(path).all(|(s, k)| match s {
                    Step::Key(sk) => same_key(sk, k),
                    _ => false,
                });
            through.then_some((ci, steps.len()))
        })
    }

    /// An object starts at `path`: what an earlier member of the same key
    /// gave the columns below it is forgotten (serde_json keeps the last
    /// of duplicate keys whole). `None` when a column maps the object
    /// itself (it takes the source text) or a path has an index.
    fn enter_object(
        &self,
        columns: &[usize],
        path: &[&str],
        slots: &mut [Option<Scalar<'_>>],
    ) -> Option<()> {
        if !self.keys_only {
            return None;
        }
        for (ci, len) in self.under(columns, path) {
            if len == path.len() {
                return None;
            }
            slots[ci] = None;
        }
        Some(())
    }

    /// A scalar at a nested `path`: the value of the columns mapped to
    /// it, as `scalar_from_value` reads serde_json's `Value`; NULL for
    /// columns whose path goes deeper.
    fn nested_scalar<'a>(
        &self,
        columns: &[usize],
        path: &[&str],
        value: FlatValue<'a>,
        slots: &mut [Option<Scalar<'a>>],
    ) -> Option<()> {
        let scalar = match value {
            FlatValue::Null => Scalar::Null,
            FlatValue::Bool(b) => Scalar::Bool(b),
            FlatValue::Str(s) => Scalar::Str(Cow::Borrowed(s)),
            FlatValue::Int(i) => Scalar::Int(i),
            FlatValue::Float(t) => Scalar::Float(serde_json::from_str::<f64>(t).ok()?),
        };
        for (ci, len) in self.under(columns, path) {
            slots[ci] = Some(if len == path.len() {
                scalar.clone()
            } else {
                Scalar::Null
            });
        }
        Some(())
    }

    fn csv_rows<'a>(
        &self,
        data: &'a [u8],
        column_delimiter: &str,
        row_delimiter: &str,
        cells: &mut Vec<Cell<'a>>,
        builders: &mut [ColumnBuilder],
    ) -> std::result::Result<(), (&'static str, String)> {
        let text = std::str::from_utf8(data)
            .map_err(|e| ("Parse error", format!("record is not UTF-8: {e}")))?;
        let rows: Vec<&str> = text
            .split(row_delimiter)
            .filter(|r| !r.trim_end_matches('\r').is_empty())
            .collect();
        for row in rows {
            let row = row.trim_end_matches('\r');
            let fields = split_csv(row, column_delimiter);
            let values: Vec<Scalar> = (0..self.columns.len())
                .map(|i| match fields.get(i) {
                    Some(f) => Scalar::Str(Cow::Owned(f.clone())),
                    None => Scalar::Null,
                })
                .collect();
            self.push_row(cells, values.into_iter(), builders)?;
        }
        Ok(())
    }
}

/// `a == b`, byte by byte: keys are short, and a call to `memcmp` costs
/// more than comparing them.
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Splits one CSV row; double-quoted fields may hold the delimiter and `""`.
pub(crate) fn split_csv(row: &str, delimiter: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut rest = row;
    while !rest.is_empty() {
        if in_quotes {
            if let Some(r) = rest.strip_prefix("\"\"") {
                cur.push('"');
                rest = r;
            } else if let Some(r) = rest.strip_prefix('"') {
                in_quotes = false;
                rest = r;
            } else {
                let c = rest.chars().next().unwrap_or('\0');
                cur.push(c);
                rest = &rest[c.len_utf8()..];
            }
        } else if let Some(r) = rest.strip_prefix(delimiter) {
            out.push(std::mem::take(&mut cur));
            rest = r;
        } else if rest.starts_with('"') && cur.trim().is_empty() {
            cur.clear();
            in_quotes = true;
            rest = &rest[1..];
        } else {
            let c = rest.chars().next().unwrap_or('\0');
            cur.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push(cur);
    out
}

fn into_owned(s: Scalar<'_>) -> Scalar<'static> {
    match s {
        Scalar::Null => Scalar::Null,
        Scalar::Bool(b) => Scalar::Bool(b),
        Scalar::Int(i) => Scalar::Int(i),
        Scalar::Float(x) => Scalar::Float(x),
        Scalar::Str(s) => Scalar::Str(Cow::Owned(s.into_owned())),
        Scalar::Composite(s) => Scalar::Composite(Cow::Owned(s.into_owned())),
    }
}

/// Reads a top-level JSON object, keeping only mapped keys.
struct RowSeed<'d, 's, 'a> {
    decoder: &'d Decoder,
    slots: &'s mut [Option<Scalar<'a>>],
    nested: &'s mut Vec<(usize, Box<RawValue>)>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RowSeed<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RowSeed<'_, '_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> std::result::Result<(), M::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.decoder.by_key.iter().find(|e| e.key == key.0.as_ref()) {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(entry) if !entry.raw => {
                    let v = map.next_value_seed(ScalarSeed)?;
                    for &ci in &entry.columns {
                        self.slots[ci] = Some(v.clone());
                    }
                }
                Some(entry) => {
                    let raw: &'de RawValue = map.next_value()?;
                    let mut deeper = false;
                    for &ci in &entry.columns {
                        if self.decoder.columns[ci].path.len() == 1 {
                            let s = scalar_from_raw(raw).map_err(serde::de::Error::custom)?;
                            self.slots[ci] = Some(s);
                        } else {
                            deeper = true;
                        }
                    }
                    if deeper {
                        self.nested.push((entry.columns[0], raw.to_owned()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// An object key, borrowed from the record unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a JSON value straight into a [`Scalar`] (no raw text kept; an
/// object or array becomes a composite that no non-character type accepts).
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Scalar<'de>, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Float(v as f64),
        })
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_unit<E>(self) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_map<M: MapAccess<'de>>(
        self,
        mut map: M,
    ) -> std::result::Result<Scalar<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite(Cow::Borrowed("{...}")))
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(
        self,
        mut seq: S,
    ) -> std::result::Result<Scalar<'de>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite(Cow::Borrowed("[...]")))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Float64Type, Int32Type};

    use super::*;
    use crate::errors::ErrorRow;
    use crate::io::output::batch_json_lines;
    use crate::plan::{SourceDecl, StreamDef};

    fn decoder(schema: InputSchema, cols: Vec<StreamColumn>) -> Decoder {
        let plan = crate::plan::AppPlan::new(
            "",
            &[SourceDecl {
                stream: "S".into(),
                columns: Some(cols.clone()),
            }],
        )
        .unwrap();
        let s: &StreamDef = &plan.streams[0];
        Decoder::new("S", &schema, &cols, Arc::clone(&s.schema)).unwrap()
    }

    fn rec(data: &str) -> Record<'_> {
        Record::new(data.as_bytes(), 1_000)
    }

    /// The first user column of a source batch: after ROWTIME,
    /// APPROXIMATE_ARRIVAL_TIME and the record-metadata columns.
    const U: usize = 2 + SOURCE_METADATA.len();

    #[test]
    fn record_metadata_fills_its_columns_or_null() {
        let cols = vec![StreamColumn::new("A", SqlType::Integer)];
        let schema = InputSchema {
            format: RecordFormat::Csv {
                column_delimiter: ",".into(),
                row_delimiter: "\n".into(),
            },
            columns: None,
        };
        let d = decoder(schema, cols);
        let keyed = Record {
            meta: RecordMeta {
                partition_key: Some("k1"),
                shard_id: Some("shardId-000000000001"),
                sequence_number: Some("49590338271490256608559692538361571095921575989136588898"),
            },
            ..rec("1")
        };
        // Two rows from one record: both carry its metadata.
        let (b, _) = d
            .decode(&[keyed, rec("3"), rec("4\n5")], &[1_000; 3])
            .unwrap();
        assert_eq!(b.num_rows(), 4);
        let schema = b.schema();
        let names: Vec<&str> = schema.fields()[2..U]
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["PARTITION_KEY", "SHARD_ID", "SEQUENCE_NUMBER"]);
        assert_eq!(b.column(2).as_string::<i32>().value(0), "k1");
        assert_eq!(
            b.column(3).as_string::<i32>().value(0),
            "shardId-000000000001"
        );
        assert!(b.column(4).as_string::<i32>().value(0).starts_with("4959"));
        assert!((1..4).all(|r| (2..U).all(|c| b.column(c).is_null(r))));
        assert_eq!(b.column(U).as_primitive::<Int32Type>().value(3), 5);
        // No record has metadata: the columns are all NULL.
        let (b, _) = d.decode(&[rec("1")], &[1_000]).unwrap();
        assert!((2..U).all(|c| b.column(c).null_count() == 1));
    }

    #[test]
    fn json_mappings_nested_and_coerced() {
        let cols = vec![
            StreamColumn::new("T", SqlType::Varchar(3)),
            StreamColumn::new("P", SqlType::Double),
            StreamColumn::new("N", SqlType::Integer),
            StreamColumn::new("FIRST", SqlType::Integer),
        ];
        let schema = InputSchema {
            format: RecordFormat::Json {
                row_path: "$".into(),
            },
            columns: Some(vec![
                RecordColumn {
                    name: "T".into(),
                    sql_type: SqlType::Varchar(3),
                    mapping: Some("$.ticker".into()),
                },
                RecordColumn {
                    name: "P".into(),
                    sql_type: SqlType::Double,
                    mapping: Some("$.q.price".into()),
                },
                RecordColumn {
                    name: "N".into(),
                    sql_type: SqlType::Integer,
                    mapping: Some("$.n".into()),
                },
                RecordColumn {
                    name: "FIRST".into(),
                    sql_type: SqlType::Integer,
                    mapping: Some("$.xs[0]".into()),
                },
            ]),
        };
        let d = decoder(schema, cols);
        let (b, errors) = d
            .decode(
                &[
                    rec(r#"{"ticker":"AMZNX","q":{"price":"12.5"},"n":"7","xs":[4,5]}"#),
                    rec(r#"{"ticker":"A","n":"abc"}"#),
                    rec(r#"{"ticker": 12, "n": null}"#),
                    rec("not json"),
                ],
                &[1_000; 4],
            )
            .unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(U).as_string::<i32>().value(0), "AMZ");
        assert_eq!(b.column(U + 1).as_primitive::<Float64Type>().value(0), 12.5);
        assert_eq!(b.column(U + 2).as_primitive::<Int32Type>().value(0), 7);
        assert_eq!(b.column(U + 3).as_primitive::<Int32Type>().value(0), 4);
        assert_eq!(b.column(U).as_string::<i32>().value(1), "12");
        assert!(b.column(U + 2).is_null(1));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].name, "Coercion error");
        assert!(
            errors[0].message.contains("column \"N\""),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[1].name, "Parse error");
        assert_eq!(errors[1].data_row, "6E6F74206A736F6E");
    }

    #[test]
    fn nested_objects_read_by_the_fast_path_as_by_serde_json() {
        // Each record twice: as it is (the hand scanner reads it), and with
        // its first key spelled with an escape (which only serde_json
        // reads): the rows must be the same.
        let mapped = [
            ("E", SqlType::Integer, "$.e"),
            ("ID", SqlType::BigInt, "$.bid.auction"),
            ("PRICE", SqlType::Double, "$.bid.price"),
            ("NAME", SqlType::Varchar(8), "$.bid.who.name"),
            ("FLAG", SqlType::Boolean, "$.bid.who.ok"),
            ("WHO", SqlType::Varchar(32), "$.person"),
        ];
        let cols: Vec<StreamColumn> = mapped
            .iter()
            .map(|(n, t, _)| StreamColumn::new(*n, *t))
            .collect();
        let schema = InputSchema {
            format: RecordFormat::Json {
                row_path: "$".into(),
            },
            columns: Some(
                mapped
                    .iter()
                    .map(|(n, t, m)| RecordColumn {
                        name: (*n).into(),
                        sql_type: *t,
                        mapping: Some((*m).into()),
                    })
                    .collect(),
            ),
        };
        let d = decoder(schema, cols);
        let records = [
            r#"{"e":2,"bid":{"auction":7,"price":12.25,"who":{"name":"ann","ok":true}},"person":null}"#,
            r#"{"e":2,"bid":{"auction":7,"price":1e2,"who":"nobody"},"person":"x"}"#,
            r#"{"e":2,"bid":{"price":3,"auction":null},"other":{"deep":{"er":1}}}"#,
            r#"{"e":1,"bid":null,"person":{"id":4}}"#,
            r#"{"e":1,"bid":{"auction":1,"who":{"name":"a"}},"bid":{"price":2.5}}"#,
            r#"{"e":0,"bid":{"auction":1,"auction":2,"who":{}}}"#,
            r#"{"e":0,"bid":{"auction":"12","price":"x"}}"#,
        ];
        // ROWTIME (which batch_json_lines leaves out) and the columns.
        let columns: Vec<usize> = std::iter::once(0).chain(U..U + 6).collect();
        let as_text = |b: &RecordBatch| batch_json_lines(&b.project(&columns).unwrap(), false);
        for r in records {
            let escaped = r.replacen(r#"{"e""#, r#"{"\u0065""#, 1);
            let (fast, fast_errors) = d.decode(&[rec(r)], &[1_000]).unwrap();
            let (slow, slow_errors) = d.decode(&[rec(&escaped)], &[1_000]).unwrap();
            assert_eq!(as_text(&fast), as_text(&slow), "{r}");
            let messages = |e: &[ErrorRow]| e.iter().map(|e| e.message.clone()).collect::<Vec<_>>();
            assert_eq!(messages(&fast_errors), messages(&slow_errors), "{r}");
        }
        let (b, _) = d.decode(&[rec(records[0])], &[1_000]).unwrap();
        assert_eq!(
            as_text(&b).trim(),
            r#"{"E": 2, "ID": 7, "PRICE": 12.25, "NAME": "ann", "FLAG": true, "WHO": null}"#
        );
    }

    #[test]
    fn an_array_mapped_with_a_trailing_all_index_is_read_whole() {
        let cols = vec![
            StreamColumn::new("TAGS", SqlType::Varchar(16)),
            StreamColumn::new("DEEP", SqlType::Varchar(16)),
        ];
        let schema = InputSchema {
            format: RecordFormat::Json {
                row_path: "$".into(),
            },
            columns: Some(vec![
                RecordColumn {
                    name: "TAGS".into(),
                    sql_type: SqlType::Varchar(16),
                    mapping: Some("$.tags[0:]".into()),
                },
                RecordColumn {
                    name: "DEEP".into(),
                    sql_type: SqlType::Varchar(16),
                    mapping: Some("$.tags[0:].x".into()),
                },
            ]),
        };
        let d = decoder(schema, cols);
        let (b, errors) = d
            .decode(
                &[rec(r#"{"tags": ["a", 2]}"#), rec(r#"{"tags": "no"}"#)],
                &[1_000; 2],
            )
            .unwrap();
        assert!(errors.is_empty());
        assert_eq!(b.column(U).as_string::<i32>().value(0), r#"["a",2]"#);
        assert!(b.column(U + 1).is_null(0));
        assert!(b.column(U).is_null(1));
    }

    #[test]
    fn csv_rows_split_and_quoted() {
        let cols = vec![
            StreamColumn::new("A", SqlType::Varchar(10)),
            StreamColumn::new("B", SqlType::Integer),
        ];
        let schema = InputSchema {
            format: RecordFormat::Csv {
                column_delimiter: ",".into(),
                row_delimiter: "\n".into(),
            },
            columns: None,
        };
        let d = decoder(schema, cols);
        let (b, errors) = d.decode(&[rec("\"x,y\",1\nz,2\n")], &[1_000]).unwrap();
        assert!(errors.is_empty());
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(U).as_string::<i32>().value(0), "x,y");
        assert_eq!(b.column(U + 1).as_primitive::<Int32Type>().value(1), 2);
    }

    #[test]
    fn timestamps_in_kda_forms() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.5"), Some(1_500));
        assert_eq!(parse_timestamp("1970-01-01T00:00:02"), Some(2_000));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:03Z"), Some(3_000));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
