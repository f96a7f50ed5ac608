//! Day-time interval arithmetic, as the KDA SQL Reference's "Date,
//! Timestamp, and Interval Operators" page defines it:
//!
//! - `(<datetime> - <datetime>) <interval qualifier>` is an interval: the
//!   front end turns it into `kda_interval_of(a - b, 'UNIT')` and the
//!   rewrite into `kda_interval_diff(a, b, 'UNIT')` (see
//!   [`super::rewrite`]). The difference keeps the qualifier's precision:
//!   `SECOND` keeps milliseconds (ROWTIME's precision), `MINUTE`, `HOUR` and
//!   `DAY` drop what is below their field (truncation towards zero, as a
//!   cast to a coarser interval does).
//! - `interval * numeric`, `numeric * interval`, `interval / numeric`,
//!   `interval ± interval` are intervals; `datetime ± interval` is a
//!   datetime.
//! - `FLOOR(interval TO unit)` is the largest multiple of the unit at or
//!   below the interval.
//!
//! So the epoch-seconds idiom real apps use for N-second tumbling windows,
//! `FLOOR((ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO
//! SECOND)`, is the number of whole 10-second periods since the epoch, as a
//! `SECOND` interval, and `TIMESTAMP '1970-01-01 00:00:00' + 10 * FLOOR(..)`
//! is the start of the row's period.
//!
//! Intervals are Arrow `Duration(Millisecond)` values inside the engine.
//! Only the expressions above make them; an INTERVAL literal taking part in
//! one of these operations is converted (a YEAR/MONTH literal cannot be, and
//! is refused at plan time). A NULL operand gives NULL; division by zero is
//! a row error (the row goes to `error_stream`).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DurationMillisecondArray, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, DurationMillisecondType, Float64Type, IntervalUnit, TimeUnit,
    TimestampMillisecondType,
};
use datafusion::error::{DataFusionError, Result};

use super::{KdaFunction, all, row_error, string_arg, timestamp_arg};
use crate::types::ROWTIME_TYPE;

/// Arrow's type for a KDA day-time interval.
pub const INTERVAL_TYPE: DataType = DataType::Duration(TimeUnit::Millisecond);

/// The names of the UDFs whose result is an interval: an expression that
/// calls one of them (or is an INTERVAL literal) is interval-valued, which
/// decides how `+ - * /` and FLOOR around it are rewritten.
pub const INTERVAL_FUNCTIONS: [&str; 7] = [
    INTERVAL_VALUE,
    "kda_interval_diff",
    "kda_interval_mul",
    "kda_interval_div",
    "kda_interval_floor",
    "kda_interval_add",
    "kda_interval_sub",
];

/// The identity on intervals: the planner wraps a reference to a computed
/// interval column (a grouped interval key) in it, so the expressions
/// around it still know it is an interval.
pub const INTERVAL_VALUE: &str = "kda_interval";

/// The function the front end writes for `(a - b) UNIT`; the rewrite
/// replaces it by `kda_interval_diff`.
pub const INTERVAL_OF: &str = "kda_interval_of";

/// The interval UDFs.
pub fn functions() -> Vec<KdaFunction> {
    vec![
        KdaFunction::new(
            INTERVAL_VALUE,
            "<interval>",
            |t| all(t, &[interval_arg]),
            |_| INTERVAL_TYPE,
            |a| Ok(Arc::clone(&a[0])),
        ),
        KdaFunction::new(
            "kda_interval_diff",
            "(<datetime> - <datetime>) <interval qualifier>",
            |t| all(t, &[timestamp_arg, timestamp_arg, string_arg]),
            |_| INTERVAL_TYPE,
            eval_diff,
        ),
        KdaFunction::new(
            "kda_interval_mul",
            "<interval> * <numeric>",
            |t| all(t, &[interval_arg, numeric_arg]),
            |_| INTERVAL_TYPE,
            eval_mul,
        ),
        KdaFunction::new(
            "kda_interval_div",
            "<interval> / <numeric>",
            |t| all(t, &[interval_arg, numeric_arg]),
            |_| INTERVAL_TYPE,
            eval_div,
        ),
        KdaFunction::new(
            "kda_interval_floor",
            "FLOOR(<interval> TO <time unit>)",
            |t| all(t, &[interval_arg, string_arg]),
            |_| INTERVAL_TYPE,
            eval_floor,
        ),
        KdaFunction::new(
            "kda_interval_add",
            "<interval> + <interval>",
            |t| all(t, &[interval_arg, interval_arg]),
            |_| INTERVAL_TYPE,
            |a| eval_pair(a, i64::checked_add),
        ),
        KdaFunction::new(
            "kda_interval_sub",
            "<interval> - <interval>",
            |t| all(t, &[interval_arg, interval_arg]),
            |_| INTERVAL_TYPE,
            |a| eval_pair(a, i64::checked_sub),
        ),
        KdaFunction::new(
            "kda_datetime_add",
            "<datetime> + <interval>",
            |t| all(t, &[timestamp_arg, interval_arg]),
            |_| ROWTIME_TYPE,
            |a| eval_shift(a, i64::checked_add),
        ),
        KdaFunction::new(
            "kda_datetime_sub",
            "<datetime> - <interval>",
            |t| all(t, &[timestamp_arg, interval_arg]),
            |_| ROWTIME_TYPE,
            |a| eval_shift(a, i64::checked_sub),
        ),
    ]
}

/// Milliseconds in one unit of a day-time interval qualifier's last field,
/// or `None` for a field that is not one (YEAR, MONTH, ...).
pub fn unit_millis(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_uppercase().as_str() {
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return None,
    })
}

/// An interval argument: one of ours, a day-time INTERVAL literal, or NULL.
fn interval_arg(t: &DataType) -> Option<DataType> {
    matches!(
        t,
        DataType::Duration(_)
            | DataType::Interval(IntervalUnit::DayTime | IntervalUnit::MonthDayNano)
            | DataType::Null
    )
    .then_some(INTERVAL_TYPE)
}

/// A numeric argument (or NULL), as DOUBLE.
fn numeric_arg(t: &DataType) -> Option<DataType> {
    (t.is_numeric() || t == &DataType::Null).then_some(DataType::Float64)
}

fn internal(a: &ArrayRef, want: &str) -> DataFusionError {
    DataFusionError::Internal(format!(
        "interval function: expected {want}, got {}",
        a.data_type()
    ))
}

fn timestamps(a: &ArrayRef) -> Result<&TimestampMillisecondArray> {
    a.as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| internal(a, "TIMESTAMP"))
}

fn intervals(a: &ArrayRef) -> Result<&DurationMillisecondArray> {
    a.as_primitive_opt::<DurationMillisecondType>()
        .ok_or_else(|| internal(a, "an interval"))
}

fn strings(a: &ArrayRef) -> Result<&StringArray> {
    a.as_string_opt::<i32>()
        .ok_or_else(|| internal(a, "VARCHAR"))
}

/// A unit argument's size in milliseconds (a literal the front end wrote,
/// checked there; a NULL or other value is a row error).
fn unit_of(units: &StringArray, row: usize, function: &str) -> Result<i64> {
    let u = if units.is_null(row) {
        "NULL"
    } else {
        units.value(row)
    };
    unit_millis(u)
        .ok_or_else(|| row_error(function, format!("{u} is not a day-time interval unit")))
}

fn overflow(function: &str) -> DataFusionError {
    row_error(function, "the interval is out of range")
}

fn eval_diff(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (a, b, units) = (
        timestamps(&args[0])?,
        timestamps(&args[1])?,
        strings(&args[2])?,
    );
    let mut out = Vec::with_capacity(a.len());
    for row in 0..a.len() {
        if a.is_null(row) || b.is_null(row) {
            out.push(None);
            continue;
        }
        let unit = unit_of(units, row, "(<datetime> - <datetime>)")?;
        let d = a
            .value(row)
            .checked_sub(b.value(row))
            .ok_or_else(|| overflow("(<datetime> - <datetime>)"))?;
        // SECOND keeps milliseconds; coarser fields truncate towards zero.
        out.push(Some(if unit == 1_000 { d } else { d / unit * unit }));
    }
    Ok(Arc::new(DurationMillisecondArray::from(out)))
}

fn numbers(a: &ArrayRef) -> Result<datafusion::arrow::array::Float64Array> {
    let c = cast(a, &DataType::Float64)?;
    c.as_primitive_opt::<Float64Type>()
        .cloned()
        .ok_or_else(|| internal(a, "DOUBLE"))
}

/// `iv op n`, rounded to the millisecond (towards zero).
fn eval_scaled(args: &[ArrayRef], divide: bool) -> Result<ArrayRef> {
    let function = if divide {
        "<interval> / <numeric>"
    } else {
        "<interval> * <numeric>"
    };
    let (iv, n) = (intervals(&args[0])?, numbers(&args[1])?);
    let mut out = Vec::with_capacity(iv.len());
    for row in 0..iv.len() {
        if iv.is_null(row) || n.is_null(row) {
            out.push(None);
            continue;
        }
        let (v, n) = (iv.value(row) as f64, n.value(row));
        let r = if divide {
            if n == 0.0 {
                return Err(row_error(function, "division by zero"));
            }
            v / n
        } else {
            v * n
        };
        if !r.is_finite() || r.abs() >= i64::MAX as f64 {
            return Err(overflow(function));
        }
        out.push(Some(r.trunc() as i64));
    }
    Ok(Arc::new(DurationMillisecondArray::from(out)))
}

fn eval_mul(args: &[ArrayRef]) -> Result<ArrayRef> {
    eval_scaled(args, false)
}

fn eval_div(args: &[ArrayRef]) -> Result<ArrayRef> {
    eval_scaled(args, true)
}

fn eval_floor(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (iv, units) = (intervals(&args[0])?, strings(&args[1])?);
    let mut out = Vec::with_capacity(iv.len());
    for row in 0..iv.len() {
        if iv.is_null(row) {
            out.push(None);
            continue;
        }
        let unit = unit_of(units, row, "FLOOR(<interval> TO <time unit>)")?;
        out.push(Some(iv.value(row).div_euclid(unit) * unit));
    }
    Ok(Arc::new(DurationMillisecondArray::from(out)))
}

fn eval_pair(args: &[ArrayRef], op: fn(i64, i64) -> Option<i64>) -> Result<ArrayRef> {
    let (a, b) = (intervals(&args[0])?, intervals(&args[1])?);
    let out = (0..a.len())
        .map(|row| {
            if a.is_null(row) || b.is_null(row) {
                return Ok(None);
            }
            op(a.value(row), b.value(row))
                .map(Some)
                .ok_or_else(|| overflow("<interval> ± <interval>"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(DurationMillisecondArray::from(out)))
}

fn eval_shift(args: &[ArrayRef], op: fn(i64, i64) -> Option<i64>) -> Result<ArrayRef> {
    let (t, iv) = (timestamps(&args[0])?, intervals(&args[1])?);
    let out = (0..t.len())
        .map(|row| {
            if t.is_null(row) || iv.is_null(row) {
                return Ok(None);
            }
            op(t.value(row), iv.value(row))
                .map(Some)
                .ok_or_else(|| overflow("<datetime> ± <interval>"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(TimestampMillisecondArray::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(v.to_vec()))
    }

    fn iv(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(DurationMillisecondArray::from(v.to_vec()))
    }

    fn units(u: &str, n: usize) -> ArrayRef {
        Arc::new(StringArray::from(vec![u; n]))
    }

    fn values(a: &ArrayRef) -> Vec<Option<i64>> {
        a.as_primitive::<DurationMillisecondType>().iter().collect()
    }

    #[test]
    fn difference_keeps_the_qualifiers_precision() {
        let a = ts(&[Some(1_701_234_567_891), Some(-90_500), None]);
        let b = ts(&[Some(0), Some(0), Some(0)]);
        let s = eval_diff(&[a.clone(), b.clone(), units("SECOND", 3)]).unwrap();
        assert_eq!(values(&s), [Some(1_701_234_567_891), Some(-90_500), None]);
        let m = eval_diff(&[a, b, units("MINUTE", 3)]).unwrap();
        // 28,353,909 whole minutes; -1.5 minutes truncates to -1.
        assert_eq!(values(&m), [Some(28_353_909 * 60_000), Some(-60_000), None]);
    }

    #[test]
    fn epoch_seconds_idiom_gives_ten_second_periods() {
        // FLOOR((t - epoch) SECOND / 10 TO SECOND) for t = 12:00:07.5 and
        // 12:00:10.0 (ms since the epoch, same day).
        let t = ts(&[Some(43_207_500), Some(43_210_000)]);
        let d = eval_diff(&[t, ts(&[Some(0), Some(0)]), units("SECOND", 2)]).unwrap();
        let n = Arc::new(datafusion::arrow::array::Float64Array::from(vec![10.0; 2])) as ArrayRef;
        let q = eval_div(&[d, n.clone()]).unwrap();
        let f = eval_floor(&[q, units("SECOND", 2)]).unwrap();
        // 4320.75 s and 4321 s, floored to whole seconds.
        assert_eq!(values(&f), [Some(4_320_000), Some(4_321_000)]);
        // epoch + 10 * that = the period's start.
        let start = eval_shift(
            &[ts(&[Some(0), Some(0)]), eval_mul(&[f, n]).unwrap()],
            i64::checked_add,
        )
        .unwrap();
        let start: Vec<_> = start
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect();
        assert_eq!(start, [Some(43_200_000), Some(43_210_000)]);
    }

    #[test]
    fn floor_goes_down_for_negative_intervals() {
        let f = eval_floor(&[iv(&[Some(-1_500), Some(1_500)]), units("SECOND", 2)]).unwrap();
        assert_eq!(values(&f), [Some(-2_000), Some(1_000)]);
    }

    #[test]
    fn division_by_zero_is_a_row_error_and_null_stays_null() {
        let zero = Arc::new(datafusion::arrow::array::Float64Array::from(vec![0.0])) as ArrayRef;
        let err = eval_div(&[iv(&[Some(1_000)]), zero]).unwrap_err();
        assert!(err.to_string().contains("division by zero"), "{err}");
        let null = Arc::new(datafusion::arrow::array::Float64Array::from(vec![None])) as ArrayRef;
        assert_eq!(
            values(&eval_div(&[iv(&[Some(1_000)]), null]).unwrap()),
            [None]
        );
    }

    #[test]
    fn interval_sums_and_shifts() {
        let s = eval_pair(&[iv(&[Some(3_000)]), iv(&[Some(500)])], i64::checked_sub).unwrap();
        assert_eq!(values(&s), [Some(2_500)]);
        let t = eval_shift(&[ts(&[Some(10_000)]), iv(&[Some(2_500)])], i64::checked_sub).unwrap();
        let t: Vec<_> = t
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect();
        assert_eq!(t, [Some(7_500)]);
    }

    #[test]
    fn only_day_time_fields_are_units() {
        assert_eq!(unit_millis("minute"), Some(60_000));
        assert_eq!(unit_millis("MONTH"), None);
    }
}
