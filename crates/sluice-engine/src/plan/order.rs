//! Planning a pump's streaming ORDER BY: the leading time-based key's
//! bucket and the sort keys of an [`OrderPlan`]. The operator that runs it
//! is `ops/order.rs`.

use datafusion::sql::sqlparser::ast::{Expr, Value};

use super::expr_location;
use super::types::{ROWTIME, StreamDef};
use super::window::{WindowSize, time_column_of, window_of};
use crate::error::{EngineError, Location, Result};
use crate::sql::kda_name;

/// How output rows are gathered before sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderBucket {
    /// Rows sharing one output ROWTIME.
    Rowtime,
    /// Rows whose output ROWTIME falls in one window of this size; emitted
    /// at the window's end, with that end as their ROWTIME.
    Window(WindowSize),
}

/// One sort key after the leading (time) expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// Column of the operator's output batch (0 is ROWTIME).
    pub column: usize,
    /// DESC.
    pub descending: bool,
    /// NULLs before every value.
    pub nulls_first: bool,
}

/// A pump's ORDER BY.
#[derive(Debug)]
pub struct OrderPlan {
    /// How rows are gathered.
    pub bucket: OrderBucket,
    /// The keys rows are sorted by within a bucket.
    pub keys: Vec<SortKey>,
    /// What the pump's operator produces: the target stream's columns, then
    /// one column per sort key that is not in the select list.
    pub op_target: StreamDef,
}

/// A sort key of a streaming ORDER BY: a select item, or an expression the
/// operator computes as an extra column.
#[derive(Debug, Clone, Copy)]
pub(super) enum OrderKeyRef {
    Selected(usize),
    Hidden(usize),
}

pub(super) type OrderKeys = (OrderBucket, Vec<(OrderKeyRef, bool, bool)>);

/// Plans a pump's ORDER BY: its leading expression must be time-based and
/// monotonic (ROWTIME, a ROWTIME window, or a GROUP BY's window key); the
/// other keys may be select-list positions, aliases or expressions (those
/// not selected are appended to `items`).
pub(super) fn order_keys(
    order_by: datafusion::sql::sqlparser::ast::OrderBy,
    items: &mut Vec<(Expr, Location)>,
    aliases: &[(String, usize)],
    group_by: &[Expr],
    resolve: &dyn Fn(&mut Expr, &[String]) -> Result<()>,
    at: Location,
) -> Result<OrderKeys> {
    use datafusion::sql::sqlparser::ast::OrderByKind;
    let OrderByKind::Expressions(exprs) = order_by.kind else {
        return Err(EngineError::Unsupported {
            location: at,
            what: "ORDER BY ALL on a stream; list the keys".into(),
        });
    };
    if order_by.interpolate.is_some() {
        return Err(EngineError::Unsupported {
            location: at,
            what: "ORDER BY ... INTERPOLATE".into(),
        });
    }
    let selected = items.len();
    let mut bucket = None;
    let mut keys = Vec::new();
    for (n, o) in exprs.into_iter().enumerate() {
        let l = expr_location(&o.expr, at);
        if o.with_fill.is_some() {
            return Err(EngineError::Unsupported {
                location: l,
                what: "ORDER BY ... WITH FILL".into(),
            });
        }
        // A position or an alias names a select item; otherwise the
        // expression is matched against the select list by its text.
        let mut item = None;
        match &o.expr {
            Expr::Value(v) => {
                if let Value::Number(text, _) = &v.value {
                    let pos: usize = text.parse().unwrap_or(0);
                    if pos == 0 || pos > selected {
                        return Err(EngineError::Plan {
                            location: l,
                            message: format!(
                                "ORDER BY position {text} is not in the select list (1 to {selected})"
                            ),
                        });
                    }
                    item = Some(pos - 1);
                }
            }
            Expr::Identifier(id) => {
                let name = kda_name(id);
                item = aliases.iter().find(|(a, _)| *a == name).map(|&(_, i)| i);
            }
            _ => {}
        }
        let expr = match item {
            Some(i) => items[i].0.clone(),
            None => {
                let mut e = o.expr.clone();
                resolve(&mut e, &[])?;
                let text = e.to_string();
                item = items[..selected]
                    .iter()
                    .position(|(x, _)| x.to_string() == text);
                e
            }
        };
        let descending = o.options.asc == Some(false);
        if n == 0 {
            if descending {
                return Err(EngineError::Plan {
                    location: l,
                    message: format!(
                        "ORDER BY {}: the leading key of a streaming ORDER BY must be ascending (ROWTIME only moves forward)",
                        o.expr
                    ),
                });
            }
            bucket = Some(order_bucket(&expr, &o.expr, group_by, l)?);
            continue;
        }
        let key = match item {
            Some(i) => OrderKeyRef::Selected(i),
            None => {
                let h = items.len() - selected;
                items.push((expr, l));
                OrderKeyRef::Hidden(h)
            }
        };
        // Unstated, NULLs sort as greater than every value.
        let nulls_first = o.options.nulls_first.unwrap_or(descending);
        keys.push((key, descending, nulls_first));
    }
    let bucket = bucket.ok_or_else(|| EngineError::Plan {
        location: at,
        message: "ORDER BY without keys".into(),
    })?;
    Ok((bucket, keys))
}

/// The bucket a streaming ORDER BY's leading expression makes, or why it
/// is not time-based and monotonic.
fn order_bucket(e: &Expr, written: &Expr, group_by: &[Expr], at: Location) -> Result<OrderBucket> {
    if time_column_of(e) == Some(ROWTIME) {
        return Ok(OrderBucket::Rowtime);
    }
    let text = e.to_string();
    let window = group_by.iter().find(|g| {
        matches!(g, Expr::Function(f) if f.name.to_string() == crate::sql::STAGGER_FUNCTION)
            || matches!(window_of(g, at), Ok(Some(_)))
    });
    if let Some(g) = window {
        // A GROUP BY's rows of one window share their ROWTIME (its end).
        let same = g.to_string() == text
            || match (window_of(g, at), window_of(e, at)) {
                (Ok(Some(a)), Ok(Some(b))) => a == b,
                _ => false,
            };
        if same {
            return Ok(OrderBucket::Rowtime);
        }
        return Err(EngineError::Plan {
            location: at,
            message: format!(
                "ORDER BY {written}: in a GROUP BY query a streaming ORDER BY must start with ROWTIME or the window key {g}"
            ),
        });
    }
    if let Some((ROWTIME, size)) = window_of(e, at)? {
        return Ok(OrderBucket::Window(size));
    }
    Err(EngineError::Plan {
        location: at,
        message: format!(
            "ORDER BY {written}: a streaming ORDER BY must start with a time-based monotonic expression (ROWTIME, FLOOR(ROWTIME TO MINUTE), STEP(ROWTIME BY INTERVAL '10' SECOND))"
        ),
    })
}
