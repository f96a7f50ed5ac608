//! The crate's error type: a parameter outside the range KDA allows, or a
//! record the detector cannot take in.

/// `Result` with [`HotspotsError`] as the default error.
pub type Result<T, E = HotspotsError> = std::result::Result<T, E>;

/// What went wrong building a detector or taking in a record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HotspotsError {
    /// An integer parameter outside the range KDA allows (or, for
    /// `dimensions`, which KDA does not have, the range this crate supports).
    /// `parameter` is spelled as the KDA reference spells it (`windowSize`,
    /// `minimumNumberOfPointsInAHotspot`).
    #[error("{parameter} must be between {min} and {max} (inclusive), got {value}")]
    ParameterOutOfRange {
        /// The parameter's KDA name.
        parameter: &'static str,
        /// The value given.
        value: usize,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// `scanRadius` is not a finite number greater than zero.
    #[error("scanRadius must be a finite number greater than 0, got {value}")]
    InvalidScanRadius {
        /// The value given.
        value: f64,
    },
    /// A record whose number of values is not the detector's `dimensions`.
    #[error("record has {got} numeric columns, the detector was built for {expected}")]
    WrongDimensions {
        /// Columns per record the detector was configured with.
        expected: usize,
        /// Columns in the record.
        got: usize,
    },
    /// A NaN or infinite value: the record is not taken in and the window is
    /// unchanged (the engine sends the row to the error stream).
    #[error("column {column} is {value}: HOTSPOTS takes finite numbers only")]
    NonFiniteInput {
        /// Zero-based position of the column in the record.
        column: usize,
        /// The offending value (NaN, inf or -inf).
        value: f64,
    },
}
