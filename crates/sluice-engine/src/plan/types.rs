//! The plan's types: in-application streams and their columns, pumps, the
//! operator each pump runs ([`OperatorPlan`]) and the planned application
//! ([`AppPlan`]).
//!
//! Every in-application stream's batches start with `ROWTIME`
//! (TIMESTAMP, ms); source streams also carry `APPROXIMATE_ARRIVAL_TIME` and
//! the Kinesis record metadata `PARTITION_KEY`, `SHARD_ID` and
//! `SEQUENCE_NUMBER` ([`SOURCE_METADATA`]). None of them is part of
//! `SELECT *`, as in KDA.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;

use super::Planner;
use super::join::JoinPlan;
use super::order::OrderPlan;
use super::sliding::SlidingPlan;
use super::table_function::{GroupRankPlan, HotspotsPlan, ItemsPlan, RcfPlan};
use super::tumbling::TumblingPlan;
use crate::clock::{Clock, SystemClock};
use crate::error::{Location, Result};
use crate::sql::parse_app;
use crate::types::{ROWTIME_TYPE, SqlType};

/// Name of the ROWTIME column of every in-application stream.
pub const ROWTIME: &str = "ROWTIME";
/// Name of the arrival-time column of source streams.
pub const APPROXIMATE_ARRIVAL_TIME: &str = "APPROXIMATE_ARRIVAL_TIME";
/// Name of the partition-key column of source streams.
pub const PARTITION_KEY: &str = "PARTITION_KEY";
/// Name of the shard-id column of source streams.
pub const SHARD_ID: &str = "SHARD_ID";
/// Name of the sequence-number column of source streams.
pub const SEQUENCE_NUMBER: &str = "SEQUENCE_NUMBER";
/// The record-metadata columns of a source stream, in batch order, with
/// their types (the Kinesis limits: a partition key is at most 256
/// characters, a shard id at most 128, a sequence number at most 128
/// digits). NULL where the source has no such metadata.
pub const SOURCE_METADATA: [(&str, SqlType); 3] = [
    (PARTITION_KEY, SqlType::Varchar(256)),
    (SHARD_ID, SqlType::Varchar(128)),
    (SEQUENCE_NUMBER, SqlType::Varchar(128)),
];

/// The metadata columns a source stream with user columns `columns` gets:
/// all of [`SOURCE_METADATA`] except names the stream declares itself (a
/// declared column of that name is an ordinary column and wins).
pub fn source_metadata(columns: &[StreamColumn]) -> Vec<(&'static str, SqlType)> {
    SOURCE_METADATA
        .iter()
        .filter(|(name, _)| !columns.iter().any(|c| c.name == *name))
        .copied()
        .collect()
}

/// Name of the application's error stream.
pub const ERROR_STREAM: &str = "error_stream";

/// A user column of an in-application stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamColumn {
    /// Column name, as KDA resolves it.
    pub name: String,
    /// Its SQL type.
    pub sql_type: SqlType,
    /// Declared NOT NULL.
    pub not_null: bool,
    /// Known never to decrease along the stream: a subquery column that
    /// was ROWTIME, STEP / FLOOR of ROWTIME, or MONOTONIC(..). A GROUP BY
    /// may use it as its window (see `plan::tumbling`).
    pub monotonic: bool,
}

impl StreamColumn {
    /// A nullable column.
    pub fn new(name: impl Into<String>, sql_type: SqlType) -> Self {
        Self {
            name: name.into(),
            sql_type,
            not_null: false,
            monotonic: false,
        }
    }
}

/// An input of the application: a source stream fed from outside.
#[derive(Debug, Clone)]
pub struct SourceDecl {
    /// The in-application stream it feeds (e.g. `SOURCE_SQL_STREAM_001`).
    pub stream: String,
    /// Its columns; `None` when the application code declares the stream.
    pub columns: Option<Vec<StreamColumn>>,
}

/// An in-application stream.
#[derive(Debug, Clone)]
pub struct StreamDef {
    /// Stream name.
    pub name: String,
    /// User columns (without ROWTIME).
    pub columns: Vec<StreamColumn>,
    /// Fed from outside (an input), so it also has APPROXIMATE_ARRIVAL_TIME
    /// and the record-metadata columns.
    pub is_source: bool,
    /// The record-metadata columns it carries ([`source_metadata`]; empty
    /// unless `is_source`).
    pub metadata: Vec<(&'static str, SqlType)>,
    /// Batch schema: ROWTIME, [APPROXIMATE_ARRIVAL_TIME, metadata], columns.
    pub schema: SchemaRef,
    /// Where it is declared (0:0 for inputs declared only by configuration).
    pub declared_at: Location,
    /// Made by the planner for a subquery in FROM (named `<PUMP>$<n>`),
    /// not declared by the application code.
    pub hidden: bool,
}

impl StreamDef {
    pub(crate) fn new(
        name: String,
        columns: Vec<StreamColumn>,
        is_source: bool,
        at: Location,
    ) -> Self {
        let mut fields = vec![Field::new(ROWTIME, ROWTIME_TYPE, false)];
        let metadata = if is_source {
            source_metadata(&columns)
        } else {
            Vec::new()
        };
        if is_source {
            fields.push(Field::new(APPROXIMATE_ARRIVAL_TIME, ROWTIME_TYPE, true));
        }
        for (name, sql_type) in &metadata {
            fields.push(Field::new(*name, sql_type.to_arrow(), true));
        }
        for c in &columns {
            fields.push(Field::new(&c.name, c.sql_type.to_arrow(), true));
        }
        Self {
            name,
            columns,
            is_source,
            metadata,
            schema: Arc::new(Schema::new(fields)),
            declared_at: at,
            hidden: false,
        }
    }

    /// Index of the first user column in the batch schema.
    pub fn first_user_column(&self) -> usize {
        if self.is_source {
            2 + self.metadata.len()
        } else {
            1
        }
    }

    pub(super) fn column_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.push(ROWTIME);
        if self.is_source {
            names.push(APPROXIMATE_ARRIVAL_TIME);
        }
        names.extend(self.metadata.iter().map(|(name, _)| *name));
        names
    }
}

/// A pump that filters and projects, row by row.
#[derive(Debug)]
pub struct ProjectPlan {
    /// WHERE, over the source stream's batch.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// One expression per target column (already cast to its type).
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
}

/// What a pump computes.
#[derive(Debug)]
pub enum OperatorPlan {
    /// Filter and project.
    Project(ProjectPlan),
    /// Tumbling-window aggregation.
    Tumbling(TumblingPlan),
    /// Sliding-window aggregates, one row out per row in.
    Sliding(SlidingPlan),
    /// Stagger windows: planned as a tumbling window whose `size` is the
    /// stagger length and whose windows open per partition key.
    Stagger(TumblingPlan),
    /// RANDOM_CUT_FOREST[_WITH_EXPLANATION] over a cursor: each row with
    /// its anomaly score (and explanation) appended.
    RandomCutForest(RcfPlan),
    /// TOP_K_ITEMS_TUMBLING or COUNT_DISTINCT_ITEMS_TUMBLING over a cursor:
    /// a tumbling window's counts, emitted when it closes.
    ItemsTumbling(ItemsPlan),
    /// GROUP_RANK over a cursor: each ROWTIME's rows ranked, released
    /// together when time passes that ROWTIME.
    GroupRank(GroupRankPlan),
    /// HOTSPOTS over a cursor: each row with the hotspots of the window it
    /// ends.
    Hotspots(HotspotsPlan),
}

/// A planned pump.
#[derive(Debug)]
pub struct PumpDef {
    /// Pump name.
    pub name: String,
    /// Index of the stream it reads (the left stream of a join).
    pub from: usize,
    /// The join its FROM makes, if any: the operator then runs over the
    /// joined rows.
    pub join: Option<JoinPlan>,
    /// Index of the stream it inserts into.
    pub into: usize,
    /// Declared STOPPED: moves no rows.
    pub stopped: bool,
    /// What it computes.
    pub op: OperatorPlan,
    /// Its ORDER BY: the operator's rows are sorted before they reach
    /// the target stream.
    pub order: Option<OrderPlan>,
    /// Its SELECT DISTINCT: duplicate rows of the operator's output are
    /// dropped before the ORDER BY.
    pub distinct: Option<DistinctPlan>,
    /// Where it is declared.
    pub declared_at: Location,
}

/// A pump's SELECT DISTINCT over the rows its operator produces.
#[derive(Debug, Clone)]
pub struct DistinctPlan {
    /// The selected columns (batch positions) that make a row distinct.
    pub columns: Vec<usize>,
    /// The ROWTIME-monotonic selected columns: when their value moves on,
    /// no later row can repeat an earlier one, so what was seen is
    /// forgotten. Empty: the rows' ROWTIME (a window's rows share it).
    pub bound: Vec<usize>,
}

impl PumpDef {
    /// The stream shape the pump's operator produces: its target stream's,
    /// or, with an ORDER BY, that plus the sort keys not selected.
    pub fn op_target<'a>(&'a self, streams: &'a [StreamDef]) -> &'a StreamDef {
        match &self.order {
            Some(o) => &o.op_target,
            None => &streams[self.into],
        }
    }

    /// The streams the pump reads (a stream-to-stream join reads two).
    pub fn reads(&self) -> Vec<usize> {
        match &self.join {
            Some(j) => j.streams(),
            None => vec![self.from],
        }
    }
}

/// A table the application code can join: a reference table (KDA's
/// ReferenceDataSource), or a `(VALUES ..)` table in FROM / JOIN, which the
/// planner makes (`plan::values`) and which carries its constant rows.
#[derive(Debug, Clone)]
pub struct TableDecl {
    /// Table name, as the SQL names it (a VALUES table's is hidden,
    /// `<PUMP>$<n>`).
    pub name: String,
    /// Its columns.
    pub columns: Vec<StreamColumn>,
    /// A VALUES table's rows (its columns, in order); `None` for a
    /// reference table, whose rows come from its source at run time.
    pub rows: Option<RecordBatch>,
}

impl TableDecl {
    /// A reference table's declaration: its rows come at run time.
    pub fn reference(name: impl Into<String>, columns: Vec<StreamColumn>) -> Self {
        Self {
            name: name.into(),
            columns,
            rows: None,
        }
    }

    /// Whether this is a VALUES table the planner made.
    pub fn is_values(&self) -> bool {
        self.rows.is_some()
    }
}

/// A planned application: streams, pumps, and the order to advance them.
#[derive(Debug)]
pub struct AppPlan {
    /// All in-application streams; the error stream is one of them.
    pub streams: Vec<StreamDef>,
    /// All pumps.
    pub pumps: Vec<PumpDef>,
    /// Pump indices, upstream before downstream.
    pub pump_order: Vec<usize>,
    /// Index of `error_stream`.
    pub error_stream: usize,
    /// Reference tables, in the order the application was given them,
    /// then the VALUES tables its pumps join, in the order of the pumps.
    pub tables: Vec<TableDecl>,
}

impl AppPlan {
    /// Parses and plans application code fed by `sources`.
    pub fn new(sql: &str, sources: &[SourceDecl]) -> Result<Self> {
        Self::with_tables(sql, sources, &[])
    }

    /// Parses and plans application code fed by `sources`, with reference
    /// tables it may join.
    /// (Clock functions read the system clock: for checking an app; a
    /// running one is planned by [`AppPlan::with_clock`].)
    pub fn with_tables(sql: &str, sources: &[SourceDecl], tables: &[TableDecl]) -> Result<Self> {
        Self::with_clock(sql, sources, tables, Arc::new(SystemClock))
    }

    /// Parses and plans application code whose clock functions
    /// (CURRENT_ROW_TIMESTAMP, CURRENT_TIMESTAMP, ...) read `clock`.
    pub fn with_clock(
        sql: &str,
        sources: &[SourceDecl],
        tables: &[TableDecl],
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let statements = parse_app(sql)?;
        Planner::new(clock).plan(statements, sources, tables)
    }

    /// Index of a stream by its KDA name.
    pub fn stream_index(&self, name: &str) -> Option<usize> {
        self.streams.iter().position(|s| s.name == name)
    }
}

/// The columns of `error_stream`, as the KDA Developer Guide lists them.
pub fn error_stream_columns() -> Vec<StreamColumn> {
    vec![
        StreamColumn::new("ERROR_TIME", SqlType::Timestamp),
        StreamColumn::new("ERROR_LEVEL", SqlType::Varchar(10)),
        StreamColumn::new("ERROR_NAME", SqlType::Varchar(32)),
        StreamColumn::new("MESSAGE", SqlType::Varchar(4096)),
        StreamColumn::new("DATA_ROWTIME", SqlType::Timestamp),
        StreamColumn::new("DATA_ROW", SqlType::Varchar(49152)),
        StreamColumn::new("PUMP_NAME", SqlType::Varchar(128)),
    ]
}
