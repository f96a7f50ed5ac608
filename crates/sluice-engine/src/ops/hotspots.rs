//! HOTSPOTS over a cursor: every cursor row comes out at its own ROWTIME
//! with its columns, then `HOTSPOTS_RESULT`, the JSON text describing the
//! hotspots among the last windowSize rows' numeric columns once the row
//! has joined them (`sluice_hotspots`). A row with a NULL numeric value
//! does not join the window: it goes to `error_stream` naming the column.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use sluice_hotspots::Hotspots;

use super::Output;
use super::rcf::{append_columns, numeric_rows};
use crate::error::{EngineError, Result};
use crate::plan::{HotspotsPlan, PumpDef, StreamDef};
use datafusion::arrow::array::RecordBatch;

/// One pump's window of recent records.
pub(crate) struct HotspotsState {
    hotspots: Hotspots,
}

impl HotspotsState {
    pub(crate) fn new(plan: &HotspotsPlan, p: &PumpDef) -> Result<Self> {
        let hotspots = Hotspots::new(plan.config.clone()).map_err(|e| EngineError::Plan {
            location: p.declared_at,
            message: e.to_string(),
        })?;
        Ok(Self { hotspots })
    }

    /// Takes each row of `batch` in order and emits the rows with their
    /// HOTSPOTS_RESULT.
    pub(crate) fn push(
        &mut self,
        plan: &HotspotsPlan,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let mut results = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 64);
        let hotspots = &mut self.hotspots;
        let kept = numeric_rows(batch, &plan.inputs, "HOTSPOTS", p, out, |record| {
            let json = hotspots
                .push(record)
                .map_err(|e| format!("HOTSPOTS: {e}"))?;
            results.append_value(json);
            Ok(())
        })?;
        let Some(kept) = kept else {
            return Ok(());
        };
        let extra: Vec<ArrayRef> = vec![Arc::new(results.finish())];
        out.batches.push(append_columns(&kept, extra, target, p)?);
        Ok(())
    }
}
