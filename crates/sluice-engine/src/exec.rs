//! Operators: what a pump does to the batches of the stream it reads.
//!
//! Contract of every operator (see [`OpState`]):
//! - **push**: a batch of the source stream, ROWTIME non-decreasing and not
//!   earlier than the time the operator was last advanced to. Output batches
//!   have the target stream's schema (ROWTIME first).
//! - **advance(now)**: time has reached `now`; no later row will carry an
//!   earlier ROWTIME. Windows whose end is at or before `now` are emitted.
//! - **errors**: a row whose expression fails becomes an [`ErrorRow`]; the
//!   rest of its batch goes on. Only a failure no single row explains is an
//!   [`EngineError`].
//!
//! Expressions are DataFusion physical expressions evaluated column-at-a-time;
//! a batch is re-evaluated row by row only when evaluating it whole fails.
//! Tumbling windows live in a `BTreeMap` keyed by window start and hold
//! DataFusion `GroupValues` and `GroupsAccumulator`s: state is bounded by
//! open windows × groups, not by rows seen.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringBuilder,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{Field, Schema, TimestampMillisecondType};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::error::{EngineError, Result};
use crate::errors::{ErrorRow, hex};
use crate::output::row_json;
use crate::plan::{OperatorPlan, PumpDef, StreamDef, TumblingPlan};

type DfResult<T> = std::result::Result<T, DataFusionError>;

/// What one call of an operator produced.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Batches for the target stream, in ROWTIME order.
    pub batches: Vec<RecordBatch>,
    /// Rows for `error_stream`.
    pub errors: Vec<ErrorRow>,
}

/// The run-time state of one pump.
pub(crate) enum OpState {
    /// Filter/project keeps no state.
    Project,
    /// Open tumbling windows.
    Tumbling(TumblingState),
    /// Sliding windows, per partition.
    Sliding(crate::sliding::SlidingState),
    /// Open stagger windows, per partition key.
    Stagger(crate::stagger::StaggerState),
}

impl OpState {
    pub(crate) fn new(p: &PumpDef) -> Result<Self> {
        Ok(match &p.op {
            OperatorPlan::Project(_) => OpState::Project,
            OperatorPlan::Tumbling(_) => OpState::Tumbling(TumblingState {
                windows: BTreeMap::new(),
                groups: Vec::new(),
            }),
            OperatorPlan::Sliding(plan) => {
                OpState::Sliding(crate::sliding::SlidingState::new(plan)?)
            }
            OperatorPlan::Stagger(plan) => {
                OpState::Stagger(crate::stagger::StaggerState::new(plan, p)?)
            }
        })
    }

    /// The earliest ROWTIME of an input row whose effect this operator
    /// still holds (the start of its oldest open window), or `None` when it
    /// holds nothing. Rows before it are fully reflected in emitted output.
    pub(crate) fn retained_since(&self) -> Option<i64> {
        match self {
            OpState::Project => None,
            OpState::Tumbling(t) => t.windows.keys().next().copied(),
            OpState::Sliding(s) => s.retained_since(),
            OpState::Stagger(s) => s.retained_since(),
        }
    }

    /// Processes a batch of the source stream.
    pub(crate) fn push(
        &mut self,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        match (&p.op, self) {
            (OperatorPlan::Project(plan), OpState::Project) => {
                filter_project(
                    plan.filter.as_ref(),
                    &plan.exprs,
                    batch,
                    &p.name,
                    target,
                    out,
                );
                Ok(())
            }
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::Sliding(plan), OpState::Sliding(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::Stagger(plan), OpState::Stagger(st)) => {
                st.push(plan, p, target, batch, out)
            }
            _ => Err(EngineError::Plan {
                location: p.declared_at,
                message: format!(
                    "pump \"{}\": operator state does not match its plan",
                    p.name
                ),
            }),
        }
    }

    /// Time has reached `now`: emit what closes at or before it.
    pub(crate) fn advance(
        &mut self,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        match (&p.op, self) {
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(st)) => {
                st.close_until(plan, p, target, now, out)
            }
            (OperatorPlan::Stagger(plan), OpState::Stagger(st)) => {
                st.close_until(plan, p, target, now, out)
            }
            _ => Ok(()),
        }
    }

    /// The end of the earliest open window, if any.
    pub(crate) fn open_window_end(&self, p: &PumpDef) -> Option<i64> {
        match (&p.op, self) {
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(st)) => {
                st.windows.keys().next().map(|&s| plan.size.end(s))
            }
            (OperatorPlan::Stagger(_), OpState::Stagger(st)) => st.first_end(),
            _ => None,
        }
    }

    /// The next time after `t` at which this operator may emit because of
    /// time alone (a window end), if any.
    pub(crate) fn next_boundary(&self, p: &PumpDef, t: i64) -> Option<i64> {
        match (&p.op, self) {
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(_)) => {
                Some(plan.size.end(plan.size.start(t)))
            }
            (OperatorPlan::Stagger(plan), OpState::Stagger(st)) => st.next_boundary(plan, t),
            _ => None,
        }
    }
}

/// Filters `batch` (column 0 is its ROWTIME) and projects the rows left into
/// the target stream's columns, pushing the result to `out`: what a
/// filter/project pump does to its input, and a tumbling pump to a closed
/// window's rows (HAVING, then the select list).
pub(crate) fn filter_project(
    filter: Option<&Arc<dyn PhysicalExpr>>,
    exprs: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
    pump: &str,
    target: &StreamDef,
    out: &mut Output,
) {
    let batch = match filter {
        Some(f) => apply_filter(f, batch, pump, out),
        None => batch.clone(),
    };
    if batch.num_rows() == 0 {
        return;
    }
    let rows = guarded(&batch, pump, out, |b| {
        let mut cols = Vec::with_capacity(exprs.len() + 1);
        cols.push(Arc::clone(b.column(0)));
        for e in exprs {
            cols.push(e.evaluate(b)?.into_array(b.num_rows())?);
        }
        conform(target, cols, b.num_rows())
    });
    if rows.num_rows() > 0 {
        out.batches.push(rows);
    }
}

/// Builds a target-stream batch from ROWTIME + one array per column,
/// cutting strings to their declared length.
fn conform(target: &StreamDef, mut cols: Vec<ArrayRef>, rows: usize) -> DfResult<RecordBatch> {
    for (i, c) in target.columns.iter().enumerate() {
        if let Some(max) = c.sql_type.max_length() {
            let col = &mut cols[i + 1];
            if let Some(strings) = col.as_string_opt::<i32>()
                && strings
                    .iter()
                    .flatten()
                    .any(|s| s.len() > max && s.chars().count() > max)
            {
                let mut b = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
                for v in strings.iter() {
                    match v {
                        Some(s) => match s.char_indices().nth(max) {
                            Some((cut, _)) => b.append_value(&s[..cut]),
                            None => b.append_value(s),
                        },
                        None => b.append_null(),
                    }
                }
                *col = Arc::new(b.finish());
            }
        }
    }
    RecordBatch::try_new_with_options(
        Arc::clone(&target.schema),
        cols,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(DataFusionError::from)
}

/// Runs `f` on the whole batch; if that fails, runs it on each row alone and
/// sends the rows that fail to `error_stream`. Returns the rows that worked.
pub(crate) fn guarded(
    batch: &RecordBatch,
    pump: &str,
    out: &mut Output,
    f: impl Fn(&RecordBatch) -> DfResult<RecordBatch>,
) -> RecordBatch {
    match f(batch) {
        Ok(b) => b,
        Err(_) => {
            let mut ok = Vec::new();
            for i in 0..batch.num_rows() {
                let row = batch.slice(i, 1);
                match f(&row) {
                    Ok(b) => ok.push(b),
                    Err(e) => out.errors.push(row_error(&row, pump, &e)),
                }
            }
            if ok.is_empty() {
                // Every row failed: an empty batch of f's output shape, if known.
                return f(&batch.slice(0, 0))
                    .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(Schema::empty())));
            }
            let schema = ok[0].schema();
            concat_batches(&schema, &ok).unwrap_or_else(|_| ok.swap_remove(0))
        }
    }
}

pub(crate) fn row_error(row: &RecordBatch, pump: &str, e: &DataFusionError) -> ErrorRow {
    let rowtime = row
        .column(0)
        .as_primitive_opt::<TimestampMillisecondType>()
        .filter(|a| !a.is_empty() && a.is_valid(0))
        .map(|a| a.value(0));
    let data = row_json(row, 0, true);
    ErrorRow {
        level: "ERROR",
        name: "Runtime error",
        message: format!(
            "pump \"{pump}\": {}",
            crate::plan::clean_df_message(e).replace("Arrow error: ", "")
        ),
        data_rowtime: rowtime,
        data_row: hex(data.as_bytes()),
        pump: Some(pump.to_string()),
    }
}

pub(crate) fn apply_filter(
    filter: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
    pump: &str,
    out: &mut Output,
) -> RecordBatch {
    guarded(batch, pump, out, |b| {
        let mask = filter.evaluate(b)?.into_array(b.num_rows())?;
        let mask = mask
            .as_boolean_opt()
            .ok_or_else(|| DataFusionError::Plan("WHERE is not a boolean condition".into()))?;
        Ok(filter_record_batch(b, mask)?)
    })
}

/// One open tumbling window.
struct WindowState {
    groups: Option<Box<dyn GroupValues>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    num_groups: usize,
}

/// Open windows of a tumbling pump, keyed by window start.
pub(crate) struct TumblingState {
    windows: BTreeMap<i64, WindowState>,
    groups: Vec<usize>,
}

impl TumblingState {
    fn push(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let batch = match &plan.filter {
            Some(f) => apply_filter(f, batch, &p.name, out),
            None => batch.clone(),
        };
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let times = batch
            .column(plan.time_column)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| EngineError::Plan {
                location: p.declared_at,
                message: "window time column is not a TIMESTAMP".into(),
            })?
            .clone();
        let on_rowtime = plan.time_column == 0;
        let mut i = 0;
        while i < n {
            if times.is_null(i) {
                i += 1;
                continue;
            }
            let start = plan.size.start(times.value(i));
            let end = plan.size.end(start);
            let j = if on_rowtime {
                // ROWTIME is sorted and never NULL: binary search the run.
                i + times.values()[i..].partition_point(|&t| t < end)
            } else {
                let mut j = i + 1;
                while j < n && times.is_valid(j) && {
                    let t = times.value(j);
                    t >= start && t < end
                } {
                    j += 1;
                }
                j
            };
            if on_rowtime {
                self.close_until(plan, p, target, times.value(i), out)?;
            }
            self.update(plan, p, start, &batch.slice(i, j - i), out)?;
            i = j;
        }
        Ok(())
    }

    fn update(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        start: i64,
        slice: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        // Evaluate keys and aggregate arguments together, so a row whose
        // expression fails is dropped from both.
        let evaluated = guarded(slice, &p.name, out, |b| {
            let mut arrays = Vec::new();
            for k in &plan.keys {
                arrays.push(k.evaluate(b)?.into_array(b.num_rows())?);
            }
            for a in &plan.aggregates {
                for e in a.expr.expressions() {
                    arrays.push(e.evaluate(b)?.into_array(b.num_rows())?);
                }
            }
            let fields: Vec<Field> = arrays
                .iter()
                .enumerate()
                .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
                .collect();
            Ok(RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                arrays,
                &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
            )?)
        });
        let rows = evaluated.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let df = |e: DataFusionError| EngineError::Execution {
            context: format!("pump \"{}\"", p.name),
            source: Box::new(e),
        };
        let window = match self.windows.entry(start) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let groups = if plan.keys.is_empty() {
                    None
                } else {
                    Some(
                        new_group_values(Arc::clone(&plan.key_schema), &GroupOrdering::None)
                            .map_err(df)?,
                    )
                };
                let mut accumulators = Vec::with_capacity(plan.aggregates.len());
                for a in &plan.aggregates {
                    let acc: Box<dyn GroupsAccumulator> = if a.expr.groups_accumulator_supported() {
                        a.expr.create_groups_accumulator().map_err(df)?
                    } else {
                        let expr = Arc::clone(&a.expr);
                        Box::new(GroupsAccumulatorAdapter::new(move || {
                            expr.create_accumulator()
                        }))
                    };
                    accumulators.push(acc);
                }
                v.insert(WindowState {
                    groups,
                    accumulators,
                    num_groups: 0,
                })
            }
        };
        let columns = evaluated.columns();
        let nkeys = plan.keys.len();
        match window.groups.as_mut() {
            Some(g) => {
                g.intern(&columns[..nkeys], &mut self.groups).map_err(df)?;
                window.num_groups = g.len();
            }
            None => {
                self.groups.clear();
                self.groups.resize(rows, 0);
                window.num_groups = 1;
            }
        }
        let mut next = nkeys;
        for (a, acc) in plan.aggregates.iter().zip(window.accumulators.iter_mut()) {
            let nargs = a.expr.expressions().len();
            acc.update_batch(
                &columns[next..next + nargs],
                &self.groups,
                None,
                window.num_groups,
            )
            .map_err(df)?;
            next += nargs;
        }
        Ok(())
    }

    fn close_until(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        while let Some((&start, _)) = self.windows.first_key_value() {
            let end = plan.size.end(start);
            if end > now {
                break;
            }
            if let Some(w) = self.windows.remove(&start) {
                emit_window(plan, p, target, start, end, w, out)?;
            }
        }
        Ok(())
    }
}

fn emit_window(
    plan: &TumblingPlan,
    p: &PumpDef,
    target: &StreamDef,
    start: i64,
    end: i64,
    mut w: WindowState,
    out: &mut Output,
) -> Result<()> {
    let df = |e: DataFusionError| EngineError::Execution {
        context: format!("pump \"{}\"", p.name),
        source: Box::new(e),
    };
    let n = w.num_groups;
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(vec![end; n])),
        Arc::new(TimestampMillisecondArray::from(vec![start; n])),
    ];
    if let Some(g) = w.groups.as_mut() {
        cols.extend(g.emit(EmitTo::All).map_err(df)?);
    }
    for (a, acc) in plan.aggregates.iter().zip(w.accumulators.iter_mut()) {
        let v = acc.evaluate(EmitTo::All).map_err(df)?;
        let v = match &a.cast_to {
            Some(t) => cast(&v, t).map_err(|e| df(e.into()))?,
            None => v,
        };
        cols.push(v);
    }
    let post =
        RecordBatch::try_new(Arc::clone(&plan.post_schema), cols).map_err(|e| df(e.into()))?;
    filter_project(
        plan.having.as_ref(),
        &plan.exprs,
        &post,
        &p.name,
        target,
        out,
    );
    Ok(())
}
