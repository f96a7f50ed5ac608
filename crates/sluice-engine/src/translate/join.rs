//! A pump's join as a Flink view of the joined rows (`<PUMP>$joined`):
//! `ROWTIME` (KDA's: the later of the two rows' for a stream join, the
//! stream row's for a reference-table join), then every column of each
//! side named `<side>.<column>`, as the planner's joined rows are. The
//! pump's operator then reads that view.
//!
//! - Two streams, each over `RANGE INTERVAL .. PRECEDING` (or no window:
//!   the rows of the current ROWTIME): a Flink interval join. KDA pairs
//!   two rows when each is inside its own side's window at the later
//!   row's time, i.e. `r.ROWTIME BETWEEN l.ROWTIME - Wr AND l.ROWTIME +
//!   Wl`, which is exactly an interval join's bound. An outer side's
//!   unmatched row comes out with ROWTIME its window's end, as in KDA.
//!   `ROWS n PRECEDING` sides are refused (an interval join bounds time,
//!   not rows).
//! - A stream and a reference table: a regular inner join (the table is a
//!   bounded file, so Flink keeps both sides; the rows are KDA's as long as
//!   the table does not change). LEFT OUTER is an event-time temporal join
//!   on a versioned copy of the table (its join keys its primary key, every
//!   row valid from the epoch): Flink's regular outer join would emit an
//!   unmatched row and retract it when a match comes; the temporal join
//!   emits each stream row once, and keeps its ROWTIME a time attribute.
//!
//! The joined rows' ROWTIME is a Flink time attribute only when it is
//! always one side's (its partner side has no window, and only its own
//! unmatched rows are kept); otherwise a window over the join is refused
//! by the operator.

use super::expr::{ExprWriter, Untranslatable, day_time_interval, ident};
use super::pump::{OpInput, Rowtime};
use crate::plan::{
    AppPlan, JoinKind, JoinPlan, JoinRight, PumpDef, ROWTIME, SideWindow, StreamDef,
};

/// `col` moved by `ms` milliseconds.
fn shifted(col: &str, ms: i64) -> String {
    match ms {
        0 => col.to_string(),
        ms if ms > 0 => format!("{col} + {}", day_time_interval(ms)),
        ms => format!("{col} - {}", day_time_interval(-ms)),
    }
}

/// Column `k` of stream `s`'s view, aliased `alias`, as the joined rows
/// hold it: ROWTIME as KDA's value, no longer a time attribute.
fn stream_column(
    alias: &str,
    s: &StreamDef,
    early: i64,
    k: usize,
) -> Result<String, Untranslatable> {
    let Some(f) = s.schema.fields().get(k) else {
        return Err(format!("column #{k} of stream {}", s.name));
    };
    if s.metadata.iter().any(|(m, _)| m == f.name()) {
        return Err(format!("Kinesis record metadata column {}", f.name()));
    }
    let col = format!("{alias}.{}", ident(f.name()));
    if k == 0 {
        return Ok(format!("CAST({} AS TIMESTAMP(3))", shifted(&col, early)));
    }
    Ok(col)
}

fn early_of(plan: &AppPlan, stream: usize, rowtime: &[Rowtime]) -> Result<i64, Untranslatable> {
    match rowtime[stream] {
        Rowtime::Early(n) => Ok(n),
        Rowtime::Plain => Err(format!(
            "a join of stream \"{}\" (no pump feeds it)",
            plan.streams[stream].name
        )),
    }
}

fn range(w: SideWindow) -> Result<i64, Untranslatable> {
    match w {
        SideWindow::Range(ms) => Ok(ms),
        SideWindow::Rows(n) => Err(format!(
            "a joined stream over ROWS {n} PRECEDING (a Flink interval join bounds time, not rows)"
        )),
    }
}

/// The view of `pump`'s joined rows, what its operator reads, and notes.
pub(super) fn joined_view<'a>(
    plan: &'a AppPlan,
    pump: &PumpDef,
    j: &'a JoinPlan,
    rowtime: &[Rowtime],
    versioned: Option<&str>,
    table_access: &[Vec<String>],
) -> Result<(String, OpInput<'a>, Vec<String>), Untranslatable> {
    let left = &plan.streams[j.left.stream];
    let el = early_of(plan, j.left.stream, rowtime)?;
    let nl = j.left.schema.fields().len();
    let mut notes = Vec::new();

    // How each side's columns are written, and the joined ROWTIME.
    enum Right<'p> {
        Stream(&'p StreamDef, i64),
        Table(&'p crate::plan::TableDecl, &'p [String]),
    }
    let right = match &j.right {
        JoinRight::Stream(r) => {
            Right::Stream(&plan.streams[r.stream], early_of(plan, r.stream, rowtime)?)
        }
        JoinRight::Table(t) => {
            let table = &plan.tables[t.table];
            if table.is_values() {
                return Err("a join with a VALUES table".into());
            }
            if j.kind != JoinKind::Inner && versioned.is_none() {
                return Err(
                    "LEFT OUTER JOIN with a reference table on other than its columns (Flink's regular outer join emits an unmatched row, then retracts it when a match comes)"
                        .into(),
                );
            }
            let access = table_access
                .get(t.table)
                .map(Vec::as_slice)
                .unwrap_or_default();
            Right::Table(table, access)
        }
    };
    let left_col = |k: usize| stream_column("l", left, el, k);
    let right_col = |k: usize| -> Result<String, Untranslatable> {
        match &right {
            Right::Stream(s, er) => stream_column("r", s, *er, k),
            Right::Table(t, access) => access
                .get(k)
                .map(|a| format!("r.{a}"))
                .ok_or_else(|| format!("column #{k} of table {}", t.name)),
        }
    };
    let lt = left_col(0)?;
    let joined_rowtime = match &right {
        Right::Table(..) => lt.clone(),
        Right::Stream(..) => {
            let JoinRight::Stream(rs) = &j.right else {
                return Err("a join".into());
            };
            let rt = right_col(0)?;
            let greatest = format!("GREATEST({lt}, {rt})");
            if j.kind == JoinKind::Inner {
                greatest
            } else {
                // An unmatched row comes out at its window's end.
                let wl = range(j.left.window)?;
                let wr = range(rs.window)?;
                format!(
                    "CASE WHEN r.{rw} IS NULL THEN {} WHEN l.{rw} IS NULL THEN {} ELSE {greatest} END",
                    shifted(&lt, wl),
                    shifted(&rt, wr),
                    rw = ident(ROWTIME)
                )
            }
        }
    };

    // ON: the hash keys, the residual, the interval.
    let mut on = Vec::new();
    let left_key = |k: usize| left_col(k);
    let mut lw = ExprWriter {
        schema: &j.left.schema,
        column: &left_key,
        notes: Vec::new(),
    };
    let right_schema = match &j.right {
        JoinRight::Stream(r) => &r.schema,
        JoinRight::Table(t) => &t.schema,
    };
    let right_key = |k: usize| right_col(k);
    let mut rw = ExprWriter {
        schema: right_schema,
        column: &right_key,
        notes: Vec::new(),
    };
    let right_keys = match &j.right {
        JoinRight::Stream(r) => &r.keys,
        JoinRight::Table(t) => &t.keys,
    };
    for (l, r) in j.left.keys.iter().zip(right_keys) {
        on.push(format!("{} = {}", lw.expr(l)?, rw.expr(r)?));
    }
    notes.append(&mut lw.notes);
    notes.append(&mut rw.notes);
    let joined_column = |i: usize| -> Result<String, Untranslatable> {
        if i == 0 {
            Ok(joined_rowtime.clone())
        } else if i < 1 + nl {
            left_col(i - 1)
        } else {
            right_col(i - 1 - nl)
        }
    };
    if let Some(residual) = &j.residual {
        let mut w = ExprWriter {
            schema: &j.joined,
            column: &joined_column,
            notes: Vec::new(),
        };
        on.push(w.expr(residual)?);
        notes.append(&mut w.notes);
    }
    let from = match (&right, &j.right) {
        (Right::Stream(r, er), JoinRight::Stream(rs)) => {
            let wl = range(j.left.window)?;
            let wr = range(rs.window)?;
            // KDA: r.ROWTIME within [l.ROWTIME - Wr, l.ROWTIME + Wl]; on the
            // views' time attributes (each `early` ms before KDA's).
            let la = format!("l.{}", ident(ROWTIME));
            let ra = format!("r.{}", ident(ROWTIME));
            on.push(format!("{ra} >= {}", shifted(&la, el - er - wr)));
            on.push(format!("{ra} <= {}", shifted(&la, el - er + wl)));
            let kind = match j.kind {
                JoinKind::Inner => "JOIN",
                JoinKind::LeftOuter => "LEFT JOIN",
                JoinKind::RightOuter => "RIGHT JOIN",
                JoinKind::FullOuter => "FULL JOIN",
            };
            format!(
                "{} AS l {kind} {} AS r ON {}",
                ident(&left.name),
                ident(&r.name),
                on.join(" AND ")
            )
        }
        (Right::Table(t, _), _) if j.kind == JoinKind::LeftOuter => {
            let Some(versioned) = versioned else {
                return Err("LEFT OUTER JOIN with a reference table".into());
            };
            notes.push(format!(
                "reference table {}: a LEFT OUTER join as of each row's ROWTIME (an event-time temporal join on a versioned copy of the table); its rows are taken as unique by the join key: a key with several rows joins one of them in Flink, each in KDA",
                t.name
            ));
            if on.is_empty() {
                return Err("LEFT OUTER JOIN with a reference table without a key".into());
            }
            format!(
                "{} AS l LEFT JOIN {} FOR SYSTEM_TIME AS OF l.{} AS r ON {}",
                ident(&left.name),
                ident(versioned),
                ident(ROWTIME),
                on.join(" AND ")
            )
        }
        (Right::Table(t, _), _) => {
            notes.push(format!(
                "reference table {}: a regular join; Flink keeps the stream's rows too, and the rows are KDA's while the table does not change (KDA reloads it)",
                t.name
            ));
            // A regular join takes no time attribute: ROWTIME as a plain value.
            let mut cols = vec![format!(
                "CAST({r} AS TIMESTAMP(3)) AS {r}",
                r = ident(ROWTIME)
            )];
            cols.extend(
                left.schema
                    .fields()
                    .iter()
                    .skip(1)
                    .filter(|f| !left.metadata.iter().any(|(m, _)| m == f.name()))
                    .map(|f| ident(f.name())),
            );
            let on = if on.is_empty() {
                "TRUE".to_string()
            } else {
                on.join(" AND ")
            };
            format!(
                "(SELECT {} FROM {}) AS l JOIN {} AS r ON {on}",
                cols.join(", "),
                ident(&left.name),
                ident(&t.name)
            )
        }
        _ => return Err("a join".into()),
    };

    // When the bound makes one side's row always the later (its partner
    // has no window) and only that side's unmatched rows are kept, the
    // joined ROWTIME is that side's: still a time attribute after Flink's
    // interval join, so windows may follow.
    let mut view_rowtime = Rowtime::Plain;
    let mut rowtime_item = format!("{joined_rowtime} AS {}", ident(ROWTIME));
    if let (Right::Stream(_, er), JoinRight::Stream(rs)) = (&right, &j.right) {
        let (wl, wr) = (range(j.left.window)?, range(rs.window)?);
        let later = if wr == 0 && matches!(j.kind, JoinKind::Inner | JoinKind::RightOuter) {
            Some(("r", *er))
        } else if wl == 0 && matches!(j.kind, JoinKind::Inner | JoinKind::LeftOuter) {
            Some(("l", el))
        } else {
            None
        };
        if let Some((alias, early)) = later {
            rowtime_item = format!("{alias}.{r} AS {r}", r = ident(ROWTIME));
            view_rowtime = Rowtime::Early(early);
        }
    }
    // A temporal join keeps the stream's time attribute.
    if matches!(j.right, JoinRight::Table(_)) && j.kind == JoinKind::LeftOuter {
        rowtime_item = format!("l.{r} AS {r}", r = ident(ROWTIME));
        view_rowtime = Rowtime::Early(el);
    }
    let mut items = vec![rowtime_item];
    let mut missing = Vec::new();
    for (i, f) in j.joined.fields().iter().enumerate().skip(1) {
        match joined_column(i) {
            Ok(text) => items.push(format!("{text} AS {}", ident(f.name()))),
            Err(_) => missing.push(f.name().clone()),
        }
    }
    let name = format!("{}$joined", pump.name);
    let view = format!(
        "CREATE TEMPORARY VIEW {} AS\nSELECT {} FROM {from};\n",
        ident(&name),
        items.join(", ")
    );
    Ok((
        view,
        OpInput {
            name: format!("the join of pump \"{}\"", pump.name),
            schema: &j.joined,
            from: ident(&name),
            rowtime: view_rowtime,
            missing,
        },
        notes,
    ))
}
