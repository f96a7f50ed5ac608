//! Operators: what a pump does to the batches of the stream it reads.
//!
//! Contract of every operator (see [`OpState`]):
//! - **push**: a batch of the source stream, ROWTIME non-decreasing and not
//!   earlier than the time the operator was last advanced to. Output batches
//!   have the target stream's schema (ROWTIME first).
//! - **advance(now)**: time has reached `now`; no later row will carry an
//!   earlier ROWTIME. Windows whose end is at or before `now` are emitted.
//! - **errors**: a row whose expression fails becomes an [`ErrorRow`]; the
//!   rest of its batch goes on. Only a failure no single row explains is an
//!   [`EngineError`].
//!
//! Expressions are DataFusion physical expressions evaluated column-at-a-time;
//! a batch is re-evaluated row by row only when evaluating it whole fails.
//!
//! One operator per file: [`project`] (filter/project, and the guarded
//! evaluation every operator uses), [`tumbling`], [`sliding`], [`stagger`],
//! [`join`] (which feeds joined rows to the pump's operator), [`order`]
//! (a pump's ORDER BY, after its operator), [`rcf`] (RANDOM_CUT_FOREST
//! over a cursor), [`hotspots`] (HOTSPOTS), [`items`] (TOP_K_ITEMS_TUMBLING and
//! COUNT_DISTINCT_ITEMS_TUMBLING), [`group_rank`] (GROUP_RANK) and
//! [`distinct`] (a pump's SELECT DISTINCT, after its operator). Their plans come from
//! [`crate::plan`]; operators never reach into the runtime.
//!
//! [`ErrorRow`]: crate::errors::ErrorRow

pub mod distinct;
pub mod group_rank;
pub mod hotspots;
pub mod items;
pub mod join;
pub mod order;
pub mod project;
pub mod rcf;
pub mod sliding;
pub mod stagger;
pub mod tumbling;

use std::collections::BTreeMap;

use datafusion::arrow::array::RecordBatch;

use crate::error::{EngineError, Result};
use crate::errors::ErrorRow;
use crate::plan::{OperatorPlan, PumpDef, StreamDef};
use group_rank::GroupRankState;
use hotspots::HotspotsState;
use items::ItemsState;
use project::filter_project;
use rcf::RcfState;
use sliding::SlidingState;
use stagger::StaggerState;
use tumbling::TumblingState;

/// What one call of an operator produced.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Batches for the target stream, in ROWTIME order.
    pub batches: Vec<RecordBatch>,
    /// Rows for `error_stream`.
    pub errors: Vec<ErrorRow>,
}

/// The run-time state of one pump.
pub(crate) enum OpState {
    /// Filter/project keeps no state.
    Project,
    /// Open tumbling windows.
    Tumbling(TumblingState),
    /// Sliding windows, per partition.
    Sliding(SlidingState),
    /// Open stagger windows, per partition key.
    Stagger(StaggerState),
    /// A random cut forest.
    RandomCutForest(Box<RcfState>),
    /// The open window of TOP_K_ITEMS_TUMBLING / COUNT_DISTINCT_ITEMS_TUMBLING.
    ItemsTumbling(ItemsState),
    /// The open group of GROUP_RANK.
    GroupRank(GroupRankState),
    /// HOTSPOTS's window of recent records.
    Hotspots(Box<HotspotsState>),
}

impl OpState {
    pub(crate) fn new(p: &PumpDef) -> Result<Self> {
        Ok(match &p.op {
            OperatorPlan::Project(_) => OpState::Project,
            OperatorPlan::Tumbling(_) => OpState::Tumbling(TumblingState {
                windows: BTreeMap::new(),
                groups: Vec::new(),
                first_rowtime: None,
            }),
            OperatorPlan::Sliding(plan) => OpState::Sliding(SlidingState::new(plan)?),
            OperatorPlan::Stagger(plan) => OpState::Stagger(StaggerState::new(plan, p)?),
            OperatorPlan::RandomCutForest(plan) => {
                OpState::RandomCutForest(Box::new(RcfState::new(plan, p)?))
            }
            OperatorPlan::ItemsTumbling(_) => OpState::ItemsTumbling(ItemsState::new()),
            OperatorPlan::GroupRank(_) => OpState::GroupRank(GroupRankState::default()),
            OperatorPlan::Hotspots(plan) => {
                OpState::Hotspots(Box::new(HotspotsState::new(plan, p)?))
            }
        })
    }

    /// The earliest ROWTIME of an input row whose effect this operator
    /// still holds (the start of its oldest open window), or `None` when it
    /// holds nothing. Rows before it are fully reflected in emitted output.
    pub(crate) fn retained_since(&self) -> Option<i64> {
        match self {
            // A forest's rows come out as they go in; what it learned is
            // not output waiting for later rows.
            OpState::Project | OpState::RandomCutForest(_) | OpState::Hotspots(_) => None,
            OpState::Tumbling(t) => match t.first_rowtime {
                Some(first) if !t.windows.is_empty() => Some(first),
                _ => t.windows.keys().next().copied(),
            },
            OpState::Sliding(s) => s.retained_since(),
            OpState::Stagger(s) => s.retained_since(),
            OpState::ItemsTumbling(s) => s.retained_since(),
            OpState::GroupRank(s) => s.retained_since(),
        }
    }

    /// Processes a batch of the source stream.
    pub(crate) fn push(
        &mut self,
        p: &PumpDef,
        target: &StreamDef,
        batch: &RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        match (&p.op, self) {
            (OperatorPlan::Project(plan), OpState::Project) => {
                filter_project(
                    plan.filter.as_ref(),
                    &plan.exprs,
                    batch,
                    &p.name,
                    target,
                    out,
                );
                Ok(())
            }
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::Sliding(plan), OpState::Sliding(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::Stagger(plan), OpState::Stagger(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::RandomCutForest(plan), OpState::RandomCutForest(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::ItemsTumbling(plan), OpState::ItemsTumbling(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::GroupRank(plan), OpState::GroupRank(st)) => {
                st.push(plan, p, target, batch, out)
            }
            (OperatorPlan::Hotspots(plan), OpState::Hotspots(st)) => {
                st.push(plan, p, target, batch, out)
            }
            _ => Err(EngineError::Plan {
                location: p.declared_at,
                message: format!(
                    "pump \"{}\": operator state does not match its plan",
                    p.name
                ),
            }),
        }
    }

    /// Time has reached `now`: emit what closes at or before it.
    pub(crate) fn advance(
        &mut self,
        p: &PumpDef,
        target: &StreamDef,
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        match (&p.op, self) {
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(st)) => {
                st.close_until(plan, p, target, now, out)
            }
            (OperatorPlan::Stagger(plan), OpState::Stagger(st)) => {
                st.close_until(plan, p, target, now, out)
            }
            (OperatorPlan::ItemsTumbling(plan), OpState::ItemsTumbling(st)) => {
                st.advance(plan, p, target, now, out)
            }
            (OperatorPlan::GroupRank(plan), OpState::GroupRank(st)) => {
                st.advance(plan, p, target, now, out)
            }
            _ => Ok(()),
        }
    }

    /// The end of the earliest open window, if any.
    pub(crate) fn open_window_end(&self, p: &PumpDef) -> Option<i64> {
        match (&p.op, self) {
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(st)) if !plan.monotonic => {
                st.windows.keys().next().map(|&s| plan.size.end(s))
            }
            (OperatorPlan::Stagger(_), OpState::Stagger(st)) => st.first_end(),
            (OperatorPlan::ItemsTumbling(plan), OpState::ItemsTumbling(st)) => {
                st.open_window_end(plan)
            }
            (OperatorPlan::GroupRank(_), OpState::GroupRank(st)) => st.open_window_end(),
            _ => None,
        }
    }

    /// The next time after `t` at which this operator may emit because of
    /// time alone (a window end), if any.
    pub(crate) fn next_boundary(&self, p: &PumpDef, t: i64) -> Option<i64> {
        match (&p.op, self) {
            (OperatorPlan::Tumbling(plan), OpState::Tumbling(_)) if !plan.monotonic => {
                Some(plan.size.end(plan.size.start(t)))
            }
            (OperatorPlan::Stagger(plan), OpState::Stagger(st)) => st.next_boundary(plan, t),
            (OperatorPlan::ItemsTumbling(plan), OpState::ItemsTumbling(_)) => {
                Some(ItemsState::next_boundary(plan, t))
            }
            (OperatorPlan::GroupRank(_), OpState::GroupRank(_)) => Some(t + 1),
            _ => None,
        }
    }
}
