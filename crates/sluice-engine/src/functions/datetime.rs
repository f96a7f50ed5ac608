//! Date and time functions.
//!
//! - `kda_step(x, n)`: the integer form of STEP, `STEP(x BY n)`: the largest
//!   multiple of n at or below x (so STEP(-23 BY 5) is -25, as the page's
//!   "largest multiple equal to or smaller" says; its `(x / n) * n` would
//!   truncate towards zero). The datetime form is `date_bin` (see the planner).
//! - `tsdiff(a, b)`: `a - b` in milliseconds (BIGINT), NULL if either is NULL.
//! - `unix_timestamp(ts)`: milliseconds since the epoch (BIGINT).
//! - `to_timestamp(ms)`: the TIMESTAMP that many milliseconds after the epoch
//!   (KDA's; DataFusion's own reads seconds and strings, and is replaced).
//! - `char_to_timestamp(format, s)`, `char_to_date`, `char_to_time`,
//!   `timestamp_to_char(format, ts)`, `date_to_char`, `time_to_char`: Java
//!   `SimpleDateFormat` patterns, through [`super::simple_date_format`].
//!
//! FLOOR(ts TO unit) is `date_trunc`; CEIL(ts TO unit) is rewritten to it
//! plus one unit when ts is not already on a boundary; EXTRACT is
//! DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Int64Array, Int64Builder, StringBuilder,
    Time32MillisecondBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Int64Type, Time32MillisecondType, TimeUnit, TimestampMillisecondType,
};
use datafusion::error::{DataFusionError, Result};

use super::simple_date_format::DateFormat;
use super::{KdaFunction, all, int_arg, row_error, string_arg, timestamp_arg};
use crate::types::ROWTIME_TYPE;

const MS_PER_DAY: i64 = 86_400_000;

/// The date and time UDFs.
pub fn functions() -> Vec<KdaFunction> {
    vec![
        KdaFunction::new(
            "kda_step",
            "STEP(<integer> BY <integer literal>)",
            coerce_step,
            |t| t[0].clone(),
            eval_step,
        ),
        KdaFunction::new(
            "tsdiff",
            "TSDIFF(<timestamp>, <timestamp>)",
            |t| all(t, &[timestamp_arg, timestamp_arg]),
            |_| DataType::Int64,
            eval_tsdiff,
        ),
        KdaFunction::new(
            "unix_timestamp",
            "UNIX_TIMESTAMP(<timestamp>)",
            |t| all(t, &[timestamp_arg]),
            |_| DataType::Int64,
            eval_unix_timestamp,
        ),
        KdaFunction::new(
            "to_timestamp",
            "TO_TIMESTAMP(<BIGINT milliseconds since 1970-01-01 00:00:00>)",
            |t| all(t, &[int_arg]),
            |_| ROWTIME_TYPE,
            eval_to_timestamp,
        ),
        KdaFunction::new(
            "char_to_timestamp",
            "CHAR_TO_TIMESTAMP(<format VARCHAR>, <string VARCHAR>)",
            |t| all(t, &[string_arg, string_arg]),
            |_| ROWTIME_TYPE,
            |a| eval_parse(a, "CHAR_TO_TIMESTAMP", Kind::Timestamp),
        ),
        KdaFunction::new(
            "char_to_date",
            "CHAR_TO_DATE(<format VARCHAR>, <string VARCHAR>)",
            |t| all(t, &[string_arg, string_arg]),
            |_| DataType::Date32,
            |a| eval_parse(a, "CHAR_TO_DATE", Kind::Date),
        ),
        KdaFunction::new(
            "char_to_time",
            "CHAR_TO_TIME(<format VARCHAR>, <string VARCHAR>)",
            |t| all(t, &[string_arg, string_arg]),
            |_| DataType::Time32(TimeUnit::Millisecond),
            |a| eval_parse(a, "CHAR_TO_TIME", Kind::Time),
        ),
        KdaFunction::new(
            "timestamp_to_char",
            "TIMESTAMP_TO_CHAR(<format VARCHAR>, <timestamp>)",
            |t| all(t, &[string_arg, timestamp_arg]),
            |_| DataType::Utf8,
            |a| eval_format(a, "TIMESTAMP_TO_CHAR"),
        ),
        KdaFunction::new(
            "date_to_char",
            "DATE_TO_CHAR(<format VARCHAR>, <date>)",
            |t| all(t, &[string_arg, date_arg]),
            |_| DataType::Utf8,
            |a| eval_format(a, "DATE_TO_CHAR"),
        ),
        KdaFunction::new(
            "time_to_char",
            "TIME_TO_CHAR(<format VARCHAR>, <time>)",
            |t| all(t, &[string_arg, time_arg]),
            |_| DataType::Utf8,
            |a| eval_format(a, "TIME_TO_CHAR"),
        ),
    ]
}

fn date_arg(t: &DataType) -> Option<DataType> {
    matches!(t, DataType::Date32 | DataType::Date64 | DataType::Null).then_some(DataType::Date32)
}

fn time_arg(t: &DataType) -> Option<DataType> {
    matches!(
        t,
        DataType::Time32(_) | DataType::Time64(_) | DataType::Null
    )
    .then_some(DataType::Time32(TimeUnit::Millisecond))
}

fn coerce_step(t: &[DataType]) -> Option<Vec<DataType>> {
    match t {
        [x, n] if x.is_integer() && int_arg(n).is_some() => Some(vec![x.clone(), DataType::Int64]),
        [DataType::Null, n] if int_arg(n).is_some() => Some(vec![DataType::Int64, DataType::Int64]),
        _ => None,
    }
}

fn internal(a: &ArrayRef, what: &str) -> DataFusionError {
    DataFusionError::Internal(format!("expected a {what} array, got {}", a.data_type()))
}

fn int64s(a: &ArrayRef) -> Result<Int64Array> {
    let c = cast(a, &DataType::Int64)?;
    c.as_primitive_opt::<Int64Type>()
        .cloned()
        .ok_or_else(|| internal(a, "BIGINT"))
}

fn timestamps(a: &ArrayRef) -> Result<&TimestampMillisecondArray> {
    a.as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| internal(a, "TIMESTAMP"))
}

fn eval_step(args: &[ArrayRef]) -> Result<ArrayRef> {
    let x = int64s(&args[0])?;
    let n = int64s(&args[1])?;
    let mut out = Int64Builder::with_capacity(x.len());
    for row in 0..x.len() {
        if x.is_null(row) || n.is_null(row) {
            out.append_null();
            continue;
        }
        let (v, by) = (x.value(row), n.value(row));
        if by <= 0 {
            return Err(row_error("STEP", format!("the step {by} is not positive")));
        }
        out.append_value(v.div_euclid(by) * by);
    }
    let result: ArrayRef = Arc::new(out.finish());
    Ok(cast(&result, args[0].data_type())?)
}

fn eval_tsdiff(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = timestamps(&args[0])?;
    let b = timestamps(&args[1])?;
    let out: Int64Array = a
        .iter()
        .zip(b.iter())
        .map(|(a, b)| Some(a?.saturating_sub(b?)))
        .collect();
    Ok(Arc::new(out))
}

fn eval_unix_timestamp(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = timestamps(&args[0])?;
    Ok(Arc::new(a.reinterpret_cast::<Int64Type>()))
}

fn eval_to_timestamp(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = int64s(&args[0])?;
    Ok(Arc::new(a.reinterpret_cast::<TimestampMillisecondType>()))
}

/// Compiled formats of one batch (usually one literal format).
#[derive(Default)]
struct Formats(Vec<(String, DateFormat)>);

impl Formats {
    fn get(&mut self, function: &str, pattern: &str) -> Result<&DateFormat> {
        let i = match self.0.iter().position(|(p, _)| p == pattern) {
            Some(i) => i,
            None => {
                let f = DateFormat::new(pattern).map_err(|e| row_error(function, e))?;
                self.0.push((pattern.to_string(), f));
                self.0.len() - 1
            }
        };
        Ok(&self.0[i].1)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Timestamp,
    Date,
    Time,
}

fn eval_parse(args: &[ArrayRef], function: &str, kind: Kind) -> Result<ArrayRef> {
    let format = args[0]
        .as_string_opt::<i32>()
        .ok_or_else(|| internal(&args[0], "VARCHAR"))?;
    let text = args[1]
        .as_string_opt::<i32>()
        .ok_or_else(|| internal(&args[1], "VARCHAR"))?;
    let mut formats = Formats::default();
    let mut values: Vec<Option<i64>> = Vec::with_capacity(text.len());
    for row in 0..text.len() {
        if format.is_null(row) || text.is_null(row) {
            values.push(None);
            continue;
        }
        let f = formats.get(function, format.value(row))?;
        let ms = f
            .parse(text.value(row))
            .map_err(|e| row_error(function, e))?;
        values.push(Some(ms));
    }
    Ok(match kind {
        Kind::Timestamp => {
            let mut b = TimestampMillisecondBuilder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(*v));
            Arc::new(b.finish())
        }
        Kind::Date => {
            let mut b = Date32Builder::with_capacity(values.len());
            for v in values {
                b.append_option(v.map(|ms| ms.div_euclid(MS_PER_DAY) as i32));
            }
            Arc::new(b.finish())
        }
        Kind::Time => {
            let mut b = Time32MillisecondBuilder::with_capacity(values.len());
            for v in values {
                b.append_option(v.map(|ms| ms.rem_euclid(MS_PER_DAY) as i32));
            }
            Arc::new(b.finish())
        }
    })
}

fn eval_format(args: &[ArrayRef], function: &str) -> Result<ArrayRef> {
    let format = args[0]
        .as_string_opt::<i32>()
        .ok_or_else(|| internal(&args[0], "VARCHAR"))?;
    let value = &args[1];
    let ms: Vec<Option<i64>> = match value.data_type() {
        DataType::Date32 => value
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(|| internal(value, "DATE"))?
            .iter()
            .map(|d| d.map(|d| i64::from(d) * MS_PER_DAY))
            .collect(),
        DataType::Time32(TimeUnit::Millisecond) => value
            .as_primitive_opt::<Time32MillisecondType>()
            .ok_or_else(|| internal(value, "TIME"))?
            .iter()
            .map(|t| t.map(i64::from))
            .collect(),
        _ => timestamps(value)?.iter().collect(),
    };
    let mut formats = Formats::default();
    let mut out = StringBuilder::with_capacity(ms.len(), ms.len() * 20);
    for (row, v) in ms.into_iter().enumerate() {
        match v {
            Some(v) if !format.is_null(row) => {
                let f = formats.get(function, format.value(row))?;
                out.append_value(f.format(v).map_err(|e| row_error(function, e))?);
            }
            // TIMESTAMP_TO_CHAR of NULL is the string 'null' (its page says so).
            None if function == "TIMESTAMP_TO_CHAR" && !format.is_null(row) => {
                out.append_value("null")
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}
