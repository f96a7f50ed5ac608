//! SELECT [STREAM] DISTINCT: drops a row of a pump's output that repeats an
//! earlier one within the same ROWTIME bound ([`DistinctPlan::bound`]: the
//! value of the ROWTIME-monotonic select items, or the rows' ROWTIME for a
//! GROUP BY, whose rows come out a window at a time). The first occurrence
//! passes at once; when the bound moves on, what was seen is forgotten, so
//! state holds the distinct rows of one bound value only.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::{EngineError, Result};
use crate::plan::{DistinctPlan, PumpDef};

/// What one DISTINCT pump has seen in the current bound.
#[derive(Default)]
pub(crate) struct DistinctState {
    converters: Option<(RowConverter, RowConverter)>,
    bound: Option<Vec<u8>>,
    seen: HashSet<Vec<u8>>,
}

impl DistinctState {
    /// The rows of `batches` (in ROWTIME order) not seen before in their
    /// bound.
    pub(crate) fn apply(
        &mut self,
        plan: &DistinctPlan,
        p: &PumpDef,
        batches: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        let failed = |e: datafusion::arrow::error::ArrowError| EngineError::Plan {
            location: p.declared_at,
            message: format!("pump \"{}\": SELECT DISTINCT: {e}", p.name),
        };
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches {
            if batch.num_rows() == 0 {
                continue;
            }
            let bound_columns: &[usize] = if plan.bound.is_empty() {
                &[0]
            } else {
                &plan.bound
            };
            let pick = |cols: &[usize]| -> Vec<ArrayRef> {
                cols.iter().map(|&c| Arc::clone(batch.column(c))).collect()
            };
            if self.converters.is_none() {
                let fields = |cols: &[usize]| -> Vec<SortField> {
                    cols.iter()
                        .map(|&c| SortField::new(batch.schema().field(c).data_type().clone()))
                        .collect()
                };
                self.converters = Some((
                    RowConverter::new(fields(&plan.columns)).map_err(failed)?,
                    RowConverter::new(fields(bound_columns)).map_err(failed)?,
                ));
            }
            let Some((rows_conv, bound_conv)) = self.converters.as_ref() else {
                continue;
            };
            let rows = rows_conv
                .convert_columns(&pick(&plan.columns))
                .map_err(failed)?;
            let bounds = bound_conv
                .convert_columns(&pick(bound_columns))
                .map_err(failed)?;
            let mut keep = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let b = bounds.row(i);
                if self.bound.as_deref() != Some(b.as_ref()) {
                    self.bound = Some(b.as_ref().to_vec());
                    self.seen.clear();
                }
                keep.push(self.seen.insert(rows.row(i).as_ref().to_vec()));
            }
            if keep.iter().all(|&k| k) {
                out.push(batch);
            } else if keep.iter().any(|&k| k) {
                out.push(filter_record_batch(&batch, &BooleanArray::from(keep)).map_err(failed)?);
            }
        }
        Ok(out)
    }
}
