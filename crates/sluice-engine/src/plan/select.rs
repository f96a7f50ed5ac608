//! Planning one pump: its INSERT target and columns, FROM / JOIN, the select
//! list (with `*` expanded), WHERE, and the dispatch to a project, tumbling
//! or sliding plan; then the select items as the target's columns.

use std::cell::RefCell;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{
    Distinct, Expr, GroupByExpr, NamedWindowDefinition, NamedWindowExpr, SelectItem, SetExpr,
    VisitMut,
};

use super::join::JoinKind;
use super::order::{OrderKeyRef, OrderPlan, SortKey, order_keys};
use super::scope::{ColumnResolver, Relation, RelationRef, Scope, column_ref};
use super::sliding::has_over;
use super::subquery::Inference;
use super::types::{
    DistinctPlan, ERROR_STREAM, OperatorPlan, ProjectPlan, PumpDef, StreamColumn, StreamDef,
    TableDecl,
};
use super::{Planner, cast_to, df_err, expr_location, sql_type_name};
use crate::error::{EngineError, Location, Result, closest};
use crate::sql::{Name, PumpDecl, ident_location, kda_name};
use crate::types::{SqlType, TypeFamily};

impl Planner {
    pub(super) fn find_stream(
        &self,
        streams: &[StreamDef],
        name: &str,
        at: Location,
    ) -> Result<usize> {
        streams
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| EngineError::UnknownStream {
                location: at,
                name: name.to_string(),
                suggestion: closest(name, streams.iter().map(|s| s.name.as_str())),
            })
    }

    pub(super) fn plan_pump(
        &self,
        p: PumpDecl,
        streams: &[StreamDef],
        tables: &[TableDecl],
    ) -> Result<PumpDef> {
        self.plan_query(p, streams, tables, None)
    }

    /// Plans one pump. With `infer` (a subquery's hidden pump), its target
    /// stream does not exist yet: the select list names its columns (or
    /// the alias's names do) and planning records each item's type.
    pub(super) fn plan_query(
        &self,
        p: PumpDecl,
        streams: &[StreamDef],
        tables: &[TableDecl],
        infer: Option<(&[Name], &Inference)>,
    ) -> Result<PumpDef> {
        let (into, mut target_cols) = match infer {
            Some(_) => (usize::MAX, Vec::new()),
            None => {
                let into = self.find_stream(streams, &p.target.value, p.target.location)?;
                if streams[into].name == ERROR_STREAM {
                    return Err(EngineError::Plan {
                        location: p.target.location,
                        message: "pumps cannot insert into error_stream".into(),
                    });
                }
                (into, self.target_columns(&p, &streams[into])?)
            }
        };

        let unsupported = |at: Location, what: &str| EngineError::Unsupported {
            location: at,
            what: what.to_string(),
        };
        let at = p.query_location;
        let query = *p.query;
        let order_by = query.order_by.clone();
        if query.limit_clause.is_some() || query.fetch.is_some() {
            return Err(unsupported(at, "LIMIT/FETCH on a stream"));
        }
        if query.with.is_some() {
            return Err(unsupported(at, "WITH in a pump's query"));
        }
        let SetExpr::Select(select) = *query.body else {
            return Err(unsupported(
                at,
                "UNION and other set operations between streams",
            ));
        };
        let mut select = *select;
        let distinct = match select.distinct.take() {
            None | Some(Distinct::All) => false,
            Some(Distinct::Distinct) => true,
            Some(Distinct::On(_)) => return Err(unsupported(at, "SELECT DISTINCT ON (...)")),
        };
        // `FROM a, b WHERE cond` is `FROM a CROSS JOIN b ON cond` (an inner
        // join's condition and a WHERE over it keep the same rows).
        if select.from.len() == 2 && select.from.iter().all(|f| f.joins.is_empty()) {
            use datafusion::sql::sqlparser::ast::{Join, JoinConstraint, JoinOperator};
            let second = select.from.remove(1);
            let constraint = match select.selection.take() {
                Some(w) => JoinConstraint::On(w),
                None => JoinConstraint::None,
            };
            select.from[0].joins.push(Join {
                relation: second.relation,
                global: false,
                join_operator: JoinOperator::CrossJoin(constraint),
            });
        }
        if select.from.len() != 1 {
            return Err(unsupported(
                at,
                "a comma-separated FROM list of more than two relations; join two in a pump, then join its stream",
            ));
        }
        if select.from[0].joins.len() > 1 {
            return Err(unsupported(
                at,
                "more than two streams or tables in one query: join two in a pump, then join its stream",
            ));
        }
        let first = self.relation(&select.from[0].relation, streams, tables, at)?;
        if let RelationRef::Table(t) = first.target
            && tables[t].is_values()
        {
            return Err(EngineError::Plan {
                location: first.at,
                message: if select.from[0].joins.is_empty() {
                    "a VALUES table is not a stream: it has no ROWTIME, so a pump cannot read it alone; join it to a stream, e.g. FROM S AS s JOIN (VALUES (1, 'a'), (2, 'b')) AS t(k, v) ON s.k = t.k".into()
                } else {
                    "a VALUES table first in FROM: write the stream first (FROM stream JOIN (VALUES ..) AS t(c, ..))".into()
                },
            });
        }
        let RelationRef::Stream(from) = first.target else {
            return Err(unsupported(
                first.at,
                "a reference table first in FROM: write the stream first (FROM stream JOIN table)",
            ));
        };
        if streams[from].name == ERROR_STREAM {
            return Err(unsupported(first.at, "reading error_stream in a pump"));
        }
        let mut join_on: Option<(JoinKind, bool, Option<Expr>, Relation)> = None;
        if let Some(j) = select.from[0].joins.first() {
            use datafusion::sql::sqlparser::ast::{JoinConstraint, JoinOperator};
            let cross = matches!(j.join_operator, JoinOperator::CrossJoin(_));
            let (kind, constraint) = match &j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinKind::Inner, c),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::LeftOuter, c),
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinKind::RightOuter, c),
                JoinOperator::FullOuter(c) => (JoinKind::FullOuter, c),
                JoinOperator::CrossJoin(c) => (JoinKind::Inner, c),
                other => {
                    return Err(unsupported(
                        at,
                        &format!(
                            "this kind of join ({}); KDA joins are INNER, LEFT, RIGHT, FULL OUTER and CROSS",
                            format!("{other:?}").split('(').next().unwrap_or("?")
                        ),
                    ));
                }
            };
            let on = match constraint {
                JoinConstraint::On(e) => Some(e.clone()),
                JoinConstraint::None => None,
                JoinConstraint::Using(_) | JoinConstraint::Natural => {
                    return Err(unsupported(
                        at,
                        "JOIN ... USING / NATURAL JOIN; write the condition with ON",
                    ));
                }
            };
            let right = self.relation(&j.relation, streams, tables, at)?;
            if let RelationRef::Stream(r) = right.target
                && streams[r].name == ERROR_STREAM
            {
                return Err(unsupported(right.at, "reading error_stream in a pump"));
            }
            join_on = Some((kind, cross, on, right));
        }
        if join_on.is_none() && first.window.is_some() {
            return Err(unsupported(
                first.at,
                "a window (OVER) on a stream in FROM without a JOIN; put OVER on the aggregate",
            ));
        }
        // The rows the query reads: the stream itself, or joined rows.
        let (source_owned, scope, mut join_parts) = match join_on {
            None => {
                let source = streams[from].clone();
                let mut qualifiers = vec![first.name.clone()];
                if first.full_name != first.name {
                    qualifiers.push(first.full_name.clone());
                }
                qualifiers.extend(first.alias.clone());
                (source, Scope::Single { qualifiers }, None)
            }
            Some((kind, cross, on, right)) => {
                let (joined, scope) = self.joined_stream(&first, &right, streams, tables)?;
                (joined, scope, Some((kind, cross, on, first, right)))
            }
        };
        let source = &source_owned;
        let qualifiers = match &scope {
            Scope::Single { qualifiers } => qualifiers.clone(),
            Scope::Join(_) => Vec::new(),
        };
        let join_scope = match &scope {
            Scope::Join(j) => Some(j),
            Scope::Single { .. } => None,
        };

        // Select list, with * expanded to the source's columns.
        let mut items: Vec<(Expr, Location)> = Vec::new();
        let mut aliases: Vec<(String, usize)> = Vec::new();
        // Each item's column name, as KDA names a subquery's columns.
        let mut names: Vec<Name> = Vec::new();
        for (position, item) in select.projection.drain(..).enumerate() {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let l = expr_location(&e, at);
                    names.push(Name {
                        value: default_name(&e, position),
                        location: l,
                    });
                    items.push((e, l));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let l = expr_location(&expr, at);
                    aliases.push((kda_name(&alias), items.len()));
                    names.push(Name {
                        value: kda_name(&alias),
                        location: ident_location(&alias),
                    });
                    items.push((expr, l));
                }
                SelectItem::Wildcard(_) => match join_scope {
                    None => {
                        for c in &source.columns {
                            names.push(Name {
                                value: c.name.clone(),
                                location: at,
                            });
                            items.push((column_ref(&c.name), at));
                        }
                    }
                    Some(j) => {
                        for side in &j.sides {
                            for c in &side.user_columns {
                                names.push(Name {
                                    value: c.clone(),
                                    location: at,
                                });
                                items.push((column_ref(&format!("{}.{c}", side.prefix)), at));
                            }
                        }
                    }
                },
                SelectItem::QualifiedWildcard(kind, _) => match join_scope {
                    None => {
                        for c in &source.columns {
                            names.push(Name {
                                value: c.name.clone(),
                                location: at,
                            });
                            items.push((column_ref(&c.name), at));
                        }
                    }
                    Some(j) => {
                        let q = kind.to_string();
                        let q = q.trim_end_matches(".*").trim_matches('"');
                        let side = j
                            .sides
                            .iter()
                            .find(|s| s.qualifiers.iter().any(|x| x.eq_ignore_ascii_case(q)))
                            .ok_or_else(|| EngineError::UnknownStream {
                                location: at,
                                name: q.to_string(),
                                suggestion: None,
                            })?;
                        for c in &side.user_columns {
                            names.push(Name {
                                value: c.clone(),
                                location: at,
                            });
                            items.push((column_ref(&format!("{}.{c}", side.prefix)), at));
                        }
                    }
                },
                SelectItem::ExprWithAliases { expr, .. } => {
                    return Err(unsupported(expr_location(&expr, at), "AS (alias, ...)"));
                }
            }
        }
        // A ROW-valued call (REGEX_LOG_PARSE, ...) is taken apart into one
        // column per field in a subquery; elsewhere it has nowhere to go.
        let expanded_alias = match infer {
            Some((alias_columns, _)) => {
                expand_rows(&mut items, &mut names, &mut aliases, alias_columns)?
            }
            // A subquery's pump planned again against its stream.
            None if streams[into].hidden => {
                expand_rows(&mut items, &mut names, &mut aliases, &[])?;
                None
            }
            None => {
                if let Some((e, l)) = items.iter().find(|(e, _)| row_call(e).is_some()) {
                    return Err(EngineError::Unsupported {
                        location: *l,
                        what: format!(
                            "{} as a column: it returns a ROW, whose fields an enclosing query selects, e.g. SELECT STREAM t.r.COLUMN1 FROM (SELECT STREAM {}(..) AS r FROM s) AS t",
                            row_call(e).map_or(String::new(), |(n, _)| n.to_uppercase()),
                            row_call(e).map_or(String::new(), |(n, _)| n.to_uppercase()),
                        ),
                    });
                }
                None
            }
        };
        let provisional;
        let target: &StreamDef = match infer {
            None => &streams[into],
            Some((alias_columns, inference)) => {
                let alias_columns = expanded_alias.as_deref().unwrap_or(alias_columns);
                provisional =
                    self.provisional_target(&p.target.value, names, alias_columns, inference, at)?;
                target_cols = (0..provisional.columns.len()).collect();
                &provisional
            }
        };
        if items.len() != target_cols.len() {
            return Err(EngineError::ColumnCount {
                location: at,
                pump: p.name.value.clone(),
                stream: target.name.clone(),
                expected: target_cols.len(),
                actual: items.len(),
            });
        }
        let resolve = |e: &mut Expr, extra: &[String]| -> Result<()> {
            let mut r = ColumnResolver {
                stream: source,
                qualifiers: qualifiers.clone(),
                join: join_scope,
                extra,
                error: None,
            };
            let _ = e.visit(&mut r);
            match r.error {
                Some(err) => Err(err),
                None => Ok(()),
            }
        };
        for (e, l) in items.iter_mut() {
            inline_subqueries(e, *l)?;
            resolve(e, &[])?;
        }
        if let Some((_, inference)) = infer {
            // A plain column reference keeps its column's declared type.
            *inference.declared.borrow_mut() = items
                .iter()
                .map(|(e, _)| match e {
                    Expr::Identifier(id) => source
                        .columns
                        .iter()
                        .find(|c| c.name == id.value)
                        .map(|c| c.sql_type),
                    _ => None,
                })
                .collect();
            *inference.monotonic.borrow_mut() = items
                .iter()
                .map(|(e, _)| monotonic_item(e, source))
                .collect();
        }
        let mut filter = select.selection.take();
        if let Some(f) = filter.as_mut() {
            inline_subqueries(f, at)?;
            resolve(f, &[])?;
        }
        let mut having = select.having.take();
        if let Some(h) = having.as_mut() {
            inline_subqueries(h, at)?;
            resolve(h, &[])?;
        }
        let group_by = match std::mem::replace(
            &mut select.group_by,
            GroupByExpr::Expressions(vec![], vec![]),
        ) {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs,
            _ => return Err(unsupported(at, "GROUP BY ALL / ROLLUP / CUBE on a stream")),
        };
        let mut group_by = group_by;
        for g in group_by.iter_mut() {
            resolve(g, &[])?;
        }
        let mut named_windows = std::mem::take(&mut select.named_window);
        for NamedWindowDefinition(_, expr) in named_windows.iter_mut() {
            if let NamedWindowExpr::WindowSpec(spec) = expr {
                for e in spec.partition_by.iter_mut() {
                    resolve(e, &[])?;
                }
                for o in spec.order_by.iter_mut() {
                    resolve(&mut o.expr, &[])?;
                }
            }
        }
        let order = match order_by {
            Some(o) => Some(order_keys(
                o, &mut items, &aliases, &group_by, &resolve, at,
            )?),
            None => None,
        };
        let sliding = !named_windows.is_empty() || items.iter().any(|(e, _)| has_over(e));

        let input_schema =
            DFSchema::try_from(source.schema.as_ref().clone()).map_err(df_err(at))?;
        let join = match (join_parts.take(), join_scope) {
            (Some((kind, cross, on, left, right)), Some(scope)) => {
                let on = match on {
                    Some(mut e) => {
                        resolve(&mut e, &[])?;
                        Some(e)
                    }
                    None => None,
                };
                Some(self.plan_join((kind, cross), on, &left, &right, scope, &input_schema, at)?)
            }
            _ => None,
        };
        let filter = match filter {
            Some(f) => {
                let l = expr_location(&f, at);
                Some(self.expr(&f, &input_schema, l)?)
            }
            None => None,
        };

        // SELECT DISTINCT: duplicates are dropped within the ROWTIME bound
        // KDA gives them, the value of a ROWTIME-monotonic item (ROWTIME,
        // STEP / FLOOR of it); a GROUP BY's rows come out a window at a
        // time, so its bound is the window (the rows' ROWTIME).
        let distinct = if distinct {
            let bound: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, (e, _))| rowtime_monotonic(e))
                .map(|(i, _)| target_cols[i] + 1)
                .collect();
            if bound.is_empty() && (group_by.is_empty() || sliding) {
                return Err(unsupported(
                    at,
                    "SELECT DISTINCT on a stream without a ROWTIME-based item to bound it (KDA requires one, e.g. STEP(s.ROWTIME BY INTERVAL '1' MINUTE) or FLOOR(s.ROWTIME TO MINUTE) in the select list)",
                ));
            }
            Some(DistinctPlan {
                columns: (1..=target.columns.len()).collect(),
                bound,
            })
        } else {
            None
        };

        let ctx = InsertCtx {
            pump: &p.name.value,
            target,
            target_cols: &target_cols,
            hidden: Default::default(),
            infer: infer.map(|(_, i)| &i.types),
        };
        let op = if sliding {
            if let Some(g) = group_by.first() {
                return Err(EngineError::Unsupported {
                    location: expr_location(g, at),
                    what: "GROUP BY together with OVER: a query aggregates either over sliding windows (OVER) or over tumbling windows (GROUP BY)".into(),
                });
            }
            if let Some(h) = having {
                return Err(EngineError::Plan {
                    location: expr_location(&h, at),
                    message: "HAVING without GROUP BY".into(),
                });
            }
            OperatorPlan::Sliding(self.plan_sliding(
                named_windows,
                &items,
                source,
                &input_schema,
                filter,
                &ctx,
                at,
            )?)
        } else if group_by.is_empty() {
            if let Some(h) = having {
                return Err(EngineError::Plan {
                    location: expr_location(&h, at),
                    message: "HAVING without GROUP BY".into(),
                });
            }
            if let Some((e, l)) = items.iter().find(|(e, _)| self.contains_aggregate(e)) {
                let _ = e;
                return Err(EngineError::Plan {
                    location: *l,
                    message: "an aggregate on a stream needs a GROUP BY with a ROWTIME window, e.g. GROUP BY STEP(\"S\".ROWTIME BY INTERVAL '60' SECOND)".into(),
                });
            }
            let exprs = self.insert_exprs(&items, &input_schema, &ctx, |e| Ok(e.clone()))?;
            OperatorPlan::Project(ProjectPlan { filter, exprs })
        } else {
            self.plan_tumbling(
                group_by,
                having,
                &items,
                source,
                &input_schema,
                filter,
                &ctx,
                at,
            )?
        };
        let order = order.map(|(bucket, keys)| {
            let hidden = ctx.hidden.take();
            let mut columns = target.columns.clone();
            for (i, t) in hidden.into_iter().enumerate() {
                columns.push(StreamColumn::new(format!("$ORDER_BY_{}", i + 1), t));
            }
            let keys = keys
                .into_iter()
                .map(|(key, descending, nulls_first)| SortKey {
                    column: match key {
                        OrderKeyRef::Selected(i) => target_cols[i] + 1,
                        OrderKeyRef::Hidden(h) => target.columns.len() + 1 + h,
                    },
                    descending,
                    nulls_first,
                })
                .collect();
            OrderPlan {
                bucket,
                keys,
                op_target: StreamDef::new(target.name.clone(), columns, false, target.declared_at),
            }
        });
        Ok(PumpDef {
            name: p.name.value.clone(),
            from,
            join,
            into,
            stopped: p.stopped,
            op,
            order,
            distinct,
            declared_at: p.name.location,
        })
    }

    /// The target's columns, in the order the select list fills them.
    fn target_columns(&self, p: &PumpDecl, target: &StreamDef) -> Result<Vec<usize>> {
        Ok(match &p.target_columns {
            None => (0..target.columns.len()).collect(),
            Some(names) => {
                let mut idx = Vec::new();
                for n in names {
                    let i = target
                        .columns
                        .iter()
                        .position(|c| c.name == n.value)
                        .ok_or_else(|| EngineError::UnknownColumn {
                            location: n.location,
                            name: n.value.clone(),
                            stream: target.name.clone(),
                            suggestion: closest(
                                &n.value,
                                target.columns.iter().map(|c| c.name.as_str()),
                            ),
                        })?;
                    if idx.contains(&i) {
                        return Err(EngineError::Plan {
                            location: n.location,
                            message: format!("column \"{}\" is listed twice", n.value),
                        });
                    }
                    idx.push(i);
                }
                idx
            }
        })
    }

    /// Plans select items as the target's columns: type check, cast, NULLs for
    /// unlisted columns. `prepare` rewrites each item before planning.
    pub(super) fn insert_exprs(
        &self,
        items: &[(Expr, Location)],
        schema: &DFSchema,
        ctx: &InsertCtx,
        prepare: impl Fn(&Expr) -> Result<Expr>,
    ) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        let arrow_schema = schema.as_arrow();
        let mut out: Vec<Option<Arc<dyn PhysicalExpr>>> = vec![None; ctx.target.columns.len()];
        let mut hidden_exprs = Vec::new();
        let mut hidden_types = Vec::new();
        for (e, at) in items.iter().skip(ctx.target_cols.len()) {
            // ORDER BY keys computed beside the select list, in their own type.
            let e = prepare(e)?;
            let phys = self.expr(&e, schema, *at)?;
            let actual = phys.data_type(arrow_schema).map_err(df_err(*at))?;
            let t = SqlType::from_arrow(&actual).ok_or_else(|| EngineError::Plan {
                location: *at,
                message: format!("ORDER BY {e}: values of type {actual} cannot be sorted"),
            })?;
            hidden_exprs.push(cast_to(phys, arrow_schema, t.to_arrow(), *at)?);
            hidden_types.push(t);
        }
        *ctx.hidden.borrow_mut() = hidden_types;
        for ((e, at), &col) in items.iter().zip(ctx.target_cols) {
            let e = prepare(e)?;
            let phys = self.expr(&e, schema, *at)?;
            let column = &ctx.target.columns[col];
            let actual = phys.data_type(arrow_schema).map_err(df_err(*at))?;
            if let Some(types) = ctx.infer {
                types.borrow_mut()[col] = Some(actual);
                out[col] = Some(phys);
                continue;
            }
            if !insertable(&actual, column.sql_type) {
                return Err(EngineError::TypeMismatch {
                    location: *at,
                    pump: ctx.pump.to_string(),
                    stream: ctx.target.name.clone(),
                    column: column.name.clone(),
                    expected: column.sql_type,
                    actual: sql_type_name(&actual),
                });
            }
            out[col] = Some(cast_to(
                phys,
                arrow_schema,
                column.sql_type.to_arrow(),
                *at,
            )?);
        }
        out.into_iter()
            .zip(&ctx.target.columns)
            .map(|(e, c)| match e {
                Some(e) => Ok(e),
                None => {
                    let null = datafusion::common::ScalarValue::try_from(&c.sql_type.to_arrow())
                        .map_err(df_err(Location::default()))?;
                    Ok(
                        Arc::new(datafusion::physical_expr::expressions::Literal::new(null))
                            as Arc<dyn PhysicalExpr>,
                    )
                }
            })
            .chain(hidden_exprs.into_iter().map(Ok))
            .collect()
    }
}

pub(super) struct InsertCtx<'a> {
    pump: &'a str,
    target: &'a StreamDef,
    target_cols: &'a [usize],
    /// Types of the select items after the target's columns (ORDER BY keys
    /// not in the select list), as [`AppPlan::insert_exprs`] planned them.
    hidden: RefCell<Vec<SqlType>>,
    /// Set for a subquery's hidden pump: each item's type is recorded here
    /// instead of checked against the (provisional) target column.
    infer: Option<&'a RefCell<Vec<Option<DataType>>>>,
}

/// Whether values of `actual` may be stored in a column of `target`.
fn insertable(actual: &DataType, target: SqlType) -> bool {
    if actual == &DataType::Null {
        return true;
    }
    let Some(a) = SqlType::from_arrow(actual) else {
        return false;
    };
    match (a.family(), target.family()) {
        (TypeFamily::Datetime, TypeFamily::Datetime) => a == target,
        (x, y) => x == y,
    }
}

/// Subqueries in a pump's expression: a scalar subquery over one row of
/// VALUES is inlined (as `sluice eval` evaluates it, `plan::eval`); any
/// other is refused: a stream's rows are joined, not looked up.
fn inline_subqueries(e: &mut Expr, at: Location) -> Result<()> {
    super::eval::inline_values(e)?;
    let mut found = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(e, |x: &mut Expr| {
        if matches!(
            x,
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
        ) {
            found = Some(expr_location(x, at));
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    match found {
        Some(location) => Err(EngineError::Unsupported {
            location,
            what: "a subquery in a pump's expression other than a scalar subquery over one row of VALUES: join the stream or table it reads instead (FROM s JOIN (VALUES ..) AS t(c, ..) ON ..)".into(),
        }),
        None => Ok(()),
    }
}

/// KDA's name for an unaliased select item: a column reference's column
/// name (`T.PRICE` is `PRICE`), else `EXPR$<position>`.
pub(super) fn default_name(e: &Expr, position: usize) -> String {
    match e {
        Expr::Identifier(id) => id.value.clone(),
        Expr::CompoundIdentifier(ids) => ids
            .last()
            .map(|id| id.value.clone())
            .unwrap_or_else(|| format!("EXPR${position}")),
        _ => format!("EXPR${position}"),
    }
}

/// Whether a select item only grows with ROWTIME: ROWTIME itself, STEP or
/// FLOOR of it, or what MONOTONIC(..) declares so.
fn rowtime_monotonic(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => rowtime_monotonic(inner),
        Expr::Identifier(id) => id.value == super::types::ROWTIME,
        Expr::CompoundIdentifier(ids) => ids
            .last()
            .is_some_and(|id| id.value == super::types::ROWTIME),
        Expr::Floor { expr, .. } => rowtime_monotonic(expr),
        Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            let args = super::function_args(f);
            match name.as_str() {
                "step" => args.first().is_some_and(|a| rowtime_monotonic(a)),
                "monotonic" => args.len() == 1,
                _ => false,
            }
        }
        _ => false,
    }
}

/// The ROW-valued call an item is, if it is one: its lower-case name and
/// the call.
pub(super) fn row_call(e: &Expr) -> Option<(String, &datafusion::sql::sqlparser::ast::Function)> {
    match e {
        Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            crate::functions::log_parse::ROW_FUNCTIONS
                .contains(&name.as_str())
                .then_some((name, f))
        }
        Expr::Nested(inner) => row_call(inner),
        _ => None,
    }
}

/// Expands each ROW-valued item of a subquery's select list into one item
/// per field, named `<ROW>.<FIELD>` (the ROW's name from the alias's column
/// list, else the item's), each the call with the field's position as a
/// last argument (cast to the field's declared type, if any). Returns the
/// alias's column list to use instead, when there is one and it changed.
fn expand_rows(
    items: &mut Vec<(Expr, Location)>,
    names: &mut Vec<Name>,
    aliases: &mut Vec<(String, usize)>,
    alias_columns: &[Name],
) -> Result<Option<Vec<Name>>> {
    if !items.iter().any(|(e, _)| row_call(e).is_some()) {
        return Ok(None);
    }
    if !alias_columns.is_empty() && alias_columns.len() != items.len() {
        return Err(EngineError::Plan {
            location: alias_columns[0].location,
            message: format!(
                "the subquery's alias names {} columns, but the subquery selects {}",
                alias_columns.len(),
                items.len()
            ),
        });
    }
    let mut new_items = Vec::with_capacity(items.len());
    let mut new_names = Vec::with_capacity(items.len());
    let mut new_alias = Vec::with_capacity(items.len());
    let mut moved: Vec<Option<usize>> = Vec::with_capacity(items.len());
    for (i, ((e, l), name)) in items.drain(..).zip(names.drain(..)).enumerate() {
        let row_name = alias_columns
            .get(i)
            .cloned()
            .unwrap_or_else(|| name.clone());
        let Some((fname, call)) = row_call(&e) else {
            moved.push(Some(new_items.len()));
            new_items.push((e, l));
            new_names.push(name);
            new_alias.push(row_name);
            continue;
        };
        moved.push(None);
        let args: Vec<Expr> = super::function_args(call).into_iter().cloned().collect();
        let fields = crate::functions::log_parse::row_fields(&fname, &args).map_err(|message| {
            EngineError::Plan {
                location: l,
                message,
            }
        })?;
        for (k, field) in fields.iter().enumerate() {
            let expr = row_field_expr(call, k, field)?;
            let n = Name {
                value: format!("{}.{}", row_name.value, field.name),
                location: row_name.location,
            };
            new_items.push((expr, l));
            new_names.push(n.clone());
            new_alias.push(n);
        }
    }
    *items = new_items;
    *names = new_names;
    aliases.retain_mut(|(_, i)| match moved.get(*i).copied().flatten() {
        Some(j) => {
            *i = j;
            true
        }
        None => false,
    });
    Ok((!alias_columns.is_empty()).then_some(new_alias))
}

/// Field `k` of the ROW a log parser's `call` returns, as an expression:
/// the call with the field's position as a last argument, converted to the
/// field's declared type (a date/time field by its SimpleDateFormat
/// pattern), if it has one.
pub(super) fn row_field_expr(
    call: &datafusion::sql::sqlparser::ast::Function,
    k: usize,
    field: &crate::functions::log_parse::RowField,
) -> Result<Expr> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut expr = Expr::Function(crate::functions::log_parse::field_call(call, k));
    if let (Some(format), Some(SqlType::Timestamp | SqlType::Date | SqlType::Time)) =
        (&field.format, field.sql_type)
    {
        // A date/time field with a SimpleDateFormat pattern.
        let mut parsed = crate::sql::parse_expression(&format!(
            "CHAR_TO_TIMESTAMP('{}', NULL)",
            format.replace('\'', "''")
        ))?;
        if let Expr::Function(call) = &mut parsed
            && let FunctionArguments::List(list) = &mut call.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) = list.args.get_mut(1)
        {
            *arg = expr;
        }
        expr = parsed;
        if field.sql_type != Some(SqlType::Timestamp) {
            let mut cast = crate::sql::parse_expression(&format!(
                "CAST(NULL AS {})",
                field.sql_type.map_or(String::new(), |t| t.to_string())
            ))?;
            if let Expr::Cast { expr: inner, .. } = &mut cast {
                **inner = expr;
            }
            expr = cast;
        }
    } else if let Some(t) = field.sql_type {
        let mut cast = crate::sql::parse_expression(&format!("CAST(NULL AS {t})"))?;
        if let Expr::Cast { expr: inner, .. } = &mut cast {
            **inner = expr;
        }
        expr = cast;
    }
    Ok(expr)
}

/// Whether a (resolved) select item never decreases along its stream:
/// ROWTIME-based (`rowtime_monotonic`), a monotonic column of the source,
/// or STEP / FLOOR of one.
fn monotonic_item(e: &Expr, source: &StreamDef) -> bool {
    if rowtime_monotonic(e) {
        return true;
    }
    match e {
        Expr::Nested(inner) => monotonic_item(inner, source),
        Expr::Identifier(id) => source
            .columns
            .iter()
            .any(|c| c.monotonic && c.name == id.value),
        Expr::Floor { expr, .. } => monotonic_item(expr, source),
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("step") => {
            super::function_args(f)
                .first()
                .is_some_and(|a| monotonic_item(a, source))
        }
        _ => false,
    }
}
