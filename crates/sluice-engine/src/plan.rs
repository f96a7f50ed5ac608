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
//! (TIMESTAMP, ms); source streams also carry `APPROXIMATE_ARRIVAL_TIME`.
//! Neither is part of `SELECT *`, as in KDA.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr as LExpr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CeilFloorKind, DateTimeField, DuplicateTreatment, Expr, ExprWithAlias,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Interval,
    NamedWindowDefinition, NamedWindowExpr, NullTreatment, SelectItem, SetExpr, Spanned,
    TableFactor, Value, VisitMut, VisitorMut, WindowFrameBound, WindowFrameUnits, WindowSpec,
    WindowType,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{EngineError, Location, Result, closest};
use crate::sliding::{
    Frame, SlidingAggregate, SlidingArg, SlidingFunction, SlidingPlan, SlidingWindowPlan, ValueKind,
};
use crate::sql::{PumpDecl, Statement, StreamDecl, ident_location, kda_name, parse_app};
use crate::types::{ROWTIME_TYPE, SqlType, TypeFamily};

/// Name of the ROWTIME column of every in-application stream.
pub const ROWTIME: &str = "ROWTIME";
/// Name of the arrival-time column of source streams.
pub const APPROXIMATE_ARRIVAL_TIME: &str = "APPROXIMATE_ARRIVAL_TIME";
/// Name of the application's error stream.
pub const ERROR_STREAM: &str = "error_stream";

/// A user column of an in-application stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamColumn {
    /// Column name, as KDA resolves it.
    pub name: String,
    /// Its SQL type.
    pub sql_type: SqlType,
    /// Declared NOT NULL.
    pub not_null: bool,
}

impl StreamColumn {
    /// A nullable column.
    pub fn new(name: impl Into<String>, sql_type: SqlType) -> Self {
        Self {
            name: name.into(),
            sql_type,
            not_null: false,
        }
    }
}

/// An input of the application: a source stream fed from outside.
#[derive(Debug, Clone)]
pub struct SourceDecl {
    /// The in-application stream it feeds (e.g. `SOURCE_SQL_STREAM_001`).
    pub stream: String,
    /// Its columns; `None` when the application code declares the stream.
    pub columns: Option<Vec<StreamColumn>>,
}

/// An in-application stream.
#[derive(Debug, Clone)]
pub struct StreamDef {
    /// Stream name.
    pub name: String,
    /// User columns (without ROWTIME).
    pub columns: Vec<StreamColumn>,
    /// Fed from outside (an input), so it also has APPROXIMATE_ARRIVAL_TIME.
    pub is_source: bool,
    /// Batch schema: ROWTIME, [APPROXIMATE_ARRIVAL_TIME], columns.
    pub schema: SchemaRef,
    /// Where it is declared (0:0 for inputs declared only by configuration).
    pub declared_at: Location,
}

impl StreamDef {
    pub(crate) fn new(
        name: String,
        columns: Vec<StreamColumn>,
        is_source: bool,
        at: Location,
    ) -> Self {
        let mut fields = vec![Field::new(ROWTIME, ROWTIME_TYPE, false)];
        if is_source {
            fields.push(Field::new(APPROXIMATE_ARRIVAL_TIME, ROWTIME_TYPE, true));
        }
        for c in &columns {
            fields.push(Field::new(&c.name, c.sql_type.to_arrow(), true));
        }
        Self {
            name,
            columns,
            is_source,
            schema: Arc::new(Schema::new(fields)),
            declared_at: at,
        }
    }

    /// Index of the first user column in the batch schema.
    pub fn first_user_column(&self) -> usize {
        if self.is_source { 2 } else { 1 }
    }

    fn column_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.push(ROWTIME);
        if self.is_source {
            names.push(APPROXIMATE_ARRIVAL_TIME);
        }
        names
    }
}

/// How window starts are computed from ROWTIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSize {
    /// A fixed length in milliseconds, aligned to the epoch.
    Millis(i64),
    /// Whole calendar months (MONTH = 1, YEAR = 12), aligned to January 1970.
    Months(i64),
}

impl WindowSize {
    /// Start of the window holding `t` (ms since epoch).
    pub fn start(self, t: i64) -> i64 {
        match self {
            WindowSize::Millis(size) => t.div_euclid(size) * size,
            WindowSize::Months(n) => {
                let months = months_since_epoch(t);
                month_start(months.div_euclid(n) * n)
            }
        }
    }

    /// End (exclusive) of the window that starts at `start`.
    pub fn end(self, start: i64) -> i64 {
        match self {
            WindowSize::Millis(size) => start.saturating_add(size),
            WindowSize::Months(n) => month_start(months_since_epoch(start) + n),
        }
    }
}

fn months_since_epoch(t: i64) -> i64 {
    use chrono::Datelike;
    let dt = chrono::DateTime::from_timestamp_millis(t).unwrap_or_default();
    (i64::from(dt.year()) - 1970) * 12 + i64::from(dt.month0())
}

fn month_start(months: i64) -> i64 {
    let year = 1970 + months.div_euclid(12);
    let month = months.rem_euclid(12) as u32 + 1;
    chrono::NaiveDate::from_ymd_opt(year as i32, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or(i64::MAX)
}

/// A pump that filters and projects, row by row.
#[derive(Debug)]
pub struct ProjectPlan {
    /// WHERE, over the source stream's batch.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// One expression per target column (already cast to its type).
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
}

/// A pump that aggregates over tumbling ROWTIME windows.
#[derive(Debug)]
pub struct TumblingPlan {
    /// Window size; the window key is ROWTIME (or APPROXIMATE_ARRIVAL_TIME).
    pub size: WindowSize,
    /// Column index of the time the window is on.
    pub time_column: usize,
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

/// What a pump computes.
#[derive(Debug)]
pub enum OperatorPlan {
    /// Filter and project.
    Project(ProjectPlan),
    /// Tumbling-window aggregation.
    Tumbling(TumblingPlan),
    /// Sliding-window aggregates, one row out per row in.
    Sliding(SlidingPlan),
    /// Stagger windows: planned as a tumbling window whose `size` is the
    /// stagger length and whose windows open per partition key.
    Stagger(TumblingPlan),
}

/// A planned pump.
#[derive(Debug)]
pub struct PumpDef {
    /// Pump name.
    pub name: String,
    /// Index of the stream it reads (the left stream of a join).
    pub from: usize,
    /// The join its FROM makes, if any: the operator then runs over the
    /// joined rows.
    pub join: Option<crate::join::JoinPlan>,
    /// Index of the stream it inserts into.
    pub into: usize,
    /// Declared STOPPED: moves no rows.
    pub stopped: bool,
    /// What it computes.
    pub op: OperatorPlan,
    /// Its ORDER BY: the operator's rows are sorted before they reach
    /// the target stream.
    pub order: Option<crate::order::OrderPlan>,
    /// Where it is declared.
    pub declared_at: Location,
}

impl PumpDef {
    /// The stream shape the pump's operator produces: its target stream's,
    /// or, with an ORDER BY, that plus the sort keys not selected.
    pub fn op_target<'a>(&'a self, streams: &'a [StreamDef]) -> &'a StreamDef {
        match &self.order {
            Some(o) => &o.op_target,
            None => &streams[self.into],
        }
    }

    /// The streams the pump reads (a stream-to-stream join reads two).
    pub fn reads(&self) -> Vec<usize> {
        match &self.join {
            Some(j) => j.streams(),
            None => vec![self.from],
        }
    }
}

/// A reference table the application code can join (KDA's
/// ReferenceDataSource): its name and columns.
#[derive(Debug, Clone)]
pub struct TableDecl {
    /// Table name, as the SQL names it.
    pub name: String,
    /// Its columns.
    pub columns: Vec<StreamColumn>,
}

/// A planned application: streams, pumps, and the order to advance them.
#[derive(Debug)]
pub struct AppPlan {
    /// All in-application streams; the error stream is one of them.
    pub streams: Vec<StreamDef>,
    /// All pumps.
    pub pumps: Vec<PumpDef>,
    /// Pump indices, upstream before downstream.
    pub pump_order: Vec<usize>,
    /// Index of `error_stream`.
    pub error_stream: usize,
    /// Reference tables, in the order the application was given them.
    pub tables: Vec<TableDecl>,
}

impl AppPlan {
    /// Parses and plans application code fed by `sources`.
    pub fn new(sql: &str, sources: &[SourceDecl]) -> Result<Self> {
        Self::with_tables(sql, sources, &[])
    }

    /// Parses and plans application code fed by `sources`, with reference
    /// tables it may join.
    pub fn with_tables(sql: &str, sources: &[SourceDecl], tables: &[TableDecl]) -> Result<Self> {
        let statements = parse_app(sql)?;
        Planner::new().plan(statements, sources, tables)
    }

    /// Index of a stream by its KDA name.
    pub fn stream_index(&self, name: &str) -> Option<usize> {
        self.streams.iter().position(|s| s.name == name)
    }
}

/// Evaluates one KDA scalar expression with no input stream (as the
/// `expressions.tsv` checks do) to a one-element array.
pub fn evaluate_scalar(text: &str) -> Result<datafusion::arrow::array::ArrayRef> {
    let e = crate::sql::parse_expression(text)?;
    let planner = Planner::new();
    let schema = DFSchema::empty();
    let at = Location::new(1, 1);
    let phys = planner.expr(&e, &schema, at)?;
    let batch = datafusion::arrow::array::RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .map_err(|e| df_err(at)(e.into()))?;
    phys.evaluate(&batch)
        .and_then(|v| v.into_array(1))
        .map_err(df_err(at))
}

/// The columns of `error_stream`, as the KDA Developer Guide lists them.
pub fn error_stream_columns() -> Vec<StreamColumn> {
    vec![
        StreamColumn::new("ERROR_TIME", SqlType::Timestamp),
        StreamColumn::new("ERROR_LEVEL", SqlType::Varchar(10)),
        StreamColumn::new("ERROR_NAME", SqlType::Varchar(32)),
        StreamColumn::new("MESSAGE", SqlType::Varchar(4096)),
        StreamColumn::new("DATA_ROWTIME", SqlType::Timestamp),
        StreamColumn::new("DATA_ROW", SqlType::Varchar(49152)),
        StreamColumn::new("PUMP_NAME", SqlType::Varchar(128)),
    ]
}

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

/// The ROWTIME-like column an expression is, if it is one (`ROWTIME`,
/// `S.ROWTIME`, `APPROXIMATE_ARRIVAL_TIME`) after qualifier removal.
fn time_column_of(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Identifier(id) if id.value == ROWTIME => Some(ROWTIME),
        Expr::Identifier(id) if id.value == APPROXIMATE_ARRIVAL_TIME => {
            Some(APPROXIMATE_ARRIVAL_TIME)
        }
        Expr::Nested(inner) => time_column_of(inner),
        _ => None,
    }
}

/// `INTERVAL '60' SECOND` etc. as a window size.
fn interval_size(iv: &Interval, at: Location) -> Result<WindowSize> {
    let bad = |what: &str| EngineError::Plan {
        location: at,
        message: format!("window interval {iv}: {what}"),
    };
    let text = match iv.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => s.trim().to_string(),
            _ => return Err(bad("the value must be a quoted number")),
        },
        _ => return Err(bad("the value must be a quoted number")),
    };
    if iv.last_field.is_some() {
        return Err(bad(
            "ranges such as HOUR TO MINUTE are not supported for windows",
        ));
    }
    let n: i64 = text
        .parse()
        .map_err(|_| bad("the value must be a whole number"))?;
    if n <= 0 {
        return Err(bad("the length must be positive"));
    }
    let unit = iv.leading_field.clone().unwrap_or(DateTimeField::Second);
    unit_size(&unit, n).ok_or_else(|| bad(&format!("unit {unit} is not supported")))
}

fn unit_size(unit: &DateTimeField, n: i64) -> Option<WindowSize> {
    Some(match unit {
        DateTimeField::Millisecond | DateTimeField::Milliseconds => WindowSize::Millis(n),
        DateTimeField::Second | DateTimeField::Seconds => WindowSize::Millis(n * 1_000),
        DateTimeField::Minute | DateTimeField::Minutes => WindowSize::Millis(n * 60_000),
        DateTimeField::Hour | DateTimeField::Hours => WindowSize::Millis(n * 3_600_000),
        DateTimeField::Day | DateTimeField::Days => WindowSize::Millis(n * 86_400_000),
        DateTimeField::Month | DateTimeField::Months => WindowSize::Months(n),
        DateTimeField::Year | DateTimeField::Years => WindowSize::Months(12 * n),
        _ => return None,
    })
}

/// If `e` is a ROWTIME window (`FLOOR(ROWTIME TO u)` or `STEP(ROWTIME, INTERVAL ..)`),
/// its time column and size.
fn window_of(e: &Expr, fallback: Location) -> Result<Option<(&'static str, WindowSize)>> {
    match e {
        Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(unit),
        } => {
            let Some(col) = time_column_of(expr) else {
                return Ok(None);
            };
            let size = match unit {
                DateTimeField::Week(_) => WindowSize::Millis(7 * 86_400_000),
                u => unit_size(u, 1).ok_or_else(|| EngineError::Plan {
                    location: expr_location(e, fallback),
                    message: format!("FLOOR(... TO {u}) is not a window unit"),
                })?,
            };
            Ok(Some((col, size)))
        }
        Expr::Function(f) if f.name.to_string() == "step" => {
            let args = function_args(f);
            if let [first, Expr::Interval(iv)] = args.as_slice()
                && let Some(col) = time_column_of(first)
            {
                return Ok(Some((col, interval_size(iv, expr_location(e, fallback))?)));
            }
            Ok(None)
        }
        Expr::Nested(inner) => window_of(inner, fallback),
        _ => Ok(None),
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

fn rewrite_kda(e: &mut Expr) -> Result<()> {
    let mut v = KdaRewrites { error: None };
    let _ = e.visit(&mut v);
    match v.error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Resolves column references of a single-source query: strips the stream's
/// name or alias from qualified names and checks every column exists.
/// What a name in FROM / JOIN refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelationRef {
    /// An in-application stream (index).
    Stream(usize),
    /// A reference table (index).
    Table(usize),
}

/// One relation of FROM / JOIN, as written.
#[derive(Debug, Clone)]
struct Relation {
    target: RelationRef,
    /// Last part of the name, KDA-resolved.
    name: String,
    /// The whole (possibly schema-qualified) name.
    full_name: String,
    alias: Option<String>,
    /// `OVER (RANGE .. PRECEDING)` / `OVER (ROWS n PRECEDING)` after it.
    window: Option<crate::join::SideWindow>,
    at: Location,
}

impl Relation {
    /// The name its columns are qualified with in joined rows.
    fn prefix(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    fn qualifiers(&self) -> Vec<String> {
        let mut q = vec![self.name.clone()];
        if self.full_name != self.name {
            q.push(self.full_name.clone());
        }
        q.extend(self.alias.clone());
        q
    }
}

/// How column names of a query resolve.
enum Scope {
    /// One stream: names are its columns.
    Single { qualifiers: Vec<String> },
    /// Joined rows: `q.c` and unambiguous bare names become `<prefix>.c`.
    Join(JoinScope),
}

/// The sides of a join, for name resolution.
struct JoinScope {
    sides: Vec<ScopeSide>,
}

struct ScopeSide {
    qualifiers: Vec<String>,
    prefix: String,
    /// Stream or table name (for messages).
    name: String,
    /// Every column of the side, ROWTIME included for streams.
    columns: Vec<String>,
    /// The columns `*` expands to.
    user_columns: Vec<String>,
}

impl Planner {
    /// Resolves one FROM / JOIN relation: a stream or reference table, with
    /// its alias and window.
    fn relation(
        &self,
        f: &TableFactor,
        streams: &[StreamDef],
        tables: &[TableDecl],
        at: Location,
    ) -> Result<Relation> {
        let TableFactor::Table {
            name, alias, args, ..
        } = f
        else {
            return Err(EngineError::Unsupported {
                location: at,
                what: "a FROM clause that is not a stream or reference table name".into(),
            });
        };
        let parts: Option<Vec<Ident>> = name.0.iter().map(|p| p.as_ident().cloned()).collect();
        let Some(parts) = parts.filter(|p| !p.is_empty()) else {
            return Err(EngineError::Unsupported {
                location: at,
                what: "this FROM clause".into(),
            });
        };
        // A schema-qualified name (AGGTEST.WEATHERSTREAM) names the stream
        // declared under that whole name, if there is one.
        let full = parts.iter().map(kda_name).collect::<Vec<_>>().join(".");
        let last = kda_name(&parts[parts.len() - 1]);
        let from_at = ident_location(&parts[0]);
        let target = if let Some(i) = streams.iter().position(|s| s.name == full) {
            RelationRef::Stream(i)
        } else if let Some(i) = tables.iter().position(|t| t.name == full) {
            RelationRef::Table(i)
        } else if let Some(i) = streams.iter().position(|s| s.name == last) {
            RelationRef::Stream(i)
        } else if let Some(i) = tables.iter().position(|t| t.name == last) {
            RelationRef::Table(i)
        } else {
            return Err(EngineError::UnknownStream {
                location: from_at,
                name: full.clone(),
                suggestion: closest(
                    &full,
                    streams
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(tables.iter().map(|t| t.name.as_str())),
                ),
            });
        };
        let window = match args {
            None => None,
            Some(a) => {
                let bad = || {
                    EngineError::Syntax {
                    location: from_at,
                    message: "expected OVER (RANGE INTERVAL '1' MINUTE PRECEDING) or OVER (ROWS 10 PRECEDING) after the stream name".into(),
                }
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(fun)))] =
                    a.args.as_slice()
                else {
                    return Err(bad());
                };
                let name = fun.name.to_string().to_ascii_lowercase();
                let args = function_args(fun);
                match (name.as_str(), args.as_slice()) {
                    (crate::sql::RANGE_FUNCTION, [Expr::Interval(iv)]) => {
                        match interval_size(iv, from_at)? {
                            WindowSize::Millis(ms) => Some(crate::join::SideWindow::Range(ms)),
                            WindowSize::Months(_) => {
                                return Err(EngineError::Unsupported {
                                    location: from_at,
                                    what: "a join window of months or years".into(),
                                });
                            }
                        }
                    }
                    (crate::sql::ROWS_FUNCTION, [Expr::Value(v)]) => match &v.value {
                        Value::Number(n, _) => match n.parse::<u64>() {
                            Ok(n) => Some(crate::join::SideWindow::Rows(n)),
                            Err(_) => return Err(bad()),
                        },
                        _ => return Err(bad()),
                    },
                    _ => return Err(bad()),
                }
            }
        };
        if window.is_some() && matches!(target, RelationRef::Table(_)) {
            return Err(EngineError::Unsupported {
                location: from_at,
                what: "a window (OVER) on a reference table: the whole table is always joined"
                    .into(),
            });
        }
        Ok(Relation {
            target,
            name: last,
            full_name: full,
            alias: alias.as_ref().map(|a| kda_name(&a.name)),
            window,
            at: from_at,
        })
    }

    /// The stream of joined rows two relations make, and how names resolve
    /// in it.
    fn joined_stream(
        &self,
        left: &Relation,
        right: &Relation,
        streams: &[StreamDef],
        tables: &[TableDecl],
    ) -> Result<(StreamDef, Scope)> {
        if left.prefix() == right.prefix() {
            return Err(EngineError::Plan {
                location: right.at,
                message: format!(
                    "both sides of the join are called \"{}\": give one an alias (AS)",
                    left.prefix()
                ),
            });
        }
        let mut columns = Vec::new();
        let mut sides = Vec::new();
        for rel in [left, right] {
            let prefix = rel.prefix().to_string();
            let (name, cols, user): (String, Vec<StreamColumn>, Vec<String>) = match rel.target {
                RelationRef::Stream(i) => {
                    let s = &streams[i];
                    let mut cols = vec![StreamColumn::new(ROWTIME, SqlType::Timestamp)];
                    if s.is_source {
                        cols.push(StreamColumn::new(
                            APPROXIMATE_ARRIVAL_TIME,
                            SqlType::Timestamp,
                        ));
                    }
                    cols.extend(s.columns.iter().cloned());
                    let user = s.columns.iter().map(|c| c.name.clone()).collect();
                    (s.name.clone(), cols, user)
                }
                RelationRef::Table(i) => {
                    let t = &tables[i];
                    let user = t.columns.iter().map(|c| c.name.clone()).collect();
                    (t.name.clone(), t.columns.clone(), user)
                }
            };
            let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
            for c in cols {
                columns.push(StreamColumn {
                    name: format!("{prefix}.{}", c.name),
                    sql_type: c.sql_type,
                    not_null: false,
                });
            }
            sides.push(ScopeSide {
                qualifiers: rel.qualifiers(),
                prefix,
                name,
                columns: names,
                user_columns: user,
            });
        }
        let joined = StreamDef::new(
            format!("{} JOIN {}", left.full_name, right.full_name),
            columns,
            false,
            left.at,
        );
        Ok((joined, Scope::Join(JoinScope { sides })))
    }

    /// Plans a join: its kind, each side's window and hash keys (the
    /// equality conjuncts of ON between the two sides), and the residual.
    #[allow(clippy::too_many_arguments)]
    fn plan_join(
        &self,
        kind: crate::join::JoinKind,
        on: Option<Expr>,
        left: &Relation,
        right: &Relation,
        scope: &JoinScope,
        joined: &DFSchema,
        at: Location,
    ) -> Result<crate::join::JoinPlan> {
        use crate::join::{JoinKind, JoinPlan, JoinRight, SideWindow, StreamSide, TableSide};
        let joined_arrow = Arc::new(joined.as_arrow().clone());
        // Side schemas: the joined fields of each side (after ROWTIME).
        let nl = scope.sides[0].columns.len();
        let fields = joined_arrow.fields();
        let left_schema = Arc::new(Schema::new(fields[1..1 + nl].to_vec()));
        let right_schema = Arc::new(Schema::new(fields[1 + nl..].to_vec()));
        let left_df = DFSchema::try_from(left_schema.as_ref().clone()).map_err(df_err(at))?;
        let right_df = DFSchema::try_from(right_schema.as_ref().clone()).map_err(df_err(at))?;

        // Split ON into side-to-side equalities and the rest.
        let mut conjuncts = Vec::new();
        if let Some(e) = on {
            split_and(e, &mut conjuncts);
        }
        let side_of = |e: &Expr| -> (bool, bool) {
            let mut l = false;
            let mut r = false;
            let mut e = e.clone();
            let _ =
                datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
                    if let Expr::Identifier(id) = x {
                        if id.value.starts_with(&format!("{}.", scope.sides[0].prefix)) {
                            l = true;
                        } else if id.value.starts_with(&format!("{}.", scope.sides[1].prefix)) {
                            r = true;
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            (l, r)
        };
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        let mut residual: Vec<Expr> = Vec::new();
        for c in conjuncts {
            if let Expr::BinaryOp {
                left: a,
                op: BinaryOperator::Eq,
                right: b,
            } = &c
            {
                let (sa, sb) = (side_of(a), side_of(b));
                let pair = match (sa, sb) {
                    ((true, false), (false, true)) => {
                        Some((a.as_ref().clone(), b.as_ref().clone()))
                    }
                    ((false, true), (true, false)) => {
                        Some((b.as_ref().clone(), a.as_ref().clone()))
                    }
                    _ => None,
                };
                if let Some((l, r)) = pair {
                    let ll = expr_location(&l, at);
                    let rl = expr_location(&r, at);
                    let lp = self.expr(&l, &left_df, ll)?;
                    let rp = self.expr(&r, &right_df, rl)?;
                    let lt = lp.data_type(&left_schema).map_err(df_err(ll))?;
                    let rt = rp.data_type(&right_schema).map_err(df_err(rl))?;
                    let common =
                        datafusion::logical_expr::type_coercion::binary::comparison_coercion(
                            &lt, &rt,
                        )
                        .ok_or_else(|| EngineError::Plan {
                            location: ll,
                            message: format!(
                                "cannot compare {} with {} in the join condition",
                                sql_type_name(&lt),
                                sql_type_name(&rt)
                            ),
                        })?;
                    left_keys.push(cast_to(lp, &left_schema, common.clone(), ll)?);
                    right_keys.push(cast_to(rp, &right_schema, common, rl)?);
                    continue;
                }
            }
            residual.push(c);
        }
        let residual = match residual.into_iter().reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        }) {
            Some(e) => {
                let l = expr_location(&e, at);
                Some(self.expr(&e, joined, l)?)
            }
            None => None,
        };
        let left_side = StreamSide {
            stream: match left.target {
                RelationRef::Stream(i) => i,
                RelationRef::Table(_) => usize::MAX,
            },
            window: left.window.unwrap_or(SideWindow::Range(0)),
            keys: left_keys,
            schema: left_schema,
        };
        let right_side = match right.target {
            RelationRef::Stream(i) => {
                if left.window.is_none() && right.window.is_none() {
                    return Err(EngineError::Plan {
                        location: right.at,
                        message: "a join of two streams needs a window on at least one side, e.g. FROM A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a JOIN B AS b ON ...".into(),
                    });
                }
                JoinRight::Stream(StreamSide {
                    stream: i,
                    window: right.window.unwrap_or(SideWindow::Range(0)),
                    keys: right_keys,
                    schema: right_schema,
                })
            }
            RelationRef::Table(i) => {
                if matches!(kind, JoinKind::RightOuter | JoinKind::FullOuter) {
                    return Err(EngineError::Unsupported {
                        location: right.at,
                        what: "RIGHT or FULL OUTER JOIN with a reference table: a stream joins a table with JOIN or LEFT OUTER JOIN".into(),
                    });
                }
                JoinRight::Table(TableSide {
                    table: i,
                    keys: right_keys,
                    schema: right_schema,
                })
            }
        };
        Ok(JoinPlan {
            kind,
            left: left_side,
            right: right_side,
            residual,
            joined: joined_arrow,
        })
    }
}

/// The conjuncts of an AND chain.
fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(*inner, out)
        }
        other => out.push(other),
    }
}

struct ColumnResolver<'a> {
    stream: &'a StreamDef,
    qualifiers: Vec<String>,
    /// Set for a join: names resolve to the joined rows' `<prefix>.c`.
    join: Option<&'a JoinScope>,
    extra: &'a [String],
    error: Option<EngineError>,
}

impl ColumnResolver<'_> {
    fn resolve_joined(&mut self, j: &JoinScope, e: &mut Expr) -> ControlFlow<()> {
        let joined = |prefix: &str, c: &str| {
            Expr::Identifier(Ident::with_quote('"', format!("{prefix}.{c}")))
        };
        if let Expr::CompoundIdentifier(ids) = e
            && ids.len() >= 2
        {
            let qualifier = &ids[ids.len() - 2];
            let Some(side) = j
                .sides
                .iter()
                .find(|s| s.qualifiers.contains(&qualifier.value))
            else {
                self.error = Some(EngineError::UnknownStream {
                    location: ident_location(qualifier),
                    name: qualifier.value.clone(),
                    suggestion: closest(
                        &qualifier.value,
                        j.sides
                            .iter()
                            .flat_map(|s| s.qualifiers.iter().map(String::as_str)),
                    ),
                });
                return ControlFlow::Break(());
            };
            let c = &ids[ids.len() - 1];
            if !side.columns.contains(&c.value) {
                self.error = Some(EngineError::UnknownColumn {
                    location: ident_location(c),
                    name: c.value.clone(),
                    stream: side.name.clone(),
                    suggestion: closest(&c.value, side.columns.iter().map(String::as_str)),
                });
                return ControlFlow::Break(());
            }
            *e = joined(&side.prefix, &c.value);
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(id) = e {
            if id.value == ROWTIME
                || self.extra.contains(&id.value)
                || self.stream.columns.iter().any(|c| c.name == id.value)
            {
                return ControlFlow::Continue(());
            }
            let having: Vec<&ScopeSide> = j
                .sides
                .iter()
                .filter(|s| s.user_columns.contains(&id.value))
                .collect();
            match having.as_slice() {
                [side] => *e = joined(&side.prefix, &id.value),
                [] => {
                    self.error = Some(EngineError::UnknownColumn {
                        location: ident_location(id),
                        name: id.value.clone(),
                        stream: self.stream.name.clone(),
                        suggestion: closest(
                            &id.value,
                            j.sides
                                .iter()
                                .flat_map(|s| s.user_columns.iter().map(String::as_str)),
                        ),
                    });
                    return ControlFlow::Break(());
                }
                _ => {
                    self.error = Some(EngineError::Plan {
                        location: ident_location(id),
                        message: format!(
                            "column \"{}\" is in both \"{}\" and \"{}\": qualify it (e.g. {}.\"{}\")",
                            id.value, having[0].name, having[1].name, having[0].prefix, id.value
                        ),
                    });
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for ColumnResolver<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Some(j) = self.join {
            return self.resolve_joined(j, e);
        }
        if let Expr::CompoundIdentifier(ids) = e
            && ids.len() >= 2
        {
            let qualifier = &ids[ids.len() - 2];
            if !self.qualifiers.contains(&qualifier.value) {
                self.error = Some(EngineError::UnknownStream {
                    location: ident_location(qualifier),
                    name: qualifier.value.clone(),
                    suggestion: closest(
                        &qualifier.value,
                        self.qualifiers.iter().map(String::as_str),
                    ),
                });
                return ControlFlow::Break(());
            }
            let last = ids[ids.len() - 1].clone();
            *e = Expr::Identifier(last);
        }
        if let Expr::Identifier(id) = e {
            let names = self.stream.column_names();
            if !names.contains(&id.value.as_str()) && !self.extra.contains(&id.value) {
                self.error = Some(EngineError::UnknownColumn {
                    location: ident_location(id),
                    name: id.value.clone(),
                    stream: self.stream.name.clone(),
                    suggestion: closest(&id.value, names),
                });
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Replaces grouped expressions and aggregate calls by references to the
/// columns of a closed window (`__w`, `__g<i>`, `__a<j>`).
struct GroupRewriter<'a> {
    window: &'a str,
    keys: &'a [String],
    aggregate_names: &'a dyn Fn(&str) -> bool,
    aggregates: Vec<Expr>,
}

fn column_ref(name: &str) -> Expr {
    Expr::Identifier(Ident::with_quote('"', name))
}

impl VisitorMut for GroupRewriter<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let text = e.to_string();
        if text == self.window {
            *e = column_ref("__w");
        } else if let Some(i) = self.keys.iter().position(|k| *k == text) {
            *e = column_ref(&format!("__g{i}"));
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

/// Whether an expression holds an `OVER` call.
fn has_over(e: &Expr) -> bool {
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
        (_, WindowFrameBound::Preceding(None)) => Err(unsupported(format!(
            "UNBOUNDED PRECEDING in window {name}: KDA windows are bounded (RANGE INTERVAL .. PRECEDING or ROWS n PRECEDING)"
        ))),
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
            match interval_size(iv, l)? {
                WindowSize::Millis(ms) => Ok(Frame::Range(ms)),
                WindowSize::Months(_) => Err(unsupported(format!(
                    "RANGE {iv} PRECEDING in window {name}: months and years have no fixed length; use DAY, HOUR, MINUTE or SECOND"
                ))),
            }
        }
    }
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

/// Whether values of `actual` may be stored in a column of `target`.
fn insertable(actual: &DataType, target: SqlType) -> bool {
    if actual == &DataType::Null {
        return true;
    }
    let Some(a) = SqlType::from_arrow(actual) else {
        return false;
    };
    match (a.family(), target.family()) {
        (TypeFamily::Datetime, TypeFamily::Datetime) => a == target,
        (x, y) => x == y,
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

impl Planner {
    pub(crate) fn new() -> Self {
        let mut config = SessionConfig::new();
        config.options_mut().sql_parser.enable_ident_normalization = false;
        let ctx = SessionContext::new_with_config(config);
        crate::functions::register(&ctx);
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
        for p in pumps_decl {
            if let Some(first) = pump_seen.insert(p.name.value.clone(), p.name.location) {
                return Err(EngineError::Duplicate {
                    location: p.name.location,
                    kind: "pump",
                    name: p.name.value.clone(),
                    first,
                });
            }
            pumps.push(self.plan_pump(p, &streams, tables)?);
        }
        let pump_order = order_pumps(&streams, &pumps)?;
        Ok(AppPlan {
            streams,
            pumps,
            pump_order,
            error_stream,
            tables: tables.to_vec(),
        })
    }

    fn find_stream(&self, streams: &[StreamDef], name: &str, at: Location) -> Result<usize> {
        streams
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| EngineError::UnknownStream {
                location: at,
                name: name.to_string(),
                suggestion: closest(name, streams.iter().map(|s| s.name.as_str())),
            })
    }

    fn plan_pump(
        &self,
        p: PumpDecl,
        streams: &[StreamDef],
        tables: &[TableDecl],
    ) -> Result<PumpDef> {
        let into = self.find_stream(streams, &p.target.value, p.target.location)?;
        if streams[into].name == ERROR_STREAM {
            return Err(EngineError::Plan {
                location: p.target.location,
                message: "pumps cannot insert into error_stream".into(),
            });
        }
        let target = &streams[into];
        // Target columns, in the order the select list fills them.
        let target_cols: Vec<usize> = match &p.target_columns {
            None => (0..target.columns.len()).collect(),
            Some(names) => {
                let mut idx = Vec::new();
                for n in names {
                    let i = target
                        .columns
                        .iter()
                        .position(|c| c.name == n.value)
                        .ok_or_else(|| EngineError::UnknownColumn {
                            location: n.location,
                            name: n.value.clone(),
                            stream: target.name.clone(),
                            suggestion: closest(
                                &n.value,
                                target.columns.iter().map(|c| c.name.as_str()),
                            ),
                        })?;
                    if idx.contains(&i) {
                        return Err(EngineError::Plan {
                            location: n.location,
                            message: format!("column \"{}\" is listed twice", n.value),
                        });
                    }
                    idx.push(i);
                }
                idx
            }
        };

        let unsupported = |at: Location, what: &str| EngineError::Unsupported {
            location: at,
            what: what.to_string(),
        };
        let at = p.query_location;
        let query = *p.query;
        let order_by = query.order_by.clone();
        if query.limit_clause.is_some() || query.fetch.is_some() {
            return Err(unsupported(at, "LIMIT/FETCH on a stream"));
        }
        if query.with.is_some() {
            return Err(unsupported(at, "WITH in a pump's query"));
        }
        let SetExpr::Select(select) = *query.body else {
            return Err(unsupported(
                at,
                "UNION and other set operations between streams",
            ));
        };
        let mut select = *select;
        if select.distinct.is_some() {
            return Err(unsupported(at, "SELECT DISTINCT on a stream"));
        }
        if select.from.len() != 1 {
            return Err(unsupported(
                at,
                "a comma-separated FROM list; join streams with JOIN ... ON",
            ));
        }
        if select.from[0].joins.len() > 1 {
            return Err(unsupported(
                at,
                "more than two streams or tables in one query: join two in a pump, then join its stream",
            ));
        }
        let first = self.relation(&select.from[0].relation, streams, tables, at)?;
        let RelationRef::Stream(from) = first.target else {
            return Err(unsupported(
                first.at,
                "a reference table first in FROM: write the stream first (FROM stream JOIN table)",
            ));
        };
        if streams[from].name == ERROR_STREAM {
            return Err(unsupported(first.at, "reading error_stream in a pump"));
        }
        let mut join_on: Option<(crate::join::JoinKind, Option<Expr>, Relation)> = None;
        if let Some(j) = select.from[0].joins.first() {
            use datafusion::sql::sqlparser::ast::{JoinConstraint, JoinOperator};
            let (kind, constraint) = match &j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => (crate::join::JoinKind::Inner, c),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                    (crate::join::JoinKind::LeftOuter, c)
                }
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                    (crate::join::JoinKind::RightOuter, c)
                }
                JoinOperator::FullOuter(c) => (crate::join::JoinKind::FullOuter, c),
                JoinOperator::CrossJoin(c) => (crate::join::JoinKind::Inner, c),
                other => {
                    return Err(unsupported(
                        at,
                        &format!(
                            "this kind of join ({}); KDA joins are INNER, LEFT, RIGHT, FULL OUTER and CROSS",
                            format!("{other:?}").split('(').next().unwrap_or("?")
                        ),
                    ));
                }
            };
            let on = match constraint {
                JoinConstraint::On(e) => Some(e.clone()),
                JoinConstraint::None => None,
                JoinConstraint::Using(_) | JoinConstraint::Natural => {
                    return Err(unsupported(
                        at,
                        "JOIN ... USING / NATURAL JOIN; write the condition with ON",
                    ));
                }
            };
            let right = self.relation(&j.relation, streams, tables, at)?;
            if let RelationRef::Stream(r) = right.target
                && streams[r].name == ERROR_STREAM
            {
                return Err(unsupported(right.at, "reading error_stream in a pump"));
            }
            join_on = Some((kind, on, right));
        }
        if join_on.is_none() && first.window.is_some() {
            return Err(unsupported(
                first.at,
                "a window (OVER) on a stream in FROM without a JOIN; put OVER on the aggregate",
            ));
        }
        // The rows the query reads: the stream itself, or joined rows.
        let (source_owned, scope, mut join_parts) = match join_on {
            None => {
                let source = streams[from].clone();
                let mut qualifiers = vec![first.name.clone()];
                if first.full_name != first.name {
                    qualifiers.push(first.full_name.clone());
                }
                qualifiers.extend(first.alias.clone());
                (source, Scope::Single { qualifiers }, None)
            }
            Some((kind, on, right)) => {
                let (joined, scope) = self.joined_stream(&first, &right, streams, tables)?;
                (joined, scope, Some((kind, on, first, right)))
            }
        };
        let source = &source_owned;
        let qualifiers = match &scope {
            Scope::Single { qualifiers } => qualifiers.clone(),
            Scope::Join(_) => Vec::new(),
        };
        let join_scope = match &scope {
            Scope::Join(j) => Some(j),
            Scope::Single { .. } => None,
        };

        // Select list, with * expanded to the source's columns.
        let mut items: Vec<(Expr, Location)> = Vec::new();
        let mut aliases: Vec<(String, usize)> = Vec::new();
        for item in select.projection.drain(..) {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let l = expr_location(&e, at);
                    items.push((e, l));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let l = expr_location(&expr, at);
                    aliases.push((kda_name(&alias), items.len()));
                    items.push((expr, l));
                }
                SelectItem::Wildcard(_) => match join_scope {
                    None => {
                        for c in &source.columns {
                            items.push((column_ref(&c.name), at));
                        }
                    }
                    Some(j) => {
                        for side in &j.sides {
                            for c in &side.user_columns {
                                items.push((column_ref(&format!("{}.{c}", side.prefix)), at));
                            }
                        }
                    }
                },
                SelectItem::QualifiedWildcard(kind, _) => match join_scope {
                    None => {
                        for c in &source.columns {
                            items.push((column_ref(&c.name), at));
                        }
                    }
                    Some(j) => {
                        let q = kind.to_string();
                        let q = q.trim_end_matches(".*").trim_matches('"');
                        let side = j
                            .sides
                            .iter()
                            .find(|s| s.qualifiers.iter().any(|x| x.eq_ignore_ascii_case(q)))
                            .ok_or_else(|| EngineError::UnknownStream {
                                location: at,
                                name: q.to_string(),
                                suggestion: None,
                            })?;
                        for c in &side.user_columns {
                            items.push((column_ref(&format!("{}.{c}", side.prefix)), at));
                        }
                    }
                },
                SelectItem::ExprWithAliases { expr, .. } => {
                    return Err(unsupported(expr_location(&expr, at), "AS (alias, ...)"));
                }
            }
        }
        if items.len() != target_cols.len() {
            return Err(EngineError::ColumnCount {
                location: at,
                pump: p.name.value.clone(),
                stream: target.name.clone(),
                expected: target_cols.len(),
                actual: items.len(),
            });
        }
        let resolve = |e: &mut Expr, extra: &[String]| -> Result<()> {
            let mut r = ColumnResolver {
                stream: source,
                qualifiers: qualifiers.clone(),
                join: join_scope,
                extra,
                error: None,
            };
            let _ = e.visit(&mut r);
            match r.error {
                Some(err) => Err(err),
                None => Ok(()),
            }
        };
        for (e, _) in items.iter_mut() {
            resolve(e, &[])?;
        }
        let mut filter = select.selection.take();
        if let Some(f) = filter.as_mut() {
            resolve(f, &[])?;
        }
        let mut having = select.having.take();
        if let Some(h) = having.as_mut() {
            resolve(h, &[])?;
        }
        let group_by = match std::mem::replace(
            &mut select.group_by,
            GroupByExpr::Expressions(vec![], vec![]),
        ) {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs,
            _ => return Err(unsupported(at, "GROUP BY ALL / ROLLUP / CUBE on a stream")),
        };
        let mut group_by = group_by;
        for g in group_by.iter_mut() {
            resolve(g, &[])?;
        }
        let mut named_windows = std::mem::take(&mut select.named_window);
        for NamedWindowDefinition(_, expr) in named_windows.iter_mut() {
            if let NamedWindowExpr::WindowSpec(spec) = expr {
                for e in spec.partition_by.iter_mut() {
                    resolve(e, &[])?;
                }
                for o in spec.order_by.iter_mut() {
                    resolve(&mut o.expr, &[])?;
                }
            }
        }
        let order = match order_by {
            Some(o) => Some(order_keys(
                o, &mut items, &aliases, &group_by, &resolve, at,
            )?),
            None => None,
        };
        let sliding = !named_windows.is_empty() || items.iter().any(|(e, _)| has_over(e));

        let input_schema =
            DFSchema::try_from(source.schema.as_ref().clone()).map_err(df_err(at))?;
        let join = match (join_parts.take(), join_scope) {
            (Some((kind, on, left, right)), Some(scope)) => {
                let on = match on {
                    Some(mut e) => {
                        resolve(&mut e, &[])?;
                        Some(e)
                    }
                    None => None,
                };
                Some(self.plan_join(kind, on, &left, &right, scope, &input_schema, at)?)
            }
            _ => None,
        };
        let filter = match filter {
            Some(f) => {
                let l = expr_location(&f, at);
                Some(self.expr(&f, &input_schema, l)?)
            }
            None => None,
        };

        let ctx = InsertCtx {
            pump: &p.name.value,
            target,
            target_cols: &target_cols,
            hidden: Default::default(),
        };
        let op = if sliding {
            if let Some(g) = group_by.first() {
                return Err(EngineError::Unsupported {
                    location: expr_location(g, at),
                    what: "GROUP BY together with OVER: a query aggregates either over sliding windows (OVER) or over tumbling windows (GROUP BY)".into(),
                });
            }
            if let Some(h) = having {
                return Err(EngineError::Plan {
                    location: expr_location(&h, at),
                    message: "HAVING without GROUP BY".into(),
                });
            }
            OperatorPlan::Sliding(self.plan_sliding(
                named_windows,
                &items,
                source,
                &input_schema,
                filter,
                &ctx,
                at,
            )?)
        } else if group_by.is_empty() {
            if let Some(h) = having {
                return Err(EngineError::Plan {
                    location: expr_location(&h, at),
                    message: "HAVING without GROUP BY".into(),
                });
            }
            if let Some((e, l)) = items.iter().find(|(e, _)| self.contains_aggregate(e)) {
                let _ = e;
                return Err(EngineError::Plan {
                    location: *l,
                    message: "an aggregate on a stream needs a GROUP BY with a ROWTIME window, e.g. GROUP BY STEP(\"S\".ROWTIME BY INTERVAL '60' SECOND)".into(),
                });
            }
            let exprs = self.insert_exprs(&items, &input_schema, &ctx, |e| Ok(e.clone()))?;
            OperatorPlan::Project(ProjectPlan { filter, exprs })
        } else {
            self.plan_tumbling(
                group_by,
                having,
                &items,
                source,
                &input_schema,
                filter,
                &ctx,
                at,
            )?
        };
        let order = order.map(|(bucket, keys)| {
            let hidden = ctx.hidden.take();
            let mut columns = target.columns.clone();
            for (i, t) in hidden.into_iter().enumerate() {
                columns.push(StreamColumn::new(format!("$ORDER_BY_{}", i + 1), t));
            }
            let keys = keys
                .into_iter()
                .map(|(key, descending, nulls_first)| crate::order::SortKey {
                    column: match key {
                        OrderKeyRef::Selected(i) => target_cols[i] + 1,
                        OrderKeyRef::Hidden(h) => target.columns.len() + 1 + h,
                    },
                    descending,
                    nulls_first,
                })
                .collect();
            crate::order::OrderPlan {
                bucket,
                keys,
                op_target: StreamDef::new(target.name.clone(), columns, false, target.declared_at),
            }
        });
        Ok(PumpDef {
            name: p.name.value.clone(),
            from,
            join,
            into,
            stopped: p.stopped,
            op,
            order,
            declared_at: p.name.location,
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

    /// Plans select items as the target's columns: type check, cast, NULLs for
    /// unlisted columns. `prepare` rewrites each item before planning.
    fn insert_exprs(
        &self,
        items: &[(Expr, Location)],
        schema: &DFSchema,
        ctx: &InsertCtx,
        prepare: impl Fn(&Expr) -> Result<Expr>,
    ) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        let arrow_schema = schema.as_arrow();
        let mut out: Vec<Option<Arc<dyn PhysicalExpr>>> = vec![None; ctx.target.columns.len()];
        let mut hidden_exprs = Vec::new();
        let mut hidden_types = Vec::new();
        for (e, at) in items.iter().skip(ctx.target_cols.len()) {
            // ORDER BY keys computed beside the select list, in their own type.
            let e = prepare(e)?;
            let phys = self.expr(&e, schema, *at)?;
            let actual = phys.data_type(arrow_schema).map_err(df_err(*at))?;
            let t = SqlType::from_arrow(&actual).ok_or_else(|| EngineError::Plan {
                location: *at,
                message: format!("ORDER BY {e}: values of type {actual} cannot be sorted"),
            })?;
            hidden_exprs.push(cast_to(phys, arrow_schema, t.to_arrow(), *at)?);
            hidden_types.push(t);
        }
        *ctx.hidden.borrow_mut() = hidden_types;
        for ((e, at), &col) in items.iter().zip(ctx.target_cols) {
            let e = prepare(e)?;
            let phys = self.expr(&e, schema, *at)?;
            let column = &ctx.target.columns[col];
            let actual = phys.data_type(arrow_schema).map_err(df_err(*at))?;
            if !insertable(&actual, column.sql_type) {
                return Err(EngineError::TypeMismatch {
                    location: *at,
                    pump: ctx.pump.to_string(),
                    stream: ctx.target.name.clone(),
                    column: column.name.clone(),
                    expected: column.sql_type,
                    actual: sql_type_name(&actual),
                });
            }
            out[col] = Some(cast_to(
                phys,
                arrow_schema,
                column.sql_type.to_arrow(),
                *at,
            )?);
        }
        out.into_iter()
            .zip(&ctx.target.columns)
            .map(|(e, c)| match e {
                Some(e) => Ok(e),
                None => {
                    let null = datafusion::common::ScalarValue::try_from(&c.sql_type.to_arrow())
                        .map_err(df_err(Location::default()))?;
                    Ok(
                        Arc::new(datafusion::physical_expr::expressions::Literal::new(null))
                            as Arc<dyn PhysicalExpr>,
                    )
                }
            })
            .chain(hidden_exprs.into_iter().map(Ok))
            .collect()
    }

    /// Plans a query whose aggregates are `OVER` sliding windows.
    #[allow(clippy::too_many_arguments)]
    fn plan_sliding(
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
            _ => {
                return Err(unsupported(format!(
                    "{upper} over a sliding window (supported: COUNT, SUM, AVG, MIN, MAX, FIRST_VALUE, LAST_VALUE, LAG, STDDEV_POP, STDDEV_SAMP, VAR_POP, VAR_SAMP)"
                )));
            }
        };
        if ignore_nulls && !matches!(function, SlidingFunction::Lag { .. }) {
            return Err(unsupported(format!("IGNORE NULLS on {upper}")));
        }
        let (min_args, max_args) = match function {
            SlidingFunction::Count => (if star { 0 } else { 1 }, 1),
            SlidingFunction::Lag { .. } => (1, 3),
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
            (SlidingFunction::Sum, Some((_, ValueKind::Int))) => DataType::Int64,
            (SlidingFunction::Avg, Some((dt, ValueKind::Int))) => dt.clone(),
            (
                SlidingFunction::Sum
                | SlidingFunction::Avg
                | SlidingFunction::VarPop
                | SlidingFunction::VarSamp
                | SlidingFunction::StddevPop
                | SlidingFunction::StddevSamp,
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

    #[allow(clippy::too_many_arguments)]
    fn plan_tumbling(
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
        let Some((window_text, time_col, size)) = window else {
            return Err(EngineError::Plan {
                location: expr_location(&group_by[0], at),
                message: "a GROUP BY on a stream needs a ROWTIME window: add STEP(\"S\".ROWTIME BY INTERVAL '60' SECOND) or FLOOR(\"S\".ROWTIME TO MINUTE)".into(),
            });
        };
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
            key_texts.push(k.to_string());
        }

        // Rewrite select items and HAVING over the closed window's columns.
        let is_agg = |n: &str| self.is_aggregate(n);
        let mut rw = GroupRewriter {
            window: &window_text,
            keys: &key_texts,
            aggregate_names: &is_agg,
            aggregates: Vec::new(),
        };
        let mut post_items: Vec<(Expr, Location)> = Vec::new();
        for (e, l) in items {
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

/// A sort key of a streaming ORDER BY: a select item, or an expression the
/// operator computes as an extra column.
#[derive(Debug, Clone, Copy)]
enum OrderKeyRef {
    Selected(usize),
    Hidden(usize),
}

type OrderKeys = (crate::order::OrderBucket, Vec<(OrderKeyRef, bool, bool)>);

/// Plans a pump's ORDER BY: its leading expression must be time-based and
/// monotonic (ROWTIME, a ROWTIME window, or a GROUP BY's window key); the
/// other keys may be select-list positions, aliases or expressions (those
/// not selected are appended to `items`).
fn order_keys(
    order_by: datafusion::sql::sqlparser::ast::OrderBy,
    items: &mut Vec<(Expr, Location)>,
    aliases: &[(String, usize)],
    group_by: &[Expr],
    resolve: &dyn Fn(&mut Expr, &[String]) -> Result<()>,
    at: Location,
) -> Result<OrderKeys> {
    use datafusion::sql::sqlparser::ast::OrderByKind;
    let OrderByKind::Expressions(exprs) = order_by.kind else {
        return Err(EngineError::Unsupported {
            location: at,
            what: "ORDER BY ALL on a stream; list the keys".into(),
        });
    };
    if order_by.interpolate.is_some() {
        return Err(EngineError::Unsupported {
            location: at,
            what: "ORDER BY ... INTERPOLATE".into(),
        });
    }
    let selected = items.len();
    let mut bucket = None;
    let mut keys = Vec::new();
    for (n, o) in exprs.into_iter().enumerate() {
        let l = expr_location(&o.expr, at);
        if o.with_fill.is_some() {
            return Err(EngineError::Unsupported {
                location: l,
                what: "ORDER BY ... WITH FILL".into(),
            });
        }
        // A position or an alias names a select item; otherwise the
        // expression is matched against the select list by its text.
        let mut item = None;
        match &o.expr {
            Expr::Value(v) => {
                if let Value::Number(text, _) = &v.value {
                    let pos: usize = text.parse().unwrap_or(0);
                    if pos == 0 || pos > selected {
                        return Err(EngineError::Plan {
                            location: l,
                            message: format!(
                                "ORDER BY position {text} is not in the select list (1 to {selected})"
                            ),
                        });
                    }
                    item = Some(pos - 1);
                }
            }
            Expr::Identifier(id) => {
                let name = kda_name(id);
                item = aliases.iter().find(|(a, _)| *a == name).map(|&(_, i)| i);
            }
            _ => {}
        }
        let expr = match item {
            Some(i) => items[i].0.clone(),
            None => {
                let mut e = o.expr.clone();
                resolve(&mut e, &[])?;
                let text = e.to_string();
                item = items[..selected]
                    .iter()
                    .position(|(x, _)| x.to_string() == text);
                e
            }
        };
        let descending = o.options.asc == Some(false);
        if n == 0 {
            if descending {
                return Err(EngineError::Plan {
                    location: l,
                    message: format!(
                        "ORDER BY {}: the leading key of a streaming ORDER BY must be ascending (ROWTIME only moves forward)",
                        o.expr
                    ),
                });
            }
            bucket = Some(order_bucket(&expr, &o.expr, group_by, l)?);
            continue;
        }
        let key = match item {
            Some(i) => OrderKeyRef::Selected(i),
            None => {
                let h = items.len() - selected;
                items.push((expr, l));
                OrderKeyRef::Hidden(h)
            }
        };
        // Unstated, NULLs sort as greater than every value.
        let nulls_first = o.options.nulls_first.unwrap_or(descending);
        keys.push((key, descending, nulls_first));
    }
    let bucket = bucket.ok_or_else(|| EngineError::Plan {
        location: at,
        message: "ORDER BY without keys".into(),
    })?;
    Ok((bucket, keys))
}

/// The bucket a streaming ORDER BY's leading expression makes, or why it
/// is not time-based and monotonic.
fn order_bucket(
    e: &Expr,
    written: &Expr,
    group_by: &[Expr],
    at: Location,
) -> Result<crate::order::OrderBucket> {
    use crate::order::OrderBucket;
    if time_column_of(e) == Some(ROWTIME) {
        return Ok(OrderBucket::Rowtime);
    }
    let text = e.to_string();
    let window = group_by.iter().find(|g| {
        matches!(g, Expr::Function(f) if f.name.to_string() == crate::sql::STAGGER_FUNCTION)
            || matches!(window_of(g, at), Ok(Some(_)))
    });
    if let Some(g) = window {
        // A GROUP BY's rows of one window share their ROWTIME (its end).
        let same = g.to_string() == text
            || match (window_of(g, at), window_of(e, at)) {
                (Ok(Some(a)), Ok(Some(b))) => a == b,
                _ => false,
            };
        if same {
            return Ok(OrderBucket::Rowtime);
        }
        return Err(EngineError::Plan {
            location: at,
            message: format!(
                "ORDER BY {written}: in a GROUP BY query a streaming ORDER BY must start with ROWTIME or the window key {g}"
            ),
        });
    }
    if let Some((ROWTIME, size)) = window_of(e, at)? {
        return Ok(OrderBucket::Window(size));
    }
    Err(EngineError::Plan {
        location: at,
        message: format!(
            "ORDER BY {written}: a streaming ORDER BY must start with a time-based monotonic expression (ROWTIME, FLOOR(ROWTIME TO MINUTE), STEP(ROWTIME BY INTERVAL '10' SECOND))"
        ),
    })
}

struct InsertCtx<'a> {
    pump: &'a str,
    target: &'a StreamDef,
    target_cols: &'a [usize],
    /// Types of the select items after the target's columns (ORDER BY keys
    /// not in the select list), as [`AppPlan::insert_exprs`] planned them.
    hidden: std::cell::RefCell<Vec<SqlType>>,
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
    fn similar_to_patterns_become_anchored_regexes() {
        assert_eq!(similar_to_regex("(G|M)%", None), "^(?:(G|M).*)$");
        assert_eq!(similar_to_regex("a_c.d", None), "^(?:a.c\\.d)$");
        assert_eq!(similar_to_regex("100#%", Some('#')), "^(?:100%)$");
        assert_eq!(similar_to_regex("[a-c]%", None), "^(?:[a-c].*)$");
    }

    #[test]
    fn window_sizes_align_to_the_epoch_and_calendar() {
        let minute = WindowSize::Millis(60_000);
        assert_eq!(minute.start(125_000), 120_000);
        assert_eq!(minute.end(120_000), 180_000);
        assert_eq!(minute.start(-1), -60_000);
        let month = WindowSize::Months(1);
        // 2024-02-15T00:00:00Z
        let t = 1_707_955_200_000;
        assert_eq!(month.start(t), 1_706_745_600_000); // 2024-02-01
        assert_eq!(month.end(month.start(t)), 1_709_251_200_000); // 2024-03-01
    }

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
