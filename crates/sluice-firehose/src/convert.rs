//! Record format conversion (AWS's `DataFormatConversionConfiguration`): JSON
//! records in, one Parquet object out, through Arrow. [`FormatConversion::from_json`]
//! validates the configuration at create time; [`FormatConversion::convert`]
//! turns a buffer's records into Parquet bytes and names the records that do
//! not fit the schema (they go to the `format-conversion-failed` error output).
//!
//! # The schema
//!
//! AWS reads the columns from an AWS Glue Data Catalog table named by
//! `SchemaConfiguration` (`DatabaseName`, `TableName`, ...). Sluice has no
//! Glue, so `SchemaConfiguration` carries the table's columns itself, in
//! Glue's own `Column` shape, as an added `Columns` member:
//!
//! ```json
//! "SchemaConfiguration": {
//!   "DatabaseName": "db", "TableName": "events", "RoleARN": "arn:aws:iam::1:role/r",
//!   "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "ts", "Type": "timestamp"}]
//! }
//! ```
//!
//! Clients that validate requests against AWS's model (boto3, the AWS CLI)
//! cannot send `Columns`; for them, [`inline_catalog_columns`] (called by
//! `Firehose` on create and update) reads the columns from a Glue-table JSON
//! file `<data_dir>/glue/<DatabaseName>/<TableName>.json` (Glue's `GetTable`
//! response `{"Table": {"StorageDescriptor": {"Columns": [...]}}}`, a
//! `TableInput`, or just `{"Columns": [...]}`) and stores them in the stream's
//! configuration, so the stream keeps the schema it was created with. The
//! other members are kept and reported in error records (`dataCatalogTable`). Column types are Hive's: `boolean`, `tinyint`,
//! `smallint`, `int`/`integer`, `bigint`, `float`, `double`, `string`,
//! `varchar(n)`, `char(n)`, `date`, `timestamp`. Other types (`decimal`,
//! `binary`, `array<..>`, `map<..>`, `struct<..>`) are rejected at create
//! time with a message naming the column.
//!
//! # Deserializers
//!
//! - `OpenXJsonSerDe`: `CaseInsensitive` (default true),
//!   `ColumnToJsonKeyMappings`, `ConvertDotsInJsonKeysToUnderscores`.
//! - `HiveJsonSerDe`: case-insensitive keys; `TimestampFormats` may hold
//!   `millis` (other Joda patterns are rejected at create time).
//!
//! Values: a missing key or JSON `null` is a null cell; numbers given as
//! strings are parsed; a string column takes any scalar as its JSON text (and
//! objects/arrays as JSON); `date` takes `yyyy-MM-dd` or days since the epoch;
//! `timestamp` takes epoch milliseconds, `yyyy-MM-dd HH:mm:ss[.fff]`,
//! `yyyy-MM-ddTHH:mm:ss[.fff]` or RFC 3339 (stored as milliseconds, UTC). A
//! record may hold several JSON documents one after the other
//! (`{"a":1}{"a":2}`): each is a row. A record with any document that is not
//! a JSON object or has a value that does not fit its column fails whole.
//!
//! # Output
//!
//! `ParquetSerDe.Compression` `UNCOMPRESSED`, `GZIP` or `SNAPPY` (the
//! default); `PageSizeBytes`, `EnableDictionaryCompression` and
//! `WriterVersion` (`V1`/`V2`) are honoured. Objects get the `.parquet`
//! extension unless `FileExtension` says otherwise. `OrcSerDe` is rejected.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::{NaiveDate, NaiveDateTime};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, GzipLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};
use serde_json::{Map, Value};

use crate::error::{FirehoseError, Result};

/// Rows per Arrow batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64 * 1024;

/// Fills `SchemaConfiguration.Columns` of an S3 destination configuration
/// from `<glue_dir>/<DatabaseName>/<TableName>.json` when conversion is
/// enabled and no columns are given. A missing or unreadable file is an
/// `InvalidArgumentException` naming the path.
pub fn inline_catalog_columns(dest: &mut Value, glue_dir: &std::path::Path) -> Result<()> {
    const F: &str = "DataFormatConversionConfiguration";
    let Some(conv) = dest.get_mut("DataFormatConversionConfiguration") else {
        return Ok(());
    };
    if conv.get("Enabled").and_then(Value::as_bool) == Some(false) {
        return Ok(());
    }
    let Some(schema) = conv
        .get_mut("SchemaConfiguration")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    if schema.contains_key("Columns") {
        return Ok(());
    }
    let name = |k: &str| {
        schema
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && !s.contains(['/', '\\']) && *s != "..")
            .map(str::to_owned)
    };
    let (Some(db), Some(table)) = (name("DatabaseName"), name("TableName")) else {
        return Err(bad(
            F,
            "SchemaConfiguration needs DatabaseName and TableName (or Columns).",
        ));
    };
    let path = glue_dir.join(&db).join(format!("{table}.json"));
    let text = std::fs::read(&path).map_err(|e| {
        bad(
            F,
            format!(
                "Table {db}.{table} not found: sluice reads Glue tables from {} ({e}).",
                path.display()
            ),
        )
    })?;
    let doc: Value = serde_json::from_slice(&text)
        .map_err(|e| bad(F, format!("{}: not JSON: {e}", path.display())))?;
    let t = doc.get("Table").unwrap_or(&doc);
    let cols = t
        .get("StorageDescriptor")
        .and_then(|sd| sd.get("Columns"))
        .or_else(|| t.get("Columns"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(
                F,
                format!(
                    "{}: no StorageDescriptor.Columns (or Columns) array.",
                    path.display()
                ),
            )
        })?;
    let mut all = cols.clone();
    if let Some(pk) = t.get("PartitionKeys").and_then(Value::as_array) {
        all.extend(pk.iter().cloned());
    }
    schema.insert("Columns".into(), Value::Array(all));
    Ok(())
}

/// A Hive column type sluice converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    String,
    Date,
    Timestamp,
}

impl ColumnType {
    fn parse(t: &str) -> Option<Self> {
        let t = t.trim().to_ascii_lowercase();
        let base = t.split('(').next().unwrap_or("").trim();
        Some(match base {
            "boolean" => Self::Boolean,
            "tinyint" => Self::TinyInt,
            "smallint" => Self::SmallInt,
            "int" | "integer" => Self::Int,
            "bigint" => Self::BigInt,
            "float" => Self::Float,
            "double" => Self::Double,
            "string" | "varchar" | "char" => Self::String,
            "date" => Self::Date,
            "timestamp" => Self::Timestamp,
            _ => return None,
        })
    }

    fn arrow(self) -> DataType {
        match self {
            Self::Boolean => DataType::Boolean,
            Self::TinyInt => DataType::Int8,
            Self::SmallInt => DataType::Int16,
            Self::Int => DataType::Int32,
            Self::BigInt => DataType::Int64,
            Self::Float => DataType::Float32,
            Self::Double => DataType::Float64,
            Self::String => DataType::Utf8,
            Self::Date => DataType::Date32,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        }
    }
}

/// One column: its name, the JSON key it reads, its type.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    key: String,
    kind: ColumnType,
}

/// A validated `DataFormatConversionConfiguration` (JSON to Parquet).
#[derive(Debug, Clone)]
pub struct FormatConversion {
    columns: Vec<Column>,
    schema: Arc<Schema>,
    case_insensitive: bool,
    dots_to_underscores: bool,
    compression: ParquetCompression,
    page_size: Option<usize>,
    dictionary: bool,
    writer_version: WriterVersion,
    /// `dataCatalogTable` for error records.
    pub catalog_table: Value,
}

fn bad(path: &str, message: impl Into<String>) -> FirehoseError {
    FirehoseError::invalid(path, message)
}

fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

impl FormatConversion {
    /// Validates the configuration; `None` when it is absent or disabled
    /// (`Enabled` defaults to true, as in AWS).
    pub fn from_json(v: Option<&Value>) -> Result<Option<Self>> {
        const F: &str = "DataFormatConversionConfiguration";
        let Some(v) = v else { return Ok(None) };
        if v.get("Enabled").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        let input = v
            .get("InputFormatConfiguration")
            .and_then(|i| obj(i, "Deserializer"))
            .ok_or_else(|| {
                bad(
                    F,
                    "InputFormatConfiguration.Deserializer is required when DataFormatConversionConfiguration is enabled.",
                )
            })?;
        let mut case_insensitive = true;
        let mut dots_to_underscores = false;
        let mut mappings = Map::new();
        match (input.get("OpenXJsonSerDe"), input.get("HiveJsonSerDe")) {
            (Some(o), None) => {
                case_insensitive = o
                    .get("CaseInsensitive")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                dots_to_underscores = o
                    .get("ConvertDotsInJsonKeysToUnderscores")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if let Some(m) = obj(o, "ColumnToJsonKeyMappings") {
                    mappings = m.clone();
                }
            }
            (None, Some(h)) => {
                if let Some(formats) = h.get("TimestampFormats").and_then(Value::as_array) {
                    for f in formats {
                        if f.as_str() != Some("millis") {
                            return Err(bad(
                                F,
                                format!(
                                    "HiveJsonSerDe.TimestampFormats {f}: sluice reads only \"millis\" and its built-in ISO formats."
                                ),
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(bad(
                    F,
                    "Deserializer must specify exactly one of OpenXJsonSerDe and HiveJsonSerDe.",
                ));
            }
        }
        let output = v
            .get("OutputFormatConfiguration")
            .and_then(|o| obj(o, "Serializer"))
            .ok_or_else(|| {
                bad(
                    F,
                    "OutputFormatConfiguration.Serializer is required when DataFormatConversionConfiguration is enabled.",
                )
            })?;
        if output.contains_key("OrcSerDe") {
            return Err(bad(
                F,
                "OrcSerDe is not supported by sluice; use ParquetSerDe.",
            ));
        }
        let parquet = output.get("ParquetSerDe").ok_or_else(|| {
            bad(
                F,
                "Serializer must specify ParquetSerDe (OrcSerDe is not supported by sluice).",
            )
        })?;
        let compression = match parquet.get("Compression").and_then(Value::as_str) {
            None | Some("SNAPPY") => ParquetCompression::SNAPPY,
            Some("GZIP") => ParquetCompression::GZIP(GzipLevel::default()),
            Some("UNCOMPRESSED") => ParquetCompression::UNCOMPRESSED,
            Some(other) => {
                return Err(FirehoseError::Validation {
                    message: format!(
                        "1 validation error detected: Value '{other}' at 'dataFormatConversionConfiguration.outputFormatConfiguration.serializer.parquetSerDe.compression' failed to satisfy constraint: Member must satisfy enum value set: [UNCOMPRESSED, GZIP, SNAPPY]"
                    ),
                });
            }
        };
        let writer_version = match parquet.get("WriterVersion").and_then(Value::as_str) {
            None | Some("V1") => WriterVersion::PARQUET_1_0,
            Some("V2") => WriterVersion::PARQUET_2_0,
            Some(other) => {
                return Err(FirehoseError::Validation {
                    message: format!(
                        "1 validation error detected: Value '{other}' at 'dataFormatConversionConfiguration.outputFormatConfiguration.serializer.parquetSerDe.writerVersion' failed to satisfy constraint: Member must satisfy enum value set: [V1, V2]"
                    ),
                });
            }
        };
        let page_size = match parquet.get("PageSizeBytes").and_then(Value::as_u64) {
            None => None,
            Some(n) if (65_536..=67_108_864).contains(&n) => Some(n as usize),
            Some(n) => {
                return Err(FirehoseError::Validation {
                    message: format!(
                        "1 validation error detected: Value '{n}' at 'dataFormatConversionConfiguration.outputFormatConfiguration.serializer.parquetSerDe.pageSizeBytes' failed to satisfy constraint: Member must have value greater than or equal to 65536"
                    ),
                });
            }
        };
        let dictionary = parquet
            .get("EnableDictionaryCompression")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let schema_cfg = v.get("SchemaConfiguration").ok_or_else(|| {
            bad(
                F,
                "SchemaConfiguration is required when DataFormatConversionConfiguration is enabled.",
            )
        })?;
        let cols = schema_cfg
            .get("Columns")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                bad(
                    F,
                    "SchemaConfiguration.Columns is required: sluice has no AWS Glue Data Catalog, so list the table's columns there as [{\"Name\": \"id\", \"Type\": \"bigint\"}, ...].",
                )
            })?;
        let mut columns = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            let name = c
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad(F, format!("SchemaConfiguration.Columns[{i}] has no Name.")))?;
            let ty = c.get("Type").and_then(Value::as_str).ok_or_else(|| {
                bad(
                    F,
                    format!("SchemaConfiguration.Columns[{i}] ({name}) has no Type."),
                )
            })?;
            let kind = ColumnType::parse(ty).ok_or_else(|| {
                bad(
                    F,
                    format!(
                        "Column {name} has type {ty}, which sluice cannot convert; use boolean, tinyint, smallint, int, bigint, float, double, string, varchar, char, date or timestamp."
                    ),
                )
            })?;
            if columns
                .iter()
                .any(|x: &Column| x.name.eq_ignore_ascii_case(name))
            {
                return Err(bad(F, format!("Column {name} is listed twice.")));
            }
            let key = mappings
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned();
            columns.push(Column {
                name: name.to_owned(),
                key,
                kind,
            });
        }
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.kind.arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let s = |k: &str| schema_cfg.get(k).cloned().unwrap_or(Value::Null);
        let catalog_table = serde_json::json!({
            "catalogId": s("CatalogId"),
            "databaseName": s("DatabaseName"),
            "tableName": s("TableName"),
            "region": s("Region"),
            "versionId": schema_cfg.get("VersionId").cloned().unwrap_or(Value::String("LATEST".into())),
            "catalogArn": Value::Null,
        });
        Ok(Some(Self {
            columns,
            schema,
            case_insensitive,
            dots_to_underscores,
            compression,
            page_size,
            dictionary,
            writer_version,
            catalog_table,
        }))
    }

    /// The Arrow schema of the Parquet objects.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn key_matches(&self, json_key: &str, want: &str) -> bool {
        let eq = |a: &str| {
            if self.case_insensitive {
                a.eq_ignore_ascii_case(want)
            } else {
                a == want
            }
        };
        if eq(json_key) {
            return true;
        }
        self.dots_to_underscores && json_key.contains('.') && eq(&json_key.replace('.', "_"))
    }

    fn lookup<'a>(&self, row: &'a Map<String, Value>, col: &Column) -> Option<&'a Value> {
        if let Some(v) = row.get(&col.key) {
            return Some(v);
        }
        row.iter()
            .find(|(k, _)| self.key_matches(k, &col.key))
            .map(|(_, v)| v)
    }

    /// Parses one record into rows of cells, or says why it does not fit.
    fn rows(&self, record: &[u8]) -> Result<Vec<Vec<Cell>>, String> {
        let mut out = Vec::new();
        for doc in serde_json::Deserializer::from_slice(record).into_iter::<Value>() {
            let doc = doc.map_err(|e| format!("Malformed JSON: {e}"))?;
            let Value::Object(map) = doc else {
                return Err(format!(
                    "Expected a JSON object for a row, found {}",
                    kind_name(&doc)
                ));
            };
            let mut row = Vec::with_capacity(self.columns.len());
            for col in &self.columns {
                let cell = match self.lookup(&map, col) {
                    None | Some(Value::Null) => Cell::Null,
                    Some(v) => cell(v, col.kind)
                        .map_err(|why| format!("Column {} ({:?}): {why}", col.name, col.kind))?,
                };
                row.push(cell);
            }
            out.push(row);
        }
        if out.is_empty() {
            return Err("The record holds no JSON document".to_owned());
        }
        Ok(out)
    }

    /// Converts `records` into one Parquet file. Returns its bytes (None when
    /// no record fits) and, for each record that does not fit, its index and
    /// the reason.
    pub fn convert(&self, records: &[Bytes], key: &str) -> Result<Conversion> {
        let mut failed = Vec::new();
        let mut builders: Vec<ColumnBuilder> = self
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.kind))
            .collect();
        let props = {
            let mut b = WriterProperties::builder()
                .set_compression(self.compression)
                .set_dictionary_enabled(self.dictionary)
                .set_writer_version(self.writer_version);
            if let Some(p) = self.page_size {
                b = b.set_data_page_size_limit(p);
            }
            b.build()
        };
        let perr = |e: parquet::errors::ParquetError| FirehoseError::Compression {
            key: key.to_owned(),
            format: "PARQUET",
            source: std::io::Error::other(e),
        };
        let aerr = |e: arrow::error::ArrowError| FirehoseError::Compression {
            key: key.to_owned(),
            format: "PARQUET",
            source: std::io::Error::other(e),
        };
        let mut writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&self.schema), Some(props))
            .map_err(perr)?;
        let mut pending = 0usize;
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            match self.rows(r) {
                Ok(rows) => {
                    for row in rows {
                        for (b, c) in builders.iter_mut().zip(row) {
                            b.push(c);
                        }
                        pending += 1;
                    }
                }
                Err(why) => failed.push((i, why)),
            }
            if pending >= BATCH_ROWS {
                total += pending;
                pending = 0;
                let cols: Vec<ArrayRef> = builders.iter_mut().map(ColumnBuilder::finish).collect();
                let batch = RecordBatch::try_new(Arc::clone(&self.schema), cols).map_err(aerr)?;
                writer.write(&batch).map_err(perr)?;
            }
        }
        if pending > 0 {
            total += pending;
            let cols: Vec<ArrayRef> = builders.iter_mut().map(ColumnBuilder::finish).collect();
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), cols).map_err(aerr)?;
            writer.write(&batch).map_err(perr)?;
        }
        let parquet = if total == 0 {
            None
        } else {
            Some(writer.into_inner().map_err(perr)?)
        };
        Ok(Conversion {
            parquet,
            rows: total,
            failed,
        })
    }
}

/// What [`FormatConversion::convert`] made of a buffer.
#[derive(Debug)]
pub struct Conversion {
    /// The Parquet object, when at least one row converted.
    pub parquet: Option<Vec<u8>>,
    /// Rows written.
    pub rows: usize,
    /// Records that do not fit: index into the input and the reason.
    pub failed: Vec<(usize, String)>,
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Date(i32),
    TimestampMs(i64),
}

fn int_of(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("\"{s}\" is not an integer")),
        other => Err(format!("expected an integer, found {}", kind_name(other))),
    }
}

fn float_of(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("\"{s}\" is not a number")),
        other => Err(format!("expected a number, found {}", kind_name(other))),
    }
}

fn ranged(v: &Value, lo: i64, hi: i64) -> Result<Cell, String> {
    let n = int_of(v)?;
    if n < lo || n > hi {
        return Err(format!("{n} is out of range {lo}..={hi}"));
    }
    Ok(Cell::Int(n))
}

const EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

fn cell(v: &Value, kind: ColumnType) -> Result<Cell, String> {
    Ok(match kind {
        ColumnType::Boolean => match v {
            Value::Bool(b) => Cell::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Cell::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Cell::Bool(false),
            other => return Err(format!("expected a boolean, found {other}")),
        },
        ColumnType::TinyInt => ranged(v, i8::MIN.into(), i8::MAX.into())?,
        ColumnType::SmallInt => ranged(v, i16::MIN.into(), i16::MAX.into())?,
        ColumnType::Int => ranged(v, i32::MIN.into(), i32::MAX.into())?,
        ColumnType::BigInt => Cell::Int(int_of(v)?),
        ColumnType::Float | ColumnType::Double => Cell::Float(float_of(v)?),
        ColumnType::String => match v {
            Value::String(s) => Cell::Str(s.clone()),
            other => Cell::Str(other.to_string()),
        },
        ColumnType::Date => match v {
            Value::String(s) => {
                let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|_| format!("\"{s}\" is not a date (yyyy-MM-dd)"))?;
                Cell::Date(chrono::Datelike::num_days_from_ce(&d) - EPOCH_DAYS_FROM_CE)
            }
            Value::Number(_) => {
                let n = int_of(v)?;
                Cell::Date(i32::try_from(n).map_err(|_| format!("{n} days is out of range"))?)
            }
            other => return Err(format!("expected a date, found {}", kind_name(other))),
        },
        ColumnType::Timestamp => match v {
            Value::Number(_) => Cell::TimestampMs(int_of(v)?),
            Value::String(s) => Cell::TimestampMs(
                parse_timestamp_ms(s).ok_or_else(|| format!("\"{s}\" is not a timestamp"))?,
            ),
            other => {
                return Err(format!("expected a timestamp, found {}", kind_name(other)));
            }
        },
    })
}

enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Utf8(StringBuilder),
    Date32(Date32Builder),
    Timestamp(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    fn new(kind: ColumnType) -> Self {
        match kind {
            ColumnType::Boolean => Self::Boolean(BooleanBuilder::new()),
            ColumnType::TinyInt => Self::Int8(Int8Builder::new()),
            ColumnType::SmallInt => Self::Int16(Int16Builder::new()),
            ColumnType::Int => Self::Int32(Int32Builder::new()),
            ColumnType::BigInt => Self::Int64(Int64Builder::new()),
            ColumnType::Float => Self::Float32(Float32Builder::new()),
            ColumnType::Double => Self::Float64(Float64Builder::new()),
            ColumnType::String => Self::Utf8(StringBuilder::new()),
            ColumnType::Date => Self::Date32(Date32Builder::new()),
            ColumnType::Timestamp => Self::Timestamp(TimestampMillisecondBuilder::new()),
        }
    }

    /// Appends a cell already checked against this column's type by [`cell`].
    fn push(&mut self, c: Cell) {
        match (self, c) {
            (Self::Boolean(b), Cell::Bool(v)) => b.append_value(v),
            (Self::Int8(b), Cell::Int(v)) => b.append_option(i8::try_from(v).ok()),
            (Self::Int16(b), Cell::Int(v)) => b.append_option(i16::try_from(v).ok()),
            (Self::Int32(b), Cell::Int(v)) => b.append_option(i32::try_from(v).ok()),
            (Self::Int64(b), Cell::Int(v)) => b.append_value(v),
            (Self::Float32(b), Cell::Float(v)) => b.append_value(v as f32),
            (Self::Float64(b), Cell::Float(v)) => b.append_value(v),
            (Self::Utf8(b), Cell::Str(v)) => b.append_value(v),
            (Self::Date32(b), Cell::Date(v)) => b.append_value(v),
            (Self::Timestamp(b), Cell::TimestampMs(v)) => b.append_value(v),
            (Self::Boolean(b), _) => b.append_null(),
            (Self::Int8(b), _) => b.append_null(),
            (Self::Int16(b), _) => b.append_null(),
            (Self::Int32(b), _) => b.append_null(),
            (Self::Int64(b), _) => b.append_null(),
            (Self::Float32(b), _) => b.append_null(),
            (Self::Float64(b), _) => b.append_null(),
            (Self::Utf8(b), _) => b.append_null(),
            (Self::Date32(b), _) => b.append_null(),
            (Self::Timestamp(b), _) => b.append_null(),
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
            Self::Utf8(b) => Arc::new(b.finish()),
            Self::Date32(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMillisecondType};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;

    fn config(compression: &str) -> Value {
        json!({
            "Enabled": true,
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {
                "ColumnToJsonKeyMappings": {"ts": "event_time"}}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": compression}}},
            "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t",
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"},
                            {"Name": "ok", "Type": "boolean"}, {"Name": "ts", "Type": "timestamp"},
                            {"Name": "small", "Type": "tinyint"}, {"Name": "d", "Type": "date"}]}
        })
    }

    fn read(bytes: Vec<u8>) -> RecordBatch {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    #[test]
    fn converts_rows_and_names_misfits() {
        for codec in ["UNCOMPRESSED", "GZIP", "SNAPPY"] {
            let conv = FormatConversion::from_json(Some(&config(codec)))
                .unwrap()
                .unwrap();
            let recs = vec![
                Bytes::from_static(
                    br#"{"ID":1,"name":"a","ok":true,"event_time":"2024-01-02 03:04:05.250","small":5,"d":"2024-01-02"}"#,
                ),
                Bytes::from_static(br#"{"id":"2","name":7}{"id":3,"extra":[1]}"#),
                Bytes::from_static(br#"{"id":"x"}"#),
                Bytes::from_static(br#"{"id":4,"small":300}"#),
                Bytes::from_static(b"not json"),
                Bytes::from_static(b"[1,2]"),
            ];
            let out = conv.convert(&recs, "k").unwrap();
            assert_eq!(out.rows, 3);
            let failed: Vec<usize> = out.failed.iter().map(|f| f.0).collect();
            assert_eq!(failed, vec![2, 3, 4, 5]);
            assert!(out.failed[0].1.contains("Column id"), "{}", out.failed[0].1);
            let batch = read(out.parquet.unwrap());
            assert_eq!(batch.num_rows(), 3);
            let ids = batch.column(0).as_primitive::<Int64Type>();
            assert_eq!(ids.values().to_vec(), vec![1, 2, 3]);
            let names = batch.column(1).as_string::<i32>();
            assert_eq!(names.value(0), "a");
            assert_eq!(names.value(1), "7");
            assert!(names.is_null(2));
            let ts = batch.column(3).as_primitive::<TimestampMillisecondType>();
            assert_eq!(ts.value(0), 1_704_164_645_250);
            assert!(ts.is_null(1));
        }
    }

    #[test]
    fn rejects_what_it_cannot_convert() {
        let mut c = config("SNAPPY");
        c["SchemaConfiguration"]["Columns"] = json!([{"Name": "m", "Type": "map<string,int>"}]);
        let e = FormatConversion::from_json(Some(&c)).unwrap_err();
        assert!(e.to_string().contains("Column m"), "{e}");
        let mut c = config("SNAPPY");
        c["SchemaConfiguration"]
            .as_object_mut()
            .unwrap()
            .remove("Columns");
        let e = FormatConversion::from_json(Some(&c)).unwrap_err();
        assert!(e.to_string().contains("Columns"), "{e}");
        let e = FormatConversion::from_json(Some(&config("LZO"))).unwrap_err();
        assert_eq!(e.aws_type(), "ValidationException");
        let mut c = config("SNAPPY");
        c["OutputFormatConfiguration"]["Serializer"] = json!({"OrcSerDe": {}});
        assert!(FormatConversion::from_json(Some(&c)).is_err());
        let mut c = config("SNAPPY");
        c["Enabled"] = json!(false);
        assert!(FormatConversion::from_json(Some(&c)).unwrap().is_none());
    }

    #[test]
    fn columns_from_a_glue_table_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        std::fs::write(
            dir.path().join("db/t.json"),
            r#"{"Table": {"Name": "t", "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}]}}}"#,
        )
        .unwrap();
        let mut c = config("SNAPPY");
        c["SchemaConfiguration"]
            .as_object_mut()
            .unwrap()
            .remove("Columns");
        let mut dest = json!({"DataFormatConversionConfiguration": c});
        inline_catalog_columns(&mut dest, dir.path()).unwrap();
        let conv = FormatConversion::from_json(dest.get("DataFormatConversionConfiguration"))
            .unwrap()
            .unwrap();
        assert_eq!(conv.schema().fields().len(), 1);
        dest["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] =
            json!("nope");
        dest["DataFormatConversionConfiguration"]["SchemaConfiguration"]
            .as_object_mut()
            .unwrap()
            .remove("Columns");
        let e = inline_catalog_columns(&mut dest, dir.path()).unwrap_err();
        assert!(e.to_string().contains("db.nope"), "{e}");
    }

    #[test]
    fn all_misfits_give_no_object() {
        let conv = FormatConversion::from_json(Some(&config("SNAPPY")))
            .unwrap()
            .unwrap();
        let out = conv.convert(&[Bytes::from_static(b"{")], "k").unwrap();
        assert!(out.parquet.is_none());
        assert_eq!(out.failed.len(), 1);
    }
}
