//! Errors of the engine: every variant says what was wrong and where.
//!
//! Plan-time errors carry a [`Location`] (line and column in the
//! application code) and, where a close name exists, a "did you mean"
//! suggestion. Run-time failures of single rows never surface here: they
//! become rows of the application's `error_stream` (see [`crate::errors`]).

use std::fmt;

/// A position in application code: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Location {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl Location {
    /// A location at `line`:`column`.
    pub fn new(line: u64, column: u64) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Formats an optional suggestion as `; did you mean "X"?`.
pub(crate) fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean \"{s}\"?"),
        None => String::new(),
    }
}

/// Everything that can go wrong while parsing, planning or running an app.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The SQL text does not parse.
    #[error("{location}: syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// What the parser expected or found.
        message: String,
    },
    /// A FROM or INSERT INTO names a stream that no statement or input declares.
    #[error("{location}: unknown stream \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownStream {
        /// Where the name appears.
        location: Location,
        /// The name as KDA resolves it.
        name: String,
        /// The closest declared stream name.
        suggestion: Option<String>,
    },
    /// An expression names a column its stream does not have.
    #[error("{location}: unknown column \"{name}\" in stream \"{stream}\"{}", did_you_mean(.suggestion))]
    UnknownColumn {
        /// Where the name appears.
        location: Location,
        /// The column name as KDA resolves it.
        name: String,
        /// The stream searched.
        stream: String,
        /// The closest column name.
        suggestion: Option<String>,
    },
    /// Two streams, two pumps or two columns share a name.
    #[error("{location}: duplicate {kind} name \"{name}\" (first declared at {first})")]
    Duplicate {
        /// Where the second declaration is.
        location: Location,
        /// "stream", "pump" or "column".
        kind: &'static str,
        /// The repeated name.
        name: String,
        /// Where the first declaration is.
        first: Location,
    },
    /// A pump's SELECT gives more or fewer columns than its INSERT INTO takes.
    #[error(
        "{location}: pump \"{pump}\" selects {actual} columns but inserts into {expected} columns of stream \"{stream}\""
    )]
    ColumnCount {
        /// Where the pump's SELECT is.
        location: Location,
        /// The pump.
        pump: String,
        /// The target stream.
        stream: String,
        /// Columns the target takes.
        expected: usize,
        /// Columns the query gives.
        actual: usize,
    },
    /// A selected value cannot be stored in its target column.
    #[error(
        "{location}: pump \"{pump}\" cannot insert {actual} into column \"{column}\" ({expected}) of stream \"{stream}\""
    )]
    TypeMismatch {
        /// Where the select item is.
        location: Location,
        /// The pump.
        pump: String,
        /// The target stream.
        stream: String,
        /// The target column.
        column: String,
        /// The target column's SQL type.
        expected: crate::types::SqlType,
        /// The select item's SQL type.
        actual: String,
    },
    /// Pumps feed each other in a loop.
    #[error("{location}: pumps form a cycle: {path}")]
    Cycle {
        /// Where the first pump of the cycle is declared.
        location: Location,
        /// The streams of the cycle, joined by " -> ".
        path: String,
    },
    /// Valid KDA SQL that Sluice does not run (yet); never silently ignored.
    #[error("{location}: not supported: {what}")]
    Unsupported {
        /// Where the construct is.
        location: Location,
        /// What the construct is.
        what: String,
    },
    /// Any other planning problem (bad GROUP BY, wrong argument types, ...).
    #[error("{location}: {message}")]
    Plan {
        /// Where the problem is.
        location: Location,
        /// What the problem is.
        message: String,
    },
    /// An input or output configuration is wrong (unknown type, bad mapping, ...).
    #[error("{context}: {message}")]
    Config {
        /// Which configuration item ("input SOURCE_SQL_STREAM_001 column PRICE").
        context: String,
        /// What is wrong with it.
        message: String,
    },
    /// Records were pushed into a stream that no input feeds.
    #[error("\"{stream}\" is not an input stream of this application (inputs: {inputs})")]
    NotAnInput {
        /// The stream named by the caller.
        stream: String,
        /// The streams that take input.
        inputs: String,
    },
    /// A batch pushed in does not have the stream's schema.
    #[error("batch for stream \"{stream}\" does not match its schema: {message}")]
    BatchSchema {
        /// The stream.
        stream: String,
        /// What differs.
        message: String,
    },
    /// A whole-batch failure inside DataFusion or Arrow that no single row explains.
    #[error("{context}: {source}")]
    Execution {
        /// Which operator failed.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
}

impl EngineError {
    /// Where in the application code the problem is, when it is there.
    pub fn location(&self) -> Option<Location> {
        match self {
            EngineError::Syntax { location, .. }
            | EngineError::UnknownStream { location, .. }
            | EngineError::UnknownColumn { location, .. }
            | EngineError::Duplicate { location, .. }
            | EngineError::ColumnCount { location, .. }
            | EngineError::TypeMismatch { location, .. }
            | EngineError::Cycle { location, .. }
            | EngineError::Unsupported { location, .. }
            | EngineError::Plan { location, .. } => Some(*location),
            _ => None,
        }
    }
}

/// Result with [`EngineError`] as the default error.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The declared name closest to `name` (edit distance at most a third of its length).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let upper = name.to_uppercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&upper, &c.to_uppercase());
        if d <= (name.chars().count() / 3).max(2) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["SOURCE_SQL_STREAM_001", "DESTINATION_SQL_STREAM"];
        assert_eq!(
            closest("SOURCE_SQL_STREAM_01", names).as_deref(),
            Some("SOURCE_SQL_STREAM_001")
        );
        assert_eq!(closest("ORDERS", names), None);
        assert_eq!(
            closest("price", ["PRICE", "CHANGE"]).as_deref(),
            Some("PRICE")
        );
    }

    #[test]
    fn messages_name_place_and_suggestion() {
        let e = EngineError::UnknownColumn {
            location: Location::new(3, 14),
            name: "PRCE".into(),
            stream: "S".into(),
            suggestion: Some("PRICE".into()),
        };
        assert_eq!(
            e.to_string(),
            "3:14: unknown column \"PRCE\" in stream \"S\"; did you mean \"PRICE\"?"
        );
    }
}
