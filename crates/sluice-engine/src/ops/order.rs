//! Streaming ORDER BY: a pump's output rows sorted within time buckets.
//!
//! KDA accepts ORDER BY on a stream when its leading expression is
//! time-based and monotonic (the ORDER BY clause page of the KDA SQL
//! Reference): rows are gathered while that expression keeps its value, then
//! sorted by the remaining keys and emitted. The leading expression decides
//! the bucket ([`OrderBucket`]):
//!
//! - `ROWTIME`, or, in a GROUP BY query, the window key: rows sharing one
//!   output ROWTIME form a bucket. They are emitted once time passes that
//!   ROWTIME and keep it.
//! - `FLOOR(ROWTIME TO unit)` / `STEP(ROWTIME BY INTERVAL ..)` in a query
//!   without GROUP BY: rows of one time bucket are emitted when it ends,
//!   with ROWTIME raised to the bucket's end (as a tumbling window's rows
//!   are), so the target stream's ROWTIME never goes back.
//!
//! Within a bucket, rows are ordered by the remaining keys (ASC/DESC,
//! NULLS FIRST/LAST; unstated, NULLs sort as greater than every value: last
//! ascending, first descending), ties kept in arrival order. Keys that are
//! not columns of the select list are computed by the pump's operator as
//! extra trailing columns ([`OrderPlan::op_target`]) and dropped here.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::compute::{SortOptions, concat_batches, take};
use datafusion::arrow::datatypes::UInt32Type;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::{EngineError, Result};
use crate::plan::{OrderBucket, OrderPlan, StreamDef};

impl OrderPlan {
    fn bucket_start(&self, t: i64) -> i64 {
        match self.bucket {
            OrderBucket::Rowtime => t,
            OrderBucket::Window(size) => size.start(t),
        }
    }

    fn bucket_end(&self, start: i64) -> i64 {
        match self.bucket {
            OrderBucket::Rowtime => start.saturating_add(1),
            OrderBucket::Window(size) => size.end(start),
        }
    }

    /// The first time after `t` at which a bucket holding `t` may be emitted:
    /// input is split there so rows of later buckets are routed after it.
    pub fn next_boundary(&self, t: i64) -> i64 {
        self.bucket_end(self.bucket_start(t))
    }
}

/// Rows of one bucket waiting to be sorted.
#[derive(Debug, Default)]
struct Bucket {
    batches: Vec<RecordBatch>,
    /// The earliest input ROWTIME these rows depend on.
    origin: i64,
}

/// The run-time state of a pump's ORDER BY: buckets not yet complete.
#[derive(Debug, Default)]
pub(crate) struct OrderState {
    buckets: BTreeMap<i64, Bucket>,
}

impl OrderState {
    /// Takes output batches of the pump's operator (in the operator target's
    /// schema, ROWTIME non-decreasing). `origin` is the earliest input
    /// ROWTIME they may depend on (for [`Self::retained_since`]).
    pub(crate) fn push(&mut self, plan: &OrderPlan, batches: Vec<RecordBatch>, origin: i64) {
        for batch in batches {
            let Some(times) = batch
                .column(0)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
            else {
                continue;
            };
            let values = times.values();
            let mut start = 0;
            while start < values.len() {
                let b = plan.bucket_start(values[start]);
                let end = plan.bucket_end(b);
                let len = values[start..].partition_point(|&t| t < end);
                let len = len.max(1);
                let entry = self.buckets.entry(b).or_insert_with(|| Bucket {
                    batches: Vec::new(),
                    origin,
                });
                entry.origin = entry.origin.min(origin);
                entry.batches.push(batch.slice(start, len));
                start += len;
            }
        }
    }

    /// The end of the earliest bucket held, if any.
    pub(crate) fn first_end(&self, plan: &OrderPlan) -> Option<i64> {
        self.buckets.keys().next().map(|&b| plan.bucket_end(b))
    }

    /// The earliest input ROWTIME the held rows depend on.
    pub(crate) fn retained_since(&self) -> Option<i64> {
        self.buckets.values().map(|b| b.origin).min()
    }

    /// Sorts and emits, in the target stream's schema, every bucket that
    /// ends at or before `now`.
    pub(crate) fn release(
        &mut self,
        plan: &OrderPlan,
        target: &StreamDef,
        now: i64,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(entry) = self.buckets.first_entry() {
            let start = *entry.key();
            let end = plan.bucket_end(start);
            if end > now {
                break;
            }
            let bucket = entry.remove();
            out.push(sort_bucket(plan, target, bucket, end)?);
        }
        Ok(out)
    }
}

fn sort_bucket(
    plan: &OrderPlan,
    target: &StreamDef,
    bucket: Bucket,
    end: i64,
) -> Result<RecordBatch> {
    let err = |e: &dyn std::fmt::Display| EngineError::Plan {
        location: Default::default(),
        message: format!("ORDER BY into stream \"{}\": {e}", target.name),
    };
    let all = concat_batches(&plan.op_target.schema, &bucket.batches).map_err(|e| err(&e))?;
    let rows = all.num_rows();
    let mut indices: Vec<u32> = (0..rows as u32).collect();
    if !plan.keys.is_empty() && rows > 1 {
        let fields = plan
            .keys
            .iter()
            .map(|k| {
                SortField::new_with_options(
                    all.column(k.column).data_type().clone(),
                    SortOptions {
                        descending: k.descending,
                        nulls_first: k.nulls_first,
                    },
                )
            })
            .collect();
        let converter = RowConverter::new(fields).map_err(|e| err(&e))?;
        let cols: Vec<ArrayRef> = plan
            .keys
            .iter()
            .map(|k| Arc::clone(all.column(k.column)))
            .collect();
        let keyed = converter.convert_columns(&cols).map_err(|e| err(&e))?;
        // A stable sort: ties keep arrival order.
        indices.sort_by(|&a, &b| keyed.row(a as usize).cmp(&keyed.row(b as usize)));
    }
    let idx = datafusion::arrow::array::PrimitiveArray::<UInt32Type>::from(indices);
    let visible = target.schema.fields().len();
    let mut cols = Vec::with_capacity(visible);
    for c in 0..visible {
        if c == 0 && matches!(plan.bucket, OrderBucket::Window(_)) {
            cols.push(Arc::new(TimestampMillisecondArray::from(vec![end; rows])) as ArrayRef);
        } else {
            cols.push(take(all.column(c), &idx, None).map_err(|e| err(&e))?);
        }
    }
    RecordBatch::try_new(Arc::clone(&target.schema), cols).map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{SortKey, StreamColumn, WindowSize};
    use crate::types::SqlType;
    use datafusion::arrow::array::{Array, AsArray, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Int32Type, TimestampMillisecondType};

    fn stream(cols: &[(&str, SqlType)]) -> StreamDef {
        StreamDef::new(
            "OUT".into(),
            cols.iter()
                .map(|(n, t)| StreamColumn::new(*n, *t))
                .collect(),
            false,
            Default::default(),
        )
    }

    fn batch(s: &StreamDef, rows: &[(i64, &str, Option<i32>)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::clone(&s.schema),
            vec![
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int32Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn rows(b: &RecordBatch) -> Vec<(i64, String, Option<i32>)> {
        let t = b.column(0).as_primitive::<TimestampMillisecondType>();
        let s = b.column(1).as_string::<i32>();
        let n = b.column(2).as_primitive::<Int32Type>();
        (0..b.num_rows())
            .map(|i| {
                (
                    t.value(i),
                    s.value(i).to_string(),
                    n.is_valid(i).then(|| n.value(i)),
                )
            })
            .collect()
    }

    #[test]
    fn rowtime_buckets_sort_by_later_keys_and_keep_rowtime() {
        let target = stream(&[("TICKER", SqlType::Varchar(4)), ("PRICE", SqlType::Integer)]);
        let plan = OrderPlan {
            bucket: OrderBucket::Rowtime,
            keys: vec![SortKey {
                column: 2,
                descending: true,
                nulls_first: true,
            }],
            op_target: stream(&[("TICKER", SqlType::Varchar(4)), ("PRICE", SqlType::Integer)]),
        };
        let mut st = OrderState::default();
        st.push(
            &plan,
            vec![batch(
                &target,
                &[(10, "A", Some(1)), (10, "B", Some(3)), (20, "C", Some(2))],
            )],
            10,
        );
        st.push(&plan, vec![batch(&target, &[(20, "D", None)])], 20);
        assert_eq!(st.retained_since(), Some(10));
        assert_eq!(st.first_end(&plan), Some(11));
        // Time 10 is not over yet: nothing leaves.
        assert!(st.release(&plan, &target, 10).unwrap().is_empty());
        let out = st.release(&plan, &target, 11).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            rows(&out[0]),
            vec![(10, "B".into(), Some(3)), (10, "A".into(), Some(1))]
        );
        let out = st.release(&plan, &target, 100).unwrap();
        assert_eq!(
            rows(&out[0]),
            vec![(20, "D".into(), None), (20, "C".into(), Some(2))]
        );
        assert_eq!(st.retained_since(), None);
    }

    #[test]
    fn window_buckets_emit_at_their_end_and_drop_hidden_keys() {
        let target = stream(&[("TICKER", SqlType::Varchar(4)), ("PRICE", SqlType::Integer)]);
        // A hidden key (column 3) the select list does not show.
        let op_target = stream(&[
            ("TICKER", SqlType::Varchar(4)),
            ("PRICE", SqlType::Integer),
            ("$ORDER_BY_1", SqlType::Integer),
        ]);
        let plan = OrderPlan {
            bucket: OrderBucket::Window(WindowSize::Millis(60_000)),
            keys: vec![
                SortKey {
                    column: 3,
                    descending: false,
                    nulls_first: false,
                },
                SortKey {
                    column: 1,
                    descending: false,
                    nulls_first: false,
                },
            ],
            op_target,
        };
        let b = RecordBatch::try_new(
            Arc::clone(&plan.op_target.schema),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![
                    1_000, 2_000, 3_000, 61_000,
                ])),
                Arc::new(StringArray::from(vec!["B", "A", "C", "Z"])),
                Arc::new(Int32Array::from(vec![1, 2, 3, 4])),
                Arc::new(Int32Array::from(vec![Some(5), Some(5), None, Some(0)])),
            ],
        )
        .unwrap();
        let mut st = OrderState::default();
        st.push(&plan, vec![b], 1_000);
        assert_eq!(plan.next_boundary(1_000), 60_000);
        let out = st.release(&plan, &target, 60_000).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].num_columns(), 3);
        assert_eq!(
            rows(&out[0]),
            vec![
                (60_000, "A".into(), Some(2)),
                (60_000, "B".into(), Some(1)),
                (60_000, "C".into(), Some(3)),
            ]
        );
        let out = st.release(&plan, &target, 120_000).unwrap();
        assert_eq!(rows(&out[0]), vec![(120_000, "Z".into(), Some(4))]);
    }
}
