//! Joins: stream-to-stream joins over windows, and stream-to-reference-table
//! joins.
//!
//! A joining pump first turns what arrives on either side into rows of the
//! *joined* shape (`ROWTIME`, then every column of the left side, then every
//! column of the right side, each named `<side>.<column>`), and the pump's
//! own operator (filter/project, tumbling, sliding, stagger) runs over those
//! rows as if they were a stream.
//!
//! ## Stream-to-stream (KDA SQL Reference, JOIN clause)
//! Each side keeps the rows of its window: `OVER (RANGE INTERVAL .. PRECEDING)`
//! keeps the rows whose ROWTIME is within the interval of the current time,
//! `OVER (ROWS n PRECEDING)` the last n + 1 rows, and a side without a window
//! only its current row (rows of the current ROWTIME). A row arriving on one
//! side is matched against the rows held by the other; the pair qualifies
//! when each row is inside its own side's window at the later row's time,
//! and the output row's ROWTIME is the later of the two (as the reference's
//! examples show). Matches are emitted when the later row arrives.
//!
//! An outer side's row that matched nothing is emitted once it can no
//! longer match, with NULLs for the other side: at the end of its window,
//! with that end as ROWTIME (Example 5: an unmatched order at 10:00:00 with a
//! 1-minute window comes out at 10:01:00); a side without a window has no
//! future, so its unmatched rows come out at their own ROWTIME (Example 3).
//! Rows leave state as their window passes: memory is bounded by the
//! windows, not by history.
//!
//! ## Stream-to-table
//! The right side is a reference table (see [`crate::reference`]): each
//! stream row is looked up in a hash index of the table's current snapshot
//! (rebuilt when a reload swaps in a new version) — or, for one integer key
//! whose values are dense (a table of IDs), a direct-address index, one
//! array read per lookup; LEFT OUTER emits unmatched
//! stream rows at once. The output ROWTIME is the stream row's.
//!
//! Equality conjuncts of `ON` (`a.x = b.y`) are hash keys; what remains is a
//! residual condition evaluated on the candidate pairs. Without equality
//! conjuncts every held row is a candidate.

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array,
    new_null_array,
};
use datafusion::arrow::compute::{cast, interleave, take};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{DataType, TimestampMillisecondType};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::HashMap;
use datafusion::error::DataFusionError;
use datafusion::physical_expr::PhysicalExpr;

use super::Output;
use crate::error::{EngineError, Result};
use crate::plan::{JoinPlan, JoinRight, SideWindow, StreamSide, TableSide};
use crate::reference::ReferenceSource;

type DfResult<T> = std::result::Result<T, DataFusionError>;

impl JoinPlan {
    fn side(&self, s: usize) -> Option<&StreamSide> {
        match (s, &self.right) {
            (0, _) => Some(&self.left),
            (1, JoinRight::Stream(r)) => Some(r),
            _ => None,
        }
    }
}

/// Rows held by one stream side: its window, with a hash index by key.
///
/// Keys stay in the batches' own key rows (no copy per row); the index
/// holds each distinct key once, with the first and last held row of that
/// key, and each held row the id of the next one with its key (ids ascend
/// along a chain, and the oldest row is always first in its own). So a row
/// costs no allocation unless its key is new to the window.
#[derive(Default)]
struct SideStore {
    /// Held batches (side schema) and the id of each one's first row.
    batches: VecDeque<(u64, RecordBatch)>,
    /// Each held batch's hash keys (`None`: the join has none).
    batch_keys: VecDeque<Option<KeyBytes>>,
    /// Per held row, from id `base`: ROWTIME, matched yet, the id of the
    /// next held row with its key ([`NO_ROW`]: none).
    times: VecDeque<i64>,
    matched: VecDeque<bool>,
    next_same: VecDeque<u64>,
    /// Key → its held rows, as a chain.
    index: HashMap<Box<[u8]>, KeyChain>,
    /// Id of the oldest held row.
    base: u64,
    /// Id the next row gets.
    next: u64,
}

/// The first and last held row of one key (see [`SideStore`]).
struct KeyChain {
    first: u64,
    last: u64,
}

/// The end of a key chain.
const NO_ROW: u64 = u64::MAX;

impl SideStore {
    fn time(&self, id: u64) -> i64 {
        self.times[(id - self.base) as usize]
    }

    /// (batch position, row) of a held row.
    fn locate(&self, id: u64) -> (usize, usize) {
        let b = self.batches.partition_point(|(first, _)| *first <= id) - 1;
        (b, (id - self.batches[b].0) as usize)
    }

    /// The held rows whose key is `key`, oldest first.
    fn with_key(&self, key: &[u8]) -> impl Iterator<Item = u64> + '_ {
        let mut id = self.index.get(key).map_or(NO_ROW, |c| c.first);
        std::iter::from_fn(move || {
            let this = id;
            if this == NO_ROW {
                return None;
            }
            id = self.next_same[(this - self.base) as usize];
            Some(this)
        })
    }

    fn append(
        &mut self,
        batch: RecordBatch,
        times: &[i64],
        keys: Option<KeyBytes>,
        matched: &[bool],
    ) {
        let first = self.next;
        for i in 0..batch.num_rows() {
            let id = first + i as u64;
            if let Some(k) = keys.as_ref().and_then(|k| k.get(i)) {
                match self.index.get_mut(k) {
                    Some(chain) => {
                        self.next_same[(chain.last - self.base) as usize] = id;
                        chain.last = id;
                    }
                    None => {
                        self.index.insert(
                            Box::from(k),
                            KeyChain {
                                first: id,
                                last: id,
                            },
                        );
                    }
                }
            }
            self.next_same.push_back(NO_ROW);
        }
        self.times.extend(times.iter().copied());
        self.matched.extend(matched.iter().copied());
        self.next += batch.num_rows() as u64;
        self.batches.push_back((first, batch));
        self.batch_keys.push_back(keys);
    }

    /// Drops the oldest held row.
    fn pop(&mut self) {
        let id = self.base;
        let next_same = self.next_same.pop_front().unwrap_or(NO_ROW);
        self.times.pop_front();
        self.matched.pop_front();
        if let (Some((first, _)), Some(Some(keys))) =
            (self.batches.front(), self.batch_keys.front())
            && let Some(k) = keys.get((id - first) as usize)
        {
            // The oldest row heads its key's chain.
            if next_same == NO_ROW {
                self.index.remove(k);
            } else if let Some(chain) = self.index.get_mut(k) {
                chain.first = next_same;
            }
        }
        self.base += 1;
        while let Some((first, b)) = self.batches.front() {
            if *first + b.num_rows() as u64 <= self.base {
                self.batches.pop_front();
                self.batch_keys.pop_front();
            } else {
                break;
            }
        }
    }

    fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether held row `id` is inside the window at time `at`, with the
    /// side's rows counted up to `count` (for ROWS windows).
    fn in_window(&self, window: SideWindow, id: u64, at: i64) -> bool {
        match window {
            SideWindow::Range(d) => self.time(id) >= at.saturating_sub(d),
            SideWindow::Rows(n) => id.saturating_add(n + 1) >= self.next,
        }
    }
}

/// A reference table's snapshot and its hash index for one join.
struct TableIndex {
    version: u64,
    batch: RecordBatch,
    index: HashMap<Box<[u8]>, Vec<u32>>,
    /// Set (and `index` left empty) when the one key is a dense integer.
    direct: Option<DirectIndex>,
}

/// The table rows of each value of a single integer key, addressed by
/// `value - min`: for keys whose range is at most a few times the row
/// count. Rows of a value are `rows[offsets[v] .. offsets[v + 1]]`, in
/// table order.
struct DirectIndex {
    min: i64,
    offsets: Vec<u32>,
    rows: Vec<u32>,
}

impl DirectIndex {
    /// Builds the index, or `None` when the values are too sparse (or too
    /// many rows for `u32`); NULL keys match nothing and are left out.
    fn build(keys: &datafusion::arrow::array::Int64Array) -> Option<Self> {
        let valid = || keys.iter().flatten();
        let (min, max) = valid().fold(None, |acc: Option<(i64, i64)>, k| match acc {
            None => Some((k, k)),
            Some((lo, hi)) => Some((lo.min(k), hi.max(k))),
        })?;
        let span = i128::from(max) - i128::from(min) + 1;
        let rows = keys.len();
        if rows >= u32::MAX as usize || span > 4 * rows as i128 + 1024 {
            return None;
        }
        let span = span as usize;
        let mut offsets = vec![0u32; span + 1];
        for k in valid() {
            offsets[(k - min) as usize + 1] += 1;
        }
        for i in 0..span {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut out = vec![0u32; offsets[span] as usize];
        for (r, k) in keys.iter().enumerate() {
            if let Some(k) = k {
                let slot = &mut fill[(k - min) as usize];
                out[*slot as usize] = r as u32;
                *slot += 1;
            }
        }
        Some(DirectIndex {
            min,
            offsets,
            rows: out,
        })
    }

    /// The table rows whose key is `k`.
    fn get(&self, k: i64) -> &[u32] {
        let d = i128::from(k) - i128::from(self.min);
        if d < 0 || d >= (self.offsets.len() - 1) as i128 {
            return &[];
        }
        let d = d as usize;
        &self.rows[self.offsets[d] as usize..self.offsets[d + 1] as usize]
    }
}

/// A single integer key's values as Int64, when `exprs` is one integer
/// expression that evaluates without error.
fn integer_key(
    exprs: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
) -> Option<datafusion::arrow::array::Int64Array> {
    let [e] = exprs else {
        return None;
    };
    let a = e.evaluate(batch).ok()?.into_array(batch.num_rows()).ok()?;
    if !a.data_type().is_integer() {
        return None;
    }
    let a = cast(&a, &DataType::Int64).ok()?;
    Some(a.as_primitive::<Int64Type>().clone())
}

/// The run-time state of a join.
pub(crate) struct JoinState {
    sides: [SideStore; 2],
    converter: Option<RowConverter>,
    table: Option<Arc<dyn ReferenceSource>>,
    table_index: Option<TableIndex>,
}

fn df(e: DataFusionError) -> EngineError {
    EngineError::BatchSchema {
        stream: String::new(),
        message: crate::plan::clean_df_message(&e),
    }
}

impl JoinState {
    pub(crate) fn new(plan: &JoinPlan, tables: &[Arc<dyn ReferenceSource>]) -> Result<Self> {
        let key_types: Vec<DataType> = plan
            .left
            .keys
            .iter()
            .map(|k| k.data_type(&plan.left.schema))
            .collect::<DfResult<_>>()
            .map_err(df)?;
        let converter = if key_types.is_empty() {
            None
        } else {
            Some(
                RowConverter::new(key_types.into_iter().map(SortField::new).collect())
                    .map_err(|e| df(e.into()))?,
            )
        };
        let table = match &plan.right {
            JoinRight::Table(t) => Some(Arc::clone(tables.get(t.table).ok_or_else(|| {
                EngineError::BatchSchema {
                    stream: String::new(),
                    message: format!("reference table #{} is not loaded", t.table),
                }
            })?)),
            JoinRight::Stream(_) => None,
        };
        Ok(Self {
            sides: [SideStore::default(), SideStore::default()],
            converter,
            table,
            table_index: None,
        })
    }

    /// Hash keys of a side batch; `None` when the join has no keys. A row
    /// with a NULL key part never matches; a row whose key fails to
    /// evaluate goes to error_stream and matches nothing.
    fn keys(
        &self,
        exprs: &[Arc<dyn PhysicalExpr>],
        batch: &RecordBatch,
        pump: &str,
        out: &mut Output,
    ) -> Option<KeyBytes> {
        let conv = self.converter.as_ref()?;
        match key_rows(conv, exprs, batch) {
            Ok((rows, valid)) => Some(KeyBytes::Rows(rows, valid)),
            Err(_) => Some(KeyBytes::Each(
                (0..batch.num_rows())
                    .map(|i| {
                        let row = batch.slice(i, 1);
                        match key_rows(conv, exprs, &row) {
                            Ok((rows, valid)) => valid[0].then(|| Box::from(rows.row(0).as_ref())),
                            Err(e) => {
                                out.errors.push(super::project::row_error(&row, pump, &e));
                                None
                            }
                        }
                    })
                    .collect(),
            )),
        }
    }

    /// The earliest ROWTIME a held row has (rows a restart must see again).
    /// Rows held on each side (for tests of bounded state).
    #[cfg(test)]
    pub(crate) fn held_rows(&self) -> usize {
        self.sides.iter().map(|s| s.times.len()).sum()
    }

    pub(crate) fn retained_since(&self) -> Option<i64> {
        self.sides
            .iter()
            .filter_map(|s| s.times.front().copied())
            .min()
    }

    /// When held rows next leave a window because of time alone (the
    /// instant after the window's end), for outer sides that emit then.
    pub(crate) fn next_expiry(&self, plan: &JoinPlan) -> Option<i64> {
        (0..2)
            .filter(|&s| plan.kind.keeps(s))
            .filter_map(|s| match plan.side(s)?.window {
                SideWindow::Range(d) => {
                    let st = &self.sides[s];
                    // The oldest unmatched held row decides.
                    let k = st.matched.iter().position(|m| !m)?;
                    Some(st.times[k].saturating_add(d).saturating_add(1))
                }
                SideWindow::Rows(_) => None,
            })
            .min()
    }

    /// A batch arrived on side `s`: the joined rows it makes.
    pub(crate) fn push(
        &mut self,
        plan: &JoinPlan,
        s: usize,
        batch: &RecordBatch,
        pump: &str,
        out: &mut Output,
    ) -> Result<Option<RecordBatch>> {
        match &plan.right {
            JoinRight::Table(t) => self.push_table(plan, t, batch, pump, out),
            JoinRight::Stream(_) => self.push_stream(plan, s, batch, pump, out),
        }
    }

    fn push_stream(
        &mut self,
        plan: &JoinPlan,
        s: usize,
        batch: &RecordBatch,
        pump: &str,
        out: &mut Output,
    ) -> Result<Option<RecordBatch>> {
        let n = batch.num_rows();
        let Some(side) = plan.side(s) else {
            return Ok(None);
        };
        let Some(other_side) = plan.side(1 - s) else {
            return Ok(None);
        };
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&side.schema),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| df(e.into()))?;
        let times: Vec<i64> = rowtimes(&batch)?.to_vec();
        let keys = self.keys(&side.keys, &batch, pump, out);

        // Candidate pairs: (row of the new batch, held id on the other side).
        let other = &self.sides[1 - s];
        let mut pairs: Vec<(u32, u64)> = Vec::new();
        for (i, &ti) in times.iter().enumerate() {
            let mut consider = |id: u64| {
                let tj = other.time(id);
                let at = ti.max(tj);
                let own_ok = match side.window {
                    SideWindow::Range(d) => ti >= at.saturating_sub(d),
                    SideWindow::Rows(_) => true,
                };
                if own_ok && other.in_window(other_side.window, id, at) {
                    pairs.push((i as u32, id));
                }
            };
            match &keys {
                Some(k) => {
                    if let Some(k) = k.get(i) {
                        other.with_key(k).for_each(&mut consider);
                    }
                }
                None => (other.base..other.next).for_each(&mut consider),
            }
        }

        // Joined rows of the candidates, then the residual condition.
        let mut joined = self.build(plan, s, &batch, &times, &pairs)?;
        let mut pass: Vec<bool> = vec![true; pairs.len()];
        if let (Some(cond), Some(j)) = (&plan.residual, &joined) {
            pass = residual_mask(cond, j, pump, out);
            let mask = BooleanArray::from(pass.clone());
            joined = Some(
                datafusion::arrow::compute::filter_record_batch(j, &mask)
                    .map_err(|e| df(e.into()))?,
            );
        }
        let mut new_matched = vec![false; n];
        for (k, &(i, id)) in pairs.iter().enumerate() {
            if pass[k] {
                new_matched[i as usize] = true;
                let other = &mut self.sides[1 - s];
                let pos = (id - other.base) as usize;
                other.matched[pos] = true;
            }
        }
        self.sides[s].append(batch, &times, keys, &new_matched);

        // ROWS windows: rows pushed out by the new ones leave now.
        let mut parts: Vec<RecordBatch> = joined.into_iter().collect();
        if let SideWindow::Rows(w) = side.window {
            let now = times.last().copied().unwrap_or(i64::MIN);
            let mut gone = Vec::new();
            let st = &self.sides[s];
            let keep = (w + 1) as usize;
            let excess = st.len().saturating_sub(keep);
            for k in 0..excess {
                if plan.kind.keeps(s) && !st.matched[k] {
                    gone.push((st.base + k as u64, now));
                }
            }
            if let Some(b) = self.unmatched(plan, s, &gone)? {
                parts.push(b);
            }
            for _ in 0..excess {
                self.sides[s].pop();
            }
        }
        sort_parts(parts)
    }

    /// Builds joined rows for pairs (row of the new batch on side `s`, held
    /// id on the other side); ROWTIME is the later of the two.
    fn build(
        &self,
        plan: &JoinPlan,
        s: usize,
        batch: &RecordBatch,
        times: &[i64],
        pairs: &[(u32, u64)],
    ) -> Result<Option<RecordBatch>> {
        if pairs.is_empty() {
            return Ok(None);
        }
        let other = &self.sides[1 - s];
        let rows = UInt32Array::from_iter_values(pairs.iter().map(|p| p.0));
        let new_cols: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c, &rows, None))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| df(e.into()))?;
        let locs: Vec<(usize, usize)> = pairs.iter().map(|p| other.locate(p.1)).collect();
        let other_cols = held_columns(other, &locs)?;
        let rowtime: Vec<i64> = pairs
            .iter()
            .map(|&(i, id)| times[i as usize].max(other.time(id)))
            .collect();
        let (left, right) = if s == 0 {
            (new_cols, other_cols)
        } else {
            (other_cols, new_cols)
        };
        assemble(plan, rowtime, left, right).map(Some)
    }

    /// Joined rows for unmatched held rows of side `s` (id, output ROWTIME),
    /// NULL on the other side.
    fn unmatched(
        &self,
        plan: &JoinPlan,
        s: usize,
        rows: &[(u64, i64)],
    ) -> Result<Option<RecordBatch>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let st = &self.sides[s];
        let locs: Vec<(usize, usize)> = rows.iter().map(|r| st.locate(r.0)).collect();
        let own = held_columns(st, &locs)?;
        let other_schema = match (s, &plan.right) {
            (0, JoinRight::Stream(r)) => &r.schema,
            (0, JoinRight::Table(t)) => &t.schema,
            _ => &plan.left.schema,
        };
        let nulls: Vec<ArrayRef> = other_schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), rows.len()))
            .collect();
        let rowtime = rows.iter().map(|r| r.1).collect();
        let (left, right) = if s == 0 { (own, nulls) } else { (nulls, own) };
        assemble(plan, rowtime, left, right).map(Some)
    }

    /// Time reached `now`: held rows whose window has passed leave; the
    /// unmatched ones of an outer side are emitted at their window's end.
    pub(crate) fn advance(&mut self, plan: &JoinPlan, now: i64) -> Result<Option<RecordBatch>> {
        if matches!(plan.right, JoinRight::Table(_)) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for s in 0..2 {
            let Some(side) = plan.side(s) else { continue };
            let SideWindow::Range(d) = side.window else {
                continue;
            };
            let st = &self.sides[s];
            let limit = now.saturating_sub(d);
            let expired = st.times.partition_point(|&t| t < limit);
            if expired == 0 {
                continue;
            }
            let gone: Vec<(u64, i64)> = if plan.kind.keeps(s) {
                (0..expired)
                    .filter(|&k| !st.matched[k])
                    .map(|k| (st.base + k as u64, st.times[k].saturating_add(d)))
                    .collect()
            } else {
                Vec::new()
            };
            if let Some(b) = self.unmatched(plan, s, &gone)? {
                parts.push(b);
            }
            for _ in 0..expired {
                self.sides[s].pop();
            }
        }
        sort_parts(parts)
    }

    fn push_table(
        &mut self,
        plan: &JoinPlan,
        t: &TableSide,
        batch: &RecordBatch,
        pump: &str,
        out: &mut Output,
    ) -> Result<Option<RecordBatch>> {
        let n = batch.num_rows();
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&plan.left.schema),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| df(e.into()))?;
        self.refresh_table(t, pump, out)?;
        let times: Vec<i64> = rowtimes(&batch)?.to_vec();
        let Some(table) = &self.table_index else {
            return Ok(None);
        };
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(n);
        let direct = table
            .direct
            .as_ref()
            .and_then(|d| Some((d, integer_key(&plan.left.keys, &batch)?)));
        let keys = match direct {
            Some(_) => None,
            None => self.keys(&plan.left.keys, &batch, pump, out),
        };
        match (&keys, direct) {
            (_, Some((d, k))) => {
                for (i, k) in k.iter().enumerate() {
                    if let Some(k) = k {
                        pairs.extend(d.get(k).iter().map(|&r| (i as u32, r)));
                    }
                }
            }
            (Some(k), None) => {
                for i in 0..n {
                    if k.get(i).is_none() {
                        continue;
                    }
                    match &table.direct {
                        // Some key of the batch failed (that row went to
                        // error_stream): the others, one by one.
                        Some(d) => {
                            let one = integer_key(&plan.left.keys, &batch.slice(i, 1));
                            if let Some(v) = one.and_then(|a| a.iter().next().flatten()) {
                                pairs.extend(d.get(v).iter().map(|&r| (i as u32, r)));
                            }
                        }
                        None => {
                            if let Some(ids) = k.get(i).and_then(|b| table.index.get(b)) {
                                pairs.extend(ids.iter().map(|&r| (i as u32, r)));
                            }
                        }
                    }
                }
            }
            (None, None) => {
                let m = table.batch.num_rows() as u32;
                for i in 0..n as u32 {
                    pairs.extend((0..m).map(|r| (i, r)));
                }
            }
        }
        let left_rows = UInt32Array::from_iter_values(pairs.iter().map(|p| p.0));
        let right_rows = UInt32Array::from_iter_values(pairs.iter().map(|p| p.1));
        let left: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c, &left_rows, None))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| df(e.into()))?;
        let right: Vec<ArrayRef> = table
            .batch
            .columns()
            .iter()
            .map(|c| take(c, &right_rows, None))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| df(e.into()))?;
        let rowtime: Vec<i64> = pairs.iter().map(|p| times[p.0 as usize]).collect();
        let mut joined = assemble(plan, rowtime, left, right)?;
        let mut matched = vec![false; n];
        // The stream row each joined row comes from.
        let mut joined_from: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        match &plan.residual {
            Some(cond) if !pairs.is_empty() => {
                let pass = residual_mask(cond, &joined, pump, out);
                for (k, p) in pairs.iter().enumerate() {
                    matched[p.0 as usize] |= pass[k];
                }
                joined_from = joined_from
                    .into_iter()
                    .zip(&pass)
                    .filter_map(|(i, keep)| keep.then_some(i))
                    .collect();
                joined = datafusion::arrow::compute::filter_record_batch(
                    &joined,
                    &BooleanArray::from(pass),
                )
                .map_err(|e| df(e.into()))?;
            }
            _ => pairs.iter().for_each(|p| matched[p.0 as usize] = true),
        }
        if !plan.kind.keeps(0) || matched.iter().all(|m| *m) {
            return Ok((joined.num_rows() > 0).then_some(joined));
        }
        // LEFT OUTER: unmatched stream rows now, in input order with the
        // matches (the output stays in ROWTIME order).
        let un: Vec<u32> = (0..n as u32).filter(|&i| !matched[i as usize]).collect();
        let idx = UInt32Array::from(un.clone());
        let left: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c, &idx, None))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| df(e.into()))?;
        let right: Vec<ArrayRef> = t
            .schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), un.len()))
            .collect();
        let rowtime = un.iter().map(|&i| times[i as usize]).collect();
        let unmatched = assemble(plan, rowtime, left, right)?;
        // In the stream's order: each row's matches, or its NULL-extended
        // row, where the row was (the batch is in ROWTIME order).
        let from: Vec<u32> = joined_from.into_iter().chain(un).collect();
        let all =
            datafusion::arrow::compute::concat_batches(&joined.schema(), [&joined, &unmatched])
                .map_err(|e| df(e.into()))?;
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.sort_by_key(|&k| from[k as usize]);
        reorder(&all, order).map(Some)
    }

    /// Rebuilds the table's hash index when a reload swapped in a new
    /// snapshot.
    fn refresh_table(&mut self, t: &TableSide, pump: &str, out: &mut Output) -> Result<()> {
        let Some(source) = &self.table else {
            return Ok(());
        };
        let (version, batch) = source.current();
        if self
            .table_index
            .as_ref()
            .is_some_and(|i| i.version == version)
        {
            return Ok(());
        }
        let rows = batch.num_rows();
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&t.schema),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| EngineError::BatchSchema {
            stream: String::new(),
            message: format!("reference table rows do not fit the table's columns: {e}"),
        })?;
        let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        let direct = integer_key(&t.keys, &batch).and_then(|k| DirectIndex::build(&k));
        if direct.is_some() {
            // The direct index answers every lookup.
        } else if let Some(keys) = self.keys(&t.keys, &batch, pump, out) {
            index.reserve(rows);
            for r in 0..rows {
                if let Some(k) = keys.get(r) {
                    index.entry(Box::from(k)).or_default().push(r as u32);
                }
            }
        }
        self.table_index = Some(TableIndex {
            version,
            batch,
            index,
            direct,
        });
        Ok(())
    }
}

/// Hash keys of a batch's rows.
enum KeyBytes {
    /// Converted at once; `false` where a key part is NULL.
    Rows(Rows, Vec<bool>),
    /// Converted row by row (some rows failed).
    Each(Vec<Option<Box<[u8]>>>),
}

impl KeyBytes {
    fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            KeyBytes::Rows(rows, valid) => valid[i].then(|| rows.row(i).data()),
            KeyBytes::Each(v) => v[i].as_deref(),
        }
    }
}

fn key_rows(
    conv: &RowConverter,
    exprs: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
) -> DfResult<(Rows, Vec<bool>)> {
    let n = batch.num_rows();
    let mut cols = Vec::with_capacity(exprs.len());
    let mut valid = vec![true; n];
    for e in exprs {
        let a = e.evaluate(batch)?.into_array(n)?;
        if a.null_count() > 0 {
            for (i, v) in valid.iter_mut().enumerate() {
                *v &= a.is_valid(i);
            }
        }
        cols.push(a);
    }
    Ok((conv.convert_columns(&cols)?, valid))
}

/// Columns of held rows at (batch position, row) locations.
///
/// Only the held batches the rows are in go to `interleave`, whose cost
/// grows with the number of arrays it is given: a side fed row by row (or
/// ROWTIME by ROWTIME) can hold thousands of small batches, and passing
/// them all made every probe cost as much as the whole window.
fn held_columns(st: &SideStore, locs: &[(usize, usize)]) -> Result<Vec<ArrayRef>> {
    let Some((_, first)) = st.batches.front() else {
        return Ok(Vec::new());
    };
    let mut slots: HashMap<usize, usize> = HashMap::new();
    let mut used: Vec<usize> = Vec::new();
    let locs: Vec<(usize, usize)> = locs
        .iter()
        .map(|&(b, r)| {
            let slot = *slots.entry(b).or_insert_with(|| {
                used.push(b);
                used.len() - 1
            });
            (slot, r)
        })
        .collect();
    if used.is_empty() {
        // No rows: empty columns of the right types, from the first batch.
        used.push(0);
    }
    let ncols = first.num_columns();
    (0..ncols)
        .map(|c| {
            let arrays: Vec<&dyn Array> = used
                .iter()
                .filter_map(|&b| st.batches.get(b))
                .map(|(_, batch)| batch.column(c).as_ref())
                .collect();
            interleave(&arrays, &locs).map_err(|e| df(e.into()))
        })
        .collect()
}

/// A joined batch from ROWTIME and both sides' columns.
fn assemble(
    plan: &JoinPlan,
    rowtime: Vec<i64>,
    left: Vec<ArrayRef>,
    right: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let n = rowtime.len();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(1 + left.len() + right.len());
    cols.push(Arc::new(
        datafusion::arrow::array::TimestampMillisecondArray::from(rowtime),
    ));
    cols.extend(left);
    cols.extend(right);
    RecordBatch::try_new_with_options(
        Arc::clone(&plan.joined),
        cols,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(|e| df(e.into()))
}

/// One batch of several, in ROWTIME order (stable).
fn sort_parts(parts: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
    let parts: Vec<RecordBatch> = parts.into_iter().filter(|b| b.num_rows() > 0).collect();
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    let all =
        datafusion::arrow::compute::concat_batches(&schema, &parts).map_err(|e| df(e.into()))?;
    let times = rowtimes(&all)?;
    if times.windows(2).all(|w| w[0] <= w[1]) {
        return Ok(Some(all));
    }
    let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
    order.sort_by_key(|&i| times[i as usize]);
    reorder(&all, order).map(Some)
}

/// `batch`'s rows in `order`.
fn reorder(batch: &RecordBatch, order: Vec<u32>) -> Result<RecordBatch> {
    let idx = UInt32Array::from(order);
    let cols = batch
        .columns()
        .iter()
        .map(|c| take(c, &idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| df(e.into()))?;
    RecordBatch::try_new(batch.schema(), cols).map_err(|e| df(e.into()))
}

fn rowtimes(batch: &RecordBatch) -> Result<&[i64]> {
    batch
        .column(0)
        .as_primitive_opt::<TimestampMillisecondType>()
        .map(|a| a.values().as_ref())
        .ok_or_else(|| EngineError::BatchSchema {
            stream: String::new(),
            message: "column 0 must be ROWTIME (TIMESTAMP)".into(),
        })
}

/// Evaluates the residual condition per joined row; a row whose condition
/// fails to evaluate goes to error_stream and does not match.
fn residual_mask(
    cond: &Arc<dyn PhysicalExpr>,
    joined: &RecordBatch,
    pump: &str,
    out: &mut Output,
) -> Vec<bool> {
    let eval = |b: &RecordBatch| -> DfResult<Vec<bool>> {
        let a = cond.evaluate(b)?.into_array(b.num_rows())?;
        let m = a
            .as_boolean_opt()
            .ok_or_else(|| DataFusionError::Plan("ON is not a boolean condition".into()))?;
        Ok((0..m.len()).map(|i| m.is_valid(i) && m.value(i)).collect())
    };
    match eval(joined) {
        Ok(v) => v,
        Err(_) => (0..joined.num_rows())
            .map(|i| {
                let row = joined.slice(i, 1);
                match eval(&row) {
                    Ok(v) => v[0],
                    Err(e) => {
                        out.errors.push(super::project::row_error(&row, pump, &e));
                        false
                    }
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    #[test]
    fn direct_index_finds_every_row_of_a_value_in_table_order() {
        let keys = Int64Array::from(vec![Some(7), Some(5), None, Some(7), Some(6)]);
        let d = DirectIndex::build(&keys).expect("dense keys");
        assert_eq!(d.get(7), &[0, 3]);
        assert_eq!(d.get(5), &[1]);
        assert_eq!(d.get(6), &[4]);
        // Out of range on either side, and values with no row.
        assert!(d.get(4).is_empty());
        assert!(d.get(8).is_empty());
        assert!(d.get(i64::MIN).is_empty());
        assert!(d.get(i64::MAX).is_empty());
    }

    #[test]
    fn direct_index_is_refused_for_sparse_or_all_null_keys() {
        let sparse = Int64Array::from(vec![0, 1_000_000_000]);
        assert!(DirectIndex::build(&sparse).is_none());
        let extremes = Int64Array::from(vec![i64::MIN, i64::MAX]);
        assert!(DirectIndex::build(&extremes).is_none());
        let nulls = Int64Array::from(vec![None::<i64>, None]);
        assert!(DirectIndex::build(&nulls).is_none());
    }

    #[test]
    fn integer_key_is_only_for_one_integer_expression() {
        use datafusion::arrow::array::{Int32Array, StringArray};
        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::physical_expr::expressions::Column;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(3), None])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .expect("batch");
        let id: Arc<dyn PhysicalExpr> = Arc::new(Column::new("id", 0));
        let name: Arc<dyn PhysicalExpr> = Arc::new(Column::new("name", 1));
        let k = integer_key(std::slice::from_ref(&id), &batch).expect("integer key");
        assert_eq!(k.iter().collect::<Vec<_>>(), vec![Some(3), None]);
        assert!(integer_key(std::slice::from_ref(&name), &batch).is_none());
        assert!(integer_key(&[id, name], &batch).is_none());
    }
}
