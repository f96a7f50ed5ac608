//! CAST as the KDA SQL Reference's CAST page defines it: which source types
//! convert to which targets, and how.
//!
//! Entry points: [`check_casts`], which the planner runs on every logical
//! expression (it rejects the conversions the page's table leaves out and
//! routes the ones Arrow does differently to the UDFs here), and
//! [`functions`], the UDFs. The page's table, source → targets:
//!
//! | source | targets |
//! |---|---|
//! | numeric | VARCHAR, CHAR, any numeric |
//! | VARCHAR, CHAR | all of the above, DATE, TIME, TIMESTAMP, DAY-TIME INTERVAL, BOOLEAN |
//! | DATE | DATE, VARCHAR, CHAR, TIMESTAMP |
//! | TIME | TIME, VARCHAR, CHAR, TIMESTAMP |
//! | TIMESTAMP | TIME, VARCHAR, CHAR, TIMESTAMP, DATE |
//! | DAY-TIME INTERVAL | DAY-TIME INTERVAL, BIGINT, DECIMAL, CHAR, VARCHAR |
//! | BOOLEAN | VARCHAR, CHAR, BOOLEAN |
//! | BINARY, VARBINARY | BINARY, VARBINARY |
//!
//! Any other pair is a plan error naming both types. How values convert:
//! - to VARCHAR(n) / CHAR(n) ([`rewrite`](super::rewrite) makes
//!   `kda_varchar(x [, n])`, and `kda_char(kda_varchar(x, n), n)` for
//!   CHAR): a character value is cut to n characters; any other value is
//!   written in its literal form (TIMESTAMP `yyyy-MM-dd HH:mm:ss[.SSS]`,
//!   BOOLEAN `TRUE`/`FALSE`) and must fit: the page's
//!   `CAST(DATE '2008-08-23' AS VARCHAR(9))` selects no row, so a value
//!   that does not fit is a row error (to `error_stream`).
//! - character → TIMESTAMP (`kda_string_to_timestamp`): the six fields
//!   `yyyy-MM-dd HH:mm:ss` with those delimiters, optionally fractional
//!   seconds, spaces around trimmed; anything else is a row error.
//! - character → BOOLEAN (`kda_string_to_boolean`): `TRUE`, `FALSE`
//!   (any case, spaces trimmed) or `UNKNOWN` (NULL); anything else is a
//!   row error.
//! - numeric → integer rounds half away from zero (`kda_cast_round`, in
//!   [`numeric`](super::numeric)); the rest is Arrow's cast, whose
//!   overflow and unparsable-number errors are row errors.
//!
//! Not implemented (refused at plan time as such): TIME → TIMESTAMP (the
//! page gives no rule for the date part), and every cell with a DAY-TIME
//! INTERVAL on either side (KDA's interval text and numeric forms).

use std::sync::Arc;

use chrono::{NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, StringBuilder};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Cast, Expr as LExpr, ExprSchemable, ScalarUDF};

use super::{KdaFunction, kda_type_name, row_error};
use crate::types::ROWTIME_TYPE;

/// The CAST UDFs.
pub fn functions() -> Vec<KdaFunction> {
    vec![
        KdaFunction::new(
            "kda_varchar",
            "CAST(<numeric, character, datetime or BOOLEAN value> AS VARCHAR(<length>) | CHAR(<length>))",
            coerce_varchar,
            |_| DataType::Utf8,
            eval_varchar,
        ),
        KdaFunction::new(
            STRING_TO_TIMESTAMP,
            "CAST(<string> AS TIMESTAMP)",
            string_only,
            |_| ROWTIME_TYPE,
            eval_string_to_timestamp,
        ),
        KdaFunction::new(
            STRING_TO_BOOLEAN,
            "CAST(<string> AS BOOLEAN)",
            string_only,
            |_| DataType::Boolean,
            eval_string_to_boolean,
        ),
    ]
}

const STRING_TO_TIMESTAMP: &str = "kda_string_to_timestamp";
const STRING_TO_BOOLEAN: &str = "kda_string_to_boolean";

/// The kinds of type the CAST table distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Numeric,
    Character,
    Date,
    Time,
    Timestamp,
    Interval,
    Boolean,
    Binary,
    Other,
}

fn kind(t: &DataType) -> Kind {
    match t {
        DataType::Null => Kind::Null,
        t if t.is_numeric() => Kind::Numeric,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Character,
        DataType::Date32 | DataType::Date64 => Kind::Date,
        DataType::Time32(_) | DataType::Time64(_) => Kind::Time,
        DataType::Timestamp(_, _) => Kind::Timestamp,
        DataType::Interval(_) | DataType::Duration(_) => Kind::Interval,
        DataType::Boolean => Kind::Boolean,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Kind::Binary,
        _ => Kind::Other,
    }
}

/// Whether the page's table allows CAST from `from` to `to`.
fn allowed(from: &DataType, to: &DataType) -> bool {
    use Kind::*;
    match (kind(from), kind(to)) {
        (Null, _) => true,
        (_, Character) => kind(from) != Binary && kind(from) != Other,
        (Character, Numeric | Date | Time | Timestamp | Interval | Boolean) => true,
        (Numeric, Numeric) => true,
        (Date, Date | Timestamp) => true,
        (Time, Time | Timestamp) => true,
        (Timestamp, Time | Timestamp | Date) => true,
        (Interval, Interval) => true,
        (Interval, Numeric) => matches!(to, DataType::Int64 | DataType::Decimal128(_, _)),
        (Boolean, Boolean) => true,
        (Binary, Binary) => true,
        _ => false,
    }
}

/// The targets the table allows from a kind, for messages.
fn targets(from: Kind) -> &'static str {
    match from {
        Kind::Numeric => "VARCHAR, CHAR or a numeric type",
        Kind::Character => {
            "VARCHAR, CHAR, a numeric type, DATE, TIME, TIMESTAMP, a DAY-TIME INTERVAL or BOOLEAN"
        }
        Kind::Date => "DATE, VARCHAR, CHAR or TIMESTAMP",
        Kind::Time => "TIME, VARCHAR, CHAR or TIMESTAMP",
        Kind::Timestamp => "TIME, VARCHAR, CHAR, TIMESTAMP or DATE",
        Kind::Interval => "a DAY-TIME INTERVAL, BIGINT, DECIMAL, CHAR or VARCHAR",
        Kind::Boolean => "VARCHAR, CHAR or BOOLEAN",
        Kind::Binary => "BINARY or VARBINARY",
        Kind::Null | Kind::Other => "no type",
    }
}

/// Checks every CAST in a logical expression against the page's table
/// (a plan error when one is not allowed or not implemented), and
/// routes character → TIMESTAMP / BOOLEAN to the UDFs here. `udf` looks a
/// registered UDF up by name.
pub(crate) fn check_casts(
    e: LExpr,
    schema: &DFSchema,
    udf: &dyn Fn(&str) -> Option<Arc<ScalarUDF>>,
) -> Result<LExpr> {
    e.transform_up(|node| {
        let LExpr::Cast(Cast { expr, field }) = &node else {
            return Ok(Transformed::no(node));
        };
        let from = expr.get_type(schema)?;
        let to = field.data_type().clone();
        if !allowed(&from, &to) {
            return Err(DataFusionError::Plan(format!(
                "CAST from {} to {} is not a conversion KDA allows: a {} converts to {}",
                kda_type_name(&from),
                kda_type_name(&to),
                kda_type_name(&from),
                targets(kind(&from))
            )));
        }
        let unimplemented = match (kind(&from), kind(&to)) {
            (Kind::Time, Kind::Timestamp) => {
                Some("the page gives no rule for the date a TIME takes")
            }
            (Kind::Interval, Kind::Interval | Kind::Numeric | Kind::Character)
            | (Kind::Character, Kind::Interval) => {
                Some("KDA's interval text and numeric forms are not implemented")
            }
            _ => None,
        };
        if let Some(what) = unimplemented {
            return Err(DataFusionError::NotImplemented(format!(
                "CAST from {} to {} is not implemented yet: {what}",
                kda_type_name(&from),
                kda_type_name(&to)
            )));
        }
        let via = match (kind(&from), kind(&to)) {
            (Kind::Character, Kind::Timestamp) => STRING_TO_TIMESTAMP,
            (Kind::Character, Kind::Boolean) => STRING_TO_BOOLEAN,
            _ => return Ok(Transformed::no(node)),
        };
        let f = udf(via).ok_or_else(|| DataFusionError::Internal(format!("{via} missing")))?;
        let call = LExpr::ScalarFunction(ScalarFunction::new_udf(f, vec![(**expr).clone()]));
        Ok(Transformed::yes(if kind(&to) == Kind::Boolean {
            call
        } else {
            LExpr::Cast(Cast::new(Box::new(call), to))
        }))
    })
    .map(|t| t.data)
}

fn string_only(t: &[DataType]) -> Option<Vec<DataType>> {
    match t {
        [s] if matches!(kind(s), Kind::Character | Kind::Null) => Some(vec![DataType::Utf8]),
        _ => None,
    }
}

fn coerce_varchar(t: &[DataType]) -> Option<Vec<DataType>> {
    let (value, rest) = t.split_first()?;
    // An interval's text form (KDA's `+3` style) is not implemented yet.
    if matches!(kind(value), Kind::Binary | Kind::Interval | Kind::Other) {
        return None;
    }
    match rest {
        [] => Some(vec![value.clone()]),
        [n] if n.is_integer() => Some(vec![value.clone(), DataType::Int64]),
        _ => None,
    }
}

/// `kda_varchar(x [, n])`: x as KDA writes it, cut to n characters when x
/// is a string, a row error when it is not and does not fit.
fn eval_varchar(args: &[ArrayRef]) -> Result<ArrayRef> {
    let value = &args[0];
    let max = match args.get(1) {
        Some(n) => {
            let n = n.as_primitive_opt::<Int64Type>().ok_or_else(|| {
                DataFusionError::Internal("kda_varchar: length is not BIGINT".into())
            })?;
            (n.null_count() == 0 && !n.is_empty()).then(|| n.value(0))
        }
        None => None,
    };
    let text = text_of(value)?;
    let text = text.as_string::<i32>();
    let cut = kind(value.data_type()) == Kind::Character;
    let mut out = StringBuilder::with_capacity(text.len(), text.len() * 8);
    for row in 0..text.len() {
        if text.is_null(row) {
            out.append_null();
            continue;
        }
        let s = text.value(row);
        match max {
            Some(n) if s.chars().count() > usize::try_from(n).unwrap_or(0) => {
                if cut {
                    out.append_value(
                        s.chars()
                            .take(usize::try_from(n).unwrap_or(0))
                            .collect::<String>(),
                    );
                } else {
                    return Err(row_error(
                        "CAST",
                        format!(
                            "{} value '{s}' needs {} characters, more than the {n} of its target type",
                            kda_type_name(value.data_type()),
                            s.chars().count()
                        ),
                    ));
                }
            }
            _ => out.append_value(s),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// A value's text in KDA's literal form, as a Utf8 array.
fn text_of(value: &ArrayRef) -> Result<ArrayRef> {
    match value.data_type() {
        DataType::Boolean => {
            let b = value.as_boolean();
            let mut out = StringBuilder::new();
            for row in 0..b.len() {
                if b.is_null(row) {
                    out.append_null();
                } else {
                    out.append_value(if b.value(row) { "TRUE" } else { "FALSE" });
                }
            }
            Ok(Arc::new(out.finish()))
        }
        DataType::Timestamp(_, _) => {
            let ms = cast_with_options(
                value,
                &DataType::Timestamp(TimeUnit::Millisecond, None),
                &CastOptions::default(),
            )?;
            let ms = ms.as_primitive::<TimestampMillisecondType>();
            let mut out = StringBuilder::new();
            for row in 0..ms.len() {
                match ms.value_as_datetime(row).filter(|_| !ms.is_null(row)) {
                    Some(t) => out.append_value(timestamp_text(&t)),
                    None => out.append_null(),
                }
            }
            Ok(Arc::new(out.finish()))
        }
        _ => {
            let options = CastOptions {
                safe: false,
                format_options: FormatOptions::default(),
            };
            Ok(cast_with_options(value, &DataType::Utf8, &options)?)
        }
    }
}

/// `yyyy-MM-dd HH:mm:ss`, and `.SSS` when the milliseconds are not zero.
fn timestamp_text(t: &NaiveDateTime) -> String {
    let ms = t.nanosecond() / 1_000_000;
    if ms == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{ms:03}", t.format("%Y-%m-%d %H:%M:%S"))
    }
}

/// `yyyy-MM-dd HH:mm:ss[.f]`, or why not.
fn parse_timestamp(s: &str) -> Result<NaiveDateTime, String> {
    let t = s.trim_matches(' ');
    let ok = t.len() >= 19
        && t.as_bytes().get(4) == Some(&b'-')
        && t.as_bytes().get(7) == Some(&b'-')
        && t.as_bytes().get(10) == Some(&b' ')
        && t.as_bytes().get(13) == Some(&b':')
        && t.as_bytes().get(16) == Some(&b':');
    let parsed = ok
        .then(|| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok())
        .flatten();
    parsed.ok_or_else(|| {
        format!("'{s}' is not a TIMESTAMP: the form is 'yyyy-MM-dd HH:mm:ss' (fractional seconds optional)")
    })
}

fn eval_string_to_timestamp(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = args[0].as_string::<i32>();
    let mut out = datafusion::arrow::array::TimestampMillisecondBuilder::with_capacity(s.len());
    for row in 0..s.len() {
        if s.is_null(row) {
            out.append_null();
            continue;
        }
        let t = parse_timestamp(s.value(row)).map_err(|m| row_error("CAST", m))?;
        out.append_value(t.and_utc().timestamp_millis());
    }
    Ok(Arc::new(out.finish()))
}

fn eval_string_to_boolean(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = args[0].as_string::<i32>();
    let mut out = BooleanBuilder::with_capacity(s.len());
    for row in 0..s.len() {
        if s.is_null(row) {
            out.append_null();
            continue;
        }
        let v = s.value(row);
        match v.trim_matches(' ').to_ascii_uppercase().as_str() {
            "TRUE" => out.append_value(true),
            "FALSE" => out.append_value(false),
            "UNKNOWN" => out.append_null(),
            _ => {
                return Err(row_error(
                    "CAST",
                    format!("'{v}' is not a BOOLEAN: the values are TRUE, FALSE and UNKNOWN"),
                ));
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_allows_and_refuses_as_the_page_says() {
        use DataType::*;
        assert!(allowed(&Int32, &Utf8));
        assert!(allowed(&Utf8, &Boolean));
        assert!(allowed(&Date32, &ROWTIME_TYPE));
        assert!(allowed(&ROWTIME_TYPE, &Date32));
        assert!(!allowed(&Date32, &Time32(TimeUnit::Millisecond)));
        assert!(!allowed(&Boolean, &Int32));
        assert!(!allowed(&Int64, &ROWTIME_TYPE));
        assert!(!allowed(&Binary, &Utf8));
        assert!(allowed(&Duration(TimeUnit::Millisecond), &Int64));
        assert!(!allowed(&Duration(TimeUnit::Millisecond), &Int32));
    }

    #[test]
    fn timestamps_need_all_six_fields() {
        assert!(parse_timestamp("2007-02-19 21:25:35").is_ok());
        assert!(parse_timestamp(" 2007-02-19 21:25:35.5 ").is_ok());
        assert!(parse_timestamp("2007-02-19").is_err());
        assert!(parse_timestamp("2007-02-19T21:25:35").is_err());
        assert!(parse_timestamp("2007/02/19 21:25:35").is_err());
    }
}
