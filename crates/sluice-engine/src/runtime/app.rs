//! The embeddable runtime: an [`Application`] built from SQL text and inputs.
//!
//! Records (bytes with arrival times) or Arrow batches go into source
//! streams; time advances by arrival times, by [`Application::advance_to`] or
//! by the injected [`Clock`] ([`Application::tick`]); output batches of any
//! in-application stream reach the callbacks given to
//! [`Application::subscribe`]. Everything runs on the caller's thread, in
//! ROWTIME order, so a replay of the same records gives the same rows.
//!
//! ROWTIME of a source row is its arrival time, kept non-decreasing: a
//! record that arrives "earlier" than rows already seen gets the current
//! time (APPROXIMATE_ARRIVAL_TIME keeps what it said).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{SchemaRef, TimestampMillisecondType};

use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::errors::ErrorRow;
pub use crate::io::input::Input;
use crate::io::input::{Decoder, Record};
use crate::ops::distinct::DistinctState;
use crate::ops::join::JoinState;
use crate::ops::order::OrderState;
use crate::ops::{OpState, Output};
use crate::plan::{AppPlan, JoinKind, JoinRight, SideWindow, SourceDecl};
use crate::reference::{FixedTable, ReferenceSource, ReferenceTable};

type Subscriber = Box<dyn FnMut(&RecordBatch) + Send>;

/// A running KDA application.
pub struct Application {
    plan: AppPlan,
    states: Vec<OpState>,
    /// Per pump: its join's state, when its FROM joins.
    joins: Vec<Option<JoinState>>,
    /// Per pump: the rows its stream-to-stream join matched in the slice
    /// being routed, held until both sides have all of it
    /// ([`Self::release_joins`]).
    join_held: Vec<Vec<RecordBatch>>,
    /// Per pump: rows its ORDER BY holds, when it has one.
    orders: Vec<Option<OrderState>>,
    /// Per pump, what its SELECT DISTINCT has seen.
    distincts: Vec<Option<DistinctState>>,
    /// Per stream: pumps that read it, and as which join side (0 unless
    /// the pump joins).
    readers: Vec<Vec<(usize, usize)>>,
    subscribers: Vec<Vec<Subscriber>>,
    decoders: HashMap<usize, Decoder>,
    now: i64,
    clock: Arc<dyn Clock>,
    /// Error rows not yet delivered, emitted in time order after each call.
    pending_errors: Vec<ErrorRow>,
    /// ERROR_TIME of the last error row delivered (error_stream's ROWTIME).
    last_error_time: i64,
    /// Per pump: rows it inserted into its target stream.
    pump_rows: PumpRows,
}

/// Rows each pump of an application has inserted into its target stream,
/// readable from other threads while the application runs
/// ([`Application::pump_rows`]); indexed like the plan's pumps.
#[derive(Debug, Clone)]
pub struct PumpRows(Arc<[std::sync::atomic::AtomicU64]>);

impl PumpRows {
    fn new(pumps: usize) -> Self {
        Self((0..pumps).map(|_| Default::default()).collect())
    }

    fn add(&self, pump: usize, batches: &[RecordBatch]) {
        if let Some(c) = self.0.get(pump) {
            let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
            c.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Rows pump `pump` (its index in the plan) has inserted so far.
    pub fn rows(&self, pump: usize) -> u64 {
        self.0
            .get(pump)
            .map_or(0, |c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("streams", &self.plan.streams.len())
            .field("pumps", &self.plan.pumps.len())
            .field("now", &self.now)
            .finish()
    }
}

impl Application {
    /// Parses, plans and readies an application. Time starts at the clock's now.
    pub fn new(sql: &str, inputs: &[Input], clock: Arc<dyn Clock>) -> Result<Self> {
        Self::with_tables(sql, inputs, &[], clock)
    }

    /// As [`Self::new`], with reference tables the application code may join.
    pub fn with_tables(
        sql: &str,
        inputs: &[Input],
        tables: &[ReferenceTable],
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let sources: Vec<SourceDecl> = inputs.iter().map(Input::source_decl).collect();
        let decls: Vec<_> = tables.iter().map(ReferenceTable::decl).collect();
        let plan = AppPlan::with_clock(sql, &sources, &decls, Arc::clone(&clock))?;
        // The reference tables given, then the VALUES tables the plan made
        // (constant rows, joined by the same operator).
        let sources_of_tables: Vec<Arc<dyn ReferenceSource>> = tables
            .iter()
            .map(|t| Arc::clone(&t.source))
            .chain(plan.tables.iter().filter_map(|t| {
                t.rows
                    .clone()
                    .map(|rows| Arc::new(FixedTable(rows)) as Arc<dyn ReferenceSource>)
            }))
            .collect();
        let mut decoders = HashMap::new();
        for i in inputs {
            let sid = plan
                .stream_index(&i.stream)
                .ok_or_else(|| EngineError::Config {
                    context: format!("input \"{}\"", i.stream),
                    message: "no such stream".into(),
                })?;
            let s = &plan.streams[sid];
            decoders.insert(
                sid,
                Decoder::new(&s.name, &i.schema, &s.columns, Arc::clone(&s.schema))?,
            );
        }
        let states = plan
            .pumps
            .iter()
            .map(OpState::new)
            .collect::<Result<Vec<_>>>()?;
        let joins = plan
            .pumps
            .iter()
            .map(|p| {
                p.join
                    .as_ref()
                    .map(|j| JoinState::new(j, &sources_of_tables))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        let mut readers = vec![Vec::new(); plan.streams.len()];
        for &p in &plan.pump_order {
            match &plan.pumps[p].join {
                Some(j) => {
                    for s in j.streams() {
                        for side in j.sides_of(s) {
                            if !readers[s].contains(&(p, side)) {
                                readers[s].push((p, side));
                            }
                        }
                    }
                }
                None => readers[plan.pumps[p].from].push((p, 0)),
            }
        }
        let subscribers = plan.streams.iter().map(|_| Vec::new()).collect();
        let now = clock.now_ms();
        let orders = plan
            .pumps
            .iter()
            .map(|p| p.order.as_ref().map(|_| OrderState::default()))
            .collect();
        let distincts = plan
            .pumps
            .iter()
            .map(|p| p.distinct.as_ref().map(|_| DistinctState::default()))
            .collect();
        let plan_pumps = plan.pumps.len();
        Ok(Self {
            plan,
            states,
            joins,
            join_held: vec![Vec::new(); plan_pumps],
            orders,
            distincts,
            readers,
            subscribers,
            decoders,
            now,
            clock,
            pending_errors: Vec::new(),
            last_error_time: i64::MIN,
            pump_rows: PumpRows::new(plan_pumps),
        })
    }

    /// The counters of rows each pump inserted, shared: they go on
    /// counting while the application runs.
    pub fn pump_rows(&self) -> PumpRows {
        self.pump_rows.clone()
    }

    /// The application's plan: its streams and pumps.
    pub fn plan(&self) -> &AppPlan {
        &self.plan
    }

    /// The current time of the application (ms since epoch).
    pub fn now_ms(&self) -> i64 {
        self.now
    }

    /// The batch schema of a stream (ROWTIME first), by KDA name.
    pub fn stream_schema(&self, stream: &str) -> Option<SchemaRef> {
        self.plan
            .stream_index(stream)
            .map(|i| Arc::clone(&self.plan.streams[i].schema))
    }

    /// Calls `f` with every batch emitted into `stream` (`error_stream` too).
    pub fn subscribe(
        &mut self,
        stream: &str,
        f: impl FnMut(&RecordBatch) + Send + 'static,
    ) -> Result<()> {
        let sid = self.stream(stream)?;
        self.subscribers[sid].push(Box::new(f));
        Ok(())
    }

    fn stream(&self, name: &str) -> Result<usize> {
        self.plan
            .stream_index(name)
            .ok_or_else(|| EngineError::UnknownStream {
                location: Default::default(),
                name: name.to_string(),
                suggestion: crate::error::closest(
                    name,
                    self.plan.streams.iter().map(|s| s.name.as_str()),
                ),
            })
    }

    fn input(&self, name: &str) -> Result<usize> {
        let sid = self.stream(name)?;
        if self.decoders.contains_key(&sid) || self.plan.streams[sid].is_source {
            Ok(sid)
        } else {
            let mut inputs: Vec<&str> = self
                .plan
                .streams
                .iter()
                .filter(|s| s.is_source)
                .map(|s| s.name.as_str())
                .collect();
            inputs.sort_unstable();
            Err(EngineError::NotAnInput {
                stream: name.to_string(),
                inputs: inputs.join(", "),
            })
        }
    }

    /// Feeds records with their own arrival times (replay).
    pub fn push_records(&mut self, stream: &str, records: &[Record<'_>]) -> Result<()> {
        let sid = self.input(stream)?;
        let decoder = self.decoders.get(&sid).ok_or_else(|| EngineError::Config {
            context: format!("input \"{stream}\""),
            message: "this stream has no input schema; push Arrow batches instead".into(),
        })?;
        // ROWTIME: arrival, kept non-decreasing.
        let mut floor = self.now;
        let rowtimes: Vec<i64> = records
            .iter()
            .map(|r| {
                floor = floor.max(r.arrival_ms);
                floor
            })
            .collect();
        let (batch, errors) = decoder.decode(records, &rowtimes)?;
        self.pending_errors.extend(errors);
        let r = self.push_batch_at(sid, batch);
        self.flush_errors();
        r
    }

    /// Routes a row to `error_stream` from outside the app: a record that
    /// failed before it could be mapped (e.g. KDA's preprocessing Lambda
    /// answered ProcessingFailed). The app goes on.
    pub fn push_error(&mut self, row: crate::errors::ErrorRow) {
        self.pending_errors.push(row);
        self.flush_errors();
    }

    /// Feeds records that arrive now, by the application's clock (live).
    pub fn push_records_now(&mut self, stream: &str, data: &[&[u8]]) -> Result<()> {
        let t = self.clock.now_ms();
        let records: Vec<Record> = data.iter().map(|d| Record::new(d, t)).collect();
        self.push_records(stream, &records)
    }

    /// Feeds an Arrow batch with the stream's schema (see
    /// [`Self::stream_schema`]): ROWTIME, APPROXIMATE_ARRIVAL_TIME, the
    /// record-metadata columns (PARTITION_KEY, SHARD_ID, SEQUENCE_NUMBER),
    /// columns.
    pub fn push_batch(&mut self, stream: &str, batch: RecordBatch) -> Result<()> {
        let sid = self.input(stream)?;
        let schema = &self.plan.streams[sid].schema;
        if batch.schema().fields() != schema.fields() {
            return Err(EngineError::BatchSchema {
                stream: stream.to_string(),
                message: format!("expected {schema:?}, got {:?}", batch.schema()),
            });
        }
        let r = self.push_batch_at(sid, batch);
        self.flush_errors();
        r
    }

    fn push_batch_at(&mut self, sid: usize, batch: RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let batch = self.clamp_rowtime(batch)?;
        let times = rowtimes(&batch)?.clone();
        let values = times.values();
        let mut start = 0;
        while start < n {
            let t0 = values[start];
            self.advance(t0)?;
            // Split at the next window boundary, so windows close in order
            // across pumps.
            let end = match self.next_boundary(t0) {
                Some(b) => start + values[start..].partition_point(|&t| t < b),
                None => n,
            };
            let end = end.max(start + 1);
            let slice = batch.slice(start, end - start);
            self.now = self.now.max(values[end - 1]);
            self.route(sid, slice)?;
            self.release_joins()?;
            start = end;
        }
        Ok(())
    }

    fn clamp_rowtime(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let times = rowtimes(&batch)?;
        let mut floor = self.now;
        let ok = times.values().iter().all(|&t| {
            let fine = t >= floor;
            floor = floor.max(t);
            fine
        });
        if ok && times.null_count() == 0 {
            return Ok(batch);
        }
        let mut floor = self.now;
        let fixed: TimestampMillisecondArray = times
            .iter()
            .map(|t| {
                floor = floor.max(t.unwrap_or(floor));
                Some(floor)
            })
            .collect();
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        cols[0] = Arc::new(fixed);
        RecordBatch::try_new(batch.schema(), cols).map_err(|e| EngineError::BatchSchema {
            stream: String::new(),
            message: e.to_string(),
        })
    }

    fn next_boundary(&self, t: i64) -> Option<i64> {
        self.plan
            .pumps
            .iter()
            .zip(&self.states)
            .filter(|(p, _)| !p.stopped)
            .filter_map(|(p, s)| s.next_boundary(p, t))
            .chain(self.join_expiries().filter(|&e| e > t))
            .chain(self.stream_join_step(t))
            .chain(self.order_steps(t))
            .min()
    }

    /// A stream-to-stream join with a `ROWS n PRECEDING` side sees each
    /// ROWTIME on its own: which rows such a window holds depends on the
    /// order rows arrive in, so both sides must have all of one ROWTIME
    /// before any row of the next comes.
    ///
    /// A join over range windows (or no window) decides a pair by the two
    /// rows' times alone, so it takes whole slices: both sides' rows of a
    /// slice are matched in whatever order they come, and the matches,
    /// with the outer rows left unmatched for good, are released in
    /// ROWTIME order once the slice is routed ([`Self::release_joins`]).
    fn stream_join_step(&self, t: i64) -> Option<i64> {
        let rows_window = |s: &crate::plan::StreamSide| matches!(s.window, SideWindow::Rows(_));
        self.plan
            .pumps
            .iter()
            .any(|p| {
                !p.stopped
                    && p.join.as_ref().is_some_and(|j| match &j.right {
                        JoinRight::Stream(r) => rows_window(r) || rows_window(&j.left),
                        JoinRight::Table(_) => false,
                    })
            })
            .then(|| t.saturating_add(1))
    }

    /// When joins next emit unmatched outer rows because of time alone.
    fn join_expiries(&self) -> impl Iterator<Item = i64> + '_ {
        self.plan
            .pumps
            .iter()
            .zip(&self.joins)
            .filter(|(p, _)| !p.stopped)
            .filter_map(|(p, j)| j.as_ref()?.next_expiry(p.join.as_ref()?))
    }

    /// Advances time to `now`: windows ending at or before it are emitted,
    /// each at its own end, in time order.
    pub fn advance_to(&mut self, now: i64) -> Result<()> {
        let r = self.advance(now);
        self.flush_errors();
        r
    }

    fn advance(&mut self, now: i64) -> Result<()> {
        // Time never goes back; an earlier `now` (a join's row that expired
        // inside the batch just routed) closes what is due at the current
        // time.
        let now = now.max(self.now);
        while let Some(end) = self.next_open_window_end().filter(|&e| e <= now) {
            self.advance_step(end)?;
        }
        self.advance_step(now)
    }

    fn advance_step(&mut self, now: i64) -> Result<()> {
        self.now = self.now.max(now);
        for k in 0..self.plan.pump_order.len() {
            let p = self.plan.pump_order[k];
            let pump = &self.plan.pumps[p];
            if pump.stopped {
                continue;
            }
            let into = pump.into;
            let origin = self.origin(p, now);
            let target = pump.op_target(&self.plan.streams);
            let mut out = Output::default();
            // What its join matched in rows routed so far, and its outer
            // rows that time alone leaves unmatched.
            let mut joined = std::mem::take(&mut self.join_held[p]);
            if let (Some(plan), Some(js)) = (&pump.join, self.joins[p].as_mut())
                && let Some(expired) = js.advance(plan, now)?
            {
                joined.push(expired);
            }
            if !joined.is_empty() {
                let joined = merge_by_rowtime(joined)?;
                self.states[p].push(pump, target, &joined, &mut out)?;
            }
            self.states[p].advance(pump, target, now, &mut out)?;
            if let (Some(plan), Some(ds)) = (&pump.distinct, self.distincts[p].as_mut()) {
                out.batches = ds.apply(plan, pump, std::mem::take(&mut out.batches))?;
            }
            if let (Some(plan), Some(os)) = (&pump.order, self.orders[p].as_mut()) {
                os.push(plan, std::mem::take(&mut out.batches), origin);
                out.batches = os.release(plan, &self.plan.streams[into], now)?;
            }
            self.take_errors(p, out.errors);
            if !out.batches.is_empty() {
                self.pump_rows.add(p, &out.batches);
                let merged = merge_by_rowtime(out.batches)?;
                self.route(into, merged)?;
            }
        }
        Ok(())
    }

    /// The earliest ROWTIME whose rows are still held in operator state
    /// (open windows), or `None` when no operator holds any row.
    ///
    /// An input row with an earlier ROWTIME has had all its effects emitted,
    /// so a reader may durably commit its position: after a restart, feeding
    /// again from there rebuilds exactly the open windows.
    pub fn retained_since(&self) -> Option<i64> {
        self.states
            .iter()
            .filter_map(OpState::retained_since)
            .chain(
                self.orders
                    .iter()
                    .flatten()
                    .filter_map(OrderState::retained_since),
            )
            .chain(
                self.joins
                    .iter()
                    .flatten()
                    .filter_map(JoinState::retained_since),
            )
            .min()
    }

    /// Advances time to the clock's now (live mode calls this periodically).
    pub fn tick(&mut self) -> Result<()> {
        let now = self.clock.now_ms();
        self.advance_to(now)
    }

    /// Closes every open window (end of a replay), each at its own end.
    pub fn flush(&mut self) -> Result<()> {
        while let Some(end) = self.next_open_window_end() {
            self.advance(end)?;
        }
        self.flush_errors();
        Ok(())
    }

    fn next_open_window_end(&self) -> Option<i64> {
        self.plan
            .pumps
            .iter()
            .zip(&self.states)
            .filter(|(p, _)| !p.stopped)
            .filter_map(|(p, s)| s.open_window_end(p))
            .chain(self.join_expiries())
            .chain(self.order_ends())
            .min()
    }

    /// When ORDER BYs next emit the rows they hold.
    fn order_ends(&self) -> impl Iterator<Item = i64> + '_ {
        self.plan
            .pumps
            .iter()
            .zip(&self.orders)
            .filter(|(p, _)| !p.stopped)
            .filter_map(|(p, o)| o.as_ref()?.first_end(p.order.as_ref()?))
    }

    /// Where an ORDER BY's bucket may end after `t`: rows of a filter,
    /// sliding or join pump come out at their own ROWTIME, so input is split
    /// at its buckets' ends; a window pump's rows come out at window ends,
    /// already boundaries.
    fn order_steps(&self, t: i64) -> impl Iterator<Item = i64> + '_ {
        self.plan
            .pumps
            .iter()
            .filter(|p| !p.stopped)
            .filter_map(move |p| {
                let order = p.order.as_ref()?;
                match p.op {
                    crate::plan::OperatorPlan::Tumbling(_)
                    | crate::plan::OperatorPlan::Stagger(_)
                    | crate::plan::OperatorPlan::ItemsTumbling(_) => None,
                    _ => Some(order.next_boundary(t)),
                }
            })
            .chain(self.order_ends().filter(move |&e| e > t))
    }

    /// The earliest input ROWTIME pump `p`'s next output may depend on:
    /// what its operator and join hold, or `t` (the rows now pushed).
    fn origin(&self, p: usize, t: i64) -> i64 {
        if self.orders[p].is_none() {
            return t;
        }
        self.states[p]
            .retained_since()
            .into_iter()
            .chain(self.joins[p].as_ref().and_then(JoinState::retained_since))
            .fold(t, i64::min)
    }

    /// Delivers a batch to a stream's subscribers and the pumps reading it;
    /// what those pumps emit is merged per target stream in ROWTIME order.
    fn route(&mut self, sid: usize, batch: RecordBatch) -> Result<()> {
        for s in self.subscribers[sid].iter_mut() {
            s(&batch);
        }
        let mut outputs: Vec<(usize, Vec<RecordBatch>)> = Vec::new();
        for k in 0..self.readers[sid].len() {
            let (p, side) = self.readers[sid][k];
            let pump = &self.plan.pumps[p];
            if pump.stopped {
                continue;
            }
            let into = pump.into;
            let origin = self.origin(p, rowtimes(&batch)?.values()[0]);
            let target = pump.op_target(&self.plan.streams);
            let mut out = Output::default();
            match (&pump.join, self.joins[p].as_mut()) {
                (Some(plan), Some(js)) => {
                    if let Some(joined) = js.push(plan, side, &batch, &pump.name, &mut out)? {
                        if matches!(plan.right, JoinRight::Stream(_)) {
                            // The other side may still bring rows of this
                            // slice, and matches of an earlier ROWTIME.
                            self.join_held[p].push(joined);
                        } else {
                            self.states[p].push(pump, target, &joined, &mut out)?;
                        }
                    }
                }
                _ => self.states[p].push(pump, target, &batch, &mut out)?,
            }
            let batches = self.finish_pushed(p, origin, out)?;
            if batches.is_empty() {
                continue;
            }
            match outputs.iter_mut().find(|(s, _)| *s == into) {
                Some((_, v)) => v.extend(batches),
                None => outputs.push((into, batches)),
            }
        }
        for (into, batches) in outputs {
            let merged = merge_by_rowtime(batches)?;
            if merged.num_rows() > 0 {
                self.route(into, merged)?;
            }
        }
        Ok(())
    }

    /// Runs what stream-to-stream joins matched in the slice just routed
    /// through their pumps, upstream first (a join's rows may feed another
    /// join), each pump's rows in ROWTIME order. An outer join adds the
    /// rows that can match nothing any more: every row of the slice has
    /// been matched, and later rows come at the current time or after.
    fn release_joins(&mut self) -> Result<()> {
        for k in 0..self.plan.pump_order.len() {
            let p = self.plan.pump_order[k];
            let mut joined = std::mem::take(&mut self.join_held[p]);
            if let (Some(plan), Some(js)) = (&self.plan.pumps[p].join, self.joins[p].as_mut())
                && plan.kind != JoinKind::Inner
                && !self.plan.pumps[p].stopped
                && let Some(expired) = js.advance(plan, self.now)?
            {
                joined.push(expired);
            }
            if joined.is_empty() {
                continue;
            }
            let joined = merge_by_rowtime(joined)?;
            let pump = &self.plan.pumps[p];
            let into = pump.into;
            let origin = self.origin(p, rowtimes(&joined)?.values()[0]);
            let target = pump.op_target(&self.plan.streams);
            let mut out = Output::default();
            self.states[p].push(pump, target, &joined, &mut out)?;
            let batches = self.finish_pushed(p, origin, out)?;
            if batches.is_empty() {
                continue;
            }
            let merged = merge_by_rowtime(batches)?;
            if merged.num_rows() > 0 {
                self.route(into, merged)?;
            }
        }
        Ok(())
    }

    /// What pump `p`'s operator made of rows pushed into it, after its
    /// SELECT DISTINCT and ORDER BY (which holds rows until their bucket is
    /// over, released in `advance_step`): the batches for its target
    /// stream, counted. Its error rows are queued.
    fn finish_pushed(&mut self, p: usize, origin: i64, out: Output) -> Result<Vec<RecordBatch>> {
        let pump = &self.plan.pumps[p];
        let Output {
            mut batches,
            errors,
        } = out;
        if let (Some(plan), Some(ds)) = (&pump.distinct, self.distincts[p].as_mut()) {
            batches = ds.apply(plan, pump, batches)?;
        }
        if let (Some(plan), Some(os)) = (&pump.order, self.orders[p].as_mut()) {
            os.push(plan, std::mem::take(&mut batches), origin);
        }
        self.take_errors(p, errors);
        if !batches.is_empty() {
            self.pump_rows.add(p, &batches);
        }
        Ok(batches)
    }

    /// Queues pump `p`'s error rows. A pump the planner made for a subquery
    /// or table function (its target stream hidden, named `<PUMP>$<n>`)
    /// reports the declared pump in PUMP_NAME, as KDA would; MESSAGE keeps
    /// the part that failed.
    fn take_errors(&mut self, p: usize, mut errors: Vec<ErrorRow>) {
        let pump = &self.plan.pumps[p];
        if self.plan.streams[pump.into].hidden
            && let Some((declared, _)) = pump.name.rsplit_once('$')
        {
            for e in &mut errors {
                e.pump = Some(declared.to_string());
            }
        }
        self.pending_errors.extend(errors);
    }

    /// Delivers pending error rows to `error_stream`, in time order.
    /// ERROR_TIME is the failed row's ROWTIME (the current time when it has
    /// none), kept non-decreasing.
    fn flush_errors(&mut self) {
        if self.pending_errors.is_empty() {
            return;
        }
        let mut errors = std::mem::take(&mut self.pending_errors);
        let sid = self.plan.error_stream;
        if self.subscribers[sid].is_empty() {
            return;
        }
        let now = self.now;
        errors.sort_by_key(|e| e.data_rowtime.unwrap_or(now));
        let times: Vec<i64> = errors
            .iter()
            .map(|e| {
                self.last_error_time = self.last_error_time.max(e.data_rowtime.unwrap_or(now));
                self.last_error_time
            })
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(times.clone())),
            Arc::new(TimestampMillisecondArray::from(times)),
            Arc::new(StringArray::from_iter_values(
                errors.iter().map(|e| e.level),
            )),
            Arc::new(StringArray::from_iter_values(errors.iter().map(|e| e.name))),
            Arc::new(StringArray::from_iter_values(
                errors.iter().map(|e| e.message.as_str()),
            )),
            Arc::new(TimestampMillisecondArray::from(
                errors.iter().map(|e| e.data_rowtime).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from_iter_values(
                errors.iter().map(|e| e.data_row.as_str()),
            )),
            Arc::new(StringArray::from(
                errors.iter().map(|e| e.pump.as_deref()).collect::<Vec<_>>(),
            )),
        ];
        match RecordBatch::try_new(Arc::clone(&self.plan.streams[sid].schema), cols) {
            Ok(b) => {
                for s in self.subscribers[sid].iter_mut() {
                    s(&b);
                }
            }
            Err(e) => {
                // The error stream's schema is fixed, so this cannot happen
                // for well-formed rows; still, never drop the report silently.
                eprintln!("sluice: could not build error_stream rows: {e}");
            }
        }
    }
}

/// One batch of several, rows in ROWTIME order (stable: earlier batches
/// first among equal times).
fn merge_by_rowtime(mut batches: Vec<RecordBatch>) -> Result<RecordBatch> {
    if batches.len() == 1 {
        return Ok(batches.swap_remove(0));
    }
    let mut idx: Vec<(i64, usize, usize)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        for (r, t) in rowtimes(batch)?.values().iter().enumerate() {
            idx.push((*t, b, r));
        }
    }
    idx.sort_by_key(|&(t, _, _)| t);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let order: Vec<(usize, usize)> = idx.iter().map(|&(_, b, r)| (b, r)).collect();
    datafusion::arrow::compute::interleave_record_batch(&refs, &order).map_err(|e| {
        EngineError::BatchSchema {
            stream: String::new(),
            message: e.to_string(),
        }
    })
}

fn rowtimes(batch: &RecordBatch) -> Result<&TimestampMillisecondArray> {
    batch
        .column(0)
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| EngineError::BatchSchema {
            stream: String::new(),
            message: "column 0 must be ROWTIME (TIMESTAMP)".into(),
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;
    use crate::io::input::{InputSchema, RecordColumn, RecordFormat};
    use crate::io::output::batch_json_lines;
    use crate::types::SqlType;

    fn input() -> Input {
        Input {
            stream: "S".into(),
            schema: InputSchema {
                format: RecordFormat::Json {
                    row_path: "$".into(),
                },
                columns: Some(vec![RecordColumn {
                    name: "V".into(),
                    sql_type: SqlType::Integer,
                    mapping: Some("$.v".into()),
                }]),
            },
        }
    }

    fn collect(app: &mut Application, stream: &str) -> Arc<Mutex<String>> {
        let out = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&out);
        app.subscribe(stream, move |b| {
            sink.lock().unwrap().push_str(&batch_json_lines(b, true));
        })
        .unwrap();
        out
    }

    fn rec(v: i32, t: i64) -> (String, i64) {
        (format!("{{\"v\": {v}}}"), t)
    }

    fn push(app: &mut Application, recs: &[(String, i64)]) {
        let records: Vec<Record> = recs
            .iter()
            .map(|(d, t)| Record::new(d.as_bytes(), *t))
            .collect();
        app.push_records("S", &records).unwrap();
    }

    #[test]
    fn only_inputs_take_records() {
        let sql =
            "CREATE STREAM D (V INTEGER); CREATE PUMP P AS INSERT INTO D SELECT STREAM V FROM S;";
        let mut app = Application::new(sql, &[input()], Arc::new(ManualClock::new(0))).unwrap();
        let e = app.push_records("D", &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "\"D\" is not an input stream of this application (inputs: S)"
        );
        let e = app.subscribe("DD", |_| {}).unwrap_err().to_string();
        assert!(e.contains("did you mean \"D\""), "{e}");
    }

    #[test]
    fn rowtime_never_goes_back() {
        let sql =
            "CREATE STREAM D (V INTEGER); CREATE PUMP P AS INSERT INTO D SELECT STREAM V FROM S;";
        let mut app = Application::new(sql, &[input()], Arc::new(ManualClock::new(0))).unwrap();
        let out = collect(&mut app, "D");
        push(&mut app, &[rec(1, 5_000), rec(2, 3_000)]);
        push(&mut app, &[rec(3, 4_000)]);
        let text = out.lock().unwrap().clone();
        let times: Vec<&str> = text.lines().map(|l| &l[13..36]).collect();
        assert_eq!(
            times,
            [
                "1970-01-01 00:00:05.000",
                "1970-01-01 00:00:05.000",
                "1970-01-01 00:00:05.000"
            ]
        );
    }

    /// Feeds `seconds` of input at `per_second` rows a second, V cycling
    /// through `keys` values from `first_key`, calling `check` after each
    /// second with the time reached.
    fn feed(
        app: &mut Application,
        stream: &str,
        (from, seconds, per_second): (i64, i64, i64),
        (first_key, keys): (i32, i32),
        mut check: impl FnMut(&Application, i64),
    ) {
        for s in from..from + seconds {
            let data: Vec<String> = (0..per_second)
                .map(|i| {
                    format!(
                        "{{\"v\": {}}}",
                        first_key + ((s * per_second + i) as i32) % keys
                    )
                })
                .collect();
            let records: Vec<Record> = data
                .iter()
                .enumerate()
                .map(|(i, d)| Record::new(d.as_bytes(), s * 1_000 + i as i64))
                .collect();
            app.push_records(stream, &records).unwrap();
            check(app, s * 1_000);
        }
    }

    #[test]
    fn sliding_window_state_stays_bounded_by_the_window() {
        // RANGE 10 s at 20 rows/s: 200 rows in windows, 50 partitions. A
        // partition lets old rows go at its next row, and a sweep once per
        // RANGE drops them from idle ones, so at most two RANGEs of rows
        // are held, however long the run; after the keys change, the old
        // partitions are forgotten.
        let mut app = Application::new(
            "CREATE STREAM O (V INTEGER, N BIGINT);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM V, COUNT(*) OVER \
             (PARTITION BY V RANGE INTERVAL '10' SECOND PRECEDING) FROM S;",
            &[input()],
            Arc::new(ManualClock::new(0)),
        )
        .unwrap();
        let held = |app: &Application| match &app.states[0] {
            OpState::Sliding(s) => s.held(),
            _ => panic!("not a sliding pump"),
        };
        let mut most = (0, 0);
        feed(&mut app, "S", (0, 600, 20), (0, 50), |app, _| {
            let (rows, parts) = held(app);
            most = (most.0.max(rows), most.1.max(parts));
        });
        assert!(most.0 <= 21 * 20, "rows held: {most:?}");
        assert!(most.1 <= 50, "partitions: {most:?}");
        // New keys for another 10 minutes: the 50 old partitions go.
        feed(&mut app, "S", (600, 600, 20), (1_000, 50), |app, t| {
            let (rows, parts) = held(app);
            assert!(rows <= 21 * 20, "rows held at {t}: {rows}");
            if t >= 630_000 {
                assert!(parts <= 50, "partitions at {t}: {parts}");
            }
        });
    }

    #[test]
    fn range_window_stream_joins_take_whole_batches_with_the_same_rows() {
        // A range-window join sees a batch of many ROWTIMEs at once (its
        // right side's rows come after all the left side's): it must give
        // the rows, and the ROWTIME order, of a record-by-record run, inner
        // or outer, with windows on both sides or on one.
        let joins = [
            "A OVER (RANGE INTERVAL '2' SECOND PRECEDING) AS a JOIN B \
             OVER (RANGE INTERVAL '1' SECOND PRECEDING) AS b",
            "A OVER (RANGE INTERVAL '2' SECOND PRECEDING) AS a LEFT OUTER JOIN B \
             OVER (RANGE INTERVAL '1' SECOND PRECEDING) AS b",
            "A AS a RIGHT OUTER JOIN B OVER (RANGE INTERVAL '1' SECOND PRECEDING) AS b",
            "A OVER (RANGE INTERVAL '1' SECOND PRECEDING) AS a FULL OUTER JOIN B AS b",
        ];
        // Two rows a ROWTIME, 300 ms apart, for 20 s.
        let recs: Vec<(String, i64)> = (0..132)
            .map(|i| rec(i * 7 % 100, i64::from(i / 2) * 300))
            .collect();
        for join in joins {
            let sql = format!(
                "CREATE STREAM A (V INTEGER); CREATE STREAM B (V INTEGER);\n\
                 CREATE STREAM O (V INTEGER, W INTEGER);\n\
                 CREATE PUMP PA AS INSERT INTO A SELECT STREAM V FROM S WHERE MOD(V, 2) = 0;\n\
                 CREATE PUMP PB AS INSERT INTO B SELECT STREAM V FROM S WHERE MOD(V, 2) = 1;\n\
                 CREATE PUMP PJ AS INSERT INTO O SELECT STREAM a.V, b.V FROM {join} \
                 ON MOD(a.V, 10) + 1 = MOD(b.V, 10);"
            );
            let run = |batch: usize| {
                let mut app =
                    Application::new(&sql, &[input()], Arc::new(ManualClock::new(0))).unwrap();
                assert!(app.stream_join_step(0).is_none(), "{join}: stepped");
                let out = collect(&mut app, "O");
                for chunk in recs.chunks(batch) {
                    push(&mut app, chunk);
                }
                app.flush().unwrap();
                out.lock().unwrap().clone()
            };
            let one_by_one = run(1);
            let whole = run(recs.len());
            assert!(one_by_one.lines().count() > 20, "{join}: {one_by_one}");
            let times: Vec<&str> = whole.lines().map(|l| &l[13..36]).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "{join}: {whole}");
            // Rows of one ROWTIME may come in another order.
            let sorted = |t: &str| {
                let mut v: Vec<String> = t.lines().map(str::to_owned).collect();
                v.sort();
                v
            };
            assert_eq!(sorted(&whole), sorted(&one_by_one), "{join}");
            if !join.contains(" JOIN B OVER") || join.contains("OUTER") {
                assert!(whole.contains("null"), "{join}: no unmatched row: {whole}");
            }
        }
    }

    #[test]
    fn rows_window_joins_see_each_rowtime_on_its_own() {
        for join in [
            "FROM A OVER (ROWS 3 PRECEDING) AS a JOIN B AS b ON a.V = b.V",
            "FROM A AS a LEFT JOIN B OVER (ROWS 1 PRECEDING) AS b ON a.V = b.V",
        ] {
            let sql = format!(
                "CREATE STREAM A (V INTEGER); CREATE STREAM B (V INTEGER);\n\
                 CREATE STREAM O (V INTEGER, W INTEGER);\n\
                 CREATE PUMP PA AS INSERT INTO A SELECT STREAM V FROM S;\n\
                 CREATE PUMP PB AS INSERT INTO B SELECT STREAM V FROM S;\n\
                 CREATE PUMP PJ AS INSERT INTO O SELECT STREAM a.V, b.V {join};"
            );
            let app = Application::new(&sql, &[input()], Arc::new(ManualClock::new(0))).unwrap();
            assert_eq!(app.stream_join_step(5), Some(6), "{join}");
        }
    }

    #[test]
    fn stream_join_state_stays_bounded_by_the_window() {
        // Each side holds its rows while the other side's window can reach
        // them: about 5 s × 10 rows/s here, whatever the run's length.
        let mut app = Application::new(
            "CREATE STREAM A (V INTEGER); CREATE STREAM B (V INTEGER);\n\
             CREATE STREAM O (V INTEGER, W INTEGER);\n\
             CREATE PUMP PA AS INSERT INTO A SELECT STREAM V FROM S WHERE MOD(V, 2) = 0;\n\
             CREATE PUMP PB AS INSERT INTO B SELECT STREAM V FROM S WHERE MOD(V, 2) = 1;\n\
             CREATE PUMP PJ AS INSERT INTO O SELECT STREAM a.V, b.V FROM A \
             OVER (RANGE INTERVAL '5' SECOND PRECEDING) AS a JOIN B AS b ON a.V + 1 = b.V;",
            &[input()],
            Arc::new(ManualClock::new(0)),
        )
        .unwrap();
        let pj = app.plan.pumps.iter().position(|p| p.name == "PJ").unwrap();
        let mut most = 0;
        feed(&mut app, "S", (0, 1_200, 20), (0, 40), |app, _| {
            let held = app.joins[pj].as_ref().map_or(0, JoinState::held_rows);
            most = most.max(held);
        });
        assert!(most <= 6 * 10 + 10, "rows held: {most}");
    }

    #[test]
    fn windows_of_different_pumps_close_in_time_order() {
        // Two pumps into one stream: 10-second and 30-second windows. After
        // a gap, their results must arrive in ROWTIME order.
        let sql = "CREATE STREAM D (N BIGINT);
            CREATE PUMP A AS INSERT INTO D SELECT STREAM COUNT(*) FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '30' SECOND);
            CREATE PUMP B AS INSERT INTO D SELECT STREAM COUNT(*) FROM S GROUP BY STEP(S.ROWTIME BY INTERVAL '10' SECOND);";
        let mut app = Application::new(sql, &[input()], Arc::new(ManualClock::new(0))).unwrap();
        let out = collect(&mut app, "D");
        push(&mut app, &[rec(1, 1_000), rec(2, 25_000), rec(3, 95_000)]);
        app.flush().unwrap();
        let text = out.lock().unwrap().clone();
        let times: Vec<&str> = text.lines().map(|l| &l[13..36]).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "{text}");
        // 30 s windows: [0,30) two rows, [90,120) one; 10 s windows: [0,10),
        // [20,30) and [90,100) one each.
        assert_eq!(times.len(), 5, "{text}");
    }

    #[test]
    fn advance_emits_without_new_rows() {
        let sql = "CREATE STREAM D (N BIGINT); CREATE PUMP P AS INSERT INTO D SELECT STREAM COUNT(*) FROM S GROUP BY FLOOR(S.ROWTIME TO MINUTE);";
        let clock = ManualClock::new(0);
        let mut app = Application::new(sql, &[input()], Arc::new(clock.clone())).unwrap();
        let out = collect(&mut app, "D");
        push(&mut app, &[rec(1, 1_000), rec(2, 2_000)]);
        app.advance_to(59_999).unwrap();
        assert_eq!(out.lock().unwrap().as_str(), "");
        clock.set(60_000);
        app.tick().unwrap();
        assert_eq!(
            out.lock().unwrap().as_str(),
            "{\"ROWTIME\": \"1970-01-01 00:01:00.000\", \"N\": 2}\n"
        );
    }
}
