//! Numeric functions: ABS, CEIL/CEILING, FLOOR, EXP, LN, LOG10, MOD, POWER,
//! COALESCE, NULLIF.
//!
//! DataFusion's ABS, CEIL, FLOOR, EXP, LN, LOG10, POWER and NULLIF already
//! behave as KDA's (Java doubles: LN(0) is -Infinity). What differs is
//! handled by rewriting the call ([`rewrite_call`]):
//! - `CEILING(x)` is `ceil(x)`;
//! - `MOD(a, b)` is `a % kda_divisor(b)`: the sign follows the dividend (as
//!   Java's `%`) and `MOD(a, 0)` is a row error, like `a / 0`;
//! - `COALESCE(a, b, ..)` becomes the CASE it stands for (DataFusion only
//!   plans COALESCE after its simplifier, which Sluice's expressions skip).
//!
//! CAST of a REAL, DOUBLE or DECIMAL to an integer type rounds (half away
//! from zero), as the CAST page says ("rounded when cast"), where Arrow
//! truncates: the rewrite wraps the operand in `kda_cast_round(x)`.
//!
//! `MONOTONIC(x)` is `x`: the app's promise that x never changes direction.
//! SELECT DISTINCT takes a MONOTONIC item as its bound (`plan::select`);
//! a GROUP BY still needs a ROWTIME window.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
};

use super::KdaFunction;

/// The numeric UDFs.
pub fn functions() -> Vec<KdaFunction> {
    vec![
        KdaFunction::new(
            "kda_cast_round",
            "CAST(<numeric> AS <integer type>)",
            |t| (t.len() == 1).then(|| t.to_vec()),
            |t| t[0].clone(),
            eval_cast_round,
        ),
        KdaFunction::new(
            "monotonic",
            "MONOTONIC(<expression>)",
            |t| (t.len() == 1).then(|| t.to_vec()),
            |t| t[0].clone(),
            |args| Ok(Arc::clone(&args[0])),
        ),
    ]
}

fn eval_cast_round(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    let bad = || DataFusionError::Internal(format!("kda_cast_round: {}", a.data_type()));
    Ok(match a.data_type() {
        DataType::Float64 => Arc::new(
            a.as_primitive_opt::<Float64Type>()
                .ok_or_else(bad)?
                .unary::<_, Float64Type>(f64::round),
        ),
        DataType::Float32 => Arc::new(
            a.as_primitive_opt::<Float32Type>()
                .ok_or_else(bad)?
                .unary::<_, Float32Type>(f32::round),
        ),
        DataType::Decimal128(p, s) => {
            let d: &Decimal128Array = a.as_primitive_opt().ok_or_else(bad)?;
            let rounded: Decimal128Array = d.unary(|v: i128| round_decimal(v, *s));
            Arc::new(rounded.with_precision_and_scale(*p, *s)?)
        }
        _ => Arc::clone(a),
    })
}

/// Rounds a decimal's unscaled value to a whole number, half away from zero.
fn round_decimal(v: i128, scale: i8) -> i128 {
    if scale <= 0 {
        return v;
    }
    let factor = 10i128.pow(u32::from(scale.unsigned_abs()));
    let (q, r) = (v / factor, v % factor);
    let q = if r.abs() * 2 >= factor {
        q + r.signum()
    } else {
        q
    };
    q * factor
}

/// Rewrites a numeric function call, or says why its arguments are wrong.
/// `Ok(None)`: not one of these functions.
pub(crate) fn rewrite_call(f: &mut Function) -> Result<Option<String>, String> {
    let name = f.name.to_string();
    let args = plain_args(f);
    match name.as_str() {
        "ceiling" => {
            f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                datafusion::sql::sqlparser::ast::Ident::new("ceil"),
            ]);
            Ok(None)
        }
        "mod" => match args.as_deref() {
            Some([a, b]) => Ok(Some(format!("(({a}) % {}({b}))", super::KDA_DIVISOR))),
            _ => Err("MOD(<numeric dividend>, <numeric divisor>) takes two arguments".into()),
        },
        "coalesce" => match args.as_deref() {
            Some([]) | None => {
                Err("COALESCE(<value>, <value> [, ...]) takes at least one argument".into())
            }
            Some([only]) => Ok(Some(format!("({only})"))),
            Some(list) => {
                let mut text = String::from("CASE");
                for a in &list[..list.len() - 1] {
                    text.push_str(&format!(" WHEN ({a}) IS NOT NULL THEN ({a})"));
                }
                text.push_str(&format!(" ELSE ({}) END", list[list.len() - 1]));
                Ok(Some(text))
            }
        },
        _ => Ok(None),
    }
}

/// The arguments of a call, when they are all plain expressions.
pub(crate) fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    match &f.args {
        FunctionArguments::List(list) if list.clauses.is_empty() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => Some(Vec::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_half_away_from_zero() {
        assert_eq!(round_decimal(127, 1), 130);
        assert_eq!(round_decimal(-150, 2), -200);
        assert_eq!(round_decimal(-149, 2), -100);
        assert_eq!(round_decimal(42, 0), 42);
    }
}
