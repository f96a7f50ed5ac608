//! Sliding windows: aggregates `OVER (PARTITION BY .. RANGE INTERVAL ..
//! PRECEDING)` or `OVER (.. ROWS n PRECEDING)`, inline or through a named
//! `WINDOW W1 AS (...)`.
//!
//! One output row per input row, with that row's ROWTIME. The window of a
//! row holds the rows of its partition that arrived before it, up to and
//! including itself (rows sharing its ROWTIME count when they arrived
//! earlier, as in the SQL Reference's examples):
//! - `RANGE INTERVAL 'x' unit PRECEDING`: rows whose ROWTIME is at or after
//!   the row's ROWTIME minus the interval (the lower bound is inclusive);
//! - `ROWS n PRECEDING`: the row and the `n` rows before it.
//!
//! Everything is incremental, per partition ([`SlidingState`]): a row
//! entering the window is added to each aggregate and a row leaving it is
//! retracted, so COUNT, SUM, AVG and the variances cost O(1) per row; MIN
//! and MAX keep a monotonic deque (amortized O(1)); FIRST_VALUE,
//! LAST_VALUE and LAG read the window's ring of values. The window is never
//! rescanned. Rows leave when the window moves past them, and partitions
//! that receive no rows for a whole RANGE are dropped by a periodic sweep,
//! so memory is bounded by what the windows hold.
//!
//! The planner ([`crate::plan`]) builds a [`SlidingPlan`]; the select list
//! is then evaluated over the source row's columns followed by one column
//! per aggregate (`__a0`, `__a1`, ...).
mod circular;

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    Field, Float64Type, Int64Type, Schema, TimestampMillisecondType,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::HashMap;
use datafusion::error::DataFusionError;

use super::Output;
use super::project::{filter_project, guarded};
use crate::error::{EngineError, Result};
use crate::plan::{
    Frame, PumpDef, SlidingAggregate, SlidingFunction, SlidingPlan, StreamDef, ValueKind,
};
use circular::Circular;

/// A value read from a ring or an argument column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val<'a> {
    Null,
    Int(i64),
    Float(f64),
    Str(&'a str),
}

/// How many partitions ahead of the one taking its rows a batch reads the
/// held rows the next partitions will touch ([`WindowState::touch`]):
/// enough for their cache misses to overlap, few enough that their memory
/// pages stay in the TLB until used.
const TOUCH_AHEAD: usize = 16;

/// How many partitions' held rows are read at once, every that many
/// partitions. A read that misses cache holds up the processor once the
/// work after it fills its reorder window, and one partition's rows are
/// far more work than that window: read one partition at a time, every
/// miss stalled on its own. Reads of several partitions in one short loop
/// are in flight together and stall once (W2 with a 1-hour window: 11.5M
/// rows/s one at a time, 12.5–13.5M in groups of 8).
const TOUCH_GROUP: usize = 8;

/// Reads the first two cache lines of the free slots after `c`'s newest
/// value, where a batch's next rows of the partition go in, and when rows
/// are `leaving`, of its oldest values, where they leave. Returns their
/// sum, for `black_box`.
fn touch_lines<T: Copy + Default + std::ops::Add<Output = T>>(c: &Circular<T>, leaving: bool) -> T {
    const PER_LINE: usize = 64 / 8;
    let next = c.next_slot(0) + c.next_slot(PER_LINE);
    if leaving {
        let at = |i| c.get(i).unwrap_or_default();
        next + at(0) + at(PER_LINE)
    } else {
        next
    }
}

/// The values of one argument for the rows in a partition's window, oldest
/// first. Numbers are kept dense (8 bytes a row) until the first NULL
/// comes; a long window holds millions of them.
#[derive(Debug)]
enum Ring {
    /// Integers, none NULL so far.
    IntDense(Circular<i64>),
    Int(VecDeque<Option<i64>>),
    /// Floats, none NULL so far.
    FloatDense(Circular<f64>),
    Float(VecDeque<Option<f64>>),
    Str(VecDeque<Option<Box<str>>>),
}

impl Ring {
    fn new(kind: ValueKind) -> Self {
        match kind {
            ValueKind::Int => Ring::IntDense(Circular::new()),
            ValueKind::Float => Ring::FloatDense(Circular::new()),
            ValueKind::Str => Ring::Str(VecDeque::new()),
        }
    }

    fn push(&mut self, v: Val<'_>) {
        match (&mut *self, v) {
            (Ring::IntDense(r), Val::Int(x)) => r.push_back(x),
            (Ring::FloatDense(r), Val::Float(x)) => r.push_back(x),
            (Ring::Int(r), Val::Int(x)) => r.push_back(Some(x)),
            (Ring::Float(r), Val::Float(x)) => r.push_back(Some(x)),
            (Ring::Str(r), Val::Str(x)) => r.push_back(Some(x.into())),
            (Ring::IntDense(r), _) => {
                let mut sparse: VecDeque<Option<i64>> = r.iter().map(Some).collect();
                sparse.push_back(None);
                *self = Ring::Int(sparse);
            }
            (Ring::FloatDense(r), _) => {
                let mut sparse: VecDeque<Option<f64>> = r.iter().map(Some).collect();
                sparse.push_back(None);
                *self = Ring::Float(sparse);
            }
            (Ring::Int(r), _) => r.push_back(None),
            (Ring::Float(r), _) => r.push_back(None),
            (Ring::Str(r), _) => r.push_back(None),
        }
    }

    /// Pushes the values of `col` at `rows`, in that order.
    fn extend(&mut self, col: &ArgColumn<'_>, rows: &[usize]) {
        match (&mut *self, col) {
            (Ring::IntDense(r), ArgColumn::Int(a)) if a.null_count() == 0 => {
                let v = a.values();
                r.extend(rows.iter().map(|&i| v[i]));
            }
            (Ring::FloatDense(r), ArgColumn::Float(a)) if a.null_count() == 0 => {
                let v = a.values();
                r.extend(rows.iter().map(|&i| v[i]));
            }
            _ => {
                for &i in rows {
                    self.push(col.get(i));
                }
            }
        }
    }

    /// Drops the `n` oldest values.
    fn drop_front(&mut self, n: usize) {
        match self {
            Ring::IntDense(r) => r.drop_front(n),
            Ring::FloatDense(r) => r.drop_front(n),
            Ring::Int(r) => drop(r.drain(..n.min(r.len()))),
            Ring::Float(r) => drop(r.drain(..n.min(r.len()))),
            Ring::Str(r) => drop(r.drain(..n.min(r.len()))),
        }
    }

    /// For numbers, reads the slots the next values go in and, when rows
    /// are `leaving`, the oldest values (see [`Circular`]); for the others
    /// the oldest value when rows are leaving. Returns bits of them for
    /// `black_box`.
    fn touch(&self, leaving: bool) -> i64 {
        match self {
            Ring::IntDense(r) => touch_lines(r, leaving),
            Ring::FloatDense(r) => touch_lines(r, leaving).to_bits() as i64,
            _ if !leaving => 0,
            _ => match self.get(0) {
                Val::Int(x) => x,
                Val::Float(x) => x.to_bits() as i64,
                Val::Str(x) => x.len() as i64,
                Val::Null => 0,
            },
        }
    }

    fn clear(&mut self) {
        match self {
            Ring::IntDense(r) => r.clear(),
            Ring::FloatDense(r) => r.clear(),
            Ring::Int(r) => r.clear(),
            Ring::Float(r) => r.clear(),
            Ring::Str(r) => r.clear(),
        }
    }

    fn pop_front(&mut self) {
        match self {
            Ring::IntDense(r) => r.drop_front(1),
            Ring::FloatDense(r) => r.drop_front(1),
            Ring::Int(r) => drop(r.pop_front()),
            Ring::Float(r) => drop(r.pop_front()),
            Ring::Str(r) => drop(r.pop_front()),
        }
    }

    fn get(&self, i: usize) -> Val<'_> {
        match self {
            Ring::IntDense(r) => r.get(i).map_or(Val::Null, Val::Int),
            Ring::FloatDense(r) => r.get(i).map_or(Val::Null, Val::Float),
            Ring::Int(r) => r.get(i).copied().flatten().map_or(Val::Null, Val::Int),
            Ring::Float(r) => r.get(i).copied().flatten().map_or(Val::Null, Val::Float),
            Ring::Str(r) => r
                .get(i)
                .and_then(|s| s.as_deref())
                .map_or(Val::Null, Val::Str),
        }
    }
}

/// A monotonic deque of (sequence number, value): the front is the window's
/// MIN (or MAX); values that can never be the answer again are dropped.
#[derive(Debug)]
enum MonoDeque {
    Int(VecDeque<(u64, i64)>),
    Float(VecDeque<(u64, f64)>),
    Str(VecDeque<(u64, Box<str>)>),
}

impl MonoDeque {
    fn new(kind: ValueKind) -> Self {
        match kind {
            ValueKind::Int => MonoDeque::Int(VecDeque::new()),
            ValueKind::Float => MonoDeque::Float(VecDeque::new()),
            ValueKind::Str => MonoDeque::Str(VecDeque::new()),
        }
    }

    /// Adds a value; `max` keeps the largest at the front, else the smallest.
    fn push(&mut self, seq: u64, v: Val<'_>, max: bool) {
        fn push_t<T: PartialOrd>(d: &mut VecDeque<(u64, T)>, seq: u64, x: T, max: bool) {
            while let Some((_, back)) = d.back() {
                // Ties: the newer value replaces the older (it leaves later).
                let dominated = if max { *back <= x } else { *back >= x };
                if dominated {
                    d.pop_back();
                } else {
                    break;
                }
            }
            d.push_back((seq, x));
        }
        match (self, v) {
            (MonoDeque::Int(d), Val::Int(x)) => push_t(d, seq, x, max),
            (MonoDeque::Float(d), Val::Float(x)) if !x.is_nan() => push_t(d, seq, x, max),
            (MonoDeque::Str(d), Val::Str(x)) => push_t(d, seq, Box::<str>::from(x), max),
            _ => {}
        }
    }

    /// Keeps only the current extreme (an unbounded window: nothing
    /// expires, so the values after it can never become the extreme).
    fn keep_front(&mut self) {
        match self {
            MonoDeque::Int(d) => d.truncate(1),
            MonoDeque::Float(d) => d.truncate(1),
            MonoDeque::Str(d) => d.truncate(1),
        }
    }

    /// The row with sequence number `seq` left the window.
    fn expire(&mut self, seq: u64) {
        match self {
            MonoDeque::Int(d) => {
                if d.front().is_some_and(|(s, _)| *s <= seq) {
                    d.pop_front();
                }
            }
            MonoDeque::Float(d) => {
                if d.front().is_some_and(|(s, _)| *s <= seq) {
                    d.pop_front();
                }
            }
            MonoDeque::Str(d) => {
                if d.front().is_some_and(|(s, _)| *s <= seq) {
                    d.pop_front();
                }
            }
        }
    }

    fn front(&self) -> Val<'_> {
        match self {
            MonoDeque::Int(d) => d.front().map_or(Val::Null, |(_, x)| Val::Int(*x)),
            MonoDeque::Float(d) => d.front().map_or(Val::Null, |(_, x)| Val::Float(*x)),
            MonoDeque::Str(d) => d.front().map_or(Val::Null, |(_, x)| Val::Str(x)),
        }
    }
}

/// Running state of one aggregate in one partition.
#[derive(Debug)]
enum AggState {
    /// COUNT: rows (or non-NULL values) in the window.
    Count(i64),
    /// SUM / AVG of integers: exact.
    SumInt { sum: i128, n: i64 },
    /// SUM / AVG of floating-point values.
    SumFloat { sum: f64, n: i64 },
    /// Variance and standard deviation: Welford's mean and M2, with removal.
    Moments { n: i64, mean: f64, m2: f64 },
    /// MIN / MAX.
    Extreme(MonoDeque),
    /// FIRST_VALUE, LAST_VALUE, LAG: read from the ring.
    Positional,
    /// ANY / EVERY: TRUE and non-NULL values in the window.
    Bools { trues: i64, values: i64 },
}

impl AggState {
    fn new(a: &SlidingAggregate, kind: Option<ValueKind>) -> Self {
        use SlidingFunction::*;
        match (a.function, kind) {
            (Count, _) => AggState::Count(0),
            (BoolOr | BoolAnd, _) => AggState::Bools {
                trues: 0,
                values: 0,
            },
            (Sum | Avg, Some(ValueKind::Int)) => AggState::SumInt { sum: 0, n: 0 },
            (Sum | Avg, _) => AggState::SumFloat { sum: 0.0, n: 0 },
            (VarPop | VarSamp | StddevPop | StddevSamp, _) => AggState::Moments {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            (Min | Max, k) => AggState::Extreme(MonoDeque::new(k.unwrap_or(ValueKind::Int))),
            (FirstValue | LastValue | Lag { .. } | ExpAvg { .. } | NthValue { .. }, _) => {
                AggState::Positional
            }
        }
    }

    fn add(&mut self, f: SlidingFunction, seq: u64, v: Val<'_>, counts_all: bool) {
        match self {
            AggState::Count(n) => {
                if counts_all || v != Val::Null {
                    *n += 1;
                }
            }
            AggState::SumInt { sum, n } => {
                if let Val::Int(x) = v {
                    *sum += i128::from(x);
                    *n += 1;
                }
            }
            AggState::SumFloat { sum, n } => {
                if let Some(x) = as_f64(v) {
                    *sum += x;
                    *n += 1;
                }
            }
            AggState::Moments { n, mean, m2 } => {
                if let Some(x) = as_f64(v) {
                    *n += 1;
                    let d = x - *mean;
                    *mean += d / *n as f64;
                    *m2 += d * (x - *mean);
                }
            }
            AggState::Extreme(d) => d.push(seq, v, f == SlidingFunction::Max),
            AggState::Positional => {}
            AggState::Bools { trues, values } => {
                if let Val::Int(x) = v {
                    *values += 1;
                    *trues += i64::from(x != 0);
                }
            }
        }
    }

    fn retract(&mut self, seq: u64, v: Val<'_>, counts_all: bool) {
        match self {
            AggState::Bools { trues, values } => {
                if let Val::Int(x) = v {
                    *values -= 1;
                    *trues -= i64::from(x != 0);
                }
            }
            AggState::Count(n) => {
                if counts_all || v != Val::Null {
                    *n -= 1;
                }
            }
            AggState::SumInt { sum, n } => {
                if let Val::Int(x) = v {
                    *sum -= i128::from(x);
                    *n -= 1;
                }
            }
            AggState::SumFloat { sum, n } => {
                if let Some(x) = as_f64(v) {
                    *n -= 1;
                    // Start again from an exact zero when the window empties,
                    // so rounding left by removals does not linger.
                    *sum = if *n == 0 { 0.0 } else { *sum - x };
                }
            }
            AggState::Moments { n, mean, m2 } => {
                if let Some(x) = as_f64(v) {
                    if *n <= 1 {
                        (*n, *mean, *m2) = (0, 0.0, 0.0);
                    } else {
                        let old_mean = *mean;
                        *n -= 1;
                        *mean = (old_mean * (*n + 1) as f64 - x) / *n as f64;
                        *m2 -= (x - old_mean) * (x - *mean);
                        if *m2 < 0.0 {
                            *m2 = 0.0;
                        }
                    }
                }
            }
            AggState::Extreme(d) => d.expire(seq),
            AggState::Positional => {}
        }
    }
}

fn as_f64(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Int(x) => Some(x as f64),
        Val::Float(x) => Some(x),
        _ => None,
    }
}

/// The rows of one partition inside its window.
#[derive(Debug)]
struct Partition {
    /// The partition key in Arrow row format (to forget it when it empties).
    key: Box<[u8]>,
    /// ROWTIMEs of the rows in the window, oldest first.
    times: Circular<i64>,
    /// One ring per stored argument of the window.
    rings: Vec<Ring>,
    /// One state per aggregate of the window.
    aggs: Vec<AggState>,
    /// Sequence number the next row gets; the oldest row's is `next_seq - times.len()`.
    next_seq: u64,
    /// An unbounded window's first ROWTIME: its totals hold every row since.
    first: Option<i64>,
}

/// Run-time state of one window specification.
struct WindowState {
    /// Encodes PARTITION BY values as bytes (`None`: no PARTITION BY).
    converter: Option<RowConverter>,
    /// Partition key bytes → slot in `parts`.
    index: HashMap<Box<[u8]>, usize>,
    parts: Vec<Option<Partition>>,
    free: Vec<usize>,
    /// Argument (index into the plan's args) of each ring.
    ring_args: Vec<usize>,
    /// Storage kind of each ring.
    ring_kinds: Vec<ValueKind>,
    /// The plan's aggregates over this window, with the ring each reads.
    aggs: Vec<(usize, Option<usize>)>,
    /// Last time a sweep dropped idle partitions.
    last_sweep: i64,
}

/// Open sliding windows of a pump, one [`WindowState`] per window specification.
pub(crate) struct SlidingState {
    windows: Vec<WindowState>,
}

impl SlidingState {
    /// The oldest ROWTIME of a row held in any window (see
    /// `Application::retained_since`).
    /// Rows held in windows and live partitions, over all windows (for
    /// tests of bounded state).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let parts = self.windows.iter().flat_map(|w| w.parts.iter().flatten());
        parts.fold((0, 0), |(rows, n), p| (rows + p.times.len(), n + 1))
    }

    pub(crate) fn retained_since(&self) -> Option<i64> {
        self.windows
            .iter()
            .flat_map(|w| w.parts.iter().flatten())
            .filter_map(|p| p.times.front().or(p.first))
            .min()
    }
}

/// A run of rows of one partition in a batch, in arrival order, with the
/// batch's columns they are read from.
struct Run<'a> {
    /// Indices of the run's rows in the batch.
    rows: &'a [usize],
    /// The batch's ROWTIMEs.
    times: &'a [i64],
    /// The batch's evaluated window arguments.
    args: &'a [ArgColumn<'a>],
    /// The batch's LAG defaults, per aggregate.
    defaults: &'a [Option<ArgColumn<'a>>],
}

/// One row's window in its partition's held rows: positions `lo..=cur`
/// (`cur` is the row itself).
#[derive(Debug, Clone, Copy)]
struct Span {
    lo: usize,
    cur: usize,
}

impl Span {
    fn len(self) -> usize {
        self.cur + 1 - self.lo
    }
}

/// An evaluated argument column, in its storage type (downcast once per
/// batch, not per row).
enum ArgColumn<'a> {
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Str(&'a StringArray),
}

impl<'a> ArgColumn<'a> {
    /// `c` as a column of `kind`'s storage type.
    fn of(kind: ValueKind, c: &'a ArrayRef) -> Option<Self> {
        Some(match kind {
            ValueKind::Int => ArgColumn::Int(c.as_primitive_opt::<Int64Type>()?),
            ValueKind::Float => ArgColumn::Float(c.as_primitive_opt::<Float64Type>()?),
            ValueKind::Str => ArgColumn::Str(c.as_string_opt::<i32>()?),
        })
    }

    /// [`ArgColumn::of`], or the error naming pump `p`.
    fn typed(kind: ValueKind, c: &'a ArrayRef, p: &PumpDef) -> Result<Self> {
        ArgColumn::of(kind, c).ok_or_else(|| EngineError::Plan {
            location: p.declared_at,
            message: format!(
                "a window argument evaluated to {}, not {kind:?}",
                c.data_type()
            ),
        })
    }

    fn get(&self, i: usize) -> Val<'a> {
        match self {
            ArgColumn::Int(a) => {
                if a.is_valid(i) {
                    Val::Int(a.value(i))
                } else {
                    Val::Null
                }
            }
            ArgColumn::Float(a) => {
                if a.is_valid(i) {
                    Val::Float(a.value(i))
                } else {
                    Val::Null
                }
            }
            ArgColumn::Str(a) => {
                if a.is_valid(i) {
                    Val::Str(a.value(i))
                } else {
                    Val::Null
                }
            }
        }
    }
}

/// One aggregate's output column, written by row index: rows are
/// processed grouped by partition, not in input order.
enum OutColumn {
    Int(Vec<i64>, Vec<bool>),
    Float(Vec<f64>, Vec<bool>),
    Str(Vec<Option<Box<str>>>),
}

impl OutColumn {
    /// `n` NULLs of this kind.
    fn new(kind: ValueKind, n: usize) -> Self {
        match kind {
            ValueKind::Int => OutColumn::Int(vec![0; n], vec![false; n]),
            ValueKind::Float => OutColumn::Float(vec![0.0; n], vec![false; n]),
            ValueKind::Str => OutColumn::Str(vec![None; n]),
        }
    }

    /// Row `i`'s value; a value of another kind (NULL) leaves it NULL.
    fn set(&mut self, i: usize, v: Val<'_>) {
        match (self, v) {
            (OutColumn::Int(x, ok), Val::Int(v)) => {
                x[i] = v;
                ok[i] = true;
            }
            (OutColumn::Float(x, ok), Val::Float(v)) => {
                x[i] = v;
                ok[i] = true;
            }
            (OutColumn::Float(x, ok), Val::Int(v)) => {
                x[i] = v as f64;
                ok[i] = true;
            }
            (OutColumn::Str(x), Val::Str(v)) => x[i] = Some(v.into()),
            _ => {}
        }
    }

    fn finish(self) -> ArrayRef {
        let nulls = |ok: Vec<bool>| (!ok.iter().all(|v| *v)).then(|| NullBuffer::from(ok));
        match self {
            OutColumn::Int(x, ok) => Arc::new(Int64Array::new(x.into(), nulls(ok))),
            OutColumn::Float(x, ok) => Arc::new(Float64Array::new(x.into(), nulls(ok))),
            OutColumn::Str(x) => Arc::new(x.iter().map(|v| v.as_deref()).collect::<StringArray>()),
        }
    }
}

/// The storage kind an aggregate's result is built in.
fn result_kind(a: &SlidingAggregate, arg: Option<ValueKind>) -> ValueKind {
    use SlidingFunction::*;
    match a.function {
        Count | BoolOr | BoolAnd => ValueKind::Int,
        Sum | Avg => arg.unwrap_or(ValueKind::Int),
        VarPop | VarSamp | StddevPop | StddevSamp | ExpAvg { .. } => ValueKind::Float,
        Min | Max | FirstValue | LastValue | Lag { .. } | NthValue { .. } => {
            arg.unwrap_or(ValueKind::Int)
        }
    }
}

impl SlidingState {
    pub(crate) fn new(plan: &SlidingPlan) -> Result<Self> {
        let mut windows = Vec::with_capacity(plan.windows.len());
        for (w, spec) in plan.windows.iter().enumerate() {
            let converter = if spec.partition_types.is_empty() {
                None
            } else {
                Some(
                    RowConverter::new(
                        spec.partition_types
                            .iter()
                            .map(|t| SortField::new(t.clone()))
                            .collect(),
                    )
                    .map_err(|e| EngineError::Plan {
                        location: Default::default(),
                        message: format!("PARTITION BY of window {}: {e}", spec.name),
                    })?,
                )
            };
            let mut ring_args: Vec<usize> = Vec::new();
            let mut aggs = Vec::new();
            for (j, a) in plan.aggregates.iter().enumerate() {
                if a.window != w {
                    continue;
                }
                let ring = a.arg.map(|arg| {
                    ring_args.iter().position(|&r| r == arg).unwrap_or_else(|| {
                        ring_args.push(arg);
                        ring_args.len() - 1
                    })
                });
                aggs.push((j, ring));
            }
            let ring_kinds = ring_args.iter().map(|&a| plan.args[a].kind).collect();
            windows.push(WindowState {
                converter,
                index: HashMap::default(),
                parts: Vec::new(),
                free: Vec::new(),
                ring_args,
                ring_kinds,
                aggs,
                last_sweep: i64::MIN,
            });
        }
        Ok(Self { windows })
    }

    /// Processes a batch of the source stream: one output row per row that
    /// passes WHERE.
    pub(crate) fn push(
        &mut self,
        plan: &SlidingPlan,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let batch = match &plan.filter {
            Some(f) => super::project::apply_filter(f, batch, &p.name, out),
            None => batch.clone(),
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Evaluate the source columns, arguments, LAG defaults and partition
        // keys together, so a row whose expression fails is dropped from all.
        let ncols = batch.num_columns();
        let evaluated = guarded(&batch, &p.name, out, |b| {
            let rows = b.num_rows();
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            for a in &plan.args {
                let v = a.expr.evaluate(b)?.into_array(rows)?;
                cols.push(cast(&v, &a.kind.storage_type())?);
            }
            for a in &plan.aggregates {
                if let Some(d) = &a.default {
                    let kind = a.arg.map_or(ValueKind::Int, |i| plan.args[i].kind);
                    let v = d.evaluate(b)?.into_array(rows)?;
                    cols.push(cast(&v, &kind.storage_type())?);
                }
            }
            for w in &plan.windows {
                for k in &w.partition_by {
                    cols.push(k.evaluate(b)?.into_array(rows)?);
                }
            }
            let fields: Vec<Field> = cols
                .iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                .collect();
            Ok(RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                cols,
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )?)
        });
        let n = evaluated.num_rows();
        if n == 0 {
            return Ok(());
        }
        let df = |e: DataFusionError| EngineError::Execution {
            context: format!("pump \"{}\"", p.name),
            source: Box::new(e),
        };
        let columns = evaluated.columns();
        let times = columns[0]
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| EngineError::Plan {
                location: p.declared_at,
                message: "ROWTIME is not a TIMESTAMP".into(),
            })?;
        let mut next = ncols;
        let typed = |kind: ValueKind, c| ArgColumn::typed(kind, c, p);
        let mut args = Vec::with_capacity(plan.args.len());
        for a in &plan.args {
            args.push(typed(a.kind, &columns[next])?);
            next += 1;
        }
        let mut defaults: Vec<Option<ArgColumn>> = Vec::with_capacity(plan.aggregates.len());
        for a in &plan.aggregates {
            defaults.push(match &a.default {
                Some(_) => {
                    let kind = a.arg.map_or(ValueKind::Int, |i| plan.args[i].kind);
                    let c = typed(kind, &columns[next])?;
                    next += 1;
                    Some(c)
                }
                None => None,
            });
        }
        let mut builders: Vec<OutColumn> = plan
            .aggregates
            .iter()
            .map(|a| OutColumn::new(result_kind(a, a.arg.map(|i| plan.args[i].kind)), n))
            .collect();
        let mut slots = vec![0usize; n];
        let mut starts: Vec<usize> = Vec::new();
        let mut order: Vec<usize> = vec![0; n];
        let mut lower: Vec<usize> = Vec::new();
        let mut runs: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
        for (w, (spec, state)) in plan.windows.iter().zip(self.windows.iter_mut()).enumerate() {
            let nkeys = spec.partition_by.len();
            let key_cols = &columns[next..next + nkeys];
            next += nkeys;
            state.assign(plan, w, key_cols, &mut slots).map_err(df)?;
            // Rows of one partition together, each partition's in input
            // order: partitions are independent, and a partition's window
            // stays in cache for its run of rows instead of being fetched
            // again for every row (a long window is far bigger than cache).
            // A counting sort by slot: stable, so each partition keeps its
            // rows' input order.
            starts.clear();
            starts.resize(state.parts.len() + 1, 0);
            for &slot in &slots {
                starts[slot + 1] += 1;
            }
            for k in 1..starts.len() {
                starts[k] += starts[k - 1];
            }
            for (i, &slot) in slots.iter().enumerate() {
                order[starts[slot]] = i;
                starts[slot] += 1;
            }
            // `starts[s]` is now the end of partition s's run of rows.
            runs.clear();
            let mut begin = 0;
            for (slot, &end) in starts.iter().enumerate().take(state.parts.len()) {
                if end > begin {
                    runs.push((slot, begin..end));
                }
                begin = end;
            }
            let tv = times.values();
            let leaves_before = match spec.frame {
                Frame::Range(range) => tv.iter().max().map(|&t| t.saturating_sub(range)),
                Frame::Rows(_) | Frame::Unbounded => None,
            };
            let mut touched = 0i64;
            for (slot, _) in runs.iter().take(TOUCH_AHEAD) {
                touched ^= state.touch(*slot, leaves_before);
            }
            for (r, (slot, rows)) in runs.iter().enumerate() {
                if r % TOUCH_GROUP == 0 {
                    for (ahead, _) in runs.iter().skip(r + TOUCH_AHEAD).take(TOUCH_GROUP) {
                        touched ^= state.touch(*ahead, leaves_before);
                    }
                }
                let run = Run {
                    rows: &order[rows.clone()],
                    times: tv,
                    args: &args,
                    defaults: &defaults,
                };
                state.run(plan, spec.frame, *slot, &run, &mut lower, &mut builders);
            }
            std::hint::black_box(touched);
            if let Frame::Range(range) = spec.frame {
                state.sweep(plan, times.value(n - 1), range);
            }
        }
        let mut cols: Vec<ArrayRef> = columns[..ncols].to_vec();
        for (a, b) in plan.aggregates.iter().zip(builders) {
            let v = b.finish();
            let v = if v.data_type() == &a.output_type {
                v
            } else {
                cast(&v, &a.output_type).map_err(|e| df(e.into()))?
            };
            cols.push(v);
        }
        let post = RecordBatch::try_new_with_options(
            Arc::clone(&plan.post_schema),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| df(e.into()))?;
        filter_project(None, &plan.exprs, &post, &p.name, target, out);
        Ok(())
    }
}

impl WindowState {
    /// Finds (or opens) the partition slot of every row.
    fn assign(
        &mut self,
        plan: &SlidingPlan,
        w: usize,
        key_cols: &[ArrayRef],
        slots: &mut [usize],
    ) -> std::result::Result<(), DataFusionError> {
        let Some(conv) = &self.converter else {
            if self.parts.is_empty() {
                let p = self.new_partition(plan, w, Box::default());
                self.parts.push(Some(p));
            }
            if self.parts[0].is_none() {
                self.parts[0] = Some(self.new_partition(plan, w, Box::default()));
            }
            slots.iter_mut().for_each(|s| *s = 0);
            return Ok(());
        };
        let rows = conv.convert_columns(key_cols)?;
        for (i, slot) in slots.iter_mut().enumerate() {
            let key = rows.row(i);
            let bytes: &[u8] = key.as_ref();
            *slot = match self.index.get(bytes) {
                Some(&s) => s,
                None => {
                    let part = self.new_partition(plan, w, bytes.into());
                    let s = match self.free.pop() {
                        Some(s) => {
                            self.parts[s] = Some(part);
                            s
                        }
                        None => {
                            self.parts.push(Some(part));
                            self.parts.len() - 1
                        }
                    };
                    self.index.insert(bytes.into(), s);
                    s
                }
            };
        }
        Ok(())
    }

    /// Reads what the next rows of partition `slot` touch first: the
    /// slots the new rows go in and, when rows may leave, its oldest row
    /// (ROWTIME and values). In a long window those are far out of cache;
    /// reading them a few partitions ahead of the partition taking its rows
    /// ([`TOUCH_AHEAD`]) lets the cache misses overlap instead of stalling
    /// each partition's rows one after another.
    ///
    /// `leaves_before`: in a RANGE window, no row of this batch reaches
    /// back before it (the batch's latest ROWTIME minus the range); a
    /// partition whose oldest row is not older keeps all its rows, and its
    /// oldest rows are not read (a long window that is still filling).
    /// Returns the bits read, for `black_box`.
    fn touch(&self, slot: usize, leaves_before: Option<i64>) -> i64 {
        let Some(p) = self.parts.get(slot).and_then(Option::as_ref) else {
            return 0;
        };
        let leaving = match (leaves_before, p.times.front()) {
            (Some(bound), Some(oldest)) => oldest < bound,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let mut bits = touch_lines(&p.times, leaving);
        for r in &p.rings {
            bits ^= r.touch(leaving);
        }
        bits
    }

    fn new_partition(&self, plan: &SlidingPlan, _w: usize, key: Box<[u8]>) -> Partition {
        Partition {
            key,
            times: Circular::new(),
            rings: self.ring_kinds.iter().map(|&k| Ring::new(k)).collect(),
            aggs: self
                .aggs
                .iter()
                .map(|&(j, _)| {
                    let a = &plan.aggregates[j];
                    AggState::new(a, a.arg.map(|i| plan.args[i].kind))
                })
                .collect(),
            next_seq: 0,
            first: None,
        }
    }

    /// Adds a run of rows of partition `slot` (in arrival order) to its
    /// window and writes each aggregate's value for every one of them.
    ///
    /// The rows go in first; then where each row's window starts is found
    /// (`lower`, an index into the partition's held rows, never past the
    /// row itself); then each aggregate takes the run row by row: the row
    /// enters, the rows its window no longer holds leave, and its value is
    /// written. That is the same sequence of additions and retractions as
    /// taking the rows one at a time, done one aggregate at a time; last,
    /// the rows no window holds any more are dropped.
    fn run(
        &mut self,
        plan: &SlidingPlan,
        frame: Frame,
        slot: usize,
        run: &Run<'_>,
        lower: &mut Vec<usize>,
        builders: &mut [OutColumn],
    ) {
        let Some(part) = self.parts.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(&first_row) = run.rows.first() else {
            return;
        };
        // Enter.
        let old_len = part.times.len();
        let base_seq = part.next_seq - old_len as u64;
        part.next_seq += run.rows.len() as u64;
        part.times.extend(run.rows.iter().map(|&i| run.times[i]));
        if frame == Frame::Unbounded && part.first.is_none() {
            part.first = Some(run.times[first_row]);
        }
        for (ring, &arg) in part.rings.iter_mut().zip(&self.ring_args) {
            ring.extend(&run.args[arg], run.rows);
        }
        // Where each row's window starts. The oldest ROWTIME comes from the
        // copy beside the ring ([`Circular::front`]): while no row leaves,
        // the ring's head is not read.
        lower.clear();
        let mut front = 0;
        let oldest = part.times.front().unwrap_or(i64::MAX);
        let time_at = |times: &Circular<i64>, pos: usize| {
            if pos == 0 { oldest } else { times.at(pos) }
        };
        for (k, &i) in run.rows.iter().enumerate() {
            let cur = old_len + k;
            match frame {
                Frame::Range(range) => {
                    let from = run.times[i] - range;
                    while front < cur && time_at(&part.times, front) < from {
                        front += 1;
                    }
                }
                Frame::Rows(n) => front = front.max((cur + 1).saturating_sub(n + 1)),
                Frame::Unbounded => {}
            }
            lower.push(front);
        }
        let Partition {
            times, rings, aggs, ..
        } = part;
        for (state, &(j, ring)) in aggs.iter_mut().zip(&self.aggs) {
            let a = &plan.aggregates[j];
            let counts_all = a.arg.is_none();
            let ring = ring.map(|r| &rings[r]);
            let value = |pos: usize| ring.map_or(Val::Null, |r| r.get(pos));
            let mut left = 0;
            for (k, &i) in run.rows.iter().enumerate() {
                let cur = old_len + k;
                state.add(a.function, base_seq + cur as u64, value(cur), counts_all);
                let lo = lower[k];
                for pos in left..lo {
                    state.retract(base_seq + pos as u64, value(pos), counts_all);
                }
                left = lo;
                let window = Span { lo, cur };
                let state = &*state;
                let v = match (state, a.function) {
                    (AggState::Count(c), _) => Val::Int(*c),
                    (AggState::SumInt { sum, n }, SlidingFunction::Sum) => {
                        if *n == 0 {
                            Val::Null
                        } else {
                            Val::Int(*sum as i64)
                        }
                    }
                    (AggState::SumInt { sum, n }, _) => {
                        if *n == 0 {
                            Val::Null
                        } else {
                            // KDA: AVG of integers is an integer, truncated.
                            Val::Int((*sum / i128::from(*n)) as i64)
                        }
                    }
                    (AggState::SumFloat { sum, n }, SlidingFunction::Sum) => {
                        if *n == 0 {
                            Val::Null
                        } else {
                            Val::Float(*sum)
                        }
                    }
                    (AggState::SumFloat { sum, n }, _) => {
                        if *n == 0 {
                            Val::Null
                        } else {
                            Val::Float(*sum / *n as f64)
                        }
                    }
                    (AggState::Moments { n, m2, .. }, f) => moments(f, *n, *m2),
                    (AggState::Extreme(d), _) => d.front(),
                    (AggState::Bools { trues, values }, f) => match (*values, f) {
                        (0, _) => Val::Null,
                        (_, SlidingFunction::BoolOr) => Val::Int(i64::from(*trues > 0)),
                        _ => Val::Int(i64::from(*trues == *values)),
                    },
                    (AggState::Positional, f) => match (ring, f) {
                        (None, _) => Val::Null,
                        (Some(r), SlidingFunction::FirstValue) => r.get(window.lo),
                        (Some(r), SlidingFunction::LastValue) => r.get(window.cur),
                        (
                            Some(r),
                            SlidingFunction::Lag {
                                offset,
                                ignore_nulls,
                            },
                        ) => lag(r, window, offset, ignore_nulls).unwrap_or_else(|| {
                            run.defaults[j].as_ref().map_or(Val::Null, |d| d.get(i))
                        }),
                        (Some(r), SlidingFunction::ExpAvg { half_life_ms }) => {
                            exp_avg(r, times, window, run.times[i], half_life_ms)
                        }
                        (
                            Some(r),
                            SlidingFunction::NthValue {
                                n,
                                from_last,
                                ignore_nulls,
                            },
                        ) => nth_value(r, window, n, from_last, ignore_nulls),
                        (Some(_), _) => Val::Null,
                    },
                };
                builders[j].set(i, v);
            }
        }
        // Leave.
        let gone = lower.last().copied().unwrap_or(0);
        if frame == Frame::Unbounded {
            // An unbounded window keeps its running totals, not its rows:
            // the aggregates have taken the rows in, and nothing ever leaves.
            times.clear();
            for r in rings.iter_mut() {
                r.clear();
            }
            for a in aggs.iter_mut() {
                if let AggState::Extreme(d) = a {
                    d.keep_front();
                }
            }
        } else if gone > 0 {
            times.drop_front(gone);
            for r in rings.iter_mut() {
                r.drop_front(gone);
            }
        }
    }

    /// Drops rows older than `now - range` from every partition and forgets
    /// partitions left empty. Runs at most once per `range` of time, so its
    /// cost is spread over the rows of that span.
    fn sweep(&mut self, plan: &SlidingPlan, now: i64, range: i64) {
        if self.last_sweep != i64::MIN && now - self.last_sweep < range.max(1) {
            return;
        }
        self.last_sweep = now;
        for s in 0..self.parts.len() {
            let Some(part) = self.parts[s].as_mut() else {
                continue;
            };
            while part.times.front().is_some_and(|f| f < now - range) {
                evict_front(part, plan, &self.aggs);
            }
            if part.times.is_empty() && self.converter.is_some() {
                if let Some(part) = self.parts[s].take() {
                    self.index.remove(&part.key);
                }
                self.free.push(s);
            }
        }
    }
}

/// NTH_VALUE over a window's values: the n-th from the oldest (or
/// newest), NULLs skipped while counting with `ignore_nulls`.
fn nth_value(r: &Ring, w: Span, n: usize, from_last: bool, ignore_nulls: bool) -> Val<'_> {
    let mut seen = 0;
    for k in 0..w.len() {
        let idx = if from_last { w.cur - k } else { w.lo + k };
        let v = r.get(idx);
        if ignore_nulls && v == Val::Null {
            continue;
        }
        seen += 1;
        if seen == n {
            return v;
        }
    }
    Val::Null
}

/// EXP_AVG over a window's values (`times` their ROWTIMEs) at time `now`:
/// each value weighs 1/2 per whole half-life of its age, NULLs skipped;
/// NULL when no value is left. The window is scanned: its weights move
/// with every row.
fn exp_avg(r: &Ring, times: &Circular<i64>, w: Span, now: i64, half_life_ms: i64) -> Val<'static> {
    let (mut num, mut den) = (0.0, 0.0);
    for (k, t) in times.range(w.lo, w.cur + 1).enumerate() {
        let Some(x) = as_f64(r.get(w.lo + k)) else {
            continue;
        };
        let halvings = ((now - t).max(0) / half_life_ms.max(1)).min(1_074);
        let w = 0.5f64.powi(halvings as i32);
        num += w * x;
        den += w;
    }
    if den > 0.0 {
        Val::Float(num / den)
    } else {
        Val::Null
    }
}

/// Removes the oldest row of a partition's window from its aggregates.
fn evict_front(part: &mut Partition, plan: &SlidingPlan, aggs: &[(usize, Option<usize>)]) {
    let seq = part.next_seq - part.times.len() as u64;
    for (state, &(j, ring)) in part.aggs.iter_mut().zip(aggs) {
        let v = ring.map_or(Val::Null, |r| part.rings[r].get(0));
        state.retract(seq, v, plan.aggregates[j].arg.is_none());
    }
    part.times.drop_front(1);
    for r in part.rings.iter_mut() {
        r.pop_front();
    }
}

fn moments(f: SlidingFunction, n: i64, m2: f64) -> Val<'static> {
    let var = match f {
        SlidingFunction::VarPop | SlidingFunction::StddevPop if n >= 1 => m2 / n as f64,
        SlidingFunction::VarSamp | SlidingFunction::StddevSamp if n >= 2 => m2 / (n - 1) as f64,
        _ => return Val::Null,
    };
    match f {
        SlidingFunction::StddevPop | SlidingFunction::StddevSamp => Val::Float(var.sqrt()),
        _ => Val::Float(var),
    }
}

/// LAG's value: `offset` rows before the current (last) row of the window,
/// or `None` when that row is outside the window.
fn lag(r: &Ring, w: Span, offset: usize, ignore_nulls: bool) -> Option<Val<'_>> {
    if !ignore_nulls {
        return (offset < w.len()).then(|| r.get(w.cur - offset));
    }
    if offset == 0 {
        return Some(r.get(w.cur));
    }
    let mut seen = 0;
    for i in (w.lo..w.cur).rev() {
        let v = r.get(i);
        if v != Val::Null {
            seen += 1;
            if seen == offset {
                return Some(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_deque_keeps_the_window_extreme() {
        let mut d = MonoDeque::new(ValueKind::Int);
        for (s, x) in [5, 3, 4, 1, 2].into_iter().enumerate() {
            d.push(s as u64, Val::Int(x), true);
        }
        assert_eq!(d.front(), Val::Int(5));
        d.expire(0);
        assert_eq!(d.front(), Val::Int(4));
        d.expire(1);
        d.expire(2);
        assert_eq!(d.front(), Val::Int(2));
        let mut m = MonoDeque::new(ValueKind::Str);
        m.push(0, Val::Str("b"), false);
        m.push(1, Val::Str("a"), false);
        m.push(2, Val::Str("c"), false);
        assert_eq!(m.front(), Val::Str("a"));
        m.expire(0);
        m.expire(1);
        assert_eq!(m.front(), Val::Str("c"));
    }

    #[test]
    fn moments_retract_to_the_remaining_rows() {
        let f = SlidingFunction::VarSamp;
        let mut s = AggState::Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
        };
        for (i, x) in [2.0, 4.0, 4.0, 4.0, 5.0].into_iter().enumerate() {
            s.add(f, i as u64, Val::Float(x), false);
        }
        s.retract(0, Val::Float(2.0), false);
        // Remaining 4, 4, 4, 5: mean 4.25, sample variance 0.25.
        let AggState::Moments { n, m2, .. } = s else {
            panic!()
        };
        let Val::Float(v) = moments(f, n, m2) else {
            panic!("no variance")
        };
        assert!((v - 0.25).abs() < 1e-12, "{v}");
        assert_eq!(moments(SlidingFunction::StddevPop, 1, 0.0), Val::Float(0.0));
        assert_eq!(moments(SlidingFunction::VarSamp, 1, 0.0), Val::Null);
    }

    #[test]
    fn lag_counts_back_inside_the_window() {
        let mut r = Ring::new(ValueKind::Int);
        for v in [Val::Int(1), Val::Null, Val::Int(3), Val::Int(4)] {
            r.push(v);
        }
        let all = Span { lo: 0, cur: 3 };
        assert_eq!(lag(&r, all, 1, false), Some(Val::Int(3)));
        assert_eq!(lag(&r, all, 2, false), Some(Val::Null));
        assert_eq!(lag(&r, all, 2, true), Some(Val::Int(1)));
        assert_eq!(lag(&r, all, 4, false), None);
        assert_eq!(lag(&r, all, 3, true), None);
        // A window that no longer holds the first value.
        let later = Span { lo: 1, cur: 3 };
        assert_eq!(lag(&r, later, 2, false), Some(Val::Null));
        assert_eq!(lag(&r, later, 2, true), None);
        assert_eq!(lag(&r, later, 3, false), None);
        assert_eq!(nth_value(&r, later, 1, false, true), Val::Int(3));
        assert_eq!(nth_value(&r, later, 1, true, false), Val::Int(4));
    }
}
