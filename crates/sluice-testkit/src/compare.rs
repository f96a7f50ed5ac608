//! Comparing emitted rows with expected rows, as CASE-FORMAT.md says.
//!
//! Values compare by kind: numbers within a relative tolerance, strings
//! exactly, TIMESTAMP text by the instant it names (so `T`/`Z` forms match
//! KDA's `2018-08-01 20:17:30.000`), NULL only with NULL. With
//! `order = "rowtime"` rows are compared in emission order and rows that
//! share one ROWTIME as a multiset; with `order = "any"` the whole stream is
//! one multiset.

use serde_json::{Map, Value};
use sluice_engine::input::parse_timestamp;

/// A row: column name → value.
pub type Row = Map<String, Value>;

/// How rows are ordered for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Emission order; equal ROWTIMEs as a multiset.
    Rowtime,
    /// One multiset.
    Any,
}

fn values_match(expected: &Value, actual: &Value, tolerance: f64) -> bool {
    match (expected, actual) {
        (Value::Null, Value::Null) => true,
        (Value::Number(e), Value::Number(a)) => match (e.as_i64(), a.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => {
                let (x, y) = (
                    e.as_f64().unwrap_or(f64::NAN),
                    a.as_f64().unwrap_or(f64::NAN),
                );
                x == y || (x - y).abs() <= tolerance * x.abs().max(y.abs())
            }
        },
        (Value::String(e), Value::String(a)) => {
            e == a
                || match (parse_timestamp(e), parse_timestamp(a)) {
                    (Some(x), Some(y)) => x == y && looks_like_time(e) && looks_like_time(a),
                    _ => false,
                }
        }
        (Value::Bool(e), Value::Bool(a)) => e == a,
        _ => false,
    }
}

fn looks_like_time(s: &str) -> bool {
    s.len() >= 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-'
}

/// Why `actual` does not match `expected`, if it does not. `strict`: every
/// column of `actual` (but ROWTIME) must be in `expected` too.
pub fn row_mismatch(expected: &Row, actual: &Row, tolerance: f64, strict: bool) -> Option<String> {
    for (k, e) in expected {
        match actual.get(k) {
            None => return Some(format!("the stream has no column \"{k}\"")),
            Some(a) if !values_match(e, a, tolerance) => {
                return Some(format!("{k}: expected {e}, got {a}"));
            }
            _ => {}
        }
    }
    if strict
        && let Some(k) = actual
            .keys()
            .find(|k| *k != "ROWTIME" && !expected.contains_key(*k))
    {
        return Some(format!("expected row has no \"{k}\""));
    }
    None
}

/// Compares a stream's rows. `Err` holds a description of the first difference.
pub fn compare_rows(
    expected: &[Row],
    actual: &[Row],
    order: Order,
    tolerance: f64,
    strict: bool,
) -> Result<(), String> {
    let show = |r: Option<&Row>| match r {
        Some(r) => Value::Object(r.clone()).to_string(),
        None => "(no row)".to_string(),
    };
    // Chunks of actual rows compared as multisets.
    let chunks: Vec<std::ops::Range<usize>> = match order {
        Order::Any => std::iter::once(0..actual.len()).collect(),
        Order::Rowtime => {
            let mut v = Vec::new();
            let mut i = 0;
            while i < actual.len() {
                let t = actual[i].get("ROWTIME");
                let mut j = i + 1;
                while j < actual.len() && actual[j].get("ROWTIME") == t {
                    j += 1;
                }
                v.push(i..j);
                i = j;
            }
            v
        }
    };
    for range in chunks {
        let exp_range = range.start.min(expected.len())..range.end.min(expected.len());
        let mut unmatched: Vec<usize> = exp_range.clone().collect();
        for ai in range.clone() {
            let a = &actual[ai];
            match unmatched
                .iter()
                .position(|&ei| row_mismatch(&expected[ei], a, tolerance, strict).is_none())
            {
                Some(p) => {
                    unmatched.remove(p);
                }
                None => {
                    let closest = unmatched.first().map(|&ei| &expected[ei]);
                    let why = closest
                        .and_then(|e| row_mismatch(e, a, tolerance, strict))
                        .unwrap_or_else(|| "more rows than expected".into());
                    return Err(format!(
                        "row {}: {why}\n    expected: {}\n    actual:   {}",
                        ai + 1,
                        show(closest),
                        show(Some(a))
                    ));
                }
            }
        }
        if let Some(&ei) = unmatched.first() {
            return Err(format!(
                "row {}: missing\n    expected: {}\n    actual:   (no row)",
                ei + 1,
                show(Some(&expected[ei]))
            ));
        }
    }
    if expected.len() > actual.len() {
        return Err(format!(
            "row {}: missing (expected {} rows, got {})\n    expected: {}\n    actual:   (no row)",
            actual.len() + 1,
            expected.len(),
            actual.len(),
            show(expected.get(actual.len()))
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Row> {
        text.lines()
            .map(|l| serde_json::from_str::<Row>(l).unwrap())
            .collect()
    }

    #[test]
    fn equal_rowtimes_compare_as_multiset() {
        let e = rows("{\"A\": 1}\n{\"A\": 2}\n{\"A\": 3}");
        let a = rows(
            "{\"ROWTIME\": \"2024-01-01 00:00:01.000\", \"A\": 2}\n{\"ROWTIME\": \"2024-01-01 00:00:01.000\", \"A\": 1}\n{\"ROWTIME\": \"2024-01-01 00:00:02.000\", \"A\": 3}",
        );
        assert!(compare_rows(&e, &a, Order::Rowtime, 1e-9, true).is_ok());
        let a2 = rows(
            "{\"ROWTIME\": \"2024-01-01 00:00:01.000\", \"A\": 3}\n{\"ROWTIME\": \"2024-01-01 00:00:01.000\", \"A\": 1}\n{\"ROWTIME\": \"2024-01-01 00:00:02.000\", \"A\": 2}",
        );
        let err = compare_rows(&e, &a2, Order::Rowtime, 1e-9, true).unwrap_err();
        assert!(err.starts_with("row 1: A: expected 1, got 3"), "{err}");
        assert!(compare_rows(&e, &a2, Order::Any, 1e-9, true).is_ok());
    }

    #[test]
    fn timestamps_floats_and_counts() {
        let e = rows("{\"T\": \"2018-08-01T20:17:30Z\", \"P\": 0.30000000000000004}");
        let a = rows("{\"T\": \"2018-08-01 20:17:30.000\", \"P\": 0.3}");
        assert!(compare_rows(&e, &a, Order::Rowtime, 1e-9, true).is_ok());
        let err = compare_rows(&e, &[], Order::Rowtime, 1e-9, true).unwrap_err();
        assert!(err.contains("missing"), "{err}");
        let err = compare_rows(&[], &a, Order::Rowtime, 1e-9, true).unwrap_err();
        assert!(err.contains("more rows"), "{err}");
        let b = rows("{\"T\": \"2018-08-01 20:17:30.000\", \"P\": 0.3, \"X\": 1}");
        let err = compare_rows(&e, &b, Order::Rowtime, 1e-9, true).unwrap_err();
        assert!(
            err.contains("no \\\"X\\\"") || err.contains("no \"X\""),
            "{err}"
        );
    }
}
