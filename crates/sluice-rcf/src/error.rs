//! The crate's error type: a parameter outside KDA's range, or a record the
//! forest cannot score.

/// `Result` with [`RcfError`] as the default error.
pub type Result<T, E = RcfError> = std::result::Result<T, E>;

/// What went wrong building a forest or scoring a record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RcfError {
    /// A parameter outside the range KDA allows (or, for parameters KDA does
    /// not have, the range this crate supports). `parameter` is spelled as
    /// the KDA reference spells it (`numberOfTrees`, `subSampleSize`, ...).
    #[error("{parameter} must be between {min} and {max} (inclusive), got {value}")]
    ParameterOutOfRange {
        /// The parameter's KDA name.
        parameter: &'static str,
        /// The value given.
        value: f64,
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// A record whose number of values is not the forest's `dimensions`.
    #[error("record has {got} numeric columns, the forest was built for {expected}")]
    WrongDimensions {
        /// Columns per record the forest was configured with.
        expected: usize,
        /// Columns in the record.
        got: usize,
    },
    /// A NaN or infinite value: the record is not scored and does not change
    /// the forest (the engine sends the row to the error stream).
    #[error("column {column} is {value}: RANDOM_CUT_FOREST scores finite numbers only")]
    NonFiniteInput {
        /// Zero-based position of the column in the record.
        column: usize,
        /// The offending value (NaN, inf or -inf).
        value: f64,
    },
}
