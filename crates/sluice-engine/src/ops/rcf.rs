//! RANDOM_CUT_FOREST and RANDOM_CUT_FOREST_WITH_EXPLANATION over a cursor:
//! every cursor row comes out at its own ROWTIME with its columns, then
//! `ANOMALY_SCORE` (and `ANOMALY_EXPLANATION`), scored in stream order by
//! one [`RandomCutForest`] per pump (`sluice_rcf`).
//!
//! The forest reads the cursor's numeric columns as DOUBLE. A row with a
//! NULL in one of them is not scored and does not change the forest: it goes
//! to `error_stream` naming the column, and the stream goes on.
//!
//! The explanation is KDA's JSON, one member per numeric column in cursor
//! order: `{"COL":{"DIRECTION":"HIGH","STRENGTH":"0.0210",
//! "ATTRIBUTION_SCORE":"0.3323"},...}`, values as strings with four
//! decimals; without directionality only `ATTRIBUTION_SCORE`.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, RecordBatch,
    RecordBatchOptions, StringBuilder,
};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::DataFusionError;
use sluice_rcf::{Attribution, RandomCutForest};

use super::Output;
use super::project::row_error;
use crate::error::{EngineError, Result};
use crate::plan::{PumpDef, RcfPlan, StreamDef};

/// One pump's forest.
pub(crate) struct RcfState {
    forest: RandomCutForest,
}

impl RcfState {
    pub(crate) fn new(plan: &RcfPlan, p: &PumpDef) -> Result<Self> {
        let forest = RandomCutForest::new(plan.config.clone()).map_err(|e| EngineError::Plan {
            location: p.declared_at,
            message: e.to_string(),
        })?;
        Ok(Self { forest })
    }

    /// Scores each row of `batch` in order and emits the rows with their
    /// score (and explanation).
    pub(crate) fn push(
        &mut self,
        plan: &RcfPlan,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let rows = batch.num_rows();
        let mut scores = Float64Builder::with_capacity(rows);
        let mut explanations = plan
            .explanation
            .map(|_| StringBuilder::with_capacity(rows, rows * 64 * plan.inputs.len()));
        let name = function_name(plan);
        let forest = &mut self.forest;
        let kept = numeric_rows(batch, &plan.inputs, name, p, out, |record| {
            match &mut explanations {
                None => scores.append_value(
                    forest
                        .score_and_update(record)
                        .map_err(|e| format!("{name}: {e}"))?,
                ),
                Some(b) => {
                    let (score, attributions) = forest
                        .explain_and_update(record)
                        .map_err(|e| format!("{name}: {e}"))?;
                    scores.append_value(score);
                    b.append_value(explanation_json(
                        plan,
                        &attributions,
                        plan.explanation.unwrap_or(false),
                    ));
                }
            }
            Ok(())
        })?;
        let Some(kept) = kept else {
            return Ok(());
        };
        let mut extra: Vec<ArrayRef> = vec![Arc::new(scores.finish())];
        if let Some(mut b) = explanations {
            extra.push(Arc::new(b.finish()));
        }
        out.batches.push(append_columns(&kept, extra, target, p)?);
        Ok(())
    }
}

/// Runs `f` on each row of `batch` in order, with the row's `inputs`
/// columns as DOUBLE. A row with a NULL among them, or for which `f`
/// fails, goes to `error_stream` (`f` must then leave its outputs
/// untouched); returns the rows `f` took, `None` if none.
pub(super) fn numeric_rows(
    batch: &RecordBatch,
    inputs: &[(usize, String)],
    function: &str,
    p: &PumpDef,
    out: &mut Output,
    mut f: impl FnMut(&[f64]) -> std::result::Result<(), String>,
) -> Result<Option<RecordBatch>> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(None);
    }
    let columns: Vec<Float64Array> = inputs
        .iter()
        .map(|(i, _)| {
            cast(batch.column(*i), &DataType::Float64)
                .map(|a| a.as_primitive::<Float64Type>().clone())
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| failed(p, e.into()))?;
    let mut keep = Vec::with_capacity(rows);
    let mut record = vec![0.0; columns.len()];
    for row in 0..rows {
        let taken = match columns.iter().position(|a| a.is_null(row)) {
            Some(c) => Err(format!(
                "{function} cannot take a NULL: column {} is NULL",
                inputs[c].1
            )),
            None => {
                for (v, a) in record.iter_mut().zip(&columns) {
                    *v = a.value(row);
                }
                f(&record)
            }
        };
        match taken {
            Ok(()) => keep.push(true),
            Err(message) => {
                keep.push(false);
                out.errors.push(row_error(
                    &batch.slice(row, 1),
                    &p.name,
                    &DataFusionError::Execution(message),
                ));
            }
        }
    }
    if keep.iter().all(|&k| k) {
        return Ok(Some(batch.clone()));
    }
    if !keep.iter().any(|&k| k) {
        return Ok(None);
    }
    filter_record_batch(batch, &BooleanArray::from(keep))
        .map(Some)
        .map_err(|e| failed(p, e.into()))
}

/// `rows` with `extra` columns after its own, as a batch of `target`.
pub(super) fn append_columns(
    rows: &RecordBatch,
    extra: Vec<ArrayRef>,
    target: &StreamDef,
    p: &PumpDef,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    columns.extend(extra);
    RecordBatch::try_new_with_options(
        Arc::clone(&target.schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows.num_rows())),
    )
    .map_err(|e| failed(p, e.into()))
}

fn failed(p: &PumpDef, e: DataFusionError) -> EngineError {
    EngineError::Plan {
        location: p.declared_at,
        message: format!("pump \"{}\": {e}", p.name),
    }
}

fn function_name(plan: &RcfPlan) -> &'static str {
    if plan.explanation.is_some() {
        "RANDOM_CUT_FOREST_WITH_EXPLANATION"
    } else {
        "RANDOM_CUT_FOREST"
    }
}

/// KDA's ANOMALY_EXPLANATION for one row.
fn explanation_json(plan: &RcfPlan, attributions: &[Attribution], directionality: bool) -> String {
    let mut s = String::with_capacity(64 * attributions.len());
    s.push('{');
    for (k, ((_, name), a)) in plan.inputs.iter().zip(attributions).enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::String(name.clone()).to_string());
        s.push_str(":{");
        if directionality {
            let _ = write!(
                s,
                "\"DIRECTION\":\"{}\",\"STRENGTH\":\"{:.4}\",",
                a.direction().as_str(),
                a.strength()
            );
        }
        let _ = write!(s, "\"ATTRIBUTION_SCORE\":\"{:.4}\"}}", a.score());
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AppPlan, OperatorPlan, SourceDecl, StreamColumn};
    use crate::types::SqlType;

    fn plan(sql: &str) -> crate::error::Result<AppPlan> {
        AppPlan::new(
            sql,
            &[SourceDecl {
                stream: "S".into(),
                columns: Some(vec![
                    StreamColumn::new("NAME", SqlType::Varchar(8)),
                    StreamColumn::new("X", SqlType::Double),
                    StreamColumn::new("N", SqlType::Integer),
                ]),
            }],
        )
    }

    fn rcf_plan(p: &AppPlan) -> &RcfPlan {
        p.pumps
            .iter()
            .find_map(|p| match &p.op {
                OperatorPlan::RandomCutForest(r) => Some(r),
                _ => None,
            })
            .expect("an RCF pump")
    }

    #[test]
    fn explanation_json_is_kdas_shape() {
        let p = plan(
            "CREATE STREAM O (X DOUBLE, N INTEGER, A DOUBLE, E VARCHAR(512));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM X, N, ANOMALY_SCORE, ANOMALY_EXPLANATION \
             FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM S), 10, 20, 1000, 1, true));",
        )
        .unwrap();
        let r = rcf_plan(&p);
        let a = [
            Attribution {
                high: 0.5,
                low: 0.125,
            },
            Attribution {
                high: 0.0,
                low: 0.25,
            },
        ];
        assert_eq!(
            explanation_json(r, &a, true),
            "{\"X\":{\"DIRECTION\":\"HIGH\",\"STRENGTH\":\"0.3750\",\"ATTRIBUTION_SCORE\":\"0.6250\"},\
             \"N\":{\"DIRECTION\":\"LOW\",\"STRENGTH\":\"0.2500\",\"ATTRIBUTION_SCORE\":\"0.2500\"}}"
        );
        assert_eq!(
            explanation_json(r, &a, false),
            "{\"X\":{\"ATTRIBUTION_SCORE\":\"0.6250\"},\"N\":{\"ATTRIBUTION_SCORE\":\"0.2500\"}}"
        );
    }

    #[test]
    fn the_call_reads_numeric_cursor_columns_with_its_arguments_or_kdas_defaults() {
        let p = plan(
            "CREATE STREAM O (X DOUBLE, A DOUBLE);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM X, ANOMALY_SCORE \
             FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S)));",
        )
        .unwrap();
        let r = rcf_plan(&p);
        let names: Vec<&str> = r.inputs.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["X", "N"]);
        assert_eq!(r.config.number_of_trees, 100);
        assert_eq!(r.config.sub_sample_size, 256);
        assert_eq!(r.config.time_decay, 100_000.0);
        assert_eq!(r.config.shingle_size, 1);
        assert_eq!(r.explanation, None);
        let p = plan(
            "CREATE STREAM O (X DOUBLE, A DOUBLE);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM X, ANOMALY_SCORE \
             FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM X FROM S), 50, 128, 5000, 4));",
        )
        .unwrap();
        let r = rcf_plan(&p);
        assert_eq!(r.inputs.len(), 1);
        assert_eq!(
            (
                r.config.number_of_trees,
                r.config.sub_sample_size,
                r.config.time_decay,
                r.config.shingle_size
            ),
            (50, 128, 5000.0, 4)
        );
    }
}
