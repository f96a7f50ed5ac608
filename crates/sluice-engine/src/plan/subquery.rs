//! Subqueries in FROM: `SELECT STREAM .. FROM (SELECT STREAM .. FROM s ..) [AS] t`.
//!
//! In KDA a subquery in FROM is a stream like any other: every row it emits
//! has a ROWTIME, and the enclosing query reads those rows. Sluice plans it
//! that way: [`hoist`] takes each FROM subquery out of a pump's query
//! (innermost first) and gives it a hidden in-application stream and a
//! hidden pump, both named `<PUMP>$<n>`; the enclosing query then reads that
//! stream by name, keeping the subquery's alias. Every operator the planner
//! has thus serves subqueries too, and the outer query's ROWTIME is the
//! subquery row's ROWTIME.
//!
//! The hidden stream's columns are the subquery's select list, named as KDA
//! names them (the alias; else a column reference's column name; else
//! `EXPR$<i>`, `i` the item's position), or by the alias's column list
//! (`AS t (a, b)`); their types are what the planned select items produce
//! ([`Planner::subquery_columns`]). An unaliased `ROWTIME` item is the row's
//! ROWTIME, not a column.
//!
//! A `(VALUES ..)` in FROM is no stream: [`hoist`] names it like a hidden
//! stream but hands it over as a table ([`PlannedPump::Values`]), which the
//! enclosing query joins as it joins a reference table.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use datafusion::arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, Query, SelectItem, SetExpr, Spanned, TableAlias, TableFactor,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use super::Planner;
use super::table_function::{TableFunction, TableFunctionPump};
use super::types::{ROWTIME, StreamColumn, StreamDef, TableDecl};
use super::values::ValuesDecl;
use crate::error::{EngineError, Location, Result};
use crate::sql::{Name, PumpDecl, kda_name};
use crate::types::SqlType;

/// A pump the planner made for a subquery in FROM, writing its hidden stream.
#[derive(Debug, Clone)]
pub(super) struct HiddenPump {
    /// The pump; its target is the hidden stream, named like the pump.
    pub(super) decl: PumpDecl,
    /// Column names from the subquery's alias, `AS t (a, b)`; empty if none.
    pub(super) columns: Vec<Name>,
}

/// A pump of the application code, or one made for a subquery.
#[derive(Debug, Clone)]
pub(super) enum PlannedPump {
    /// Declared by CREATE PUMP: its target stream is declared too.
    Declared(PumpDecl),
    /// Made by [`hoist`]: its target stream's columns are inferred.
    Hidden(HiddenPump),
    /// Made by [`hoist`] for a table function call over a CURSOR.
    TableFunction(TableFunctionPump),
    /// Not a pump: a `(VALUES ..)` table in FROM / JOIN, which [`hoist`]
    /// names and the planner makes a constant table of (`plan::values`),
    /// before the pumps that join it.
    Values(ValuesDecl),
}

/// Takes each subquery in FROM (and JOIN) out of `p`'s query, innermost
/// first: returns the hidden pumps, then `p` reading their streams. `taken`
/// holds every stream, table and pump name; the new names join it.
pub(super) fn hoist(mut p: PumpDecl, taken: &mut HashSet<String>) -> Result<Vec<PlannedPump>> {
    let mut out = Vec::new();
    let mut hoister = Hoister {
        pump: p.name.value.clone(),
        stopped: p.stopped,
        taken,
        out: &mut out,
    };
    hoister.query(&mut p.query, p.query_location)?;
    out.push(PlannedPump::Declared(p));
    Ok(out)
}

struct Hoister<'a> {
    pump: String,
    stopped: bool,
    taken: &'a mut HashSet<String>,
    out: &'a mut Vec<PlannedPump>,
}

impl Hoister<'_> {
    fn query(&mut self, q: &mut Query, at: Location) -> Result<()> {
        self.set_expr(&mut q.body, at)
    }

    fn set_expr(&mut self, body: &mut SetExpr, at: Location) -> Result<()> {
        match body {
            SetExpr::Select(select) => {
                for from in select.from.iter_mut() {
                    self.factor(&mut from.relation, at)?;
                    for j in from.joins.iter_mut() {
                        self.factor(&mut j.relation, at)?;
                    }
                }
                Ok(())
            }
            SetExpr::Query(q) => self.query(q, at),
            // Set operations are rejected when the pump is planned.
            _ => Ok(()),
        }
    }

    fn fresh_name(&mut self) -> String {
        let mut n = 1;
        loop {
            let name = format!("{}${n}", self.pump);
            if self.taken.insert(name.clone()) {
                return name;
            }
            n += 1;
        }
    }

    fn factor(&mut self, f: &mut TableFactor, at: Location) -> Result<()> {
        match f {
            TableFactor::Derived {
                subquery, alias, ..
            } if matches!(subquery.body.as_ref(), SetExpr::Values(_)) => {
                let span = subquery.span();
                let values_at = span_location(span.start, at);
                let name = self.fresh_name();
                self.out.push(PlannedPump::Values(ValuesDecl::new(
                    name.clone(),
                    subquery,
                    alias.as_ref(),
                    values_at,
                )?));
                let alias = alias.take();
                *f = stream_factor(name, span, alias);
                Ok(())
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                let span = subquery.span();
                let sub_at = span_location(span.start, at);
                if *lateral {
                    return Err(EngineError::Unsupported {
                        location: sub_at,
                        what: "a LATERAL subquery".into(),
                    });
                }
                let columns = alias
                    .as_ref()
                    .map(|a| {
                        a.columns
                            .iter()
                            .map(|c| Name {
                                value: kda_name(&c.name),
                                location: span_location(c.name.span.start, sub_at),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let name = self.hide(subquery, columns, sub_at)?;
                let alias = alias.take();
                *f = stream_factor(name, span, alias);
                Ok(())
            }
            TableFactor::TableFunction { expr, alias } => {
                let span = expr.span();
                let call_at = span_location(span.start, at);
                let Expr::Function(call) = expr else {
                    return Err(EngineError::Unsupported {
                        location: call_at,
                        what: "TABLE(...) over anything but a table function call".into(),
                    });
                };
                let fn_name = call
                    .name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.clone())
                    .unwrap_or_else(|| call.name.to_string());
                let function = TableFunction::from_name(&fn_name, call_at)?;
                let mut args: Vec<Expr> = super::function_args(call).into_iter().cloned().collect();
                let cursor = match args.first_mut() {
                    Some(Expr::Subquery(q)) => q,
                    _ => {
                        return Err(EngineError::Plan {
                            location: call_at,
                            message: format!(
                                "the first argument of {} is its input stream, CURSOR(SELECT STREAM ...); the signature is {}",
                                function.name(),
                                function.signature()
                            ),
                        });
                    }
                };
                let cursor_at = span_location(cursor.span().start, call_at);
                let cursor_stream = self.hide(cursor, Vec::new(), cursor_at)?;
                if let Some(a) = alias.as_ref().filter(|a| !a.columns.is_empty()) {
                    return Err(EngineError::Unsupported {
                        location: span_location(a.name.span.start, call_at),
                        what: "column names in a table function's alias".into(),
                    });
                }
                let name = self.fresh_name();
                self.out.push(PlannedPump::TableFunction(TableFunctionPump {
                    name: Name {
                        value: name.clone(),
                        location: call_at,
                    },
                    stopped: self.stopped,
                    cursor: cursor_stream,
                    function,
                    args: args.split_off(1),
                    at: call_at,
                }));
                let alias = alias.take();
                *f = stream_factor(name, span, alias);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Hoists one subquery (its own subqueries first) into a hidden pump and
    /// stream, returning the stream's name.
    fn hide(&mut self, subquery: &mut Query, columns: Vec<Name>, at: Location) -> Result<String> {
        self.query(subquery, at)?;
        drop_rowtime_items(subquery);
        let name = self.fresh_name();
        let hidden = Name {
            value: name.clone(),
            location: at,
        };
        self.out.push(PlannedPump::Hidden(HiddenPump {
            decl: PumpDecl {
                name: hidden.clone(),
                stopped: self.stopped,
                target: hidden,
                target_columns: None,
                query: Box::new(subquery.clone()),
                query_location: at,
            },
            columns,
        }));
        Ok(name)
    }
}

/// A FROM item reading the hidden stream `name`, spanned like what it
/// replaces (so errors about the relation point there), keeping its alias
/// (without column names: those name the hidden stream's columns).
fn stream_factor(name: String, span: Span, alias: Option<TableAlias>) -> TableFactor {
    TableFactor::Table {
        name: ObjectName::from(vec![Ident {
            value: name,
            quote_style: Some('"'),
            span,
        }]),
        alias: alias.map(|a| TableAlias {
            columns: Vec::new(),
            ..a
        }),
        args: None,
        with_hints: Vec::new(),
        version: None,
        with_ordinality: false,
        partitions: Vec::new(),
        json_path: None,
        sample: None,
        index_hints: Vec::new(),
    }
}

/// Removes unaliased `ROWTIME` / `q.ROWTIME` items from a subquery's select
/// list: each names the row's own ROWTIME, which its hidden stream has
/// anyway. Left alone over a join (`q.ROWTIME` is then one side's, a column)
/// and with ORDER BY (positions there count the item): a column named
/// ROWTIME is then refused by name.
fn drop_rowtime_items(q: &mut Query) {
    if q.order_by.is_some() {
        return;
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    let single = select.from.len() == 1 && select.from[0].joins.is_empty();
    select.projection.retain(|item| match item {
        SelectItem::UnnamedExpr(Expr::Identifier(id)) => id.value != ROWTIME,
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(ids)) => {
            !(single && ids.len() == 2 && ids[1].value == ROWTIME)
        }
        _ => true,
    });
}

pub(super) fn span_location(
    start: datafusion::sql::sqlparser::tokenizer::Location,
    fallback: Location,
) -> Location {
    if start.line == 0 {
        fallback
    } else {
        Location::new(start.line, start.column)
    }
}

/// What planning a hidden pump's query finds out about its columns.
#[derive(Debug, Default)]
pub(super) struct Inference {
    /// Column names, as the select list (or the alias) names them.
    pub(super) names: RefCell<Vec<Name>>,
    /// The type each select item produces, once planned.
    pub(super) types: RefCell<Vec<Option<DataType>>>,
    /// The declared type of each item that is a plain column reference, kept
    /// when the planned type agrees (so `VARCHAR(4)` stays `VARCHAR(4)`).
    pub(super) declared: RefCell<Vec<Option<SqlType>>>,
    /// Whether each item never decreases along the stream (ROWTIME, STEP /
    /// FLOOR of ROWTIME or of a monotonic column, MONOTONIC(..)).
    pub(super) monotonic: RefCell<Vec<bool>>,
}

impl Planner {
    /// The columns of the hidden stream a subquery writes: plans its query
    /// once against a provisional target to learn each item's type.
    pub(super) fn subquery_columns(
        &self,
        h: &HiddenPump,
        streams: &[StreamDef],
        tables: &[TableDecl],
    ) -> Result<Vec<StreamColumn>> {
        let inference = Inference::default();
        self.plan_query(
            h.decl.clone(),
            streams,
            tables,
            Some((&h.columns, &inference)),
        )?;
        let names = inference.names.into_inner();
        let types = inference.types.into_inner();
        let declared = inference.declared.into_inner();
        let monotonic = inference.monotonic.into_inner();
        let mut columns = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            let t = types.get(i).cloned().flatten();
            let sql_type = match (declared.get(i).copied().flatten(), t) {
                (Some(d), Some(t)) if d.to_arrow() == t => d,
                (_, Some(t)) => SqlType::from_arrow(&t).ok_or_else(|| EngineError::Plan {
                    location: name.location,
                    message: format!(
                        "subquery column \"{}\" has type {t}, which a stream cannot hold: CAST it",
                        name.value
                    ),
                })?,
                (_, None) => {
                    return Err(EngineError::Plan {
                        location: name.location,
                        message: format!(
                            "cannot tell the type of subquery column \"{}\"",
                            name.value
                        ),
                    });
                }
            };
            let mut column = StreamColumn::new(name.value, sql_type);
            column.monotonic = monotonic.get(i).copied().unwrap_or(false);
            columns.push(column);
        }
        Ok(columns)
    }

    /// The hidden stream as far as the select list tells before planning:
    /// its column names (checked), with placeholder types.
    pub(super) fn provisional_target(
        &self,
        stream: &str,
        names: Vec<Name>,
        alias_columns: &[Name],
        inference: &Inference,
        at: Location,
    ) -> Result<StreamDef> {
        let names = if alias_columns.is_empty() {
            names
        } else if alias_columns.len() != names.len() {
            return Err(EngineError::Plan {
                location: alias_columns[0].location,
                message: format!(
                    "the subquery's alias names {} columns, but the subquery selects {}",
                    alias_columns.len(),
                    names.len()
                ),
            });
        } else {
            alias_columns.to_vec()
        };
        let mut seen: HashMap<&str, Location> = HashMap::new();
        for n in &names {
            if n.value == ROWTIME {
                return Err(EngineError::Unsupported {
                    location: n.location,
                    what: "a subquery column named ROWTIME (which in KDA sets its rows' ROWTIME); give it another name".into(),
                });
            }
            if let Some(first) = seen.insert(&n.value, n.location) {
                return Err(EngineError::Duplicate {
                    location: n.location,
                    kind: "column",
                    name: n.value.clone(),
                    first,
                });
            }
        }
        let columns = names
            .iter()
            .map(|n| StreamColumn::new(n.value.clone(), SqlType::Varchar(u32::MAX)))
            .collect();
        *inference.types.borrow_mut() = vec![None; names.len()];
        *inference.names.borrow_mut() = names;
        Ok(StreamDef::new(stream.to_string(), columns, false, at))
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{AppPlan, SourceDecl};
    use super::*;

    fn source() -> Vec<SourceDecl> {
        vec![SourceDecl {
            stream: "S".into(),
            columns: Some(vec![
                StreamColumn::new("TICKER", SqlType::Varchar(4)),
                StreamColumn::new("PRICE", SqlType::Double),
                StreamColumn::new("QTY", SqlType::Integer),
            ]),
        }]
    }

    fn plan(sql: &str) -> Result<AppPlan> {
        AppPlan::new(sql, &source())
    }

    fn hidden(plan: &AppPlan) -> Vec<&StreamDef> {
        plan.streams.iter().filter(|s| s.hidden).collect()
    }

    fn columns(s: &StreamDef) -> Vec<(&str, SqlType)> {
        s.columns
            .iter()
            .map(|c| (c.name.as_str(), c.sql_type))
            .collect()
    }

    #[test]
    fn a_subquery_becomes_a_hidden_stream_and_pump_named_after_the_pump() {
        let p = plan(
            "CREATE STREAM O (T VARCHAR(4), N DOUBLE);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM t.ticker, t.n FROM \
             (SELECT STREAM ticker, price * qty AS n FROM S WHERE qty > 0) AS t WHERE t.n > 1;",
        )
        .unwrap();
        let h = hidden(&p);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].name, "P$1");
        // A column reference keeps its declared type; an expression gets
        // the type its planned expression produces.
        assert_eq!(
            columns(h[0]),
            [("TICKER", SqlType::Varchar(4)), ("N", SqlType::Double)]
        );
        let hidden_pump = p.pumps.iter().position(|x| x.name == "P$1").unwrap();
        let outer = p.pumps.iter().position(|x| x.name == "P").unwrap();
        let sid = p.stream_index("P$1").unwrap();
        assert_eq!(p.pumps[hidden_pump].into, sid);
        assert_eq!(p.pumps[outer].from, sid);
        let order = |i| p.pump_order.iter().position(|&x| x == i).unwrap();
        assert!(order(hidden_pump) < order(outer));
    }

    #[test]
    fn nested_subqueries_hoist_innermost_first() {
        let p = plan(
            "CREATE STREAM O (T VARCHAR(4));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM b.ticker FROM \
             (SELECT STREAM a.ticker FROM (SELECT STREAM ticker FROM S) AS a) AS b;",
        )
        .unwrap();
        let names: Vec<&str> = hidden(&p).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["P$1", "P$2"]);
        let inner = &p.pumps[p.pumps.iter().position(|x| x.name == "P$2").unwrap()];
        assert_eq!(p.streams[inner.from].name, "P$1");
    }

    #[test]
    fn unaliased_items_take_kda_default_names_and_rowtime_is_not_a_column() {
        let p = plan(
            "CREATE STREAM O (A VARCHAR(4), B DOUBLE, C BIGINT);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM * FROM \
             (SELECT STREAM ROWTIME, s.ticker, price + 1, qty AS \"q\" FROM S AS s);",
        )
        .unwrap();
        let h = hidden(&p);
        assert_eq!(
            columns(h[0]),
            [
                ("TICKER", SqlType::Varchar(4)),
                ("EXPR$1", SqlType::Double),
                ("q", SqlType::Integer)
            ]
        );
    }

    #[test]
    fn alias_column_names_rename_the_subquery_columns() {
        let p = plan(
            "CREATE STREAM O (A VARCHAR(4), B DOUBLE);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM t.x, t.y FROM \
             (SELECT STREAM ticker, price FROM S) AS t (x, y);",
        )
        .unwrap();
        assert_eq!(
            columns(hidden(&p)[0]),
            [("X", SqlType::Varchar(4)), ("Y", SqlType::Double)]
        );
        let e = plan(
            "CREATE STREAM O (A VARCHAR(4));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM t.x FROM \
             (SELECT STREAM ticker, price FROM S) AS t (x);",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("alias names 1 columns, but the subquery selects 2"),
            "{e}"
        );
    }

    #[test]
    fn hidden_names_skip_names_the_application_uses() {
        let p = plan(
            "CREATE STREAM O (T VARCHAR(4)); CREATE STREAM \"P$1\" (T VARCHAR(4));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM ticker FROM (SELECT STREAM ticker FROM S);\n\
             CREATE PUMP \"P$2\" AS INSERT INTO \"P$1\" SELECT STREAM ticker FROM S;",
        )
        .unwrap();
        let names: Vec<&str> = hidden(&p).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["P$3"]);
    }

    #[test]
    fn refused_subquery_columns_name_themselves() {
        let cases = [
            (
                "SELECT STREAM ticker FROM (SELECT STREAM ticker, ticker FROM S)",
                "duplicate column name \"TICKER\"",
            ),
            (
                "SELECT STREAM ticker FROM (SELECT STREAM price AS ROWTIME, ticker FROM S)",
                "a subquery column named ROWTIME",
            ),
            (
                "SELECT STREAM ticker FROM (SELECT STREAM ticker, NULL AS n FROM S)",
                "subquery column \"N\" has type Null",
            ),
            (
                "SELECT STREAM nope FROM (SELECT STREAM ticker FROM S) AS t",
                "\"NOPE\"",
            ),
        ];
        for (query, want) in cases {
            let e = plan(&format!(
                "CREATE STREAM O (T VARCHAR(4));\nCREATE PUMP P AS INSERT INTO O {query};"
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains(want), "{query}: {e}");
            assert!(e.starts_with("2:"), "{query}: {e}");
        }
    }
}
