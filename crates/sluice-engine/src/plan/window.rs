//! ROWTIME windows: window sizes ([`WindowSize`]), interval literals, and
//! recognizing a window expression (`FLOOR(ROWTIME TO unit)`,
//! `STEP(ROWTIME BY INTERVAL ..)`, the epoch-period idiom
//! `FLOOR((ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND)`).

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, Expr, Interval, Value,
};

use super::types::{APPROXIMATE_ARRIVAL_TIME, ROWTIME};
use super::{expr_location, function_args};
use crate::error::{EngineError, Location, Result};

/// How window starts are computed from ROWTIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSize {
    /// A fixed length in milliseconds, aligned to the epoch.
    Millis(i64),
    /// Whole calendar months (MONTH = 1, YEAR = 12), aligned to January 1970.
    Months(i64),
}

impl WindowSize {
    /// Start of the window holding `t` (ms since epoch).
    pub fn start(self, t: i64) -> i64 {
        match self {
            WindowSize::Millis(size) => t.div_euclid(size) * size,
            WindowSize::Months(n) => {
                let months = months_since_epoch(t);
                month_start(months.div_euclid(n) * n)
            }
        }
    }

    /// End (exclusive) of the window that starts at `start`.
    pub fn end(self, start: i64) -> i64 {
        match self {
            WindowSize::Millis(size) => start.saturating_add(size),
            WindowSize::Months(n) => month_start(months_since_epoch(start) + n),
        }
    }
}

fn months_since_epoch(t: i64) -> i64 {
    use chrono::Datelike;
    let dt = chrono::DateTime::from_timestamp_millis(t).unwrap_or_default();
    (i64::from(dt.year()) - 1970) * 12 + i64::from(dt.month0())
}

fn month_start(months: i64) -> i64 {
    let year = 1970 + months.div_euclid(12);
    let month = months.rem_euclid(12) as u32 + 1;
    chrono::NaiveDate::from_ymd_opt(year as i32, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or(i64::MAX)
}

/// The ROWTIME-like column an expression is, if it is one (`ROWTIME`,
/// `S.ROWTIME`, `APPROXIMATE_ARRIVAL_TIME`) after qualifier removal.
pub(super) fn time_column_of(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Identifier(id) if id.value == ROWTIME => Some(ROWTIME),
        Expr::Identifier(id) if id.value == APPROXIMATE_ARRIVAL_TIME => {
            Some(APPROXIMATE_ARRIVAL_TIME)
        }
        Expr::Nested(inner) => time_column_of(inner),
        _ => None,
    }
}

/// `INTERVAL '60' SECOND` etc. as a window size.
pub(super) fn interval_size(iv: &Interval, at: Location) -> Result<WindowSize> {
    let bad = |what: &str| EngineError::Plan {
        location: at,
        message: format!("window interval {iv}: {what}"),
    };
    let text = match iv.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => s.trim().to_string(),
            _ => return Err(bad("the value must be a quoted number")),
        },
        _ => return Err(bad("the value must be a quoted number")),
    };
    if iv.last_field.is_some() {
        return Err(bad(
            "ranges such as HOUR TO MINUTE are not supported for windows",
        ));
    }
    let n: i64 = text
        .parse()
        .map_err(|_| bad("the value must be a whole number"))?;
    if n <= 0 {
        return Err(bad("the length must be positive"));
    }
    let unit = iv.leading_field.clone().unwrap_or(DateTimeField::Second);
    unit_size(&unit, n).ok_or_else(|| bad(&format!("unit {unit} is not supported")))
}

fn unit_size(unit: &DateTimeField, n: i64) -> Option<WindowSize> {
    Some(match unit {
        DateTimeField::Millisecond | DateTimeField::Milliseconds => WindowSize::Millis(n),
        DateTimeField::Second | DateTimeField::Seconds => WindowSize::Millis(n * 1_000),
        DateTimeField::Minute | DateTimeField::Minutes => WindowSize::Millis(n * 60_000),
        DateTimeField::Hour | DateTimeField::Hours => WindowSize::Millis(n * 3_600_000),
        DateTimeField::Day | DateTimeField::Days => WindowSize::Millis(n * 86_400_000),
        DateTimeField::Month | DateTimeField::Months => WindowSize::Months(n),
        DateTimeField::Year | DateTimeField::Years => WindowSize::Months(12 * n),
        _ => return None,
    })
}

/// The epoch-period idiom many KDA apps group by,
/// `FLOOR((ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND)`
/// (the number of whole 10-second periods since the epoch; `floor_expr` is
/// what FLOOR's parentheses hold, `unit` its TO unit): a tumbling window of
/// N units aligned on the epoch, as `STEP(ROWTIME BY INTERVAL 'N' SECOND)`
/// is (the STEP page defines STEP by the same arithmetic). The qualifier's
/// field and the FLOOR unit must be the same day-time field; `/ N` is a
/// positive integer literal, or absent (N = 1).
pub(super) fn epoch_period_window(
    floor_expr: &Expr,
    unit: &DateTimeField,
) -> Option<(&'static str, WindowSize)> {
    let (difference, n) = match strip(floor_expr) {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Divide,
            right,
        } => (strip(left), positive_integer(right)?),
        other => (other, 1),
    };
    let Expr::Function(f) = difference else {
        return None;
    };
    if f.name.to_string() != crate::functions::interval::INTERVAL_OF {
        return None;
    }
    let args = function_args(f);
    let [minus, Expr::Value(field)] = args.as_slice() else {
        return None;
    };
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Minus,
        right,
    } = strip(minus)
    else {
        return None;
    };
    let col = time_column_of(left)?;
    if strip(right).to_string() != "TIMESTAMP '1970-01-01 00:00:00'" {
        return None;
    }
    let Value::SingleQuotedString(field) = &field.value else {
        return None;
    };
    let unit_ms = crate::functions::interval::unit_millis(field)?;
    (field.eq_ignore_ascii_case(&unit.to_string())).then_some(())?;
    Some((col, WindowSize::Millis(n.checked_mul(unit_ms)?)))
}

/// `e` without the parentheses around it.
fn strip(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

fn positive_integer(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok().filter(|n: &i64| *n > 0),
            _ => None,
        },
        Expr::Nested(inner) => positive_integer(inner),
        _ => None,
    }
}

/// The window `FLOOR(.. TO unit)` makes, if `unit` is a window unit.
pub(super) fn unit_window(unit: &DateTimeField) -> Option<WindowSize> {
    match unit {
        DateTimeField::Week(_) => Some(WindowSize::Millis(7 * 86_400_000)),
        u => unit_size(u, 1),
    }
}

/// If `e` is a ROWTIME window (`FLOOR(ROWTIME TO u)`, `STEP(ROWTIME, INTERVAL ..)`
/// or the epoch-period idiom, [`epoch_period_window`]), its time column and size.
pub(super) fn window_of(
    e: &Expr,
    fallback: Location,
) -> Result<Option<(&'static str, WindowSize)>> {
    match e {
        Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(unit),
        } => {
            if let Some(window) = epoch_period_window(expr, unit) {
                return Ok(Some(window));
            }
            let Some(col) = time_column_of(expr) else {
                return Ok(None);
            };
            let size = match unit {
                DateTimeField::Week(_) => WindowSize::Millis(7 * 86_400_000),
                u => unit_size(u, 1).ok_or_else(|| EngineError::Plan {
                    location: expr_location(e, fallback),
                    message: format!("FLOOR(... TO {u}) is not a window unit"),
                })?,
            };
            Ok(Some((col, size)))
        }
        Expr::Function(f) if f.name.to_string() == "step" => {
            let args = function_args(f);
            if let [first, Expr::Interval(iv)] = args.as_slice()
                && let Some(col) = time_column_of(first)
            {
                return Ok(Some((col, interval_size(iv, expr_location(e, fallback))?)));
            }
            Ok(None)
        }
        Expr::Nested(inner) => window_of(inner, fallback),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_align_to_the_epoch_and_calendar() {
        let minute = WindowSize::Millis(60_000);
        assert_eq!(minute.start(125_000), 120_000);
        assert_eq!(minute.end(120_000), 180_000);
        assert_eq!(minute.start(-1), -60_000);
        let month = WindowSize::Months(1);
        // 2024-02-15T00:00:00Z
        let t = 1_707_955_200_000;
        assert_eq!(month.start(t), 1_706_745_600_000); // 2024-02-01
        assert_eq!(month.end(month.start(t)), 1_709_251_200_000); // 2024-03-01
    }
}
