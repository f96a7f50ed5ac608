//! The golden cases `tests/golden/nexmark-qN/`: each app of
//! `sql-examples/nexmark/` (the case's `app.sql` is a link to it) with a
//! small generated input and the rows [`crate::oracle`] computes for it;
//! and each app's sample input, `sql-examples/nexmark/qN/input.jsonl` (the
//! same events as the case's for q0 and q1, whose `input.jsonl` is a link
//! to it).
//!
//! The test here rebuilds every case's files and compares them with the
//! ones on disk; `SLUICE_BLESS=1` writes them instead (after a change to
//! the generator, the oracle or an app). `sluice test tests/golden` (the
//! CLI's integration test) then runs the cases through the engine.

use std::path::{Path, PathBuf};

use crate::{Generator, GeneratorConfig, NexmarkError, oracle};

/// Events in the golden case of `query`, at 50 events per second: 1000 (20
/// seconds, so that the 10-second windows close twice and the joins have
/// rows on both sides); 300 for the pass-through queries q0 and q1 (their
/// output is as large as their input); 2000 for q2, whose filter needs
/// auction 1107 (the first multiple of 123 past the first id, 1000).
pub fn golden_events(query: &str) -> usize {
    match query {
        "q0" | "q1" => 300,
        "q2" => 2000,
        _ => 1000,
    }
}

/// The generator settings of the golden cases (seed 2: the first whose q3
/// case has more than a few rows).
pub fn golden_config() -> GeneratorConfig {
    GeneratorConfig {
        seed: 2,
        events_per_second: 50,
        ..GeneratorConfig::default()
    }
}

/// The repository root (two levels above this crate).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Events in each app's sample `sql-examples/nexmark/qN/input.jsonl`.
pub const SAMPLE_EVENTS: usize = 300;

/// `events` as input lines of the `arrival` envelope, ROWTIME = event time.
pub fn arrival_lines(events: &[crate::TimedEvent]) -> String {
    let mut input = String::new();
    for e in events {
        let arrival = oracle::timestamp(e.time_ms).replace(' ', "T");
        input.push_str(&format!(
            "{{\"arrival\":\"{arrival}Z\",\"data\":{}}}\n",
            e.to_json()
        ));
    }
    input
}

/// The sample input of every app: the first [`SAMPLE_EVENTS`] events of
/// the golden cases' generator.
pub fn sample_input() -> String {
    let events: Vec<_> = Generator::new(golden_config())
        .take(SAMPLE_EVENTS)
        .collect();
    arrival_lines(&events)
}

/// The files of case `nexmark-<query>` besides its `app.sql` (a link to
/// the example's): (path in the case, contents).
pub fn case_files(query: &str) -> Result<Vec<(String, String)>, NexmarkError> {
    let app_dir = repo_root().join("sql-examples/nexmark").join(query);
    let read = |name: &str| {
        let path = app_dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| NexmarkError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let toml = read("app.toml")?;
    let events: Vec<_> = Generator::new(golden_config())
        .take(golden_events(query))
        .collect();
    let input = arrival_lines(&events);
    let rows = oracle::expected(query, &events)?;
    let expected: String = rows.iter().map(|r| r.to_json_line() + "\n").collect();
    let case = format!("{toml}\n[expect]\norder = \"rowtime\"\n");
    Ok(vec![
        ("case.toml".into(), case),
        ("input.jsonl".into(), input),
        ("expected/DESTINATION_SQL_STREAM.jsonl".into(), expected),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_cases_are_what_the_generator_and_oracle_give() {
        let bless = std::env::var("SLUICE_BLESS").is_ok_and(|v| v == "1");
        for query in oracle::QUERIES {
            let dir = repo_root()
                .join("tests/golden")
                .join(format!("nexmark-{query}"));
            let files = case_files(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            let app_dir = repo_root().join("sql-examples/nexmark").join(query);
            let sample = (app_dir.join("input.jsonl"), sample_input());
            let files = files.into_iter().map(|(name, text)| (dir.join(name), text));
            for (path, text) in files.chain([sample]) {
                if bless {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).expect("create the case directory");
                    }
                    std::fs::write(&path, &text).expect("write the case file");
                } else {
                    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
                    assert!(
                        on_disk == text,
                        "{} differs from what the generator and oracle give \
                         (SLUICE_BLESS=1 cargo test -p sluice-nexmark rewrites it)",
                        path.display()
                    );
                }
            }
        }
    }
}
