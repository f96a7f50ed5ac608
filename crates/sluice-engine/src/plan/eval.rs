//! Evaluating SQL with no input stream: what `sluice eval` and the
//! `expressions.tsv` checks run.
//!
//! [`evaluate_scalar`] evaluates one scalar expression to one value;
//! [`evaluate_query`] a plain (non-streaming) query, `SELECT expr, ..
//! [FROM (VALUES (..), (..)) [AS] t(c, ..)] [WHERE ..]` (or a bare
//! `VALUES ..`), to its rows. Both plan expressions as a pump's are planned
//! (the KDA rewrites, the KDA function library, DataFusion physical
//! expressions), so a function evaluated here behaves as in an
//! application. The VALUES table is the one an application joins
//! (`plan::values`): its columns typed as their values unify, a log
//! parser's ROW taken apart into fields that `t.r."COLUMN1"` reads.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Query, SelectItem, SetExpr, Spanned, TableFactor, VisitMut,
    visit_expressions_mut,
};

use super::scope::{ColumnResolver, column_ref};
use super::select::default_name;
use super::subquery::span_location;
use super::types::{ROWTIME, StreamDef};
use super::values::{ValuesDecl, empty_batch};
use super::{Planner, df_err, expr_location, function_args};
use crate::clock::SystemClock;
use crate::error::{EngineError, Location, Result};
use crate::sql::kda_name;

/// Evaluates one KDA scalar expression with no input stream (as the
/// `expressions.tsv` checks do) to a one-element array.
///
/// A scalar subquery over one row of VALUES, `(SELECT f(t.c) FROM (VALUES
/// (x)) AS t(c))`, is evaluated as `f(x)`; a ROW in it (`t.r."COLUMN1"`
/// with `r` a log parser's call) as that field.
pub fn evaluate_scalar(text: &str) -> Result<ArrayRef> {
    let mut e = crate::sql::parse_expression(text)?;
    inline_values(&mut e)?;
    let planner = Planner::new(Arc::new(SystemClock));
    let at = Location::new(1, 1);
    let phys = planner.expr(&e, &DFSchema::empty(), at)?;
    phys.evaluate(&empty_batch(1, at)?)
        .and_then(|v| v.into_array(1))
        .map_err(df_err(at))
}

/// Replaces each `(SELECT item FROM (VALUES (v1, ..)) AS t(c1, ..))` in `e`
/// by `item` with `t.ci` / `ci` bound to `vi` (see [`evaluate_scalar`]).
/// A scalar subquery over several rows of VALUES is refused: it would give
/// several values.
pub(super) fn inline_values(e: &mut Expr) -> Result<()> {
    /// The select item, the table alias, and each column name with its value.
    type OneRow = (Expr, String, Vec<(String, Expr)>);
    fn one_row_values(q: &Query) -> Option<OneRow> {
        let SetExpr::Select(select) = q.body.as_ref() else {
            return None;
        };
        let [item] = select.projection.as_slice() else {
            return None;
        };
        let item = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
            _ => return None,
        };
        let [from] = select.from.as_slice() else {
            return None;
        };
        let TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } = &from.relation
        else {
            return None;
        };
        let SetExpr::Values(values) = subquery.body.as_ref() else {
            return None;
        };
        let [row] = values.rows.as_slice() else {
            return None;
        };
        let names: Vec<String> = alias
            .columns
            .iter()
            .map(|c| crate::sql::kda_name(&c.name))
            .collect();
        (names.len() == row.content.len()).then(|| {
            (
                item,
                crate::sql::kda_name(&alias.name),
                names.into_iter().zip(row.content.iter().cloned()).collect(),
            )
        })
    }
    /// The number of rows of the VALUES a `SELECT .. FROM (VALUES ..)` reads.
    fn values_rows(q: &Query) -> Option<usize> {
        let SetExpr::Select(select) = q.body.as_ref() else {
            return None;
        };
        let [from] = select.from.as_slice() else {
            return None;
        };
        match &from.relation {
            TableFactor::Derived { subquery, .. } => match subquery.body.as_ref() {
                SetExpr::Values(v) => Some(v.rows.len()),
                _ => None,
            },
            _ => None,
        }
    }
    let mut error = None;
    let _ = visit_expressions_mut(e, |x: &mut Expr| {
        let Expr::Subquery(q) = x else {
            return ControlFlow::<()>::Continue(());
        };
        let Some((mut item, table, bound)) = one_row_values(q) else {
            if let Some(n) = values_rows(q).filter(|&n| n > 1) {
                error = Some(EngineError::Unsupported {
                    location: span_location(q.span().start, Location::new(1, 1)),
                    what: format!(
                        "a scalar subquery over {n} rows of VALUES: it gives one value; select from the VALUES table instead (FROM (VALUES ..) AS t(c, ..), or JOIN it to a stream in a pump)"
                    ),
                });
                return ControlFlow::Break(());
            }
            return ControlFlow::Continue(());
        };
        let value_of = |name: &str| {
            bound
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let _ = visit_expressions_mut(&mut item, |y: &mut Expr| {
            let parts: Vec<String> = match y {
                Expr::Identifier(id) => vec![id.value.clone()],
                Expr::CompoundIdentifier(ids) => ids.iter().map(|i| i.value.clone()).collect(),
                _ => return ControlFlow::<()>::Continue(()),
            };
            let parts: &[String] = match parts.first() {
                Some(q) if parts.len() > 1 && *q == table => &parts[1..],
                _ => &parts,
            };
            match parts {
                [c] => {
                    if let Some(v) = value_of(c) {
                        *y = v;
                    }
                }
                [r, field] => {
                    if let Some(Expr::Function(call)) = value_of(r) {
                        let name = call.name.to_string().to_lowercase();
                        if !crate::functions::log_parse::ROW_FUNCTIONS.contains(&name.as_str()) {
                            // Not a ROW Sluice knows: planning the call says why.
                            *y = Expr::Function(call);
                            return ControlFlow::Continue(());
                        }
                        let args: Vec<Expr> = function_args(&call).into_iter().cloned().collect();
                        match crate::functions::log_parse::row_fields(&name, &args) {
                            Ok(fields) => {
                                if let Some(k) = fields.iter().position(|f| f.name == *field) {
                                    *y = Expr::Function(crate::functions::log_parse::field_call(
                                        &call, k,
                                    ));
                                }
                            }
                            Err(message) => {
                                error = Some(EngineError::Plan {
                                    location: Location::new(1, 1),
                                    message,
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
        *x = Expr::Nested(Box::new(item));
        ControlFlow::Continue(())
    });
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether `text` is a plain query ([`evaluate_query`]) rather than a
/// scalar expression ([`evaluate_scalar`]): it starts with SELECT or
/// VALUES.
pub fn is_plain_query(text: &str) -> bool {
    let word: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    word.eq_ignore_ascii_case("SELECT") || word.eq_ignore_ascii_case("VALUES")
}

/// Evaluates a plain (non-streaming) query with no input stream: `SELECT
/// expr [AS name], .. [FROM (VALUES (..), (..)) [AS] t(c, ..)] [WHERE
/// cond]`, or `VALUES (..), (..)` alone (all its columns). Returns one
/// column per select item, named as KDA names it (its alias, a column
/// reference's column, else `EXPR$<i>`), and one row per row of the VALUES
/// table that WHERE keeps (one row without FROM).
///
/// Each select item is planned as [`evaluate_scalar`] plans an expression
/// (scalar subqueries over one row of VALUES included), over the VALUES
/// table's columns: `t.c` or `c`, and `t.r."COLUMN1"` for a field of a log
/// parser's ROW. Aggregates, GROUP BY, ORDER BY, DISTINCT, joins and
/// set operations are refused, naming what.
pub fn evaluate_query(text: &str) -> Result<RecordBatch> {
    let query = crate::sql::parse_query(text)?;
    Planner::new(Arc::new(SystemClock)).plain_query(query)
}

impl Planner {
    fn plain_query(&self, query: Query) -> Result<RecordBatch> {
        let at = span_location(query.span().start, Location::new(1, 1));
        let unsupported = |location: Location, what: &str| EngineError::Unsupported {
            location,
            what: format!("{what} in a plain query (sluice eval evaluates each row on its own)"),
        };
        if query.with.is_some()
            || query.order_by.is_some()
            || query.limit_clause.is_some()
            || query.fetch.is_some()
        {
            return Err(unsupported(at, "WITH, ORDER BY, LIMIT or FETCH"));
        }
        // `VALUES ..` alone is `SELECT * FROM (VALUES ..)`.
        let (table, qualifiers, items, filter) = match query.body.as_ref() {
            SetExpr::Values(_) => {
                let decl = ValuesDecl::new("VALUES".into(), &query, None, at)?;
                let table = self.values_table(&decl)?;
                (
                    Some(table),
                    Vec::new(),
                    vec![SelectItem::Wildcard(Default::default())],
                    None,
                )
            }
            SetExpr::Select(select) => {
                let select = select.as_ref();
                let no_group = matches!(&select.group_by, GroupByExpr::Expressions(g, m) if g.is_empty() && m.is_empty());
                if select.distinct.is_some() {
                    return Err(unsupported(at, "DISTINCT"));
                }
                if !no_group || select.having.is_some() {
                    return Err(unsupported(at, "GROUP BY or HAVING"));
                }
                if !select.named_window.is_empty() {
                    return Err(unsupported(at, "WINDOW"));
                }
                let (table, qualifiers) = match select.from.as_slice() {
                    [] => (None, Vec::new()),
                    [from] if from.joins.is_empty() => match &from.relation {
                        TableFactor::Derived {
                            subquery, alias, ..
                        } if matches!(subquery.body.as_ref(), SetExpr::Values(_)) => {
                            let values_at = span_location(subquery.span().start, at);
                            let name = alias
                                .as_ref()
                                .map_or_else(|| "VALUES".to_string(), |a| kda_name(&a.name));
                            let decl =
                                ValuesDecl::new(name.clone(), subquery, alias.as_ref(), values_at)?;
                            (Some(self.values_table(&decl)?), vec![name])
                        }
                        other => {
                            return Err(EngineError::Unsupported {
                                location: span_location(other.span().start, at),
                                what: "FROM in a plain query other than (VALUES (..), ..) [AS] t(c, ..): streams and reference tables are read by pumps".into(),
                            });
                        }
                    },
                    _ => return Err(unsupported(at, "a join or a FROM list")),
                };
                (
                    table,
                    qualifiers,
                    select.projection.clone(),
                    select.selection.clone(),
                )
            }
            _ => return Err(unsupported(at, "UNION and other set operations")),
        };
        let (stream, batch) = match table {
            Some(t) => {
                let rows = t.rows.clone().ok_or_else(|| EngineError::Plan {
                    location: at,
                    message: "the VALUES table has no rows".into(),
                })?;
                (StreamDef::new(t.name, t.columns, false, at), rows)
            }
            None => (
                StreamDef::new("VALUES".into(), Vec::new(), false, at),
                empty_batch(1, at)?,
            ),
        };
        let schema = DFSchema::try_from(batch.schema().as_ref().clone()).map_err(df_err(at))?;
        // Names as a pump resolves them; ROWTIME is a stream's, not a table's.
        let prepare = |mut e: Expr| -> Result<Expr> {
            inline_values(&mut e)?;
            let mut r = ColumnResolver {
                stream: &stream,
                qualifiers: qualifiers.clone(),
                join: None,
                extra: &[],
                error: None,
            };
            let _ = e.visit(&mut r);
            if let Some(err) = r.error {
                return Err(err);
            }
            let mut rowtime = None;
            let _ = visit_expressions_mut(&mut e, |x: &mut Expr| {
                if let Expr::Identifier(id) = x
                    && id.value == ROWTIME
                {
                    rowtime = Some(crate::sql::ident_location(id));
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            if let Some(location) = rowtime {
                return Err(EngineError::Plan {
                    location,
                    message: "a plain query has no ROWTIME: only a stream's rows have one".into(),
                });
            }
            Ok(e)
        };
        let batch = match filter {
            None => batch,
            Some(f) => {
                let f_at = expr_location(&f, at);
                let f = prepare(f)?;
                let phys = self.expr(&f, &schema, f_at)?;
                let keep = phys
                    .evaluate(&batch)
                    .and_then(|v| v.into_array(batch.num_rows()))
                    .map_err(df_err(f_at))?;
                if keep.data_type() != &DataType::Boolean {
                    return Err(EngineError::Plan {
                        location: f_at,
                        message: format!(
                            "WHERE must be a condition (BOOLEAN), not {}",
                            super::sql_type_name(keep.data_type())
                        ),
                    });
                }
                filter_record_batch(&batch, keep.as_boolean())
                    .map_err(|e| df_err(f_at)(e.into()))?
            }
        };
        let mut exprs: Vec<(Expr, String, Location)> = Vec::new();
        for (position, item) in items.into_iter().enumerate() {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let l = expr_location(&e, at);
                    if self.contains_aggregate(&e) {
                        return Err(unsupported(l, "an aggregate"));
                    }
                    exprs.push((e.clone(), default_name(&e, position), l));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let l = expr_location(&expr, at);
                    if self.contains_aggregate(&expr) {
                        return Err(unsupported(l, "an aggregate"));
                    }
                    exprs.push((expr, kda_name(&alias), l));
                }
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                    for c in &stream.columns {
                        exprs.push((column_ref(&c.name), c.name.clone(), at));
                    }
                }
                SelectItem::ExprWithAliases { expr, .. } => {
                    return Err(unsupported(expr_location(&expr, at), "AS (alias, ...)"));
                }
            }
        }
        let rows = batch.num_rows();
        let mut fields = Vec::with_capacity(exprs.len());
        let mut columns = Vec::with_capacity(exprs.len());
        for (e, name, l) in exprs {
            let e = prepare(e)?;
            let phys = self.expr(&e, &schema, l)?;
            let column = phys
                .evaluate(&batch)
                .and_then(|v| v.into_array(rows))
                .map_err(df_err(l))?;
            fields.push(Field::new(name, column.data_type().clone(), true));
            columns.push(column);
        }
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| df_err(at)(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of a query, each value as Arrow shows it, tab-separated.
    fn rows(text: &str) -> Vec<String> {
        let batch = evaluate_query(text).expect("evaluates");
        (0..batch.num_rows())
            .map(|r| {
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        datafusion::arrow::util::display::array_value_to_string(c, r)
                            .expect("shows")
                    })
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect()
    }

    #[test]
    fn a_query_over_values_gives_a_row_per_kept_row() {
        assert_eq!(
            rows(
                "SELECT t.n * 2, UPPER(s) FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS t(n, s) WHERE n <> 2"
            ),
            ["2\tA", "6\tC"]
        );
        assert_eq!(rows("VALUES (1, 'x'), (2, 'y')"), ["1\tx", "2\ty"]);
        assert_eq!(rows("SELECT 1 + 2, 'z'"), ["3\tz"]);
        // Types unify over the rows: the first row's 1 is a DOUBLE.
        assert_eq!(
            rows("SELECT c FROM (VALUES (1), (2.5)) t(c)"),
            ["1.0", "2.5"]
        );
    }

    #[test]
    fn columns_are_named_as_kda_names_them() {
        let batch =
            evaluate_query("SELECT n, n + 1, n AS m FROM (VALUES (1)) AS t(n)").expect("evaluates");
        let names: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["N", "EXPR$1", "M"]);
    }

    #[test]
    fn row_fields_of_a_log_parser_are_read_per_row() {
        assert_eq!(
            rows(
                "SELECT t.r.\"COLUMN2\", t.r.COLUMN1 FROM (VALUES (REGEX_LOG_PARSE('a b', '(\\w+) (\\w+)')), (REGEX_LOG_PARSE('c d', '(\\w+) (\\w+)'))) AS t(r)"
            ),
            ["b\ta", "d\tc"]
        );
    }

    #[test]
    fn what_a_plain_query_cannot_do_is_refused_by_name() {
        let err = |q: &str| evaluate_query(q).unwrap_err().to_string();
        assert!(err("SELECT COUNT(*) FROM (VALUES (1)) t(c)").contains("an aggregate"));
        assert!(err("SELECT c FROM (VALUES (1)) t(c) ORDER BY c").contains("ORDER BY"));
        assert!(err("SELECT c FROM S").contains("streams and reference tables are read by pumps"));
        assert!(err("SELECT ROWTIME FROM (VALUES (1)) t(c)").contains("no ROWTIME"));
        let e = err("SELECT x FROM (VALUES (1)) t(c)");
        assert!(e.contains("unknown column \"X\""), "{e}");
        let e = err("SELECT (SELECT c FROM (VALUES (1), (2)) t(c))");
        assert!(e.contains("a scalar subquery over 2 rows of VALUES"), "{e}");
        let e = evaluate_scalar("1 + (SELECT c FROM (VALUES (1), (2)) t(c))")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a scalar subquery over 2 rows of VALUES"), "{e}");
        let e = err("VALUES (1, 2),\n(3)");
        assert!(
            e.starts_with("2:1:") && e.contains("row 2 of VALUES"),
            "{e}"
        );
    }

    #[test]
    fn plain_queries_are_told_from_expressions() {
        assert!(is_plain_query("  select 1"));
        assert!(is_plain_query("VALUES (1)"));
        assert!(!is_plain_query("(SELECT c FROM (VALUES (1)) t(c))"));
        assert!(!is_plain_query("SELECTED + 1"));
        assert!(!is_plain_query("1 + 2"));
    }
}
