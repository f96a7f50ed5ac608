//! `kda_divisor(x)`: returns `x`, or fails when it is zero. The planner
//! wraps every divisor (of `/` and of `MOD`) in it, so that `a / 0` is a
//! run-time error for every numeric type, as in KDA (the row goes to
//! `error_stream`), rather than Infinity or NaN for floating-point values.

use std::sync::Arc;

use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the divisor check the planner inserts.
pub const KDA_DIVISOR: &str = "kda_divisor";

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Divisor {
    signature: Signature,
}

impl Divisor {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

fn division_by_zero() -> DataFusionError {
    DataFusionError::Execution("division by zero".into())
}

impl ScalarUDFImpl for Divisor {
    fn name(&self) -> &str {
        KDA_DIVISOR
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        arg_types
            .first()
            .cloned()
            .ok_or_else(|| DataFusionError::Plan("kda_divisor takes one argument".into()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(arg) = args.args.into_iter().next() else {
            return Err(DataFusionError::Plan(
                "kda_divisor takes one argument".into(),
            ));
        };
        match &arg {
            ColumnarValue::Scalar(s) => {
                if !s.is_null() && s.data_type().is_numeric() {
                    let zero = ScalarValue::new_zero(&s.data_type())?;
                    if *s == zero {
                        return Err(division_by_zero());
                    }
                }
            }
            ColumnarValue::Array(a) => {
                if a.data_type().is_numeric() {
                    let zero = ScalarValue::new_zero(a.data_type())?.to_scalar()?;
                    if eq(a, &zero)?.true_count() > 0 {
                        return Err(division_by_zero());
                    }
                }
            }
        }
        Ok(arg)
    }
}

/// The UDF itself (for tests and for callers planning their own expressions).
pub fn divisor() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(Divisor::new()))
}
