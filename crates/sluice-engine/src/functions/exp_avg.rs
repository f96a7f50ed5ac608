//! EXP_AVG as a GROUP BY (tumbling window) aggregate: `kda_exp_avg(x,
//! ROWTIME, half-life ms)`, which the tumbling planner makes of KDA's
//! `EXP_AVG(x, INTERVAL '10' SECOND)`.
//!
//! The SQL Reference's EXP_AVG divides the window into intervals of the
//! half-life, the most recent weighing most, each older one half as much.
//! Over a sliding window (`ops/sliding.rs`) "now" is the current row; over
//! a tumbling window it is the group's latest row, so a group's value is
//! what EXP_AVG OVER a window holding the group gives at its last row: each
//! value weighs 1/2 per whole half-life between its ROWTIME and the latest
//! ROWTIME of the group. NULLs are skipped; a group of NULLs gives NULL.
//!
//! State: per distinct ROWTIME of the group, the sum and count of its
//! values (the weights depend on the latest time, known only at the end).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Float64Type, Int64Type, TimestampMillisecondType,
};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use crate::types::ROWTIME_TYPE;

/// The aggregate's name (the planner's rewrite target).
pub const KDA_EXP_AVG: &str = "kda_exp_avg";

/// `kda_exp_avg(x, ROWTIME, half_life_ms)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExpAvg {
    signature: Signature,
}

impl Default for ExpAvg {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ExpAvg {
    fn name(&self) -> &str {
        KDA_EXP_AVG
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [x, _, _] if x.is_numeric() || x.is_null() => {
                Ok(vec![DataType::Float64, ROWTIME_TYPE, DataType::Int64])
            }
            _ => Err(DataFusionError::Plan(format!(
                "EXP_AVG takes a numeric expression and a half-life: EXP_AVG(<expression>, INTERVAL '10' SECOND); got {arg_types:?}"
            ))),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ExpAvgAccumulator::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, item: DataType| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::List(Arc::new(Field::new_list_field(item, true))),
                true,
            ))
        };
        Ok(vec![
            list("times", DataType::Int64),
            list("sums", DataType::Float64),
            list("counts", DataType::Int64),
            Arc::new(Field::new(
                format!("{}[latest]", args.name),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format!("{}[half_life]", args.name),
                DataType::Int64,
                true,
            )),
        ])
    }
}

#[derive(Debug, Default)]
struct ExpAvgAccumulator {
    /// ROWTIME (ms) → (sum, count) of the non-NULL values at it.
    by_time: BTreeMap<i64, (f64, i64)>,
    /// The latest ROWTIME of the group (NULL values included).
    latest: Option<i64>,
    half_life_ms: Option<i64>,
}

impl ExpAvgAccumulator {
    fn add(&mut self, t: i64, sum: f64, count: i64) {
        let e = self.by_time.entry(t).or_insert((0.0, 0));
        e.0 += sum;
        e.1 += count;
    }

    fn see(&mut self, t: i64) {
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
    }
}

impl Accumulator for ExpAvgAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [x, t, h] = values else {
            return Err(DataFusionError::Internal(format!(
                "{KDA_EXP_AVG} takes 3 arguments, got {}",
                values.len()
            )));
        };
        let x = x.as_primitive::<Float64Type>();
        let t = t.as_primitive::<TimestampMillisecondType>();
        let h = h.as_primitive::<Int64Type>();
        for i in 0..x.len() {
            if t.is_null(i) {
                continue;
            }
            if self.half_life_ms.is_none() && !h.is_null(i) {
                self.half_life_ms = Some(h.value(i).max(1));
            }
            self.see(t.value(i));
            if !x.is_null(i) {
                self.add(t.value(i), x.value(i), 1);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (Some(now), Some(h)) = (self.latest, self.half_life_ms) else {
            return Ok(ScalarValue::Float64(None));
        };
        let (mut num, mut den) = (0.0, 0.0);
        for (&t, &(sum, count)) in &self.by_time {
            let halvings = ((now - t).max(0) / h).min(1_074);
            let w = 0.5f64.powi(halvings as i32);
            num += w * sum;
            den += w * count as f64;
        }
        Ok(ScalarValue::Float64((den > 0.0).then(|| num / den)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.by_time.len() * 40
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let times: Vec<ScalarValue> = self
            .by_time
            .keys()
            .map(|&t| ScalarValue::Int64(Some(t)))
            .collect();
        let sums: Vec<ScalarValue> = self
            .by_time
            .values()
            .map(|&(s, _)| ScalarValue::Float64(Some(s)))
            .collect();
        let counts: Vec<ScalarValue> = self
            .by_time
            .values()
            .map(|&(_, c)| ScalarValue::Int64(Some(c)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&times, &DataType::Int64)),
            ScalarValue::List(ScalarValue::new_list_nullable(&sums, &DataType::Float64)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Int64)),
            ScalarValue::Int64(self.latest),
            ScalarValue::Int64(self.half_life_ms),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [times, sums, counts, latest, half_life] = states else {
            return Err(DataFusionError::Internal(format!(
                "{KDA_EXP_AVG}: 5 state columns expected, got {}",
                states.len()
            )));
        };
        let list = |a: &ArrayRef| -> Result<ListArray> {
            a.as_list_opt::<i32>().cloned().ok_or_else(|| {
                DataFusionError::Internal(format!("{KDA_EXP_AVG}: a state column is not a list"))
            })
        };
        let (times, sums, counts) = (list(times)?, list(sums)?, list(counts)?);
        let latest = latest.as_primitive::<Int64Type>();
        let half_life = half_life.as_primitive::<Int64Type>();
        for row in 0..times.len() {
            if !latest.is_null(row) {
                self.see(latest.value(row));
            }
            if self.half_life_ms.is_none() && !half_life.is_null(row) {
                self.half_life_ms = Some(half_life.value(row));
            }
            if times.is_null(row) {
                continue;
            }
            let t = times.value(row);
            let s = sums.value(row);
            let c = counts.value(row);
            let (t, s, c) = (
                t.as_primitive::<Int64Type>(),
                s.as_primitive::<Float64Type>(),
                c.as_primitive::<Int64Type>(),
            );
            for k in 0..t.len() {
                self.add(t.value(k), s.value(k), c.value(k));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};

    fn batch(xs: &[Option<f64>], ts: &[i64], h: i64) -> Vec<ArrayRef> {
        vec![
            Arc::new(Float64Array::from(xs.to_vec())),
            Arc::new(TimestampMillisecondArray::from(ts.to_vec())),
            Arc::new(Int64Array::from(vec![h; xs.len()])),
        ]
    }

    #[test]
    fn values_weigh_half_per_whole_half_life_before_the_latest_row() -> Result<()> {
        let mut acc = ExpAvgAccumulator::default();
        // Latest row at 25 s, half-life 10 s: the value at 25 s weighs 1,
        // 14 s (11 s old) 1/2, 3 s (22 s old) 1/4; the NULL is skipped.
        acc.update_batch(&batch(
            &[Some(40.0), Some(20.0), None, Some(10.0)],
            &[3_000, 14_000, 20_000, 25_000],
            10_000,
        ))?;
        let want = (40.0 * 0.25 + 20.0 * 0.5 + 10.0) / (0.25 + 0.5 + 1.0);
        assert_eq!(acc.evaluate()?, ScalarValue::Float64(Some(want)));
        Ok(())
    }

    #[test]
    fn a_group_of_nulls_is_null_and_state_merges() -> Result<()> {
        let mut nulls = ExpAvgAccumulator::default();
        nulls.update_batch(&batch(&[None], &[1_000], 1_000))?;
        assert_eq!(nulls.evaluate()?, ScalarValue::Float64(None));

        let mut a = ExpAvgAccumulator::default();
        a.update_batch(&batch(&[Some(4.0)], &[0], 1_000))?;
        let mut b = ExpAvgAccumulator::default();
        b.update_batch(&batch(&[Some(1.0)], &[1_000], 1_000))?;
        let state: Vec<ArrayRef> = a
            .state()?
            .into_iter()
            .map(|s| s.to_array())
            .collect::<Result<_>>()?;
        b.merge_batch(&state)?;
        // 4 at 1 s old weighs 1/2, 1 at the latest time weighs 1.
        assert_eq!(b.evaluate()?, ScalarValue::Float64(Some((2.0 + 1.0) / 1.5)));
        Ok(())
    }
}
