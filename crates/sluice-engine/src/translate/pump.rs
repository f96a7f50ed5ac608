//! One pump as a Flink `SELECT`: the rows it inserts into its target
//! stream, with `ROWTIME` first and then the target's columns, named as
//! the stream names them.
//!
//! - filter / project: `SELECT ROWTIME, .. FROM src WHERE ..`;
//! - tumbling window (`GROUP BY STEP / FLOOR(ROWTIME ..)`): the window
//!   TVF `TUMBLE`, grouped by `window_start, window_end` and the keys; the
//!   row's ROWTIME is the window's end, as in KDA;
//! - sliding window (`OVER (.. RANGE INTERVAL .. PRECEDING | ROWS n
//!   PRECEDING)`): a Flink OVER aggregation ordered by ROWTIME.
//!
//! Everything else a pump can do is refused here, with the pump's line.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::CastExpr;

use super::Refusal;
use super::expr::{ExprWriter, Untranslatable, day_time_interval, ident, sql_type};
use crate::plan::{
    AggregatePlan, AppPlan, Frame, OperatorPlan, ProjectPlan, PumpDef, ROWTIME, SlidingFunction,
    SlidingPlan, StreamColumn, StreamDef, TumblingPlan, WindowSize,
};

/// A pump's SELECT, and what the translation knows of its rows.
pub(super) struct PumpSql {
    /// The query: ROWTIME, then the target stream's columns.
    pub select: String,
    /// Known small differences (`-- note:` lines).
    pub notes: Vec<String>,
    /// How its ROWTIME column stands to KDA's ROWTIME.
    pub rowtime: Rowtime,
    /// A statement the SELECT needs first (a join's view).
    pub prelude: Option<String>,
}

/// What a pump's operator reads: a stream's view, or its join's view.
pub(super) struct OpInput<'a> {
    /// For messages: the stream, or the join.
    pub name: String,
    /// The rows' batch schema as the plan's expressions see it.
    pub schema: &'a Schema,
    /// The view's name in the script.
    pub from: String,
    /// How the view holds ROWTIME.
    pub rowtime: Rowtime,
    /// Columns the view does not carry (the Kinesis record metadata).
    pub missing: Vec<String>,
}

/// How a view's `ROWTIME` column stands to KDA's ROWTIME of its rows.
///
/// A tumbling window's rows have KDA ROWTIME = the window's end; Flink's
/// time attribute of a window's rows is `window_time`, one millisecond
/// before its end. So a view's ROWTIME is a time attribute `n` ms before
/// KDA's (`Early(n)`), and everything that reads it adds the `n` ms back:
/// a sink, an expression over ROWTIME, and a tumbling window downstream
/// (its windows are offset by `-n` ms, so each row falls in the window KDA
/// puts it in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rowtime {
    /// A time attribute `n` ms before KDA's ROWTIME (0: equal).
    Early(i64),
    /// Not a time attribute (a stream no pump feeds).
    Plain,
}

impl Rowtime {
    /// ROWTIME as KDA's value, in an expression.
    pub fn kda_value(self) -> String {
        match self {
            Rowtime::Early(n) if n > 0 => format!(
                "({} + {})",
                ident(ROWTIME),
                super::expr::day_time_interval(n)
            ),
            _ => ident(ROWTIME),
        }
    }
}

/// Translates pump `pump` of `plan`; `rowtime[s]` is how stream `s`'s
/// view holds ROWTIME; `versioned` names the versioned table made for
/// its LEFT OUTER join of a reference table; `table_access[t][c]` is how
/// column `c` of table `t` is read.
pub(super) fn pump_select(
    plan: &AppPlan,
    pump: &PumpDef,
    rowtime: &[Rowtime],
    versioned: Option<&str>,
    table_access: &[Vec<String>],
) -> Result<PumpSql, Vec<Refusal>> {
    let at = pump.declared_at;
    let refuse = |construct: &str, why: &str| vec![Refusal::new(at, construct, why)];
    let mut refusals = Vec::new();
    if pump.from == plan.error_stream || pump.reads().contains(&plan.error_stream) {
        refusals.push(Refusal::new(
            at,
            "a pump reading error_stream",
            "Flink has no error stream: a row that fails fails the job",
        ));
    }
    if pump.order.is_some() {
        refusals.push(Refusal::new(
            at,
            "ORDER BY on a stream",
            "Flink sorts a stream only by its time attribute ascending; KDA's per-ROWTIME sort has no equivalent",
        ));
    }
    if pump.distinct.is_some() {
        refusals.push(Refusal::new(
            at,
            "SELECT DISTINCT on a stream",
            "Flink's streaming DISTINCT keeps every row seen and retracts; KDA forgets rows once ROWTIME moves on",
        ));
    }
    let source = &plan.streams[pump.from];
    let target = &plan.streams[pump.into];
    let mut prelude = None;
    let mut join_notes = Vec::new();
    let input = match &pump.join {
        None => OpInput {
            name: format!("stream \"{}\"", source.name),
            schema: &source.schema,
            from: ident(&source.name),
            rowtime: rowtime[pump.from],
            missing: source.metadata.iter().map(|(m, _)| m.to_string()).collect(),
        },
        Some(j) => {
            match super::join::joined_view(plan, pump, j, rowtime, versioned, table_access) {
                Ok((view, input, notes)) => {
                    prelude = Some(view);
                    join_notes = notes;
                    input
                }
                Err(e) => {
                    refusals.push(Refusal::new(at, e, "has no faithful Flink translation"));
                    OpInput {
                        name: "a join".into(),
                        schema: &j.joined,
                        from: String::new(),
                        rowtime: Rowtime::Plain,
                        missing: Vec::new(),
                    }
                }
            }
        }
    };
    let result = match &pump.op {
        OperatorPlan::Project(p) => project(p, &input, target).map_err(|e| refuse_expr(at, e)),
        OperatorPlan::Tumbling(t) => match input.rowtime {
            Rowtime::Plain => Err(vec![no_time_attribute(at, &input)]),
            Rowtime::Early(n) => tumbling(t, &input, n, target).map_err(|e| refuse_expr(at, e)),
        },
        OperatorPlan::Sliding(s) => match input.rowtime {
            Rowtime::Plain => Err(vec![no_time_attribute(at, &input)]),
            Rowtime::Early(n) => sliding(s, &input, n, target).map_err(|e| refuse_expr(at, e)),
        },
        OperatorPlan::Stagger(_) => Err(refuse(
            "stagger window (WINDOWED BY STAGGER)",
            "has no Flink equivalent (a window that opens per partition key at its first row)",
        )),
        OperatorPlan::RandomCutForest(_) => Err(refuse(
            "RANDOM_CUT_FOREST",
            "Flink has no random cut forest anomaly detector",
        )),
        OperatorPlan::ItemsTumbling(_) => Err(refuse(
            "TOP_K_ITEMS_TUMBLING / COUNT_DISTINCT_ITEMS_TUMBLING",
            "Flink has no such analytic table function with KDA's approximate counts",
        )),
        OperatorPlan::GroupRank(_) => Err(refuse(
            "GROUP_RANK",
            "Flink has no such analytic table function",
        )),
        OperatorPlan::Hotspots(_) => Err(refuse(
            "HOTSPOTS",
            "Flink has no such analytic table function",
        )),
    };
    match result {
        Ok(mut sql) if refusals.is_empty() => {
            sql.prelude = prelude;
            join_notes.append(&mut sql.notes);
            sql.notes = join_notes;
            Ok(sql)
        }
        Ok(_) => Err(refusals),
        Err(mut more) => {
            refusals.append(&mut more);
            Err(refusals)
        }
    }
}

fn no_time_attribute(at: crate::error::Location, input: &OpInput<'_>) -> Refusal {
    Refusal::new(
        at,
        format!("a window over {}", input.name),
        "its ROWTIME is not a Flink time attribute (a join's rows, or a stream no pump feeds)",
    )
}

fn refuse_expr(at: crate::error::Location, what: Untranslatable) -> Vec<Refusal> {
    vec![Refusal::new(at, what, "has no faithful Flink translation")]
}

/// The name a source-batch column has in the source stream's view (ROWTIME
/// as KDA's value); the Kinesis record metadata is not carried.
fn source_column<'a>(
    input: &'a OpInput<'a>,
) -> impl Fn(usize) -> Result<String, Untranslatable> + 'a {
    move |i| {
        if i == 0 {
            return Ok(input.rowtime.kda_value());
        }
        let Some(field) = input.schema.fields().get(i) else {
            return Err(format!("column #{i} of {}", input.name));
        };
        let name = field.name();
        if input.missing.iter().any(|m| m == name) {
            return Err(format!("Kinesis record metadata column {name}"));
        }
        Ok(ident(name))
    }
}

/// `e` as the value of target column `c`: cast to the column's type (so a
/// string is cut to its length, as KDA does), without the planner's own
/// cast to the same Arrow type.
fn target_value(
    w: &mut ExprWriter<'_>,
    e: &Arc<dyn PhysicalExpr>,
    c: &StreamColumn,
) -> Result<String, Untranslatable> {
    let want = c.sql_type.to_arrow();
    let mut e = e;
    if let Some(cast) = e.downcast_ref::<CastExpr>()
        && cast.cast_type() == &want
    {
        e = cast.expr();
    }
    let have = e
        .data_type(w.schema)
        .map_err(|err| format!("expression {e}: {err}"))?;
    let text = w.expr(e)?;
    let sized = c.sql_type.max_length().is_some();
    if have == want && !sized {
        Ok(text)
    } else {
        if have != want && !castable(&have, &want) {
            return Err(format!("a {have} value stored in a {} column", c.sql_type));
        }
        Ok(format!("CAST({text} AS {})", sql_type(c.sql_type)))
    }
}

fn castable(from: &DataType, to: &DataType) -> bool {
    let s = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    (from.is_numeric() && to.is_numeric())
        || (s(from) && s(to))
        || *from == DataType::Null
        || (from.is_integer() && s(to))
}

/// The select list `ROWTIME, <col> AS "NAME", ..` over `schema`.
fn select_list(
    w: &mut ExprWriter<'_>,
    rowtime: &str,
    exprs: &[Arc<dyn PhysicalExpr>],
    target: &StreamDef,
) -> Result<String, Untranslatable> {
    let mut items = vec![format!("{rowtime} AS {}", ident(ROWTIME))];
    for (e, c) in exprs.iter().zip(&target.columns) {
        items.push(format!("{} AS {}", target_value(w, e, c)?, ident(&c.name)));
    }
    Ok(items.join(", "))
}

fn project(
    p: &ProjectPlan,
    input: &OpInput<'_>,
    target: &StreamDef,
) -> Result<PumpSql, Untranslatable> {
    let from = &input.from;
    let column = source_column(input);
    let mut w = ExprWriter {
        schema: input.schema,
        column: &column,
        notes: Vec::new(),
    };
    let run = |w: &mut ExprWriter<'_>| -> Result<String, Untranslatable> {
        let list = select_list(w, &ident(ROWTIME), &p.exprs, target)?;
        let mut s = format!("SELECT {list} FROM {from}");
        if let Some(f) = &p.filter {
            s.push_str(&format!(" WHERE {}", w.expr(f)?));
        }
        Ok(s)
    };
    let select = run(&mut w)?;
    Ok(PumpSql {
        select,
        notes: w.notes,
        rowtime: input.rowtime,
        prelude: None,
    })
}

/// The interval literal of a window size.
fn window_interval(size: WindowSize) -> Result<String, Untranslatable> {
    match size {
        WindowSize::Millis(ms) => Ok(day_time_interval(ms)),
        WindowSize::Months(_) => Err("a tumbling window of months or years (FLOOR(ROWTIME TO MONTH / YEAR)): Flink's TUMBLE has fixed-length windows".into()),
    }
}

/// An aggregate call of a tumbling window, over the source batch.
fn aggregate(w: &mut ExprWriter<'_>, a: &AggregatePlan) -> Result<String, Untranslatable> {
    let e = &a.expr;
    let name = e.fun().name().to_ascii_lowercase();
    let args = e
        .expressions()
        .iter()
        .map(|x| w.expr(x))
        .collect::<Result<Vec<_>, _>>()?;
    let flink = match name.as_str() {
        "count" => "COUNT",
        "sum" => "SUM",
        "avg" => "AVG",
        "min" => "MIN",
        "max" => "MAX",
        "var_pop" => "VAR_POP",
        "var_samp" | "var" => "VAR_SAMP",
        "stddev_pop" => "STDDEV_POP",
        "stddev_samp" | "stddev" => "STDDEV_SAMP",
        "first_value" | "last_value" => {
            w.notes.push(format!(
                "{}: Flink takes the window's first (last) row as it arrives; KDA by ROWTIME (the same for rows in arrival order)",
                name.to_uppercase()
            ));
            if name == "first_value" {
                "FIRST_VALUE"
            } else {
                "LAST_VALUE"
            }
        }
        "bool_or" | "bool_and" if !e.is_distinct() => {
            let [arg] = args.as_slice() else {
                return Err(format!("aggregate {}", name.to_uppercase()));
            };
            let f = if name == "bool_or" { "MAX" } else { "MIN" };
            return Ok(bool_aggregate(f, arg, ""));
        }
        other => return Err(format!("aggregate {}", other.to_uppercase())),
    };
    let distinct = if e.is_distinct() { "DISTINCT " } else { "" };
    let call = format!("{flink}({distinct}{})", args.join(", "));
    Ok(match &a.cast_to {
        // KDA's AVG of integers is an integer, truncated.
        Some(t) => format!("CAST({call} AS {})", super::expr::arrow_type(t)?),
        None => call,
    })
}

/// KDA's ANY / SOME (`MAX`) and EVERY (`MIN`) over booleans, which Flink
/// lacks: the extreme of 1 for TRUE and 0 for FALSE (NULLs skipped, NULL
/// when there are only NULLs), compared with 1. `over` is ` OVER w` or empty.
fn bool_aggregate(f: &str, arg: &str, over: &str) -> String {
    format!("({f}(CASE WHEN {arg} THEN 1 WHEN NOT {arg} THEN 0 END){over} = 1)")
}

fn tumbling(
    t: &TumblingPlan,
    input: &OpInput<'_>,
    early: i64,
    target: &StreamDef,
) -> Result<PumpSql, Untranslatable> {
    let from = &input.from;
    if t.monotonic {
        return Err("a GROUP BY whose window is a monotonic column, not ROWTIME".into());
    }
    let time = input
        .schema
        .fields()
        .get(t.time_column)
        .map(|f| f.name().as_str())
        .unwrap_or_default();
    if time != ROWTIME {
        return Err(format!(
            "a tumbling window on {time} (Flink windows on the time attribute, ROWTIME)"
        ));
    }
    let mut interval = window_interval(t.size)?;
    if early > 0 {
        interval.push_str(&format!(", {}", day_time_interval(-early)));
    }
    let column = source_column(input);
    let mut w = ExprWriter {
        schema: input.schema,
        column: &column,
        notes: Vec::new(),
    };
    let kda = |c: &str| {
        if early > 0 {
            format!("({c} + {})", day_time_interval(early))
        } else {
            c.to_string()
        }
    };
    let mut inner = vec![
        format!("window_time AS {}", ident("__window_time")),
        format!("{} AS {}", kda("window_end"), ident("__rowtime")),
        format!("{} AS {}", kda("window_start"), ident("__w")),
    ];
    let mut group = vec![
        "window_start".to_string(),
        "window_end".to_string(),
        "window_time".to_string(),
    ];
    for (i, k) in t.keys.iter().enumerate() {
        let k = w.expr(k)?;
        inner.push(format!("{k} AS {}", ident(&format!("__g{i}"))));
        group.push(k);
    }
    for (j, a) in t.aggregates.iter().enumerate() {
        inner.push(format!(
            "{} AS {}",
            aggregate(&mut w, a)?,
            ident(&format!("__a{j}"))
        ));
    }
    let mut inner_sql = format!(
        "SELECT {} FROM TABLE(TUMBLE(TABLE {from}, DESCRIPTOR({}), {interval}))",
        inner.join(", "),
        ident(ROWTIME)
    );
    if let Some(f) = &t.filter {
        inner_sql.push_str(&format!(" WHERE {}", w.expr(f)?));
    }
    inner_sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
    let mut notes = w.notes;

    let post: &Schema = &t.post_schema;
    let post_column = |i: usize| match post.fields().get(i) {
        Some(f) => Ok(ident(f.name())),
        None => Err(format!("column #{i} of a closed window")),
    };
    let mut w = ExprWriter {
        schema: post,
        column: &post_column,
        notes: Vec::new(),
    };
    let list = select_list(&mut w, &ident("__window_time"), &t.exprs, target)?;
    let mut select = format!("SELECT {list} FROM ({inner_sql})");
    if let Some(h) = &t.having {
        select.push_str(&format!(" WHERE {}", w.expr(h)?));
    }
    notes.append(&mut w.notes);
    Ok(PumpSql {
        select,
        notes,
        // window_time: the window's end less 1 ms, less the source's own shift.
        rowtime: Rowtime::Early(early + 1),
        prelude: None,
    })
}

fn sliding(
    s: &SlidingPlan,
    input: &OpInput<'_>,
    early: i64,
    target: &StreamDef,
) -> Result<PumpSql, Untranslatable> {
    let from = &input.from;
    let column = source_column(input);
    let mut w = ExprWriter {
        schema: input.schema,
        column: &column,
        notes: Vec::new(),
    };
    // Flink computes all OVER aggregates of one SELECT over one window:
    // each distinct window gets a SELECT of its own, nested.
    let mut specs: Vec<String> = Vec::new();
    let mut spec_of: Vec<usize> = Vec::new();
    let mut partition_of: Vec<String> = Vec::new();
    for win in &s.windows {
        let parts = win
            .partition_by
            .iter()
            .map(|p| w.expr(p))
            .collect::<Result<Vec<_>, _>>()?;
        let frame = match win.frame {
            Frame::Range(0) => {
                return Err(format!(
                    "RANGE CURRENT ROW (window {}): Flink's frame holds all rows of the ROWTIME, KDA's only those before",
                    win.name
                ));
            }
            Frame::Range(ms) => format!(
                "RANGE BETWEEN {} PRECEDING AND CURRENT ROW",
                day_time_interval(ms)
            ),
            Frame::Rows(n) => format!("ROWS BETWEEN {n} PRECEDING AND CURRENT ROW"),
            Frame::Unbounded => "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".into(),
        };
        if matches!(win.frame, Frame::Range(_) | Frame::Unbounded) {
            w.notes.push(format!(
                "window {}: rows that share one ROWTIME each see the others in Flink's RANGE frame; in KDA each sees only those that arrived before it",
                win.name
            ));
        }
        let partition = if parts.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {} ", parts.join(", "))
        };
        let spec = format!("{partition}ORDER BY {} {frame}", ident(ROWTIME));
        partition_of.push(partition);
        match specs.iter().position(|x| *x == spec) {
            Some(k) => spec_of.push(k),
            None => {
                spec_of.push(specs.len());
                specs.push(spec);
            }
        }
    }
    if specs.is_empty() {
        return Err("a sliding query without a window".into());
    }
    let mut items_of: Vec<Vec<String>> = vec![vec!["*".to_string()]; specs.len()];
    for (j, a) in s.aggregates.iter().enumerate() {
        let Some(&k) = spec_of.get(a.window) else {
            return Err(format!("window #{} of a sliding query", a.window));
        };
        let items = &mut items_of[k];
        let arg = match a.arg {
            Some(i) => Some(w.expr(&s.args[i].expr)?),
            None => None,
        };
        let name = match a.function {
            SlidingFunction::BoolOr | SlidingFunction::BoolAnd => {
                let Some(arg) = &arg else {
                    return Err(format!("sliding aggregate {:?}", a.function));
                };
                let f = if a.function == SlidingFunction::BoolOr {
                    "MAX"
                } else {
                    "MIN"
                };
                items.push(format!(
                    "{} AS {}",
                    bool_aggregate(f, arg, " OVER w"),
                    ident(&format!("__a{j}"))
                ));
                continue;
            }
            SlidingFunction::Count => "COUNT",
            SlidingFunction::Sum => "SUM",
            SlidingFunction::Avg => "AVG",
            SlidingFunction::Min => "MIN",
            SlidingFunction::Max => "MAX",
            SlidingFunction::VarPop => "VAR_POP",
            SlidingFunction::VarSamp => "VAR_SAMP",
            SlidingFunction::StddevPop => "STDDEV_POP",
            SlidingFunction::StddevSamp => "STDDEV_SAMP",
            SlidingFunction::FirstValue => "FIRST_VALUE",
            SlidingFunction::LastValue => "LAST_VALUE",
            // Flink's LAG looks back in the partition whatever the frame; KDA's
            // inside the window: the same when the window holds `offset` rows.
            SlidingFunction::Lag {
                offset,
                ignore_nulls: false,
            } if matches!(s.windows.get(a.window).map(|w| w.frame), Some(Frame::Rows(n)) if offset <= n) =>
            {
                let Some(arg) = &arg else {
                    return Err("LAG without an argument".into());
                };
                let mut call = format!("LAG({arg}, {offset}");
                if let Some(d) = &a.default {
                    call.push_str(&format!(", {}", w.expr(d)?));
                }
                call.push(')');
                // LAG takes no frame: a window of its own, the partition
                // ordered by ROWTIME.
                let spec = format!(
                    "{}ORDER BY {}",
                    partition_of.get(a.window).cloned().unwrap_or_default(),
                    ident(ROWTIME)
                );
                let level = match specs.iter().position(|x| *x == spec) {
                    Some(level) => level,
                    None => {
                        specs.push(spec);
                        items_of.push(vec!["*".to_string()]);
                        specs.len() - 1
                    }
                };
                items_of[level].push(format!(
                    "CAST({call} OVER w AS {}) AS {}",
                    super::expr::arrow_type(&a.output_type)?,
                    ident(&format!("__a{j}"))
                ));
                continue;
            }
            SlidingFunction::Lag { .. } => {
                return Err(
                    "LAG over a RANGE window, past its ROWS, or IGNORE NULLS (Flink's LAG ignores the window's frame)"
                        .into(),
                );
            }
            other => return Err(format!("sliding aggregate {other:?}")),
        };
        let call = format!("{name}({})", arg.unwrap_or_else(|| "*".into()));
        let typed = format!(
            "CAST({call} OVER w AS {})",
            super::expr::arrow_type(&a.output_type)?
        );
        items.push(format!("{typed} AS {}", ident(&format!("__a{j}"))));
    }
    let mut rows = from.to_string();
    if let Some(f) = &s.filter {
        rows = format!("(SELECT * FROM {from} WHERE {})", w.expr(f)?);
    }
    let mut inner = rows;
    for (k, (spec, items)) in specs.iter().zip(&items_of).enumerate() {
        let rows = if k == 0 { inner } else { format!("({inner})") };
        inner = format!(
            "SELECT {} FROM {rows} WINDOW w AS ({spec})",
            items.join(", ")
        );
    }
    let mut notes = w.notes;
    let post: &Schema = &s.post_schema;
    let post_column = |i: usize| {
        if i < input.schema.fields().len() {
            source_column(input)(i)
        } else {
            match post.fields().get(i) {
                Some(f) => Ok(ident(f.name())),
                None => Err(format!("column #{i} of a sliding window's rows")),
            }
        }
    };
    let mut w = ExprWriter {
        schema: post,
        column: &post_column,
        notes: Vec::new(),
    };
    let list = select_list(&mut w, &ident(ROWTIME), &s.exprs, target)?;
    notes.append(&mut w.notes);
    Ok(PumpSql {
        select: format!("SELECT {list} FROM ({inner})"),
        notes,
        rowtime: Rowtime::Early(early),
        prelude: None,
    })
}
