//! The golden-case harness behind `sluice test`.
//!
//! A case is a directory with `app.sql`, `case.toml`, input files and
//! `expected/<STREAM>.jsonl` (or an `expressions.tsv`), in exactly the
//! format of ../shared/CASE-FORMAT.md. [`run_case`] runs one, deterministically
//! (a manual clock set to each record's arrival time); [`find_cases`] finds
//! them under directories. [`envelope`] reads input files (envelopes
//! `none`, `arrival`, `kds`) and is also what `sluice run` replays.

pub mod case;
pub mod compare;
pub mod envelope;
pub mod expressions;

pub use case::{CaseOutcome, find_cases, run_case};

/// Errors of the harness: what was wrong, and in which file.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is wrong.
    #[error("{path}:{line}: {message}")]
    Content {
        /// The file.
        path: String,
        /// 1-based line (0 when the whole file is meant).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The engine refused the app or its configuration.
    #[error("{0}")]
    Engine(#[from] sluice_engine::EngineError),
}

/// Result with [`TestkitError`].
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

pub(crate) fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| TestkitError::Io {
        path: path.display().to_string(),
        source,
    })
}
