//! Planning: statements → a graph of in-application streams and pumps.
//!
//! [`AppPlan::new`] resolves every stream a pump reads or writes (in any
//! order of declaration), checks column counts and types on INSERT, rejects
//! duplicates and cycles, and turns each pump's `SELECT STREAM` into an
//! [`OperatorPlan`]:
//!
//! - [`ProjectPlan`]: WHERE and the select list, as DataFusion physical
//!   expressions over the source stream's record batches;
//! - [`TumblingPlan`]: `GROUP BY` with a ROWTIME window
//!   (`STEP(S.ROWTIME BY INTERVAL ..)` or `FLOOR(S.ROWTIME TO unit)`), other
//!   grouping columns, aggregates through DataFusion accumulators, HAVING.
//!
//! Every in-application stream's batches start with `ROWTIME`
//! (TIMESTAMP, ms); source streams also carry `APPROXIMATE_ARRIVAL_TIME`,
//! `PARTITION_KEY`, `SHARD_ID` and `SEQUENCE_NUMBER`.
//! None of them is part of `SELECT *`, as in KDA.
//!
//! This module holds the `Planner` entry (statements → [`AppPlan`]) and
//! the helpers every clause uses; each clause or concept has a file:
//! `types.rs` (the plan's types), `rewrite.rs` (KDA → DataFusion expression
//! rewrites), `scope.rs` (FROM / JOIN names and column resolution),
//! `window.rs` (ROWTIME window sizes), `select.rs` (one pump: target,
//! select list, WHERE), `tumbling.rs` (GROUP BY, stagger), `sliding.rs`
//! (OVER), `join.rs`, `order.rs` (ORDER BY), `subquery.rs` (subqueries
//! in FROM, each planned as a hidden stream and pump),
//! `table_function.rs` (`TABLE(FN(CURSOR(..), ..))`, a hidden pump too),
//! `values.rs` (`(VALUES ..) AS t(c, ..)` in FROM / JOIN, a constant table
//! joined as a reference table is) and `eval.rs` (expressions and plain
//! queries with no input stream: [`evaluate_scalar`], [`evaluate_query`],
//! what `sluice eval` runs). Plans import the SQL front end
//! ([`crate::sql`]), never the operators that run them.

mod eval;
mod join;
mod order;
mod rewrite;
mod scope;
mod select;
mod sliding;
mod subquery;
mod table_function;
mod tumbling;
mod types;
mod values;
mod window;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr as LExpr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{
    Expr, ExprWithAlias, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned,
};

pub use eval::{evaluate_query, evaluate_scalar, is_plain_query};
pub use join::{JoinKind, JoinPlan, JoinRight, SideWindow, StreamSide, TableSide};
pub use order::{OrderBucket, OrderPlan, SortKey};
use rewrite::rewrite_kda;
pub(crate) use rewrite::similar_to_regex;
pub use sliding::{
    Frame, SlidingAggregate, SlidingArg, SlidingFunction, SlidingPlan, SlidingWindowPlan, ValueKind,
};
use subquery::PlannedPump;
pub use table_function::{
    ANOMALY_EXPLANATION, ANOMALY_SCORE, GroupRankPlan, HOTSPOTS_RESULT, HotspotsPlan, ITEM,
    ITEM_COUNT, ItemsPlan, ItemsResult, NUMBER_OF_DISTINCT_ITEMS, RcfPlan, TableFunction,
};
pub use tumbling::{AggregatePlan, TumblingPlan};
pub use types::{
    APPROXIMATE_ARRIVAL_TIME, AppPlan, DistinctPlan, ERROR_STREAM, OperatorPlan, PARTITION_KEY,
    ProjectPlan, PumpDef, ROWTIME, SEQUENCE_NUMBER, SHARD_ID, SOURCE_METADATA, SourceDecl,
    StreamColumn, StreamDef, TableDecl, error_stream_columns, source_metadata,
};
pub use window::WindowSize;

use crate::clock::Clock;
use crate::error::{EngineError, Location, Result};
use crate::sql::{PumpDecl, Statement, StreamDecl};
use crate::types::SqlType;

/// Holds the DataFusion session used to turn SQL expressions into physical ones.
pub(crate) struct Planner {
    state: SessionState,
}

fn df_err(location: Location) -> impl Fn(datafusion::error::DataFusionError) -> EngineError {
    move |e| EngineError::Plan {
        location,
        message: clean_df_message(&e),
    }
}

/// DataFusion's message without its layer prefixes.
pub(crate) fn clean_df_message(e: &datafusion::error::DataFusionError) -> String {
    let mut s = e.strip_backtrace();
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "Optimizer rule 'simplify_expressions' failed\ncaused by\n",
        "type_coercion\ncaused by\n",
    ] {
        while let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_string();
        }
    }
    s
}

fn expr_location(e: &Expr, fallback: Location) -> Location {
    let s = e.span().start;
    if s.line == 0 {
        fallback
    } else {
        Location::new(s.line, s.column)
    }
}

fn function_args(f: &datafusion::sql::sqlparser::ast::Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl Planner {
    /// A planner whose clock functions read `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let mut config = SessionConfig::new();
        config.options_mut().sql_parser.enable_ident_normalization = false;
        let ctx = SessionContext::new_with_config(config);
        crate::functions::register(&ctx, clock);
        Self { state: ctx.state() }
    }

    fn logical(&self, e: &Expr, schema: &DFSchema, at: Location) -> Result<LExpr> {
        self.state
            .create_logical_expr_from_sql_expr(
                ExprWithAlias {
                    expr: e.clone(),
                    alias: None,
                },
                schema,
            )
            .and_then(|l| {
                crate::functions::cast::check_casts(l, schema, &|name| {
                    self.state.scalar_functions().get(name).cloned()
                })
            })
            .map_err(df_err(at))
    }

    fn physical(&self, e: LExpr, schema: &DFSchema, at: Location) -> Result<Arc<dyn PhysicalExpr>> {
        self.state
            .create_physical_expr(e, schema)
            .map_err(df_err(at))
    }

    /// Plans one SQL expression to a physical expression over `schema`.
    pub(crate) fn expr(
        &self,
        e: &Expr,
        schema: &DFSchema,
        at: Location,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let mut e = e.clone();
        rewrite_kda(&mut e)?;
        let l = self.logical(&e, schema, at)?;
        self.physical(l, schema, at)
    }

    fn is_aggregate(&self, name: &str) -> bool {
        self.state.aggregate_functions().contains_key(name)
    }

    fn plan(
        &self,
        statements: Vec<Statement>,
        sources: &[SourceDecl],
        tables: &[TableDecl],
    ) -> Result<AppPlan> {
        let mut streams: Vec<StreamDef> = Vec::new();
        let mut pumps_decl: Vec<PumpDecl> = Vec::new();
        let mut seen: HashMap<String, Location> = HashMap::new();
        let source_names: Vec<&str> = sources.iter().map(|s| s.stream.as_str()).collect();
        let mut declared: Vec<StreamDecl> = Vec::new();
        for st in statements {
            match st {
                Statement::Stream(s) => {
                    if let Some(first) = seen.get(&s.name.value) {
                        return Err(EngineError::Duplicate {
                            location: s.name.location,
                            kind: "stream",
                            name: s.name.value.clone(),
                            first: *first,
                        });
                    }
                    seen.insert(s.name.value.clone(), s.name.location);
                    declared.push(s);
                }
                Statement::Pump(p) => pumps_decl.push(p),
            }
        }
        for s in declared {
            let mut cols_seen: HashMap<String, Location> = HashMap::new();
            let mut columns = Vec::new();
            for c in &s.columns {
                if c.name.value == ROWTIME {
                    return Err(EngineError::Plan {
                        location: c.name.location,
                        message:
                            "a stream cannot declare a column named ROWTIME: every stream has one"
                                .into(),
                    });
                }
                if let Some(first) = cols_seen.insert(c.name.value.clone(), c.name.location) {
                    return Err(EngineError::Duplicate {
                        location: c.name.location,
                        kind: "column",
                        name: c.name.value.clone(),
                        first,
                    });
                }
                columns.push(StreamColumn {
                    name: c.name.value.clone(),
                    sql_type: c.sql_type,
                    not_null: c.not_null,
                    monotonic: false,
                });
            }
            let is_source = source_names.contains(&s.name.value.as_str());
            streams.push(StreamDef::new(
                s.name.value.clone(),
                columns,
                is_source,
                s.name.location,
            ));
        }
        for src in sources {
            if streams.iter().any(|s| s.name == src.stream) {
                continue;
            }
            let Some(columns) = &src.columns else {
                return Err(EngineError::Config {
                    context: format!("input \"{}\"", src.stream),
                    message:
                        "no columns are given and the application code does not declare this stream"
                            .into(),
                });
            };
            streams.push(StreamDef::new(
                src.stream.clone(),
                columns.clone(),
                true,
                Location::default(),
            ));
        }
        if streams.iter().any(|s| s.name == ERROR_STREAM) {
            let at = streams
                .iter()
                .find(|s| s.name == ERROR_STREAM)
                .map(|s| s.declared_at)
                .unwrap_or_default();
            return Err(EngineError::Plan {
                location: at,
                message:
                    "\"error_stream\" is the application's error stream and cannot be declared"
                        .into(),
            });
        }
        let error_stream = streams.len();
        streams.push(StreamDef::new(
            ERROR_STREAM.into(),
            error_stream_columns(),
            false,
            Location::default(),
        ));

        let mut pumps = Vec::new();
        let mut pump_seen: HashMap<String, Location> = HashMap::new();
        for p in &pumps_decl {
            if let Some(first) = pump_seen.insert(p.name.value.clone(), p.name.location) {
                return Err(EngineError::Duplicate {
                    location: p.name.location,
                    kind: "pump",
                    name: p.name.value.clone(),
                    first,
                });
            }
        }
        // Names a hidden stream of a subquery must not take.
        let mut taken: HashSet<String> = streams
            .iter()
            .map(|s| s.name.clone())
            .chain(tables.iter().map(|t| t.name.clone()))
            .chain(pump_seen.into_keys())
            .collect();
        // The reference tables, then each VALUES table a pump joins.
        let mut tables: Vec<TableDecl> = tables.to_vec();
        for p in pumps_decl {
            for planned in subquery::hoist(p, &mut taken)? {
                let tables = &mut tables;
                match planned {
                    PlannedPump::Values(v) => {
                        let table = self.values_table(&v)?;
                        tables.push(table);
                    }
                    PlannedPump::Declared(p) => pumps.push(self.plan_pump(p, &streams, tables)?),
                    PlannedPump::Hidden(h) => {
                        let columns = self.subquery_columns(&h, &streams, tables)?;
                        let mut hidden = StreamDef::new(
                            h.decl.target.value.clone(),
                            columns,
                            false,
                            h.decl.target.location,
                        );
                        hidden.hidden = true;
                        streams.push(hidden);
                        pumps.push(self.plan_pump(h.decl, &streams, tables)?);
                    }
                    PlannedPump::TableFunction(t) => {
                        let (stream, pump) = self.plan_table_function(&t, &streams)?;
                        streams.push(stream);
                        pumps.push(pump);
                    }
                }
            }
        }
        let pump_order = order_pumps(&streams, &pumps)?;
        Ok(AppPlan {
            streams,
            pumps,
            pump_order,
            error_stream,
            tables,
        })
    }

    fn contains_aggregate(&self, e: &Expr) -> bool {
        let mut e = e.clone();
        let mut found = false;
        let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
            if let Expr::Function(f) = x
                && self.is_aggregate(&f.name.to_string())
            {
                found = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        found
    }
}

fn sql_type_name(t: &DataType) -> String {
    match SqlType::from_arrow(t) {
        Some(SqlType::Varchar(_)) => "VARCHAR".into(),
        Some(SqlType::Varbinary(_)) => "VARBINARY".into(),
        Some(s) => s.to_string(),
        None if t == &DataType::Null => "NULL".into(),
        None => t.to_string(),
    }
}

fn cast_to(
    e: Arc<dyn PhysicalExpr>,
    schema: &Schema,
    target: DataType,
    at: Location,
) -> Result<Arc<dyn PhysicalExpr>> {
    let current = e.data_type(schema).map_err(df_err(at))?;
    if current == target {
        return Ok(e);
    }
    datafusion::physical_expr::expressions::cast(e, schema, target).map_err(df_err(at))
}

/// Orders pumps upstream-first and rejects cycles.
fn order_pumps(streams: &[StreamDef], pumps: &[PumpDef]) -> Result<Vec<usize>> {
    // Kahn's algorithm over streams; a pump runs once every stream it
    // reads is complete.
    let n = streams.len();
    let mut indegree = vec![0usize; n];
    for p in pumps {
        indegree[p.into] += 1;
    }
    let reads: Vec<Vec<usize>> = pumps.iter().map(PumpDef::reads).collect();
    let mut waiting: Vec<usize> = reads.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&s| indegree[s] == 0).collect();
    let mut order = Vec::new();
    let mut visited = vec![false; n];
    while let Some(s) = ready.pop() {
        visited[s] = true;
        for (i, p) in pumps.iter().enumerate() {
            let hits = reads[i].iter().filter(|&&r| r == s).count();
            if hits == 0 {
                continue;
            }
            waiting[i] -= hits;
            if waiting[i] == 0 {
                order.push(i);
                indegree[p.into] -= 1;
                if indegree[p.into] == 0 {
                    ready.push(p.into);
                }
            }
        }
    }
    if order.len() == pumps.len() {
        return Ok(order);
    }
    // Report one cycle: follow pumps among unvisited streams.
    let start = pumps
        .iter()
        .find(|p| !visited[p.from])
        .map(|p| p.from)
        .unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    let mut at = Location::default();
    for _ in 0..=n {
        let Some(p) = pumps.iter().find(|p| p.from == cur && !visited[p.into]) else {
            break;
        };
        if at == Location::default() {
            at = p.declared_at;
        }
        cur = p.into;
        if let Some(pos) = path.iter().position(|&s| s == cur) {
            path.drain(..pos);
            path.push(cur);
            break;
        }
        path.push(cur);
    }
    Err(EngineError::Cycle {
        location: at,
        path: path
            .iter()
            .map(|&s| format!("\"{}\"", streams[s].name))
            .collect::<Vec<_>>()
            .join(" -> "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_report_cycles_and_unknown_streams() {
        let src = [SourceDecl {
            stream: "S".into(),
            columns: Some(vec![StreamColumn::new("A", SqlType::Integer)]),
        }];
        let e = AppPlan::new(
            "CREATE STREAM X (A INTEGER); CREATE STREAM Y (A INTEGER);\n\
             CREATE PUMP P1 AS INSERT INTO X SELECT STREAM A FROM Y;\n\
             CREATE PUMP P2 AS INSERT INTO Y SELECT STREAM A FROM X;",
            &src,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cycle"), "{e}");
        let e = AppPlan::new(
            "CREATE STREAM X (A INTEGER); CREATE PUMP P AS INSERT INTO X SELECT STREAM A FROM T;",
            &src,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("1:"), "{e}");
        assert!(e.contains("unknown stream \"T\""), "{e}");
    }
}
