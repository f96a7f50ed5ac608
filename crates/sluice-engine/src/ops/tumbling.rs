//! Tumbling windows: `GROUP BY` with a ROWTIME window (`STEP(..)`,
//! `FLOOR(.. TO unit)`), running a [`TumblingPlan`].
//!
//! Tumbling windows live in a `BTreeMap` keyed by window start and hold
//! DataFusion `GroupValues` and `GroupsAccumulator`s: state is bounded by
//! open windows × groups, not by rows seen. A window is emitted once time
//! reaches its end, with that end as ROWTIME; HAVING and the select list
//! then apply to its rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Field, Schema, TimestampMillisecondType};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::GroupsAccumulatorAdapter;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::Output;
use super::project::{apply_filter, filter_project, guarded};
use crate::error::{EngineError, Result};
use crate::plan::{PumpDef, StreamDef, TumblingPlan};

/// One open tumbling window.
pub(super) struct WindowState {
    groups: Option<Box<dyn GroupValues>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    num_groups: usize,
}

/// Open windows of a tumbling pump, keyed by window start.
pub(crate) struct TumblingState {
    pub(super) windows: BTreeMap<i64, WindowState>,
    pub(super) groups: Vec<usize>,
    /// A window on a monotonic column: the ROWTIME of the first row its
    /// open windows hold (their starts are that column's values).
    pub(super) first_rowtime: Option<i64>,
}

impl TumblingState {
    pub(super) fn push(
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
            if plan.monotonic {
                // A row of a later window: the earlier ones are complete,
                // and leave at this row's ROWTIME.
                let rowtime = batch
                    .column(0)
                    .as_primitive_opt::<TimestampMillisecondType>()
                    .filter(|r| r.is_valid(i))
                    .map(|r| r.value(i))
                    .unwrap_or(start);
                while let Some((&open, _)) = self.windows.first_key_value() {
                    if open >= start {
                        break;
                    }
                    if let Some(w) = self.windows.remove(&open) {
                        emit_window(plan, p, target, open, rowtime, w, out)?;
                    }
                }
                if self.windows.is_empty() {
                    self.first_rowtime = Some(rowtime);
                }
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

    pub(super) fn close_until(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        if plan.monotonic {
            // Closed by the rows of later windows only.
            return Ok(());
        }
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
