//! KDA's table functions over a CURSOR:
//! `SELECT STREAM .. FROM TABLE(FN(CURSOR(SELECT STREAM .. FROM s ..), args..)) [AS t]`.
//!
//! The front end turns `CURSOR(SELECT ..)` into a subquery argument
//! (`sql::prepass`); [`super::subquery::hoist`] then plans the cursor's
//! query as a hidden stream and pump like any subquery in FROM, and the call
//! itself as a second hidden pump, [`TableFunctionPump`], reading the
//! cursor's stream and writing a hidden stream whose columns are the
//! cursor's plus the function's own (`ANOMALY_SCORE`, ...). The enclosing
//! query reads that stream under the call's alias, so WHERE, ORDER BY,
//! windows and joins apply to a table function's rows as to any stream's.
//!
//! This file checks the call (the function's name, its arguments against
//! the SQL Reference's signature, ranges and defaults, the cursor's column
//! types) and makes the pump's [`OperatorPlan`]; the operators are in
//! `ops::rcf`.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::sql::sqlparser::ast::Expr;
use sluice_rcf::ForestConfig;

use super::types::{OperatorPlan, PumpDef, StreamColumn, StreamDef};
use super::{Planner, df_err, expr_location};
use crate::error::{EngineError, Location, Result};
use crate::sql::Name;
use crate::types::SqlType;

/// Name of RANDOM_CUT_FOREST's score column.
pub const ANOMALY_SCORE: &str = "ANOMALY_SCORE";
/// Name of RANDOM_CUT_FOREST_WITH_EXPLANATION's explanation column.
pub const ANOMALY_EXPLANATION: &str = "ANOMALY_EXPLANATION";
/// Length of the ANOMALY_EXPLANATION column (its JSON for up to about a
/// hundred columns); a target column declared shorter cuts it, as KDA does
/// on insert.
const EXPLANATION_LENGTH: u32 = 8_192;

/// Name of HOTSPOTS's result column.
pub const HOTSPOTS_RESULT: &str = "HOTSPOTS_RESULT";
/// Length of the HOTSPOTS_RESULT column; a target column declared shorter
/// cuts it, as KDA does on insert.
const HOTSPOTS_RESULT_LENGTH: u32 = 65_535;

/// Name of TOP_K_ITEMS_TUMBLING's item column.
pub const ITEM: &str = "ITEM";
/// Name of TOP_K_ITEMS_TUMBLING's count column.
pub const ITEM_COUNT: &str = "ITEM_COUNT";
/// Name of COUNT_DISTINCT_ITEMS_TUMBLING's count column.
pub const NUMBER_OF_DISTINCT_ITEMS: &str = "NUMBER_OF_DISTINCT_ITEMS";
/// TOP_K_ITEMS_TUMBLING's allowed K.
const K_RANGE: (i64, i64) = (1, 100_000);
/// The allowed tumbling window size of TOP_K_ITEMS_TUMBLING and
/// COUNT_DISTINCT_ITEMS_TUMBLING, in seconds.
const WINDOW_SECONDS_RANGE: (i64, i64) = (1, 3_600);

/// A table function Sluice runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFunction {
    /// `RANDOM_CUT_FOREST(cursor, numberOfTrees, subSampleSize, timeDecay, shingleSize)`.
    RandomCutForest,
    /// `RANDOM_CUT_FOREST_WITH_EXPLANATION(cursor, numberOfTrees,
    /// subSampleSize, timeDecay, shingleSize, withDirectionality)`.
    RandomCutForestWithExplanation,
    /// `TOP_K_ITEMS_TUMBLING(cursor, 'columnName', K, windowSize)`.
    TopKItemsTumbling,
    /// `COUNT_DISTINCT_ITEMS_TUMBLING(cursor, 'columnName', windowSize)`.
    CountDistinctItemsTumbling,
    /// `GROUP_RANK(cursor, 'rankByColumnName', 'rankOutColumnName',
    /// 'sortOrder', 'outputOrder', maxIdle, outputMax)`.
    GroupRank,
    /// `HOTSPOTS(cursor, windowSize, scanRadius, minimumNumberOfPointsInAHotspot)`.
    Hotspots,
}

impl TableFunction {
    /// The function a name (any case) calls, or why there is none.
    pub(super) fn from_name(name: &str, at: Location) -> Result<Self> {
        let upper = name.to_uppercase();
        match upper.as_str() {
            "RANDOM_CUT_FOREST" => Ok(Self::RandomCutForest),
            "RANDOM_CUT_FOREST_WITH_EXPLANATION" => Ok(Self::RandomCutForestWithExplanation),
            "TOP_K_ITEMS_TUMBLING" => Ok(Self::TopKItemsTumbling),
            "COUNT_DISTINCT_ITEMS_TUMBLING" => Ok(Self::CountDistinctItemsTumbling),
            "GROUP_RANK" => Ok(Self::GroupRank),
            "HOTSPOTS" => Ok(Self::Hotspots),
            _ => Err(EngineError::Plan {
                location: at,
                message: format!(
                    "no table function named {upper}: KDA's are RANDOM_CUT_FOREST, RANDOM_CUT_FOREST_WITH_EXPLANATION, HOTSPOTS, TOP_K_ITEMS_TUMBLING, COUNT_DISTINCT_ITEMS_TUMBLING and GROUP_RANK"
                ),
            }),
        }
    }

    /// The name as the SQL Reference spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::RandomCutForest => "RANDOM_CUT_FOREST",
            Self::RandomCutForestWithExplanation => "RANDOM_CUT_FOREST_WITH_EXPLANATION",
            Self::TopKItemsTumbling => "TOP_K_ITEMS_TUMBLING",
            Self::CountDistinctItemsTumbling => "COUNT_DISTINCT_ITEMS_TUMBLING",
            Self::GroupRank => "GROUP_RANK",
            Self::Hotspots => "HOTSPOTS",
        }
    }

    /// The signature, for errors about the arguments.
    pub fn signature(self) -> &'static str {
        match self {
            Self::RandomCutForest => {
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM ...) [, numberOfTrees INTEGER, subSampleSize INTEGER, timeDecay INTEGER, shingleSize INTEGER])"
            }
            Self::RandomCutForestWithExplanation => {
                "RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM ...) [, numberOfTrees INTEGER, subSampleSize INTEGER, timeDecay INTEGER, shingleSize INTEGER, withDirectionality BOOLEAN])"
            }
            Self::TopKItemsTumbling => {
                "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM ...), 'columnName', K INTEGER, windowSize INTEGER)"
            }
            Self::CountDistinctItemsTumbling => {
                "COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM ...), 'columnName', windowSize INTEGER)"
            }
            Self::GroupRank => {
                "GROUP_RANK(CURSOR(SELECT STREAM ...), 'rankByColumnName', 'rankOutColumnName', 'sortOrder', 'outputOrder', maxIdle INTEGER, outputMax INTEGER)"
            }
            Self::Hotspots => {
                "HOTSPOTS(CURSOR(SELECT STREAM ...), windowSize INTEGER, scanRadius DOUBLE, minimumNumberOfPointsInAHotspot INTEGER)"
            }
        }
    }
}

/// The pump [`super::subquery::hoist`] makes for a table function call.
#[derive(Debug, Clone)]
pub(super) struct TableFunctionPump {
    /// The pump; its hidden target stream has the same name.
    pub(super) name: Name,
    /// Declared STOPPED (the enclosing pump was).
    pub(super) stopped: bool,
    /// The hidden stream the cursor's query writes.
    pub(super) cursor: String,
    /// The function called.
    pub(super) function: TableFunction,
    /// Its arguments after the cursor.
    pub(super) args: Vec<Expr>,
    /// Where the call is written.
    pub(super) at: Location,
}

/// A planned RANDOM_CUT_FOREST[_WITH_EXPLANATION] call.
#[derive(Debug, Clone)]
pub struct RcfPlan {
    /// The forest's parameters (the call's, else KDA's defaults); the seed
    /// is fixed per pump, so a replay gives the same scores.
    pub config: ForestConfig,
    /// The cursor's numeric columns the forest reads: their position in
    /// the cursor stream's batch and their name.
    pub inputs: Vec<(usize, String)>,
    /// `Some(withDirectionality)` for RANDOM_CUT_FOREST_WITH_EXPLANATION.
    pub explanation: Option<bool>,
}

/// What a TOP_K_ITEMS_TUMBLING / COUNT_DISTINCT_ITEMS_TUMBLING window
/// gives when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemsResult {
    /// The K most frequent items with their counts, most frequent first.
    TopK(usize),
    /// The number of distinct items.
    CountDistinct,
}

/// A planned TOP_K_ITEMS_TUMBLING or COUNT_DISTINCT_ITEMS_TUMBLING call:
/// a tumbling window over ROWTIME counting one cursor column's values.
#[derive(Debug, Clone)]
pub struct ItemsPlan {
    /// Position of the counted column in the cursor stream's batch.
    pub column: usize,
    /// Window length in milliseconds (windows aligned to the epoch).
    pub size_ms: i64,
    /// What each window gives.
    pub result: ItemsResult,
}

/// A planned GROUP_RANK call: each group of rows with one ROWTIME, ranked
/// by one column (SQL RANK(): ties share a rank, the next rank skips),
/// released when time passes the group's ROWTIME.
#[derive(Debug, Clone)]
pub struct GroupRankPlan {
    /// Position of the ranked column in the cursor stream's batch.
    pub column: usize,
    /// The rank column's name (rankOutColumnName, as written).
    pub rank_column: String,
    /// sortOrder 'desc': rank 1 is the largest value.
    pub descending: bool,
    /// outputOrder 'desc': rows leave highest rank first.
    pub output_descending: bool,
    /// maxIdle in ms (0: none). A group is released as soon as time passes
    /// its ROWTIME (a later row, or the clock in a live run), which is never
    /// later than this limit.
    pub max_idle_ms: i64,
    /// outputMax: rows released per group, in output order (0: all).
    pub output_max: usize,
}

/// A planned HOTSPOTS call.
#[derive(Debug, Clone)]
pub struct HotspotsPlan {
    /// The call's windowSize, scanRadius and minimumNumberOfPointsInAHotspot.
    pub config: sluice_hotspots::HotspotsConfig,
    /// The cursor's numeric columns: their position in the cursor stream's
    /// batch and their name.
    pub inputs: Vec<(usize, String)>,
}

/// What the cursor's numeric column types are to RANDOM_CUT_FOREST: read
/// (the types the SQL Reference lists), refused (DECIMAL, which the page
/// says to CAST to DOUBLE), or not numeric (ignored, as KDA ignores text).
fn rcf_column(t: SqlType) -> Option<bool> {
    match t {
        SqlType::TinyInt
        | SqlType::SmallInt
        | SqlType::Integer
        | SqlType::BigInt
        | SqlType::Real
        | SqlType::Double => Some(true),
        SqlType::Decimal(..) => Some(false),
        _ => None,
    }
}

/// A stable seed for a pump's forest: FNV-1a of its name.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Planner {
    /// Evaluates a constant argument of a table function call.
    fn constant_argument(&self, e: &Expr, at: Location) -> Result<ScalarValue> {
        let at = expr_location(e, at);
        let phys = self.expr(e, &DFSchema::empty(), at)?;
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .map_err(|e| df_err(at)(e.into()))?;
        let array = phys
            .evaluate(&batch)
            .and_then(|v| v.into_array(1))
            .map_err(df_err(at))?;
        ScalarValue::try_from_array(&array, 0).map_err(df_err(at))
    }

    /// Plans a table function call: its hidden output stream (the cursor's
    /// columns, then the function's) and the pump that computes it.
    pub(super) fn plan_table_function(
        &self,
        t: &TableFunctionPump,
        streams: &[StreamDef],
    ) -> Result<(StreamDef, PumpDef)> {
        let from = self.find_stream(streams, &t.cursor, t.at)?;
        let cursor = &streams[from];
        let (extra, op) = match t.function {
            TableFunction::RandomCutForest | TableFunction::RandomCutForestWithExplanation => {
                let plan = self.plan_rcf(t, cursor)?;
                let mut extra = vec![StreamColumn::new(ANOMALY_SCORE, SqlType::Double)];
                if plan.explanation.is_some() {
                    extra.push(StreamColumn::new(
                        ANOMALY_EXPLANATION,
                        SqlType::Varchar(EXPLANATION_LENGTH),
                    ));
                }
                (extra, OperatorPlan::RandomCutForest(plan))
            }
            TableFunction::TopKItemsTumbling | TableFunction::CountDistinctItemsTumbling => {
                let (plan, item) = self.plan_items(t, cursor)?;
                let columns = match plan.result {
                    ItemsResult::TopK(_) => vec![
                        StreamColumn::new(ITEM, item),
                        StreamColumn::new(ITEM_COUNT, SqlType::BigInt),
                    ],
                    ItemsResult::CountDistinct => {
                        vec![StreamColumn::new(NUMBER_OF_DISTINCT_ITEMS, SqlType::BigInt)]
                    }
                };
                let mut stream =
                    StreamDef::new(t.name.value.clone(), columns, false, t.name.location);
                stream.hidden = true;
                let pump = PumpDef {
                    name: t.name.value.clone(),
                    from,
                    join: None,
                    into: streams.len(),
                    stopped: t.stopped,
                    op: OperatorPlan::ItemsTumbling(plan),
                    order: None,
                    distinct: None,
                    declared_at: t.at,
                };
                return Ok((stream, pump));
            }
            TableFunction::Hotspots => {
                let plan = self.plan_hotspots(t, cursor)?;
                let extra = vec![StreamColumn::new(
                    HOTSPOTS_RESULT,
                    SqlType::Varchar(HOTSPOTS_RESULT_LENGTH),
                )];
                (extra, OperatorPlan::Hotspots(plan))
            }
            TableFunction::GroupRank => {
                let plan = self.plan_group_rank(t, cursor)?;
                let extra = vec![StreamColumn::new(
                    plan.rank_column.clone(),
                    SqlType::Integer,
                )];
                (extra, OperatorPlan::GroupRank(plan))
            }
        };
        let mut columns = cursor.columns.clone();
        for c in extra {
            if columns.iter().any(|x| x.name == c.name) {
                return Err(EngineError::Plan {
                    location: t.at,
                    message: format!(
                        "the cursor of {} already has a column named {}, which the function adds: rename one of them",
                        t.function.name(),
                        c.name
                    ),
                });
            }
            columns.push(c);
        }
        let mut stream = StreamDef::new(t.name.value.clone(), columns, false, t.name.location);
        stream.hidden = true;
        let pump = PumpDef {
            name: t.name.value.clone(),
            from,
            join: None,
            into: streams.len(),
            stopped: t.stopped,
            op,
            order: None,
            distinct: None,
            declared_at: t.at,
        };
        Ok((stream, pump))
    }

    /// The error for a wrong argument of `t`'s call: what, then the signature.
    fn wrong(t: &TableFunctionPump, at: Location, what: String) -> EngineError {
        EngineError::Plan {
            location: at,
            message: format!("{what}; the signature is {}", t.function.signature()),
        }
    }

    /// Checks the call has exactly `wanted` arguments after the cursor.
    fn argument_count(t: &TableFunctionPump, wanted: usize) -> Result<()> {
        if t.args.len() == wanted {
            return Ok(());
        }
        Err(Self::wrong(
            t,
            t.at,
            format!(
                "{} takes {} arguments, got {}",
                t.function.name(),
                wanted + 1,
                t.args.len() + 1
            ),
        ))
    }

    /// Argument `k` (after the cursor) as a string literal.
    fn string_argument(&self, t: &TableFunctionPump, k: usize, what: &str) -> Result<String> {
        let at = expr_location(&t.args[k], t.at);
        if let Expr::Identifier(id) = &t.args[k] {
            return Err(Self::wrong(
                t,
                at,
                format!(
                    "{what} must be a string in single quotes ('{}'), got the name {}",
                    id.value, id
                ),
            ));
        }
        match self.constant_argument(&t.args[k], at)? {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Ok(s),
            other => Err(Self::wrong(
                t,
                at,
                format!("{what} must be a string in single quotes, got {other}"),
            )),
        }
    }

    /// Argument `k` as the name of a cursor column: its position among the
    /// cursor's columns. The name as stored; else, if exactly one column
    /// matches it in another case, that one ('ticker' for an unquoted
    /// ticker).
    fn column_argument(
        &self,
        t: &TableFunctionPump,
        cursor: &StreamDef,
        k: usize,
        what: &str,
    ) -> Result<usize> {
        let name = self.string_argument(t, k, what)?;
        let position = cursor
            .columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                let mut matches = cursor
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.name.eq_ignore_ascii_case(&name));
                match (matches.next(), matches.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            });
        position.ok_or_else(|| {
            let names: Vec<&str> = cursor.columns.iter().map(|c| c.name.as_str()).collect();
            Self::wrong(
                t,
                expr_location(&t.args[k], t.at),
                format!(
                    "the cursor has no column '{name}' (its columns: {})",
                    names.join(", ")
                ),
            )
        })
    }

    /// Argument `k` as an integer within `(min, max)`.
    fn integer_argument(
        &self,
        t: &TableFunctionPump,
        k: usize,
        what: &str,
        (min, max): (i64, i64),
    ) -> Result<i64> {
        let at = expr_location(&t.args[k], t.at);
        let value = self.constant_argument(&t.args[k], at)?;
        match value.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
            Ok(ScalarValue::Int64(Some(n))) if value.data_type().is_integer() => {
                if n < min || n > max {
                    Err(Self::wrong(
                        t,
                        at,
                        format!("{what} must be between {min} and {max} (inclusive), got {n}"),
                    ))
                } else {
                    Ok(n)
                }
            }
            _ => Err(Self::wrong(
                t,
                at,
                format!("{what} must be an integer, got {value}"),
            )),
        }
    }

    /// TOP_K_ITEMS_TUMBLING / COUNT_DISTINCT_ITEMS_TUMBLING: the counted
    /// column (and its type, the ITEM column's), K and the window size.
    fn plan_items(
        &self,
        t: &TableFunctionPump,
        cursor: &StreamDef,
    ) -> Result<(ItemsPlan, SqlType)> {
        let top_k = t.function == TableFunction::TopKItemsTumbling;
        let wanted = if top_k { 3 } else { 2 };
        Self::argument_count(t, wanted)?;
        let position = self.column_argument(t, cursor, 0, "columnName")?;
        let result = if top_k {
            ItemsResult::TopK(self.integer_argument(t, 1, "K", K_RANGE)? as usize)
        } else {
            ItemsResult::CountDistinct
        };
        let seconds = self.integer_argument(t, wanted - 1, "windowSize", WINDOW_SECONDS_RANGE)?;
        let plan = ItemsPlan {
            column: cursor.first_user_column() + position,
            size_ms: seconds * 1_000,
            result,
        };
        Ok((plan, cursor.columns[position].sql_type))
    }

    /// GROUP_RANK(cursor, 'rankByColumnName', 'rankOutColumnName',
    /// 'sortOrder', 'outputOrder', maxIdle, outputMax): the ranked column,
    /// the rank column's name, the orders and the limits.
    fn plan_group_rank(&self, t: &TableFunctionPump, cursor: &StreamDef) -> Result<GroupRankPlan> {
        Self::argument_count(t, 6)?;
        let position = self.column_argument(t, cursor, 0, "rankByColumnName")?;
        let rank_column = self.string_argument(t, 1, "rankOutColumnName")?;
        let order = |k: usize, what: &str| -> Result<bool> {
            let v = self.string_argument(t, k, what)?;
            match v.to_ascii_lowercase().as_str() {
                "asc" => Ok(false),
                "desc" => Ok(true),
                _ => Err(Self::wrong(
                    t,
                    expr_location(&t.args[k], t.at),
                    format!("{what} must be 'asc' or 'desc', got '{v}'"),
                )),
            }
        };
        let descending = order(2, "sortOrder")?;
        let output_descending = order(3, "outputOrder")?;
        let max_idle_ms = self.integer_argument(t, 4, "maxIdle", (0, i64::from(i32::MAX)))?;
        let output_max = self.integer_argument(t, 5, "outputMax", (0, i64::from(i32::MAX)))?;
        Ok(GroupRankPlan {
            column: cursor.first_user_column() + position,
            rank_column,
            descending,
            output_descending,
            max_idle_ms,
            output_max: usize::try_from(output_max).unwrap_or(0),
        })
    }

    /// The cursor's numeric columns an analytic function reads (position
    /// in the batch, name): the types the SQL Reference lists; DECIMAL is
    /// refused (the pages say to use DOUBLE), other types are ignored.
    fn numeric_inputs(t: &TableFunctionPump, cursor: &StreamDef) -> Result<Vec<(usize, String)>> {
        let first = cursor.first_user_column();
        let mut inputs = Vec::new();
        for (i, c) in cursor.columns.iter().enumerate() {
            match rcf_column(c.sql_type) {
                Some(true) => inputs.push((first + i, c.name.clone())),
                Some(false) => {
                    return Err(EngineError::Plan {
                        location: t.at,
                        message: format!(
                            "{}: column {} of the cursor is {}, which KDA does not accept here: CAST it to DOUBLE",
                            t.function.name(),
                            c.name,
                            c.sql_type
                        ),
                    });
                }
                None => {}
            }
        }
        if inputs.is_empty() {
            return Err(EngineError::Plan {
                location: t.at,
                message: format!(
                    "{}: the cursor has no numeric column (TINYINT, SMALLINT, INTEGER, BIGINT, REAL, FLOAT or DOUBLE) to read",
                    t.function.name()
                ),
            });
        }
        Ok(inputs)
    }

    /// HOTSPOTS(cursor, windowSize, scanRadius, minimumNumberOfPointsInAHotspot):
    /// all three required, checked against the reference's ranges.
    fn plan_hotspots(&self, t: &TableFunctionPump, cursor: &StreamDef) -> Result<HotspotsPlan> {
        Self::argument_count(t, 3)?;
        let inputs = Self::numeric_inputs(t, cursor)?;
        let (min_w, max_w) = sluice_hotspots::WINDOW_SIZE_RANGE;
        let window = self.integer_argument(t, 0, "windowSize", (min_w as i64, max_w as i64))?;
        let radius_at = expr_location(&t.args[1], t.at);
        let radius = self.constant_argument(&t.args[1], radius_at)?;
        let scan_radius = match radius.cast_to(&datafusion::arrow::datatypes::DataType::Float64) {
            Ok(ScalarValue::Float64(Some(r))) if r > 0.0 && r.is_finite() => r,
            _ => {
                return Err(Self::wrong(
                    t,
                    radius_at,
                    format!("scanRadius must be a number greater than 0, got {radius}"),
                ));
            }
        };
        let points = self.integer_argument(
            t,
            2,
            "minimumNumberOfPointsInAHotspot",
            (sluice_hotspots::MINIMUM_NUMBER_OF_POINTS_MIN as i64, window),
        )?;
        let config = sluice_hotspots::HotspotsConfig::new(
            window as usize,
            scan_radius,
            points as usize,
            inputs.len(),
        );
        config
            .validate()
            .map_err(|e| Self::wrong(t, t.at, e.to_string()))?;
        Ok(HotspotsPlan { config, inputs })
    }

    fn plan_rcf(&self, t: &TableFunctionPump, cursor: &StreamDef) -> Result<RcfPlan> {
        let explain = t.function == TableFunction::RandomCutForestWithExplanation;
        let max_args = if explain { 5 } else { 4 };
        let wrong = |at: Location, what: String| EngineError::Plan {
            location: at,
            message: format!("{what}; the signature is {}", t.function.signature()),
        };
        if t.args.len() > max_args {
            return Err(wrong(
                expr_location(&t.args[max_args], t.at),
                format!(
                    "{} takes at most {} arguments, got {}",
                    t.function.name(),
                    max_args + 1,
                    t.args.len() + 1
                ),
            ));
        }
        let inputs = Self::numeric_inputs(t, cursor)?;
        let mut config = ForestConfig::kda_defaults(inputs.len());
        config.seed = seed_of(&t.name.value);
        let names = [
            "numberOfTrees",
            "subSampleSize",
            "timeDecay",
            "shingleSize",
            "withDirectionality",
        ];
        let mut directionality = false;
        for (k, arg) in t.args.iter().enumerate() {
            let at = expr_location(arg, t.at);
            let value = self.constant_argument(arg, at)?;
            if names[k] == "withDirectionality" {
                match value {
                    ScalarValue::Boolean(Some(b)) => directionality = b,
                    other => {
                        return Err(wrong(
                            at,
                            format!("withDirectionality must be TRUE or FALSE, got {other}"),
                        ));
                    }
                }
                continue;
            }
            let n = match value.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) if value.data_type().is_integer() => n,
                _ => {
                    return Err(wrong(
                        at,
                        format!("{} must be an integer, got {value}", names[k]),
                    ));
                }
            };
            let as_usize = usize::try_from(n).unwrap_or(0);
            match k {
                0 => config.number_of_trees = as_usize,
                1 => config.sub_sample_size = as_usize,
                2 => config.time_decay = n as f64,
                _ => config.shingle_size = as_usize,
            }
            // Check each as it is read, so the error points at it.
            config.validate().map_err(|e| match e {
                sluice_rcf::RcfError::ParameterOutOfRange { parameter, .. }
                    if parameter == names[k] =>
                {
                    wrong(at, e.to_string())
                }
                other => wrong(at, other.to_string()),
            })?;
        }
        config.validate().map_err(|e| wrong(t.at, e.to_string()))?;
        Ok(RcfPlan {
            config,
            inputs,
            explanation: explain.then_some(directionality),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{AppPlan, SourceDecl};
    use super::*;

    fn plan(sql: &str) -> Result<AppPlan> {
        AppPlan::new(
            sql,
            &[SourceDecl {
                stream: "S".into(),
                columns: Some(vec![
                    StreamColumn::new("NAME", SqlType::Varchar(8)),
                    StreamColumn::new("X", SqlType::Double),
                    StreamColumn::new("N", SqlType::Integer),
                ]),
            }],
        )
    }

    #[test]
    fn wrong_calls_are_refused_with_the_signature() {
        let cases = [
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 0)",
                "numberOfTrees must be between 1 and 1000",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 10, 20, 30, 40)",
                "shingleSize must be between 1 and 30",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 1.5)",
                "numberOfTrees must be an integer",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM S), 1, 20, 30, 4, true)",
                "takes at most 5 arguments, got 6",
            ),
            (
                "RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM S), 1, 20, 30, 4, 7)",
                "withDirectionality must be TRUE or FALSE",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM NAME FROM S))",
                "the cursor has no numeric column",
            ),
            (
                "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM CAST(X AS DECIMAL(8,2)) AS D FROM S))",
                "column D of the cursor is DECIMAL(8,2)",
            ),
            (
                "RANDOM_CUT_FOREST(S)",
                "the first argument of RANDOM_CUT_FOREST",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM S), 10, 0.1, 3)",
                "windowSize must be between 100 and 1000 (inclusive), got 10",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM S), 100, 0, 3)",
                "scanRadius must be a number greater than 0, got 0",
            ),
            (
                "HOTSPOTS(CURSOR(SELECT STREAM * FROM S), 100, 0.5, 101)",
                "minimumNumberOfPointsInAHotspot must be between 2 and 100 (inclusive), got 101",
            ),
            (
                "NOPE(CURSOR(SELECT STREAM * FROM S))",
                "no table function named NOPE",
            ),
            (
                "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM S), 'PRICE', 0, 60)",
                "the cursor has no column 'PRICE' (its columns: NAME, X, N)",
            ),
            (
                "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM S), 'x', 0, 60)",
                "K must be between 1 and 100000 (inclusive), got 0",
            ),
            (
                "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM S), X, 3, 60)",
                "columnName must be a string in single quotes",
            ),
            (
                "COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM S), 'name', 3601)",
                "windowSize must be between 1 and 3600 (inclusive), got 3601",
            ),
            (
                "COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM S), 'name')",
                "COUNT_DISTINCT_ITEMS_TUMBLING takes 3 arguments, got 2",
            ),
            (
                "GROUP_RANK(CURSOR(SELECT STREAM * FROM S), 'X', 'R', 'up', 'asc', 0, 0)",
                "sortOrder must be 'asc' or 'desc', got 'up'",
            ),
            (
                "GROUP_RANK(CURSOR(SELECT STREAM * FROM S), 'X', 'N', 'asc', 'asc', 0, 0)",
                "already has a column named N",
            ),
            (
                "GROUP_RANK(CURSOR(SELECT STREAM * FROM S), 'X', 'R', 'asc', 'asc', -1, 0)",
                "maxIdle must be between 0 and 2147483647 (inclusive), got -1",
            ),
        ];
        for (call, want) in cases {
            let e = plan(&format!(
                "CREATE STREAM O (X DOUBLE);\nCREATE PUMP P AS INSERT INTO O SELECT STREAM X FROM TABLE({call});"
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains(want), "{call}: {e}");
            assert!(e.starts_with("2:"), "{call}: {e}");
        }
        let e = plan("CREATE STREAM O (X DOUBLE);\nCREATE PUMP P AS INSERT INTO O SELECT STREAM COUNT(CURSOR(SELECT STREAM * FROM S)) FROM S;")
            .unwrap_err()
            .to_string();
        assert!(e.contains("CURSOR(...) outside a table function"), "{e}");
    }
}
