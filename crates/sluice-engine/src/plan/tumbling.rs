//! Planning GROUP BY: a tumbling ROWTIME window (`STEP(..)`,
//! `FLOOR(.. TO unit)`) or a stagger window, other grouping keys,
//! aggregates through DataFusion accumulators, HAVING — a [`TumblingPlan`].
//! The operators that run it are `ops/tumbling.rs` and
//! `ops/stagger.rs`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::sql::sqlparser::ast::{
    CeilFloorKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Value, VisitMut,
    VisitorMut,
};

use super::rewrite::rewrite_kda;
use super::scope::column_ref;
use super::select::InsertCtx;
use super::types::{OperatorPlan, ROWTIME, StreamDef};
use super::window::{WindowSize, epoch_period_window, interval_size, window_of};
use super::{Planner, df_err, expr_location, function_args};
use crate::error::{EngineError, Location, Result};
use crate::sql::ident_location;
use crate::types::ROWTIME_TYPE;

/// A pump that aggregates over tumbling ROWTIME windows.
#[derive(Debug)]
pub struct TumblingPlan {
    /// Window size; the window key is ROWTIME (or APPROXIMATE_ARRIVAL_TIME).
    pub size: WindowSize,
    /// Column index of the time the window is on.
    pub time_column: usize,
    /// The window is on a monotonic column, not ROWTIME: a window closes
    /// when a row of a later window arrives (its rows' ROWTIME), never
    /// because of time alone, as KDA's GROUP BY on a monotonic key.
    pub monotonic: bool,
    /// WHERE, over the source stream's batch.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Grouping keys other than the window, over the source batch.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Schema of the grouping keys.
    pub key_schema: SchemaRef,
    /// The aggregates (their argument expressions are over the source batch).
    pub aggregates: Vec<AggregatePlan>,
    /// Schema of a closed window's rows: `__rowtime` (the window end),
    /// `__w` (its start), keys `__g0..`, aggregates `__a0..`.
    pub post_schema: SchemaRef,
    /// HAVING, over `post_schema`.
    pub having: Option<Arc<dyn PhysicalExpr>>,
    /// One expression per target column, over `post_schema`.
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
}

/// One aggregate of a [`TumblingPlan`].
#[derive(Debug)]
pub struct AggregatePlan {
    /// DataFusion's aggregate (accumulator factory and arguments).
    pub expr: Arc<AggregateFunctionExpr>,
    /// KDA's integer AVG: the result is cast back to this integer type.
    pub cast_to: Option<DataType>,
}

/// Replaces grouped expressions and aggregate calls by references to the
/// columns of a closed window (`__w`, `__g<i>`, `__a<j>`).
struct GroupRewriter<'a> {
    window: &'a str,
    /// What the window expression is over a closed window: `__w` (its
    /// start) for FLOOR/STEP, the expression of `__w` for the epoch-period
    /// idiom (whose value is a count of periods, not a time).
    window_value: Expr,
    /// Each key's text and what replaces it (`__g<i>`, marked as an
    /// interval when the key is one, see [`key_value`]).
    keys: &'a [(String, Expr)],
    aggregate_names: &'a dyn Fn(&str) -> bool,
    aggregates: Vec<Expr>,
}

impl VisitorMut for GroupRewriter<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let text = e.to_string();
        if text == self.window {
            *e = self.window_value.clone();
        } else if let Some((_, value)) = self.keys.iter().find(|(k, _)| *k == text) {
            *e = value.clone();
        } else if let Expr::Function(f) = e {
            if (self.aggregate_names)(&f.name.to_string()) {
                let i = match self.aggregates.iter().position(|a| a.to_string() == text) {
                    Some(i) => i,
                    None => {
                        self.aggregates.push(e.clone());
                        self.aggregates.len() - 1
                    }
                };
                *e = column_ref(&format!("__a{i}"));
            }
        } else if matches!(e, Expr::Identifier(id) if id.value == ROWTIME) {
            *e = column_ref("__rowtime");
        }
        ControlFlow::Continue(())
    }
}

/// What grouping key `i` (`k`) is over a closed window: its column
/// `__g<i>`, wrapped in `kda_interval(..)` when `k` is an interval (e.g.
/// `FLOOR((S.APPROXIMATE_ARRIVAL_TIME - TIMESTAMP '1970-01-01 00:00:00')
/// SECOND / 10 TO SECOND)`), so `10 * __g<i>` is still interval arithmetic.
fn key_value(k: &Expr, i: usize) -> Expr {
    let column = column_ref(&format!("__g{i}"));
    if crate::functions::yields_interval(k) {
        crate::functions::call(crate::functions::interval::INTERVAL_VALUE, vec![column])
    } else {
        column
    }
}

/// The window expression's value over a closed window's start (see
/// [`GroupRewriter::window_value`]).
fn window_value_over_start(group_by: &[Expr], window_text: &str, time_col: &str) -> Expr {
    let idiom = group_by.iter().find(|g| {
        g.to_string() == window_text
            && matches!(g, Expr::Floor { expr, field: CeilFloorKind::DateTimeField(u) }
                if epoch_period_window(expr, u).is_some())
    });
    let Some(g) = idiom else {
        return column_ref("__w");
    };
    let mut value = g.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut value, |x: &mut Expr| {
        if matches!(x, Expr::Identifier(id) if id.value == time_col) {
            *x = column_ref("__w");
        }
        ControlFlow::<()>::Continue(())
    });
    value
}

/// Finds input columns left in a select item after grouping rewrites.
fn ungrouped_column(e: &mut Expr) -> Option<Ident> {
    let mut found = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(e, |x: &mut Expr| {
        if let Expr::Identifier(id) = x
            && !id.value.starts_with("__")
        {
            found = Some(id.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

impl Planner {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_tumbling(
        &self,
        group_by: Vec<Expr>,
        having: Option<Expr>,
        items: &[(Expr, Location)],
        source: &StreamDef,
        input_schema: &DFSchema,
        filter: Option<Arc<dyn PhysicalExpr>>,
        ctx: &InsertCtx,
        at: Location,
    ) -> Result<OperatorPlan> {
        // Find the ROWTIME window among the grouping expressions.
        let mut window: Option<(String, &'static str, WindowSize)> = None;
        let mut keys: Vec<Expr> = Vec::new();
        let mut stagger = false;
        // With a ROWTIME window (or a stagger window), a window on another
        // time column (STEP(S.APPROXIMATE_ARRIVAL_TIME BY ..), the Developer
        // Guide's partial-results pattern) is one more grouping key.
        let rowtime_window = group_by.iter().any(|g| {
            matches!(g, Expr::Function(f) if f.name.to_string() == crate::sql::STAGGER_FUNCTION)
                || matches!(window_of(g, at), Ok(Some((ROWTIME, _))))
        });
        for g in &group_by {
            if let Expr::Function(f) = g
                && f.name.to_string() == crate::sql::STAGGER_FUNCTION
            {
                let l = expr_location(g, at);
                let size = match function_args(f).as_slice() {
                    [Expr::Interval(iv)] => interval_size(iv, l)?,
                    _ => {
                        return Err(EngineError::Plan {
                            location: l,
                            message: "WINDOWED BY STAGGER needs RANGE INTERVAL '1' MINUTE (an interval literal)".into(),
                        });
                    }
                };
                if window.is_some() {
                    return Err(EngineError::Unsupported {
                        location: l,
                        what: "a ROWTIME window in GROUP BY together with WINDOWED BY STAGGER"
                            .into(),
                    });
                }
                stagger = true;
                window = Some((g.to_string(), ROWTIME, size));
                continue;
            }
            match window_of(g, at)? {
                Some((col, _)) if col != ROWTIME && rowtime_window => keys.push(g.clone()),
                Some((col, size)) => {
                    if stagger {
                        return Err(EngineError::Unsupported {
                            location: expr_location(g, at),
                            what: "a ROWTIME window in GROUP BY together with WINDOWED BY STAGGER"
                                .into(),
                        });
                    }
                    if window.is_some() {
                        return Err(EngineError::Unsupported {
                            location: expr_location(g, at),
                            what: "two ROWTIME windows in one GROUP BY".into(),
                        });
                    }
                    window = Some((g.to_string(), col, size));
                }
                None => keys.push(g.clone()),
            }
        }
        // Without a ROWTIME window, a key that never decreases (a subquery's
        // ROWTIME-based or MONOTONIC(..) column, STEP / FLOOR of one) is the
        // window: KDA's streaming GROUP BY needs one monotonic key.
        let mut monotonic = false;
        let (window_text, time_col, size): (String, String, WindowSize) = match window {
            Some((text, col, size)) => (text, col.to_string(), size),
            None => {
                let found = group_by
                    .iter()
                    .find_map(|g| monotonic_window(g, source, at).transpose())
                    .transpose()?;
                let Some((g, col, size)) = found else {
                    return Err(EngineError::Plan {
                        location: expr_location(&group_by[0], at),
                        message: "a GROUP BY on a stream needs a ROWTIME window: add STEP(\"S\".ROWTIME BY INTERVAL '60' SECOND) or FLOOR(\"S\".ROWTIME TO MINUTE)".into(),
                    });
                };
                monotonic = true;
                let text = g.to_string();
                keys.retain(|k| k.to_string() != text);
                (text, col, size)
            }
        };
        let time_col = time_col.as_str();
        let time_column = source
            .schema
            .index_of(time_col)
            .map_err(|e| EngineError::Plan {
                location: at,
                message: e.to_string(),
            })?;
        let arrow_in = input_schema.as_arrow();

        // Grouping keys other than the window.
        let mut key_exprs = Vec::new();
        let mut key_fields = Vec::new();
        let mut key_texts = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let l = expr_location(k, at);
            let phys = self.expr(k, input_schema, l)?;
            let dt = phys.data_type(arrow_in).map_err(df_err(l))?;
            key_fields.push(Field::new(format!("__g{i}"), dt, true));
            key_exprs.push(phys);
            key_texts.push((k.to_string(), key_value(k, i)));
        }

        // Rewrite select items and HAVING over the closed window's columns.
        let mut items = items.to_vec();
        for (e, l) in items.iter_mut() {
            exp_avg_aggregate(e, *l)?;
        }
        let mut having = having;
        if let Some(h) = having.as_mut() {
            exp_avg_aggregate(h, at)?;
        }
        let is_agg = |n: &str| self.is_aggregate(n);
        let window_value = window_value_over_start(&group_by, &window_text, time_col);
        let mut rw = GroupRewriter {
            window: &window_text,
            window_value,
            keys: &key_texts,
            aggregate_names: &is_agg,
            aggregates: Vec::new(),
        };
        let mut post_items: Vec<(Expr, Location)> = Vec::new();
        for (e, l) in &items {
            let mut e = e.clone();
            let _ = e.visit(&mut rw);
            if let Some(id) = ungrouped_column(&mut e) {
                return Err(EngineError::Plan {
                    location: ident_location(&id),
                    message: format!(
                        "column \"{}\" must appear in the GROUP BY or inside an aggregate",
                        id.value
                    ),
                });
            }
            post_items.push((e, *l));
        }
        let having = match having {
            Some(h) => {
                let l = expr_location(&h, at);
                let mut h = h;
                let _ = h.visit(&mut rw);
                if let Some(id) = ungrouped_column(&mut h) {
                    return Err(EngineError::Plan {
                        location: ident_location(&id),
                        message: format!(
                            "column \"{}\" in HAVING must appear in the GROUP BY or inside an aggregate",
                            id.value
                        ),
                    });
                }
                Some((h, l))
            }
            None => None,
        };

        // Aggregates, through DataFusion's physical planner.
        let mut aggregates = Vec::new();
        let mut agg_fields = Vec::new();
        for (j, a) in rw.aggregates.iter().enumerate() {
            let l = expr_location(a, at);
            let mut a = a.clone();
            count_star_to_count_one(&mut a);
            if let Expr::Function(f) = &a {
                for arg in function_args(f) {
                    if self.contains_aggregate(arg) {
                        return Err(EngineError::Plan {
                            location: l,
                            message: "aggregates cannot be nested".into(),
                        });
                    }
                }
            }
            rewrite_kda(&mut a)?;
            let logical = self.logical(&a, input_schema, l)?;
            let simplify = datafusion::optimizer::simplify_expressions::ExprSimplifier::new(
                datafusion::optimizer::simplify_expressions::SimplifyContext::builder()
                    .with_schema(Arc::new(input_schema.clone()))
                    .build(),
            );
            let logical = simplify.coerce(logical, input_schema).map_err(df_err(l))?;
            let planning = datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext::default();
            let lowered = datafusion::physical_expr::aggregate::LoweredAggregateBuilder::new(
                &logical,
                input_schema,
                arrow_in,
                self.state.execution_props(),
                &planning,
            )
            .build()
            .map_err(df_err(l))?;
            let expr = lowered.aggregate;
            if lowered.filter.is_some() {
                return Err(EngineError::Unsupported {
                    location: l,
                    what: "FILTER (WHERE ...) on an aggregate".into(),
                });
            }
            // KDA: AVG of an integer type is an integer (truncated).
            let mut cast_to = None;
            if expr.fun().name() == "avg"
                && let Some(arg) = expr.expressions().first()
            {
                let t = arg.data_type(arrow_in).map_err(df_err(l))?;
                if t.is_integer() {
                    cast_to = Some(t);
                }
            }
            let dt = match &cast_to {
                Some(t) => t.clone(),
                None => expr.field().data_type().clone(),
            };
            agg_fields.push(Field::new(format!("__a{j}"), dt, true));
            aggregates.push(AggregatePlan { expr, cast_to });
        }

        let mut post_fields = vec![
            Field::new("__rowtime", ROWTIME_TYPE, false),
            Field::new("__w", ROWTIME_TYPE, false),
        ];
        post_fields.extend(key_fields.iter().cloned());
        post_fields.extend(agg_fields);
        let post_schema = Arc::new(Schema::new(post_fields));
        let post_df = DFSchema::try_from(post_schema.as_ref().clone()).map_err(df_err(at))?;
        let having = match having {
            Some((h, l)) => Some(self.expr(&h, &post_df, l)?),
            None => None,
        };
        let exprs = self.insert_exprs(&post_items, &post_df, ctx, |e| Ok(e.clone()))?;
        let plan = TumblingPlan {
            size,
            time_column,
            monotonic,
            filter,
            keys: key_exprs,
            key_schema: Arc::new(Schema::new(key_fields)),
            aggregates,
            post_schema,
            having,
            exprs,
        };
        Ok(if stagger {
            OperatorPlan::Stagger(plan)
        } else {
            OperatorPlan::Tumbling(plan)
        })
    }
}

/// KDA's `EXP_AVG(x, INTERVAL '10' SECOND)` in a GROUP BY query →
/// `kda_exp_avg(x, ROWTIME, 10000)`, the aggregate of
/// `functions/exp_avg.rs` (its ages are ROWTIME's).
fn exp_avg_aggregate(e: &mut Expr, at: Location) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{ObjectName, visit_expressions_mut};
    let mut error = None;
    let _ = visit_expressions_mut(e, |x: &mut Expr| {
        let Expr::Function(f) = x else {
            return ControlFlow::<()>::Continue(());
        };
        if !f.name.to_string().eq_ignore_ascii_case("exp_avg") || f.over.is_some() {
            return ControlFlow::Continue(());
        }
        let l = expr_location(&Expr::Function(f.clone()), at);
        let half_life = match function_args(f).as_slice() {
            [_, Expr::Interval(iv)] => match interval_size(iv, l) {
                Ok(WindowSize::Millis(ms)) if ms > 0 => Some(ms),
                Ok(_) => None,
                Err(e) => {
                    error = Some(e);
                    return ControlFlow::Break(());
                }
            },
            _ => None,
        };
        let Some(ms) = half_life else {
            error = Some(EngineError::Plan {
                location: l,
                message: "EXP_AVG's half-life must be a positive day-time interval literal: EXP_AVG(<expression>, INTERVAL '10' SECOND)".into(),
            });
            return ControlFlow::Break(());
        };
        f.name = ObjectName::from(vec![Ident::new(crate::functions::exp_avg::KDA_EXP_AVG)]);
        if let FunctionArguments::List(list) = &mut f.args {
            list.args.truncate(1);
            list.args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                Expr::Identifier(Ident::new(ROWTIME)),
            )));
            list.args
                .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                    Value::Number(ms.to_string(), false),
                ))));
        }
        ControlFlow::Continue(())
    });
    error.map_or(Ok(()), Err)
}

fn count_star_to_count_one(e: &mut Expr) {
    if let Expr::Function(f) = e
        && f.name.to_string() == "count"
        && let FunctionArguments::List(list) = &mut f.args
    {
        for a in list.args.iter_mut() {
            if matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Wildcard)) {
                *a = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(Value::Number(
                    "1".into(),
                    false,
                ))));
            }
        }
    }
}

/// A GROUP BY expression that is a window on a monotonic TIMESTAMP column
/// of `source` (a subquery's ROWTIME-based or MONOTONIC(..) column):
/// the column itself or MONOTONIC(column) (one window per value), or STEP /
/// FLOOR of it. Returns the expression, the column and the window size.
fn monotonic_window<'e>(
    g: &'e Expr,
    source: &StreamDef,
    at: Location,
) -> Result<Option<(&'e Expr, String, WindowSize)>> {
    let column = |mut e: &Expr, declared: bool| -> Option<String> {
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        let Expr::Identifier(id) = e else {
            return None;
        };
        source
            .columns
            .iter()
            .find(|c| c.name == id.value && (declared || c.monotonic))
            .filter(|c| c.sql_type.to_arrow() == ROWTIME_TYPE)
            .map(|c| c.name.clone())
    };
    let l = expr_location(g, at);
    Ok(match g {
        Expr::Nested(inner) => monotonic_window(inner, source, at)?.map(|(_, c, s)| (g, c, s)),
        Expr::Identifier(_) => column(g, false).map(|c| (g, c, WindowSize::Millis(1))),
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("monotonic") => {
            match function_args(f).as_slice() {
                [inner] => column(inner, true).map(|c| (g, c, WindowSize::Millis(1))),
                _ => None,
            }
        }
        Expr::Function(f) if f.name.to_string() == "step" => match function_args(f).as_slice() {
            [inner, Expr::Interval(iv)] => match column(inner, false) {
                Some(c) => Some((g, c, interval_size(iv, l)?)),
                None => None,
            },
            _ => None,
        },
        Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(unit),
        } => match column(expr, false) {
            Some(c) => {
                let Some(size) = super::window::unit_window(unit) else {
                    return Ok(None);
                };
                Some((g, c, size))
            }
            None => None,
        },
        _ => None,
    })
}
