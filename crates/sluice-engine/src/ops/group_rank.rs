//! GROUP_RANK over a cursor: gathers the rows of one ROWTIME, and when time
//! passes it (a later row, or the clock in a live run) releases them with
//! their RANK() by one column (ties share a rank, the next rank skips; NULLs
//! rank last), in rank order ascending or descending (rows of equal rank in
//! arrival order), at most outputMax of them, keeping their ROWTIME.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{Array, ArrayRef, Int32Array, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take,
};
use datafusion::arrow::datatypes::TimestampMillisecondType;
use datafusion::arrow::row::{RowConverter, SortField};

use super::Output;
use crate::error::{EngineError, Result};
use crate::plan::{GroupRankPlan, PumpDef, StreamDef};

/// The rows of the open group.
#[derive(Default)]
pub(crate) struct GroupRankState {
    rowtime: Option<i64>,
    rows: Vec<RecordBatch>,
}

impl GroupRankState {
    /// The open group's ROWTIME, if any.
    pub(crate) fn retained_since(&self) -> Option<i64> {
        self.rowtime
    }

    /// When the open group is released: once time passes its ROWTIME.
    pub(crate) fn open_window_end(&self) -> Option<i64> {
        self.rowtime.map(|t| t + 1)
    }

    pub(crate) fn push(
        &mut self,
        plan: &GroupRankPlan,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let times = batch
            .column(0)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| failed(p, "ROWTIME is not a TIMESTAMP".into()))?
            .clone();
        let mut start = 0;
        while start < batch.num_rows() {
            let t = times.value(start);
            let end = start + times.values()[start..].partition_point(|&x| x == t);
            if self.rowtime.is_some_and(|open| open != t) {
                self.release(plan, p, target, out)?;
            }
            self.rowtime = Some(t);
            self.rows.push(batch.slice(start, end - start));
            start = end;
        }
        Ok(())
    }

    /// Time has reached `now`: release the open group if its ROWTIME is past.
    pub(crate) fn advance(
        &mut self,
        plan: &GroupRankPlan,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        if self.rowtime.is_some_and(|t| t < now) {
            self.release(plan, p, target, out)?;
        }
        Ok(())
    }

    fn release(
        &mut self,
        plan: &GroupRankPlan,
        p: &PumpDef,
        target: &StreamDef,
        out: &mut Output,
    ) -> Result<()> {
        self.rowtime = None;
        let rows = std::mem::take(&mut self.rows);
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let group = concat_batches(&first.schema(), &rows).map_err(|e| failed(p, e.to_string()))?;
        let n = group.num_rows();
        let ranked = Arc::clone(group.column(plan.column));
        // Rank order: by value (nulls last), then arrival.
        let arrival = UInt32Array::from_iter_values(0..n as u32);
        let order = lexsort_to_indices(
            &[
                SortColumn {
                    values: Arc::clone(&ranked),
                    options: Some(SortOptions {
                        descending: plan.descending,
                        nulls_first: false,
                    }),
                },
                SortColumn {
                    values: Arc::new(arrival) as ArrayRef,
                    options: None,
                },
            ],
            None,
        )
        .map_err(|e| failed(p, e.to_string()))?;
        // RANK(): 1 + the number of rows before the first of equal value.
        let converter = RowConverter::new(vec![SortField::new(ranked.data_type().clone())])
            .map_err(|e| failed(p, e.to_string()))?;
        let keys = converter
            .convert_columns(&[
                take(ranked.as_ref(), &order, None).map_err(|e| failed(p, e.to_string()))?
            ])
            .map_err(|e| failed(p, e.to_string()))?;
        let mut ranks = Vec::with_capacity(n);
        for i in 0..n {
            let rank = if i > 0 && keys.row(i) == keys.row(i - 1) {
                ranks[i - 1]
            } else {
                i as i32 + 1
            };
            ranks.push(rank);
        }
        // Output order: ascending rank, or descending with equal ranks in
        // arrival order.
        let mut positions: Vec<usize> = (0..n).collect();
        if plan.output_descending {
            positions.sort_by(|&a, &b| ranks[b].cmp(&ranks[a]).then(a.cmp(&b)));
        }
        if plan.output_max > 0 {
            positions.truncate(plan.output_max);
        }
        let indices = UInt32Array::from_iter_values(positions.iter().map(|&i| order.value(i)));
        let rank_values = Int32Array::from_iter_values(positions.iter().map(|&i| ranks[i]));
        let mut columns: Vec<ArrayRef> = group
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| failed(p, e.to_string()))?;
        columns.push(Arc::new(rank_values));
        let batch = RecordBatch::try_new(Arc::clone(&target.schema), columns)
            .map_err(|e| failed(p, e.to_string()))?;
        if batch.num_rows() > 0 {
            out.batches.push(batch);
        }
        Ok(())
    }
}

fn failed(p: &PumpDef, message: String) -> EngineError {
    EngineError::Plan {
        location: p.declared_at,
        message: format!("pump \"{}\": GROUP_RANK: {message}", p.name),
    }
}
