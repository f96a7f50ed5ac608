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

/// KDA's analytic table functions that Sluice has not implemented yet:
/// refused by name.
const NOT_YET: [&str; 4] = [
    "HOTSPOTS",
    "TOP_K_ITEMS_TUMBLING",
    "COUNT_DISTINCT_ITEMS_TUMBLING",
    "GROUP_RANK",
];

/// A table function Sluice runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFunction {
    /// `RANDOM_CUT_FOREST(cursor, numberOfTrees, subSampleSize, timeDecay, shingleSize)`.
    RandomCutForest,
    /// `RANDOM_CUT_FOREST_WITH_EXPLANATION(cursor, numberOfTrees,
    /// subSampleSize, timeDecay, shingleSize, withDirectionality)`.
    RandomCutForestWithExplanation,
}

impl TableFunction {
    /// The function a name (any case) calls, or why there is none.
    pub(super) fn from_name(name: &str, at: Location) -> Result<Self> {
        let upper = name.to_uppercase();
        match upper.as_str() {
            "RANDOM_CUT_FOREST" => Ok(Self::RandomCutForest),
            "RANDOM_CUT_FOREST_WITH_EXPLANATION" => Ok(Self::RandomCutForestWithExplanation),
            n if NOT_YET.contains(&n) => Err(EngineError::Unsupported {
                location: at,
                what: format!(
                    "{n}(CURSOR(SELECT STREAM ...), ...): this KDA table function is not implemented yet"
                ),
            }),
            _ => Err(EngineError::Plan {
                location: at,
                message: format!(
                    "no table function named {upper}: KDA's are RANDOM_CUT_FOREST, RANDOM_CUT_FOREST_WITH_EXPLANATION, HOTSPOTS, TOP_K_ITEMS_TUMBLING and COUNT_DISTINCT_ITEMS_TUMBLING"
                ),
            }),
        }
    }

    /// The name as the SQL Reference spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::RandomCutForest => "RANDOM_CUT_FOREST",
            Self::RandomCutForestWithExplanation => "RANDOM_CUT_FOREST_WITH_EXPLANATION",
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
        };
        let mut columns = cursor.columns.clone();
        for c in extra {
            if columns.iter().any(|x| x.name == c.name) {
                return Err(EngineError::Plan {
                    location: t.at,
                    message: format!(
                        "the cursor of {} already has a column named {}, which the function adds: rename it in the cursor's SELECT",
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
            declared_at: t.at,
        };
        Ok((stream, pump))
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
                    "{}: the cursor has no numeric column (TINYINT, SMALLINT, INTEGER, BIGINT, REAL, FLOAT or DOUBLE) to score",
                    t.function.name()
                ),
            });
        }
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
