//! Stagger windows: `WINDOWED BY STAGGER (PARTITION BY k, ... RANGE INTERVAL ..)`.
//!
//! As the Developer Guide's Stagger Windows page shows, a window opens for
//! a partition key when the first row with that key arrives, takes every
//! row of that key whose ROWTIME is before the opening ROWTIME plus the
//! window length, and closes then: its row is emitted with ROWTIME = open
//! time + length. The next row of the key opens a new window. WHERE applies
//! before the window; HAVING and the select list apply to the closed
//! window's row.
//!
//! The planner ([`crate::plan`]) rewrites the clause into a GROUP BY and
//! plans it as it plans a tumbling window (a [`TumblingPlan`] whose `size`
//! is the stagger length), so the closed window's row has the same columns:
//! `__rowtime` (close), `__w` (open), keys `__g<i>`, aggregates `__a<j>`.
//!
//! State ([`StaggerState`]): open windows by partition key (Arrow row
//! format) and by close time; each holds DataFusion `Accumulator`s. A
//! window is forgotten when it closes, so memory is bounded by the open
//! windows.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, TimestampMillisecondArray,
    UInt32Array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{Field, Schema, TimestampMillisecondType};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::{HashMap, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Accumulator;

use super::Output;
use super::project::{apply_filter, filter_project, guarded};
use crate::error::{EngineError, Result};
use crate::plan::{PumpDef, StreamDef, TumblingPlan, WindowSize};

/// One open stagger window.
struct OpenWindow {
    key: OwnedRow,
    start: i64,
    end: i64,
    accumulators: Vec<Box<dyn Accumulator>>,
}

/// Open stagger windows of a pump.
pub(crate) struct StaggerState {
    converter: RowConverter,
    /// Partition key bytes → id of its open window.
    by_key: HashMap<Box<[u8]>, u64>,
    /// Open windows by id.
    open: HashMap<u64, OpenWindow>,
    /// (close time, id), earliest first.
    by_end: BTreeSet<(i64, u64)>,
    next_id: u64,
    /// Window length in ms.
    length: i64,
}

impl StaggerState {
    /// The opening time of the oldest open window (see
    /// `Application::retained_since`).
    pub(crate) fn retained_since(&self) -> Option<i64> {
        self.by_end.first().map(|(end, _)| end - self.length)
    }
}

fn df_error(p: &PumpDef) -> impl Fn(DataFusionError) -> EngineError + '_ {
    move |e| EngineError::Execution {
        context: format!("pump \"{}\"", p.name),
        source: Box::new(e),
    }
}

impl StaggerState {
    pub(crate) fn new(plan: &TumblingPlan, p: &PumpDef) -> Result<Self> {
        let WindowSize::Millis(length) = plan.size else {
            return Err(EngineError::Plan {
                location: p.declared_at,
                message: "a stagger window's length must be a fixed interval (not MONTH or YEAR)"
                    .into(),
            });
        };
        let fields = plan
            .key_schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields).map_err(|e| df_error(p)(e.into()))?;
        Ok(Self {
            converter,
            by_key: HashMap::default(),
            open: HashMap::default(),
            by_end: BTreeSet::new(),
            next_id: 0,
            length,
        })
    }

    /// The close time of the earliest open window.
    pub(crate) fn first_end(&self) -> Option<i64> {
        self.by_end.first().map(|&(end, _)| end)
    }

    /// The next time after `t` at which a window may close: the earliest
    /// open window's end, or the end of a window a row at `t` would open.
    pub(crate) fn next_boundary(&self, _plan: &TumblingPlan, t: i64) -> Option<i64> {
        let opened = t.saturating_add(self.length);
        Some(match self.first_end().filter(|&e| e > t) {
            Some(e) => e.min(opened),
            None => opened,
        })
    }

    pub(crate) fn push(
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
            .column(0)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| EngineError::Plan {
                location: p.declared_at,
                message: "ROWTIME is not a TIMESTAMP".into(),
            })?
            .clone();
        // Cut the batch where a window closes: rows at or after a close
        // time see that window closed (and open a new one).
        let mut i = 0;
        while i < n {
            let t = times.value(i);
            self.close_until(plan, p, target, t, out)?;
            let limit = self.first_end().unwrap_or(t.saturating_add(self.length));
            let limit = limit.min(t.saturating_add(self.length));
            let j = i + times.values()[i..].partition_point(|&x| x < limit);
            let j = j.max(i + 1);
            self.update(plan, p, &batch.slice(i, j - i), out)?;
            i = j;
        }
        Ok(())
    }

    fn update(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        slice: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let df = df_error(p);
        // Keys and aggregate arguments together, so a failing row is dropped from both.
        let evaluated = guarded(slice, &p.name, out, |b| {
            let rows = b.num_rows();
            let mut arrays = vec![Arc::clone(b.column(0))];
            for k in &plan.keys {
                arrays.push(k.evaluate(b)?.into_array(rows)?);
            }
            for a in &plan.aggregates {
                for e in a.expr.expressions() {
                    arrays.push(e.evaluate(b)?.into_array(rows)?);
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
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )?)
        });
        let rows = evaluated.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let columns = evaluated.columns();
        let times = columns[0]
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| EngineError::Plan {
                location: p.declared_at,
                message: "ROWTIME is not a TIMESTAMP".into(),
            })?;
        let nkeys = plan.keys.len();
        let keys = self
            .converter
            .convert_columns(&columns[1..1 + nkeys])
            .map_err(|e| df(e.into()))?;
        // Rows per window, in order of first appearance.
        let mut touched: Vec<(u64, Vec<u32>)> = Vec::new();
        let mut slot_of: HashMap<u64, usize> = HashMap::default();
        for i in 0..rows {
            let key = keys.row(i);
            let bytes: &[u8] = key.as_ref();
            let id = match self.by_key.get(bytes) {
                Some(&id) => id,
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let start = times.value(i);
                    let end = start.saturating_add(self.length);
                    let mut accumulators = Vec::with_capacity(plan.aggregates.len());
                    for a in &plan.aggregates {
                        accumulators.push(a.expr.create_accumulator().map_err(&df)?);
                    }
                    self.open.insert(
                        id,
                        OpenWindow {
                            key: key.owned(),
                            start,
                            end,
                            accumulators,
                        },
                    );
                    self.by_end.insert((end, id));
                    self.by_key.insert(bytes.into(), id);
                    id
                }
            };
            let slot = *slot_of.entry(id).or_insert_with(|| {
                touched.push((id, Vec::new()));
                touched.len() - 1
            });
            touched[slot].1.push(i as u32);
        }
        for (id, idx) in touched {
            let Some(w) = self.open.get_mut(&id) else {
                continue;
            };
            let indices = UInt32Array::from(idx);
            let mut next = 1 + nkeys;
            for (a, acc) in plan.aggregates.iter().zip(w.accumulators.iter_mut()) {
                let nargs = a.expr.expressions().len();
                let mut args = Vec::with_capacity(nargs);
                for c in &columns[next..next + nargs] {
                    args.push(take(c.as_ref(), &indices, None).map_err(|e| df(e.into()))?);
                }
                acc.update_batch(&args).map_err(&df)?;
                next += nargs;
            }
        }
        Ok(())
    }

    /// Emits every window that closes at or before `now`, each at its own
    /// close time, windows closing together in the order they opened.
    pub(crate) fn close_until(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        while let Some(&(end, _)) = self.by_end.first() {
            if end > now {
                break;
            }
            let mut closing = Vec::new();
            while let Some(&(e, id)) = self.by_end.first() {
                if e != end {
                    break;
                }
                self.by_end.pop_first();
                if let Some(w) = self.open.remove(&id) {
                    self.by_key.remove(w.key.as_ref());
                    closing.push(w);
                }
            }
            self.emit(plan, p, target, closing, out)?;
        }
        Ok(())
    }

    fn emit(
        &mut self,
        plan: &TumblingPlan,
        p: &PumpDef,
        target: &StreamDef,
        mut windows: Vec<OpenWindow>,
        out: &mut Output,
    ) -> Result<()> {
        if windows.is_empty() {
            return Ok(());
        }
        let df = df_error(p);
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                windows.iter().map(|w| w.end),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                windows.iter().map(|w| w.start),
            )),
        ];
        cols.extend(
            self.converter
                .convert_rows(windows.iter().map(|w| w.key.row()))
                .map_err(|e| df(e.into()))?,
        );
        for (j, a) in plan.aggregates.iter().enumerate() {
            let mut values = Vec::with_capacity(windows.len());
            for w in windows.iter_mut() {
                values.push(w.accumulators[j].evaluate().map_err(&df)?);
            }
            let v = ScalarValue::iter_to_array(values).map_err(&df)?;
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
}
