//! KDA → DataFusion rewrites of SQL expressions: KDA functions DataFusion
//! lacks under these names (`FLOOR(x TO unit)`, `STEP`, the function
//! library's rewrites), `SIMILAR TO` as a regular expression, and division
//! guarded against zero as KDA does.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, Expr, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{expr_location, function_args};
use crate::error::{EngineError, Location, Result};

fn parse_expr(text: &str) -> Result<Expr> {
    let dialect = GenericDialect {};
    Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| EngineError::Plan {
            location: Location::default(),
            message: format!("internal rewrite of `{text}` failed: {e}"),
        })
}

/// Rewrites KDA functions DataFusion lacks under these names into ones it has:
/// `FLOOR(x TO unit)` → `date_trunc('unit', x)`, `STEP(ts, INTERVAL ..)` →
/// `date_bin(INTERVAL .., ts, TIMESTAMP '1970-01-01 00:00:00')`.
struct KdaRewrites {
    error: Option<EngineError>,
}

impl VisitorMut for KdaRewrites {
    type Break = ();
    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        // The function library's rewrites (OVERLAY, SUBSTRING, STEP(int), ...).
        if let Err(err) = crate::functions::rewrite(e) {
            self.error = Some(err);
            return ControlFlow::Break(());
        }
        if let Expr::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } = e
        {
            let escape = match escape_char.as_ref().map(|v| &v.value) {
                None => None,
                Some(Value::SingleQuotedString(s)) if s.chars().count() == 1 => s.chars().next(),
                Some(other) => {
                    self.error = Some(EngineError::Plan {
                        location: expr_location(pattern, Location::default()),
                        message: format!("SIMILAR TO: ESCAPE {other} must be one character"),
                    });
                    return ControlFlow::Break(());
                }
            };
            let Expr::Value(v) = pattern.as_ref() else {
                self.error = Some(EngineError::Unsupported {
                    location: expr_location(pattern, Location::default()),
                    what: "SIMILAR TO with a pattern that is not a string literal".into(),
                });
                return ControlFlow::Break(());
            };
            let Value::SingleQuotedString(p) = &v.value else {
                self.error = Some(EngineError::Plan {
                    location: expr_location(pattern, Location::default()),
                    message: "SIMILAR TO needs a string pattern".into(),
                });
                return ControlFlow::Break(());
            };
            let regex = similar_to_regex(p, escape);
            *e = Expr::BinaryOp {
                left: expr.clone(),
                op: if *negated {
                    BinaryOperator::PGRegexNotMatch
                } else {
                    BinaryOperator::PGRegexMatch
                },
                right: Box::new(Expr::value(Value::SingleQuotedString(regex))),
            };
            return ControlFlow::Continue(());
        }
        // KDA: division by zero is a run-time error for every numeric type.
        if let Expr::BinaryOp {
            op: BinaryOperator::Divide,
            right,
            ..
        } = e
        {
            let nonzero_literal = matches!(right.as_ref(), Expr::Value(v)
                if matches!(&v.value, Value::Number(n, _) if n.parse::<f64>().is_ok_and(|x| x != 0.0)));
            if !nonzero_literal {
                match parse_expr(&format!("{}({right})", crate::functions::KDA_DIVISOR)) {
                    Ok(wrapped) => **right = wrapped,
                    Err(err) => {
                        self.error = Some(err);
                        return ControlFlow::Break(());
                    }
                }
            }
            return ControlFlow::Continue(());
        }
        let replacement = match e {
            Expr::Floor {
                expr,
                field: CeilFloorKind::DateTimeField(unit),
            } if !matches!(unit, DateTimeField::NoDateTime) => {
                let unit = match unit {
                    DateTimeField::Week(_) => "week".to_string(),
                    u => u.to_string().to_lowercase(),
                };
                Some(format!("date_trunc('{unit}', {expr})"))
            }
            Expr::Function(f) if f.name.to_string() == "step" => {
                let args = function_args(f);
                match args.as_slice() {
                    [ts, Expr::Interval(iv)] => Some(format!(
                        "date_bin({iv}, {ts}, TIMESTAMP '1970-01-01 00:00:00')"
                    )),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(text) = replacement {
            match parse_expr(&text) {
                Ok(new) => *e = new,
                Err(err) => {
                    self.error = Some(err);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Translates a SQL `SIMILAR TO` pattern into an anchored regular expression:
/// `%` is any string, `_` any character, `|`, `*`, `+`, `?`, `{m,n}`, `( )` and
/// `[ ]` keep their regex meaning, everything else is literal.
pub(crate) fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(next) = chars.next() {
                out.push_str(&regex_literal(next));
            }
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
            }
            ']' => {
                in_class = false;
                out.push(']');
            }
            _ if in_class => out.push(c),
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            c => out.push_str(&regex_literal(c)),
        }
    }
    out.push_str(")$");
    out
}

fn regex_literal(c: char) -> String {
    if "\\.^$|?*+()[]{}".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

pub(super) fn rewrite_kda(e: &mut Expr) -> Result<()> {
    let mut v = KdaRewrites { error: None };
    let _ = e.visit(&mut v);
    match v.error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_to_patterns_become_anchored_regexes() {
        assert_eq!(similar_to_regex("(G|M)%", None), "^(?:(G|M).*)$");
        assert_eq!(similar_to_regex("a_c.d", None), "^(?:a.c\\.d)$");
        assert_eq!(similar_to_regex("100#%", Some('#')), "^(?:100%)$");
        assert_eq!(similar_to_regex("[a-c]%", None), "^(?:[a-c].*)$");
    }
}
