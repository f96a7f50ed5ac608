//! Planning sliding windows: aggregates `OVER w` (inline or a named
//! `WINDOW w AS (...)`) become a [`SlidingPlan`]; the frame is checked
//! against what KDA allows. The operator that runs it is
//! `ops/sliding.rs`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{
    DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    NamedWindowDefinition, NamedWindowExpr, NullTreatment, Value, VisitMut, VisitorMut,
    WindowFrameBound, WindowFrameUnits, WindowSpec, WindowType,
};

use super::scope::column_ref;
use super::select::InsertCtx;
use super::types::{ROWTIME, StreamDef};
use super::window::{WindowSize, interval_size, time_column_of};
use super::{Planner, cast_to, df_err, expr_location, sql_type_name};
use crate::error::{EngineError, Location, Result, closest};
use crate::sql::{ident_location, kda_name};

/// How far back a sliding window reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `RANGE INTERVAL .. PRECEDING`: rows with ROWTIME ≥ current − this many ms.
    Range(i64),
    /// `ROWS n PRECEDING`: the current row and `n` rows before it.
    Rows(usize),
    /// `RANGE | ROWS UNBOUNDED PRECEDING`: every row of the partition so
    /// far. Its aggregates keep running totals (COUNT, SUM, AVG, the
    /// variances, MIN, MAX), not the rows.
    Unbounded,
}

/// One window specification (inline or named) of a sliding query.
#[derive(Debug)]
pub struct SlidingWindowPlan {
    /// The window's name, or its text when inline (for messages).
    pub name: String,
    /// PARTITION BY expressions, over the source batch.
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// Types of the PARTITION BY expressions.
    pub partition_types: Vec<DataType>,
    /// How far back it reaches.
    pub frame: Frame,
}

/// The analytic functions a sliding window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingFunction {
    /// `COUNT(*)` (no argument) or `COUNT(x)` (non-NULL values).
    Count,
    /// `SUM(x)`.
    Sum,
    /// `AVG(x)`; integer arguments give an integer (truncated), as KDA.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `FIRST_VALUE(x)`: the value of the window's oldest row.
    FirstValue,
    /// `LAST_VALUE(x)`: the value of the current row.
    LastValue,
    /// `LAG(x [, offset [, default]]) [IGNORE NULLS]`.
    Lag {
        /// How many rows back.
        offset: usize,
        /// Skip rows whose value is NULL when counting back.
        ignore_nulls: bool,
    },
    /// `VAR_POP(x)`.
    VarPop,
    /// `VAR_SAMP(x)` (also `VARIANCE`).
    VarSamp,
    /// `STDDEV_POP(x)`.
    StddevPop,
    /// `STDDEV_SAMP(x)` (also `STDDEV`).
    StddevSamp,
    /// `ANY(b)` / `SOME(b)` (DataFusion's `bool_or`): some non-NULL value
    /// in the window is TRUE.
    BoolOr,
    /// `EVERY(b)` (`bool_and`): every non-NULL value in the window is TRUE.
    BoolAnd,
    /// `EXP_AVG(x, <half-life interval>)`: the window's values weighted
    /// by 1/2 per half-life of age (the rows of the most recent half-life
    /// weigh 1, the ones before 1/2, then 1/4, ...), NULLs skipped.
    ExpAvg {
        /// The half-life, in ms.
        half_life_ms: i64,
    },
    /// `NTH_VALUE(x, n) [FROM FIRST | FROM LAST] [IGNORE NULLS]`: the n-th
    /// value counted from the window's oldest (or newest) row; NULL when
    /// the window has fewer.
    NthValue {
        /// Which value, from 1.
        n: usize,
        /// Count from the newest row.
        from_last: bool,
        /// Skip NULLs while counting.
        ignore_nulls: bool,
    },
}

/// How an argument's values are kept in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Integers, booleans, dates and timestamps, as `i64`.
    Int,
    /// REAL, DOUBLE (and DECIMAL, evaluated as DOUBLE), as `f64`.
    Float,
    /// CHAR and VARCHAR.
    Str,
}

impl ValueKind {
    /// The Arrow type values are stored as.
    pub fn storage_type(self) -> DataType {
        match self {
            ValueKind::Int => DataType::Int64,
            ValueKind::Float => DataType::Float64,
            ValueKind::Str => DataType::Utf8,
        }
    }

    /// How values of `t` are kept, if they can be.
    pub fn of(t: &DataType) -> Option<Self> {
        use DataType::*;
        match t {
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Boolean | Date32
            | Date64 | Timestamp(..) | Time32(_) | Time64(_) => Some(ValueKind::Int),
            Float16 | Float32 | Float64 => Some(ValueKind::Float),
            Utf8 | LargeUtf8 | Utf8View => Some(ValueKind::Str),
            _ => None,
        }
    }
}

/// An argument of one or more sliding aggregates.
#[derive(Debug)]
pub struct SlidingArg {
    /// The expression, over the source batch.
    pub expr: Arc<dyn PhysicalExpr>,
    /// How its values are kept.
    pub kind: ValueKind,
}

/// One aggregate call `F(x) OVER w`.
#[derive(Debug)]
pub struct SlidingAggregate {
    /// The function.
    pub function: SlidingFunction,
    /// Index of its window in [`SlidingPlan::windows`].
    pub window: usize,
    /// Index of its argument in [`SlidingPlan::args`] (`None` for `COUNT(*)`).
    pub arg: Option<usize>,
    /// LAG's default, over the source batch, already of the argument's storage type.
    pub default: Option<Arc<dyn PhysicalExpr>>,
    /// The result's type.
    pub output_type: DataType,
}

/// A pump that computes sliding-window aggregates, one output row per input row.
#[derive(Debug)]
pub struct SlidingPlan {
    /// WHERE, over the source batch (applied before the window).
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The window specifications the aggregates use.
    pub windows: Vec<SlidingWindowPlan>,
    /// Distinct aggregate arguments.
    pub args: Vec<SlidingArg>,
    /// The aggregate calls.
    pub aggregates: Vec<SlidingAggregate>,
    /// The source batch's columns, then `__a<j>` per aggregate.
    pub post_schema: SchemaRef,
    /// One expression per target column, over `post_schema`.
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
}

/// Whether an expression holds an `OVER` call.
pub(super) fn has_over(e: &Expr) -> bool {
    let mut e = e.clone();
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
        if let Expr::Function(f) = x
            && f.over.is_some()
        {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn unknown_window(r: &Ident, named: &[(String, Location, WindowSpec)]) -> EngineError {
    let n = kda_name(r);
    EngineError::Plan {
        location: ident_location(r),
        message: format!(
            "unknown window \"{n}\"{}",
            crate::error::did_you_mean(&closest(&n, named.iter().map(|(x, _, _)| x.as_str())))
        ),
    }
}

/// Replaces each `F(..) OVER w` by a reference to column `__a<j>`, collecting
/// the calls (without their OVER) and the distinct windows they use.
struct OverRewriter<'a> {
    named: &'a [(String, Location, WindowSpec)],
    aggregate_names: &'a dyn Fn(&str) -> bool,
    /// (call without OVER, window index).
    calls: Vec<(Expr, usize)>,
    /// (name or inline text, spec, where it is written).
    windows: Vec<(String, WindowSpec, Location)>,
    error: Option<EngineError>,
}

impl OverRewriter<'_> {
    fn window(&mut self, over: &WindowType, at: Location) -> Result<usize> {
        let (key, spec, l) = match over {
            WindowType::NamedWindow(r) => {
                let n = kda_name(r);
                match self.named.iter().find(|(x, _, _)| *x == n) {
                    Some((_, l, spec)) => (n, spec.clone(), *l),
                    None => return Err(unknown_window(r, self.named)),
                }
            }
            WindowType::WindowSpec(spec) => {
                if let Some(base) = &spec.window_name {
                    return Err(EngineError::Unsupported {
                        location: ident_location(base),
                        what: format!(
                            "OVER ({base} ...): refine a named window by writing a new WINDOW definition"
                        ),
                    });
                }
                (format!("({spec})"), spec.clone(), at)
            }
        };
        Ok(match self.windows.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                self.windows.push((key, spec, l));
                self.windows.len() - 1
            }
        })
    }
}

impl VisitorMut for OverRewriter<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if !matches!(e, Expr::Function(_)) {
            return ControlFlow::Continue(());
        }
        let at = expr_location(e, Location::default());
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let Some(over) = f.over.take() else {
            if (self.aggregate_names)(&f.name.to_string()) {
                self.error = Some(EngineError::Plan {
                    location: at,
                    message: format!(
                        "{} needs OVER in a query that uses sliding windows (or a GROUP BY, without OVER)",
                        f.name.to_string().to_uppercase()
                    ),
                });
                return ControlFlow::Break(());
            }
            return ControlFlow::Continue(());
        };
        let window = match self.window(&over, at) {
            Ok(w) => w,
            Err(err) => {
                self.error = Some(err);
                return ControlFlow::Break(());
            }
        };
        let call = e.clone();
        let text = format!("{call} OVER {window}");
        let j = match self
            .calls
            .iter()
            .position(|(c, w)| format!("{c} OVER {w}") == text)
        {
            Some(j) => j,
            None => {
                self.calls.push((call, window));
                self.calls.len() - 1
            }
        };
        *e = column_ref(&format!("__a{j}"));
        ControlFlow::Continue(())
    }
}

/// The frame of a sliding window, checked against what KDA allows: windows
/// that end at the current row, reaching back a RANGE INTERVAL or ROWS n.
fn sliding_frame(name: &str, spec: &WindowSpec, at: Location) -> Result<Frame> {
    let unsupported = |what: String| EngineError::Unsupported { location: at, what };
    for o in &spec.order_by {
        let ascending = o.options.asc != Some(false);
        if time_column_of(&o.expr) != Some(ROWTIME) || !ascending {
            return Err(unsupported(format!(
                "ORDER BY {o} in window {name}: a sliding window is ordered by ROWTIME only"
            )));
        }
    }
    let Some(frame) = &spec.window_frame else {
        return Err(EngineError::Plan {
            location: at,
            message: format!(
                "window {name} has no frame: write RANGE INTERVAL '1' MINUTE PRECEDING or ROWS 10 PRECEDING"
            ),
        });
    };
    match &frame.end_bound {
        None | Some(WindowFrameBound::CurrentRow) => {}
        Some(b) => {
            return Err(unsupported(format!(
                "window {name} ending at {b}: a sliding window ends at the current row"
            )));
        }
    }
    match (&frame.units, &frame.start_bound) {
        (WindowFrameUnits::Groups, _) => Err(unsupported(format!("GROUPS in window {name}"))),
        (_, b @ WindowFrameBound::Following(_)) => Err(unsupported(format!(
            "{b} in window {name}: a sliding window reaches back from the current row, never forward"
        ))),
        (_, WindowFrameBound::Preceding(None)) => Ok(Frame::Unbounded),
        (WindowFrameUnits::Rows, WindowFrameBound::CurrentRow) => Ok(Frame::Rows(0)),
        (WindowFrameUnits::Range, WindowFrameBound::CurrentRow) => Ok(Frame::Range(0)),
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(Some(e))) => {
            let l = expr_location(e, at);
            let n = match e.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.parse::<usize>().ok(),
                    _ => None,
                },
                _ => None,
            };
            match n {
                Some(0) => Err(EngineError::Plan {
                    location: l,
                    message: format!("ROWS 0 PRECEDING in window {name}: write ROWS CURRENT ROW"),
                }),
                Some(n) => Ok(Frame::Rows(n)),
                None => Err(EngineError::Plan {
                    location: l,
                    message: format!(
                        "ROWS {e} PRECEDING in window {name}: the number of rows must be a positive whole number"
                    ),
                }),
            }
        }
        (WindowFrameUnits::Range, WindowFrameBound::Preceding(Some(e))) => {
            let l = expr_location(e, at);
            let Expr::Interval(iv) = e.as_ref() else {
                return Err(EngineError::Plan {
                    location: l,
                    message: format!(
                        "RANGE {e} PRECEDING in window {name}: the range must be an INTERVAL, e.g. RANGE INTERVAL '1' MINUTE PRECEDING"
                    ),
                });
            };
            let zero = match iv.value.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(n) => n.trim().parse::<f64>() == Ok(0.0),
                    Value::Number(n, _) => n.parse::<f64>() == Ok(0.0),
                    _ => false,
                },
                _ => false,
            };
            if zero {
                // "Allowed and Disallowed Window Specifications": 0 PRECEDING
                // cannot be used for a windowed aggregate; CURRENT ROW can.
                return Err(unsupported(format!(
                    "RANGE {iv} PRECEDING in window {name}: KDA does not allow 0 PRECEDING for a windowed aggregate; write RANGE CURRENT ROW (the rows of the current ROWTIME)"
                )));
            }
            match interval_size(iv, l)? {
                WindowSize::Millis(ms) => Ok(Frame::Range(ms)),
                WindowSize::Months(_) => Err(unsupported(format!(
                    "RANGE {iv} PRECEDING in window {name}: months and years have no fixed length; use DAY, HOUR, MINUTE or SECOND"
                ))),
            }
        }
    }
}

impl Planner {
    /// Plans a query whose aggregates are `OVER` sliding windows.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_sliding(
        &self,
        named: Vec<NamedWindowDefinition>,
        items: &[(Expr, Location)],
        source: &StreamDef,
        input_schema: &DFSchema,
        filter: Option<Arc<dyn PhysicalExpr>>,
        ctx: &InsertCtx,
        at: Location,
    ) -> Result<SlidingPlan> {
        // Named windows, in order; a name may refer to an earlier one.
        let mut named_specs: Vec<(String, Location, WindowSpec)> = Vec::new();
        for NamedWindowDefinition(name, expr) in named {
            let n = kda_name(&name);
            let l = ident_location(&name);
            if let Some((_, first, _)) = named_specs.iter().find(|(x, _, _)| *x == n) {
                return Err(EngineError::Duplicate {
                    location: l,
                    kind: "window",
                    name: n,
                    first: *first,
                });
            }
            let spec = match expr {
                NamedWindowExpr::WindowSpec(spec) => spec,
                NamedWindowExpr::NamedWindow(r) => {
                    let rn = kda_name(&r);
                    match named_specs.iter().find(|(x, _, _)| *x == rn) {
                        Some((_, _, spec)) => spec.clone(),
                        None => return Err(unknown_window(&r, &named_specs)),
                    }
                }
            };
            named_specs.push((n, l, spec));
        }

        // Replace each `F(..) OVER w` by a column `__a<j>`.
        let is_agg = |n: &str| self.is_aggregate(n);
        let mut rw = OverRewriter {
            named: &named_specs,
            aggregate_names: &is_agg,
            calls: Vec::new(),
            windows: Vec::new(),
            error: None,
        };
        let mut post_items: Vec<(Expr, Location)> = Vec::new();
        for (e, l) in items {
            let mut e = e.clone();
            let _ = e.visit(&mut rw);
            if let Some(err) = rw.error.take() {
                return Err(err);
            }
            post_items.push((e, *l));
        }
        if rw.calls.is_empty() {
            return Err(EngineError::Plan {
                location: named_specs.first().map_or(at, |(_, l, _)| *l),
                message: "the WINDOW clause is not used: a sliding window needs an aggregate such as AVG(x) OVER W1".into(),
            });
        }

        let arrow_in = input_schema.as_arrow();
        let mut windows = Vec::new();
        for (name, spec, l) in &rw.windows {
            let frame = sliding_frame(name, spec, *l)?;
            let mut partition_by = Vec::new();
            let mut partition_types = Vec::new();
            for k in &spec.partition_by {
                let kl = expr_location(k, *l);
                let phys = self.expr(k, input_schema, kl)?;
                partition_types.push(phys.data_type(arrow_in).map_err(df_err(kl))?);
                partition_by.push(phys);
            }
            windows.push(SlidingWindowPlan {
                name: name.clone(),
                partition_by,
                partition_types,
                frame,
            });
        }

        let mut args: Vec<SlidingArg> = Vec::new();
        let mut arg_texts: Vec<String> = Vec::new();
        let mut aggregates = Vec::new();
        let mut agg_fields = Vec::new();
        for (j, (call, window)) in rw.calls.iter().enumerate() {
            let l = expr_location(call, at);
            let a =
                self.sliding_aggregate(call, *window, l, input_schema, &mut args, &mut arg_texts)?;
            if windows[*window].frame == Frame::Unbounded
                && matches!(
                    a.function,
                    SlidingFunction::FirstValue
                        | SlidingFunction::LastValue
                        | SlidingFunction::Lag { .. }
                        | SlidingFunction::ExpAvg { .. }
                        | SlidingFunction::NthValue { .. }
                )
            {
                return Err(EngineError::Unsupported {
                    location: l,
                    what: format!(
                        "{call} over UNBOUNDED PRECEDING (window {}): Sluice keeps running totals, not the rows, for an unbounded window; COUNT, SUM, AVG, MIN, MAX and the variances work",
                        windows[*window].name
                    ),
                });
            }
            agg_fields.push(Field::new(format!("__a{j}"), a.output_type.clone(), true));
            aggregates.push(a);
        }

        let mut post_fields: Vec<Field> = source
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        post_fields.extend(agg_fields);
        let post_schema = Arc::new(Schema::new(post_fields));
        let post_df = DFSchema::try_from(post_schema.as_ref().clone()).map_err(df_err(at))?;
        let exprs = self.insert_exprs(&post_items, &post_df, ctx, |e| Ok(e.clone()))?;
        Ok(SlidingPlan {
            filter,
            windows,
            args,
            aggregates,
            post_schema,
            exprs,
        })
    }

    /// Plans one `F(args) OVER w` call (the OVER already split off).
    fn sliding_aggregate(
        &self,
        call: &Expr,
        window: usize,
        l: Location,
        input_schema: &DFSchema,
        args: &mut Vec<SlidingArg>,
        arg_texts: &mut Vec<String>,
    ) -> Result<SlidingAggregate> {
        let arrow_in = input_schema.as_arrow();
        let Expr::Function(f) = call else {
            return Err(EngineError::Plan {
                location: l,
                message: format!("{call} is not a function call"),
            });
        };
        let name = f.name.to_string();
        let unsupported = |what: String| EngineError::Unsupported { location: l, what };
        if f.filter.is_some() {
            return Err(unsupported("FILTER (WHERE ...) on an aggregate".into()));
        }
        let list = match &f.args {
            FunctionArguments::List(list) => {
                if matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct)) {
                    return Err(unsupported(format!(
                        "{}(DISTINCT ...) over a sliding window",
                        name.to_uppercase()
                    )));
                }
                if !list.clauses.is_empty() {
                    return Err(unsupported(format!("{call} over a sliding window")));
                }
                list.args.as_slice()
            }
            FunctionArguments::None => &[],
            FunctionArguments::Subquery(_) => {
                return Err(unsupported("a subquery as an aggregate argument".into()));
            }
        };
        let mut star = false;
        let mut exprs: Vec<&Expr> = Vec::new();
        for a in list {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
                other => return Err(unsupported(format!("argument {other} of {name}"))),
            }
        }
        for e in &exprs {
            if self.contains_aggregate(e) {
                return Err(EngineError::Plan {
                    location: l,
                    message: "aggregates cannot be nested".into(),
                });
            }
        }
        let ignore_nulls = matches!(f.null_treatment, Some(NullTreatment::IgnoreNulls));
        let upper = name.to_uppercase();
        let function = match name.as_str() {
            "count" => SlidingFunction::Count,
            "sum" => SlidingFunction::Sum,
            "avg" => SlidingFunction::Avg,
            "min" => SlidingFunction::Min,
            "max" => SlidingFunction::Max,
            "first_value" => SlidingFunction::FirstValue,
            "last_value" => SlidingFunction::LastValue,
            "lag" => {
                let offset = match exprs.get(1) {
                    None => 1,
                    Some(e) => match e {
                        Expr::Value(v) => match &v.value {
                            Value::Number(n, _) => n.parse::<usize>().ok(),
                            _ => None,
                        },
                        _ => None,
                    }
                    .ok_or_else(|| EngineError::Plan {
                        location: expr_location(e, l),
                        message: format!("LAG's offset must be a whole number of rows, not {e}"),
                    })?,
                };
                SlidingFunction::Lag {
                    offset,
                    ignore_nulls,
                }
            }
            "var_pop" => SlidingFunction::VarPop,
            "var_samp" | "variance" | "var" => SlidingFunction::VarSamp,
            "stddev_pop" => SlidingFunction::StddevPop,
            "stddev_samp" | "stddev" => SlidingFunction::StddevSamp,
            "bool_or" => SlidingFunction::BoolOr,
            "bool_and" => SlidingFunction::BoolAnd,
            "nth_value" => {
                let n = match exprs.get(1) {
                    Some(Expr::Value(v)) => match &v.value {
                        Value::Number(n, _) => n.parse::<usize>().ok().filter(|&n| n > 0),
                        _ => None,
                    },
                    _ => None,
                }
                .ok_or_else(|| EngineError::Plan {
                    location: l,
                    message: "NTH_VALUE's n must be a positive whole number: NTH_VALUE(x, 2) [FROM FIRST | FROM LAST] [IGNORE NULLS] OVER w".into(),
                })?;
                let side = exprs.get(2).map(|e| match e {
                    Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(s) => Some(s.as_str() == "LAST"),
                        _ => None,
                    },
                    _ => None,
                });
                let from_last = match side {
                    None => false,
                    Some(Some(last)) => last,
                    Some(None) => {
                        return Err(EngineError::Plan {
                            location: l,
                            message: "NTH_VALUE takes FROM FIRST or FROM LAST after its arguments"
                                .into(),
                        });
                    }
                };
                SlidingFunction::NthValue {
                    n,
                    from_last,
                    ignore_nulls,
                }
            }
            "exp_avg" => {
                let half_life_ms = match exprs.get(1) {
                    Some(Expr::Interval(iv)) => match interval_size(iv, expr_location(exprs[1], l))? {
                        WindowSize::Millis(ms) => Some(ms),
                        WindowSize::Months(_) => None,
                    },
                    _ => None,
                }
                .ok_or_else(|| EngineError::Plan {
                    location: l,
                    message: "EXP_AVG's half-life must be a day-time interval literal: EXP_AVG(<expression>, INTERVAL '10' SECOND)".into(),
                })?;
                SlidingFunction::ExpAvg { half_life_ms }
            }
            _ => {
                return Err(unsupported(format!(
                    "{upper} over a sliding window (supported: COUNT, SUM, AVG, MIN, MAX, ANY, EVERY, FIRST_VALUE, LAST_VALUE, LAG, NTH_VALUE, STDDEV_POP, STDDEV_SAMP, VAR_POP, VAR_SAMP, EXP_AVG)"
                )));
            }
        };
        if ignore_nulls
            && !matches!(
                function,
                SlidingFunction::Lag { .. } | SlidingFunction::NthValue { .. }
            )
        {
            return Err(unsupported(format!("IGNORE NULLS on {upper}")));
        }
        let (min_args, max_args) = match function {
            SlidingFunction::Count => (if star { 0 } else { 1 }, 1),
            SlidingFunction::Lag { .. } => (1, 3),
            SlidingFunction::ExpAvg { .. } => (2, 2),
            SlidingFunction::NthValue { .. } => (2, 3),
            _ => (1, 1),
        };
        if star && function != SlidingFunction::Count {
            return Err(EngineError::Plan {
                location: l,
                message: format!("{upper}(*) is not allowed; only COUNT takes *"),
            });
        }
        if exprs.len() < min_args || exprs.len() > max_args || (star && !exprs.is_empty()) {
            return Err(EngineError::Plan {
                location: l,
                message: format!("wrong number of arguments to {upper}"),
            });
        }
        let numeric = matches!(
            function,
            SlidingFunction::Sum
                | SlidingFunction::Avg
                | SlidingFunction::VarPop
                | SlidingFunction::VarSamp
                | SlidingFunction::StddevPop
                | SlidingFunction::StddevSamp
                | SlidingFunction::ExpAvg { .. }
        );
        let mut arg = None;
        let mut arg_type = None;
        if let Some(e) = exprs.first() {
            let el = expr_location(e, l);
            let mut phys = self.expr(e, input_schema, el)?;
            let mut dt = phys.data_type(arrow_in).map_err(df_err(el))?;
            if matches!(dt, DataType::Decimal128(..) | DataType::Decimal256(..)) {
                // DECIMAL values are aggregated as DOUBLE.
                phys = cast_to(phys, arrow_in, DataType::Float64, el)?;
                dt = DataType::Float64;
            }
            if matches!(function, SlidingFunction::BoolOr | SlidingFunction::BoolAnd)
                && dt != DataType::Boolean
            {
                return Err(EngineError::Plan {
                    location: el,
                    message: format!(
                        "{upper} needs a BOOLEAN argument, not {}",
                        sql_type_name(&dt)
                    ),
                });
            }
            if numeric && !(dt.is_integer() || dt.is_floating()) {
                return Err(EngineError::Plan {
                    location: el,
                    message: format!(
                        "{upper} needs a numeric argument, not {}",
                        sql_type_name(&dt)
                    ),
                });
            }
            let Some(kind) = ValueKind::of(&dt) else {
                return Err(unsupported(format!(
                    "{upper} of {} over a sliding window",
                    sql_type_name(&dt)
                )));
            };
            let text = format!("{e}");
            let idx = match arg_texts.iter().position(|t| *t == text) {
                Some(i) => i,
                None => {
                    arg_texts.push(text);
                    args.push(SlidingArg { expr: phys, kind });
                    args.len() - 1
                }
            };
            arg = Some(idx);
            arg_type = Some((dt, kind));
        }
        let default = match (function, exprs.get(2), &arg_type) {
            (SlidingFunction::Lag { .. }, Some(d), Some((_, kind))) => {
                let dl = expr_location(d, l);
                let phys = self.expr(d, input_schema, dl)?;
                Some(cast_to(phys, arrow_in, kind.storage_type(), dl)?)
            }
            _ => None,
        };
        let output_type = match (function, &arg_type) {
            (SlidingFunction::Count, _) => DataType::Int64,
            (SlidingFunction::BoolOr | SlidingFunction::BoolAnd, _) => DataType::Boolean,
            (SlidingFunction::Sum, Some((_, ValueKind::Int))) => DataType::Int64,
            (SlidingFunction::Avg, Some((dt, ValueKind::Int))) => dt.clone(),
            (
                SlidingFunction::Sum
                | SlidingFunction::Avg
                | SlidingFunction::VarPop
                | SlidingFunction::VarSamp
                | SlidingFunction::StddevPop
                | SlidingFunction::StddevSamp
                | SlidingFunction::ExpAvg { .. },
                _,
            ) => DataType::Float64,
            (_, Some((dt, _))) => dt.clone(),
            (_, None) => DataType::Int64,
        };
        Ok(SlidingAggregate {
            function,
            window,
            arg,
            default,
            output_type,
        })
    }
}
