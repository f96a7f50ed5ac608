//! The clock functions, reading the engine's injected [`Clock`] (never the
//! wall clock directly, so a replay gives the same rows every time).
//!
//! As the KDA SQL Reference's "Date and Time Functions" pages define them:
//! - `CURRENT_ROW_TIMESTAMP` is a new value for each row: the time the row
//!   is output.
//! - `CURRENT_TIMESTAMP`, `LOCALTIMESTAMP` (TIMESTAMP), `CURRENT_DATE`
//!   (DATE), `CURRENT_TIME` and `LOCALTIME` (TIME) put into every output row
//!   the time the query is first run, kept for the application's life.
//!
//! "The time a row is output" is the clock's time, but never earlier than
//! the row's own ROWTIME (a row cannot leave before it exists): live, the
//! clock is at or past every ROWTIME, so the difference is the processing
//! delay; in a replay the clock does not run ahead of the records, so a row
//! is output at its ROWTIME, as if processed at once. The front end passes
//! each call the row's ROWTIME (`current_row_timestamp(ROWTIME)`, see
//! `sql::parse`); "first run" is the first evaluation of any of them, at the
//! earliest ROWTIME of the rows it sees.
//!
//! Times are UTC, as KDA's are (so the LOCAL forms equal the others).
//! `NOW()` is not a KDA function and stays refused (DataFusion's would read
//! the wall clock).

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{AsArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimestampMillisecondType};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::clock::Clock;
use crate::types::ROWTIME_TYPE;

const MS_PER_DAY: i64 = 86_400_000;

/// Which value a clock function gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reading {
    /// The clock now, per evaluation.
    RowTimestamp,
    /// The first-run time, as TIMESTAMP / DATE / TIME.
    StartTimestamp,
    StartDate,
    StartTime,
}

/// One clock function as a DataFusion UDF (volatile: never folded at plan
/// time).
#[derive(Debug)]
struct ClockFunction {
    name: &'static str,
    reading: Reading,
    clock: Arc<dyn Clock>,
    /// The first-run time, shared by the functions of one application.
    start: Arc<OnceLock<i64>>,
    signature: Signature,
}

impl PartialEq for ClockFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ClockFunction {}

impl std::hash::Hash for ClockFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for ClockFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.reading {
            Reading::RowTimestamp | Reading::StartTimestamp => ROWTIME_TYPE,
            Reading::StartDate => DataType::Date32,
            Reading::StartTime => {
                DataType::Time32(datafusion::arrow::datatypes::TimeUnit::Millisecond)
            }
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let now = self.clock.now_ms();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rowtimes = arrays
            .first()
            .and_then(|a| a.as_primitive_opt::<TimestampMillisecondType>())
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{}: expected the row's ROWTIME", self.name))
            })?;
        if self.reading == Reading::RowTimestamp {
            let out: TimestampMillisecondArray = rowtimes
                .iter()
                .map(|t| Some(t.map_or(now, |t| t.max(now))))
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(out)));
        }
        let start = *self
            .start
            .get_or_init(|| rowtimes.iter().flatten().min().map_or(now, |t| t.max(now)));
        Ok(ColumnarValue::Scalar(reading_value(self.reading, start)))
    }
}

/// The value of `reading` at `ms` since the epoch (UTC).
fn reading_value(reading: Reading, ms: i64) -> ScalarValue {
    match reading {
        Reading::RowTimestamp | Reading::StartTimestamp => {
            ScalarValue::TimestampMillisecond(Some(ms), None)
        }
        Reading::StartDate => ScalarValue::Date32(i32::try_from(ms.div_euclid(MS_PER_DAY)).ok()),
        Reading::StartTime => {
            ScalarValue::Time32Millisecond(i32::try_from(ms.rem_euclid(MS_PER_DAY)).ok())
        }
    }
}

/// The function each KDA clock name (lower-case) is rewritten to, or
/// `None` for a name that is not one.
pub fn udf_name(kda_name: &str) -> Option<&'static str> {
    Some(match kda_name {
        "current_row_timestamp" => "kda_current_row_timestamp",
        "current_timestamp" | "localtimestamp" => "kda_current_timestamp",
        "current_date" => "kda_current_date",
        "current_time" | "localtime" => "kda_current_time",
        _ => return None,
    })
}

/// The clock UDFs of one application, reading `clock`.
pub fn functions(clock: Arc<dyn Clock>) -> Vec<ScalarUDF> {
    let start = Arc::new(OnceLock::new());
    [
        ("kda_current_row_timestamp", Reading::RowTimestamp),
        ("kda_current_timestamp", Reading::StartTimestamp),
        ("kda_current_date", Reading::StartDate),
        ("kda_current_time", Reading::StartTime),
    ]
    .into_iter()
    .map(|(name, reading)| {
        ScalarUDF::from(ClockFunction {
            name,
            reading,
            clock: Arc::clone(&clock),
            start: Arc::clone(&start),
            signature: Signature::exact(vec![ROWTIME_TYPE], Volatility::Volatile),
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::datatypes::Field;

    fn value(udfs: &[ScalarUDF], name: &str, rowtimes: &[i64]) -> Vec<ScalarValue> {
        let f = udfs.iter().find(|f| f.name() == name).unwrap();
        let rt: ArrayRef = Arc::new(TimestampMillisecondArray::from(rowtimes.to_vec()));
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(rt)],
            arg_fields: vec![Arc::new(Field::new("ROWTIME", ROWTIME_TYPE, false))],
            number_rows: rowtimes.len(),
            return_field: Arc::new(Field::new(name, f.return_type(&[]).unwrap(), true)),
            config_options: Arc::new(Default::default()),
        };
        match f.invoke_with_args(args).unwrap() {
            ColumnarValue::Scalar(v) => vec![v; rowtimes.len()],
            ColumnarValue::Array(a) => (0..a.len())
                .map(|i| ScalarValue::try_from_array(&a, i).unwrap())
                .collect(),
        }
    }

    fn ts(ms: i64) -> ScalarValue {
        ScalarValue::TimestampMillisecond(Some(ms), None)
    }

    #[test]
    fn live_row_timestamp_is_the_clock_and_the_others_keep_the_first_run() {
        // 2024-01-01 10:00:05.25; rows arrived a little earlier.
        let clock = ManualClock::new(1_704_103_205_250);
        let udfs = functions(Arc::new(clock.clone()));
        let rows = [1_704_103_205_000, 1_704_103_205_100];
        let now = ts(1_704_103_205_250);
        assert_eq!(
            value(&udfs, "kda_current_row_timestamp", &rows),
            [now.clone(), now.clone()]
        );
        assert_eq!(value(&udfs, "kda_current_timestamp", &rows)[0], now);
        clock.advance(86_400_000 + 1_000);
        let later = [1_704_189_606_000];
        assert_eq!(
            value(&udfs, "kda_current_row_timestamp", &later),
            [ts(1_704_189_606_250)]
        );
        // Fixed at the first evaluation of any of them.
        assert_eq!(value(&udfs, "kda_current_timestamp", &later), [now]);
        assert_eq!(
            value(&udfs, "kda_current_date", &later),
            [ScalarValue::Date32(Some(19_723))]
        );
        assert_eq!(
            value(&udfs, "kda_current_time", &later),
            [ScalarValue::Time32Millisecond(Some(36_005_250))]
        );
    }

    #[test]
    fn in_a_replay_rows_are_output_at_their_rowtime() {
        // The replay clock stays behind the records.
        let udfs = functions(Arc::new(ManualClock::new(0)));
        let rows = [1_000, 2_500];
        assert_eq!(
            value(&udfs, "kda_current_row_timestamp", &rows),
            [ts(1_000), ts(2_500)]
        );
        assert_eq!(value(&udfs, "kda_current_timestamp", &[9_000]), [ts(9_000)]);
        assert_eq!(
            value(&udfs, "kda_current_timestamp", &[20_000]),
            [ts(9_000)]
        );
    }

    #[test]
    fn kda_names_map_to_the_udfs() {
        assert_eq!(udf_name("localtimestamp"), Some("kda_current_timestamp"));
        assert_eq!(udf_name("localtime"), Some("kda_current_time"));
        assert_eq!(udf_name("now"), None);
    }
}
