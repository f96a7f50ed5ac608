//! Scopes and column resolution: what the names in FROM / JOIN refer to
//! (streams, reference tables, their aliases and join windows), the joined
//! stream two relations make, and resolving column references in a query.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, TableFactor, Value, VisitorMut,
};

use super::join::SideWindow;
use super::types::{
    APPROXIMATE_ARRIVAL_TIME, ROWTIME, SOURCE_METADATA, StreamColumn, StreamDef, TableDecl,
};
use super::window::{WindowSize, interval_size};
use super::{Planner, function_args};
use crate::error::{EngineError, Location, Result, closest};
use crate::sql::{ident_location, kda_name};
use crate::types::SqlType;

/// Resolves column references of a single-source query: strips the stream's
/// name or alias from qualified names and checks every column exists.
/// What a name in FROM / JOIN refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RelationRef {
    /// An in-application stream (index).
    Stream(usize),
    /// A reference table (index).
    Table(usize),
}

/// One relation of FROM / JOIN, as written.
#[derive(Debug, Clone)]
pub(super) struct Relation {
    pub(super) target: RelationRef,
    /// Last part of the name, KDA-resolved.
    pub(super) name: String,
    /// The whole (possibly schema-qualified) name.
    pub(super) full_name: String,
    pub(super) alias: Option<String>,
    /// `OVER (RANGE .. PRECEDING)` / `OVER (ROWS n PRECEDING)` after it.
    pub(super) window: Option<SideWindow>,
    pub(super) at: Location,
}

impl Relation {
    /// The name its columns are qualified with in joined rows.
    fn prefix(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    fn qualifiers(&self) -> Vec<String> {
        let mut q = vec![self.name.clone()];
        if self.full_name != self.name {
            q.push(self.full_name.clone());
        }
        q.extend(self.alias.clone());
        q
    }
}

/// How column names of a query resolve.
pub(super) enum Scope {
    /// One stream: names are its columns.
    Single { qualifiers: Vec<String> },
    /// Joined rows: `q.c` and unambiguous bare names become `<prefix>.c`.
    Join(JoinScope),
}

/// The sides of a join, for name resolution.
pub(super) struct JoinScope {
    pub(super) sides: Vec<ScopeSide>,
}

pub(super) struct ScopeSide {
    pub(super) qualifiers: Vec<String>,
    pub(super) prefix: String,
    /// Stream or table name (for messages).
    pub(super) name: String,
    /// Every column of the side, ROWTIME included for streams.
    pub(super) columns: Vec<String>,
    /// The columns `*` expands to.
    pub(super) user_columns: Vec<String>,
    /// The stream side of a stream-to-table join: its ROWTIME is the joined
    /// row's, so `s.ROWTIME` is plain `ROWTIME` (a window key in GROUP BY).
    /// In a stream-to-stream join the joined ROWTIME is the later of the
    /// two sides', so a side's own ROWTIME stays that side's column.
    pub(super) rowtime_is_joined: bool,
}

impl Planner {
    /// Resolves one FROM / JOIN relation: a stream or reference table, with
    /// its alias and window.
    pub(super) fn relation(
        &self,
        f: &TableFactor,
        streams: &[StreamDef],
        tables: &[TableDecl],
        at: Location,
    ) -> Result<Relation> {
        let TableFactor::Table {
            name, alias, args, ..
        } = f
        else {
            return Err(EngineError::Unsupported {
                location: at,
                what: "a FROM clause that is not a stream or reference table name".into(),
            });
        };
        let parts: Option<Vec<Ident>> = name.0.iter().map(|p| p.as_ident().cloned()).collect();
        let Some(parts) = parts.filter(|p| !p.is_empty()) else {
            return Err(EngineError::Unsupported {
                location: at,
                what: "this FROM clause".into(),
            });
        };
        // A schema-qualified name (AGGTEST.WEATHERSTREAM) names the stream
        // declared under that whole name, if there is one.
        let full = parts.iter().map(kda_name).collect::<Vec<_>>().join(".");
        let last = kda_name(&parts[parts.len() - 1]);
        let from_at = ident_location(&parts[0]);
        let target = if let Some(i) = streams.iter().position(|s| s.name == full) {
            RelationRef::Stream(i)
        } else if let Some(i) = tables.iter().position(|t| t.name == full) {
            RelationRef::Table(i)
        } else if let Some(i) = streams.iter().position(|s| s.name == last) {
            RelationRef::Stream(i)
        } else if let Some(i) = tables.iter().position(|t| t.name == last) {
            RelationRef::Table(i)
        } else if args.is_some() && matches!(full.as_str(), "STEP" | "FLOOR") {
            // `FROM s, STEP(s.ROWTIME BY INTERVAL ..)`: a window is not a
            // relation; it goes in GROUP BY.
            return Err(EngineError::Plan {
                location: from_at,
                message: format!(
                    "{full}(...) in FROM is not a stream: a ROWTIME window goes in GROUP BY, e.g. GROUP BY STEP(\"S\".ROWTIME BY INTERVAL '60' SECOND)"
                ),
            });
        } else {
            return Err(EngineError::UnknownStream {
                location: from_at,
                name: full.clone(),
                suggestion: closest(
                    &full,
                    streams.iter().map(|s| s.name.as_str()).chain(
                        tables
                            .iter()
                            .filter(|t| !t.is_values())
                            .map(|t| t.name.as_str()),
                    ),
                ),
            });
        };
        let window = match args {
            None => None,
            Some(a) => {
                let bad = || {
                    EngineError::Syntax {
                    location: from_at,
                    message: "expected OVER (RANGE INTERVAL '1' MINUTE PRECEDING) or OVER (ROWS 10 PRECEDING) after the stream name".into(),
                }
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(fun)))] =
                    a.args.as_slice()
                else {
                    return Err(bad());
                };
                let name = fun.name.to_string().to_ascii_lowercase();
                let args = function_args(fun);
                match (name.as_str(), args.as_slice()) {
                    (crate::sql::RANGE_FUNCTION, [Expr::Interval(iv)]) => {
                        match interval_size(iv, from_at)? {
                            WindowSize::Millis(ms) => Some(SideWindow::Range(ms)),
                            WindowSize::Months(_) => {
                                return Err(EngineError::Unsupported {
                                    location: from_at,
                                    what: "a join window of months or years".into(),
                                });
                            }
                        }
                    }
                    (crate::sql::ROWS_FUNCTION, [Expr::Value(v)]) => match &v.value {
                        Value::Number(n, _) => match n.parse::<u64>() {
                            Ok(n) => Some(SideWindow::Rows(n)),
                            Err(_) => return Err(bad()),
                        },
                        _ => return Err(bad()),
                    },
                    _ => return Err(bad()),
                }
            }
        };
        if window.is_some() && matches!(target, RelationRef::Table(_)) {
            return Err(EngineError::Unsupported {
                location: from_at,
                what: "a window (OVER) on a reference table: the whole table is always joined"
                    .into(),
            });
        }
        Ok(Relation {
            target,
            name: last,
            full_name: full,
            alias: alias.as_ref().map(|a| kda_name(&a.name)),
            window,
            at: from_at,
        })
    }

    /// The stream of joined rows two relations make, and how names resolve
    /// in it.
    pub(super) fn joined_stream(
        &self,
        left: &Relation,
        right: &Relation,
        streams: &[StreamDef],
        tables: &[TableDecl],
    ) -> Result<(StreamDef, Scope)> {
        if left.prefix() == right.prefix() {
            return Err(EngineError::Plan {
                location: right.at,
                message: format!(
                    "both sides of the join are called \"{}\": give one an alias (AS)",
                    left.prefix()
                ),
            });
        }
        let mut columns = Vec::new();
        let mut sides = Vec::new();
        let has_table = [left, right]
            .iter()
            .any(|r| matches!(r.target, RelationRef::Table(_)));
        for rel in [left, right] {
            let prefix = rel.prefix().to_string();
            let (name, cols, user): (String, Vec<StreamColumn>, Vec<String>) = match rel.target {
                RelationRef::Stream(i) => {
                    let s = &streams[i];
                    let mut cols = vec![StreamColumn::new(ROWTIME, SqlType::Timestamp)];
                    if s.is_source {
                        cols.push(StreamColumn::new(
                            APPROXIMATE_ARRIVAL_TIME,
                            SqlType::Timestamp,
                        ));
                    }
                    cols.extend(
                        s.metadata
                            .iter()
                            .map(|(name, sql_type)| StreamColumn::new(*name, *sql_type)),
                    );
                    cols.extend(s.columns.iter().cloned());
                    let user = s.columns.iter().map(|c| c.name.clone()).collect();
                    (s.name.clone(), cols, user)
                }
                RelationRef::Table(i) => {
                    let t = &tables[i];
                    let user = t.columns.iter().map(|c| c.name.clone()).collect();
                    (t.name.clone(), t.columns.clone(), user)
                }
            };
            let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
            for c in cols {
                columns.push(StreamColumn {
                    name: format!("{prefix}.{}", c.name),
                    sql_type: c.sql_type,
                    not_null: false,
                    monotonic: false,
                });
            }
            sides.push(ScopeSide {
                qualifiers: rel.qualifiers(),
                prefix,
                name,
                columns: names,
                user_columns: user,
                rowtime_is_joined: has_table && matches!(rel.target, RelationRef::Stream(_)),
            });
        }
        let joined = StreamDef::new(
            format!("{} JOIN {}", left.full_name, right.full_name),
            columns,
            false,
            left.at,
        );
        Ok((joined, Scope::Join(JoinScope { sides })))
    }
}

pub(super) struct ColumnResolver<'a> {
    pub(super) stream: &'a StreamDef,
    pub(super) qualifiers: Vec<String>,
    /// Set for a join: names resolve to the joined rows' `<prefix>.c`.
    pub(super) join: Option<&'a JoinScope>,
    pub(super) extra: &'a [String],
    pub(super) error: Option<EngineError>,
}

impl ColumnResolver<'_> {
    /// `t.r."COLUMN1"` (or `r.COLUMN1`): a field of a ROW that a subquery
    /// expanded into the column `R.COLUMN1` (see `select::expand_rows`).
    fn fold_row_field(&self, e: &mut Expr) {
        let Expr::CompoundIdentifier(ids) = e else {
            return;
        };
        let n = ids.len();
        if n < 2 {
            return;
        }
        let combined = format!("{}.{}", ids[n - 2].value, ids[n - 1].value);
        let known = match self.join {
            Some(j) => j.sides.iter().any(|s| s.columns.contains(&combined)),
            None => self.stream.columns.iter().any(|c| c.name == combined),
        };
        if !known {
            return;
        }
        let mut folded: Vec<Ident> = ids[..n - 2].to_vec();
        let span = ids[n - 2].span;
        folded.push(Ident {
            value: combined,
            quote_style: Some('"'),
            span,
        });
        *e = match folded.len() {
            1 => Expr::Identifier(folded.remove(0)),
            _ => Expr::CompoundIdentifier(folded),
        };
    }

    fn resolve_joined(&mut self, j: &JoinScope, e: &mut Expr) -> ControlFlow<()> {
        let joined = |prefix: &str, c: &str| {
            Expr::Identifier(Ident::with_quote('"', format!("{prefix}.{c}")))
        };
        if let Expr::CompoundIdentifier(ids) = e
            && ids.len() >= 2
        {
            let qualifier = &ids[ids.len() - 2];
            let Some(side) = j
                .sides
                .iter()
                .find(|s| s.qualifiers.contains(&qualifier.value))
            else {
                self.error = Some(EngineError::UnknownStream {
                    location: ident_location(qualifier),
                    name: qualifier.value.clone(),
                    suggestion: closest(
                        &qualifier.value,
                        j.sides
                            .iter()
                            .flat_map(|s| s.qualifiers.iter().map(String::as_str)),
                    ),
                });
                return ControlFlow::Break(());
            };
            let c = &ids[ids.len() - 1];
            if !side.columns.contains(&c.value) {
                self.error = Some(EngineError::UnknownColumn {
                    location: ident_location(c),
                    name: c.value.clone(),
                    stream: side.name.clone(),
                    suggestion: closest(&c.value, side.columns.iter().map(String::as_str)),
                });
                return ControlFlow::Break(());
            }
            *e = if side.rowtime_is_joined && c.value == ROWTIME {
                Expr::Identifier(Ident::with_quote('"', ROWTIME))
            } else {
                joined(&side.prefix, &c.value)
            };
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(id) = e {
            if id.value == ROWTIME
                || self.extra.contains(&id.value)
                || self.stream.columns.iter().any(|c| c.name == id.value)
            {
                return ControlFlow::Continue(());
            }
            let having: Vec<&ScopeSide> = j
                .sides
                .iter()
                .filter(|s| {
                    s.user_columns.contains(&id.value)
                        || (SOURCE_METADATA.iter().any(|(m, _)| *m == id.value)
                            && s.columns.contains(&id.value))
                })
                .collect();
            match having.as_slice() {
                [side] => *e = joined(&side.prefix, &id.value),
                [] => {
                    self.error = Some(EngineError::UnknownColumn {
                        location: ident_location(id),
                        name: id.value.clone(),
                        stream: self.stream.name.clone(),
                        suggestion: closest(
                            &id.value,
                            j.sides
                                .iter()
                                .flat_map(|s| s.user_columns.iter().map(String::as_str)),
                        ),
                    });
                    return ControlFlow::Break(());
                }
                _ => {
                    self.error = Some(EngineError::Plan {
                        location: ident_location(id),
                        message: format!(
                            "column \"{}\" is in both \"{}\" and \"{}\": qualify it (e.g. {}.\"{}\")",
                            id.value, having[0].name, having[1].name, having[0].prefix, id.value
                        ),
                    });
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for ColumnResolver<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        self.fold_row_field(e);
        if let Some(j) = self.join {
            return self.resolve_joined(j, e);
        }
        if let Expr::CompoundIdentifier(ids) = e
            && ids.len() >= 2
        {
            let qualifier = &ids[ids.len() - 2];
            if !self.qualifiers.contains(&qualifier.value) {
                self.error = Some(EngineError::UnknownStream {
                    location: ident_location(qualifier),
                    name: qualifier.value.clone(),
                    suggestion: closest(
                        &qualifier.value,
                        self.qualifiers.iter().map(String::as_str),
                    ),
                });
                return ControlFlow::Break(());
            }
            let last = ids[ids.len() - 1].clone();
            *e = Expr::Identifier(last);
        }
        if let Expr::Identifier(id) = e {
            let names = self.stream.column_names();
            if !names.contains(&id.value.as_str()) && !self.extra.contains(&id.value) {
                self.error = Some(EngineError::UnknownColumn {
                    location: ident_location(id),
                    name: id.value.clone(),
                    stream: self.stream.name.clone(),
                    suggestion: closest(&id.value, names),
                });
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

pub(super) fn column_ref(name: &str) -> Expr {
    Expr::Identifier(Ident::with_quote('"', name))
}
