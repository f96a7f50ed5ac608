//! The KDA function library: the functions of the KDA SQL Reference that
//! DataFusion lacks, or has with other semantics, as DataFusion UDFs that
//! evaluate column-at-a-time over Arrow arrays.
//!
//! Two halves:
//! - [`rewrite`] turns KDA syntax and names into calls DataFusion can plan
//!   (`OVERLAY`, `SUBSTRING` in all its forms, `CAST(.. AS CHAR(n))`,
//!   `STEP(int BY int)`, `CEIL(ts TO unit)`, `MOD`, `CEILING`, `COALESCE`);
//!   the planner runs it on every expression (see `plan::rewrite_kda`).
//! - [`register`] adds the UDFs to the planner's session. Each checks its
//!   argument types at plan time (the message names the KDA signature) and
//!   reports a bad value in one row as an execution error, so that row goes
//!   to `error_stream` and the application goes on.
//!
//! One file per family: [`string`], [`datetime`], [`interval`], [`numeric`],
//! [`cast`] (CAST's conversion table); the Java
//! regex and `SimpleDateFormat` translators they use are in [`java_regex`]
//! and [`simple_date_format`].

pub mod cast;
pub mod clock;
pub mod datetime;
mod divisor;
pub mod exp_avg;
pub mod interval;
pub mod java_regex;
pub mod log_parse;
pub mod numeric;
mod rewrite;
pub mod simple_date_format;
pub mod string;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub use divisor::{KDA_DIVISOR, divisor};
pub(crate) use rewrite::{call, rewrite, yields_interval};

use std::sync::Arc;

use crate::clock::Clock;
use crate::types::{ROWTIME_TYPE, SqlType};

/// Registers Sluice's UDFs on a session (replacing DataFusion's functions
/// of the same name, e.g. `to_timestamp`, where KDA's differ).
/// The clock functions read `clock` ([`clock`]).
pub fn register(ctx: &SessionContext, clock: Arc<dyn Clock>) {
    ctx.register_udf(ScalarUDF::from(divisor::Divisor::new()));
    ctx.register_udaf(datafusion::logical_expr::AggregateUDF::from(
        exp_avg::ExpAvg::default(),
    ));
    for f in clock::functions(clock) {
        ctx.register_udf(f);
    }
    for f in string::functions()
        .into_iter()
        .chain(datetime::functions())
        .chain(interval::functions())
        .chain(numeric::functions())
        .chain(cast::functions())
        .chain(log_parse::functions())
    {
        ctx.register_udf(ScalarUDF::from(f));
    }
}

/// Checks argument types: the types to cast the arguments to, or `None`
/// when the function cannot take them.
pub(crate) type Coerce = fn(&[DataType]) -> Option<Vec<DataType>>;
/// The result type, from the coerced argument types.
pub(crate) type Returns = fn(&[DataType]) -> DataType;
/// Evaluates over arrays of the coerced types, all of one length.
pub(crate) type Eval = fn(&[ArrayRef]) -> Result<ArrayRef>;

/// A KDA scalar function as a DataFusion UDF: its name, its signature as
/// the KDA SQL Reference writes it (quoted in errors), and three plain
/// functions for types and evaluation.
#[derive(Debug)]
pub struct KdaFunction {
    name: &'static str,
    usage: &'static str,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    eval: Eval,
}

impl KdaFunction {
    pub(crate) fn new(
        name: &'static str,
        usage: &'static str,
        coerce: Coerce,
        returns: Returns,
        eval: Eval,
    ) -> Self {
        Self {
            name,
            usage,
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            returns,
            eval,
        }
    }

    /// The KDA signature, e.g. `OVERLAY(<string> PLACING <string> FROM <integer> [FOR <integer>])`.
    pub fn usage(&self) -> &'static str {
        self.usage
    }
}

// A function is identified by its name (one UDF per name).
impl PartialEq for KdaFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.usage == other.usage
    }
}

impl Eq for KdaFunction {}

impl std::hash::Hash for KdaFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.usage.hash(state);
    }
}

/// A type as KDA names it, for messages.
pub(crate) fn kda_type_name(t: &DataType) -> String {
    match SqlType::from_arrow(t) {
        Some(SqlType::Varchar(_)) => "VARCHAR".into(),
        Some(SqlType::Varbinary(_)) => "VARBINARY".into(),
        Some(s) => s.to_string(),
        None if t == &DataType::Null => "NULL".into(),
        None if matches!(t, DataType::Interval(_) | DataType::Duration(_)) => "INTERVAL".into(),
        None => t.to_string(),
    }
}

impl ScalarUDFImpl for KdaFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    // Arguments DataFusion cannot coerce are left as they are here, so
    // that `return_type` rejects them with the KDA signature (an error from
    // `coerce_types` would reach the user wrapped in DataFusion's words).
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok((self.coerce)(arg_types).unwrap_or_else(|| arg_types.to_vec()))
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match (self.coerce)(arg_types) {
            Some(coerced) => Ok((self.returns)(&coerced)),
            None => {
                let given: Vec<String> = arg_types.iter().map(kda_type_name).collect();
                let kda_name = self.usage.split('(').next().unwrap_or(self.name);
                Err(DataFusionError::Plan(format!(
                    "{kda_name} cannot take ({}); the signature is {}",
                    given.join(", "),
                    self.usage
                )))
            }
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.eval)(&arrays)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// Coerces each argument type by its kind, or `None` when the count or a
/// type does not fit.
pub(crate) fn all(
    types: &[DataType],
    kinds: &[fn(&DataType) -> Option<DataType>],
) -> Option<Vec<DataType>> {
    if types.len() != kinds.len() {
        return None;
    }
    types.iter().zip(kinds).map(|(t, k)| k(t)).collect()
}

/// A string argument (VARCHAR/CHAR or an untyped NULL), as Utf8.
pub(crate) fn string_arg(t: &DataType) -> Option<DataType> {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
    .then_some(DataType::Utf8)
}

/// An integer argument (or an untyped NULL), as BIGINT.
pub(crate) fn int_arg(t: &DataType) -> Option<DataType> {
    (t.is_integer() || t == &DataType::Null).then_some(DataType::Int64)
}

/// A TIMESTAMP argument (DATE and NULL widen to it), as ROWTIME's type.
pub(crate) fn timestamp_arg(t: &DataType) -> Option<DataType> {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null
    )
    .then_some(ROWTIME_TYPE)
}

/// A row-value error: the row goes to `error_stream` with this message.
pub(crate) fn row_error(function: &str, message: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{function}: {message}"))
}
