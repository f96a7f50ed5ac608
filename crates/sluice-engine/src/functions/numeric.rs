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

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
};

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
