//! KDA function syntax → calls DataFusion plans: the rewrites the planner
//! applies to every expression, bottom-up, before DataFusion sees it.

use datafusion::sql::sqlparser::ast::{
    CastKind, CeilFloorKind, CharacterLength, DataType as SqlDataType, DateTimeField, Expr,
    Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Spanned, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::interval::{INTERVAL_FUNCTIONS, INTERVAL_OF};
use super::numeric::{plain_args, rewrite_call};
use crate::error::{EngineError, Location};

fn location(e: &Expr) -> Location {
    let s = e.span().start;
    Location::new(s.line, s.column)
}

fn plan_error(e: &Expr, message: impl Into<String>) -> EngineError {
    EngineError::Plan {
        location: location(e),
        message: message.into(),
    }
}

/// A call of a (lower-case) function name.
pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn parse(text: &str, at: &Expr) -> Result<Expr, EngineError> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| plan_error(at, format!("internal rewrite of `{text}` failed: {e}")))
}

pub(super) fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

pub(super) fn integer_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::Nested(inner) => integer_literal(inner),
        Expr::UnaryOp { op, expr } if op.to_string() == "-" => integer_literal(expr).map(|n| -n),
        _ => None,
    }
}

/// Checks a literal Java regex at plan time.
fn check_regex(function: &str, pattern: &Expr) -> Result<(), EngineError> {
    if let Some(p) = string_literal(pattern) {
        super::java_regex::compile(p)
            .map_err(|e| plan_error(pattern, format!("{function}: {e}")))?;
    }
    Ok(())
}

/// Rewrites one expression node (its children are already rewritten).
pub(crate) fn rewrite(e: &mut Expr) -> Result<(), EngineError> {
    if let Some(r) = interval_rewrite(e)? {
        *e = r;
        return Ok(());
    }
    let at = location(e);
    let replacement = match e {
        Expr::Overlay {
            expr,
            overlay_what,
            overlay_from,
            overlay_for,
        } => {
            let mut args = vec![*expr.clone(), *overlay_what.clone(), *overlay_from.clone()];
            args.extend(overlay_for.as_deref().cloned());
            Some(call("kda_overlay", args))
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            special,
            ..
        } => {
            let from = substring_from
                .as_deref()
                .cloned()
                .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
            if string_literal(&from).is_some() {
                if substring_for.is_some() {
                    return Err(plan_error(
                        &from,
                        "SUBSTRING(<string> FROM <regex>) takes no FOR",
                    ));
                }
                check_regex("SUBSTRING", &from)?;
            }
            let mut args = vec![*expr.clone(), from];
            args.extend(substring_for.as_deref().cloned());
            let name = if *special {
                "kda_substring_comma"
            } else {
                "kda_substring"
            };
            Some(call(name, args))
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type: SqlDataType::Char(len) | SqlDataType::Character(len),
            ..
        } => {
            let n = match len {
                None => 1,
                Some(CharacterLength::IntegerLength { length, .. }) => *length,
                Some(CharacterLength::Max) => {
                    return Err(plan_error(e, "CHAR needs a length, e.g. CHAR(16)"));
                }
            };
            let n = Expr::value(Value::Number(n.to_string(), false));
            let text = call("kda_varchar", vec![*expr.clone(), n.clone()]);
            Some(call("kda_char", vec![text, n]))
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type:
                SqlDataType::Varchar(len)
                | SqlDataType::CharVarying(len)
                | SqlDataType::CharacterVarying(len),
            ..
        } => {
            let mut args = vec![*expr.clone()];
            match len {
                None | Some(CharacterLength::Max) => {}
                Some(CharacterLength::IntegerLength { length, .. }) => {
                    args.push(Expr::value(Value::Number(length.to_string(), false)));
                }
            }
            Some(call("kda_varchar", args))
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            data_type: data_type @ (SqlDataType::Binary(_) | SqlDataType::Varbinary(_)),
            ..
        } => {
            // DataFusion's SQL front end names Arrow's Binary BYTEA only;
            // the length is not kept (see `functions::cast`).
            *data_type = SqlDataType::Bytea;
            None
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type:
                SqlDataType::TinyInt(_)
                | SqlDataType::SmallInt(_)
                | SqlDataType::Int(_)
                | SqlDataType::Integer(_)
                | SqlDataType::BigInt(_),
            ..
        } => {
            **expr = call("kda_cast_round", vec![*expr.clone()]);
            None
        }
        Expr::Ceil {
            expr,
            field: CeilFloorKind::DateTimeField(unit),
        } if !matches!(unit, DateTimeField::NoDateTime) => {
            let (trunc, step) = match unit {
                DateTimeField::Week(_) => ("week".to_string(), "INTERVAL '7' DAY".to_string()),
                u => (u.to_string().to_lowercase(), format!("INTERVAL '1' {u}")),
            };
            let t = format!("date_trunc('{trunc}', {expr})");
            Some(parse(
                &format!("CASE WHEN {t} = {expr} THEN {t} ELSE {t} + {step} END"),
                e,
            )?)
        }
        Expr::Function(f) if CLOCK_FUNCTIONS.contains(&f.name.to_string().as_str()) => {
            // The front end gave KDA's clock functions the row's ROWTIME.
            let args = plain_args(f).unwrap_or_default();
            match clock_call(at, &f.name.to_string())? {
                Expr::Function(_) if args.len() != 1 => {
                    return Err(EngineError::Plan {
                        location: at,
                        message: format!(
                            "{} is written without parentheses",
                            f.name.to_string().to_uppercase()
                        ),
                    });
                }
                Expr::Function(mut g) => {
                    g.args = f.args.clone();
                    Some(Expr::Function(g))
                }
                other => Some(other),
            }
        }
        Expr::Function(f) => {
            let name = f.name.to_string();
            match name.as_str() {
                "step" => step(e)?,
                "regex_replace" => {
                    if let Some(args) = plain_args(f)
                        && let Some(p) = args.get(1)
                    {
                        check_regex("REGEX_REPLACE", p)?;
                    }
                    None
                }
                _ => match rewrite_call(f) {
                    Ok(Some(text)) => Some(parse(&text, e)?),
                    Ok(None) => None,
                    Err(message) => return Err(plan_error(e, message)),
                },
            }
        }
        _ => None,
    };
    if let Some(r) = replacement {
        *e = r;
    }
    Ok(())
}

/// The function `e` calls, if it is a call (through parentheses).
fn called(e: &Expr) -> Option<String> {
    match e {
        Expr::Function(f) => Some(f.name.to_string()),
        Expr::Nested(inner) => called(inner),
        _ => None,
    }
}

/// `e` is one of the interval expressions of [`super::interval`].
fn is_kda_interval(e: &Expr) -> bool {
    called(e).is_some_and(|name| INTERVAL_FUNCTIONS.contains(&name.as_str()))
}

/// `e` is interval-valued: one of ours, or an INTERVAL literal.
fn is_interval(e: &Expr) -> bool {
    match e {
        Expr::Interval(_) => true,
        Expr::Nested(inner) => is_interval(inner),
        _ => is_kda_interval(e),
    }
}

/// Whether `e` is interval-valued, before or after the rewrite: an INTERVAL
/// literal, `(a - b) UNIT`, one of the interval functions, or FLOOR and
/// `+ - * /` over those as [`super::interval`] types them.
pub(crate) fn yields_interval(e: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::BinaryOperator as Op;
    match e {
        Expr::Nested(inner) => yields_interval(inner),
        Expr::Floor { expr, .. } => yields_interval(expr),
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (yields_interval(left), yields_interval(right));
            match op {
                Op::Multiply => l != r,
                Op::Divide => l && !r,
                Op::Plus | Op::Minus => l && r,
                _ => false,
            }
        }
        _ => is_interval(e) || called(e).is_some_and(|n| n == INTERVAL_OF),
    }
}

/// A day-time unit's name as the interval UDFs take it, or an error.
fn day_time_unit(at: &Expr, unit: &DateTimeField, form: &str) -> Result<Expr, EngineError> {
    let name = unit.to_string().to_uppercase();
    if super::interval::unit_millis(&name).is_none() {
        return Err(EngineError::Unsupported {
            location: location(at),
            what: format!(
                "{form} with {name}: only day-time interval fields (SECOND, MINUTE, HOUR, DAY) are supported"
            ),
        });
    }
    Ok(Expr::value(Value::SingleQuotedString(name)))
}

/// KDA's interval arithmetic (see [`super::interval`]): `(a - b) UNIT`,
/// and `+ - * /`, FLOOR and CAST where one operand is an interval that
/// those functions made. Arithmetic between DataFusion's own types (e.g.
/// `ROWTIME - INTERVAL '1' MINUTE`) is left to DataFusion.
fn interval_rewrite(e: &Expr) -> Result<Option<Expr>, EngineError> {
    use datafusion::sql::sqlparser::ast::BinaryOperator as Op;
    const DIFF_FORM: &str = "(<datetime> - <datetime>) <interval qualifier>";
    match e {
        Expr::Function(f) if f.name.to_string() == INTERVAL_OF => {
            let args = plain_args(f).unwrap_or_default();
            let [difference, unit] = args.as_slice() else {
                return Err(plan_error(e, format!("the form is {DIFF_FORM}")));
            };
            let mut inner = difference;
            while let Expr::Nested(x) = inner {
                inner = x;
            }
            let Expr::BinaryOp {
                left,
                op: Op::Minus,
                right,
            } = inner
            else {
                return Err(plan_error(
                    difference,
                    format!(
                        "an interval qualifier follows a datetime difference: the form is {DIFF_FORM}"
                    ),
                ));
            };
            let field = string_literal(unit).unwrap_or_default();
            if super::interval::unit_millis(field).is_none() {
                return Err(EngineError::Unsupported {
                    location: location(e),
                    what: format!(
                        "{DIFF_FORM} with {field}: only day-time interval fields (SECOND, MINUTE, HOUR, DAY) are supported"
                    ),
                });
            }
            Ok(Some(call(
                "kda_interval_diff",
                vec![*left.clone(), *right.clone(), unit.clone()],
            )))
        }
        Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(unit),
        } if is_kda_interval(expr) => {
            let unit = day_time_unit(e, unit, "FLOOR(<interval> TO <unit>)")?;
            Ok(Some(call("kda_interval_floor", vec![*expr.clone(), unit])))
        }
        Expr::Cast { expr, .. } if is_kda_interval(expr) => Err(EngineError::Unsupported {
            location: location(e),
            what: "CAST of an interval (KDA's interval text and numeric conversions are not implemented yet)"
                .into(),
        }),
        Expr::BinaryOp { left, op, right }
            if (is_kda_interval(left) || is_kda_interval(right))
                && matches!(op, Op::Plus | Op::Minus | Op::Multiply | Op::Divide) =>
        {
            let (l, r) = (*left.clone(), *right.clone());
            let (li, ri) = (is_interval(left), is_interval(right));
            let name = match (op, li, ri) {
                (Op::Multiply, true, false) => "kda_interval_mul",
                (Op::Multiply, false, true) => {
                    return Ok(Some(call("kda_interval_mul", vec![r, l])));
                }
                (Op::Divide, true, false) => "kda_interval_div",
                (Op::Plus, true, true) => "kda_interval_add",
                (Op::Minus, true, true) => "kda_interval_sub",
                (Op::Plus, false, true) => "kda_datetime_add",
                (Op::Plus, true, false) => {
                    return Ok(Some(call("kda_datetime_add", vec![r, l])));
                }
                (Op::Minus, false, true) => "kda_datetime_sub",
                _ => {
                    return Err(plan_error(
                        e,
                        format!(
                            "{e}: intervals take interval ± interval, datetime ± interval, interval * numeric, numeric * interval and interval / numeric"
                        ),
                    ));
                }
            };
            Ok(Some(call(name, vec![l, r])))
        }
        _ => Ok(None),
    }
}

/// Functions that read the current time: KDA's read the engine's clock
/// ([`super::clock`]); DataFusion's would read the wall clock.
const CLOCK_FUNCTIONS: [&str; 7] = [
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "current_row_timestamp",
    "now",
];

/// The engine-clock call a clock function (lower-case name) becomes.
fn clock_call(at: Location, name: &str) -> Result<Expr, EngineError> {
    match super::clock::udf_name(name) {
        Some(udf) => Ok(call(udf, vec![])),
        None => Err(EngineError::Unsupported {
            location: at,
            what: format!(
                "{}() (not a KDA function: use CURRENT_ROW_TIMESTAMP or CURRENT_TIMESTAMP)",
                name.to_uppercase()
            ),
        }),
    }
}

const STEP_USAGE: &str =
    "STEP(<datetime> BY INTERVAL '<integer>' <unit>) or STEP(<integer> BY <integer literal>)";

/// `STEP(int BY n)` → `kda_step(int, n)`; the datetime form is left to the
/// planner (it becomes `date_bin`, and a window in GROUP BY).
fn step(e: &Expr) -> Result<Option<Expr>, EngineError> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let Some(args) = plain_args(f) else {
        return Err(plan_error(e, format!("the signature is {STEP_USAGE}")));
    };
    match args.as_slice() {
        [_, Expr::Interval(_)] => Ok(None),
        [x, by] => match integer_literal(by) {
            Some(n) if n > 0 => Ok(Some(call("kda_step", vec![x.clone(), by.clone()]))),
            _ => Err(plan_error(
                by,
                format!(
                    "STEP ... BY {by}: the step must be a positive integer literal or an INTERVAL; the signature is {STEP_USAGE}"
                ),
            )),
        },
        _ => Err(plan_error(
            e,
            format!("STEP takes a value and a step; the signature is {STEP_USAGE}"),
        )),
    }
}
