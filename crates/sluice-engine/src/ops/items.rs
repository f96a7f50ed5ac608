//! TOP_K_ITEMS_TUMBLING and COUNT_DISTINCT_ITEMS_TUMBLING over a cursor: a
//! tumbling window over ROWTIME (windowSize seconds, aligned to the epoch)
//! counting one column's values, emitted when ROWTIME passes the window's
//! end, with that end as ROWTIME. NULL values are not items (as COUNT and
//! COUNT(DISTINCT ..) skip NULLs); a window without rows emits nothing.
//!
//! - TOP_K_ITEMS_TUMBLING gives the K most frequent items of the window,
//!   most frequent first (ties: the item seen first in the window first),
//!   with their counts. The SQL Reference allows an approximation; Sluice
//!   counts exactly, so its answer is always among those the page allows.
//!   State: one counter per distinct item of the open window.
//! - COUNT_DISTINCT_ITEMS_TUMBLING gives the number of distinct items:
//!   exact while the window has at most [`EXACT_LIMIT`] distinct items (the
//!   page promises exactness up to 10,000 items), then a HyperLogLog++
//!   estimate (precision 14: about 0.8% standard error) in bounded memory.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::TimestampMillisecondType;
use datafusion::common::ScalarValue;
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};

use super::Output;
use crate::error::{EngineError, Result};
use crate::plan::{ItemsPlan, ItemsResult, PumpDef, StreamDef};

/// Distinct items a COUNT_DISTINCT_ITEMS_TUMBLING window counts exactly.
pub const EXACT_LIMIT: usize = 10_000;
/// HyperLogLog++ precision past [`EXACT_LIMIT`] (2^14 registers).
const HLL_PRECISION: u8 = 14;

/// A fixed-key hasher, so estimates are the same on every replay.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// What an open window holds.
enum Counts {
    /// Item → (count, order first seen).
    Frequencies(HashMap<ScalarValue, (u64, u64)>),
    /// Distinct items, exactly.
    Exact(HashSet<ScalarValue>),
    /// Distinct items, estimated.
    Sketch(Box<HyperLogLogPlus<ScalarValue, Fixed>>),
}

/// The open window of one pump.
struct Window {
    start: i64,
    counts: Counts,
    seen: u64,
}

/// One pump's open tumbling window.
pub(crate) struct ItemsState {
    open: Option<Window>,
}

impl ItemsState {
    pub(crate) fn new() -> Self {
        Self { open: None }
    }

    fn start_of(plan: &ItemsPlan, t: i64) -> i64 {
        t.div_euclid(plan.size_ms) * plan.size_ms
    }

    /// The start of the open window, if any.
    pub(crate) fn retained_since(&self) -> Option<i64> {
        self.open.as_ref().map(|w| w.start)
    }

    /// The end of the open window, if any.
    pub(crate) fn open_window_end(&self, plan: &ItemsPlan) -> Option<i64> {
        self.open.as_ref().map(|w| w.start + plan.size_ms)
    }

    /// The end of the window holding `t`.
    pub(crate) fn next_boundary(plan: &ItemsPlan, t: i64) -> i64 {
        Self::start_of(plan, t) + plan.size_ms
    }

    pub(crate) fn push(
        &mut self,
        plan: &ItemsPlan,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let times = batch
            .column(0)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| EngineError::Plan {
                location: p.declared_at,
                message: format!("pump \"{}\": ROWTIME is not a TIMESTAMP", p.name),
            })?
            .clone();
        let values = batch.column(plan.column);
        for row in 0..batch.num_rows() {
            let start = Self::start_of(plan, times.value(row));
            if self.open.as_ref().is_some_and(|w| w.start != start) {
                self.close(plan, p, target, out)?;
            }
            let window = self.open.get_or_insert_with(|| Window {
                start,
                counts: match plan.result {
                    ItemsResult::TopK(_) => Counts::Frequencies(HashMap::new()),
                    ItemsResult::CountDistinct => Counts::Exact(HashSet::new()),
                },
                seen: 0,
            });
            if values.is_null(row) {
                continue;
            }
            let item = ScalarValue::try_from_array(values, row).map_err(|e| EngineError::Plan {
                location: p.declared_at,
                message: format!("pump \"{}\": {e}", p.name),
            })?;
            window.seen += 1;
            let order = window.seen;
            match &mut window.counts {
                Counts::Frequencies(m) => match m.entry(item) {
                    Entry::Occupied(mut e) => e.get_mut().0 += 1,
                    Entry::Vacant(e) => {
                        e.insert((1, order));
                    }
                },
                Counts::Exact(set) => {
                    set.insert(item);
                    if set.len() > EXACT_LIMIT {
                        let mut sketch = Box::new(
                            HyperLogLogPlus::new(HLL_PRECISION, Fixed::default()).map_err(|e| {
                                EngineError::Plan {
                                    location: p.declared_at,
                                    message: format!("pump \"{}\": {e:?}", p.name),
                                }
                            })?,
                        );
                        for v in set.iter() {
                            sketch.insert(v);
                        }
                        window.counts = Counts::Sketch(sketch);
                    }
                }
                Counts::Sketch(sketch) => sketch.insert(&item),
            }
        }
        Ok(())
    }

    /// Time has reached `now`: emit the open window if it has ended.
    pub(crate) fn advance(
        &mut self,
        plan: &ItemsPlan,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        if self
            .open
            .as_ref()
            .is_some_and(|w| w.start + plan.size_ms <= now)
        {
            self.close(plan, p, target, out)?;
        }
        Ok(())
    }

    fn close(
        &mut self,
        plan: &ItemsPlan,
        p: &PumpDef,
        target: &StreamDef,
        out: &mut Output,
    ) -> Result<()> {
        let Some(window) = self.open.take() else {
            return Ok(());
        };
        let end = window.start + plan.size_ms;
        let failed = |e: String| EngineError::Plan {
            location: p.declared_at,
            message: format!("pump \"{}\": {e}", p.name),
        };
        let columns: Vec<ArrayRef> = match (window.counts, plan.result) {
            (Counts::Frequencies(m), ItemsResult::TopK(k)) => {
                let mut items: Vec<(ScalarValue, (u64, u64))> = m.into_iter().collect();
                items.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
                items.truncate(k);
                if items.is_empty() {
                    return Ok(());
                }
                let counts: Int64Array = items.iter().map(|(_, (c, _))| *c as i64).collect();
                let values = ScalarValue::iter_to_array(items.into_iter().map(|(v, _)| v))
                    .map_err(|e| failed(e.to_string()))?;
                let item_type = target.schema.field(1).data_type();
                let values = if values.data_type() == item_type {
                    values
                } else {
                    cast(&values, item_type).map_err(|e| failed(e.to_string()))?
                };
                vec![values, Arc::new(counts)]
            }
            // A window of only NULLs has rows, and 0 distinct items.
            (Counts::Exact(set), _) => vec![Arc::new(Int64Array::from(vec![set.len() as i64]))],
            (Counts::Sketch(mut sketch), _) => {
                let n = sketch.count().round() as i64;
                vec![Arc::new(Int64Array::from(vec![n]))]
            }
            (Counts::Frequencies(_), ItemsResult::CountDistinct) => {
                return Err(failed("window state does not match its plan".into()));
            }
        };
        let rows = columns[0].len();
        let mut all: Vec<ArrayRef> =
            vec![Arc::new(TimestampMillisecondArray::from(vec![end; rows]))];
        all.extend(columns);
        let batch = RecordBatch::try_new(Arc::clone(&target.schema), all)
            .map_err(|e| failed(e.to_string()))?;
        out.batches.push(batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AppPlan, OperatorPlan, SourceDecl, StreamColumn};
    use crate::types::SqlType;
    use datafusion::arrow::array::StringArray;

    fn app(call: &str) -> AppPlan {
        AppPlan::new(
            &format!(
                "CREATE STREAM O (N BIGINT);\n\
                 CREATE PUMP P AS INSERT INTO O SELECT STREAM * FROM TABLE({call});"
            ),
            &[SourceDecl {
                stream: "S".into(),
                columns: Some(vec![StreamColumn::new("DEVICE", SqlType::Varchar(16))]),
            }],
        )
        .unwrap()
    }

    /// Pushes `n` rows with `distinct` different devices at ROWTIME 0, closes
    /// the window and returns NUMBER_OF_DISTINCT_ITEMS.
    fn count_distinct(n: usize, distinct: usize) -> i64 {
        let plan =
            app("COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM S), 'DEVICE', 60)");
        let (pi, p) = plan
            .pumps
            .iter()
            .enumerate()
            .find(|(_, p)| matches!(p.op, OperatorPlan::ItemsTumbling(_)))
            .unwrap();
        let OperatorPlan::ItemsTumbling(items) = &plan.pumps[pi].op else {
            unreachable!()
        };
        let cursor = &plan.streams[p.from];
        let target = &plan.streams[p.into];
        let devices: StringArray = (0..n).map(|i| Some(format!("d{}", i % distinct))).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&cursor.schema),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![0; n])),
                Arc::new(devices),
            ],
        )
        .unwrap();
        let mut st = ItemsState::new();
        let mut out = Output::default();
        st.push(items, p, target, &batch, &mut out).unwrap();
        assert!(out.batches.is_empty());
        st.advance(items, p, target, 60_000, &mut out).unwrap();
        assert_eq!(out.batches.len(), 1);
        let b = &out.batches[0];
        assert_eq!(
            b.column(0)
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            60_000
        );
        b.column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0)
    }

    #[test]
    fn count_distinct_is_exact_up_to_ten_thousand_items_then_estimated() {
        assert_eq!(count_distinct(30_000, 10_000), 10_000);
        let estimate = count_distinct(50_000, 50_000);
        let error = (estimate - 50_000).abs() as f64 / 50_000.0;
        assert!(error < 0.03, "estimate {estimate}");
        // The same input gives the same estimate (a fixed-key hash).
        assert_eq!(count_distinct(50_000, 50_000), estimate);
    }
}
