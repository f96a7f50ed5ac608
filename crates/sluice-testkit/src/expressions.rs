//! `expressions.tsv`: scalar checks, one per line.
//!
//! Header `expression<TAB>expected`, then a KDA SQL scalar expression and its
//! expected value as a SQL literal. Both sides are evaluated by the engine
//! with no input stream; the expected value is cast to the actual value's
//! type before comparing (so `'2004-09-30 13:48:20'` matches a TIMESTAMP),
//! and floating-point values compare within a relative tolerance.

use std::path::Path;

use sluice_engine::arrow::array::{Array, ArrayRef};
use sluice_engine::arrow::compute::cast;
use sluice_engine::arrow::datatypes::DataType;
use sluice_engine::arrow::util::display::array_value_to_string;
use sluice_engine::evaluate_scalar;

use crate::{Result, read};

/// One check: its line, its expression, and why it failed (if it did).
#[derive(Debug, Clone)]
pub struct Check {
    /// 1-based line in the file.
    pub line: usize,
    /// The expression.
    pub expression: String,
    /// `None` when it passed.
    pub failure: Option<String>,
}

fn show(a: &ArrayRef) -> String {
    if is_null0(a) {
        "NULL".into()
    } else {
        array_value_to_string(a.as_ref(), 0).unwrap_or_else(|e| e.to_string())
    }
}

/// Compares an evaluated expression with an evaluated expected literal.
pub fn matches(actual: &ArrayRef, expected: &ArrayRef) -> bool {
    if is_null0(expected) || is_null0(actual) {
        return is_null0(expected) && is_null0(actual);
    }
    let expected = match cast(expected, actual.data_type()) {
        Ok(e) if !is_null0(&e) => e,
        _ => return show(actual) == show(expected),
    };
    let (a, e) = (show(actual), show(&expected));
    if matches!(actual.data_type(), DataType::Float32 | DataType::Float64)
        && let (Ok(x), Ok(y)) = (a.parse::<f64>(), e.parse::<f64>())
    {
        return x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs());
    }
    a == e
}

/// Runs every check of an expressions.tsv file.
pub fn run_file(path: &Path) -> Result<Vec<Check>> {
    let text = read(path)?;
    let mut checks = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (n == 0 && line.starts_with("expression")) {
            continue;
        }
        let mut parts = line.splitn(2, '\t');
        let expression = parts.next().unwrap_or_default().to_string();
        let failure = match parts.next() {
            None => Some("no TAB between the expression and its expected value".to_string()),
            Some(expected) => match (evaluate_scalar(&expression), evaluate_scalar(expected)) {
                (Err(e), _) => Some(format!("error: {e}")),
                (_, Err(e)) => Some(format!("expected value {expected}: {e}")),
                (Ok(a), Ok(e)) if matches(&a, &e) => None,
                (Ok(a), Ok(e)) => Some(format!("expected {}, got {}", show(&e), show(&a))),
            },
        };
        checks.push(Check {
            line: n + 1,
            expression,
            failure,
        });
    }
    Ok(checks)
}

/// Whether the one value of `a` is NULL (an all-NULL array of type Null
/// counts: it is what a bare `NULL` literal evaluates to).
fn is_null0(a: &ArrayRef) -> bool {
    a.data_type() == &DataType::Null || a.is_null(0)
}

/// The one value of `a` as a KDA SQL literal: `NULL`, `TRUE`, `12`,
/// `1.5`, `'text'` (quotes doubled), `TIMESTAMP '2004-09-30 13:48:20'`,
/// `DATE '2004-09-30'`, `TIME '13:48:20'`; other types as Arrow shows them.
pub fn literal(a: &ArrayRef) -> String {
    if is_null0(a) {
        return "NULL".into();
    }
    let shown = array_value_to_string(a.as_ref(), 0).unwrap_or_else(|e| e.to_string());
    match a.data_type() {
        DataType::Boolean => shown.to_uppercase(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            format!("'{}'", shown.replace('\'', "''"))
        }
        DataType::Timestamp(_, _) => {
            let t = shown.replacen('T', " ", 1);
            let t = t.strip_suffix(".000").unwrap_or(&t);
            format!("TIMESTAMP '{t}'")
        }
        DataType::Date32 | DataType::Date64 => format!("DATE '{shown}'"),
        DataType::Time32(_) | DataType::Time64(_) => format!("TIME '{shown}'"),
        _ => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_kda_literals() {
        let lit = |e: &str| literal(&evaluate_scalar(e).expect("evaluates"));
        assert_eq!(lit("1 + 2"), "3");
        assert_eq!(lit("'it''s'"), "'it''s'");
        assert_eq!(lit("1 = 1"), "TRUE");
        assert_eq!(lit("CAST(NULL AS INTEGER)"), "NULL");
        assert_eq!(
            lit("CAST('2004-09-30 13:48:20' AS TIMESTAMP)"),
            "TIMESTAMP '2004-09-30 13:48:20'"
        );
    }
}
