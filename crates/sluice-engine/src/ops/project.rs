//! Filter and project: a pump without windows evaluates WHERE and its select
//! list row by row into the target stream's columns (also what a closed
//! window's rows go through: HAVING, then the select list). Here too is the
//! guarded evaluation every operator uses: a batch whose evaluation fails is
//! retried row by row, and the rows that fail become `error_stream` rows.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringBuilder,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{Schema, TimestampMillisecondType};
use datafusion::error::DataFusionError;
use datafusion::physical_expr::PhysicalExpr;

use super::Output;
use crate::errors::{ErrorRow, hex};
use crate::io::output::row_json;
use crate::plan::StreamDef;

type DfResult<T> = std::result::Result<T, DataFusionError>;

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

/// A source row without the record-metadata columns it has no value for
/// (PARTITION_KEY, SHARD_ID, SEQUENCE_NUMBER of a record replayed without
/// them): DATA_ROW shows the row as its source gave it.
fn without_null_metadata(row: &RecordBatch) -> std::borrow::Cow<'_, RecordBatch> {
    let schema = row.schema();
    let fields = schema.fields();
    if fields.get(1).map(|f| f.name().as_str()) != Some(crate::plan::APPROXIMATE_ARRIVAL_TIME) {
        return std::borrow::Cow::Borrowed(row);
    }
    let is_meta = |i: usize| {
        (2..2 + crate::plan::SOURCE_METADATA.len()).contains(&i)
            && crate::plan::SOURCE_METADATA
                .iter()
                .any(|(name, _)| name == fields[i].name())
            && row.column(i).is_null(0)
    };
    let keep: Vec<usize> = (0..fields.len()).filter(|&i| !is_meta(i)).collect();
    if keep.len() == fields.len() {
        return std::borrow::Cow::Borrowed(row);
    }
    match row.project(&keep) {
        Ok(b) => std::borrow::Cow::Owned(b),
        Err(_) => std::borrow::Cow::Borrowed(row),
    }
}

pub(crate) fn row_error(row: &RecordBatch, pump: &str, e: &DataFusionError) -> ErrorRow {
    let rowtime = row
        .column(0)
        .as_primitive_opt::<TimestampMillisecondType>()
        .filter(|a| !a.is_empty() && a.is_valid(0))
        .map(|a| a.value(0));
    let data = row_json(&without_null_metadata(row), 0, true);
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
