//! Planning a join: the [`JoinPlan`] (kind, each side's window and hash
//! keys, the residual condition) from `FROM a [OVER ..] JOIN b ON ..`.
//! The operator that runs it is `ops/join.rs`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr};

use super::scope::{JoinScope, Relation, RelationRef};
use super::types::ROWTIME;
use super::{Planner, cast_to, df_err, expr_location, sql_type_name};
use crate::error::{EngineError, Location, Result};

/// Which rows a join keeps when they match nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matching pairs (also CROSS JOIN, which has no condition).
    Inner,
    /// Unmatched left rows too.
    LeftOuter,
    /// Unmatched right rows too.
    RightOuter,
    /// Unmatched rows of both sides.
    FullOuter,
}

impl JoinKind {
    /// Whether unmatched rows of side `s` (0 = left, 1 = right) are emitted.
    pub fn keeps(self, s: usize) -> bool {
        match self {
            JoinKind::Inner => false,
            JoinKind::LeftOuter => s == 0,
            JoinKind::RightOuter => s == 1,
            JoinKind::FullOuter => true,
        }
    }
}

/// The window a joined stream is held over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideWindow {
    /// `RANGE INTERVAL .. PRECEDING`, in ms; 0 is "the current row only"
    /// (no OVER clause): rows of the current ROWTIME.
    Range(i64),
    /// `ROWS n PRECEDING`: the current row and the n before it.
    Rows(u64),
}

/// One stream side of a join.
#[derive(Debug)]
pub struct StreamSide {
    /// Index of the stream.
    pub stream: usize,
    /// Its window.
    pub window: SideWindow,
    /// Hash-key expressions over [`Self::schema`], cast to common types.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The stream's batch schema with columns renamed `<side>.<column>`.
    pub schema: SchemaRef,
}

/// The reference-table side of a join.
#[derive(Debug)]
pub struct TableSide {
    /// Index of the table among the application's reference tables.
    pub table: usize,
    /// Hash-key expressions over [`Self::schema`], cast to common types.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The table's columns renamed `<side>.<column>`.
    pub schema: SchemaRef,
}

/// What the right side of a join is.
#[derive(Debug)]
pub enum JoinRight {
    /// Another in-application stream.
    Stream(StreamSide),
    /// A reference table.
    Table(TableSide),
}

/// A planned join.
#[derive(Debug)]
pub struct JoinPlan {
    /// Which unmatched rows are kept.
    pub kind: JoinKind,
    /// The left (first) stream.
    pub left: StreamSide,
    /// The right side.
    pub right: JoinRight,
    /// The rest of `ON` after the hash keys, over [`Self::joined`].
    pub residual: Option<Arc<dyn PhysicalExpr>>,
    /// Schema of joined rows: ROWTIME, left columns, right columns.
    pub joined: SchemaRef,
}

impl JoinPlan {
    /// The streams this join reads: left, and right when it is a stream.
    pub fn streams(&self) -> Vec<usize> {
        match &self.right {
            JoinRight::Stream(r) => vec![self.left.stream, r.stream],
            JoinRight::Table(_) => vec![self.left.stream],
        }
    }

    /// Which side (0 = left, 1 = right) a stream feeds; a self-join's
    /// stream feeds both.
    pub fn sides_of(&self, stream: usize) -> Vec<usize> {
        let mut v = Vec::new();
        if self.left.stream == stream {
            v.push(0);
        }
        if let JoinRight::Stream(r) = &self.right
            && r.stream == stream
        {
            v.push(1);
        }
        v
    }
}

impl Planner {
    /// Plans a join: its kind, each side's window and hash keys (the
    /// equality conjuncts of ON between the two sides), and the residual.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_join(
        &self,
        (kind, cross): (JoinKind, bool),
        on: Option<Expr>,
        left: &Relation,
        right: &Relation,
        scope: &JoinScope,
        joined: &DFSchema,
        at: Location,
    ) -> Result<JoinPlan> {
        let joined_arrow = Arc::new(joined.as_arrow().clone());
        // Side schemas: the joined fields of each side (after ROWTIME).
        let nl = scope.sides[0].columns.len();
        let fields = joined_arrow.fields();
        let left_schema = Arc::new(Schema::new(fields[1..1 + nl].to_vec()));
        let right_schema = Arc::new(Schema::new(fields[1 + nl..].to_vec()));
        let left_df = DFSchema::try_from(left_schema.as_ref().clone()).map_err(df_err(at))?;
        let right_df = DFSchema::try_from(right_schema.as_ref().clone()).map_err(df_err(at))?;

        // Split ON into side-to-side equalities and the rest.
        let mut conjuncts = Vec::new();
        if let Some(e) = on {
            split_and(e, &mut conjuncts);
        }
        let side_of = |e: &Expr| -> (bool, bool) {
            let mut l = false;
            let mut r = false;
            let mut e = e.clone();
            let _ =
                datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
                    if let Expr::Identifier(id) = x {
                        if id.value.starts_with(&format!("{}.", scope.sides[0].prefix)) {
                            l = true;
                        } else if id.value.starts_with(&format!("{}.", scope.sides[1].prefix)) {
                            r = true;
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            (l, r)
        };
        // `a.ROWTIME = b.ROWTIME`: the two sides' current rows, which KDA
        // joins when neither side has a window (see below).
        let rowtime_of = |i: usize| format!("{}.{ROWTIME}", scope.sides[i].prefix);
        let is_ident = |e: &Expr, name: &str| matches!(e, Expr::Identifier(id) if id.value == name);
        let equal_rowtimes = conjuncts.iter().any(|c| {
            matches!(c, Expr::BinaryOp { left: a, op: BinaryOperator::Eq, right: b }
                if (is_ident(a, &rowtime_of(0)) && is_ident(b, &rowtime_of(1)))
                    || (is_ident(a, &rowtime_of(1)) && is_ident(b, &rowtime_of(0))))
        });
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        let mut residual: Vec<Expr> = Vec::new();
        for c in conjuncts {
            if let Expr::BinaryOp {
                left: a,
                op: BinaryOperator::Eq,
                right: b,
            } = &c
            {
                let (sa, sb) = (side_of(a), side_of(b));
                let pair = match (sa, sb) {
                    ((true, false), (false, true)) => {
                        Some((a.as_ref().clone(), b.as_ref().clone()))
                    }
                    ((false, true), (true, false)) => {
                        Some((b.as_ref().clone(), a.as_ref().clone()))
                    }
                    _ => None,
                };
                if let Some((l, r)) = pair {
                    let ll = expr_location(&l, at);
                    let rl = expr_location(&r, at);
                    let lp = self.expr(&l, &left_df, ll)?;
                    let rp = self.expr(&r, &right_df, rl)?;
                    let lt = lp.data_type(&left_schema).map_err(df_err(ll))?;
                    let rt = rp.data_type(&right_schema).map_err(df_err(rl))?;
                    let common =
                        datafusion::logical_expr::type_coercion::binary::comparison_coercion(
                            &lt, &rt,
                        )
                        .ok_or_else(|| EngineError::Plan {
                            location: ll,
                            message: format!(
                                "cannot compare {} with {} in the join condition",
                                sql_type_name(&lt),
                                sql_type_name(&rt)
                            ),
                        })?;
                    left_keys.push(cast_to(lp, &left_schema, common.clone(), ll)?);
                    right_keys.push(cast_to(rp, &right_schema, common, rl)?);
                    continue;
                }
            }
            residual.push(c);
        }
        let residual = match residual.into_iter().reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        }) {
            Some(e) => {
                let l = expr_location(&e, at);
                Some(self.expr(&e, joined, l)?)
            }
            None => None,
        };
        let left_side = StreamSide {
            stream: match left.target {
                RelationRef::Stream(i) => i,
                RelationRef::Table(_) => usize::MAX,
            },
            window: left.window.unwrap_or(SideWindow::Range(0)),
            keys: left_keys,
            schema: left_schema,
        };
        let right_side = match right.target {
            RelationRef::Stream(i) => {
                // Without windows only each side's current row takes part
                // (KDA's JOIN clause): rows of equal ROWTIME. A condition
                // equating the ROWTIMEs says just that, and so does a CROSS
                // JOIN or comma list (public apps pair a function's rows
                // with their source's this way); otherwise KDA asks for a
                // window.
                if left.window.is_none() && right.window.is_none() && !equal_rowtimes && !cross {
                    return Err(EngineError::Plan {
                        location: right.at,
                        message: "a join of two streams needs a window on at least one side, e.g. FROM A OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a JOIN B AS b ON ...".into(),
                    });
                }
                JoinRight::Stream(StreamSide {
                    stream: i,
                    window: right.window.unwrap_or(SideWindow::Range(0)),
                    keys: right_keys,
                    schema: right_schema,
                })
            }
            RelationRef::Table(i) => {
                if matches!(kind, JoinKind::RightOuter | JoinKind::FullOuter) {
                    return Err(EngineError::Unsupported {
                        location: right.at,
                        what: "RIGHT or FULL OUTER JOIN with a reference table: a stream joins a table with JOIN or LEFT OUTER JOIN".into(),
                    });
                }
                JoinRight::Table(TableSide {
                    table: i,
                    keys: right_keys,
                    schema: right_schema,
                })
            }
        };
        Ok(JoinPlan {
            kind,
            left: left_side,
            right: right_side,
            residual,
            joined: joined_arrow,
        })
    }
}

/// The conjuncts of an AND chain.
fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(*inner, out)
        }
        other => out.push(other),
    }
}
