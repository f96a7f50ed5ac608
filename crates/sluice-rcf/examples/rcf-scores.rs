//! Scores a CSV series with Sluice's random cut forest and prints one
//! anomaly score per row, in row order: the Sluice side of the agreement test
//! against AWS's own implementation (`tests/agreement/agreement.py`).
//!
//! ```text
//! rcf-scores [--trees N] [--samples N] [--time-decay T] [--shingle N]
//!            [--seed N] [--output-after N] [FILE]
//! ```
//!
//! Rows are numeric columns separated by commas, from FILE or stdin; every
//! row must have as many columns as the first. Empty lines and lines starting
//! with `#` are skipped. Unset parameters take KDA's defaults
//! ([`ForestConfig::kda_defaults`]); the score is 0 during warm-up, as in
//! `RANDOM_CUT_FOREST`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use sluice_rcf::{ForestConfig, RandomCutForest, RcfError};

#[derive(Debug, thiserror::Error)]
enum ScoresError {
    #[error("unknown option {0:?} (see the usage in the example's doc)")]
    UnknownOption(String),
    #[error("option {0} needs a value")]
    MissingValue(String),
    #[error("option {option}: {value:?} is not a valid number")]
    BadOption { option: String, value: String },
    #[error("line {line}, column {column}: {value:?} is not a number")]
    BadValue {
        line: usize,
        column: usize,
        value: String,
    },
    #[error("reading {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("line {line}: {source}")]
    Forest { line: usize, source: RcfError },
    #[error(transparent)]
    Config(#[from] RcfError),
}

/// The command line: forest parameters (dimensions filled from the first
/// row) and where the rows come from.
struct Args {
    config: ForestConfig,
    input: Option<String>,
}

fn parse_value<T: std::str::FromStr>(
    option: &str,
    value: Option<String>,
) -> Result<T, ScoresError> {
    let value = value.ok_or_else(|| ScoresError::MissingValue(option.to_string()))?;
    value.parse().map_err(|_| ScoresError::BadOption {
        option: option.to_string(),
        value,
    })
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, ScoresError> {
    let mut config = ForestConfig::kda_defaults(1);
    let mut input = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trees" => config.number_of_trees = parse_value(&arg, args.next())?,
            "--samples" => config.sub_sample_size = parse_value(&arg, args.next())?,
            "--time-decay" => config.time_decay = parse_value(&arg, args.next())?,
            "--shingle" => config.shingle_size = parse_value(&arg, args.next())?,
            "--seed" => config.seed = parse_value(&arg, args.next())?,
            "--output-after" => config.output_after = Some(parse_value(&arg, args.next())?),
            _ if arg.starts_with("--") => return Err(ScoresError::UnknownOption(arg)),
            _ => input = Some(arg),
        }
    }
    Ok(Args { config, input })
}

/// Parses one CSV row of numbers (`line` and columns in messages are
/// 1-based).
fn parse_row(text: &str, line: usize, row: &mut Vec<f64>) -> Result<(), ScoresError> {
    row.clear();
    for (column, field) in text.split(',').enumerate() {
        let field = field.trim();
        let value = field.parse().map_err(|_| ScoresError::BadValue {
            line,
            column: column + 1,
            value: field.to_string(),
        })?;
        row.push(value);
    }
    Ok(())
}

fn run() -> Result<(), ScoresError> {
    let Args { mut config, input } = parse_args(std::env::args().skip(1))?;
    let path = input.clone().unwrap_or_else(|| "stdin".to_string());
    let io_error = |source| ScoresError::Io {
        path: path.clone(),
        source,
    };
    let reader: Box<dyn BufRead> = match &input {
        Some(file) => Box::new(BufReader::new(File::open(file).map_err(io_error)?)),
        None => Box::new(BufReader::new(io::stdin().lock())),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut forest: Option<RandomCutForest> = None;
    let mut row = Vec::new();
    for (index, text) in reader.lines().enumerate() {
        let text = text.map_err(io_error)?;
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let line = index + 1;
        parse_row(text, line, &mut row)?;
        let forest = match &mut forest {
            Some(forest) => forest,
            None => {
                config.dimensions = row.len();
                forest.insert(RandomCutForest::new(config.clone())?)
            }
        };
        let score = forest
            .score_and_update(&row)
            .map_err(|source| ScoresError::Forest { line, source })?;
        writeln!(out, "{score}").map_err(|source| ScoresError::Io {
            path: "stdout".to_string(),
            source,
        })?;
    }
    out.flush().map_err(|source| ScoresError::Io {
        path: "stdout".to_string(),
        source,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rcf-scores: {e}");
            ExitCode::FAILURE
        }
    }
}
