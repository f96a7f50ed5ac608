//! Where `sluice bench`'s figures go: each printed as one line as soon as
//! it is measured, or, with `--json`, kept under its section (`engine`,
//! `kds`, `video`, `firehose`, `nexmark`) and printed at the end as one
//! JSON object, so `sluice bench all --json` gives every figure to a
//! script at once. Every figure is a [`sluice_bench::Figure`], the same
//! keys in every section: the engine workloads' are made here ([`rate`])
//! and in `bench.rs`, the services' by their crates' bench modules. The
//! Nexmark checks, a verdict rather than a figure, are added beside them
//! ([`Report::add_check`]).

use std::fmt;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};
use sluice_bench::{Figure, Unit};

/// The figures of one `sluice bench` run.
pub struct Report {
    /// `None`: print lines; `Some`: the JSON object being gathered.
    json: Option<Map<String, Value>>,
}

impl Report {
    /// A report that prints lines, or gathers JSON when `json`.
    pub fn new(json: bool) -> Report {
        Report {
            json: json.then(Map::new),
        }
    }

    /// One figure of `section`: printed as its line (its notes, if any,
    /// on indented lines below), after `prefix` when that is not empty;
    /// or added to the section's list.
    pub fn add(&mut self, section: &str, prefix: &str, figure: &Figure) -> Result<()> {
        self.put(section, prefix, figure)
    }

    /// A check of `section` that passed or failed (a Nexmark query's rows
    /// against the independent computation), printed or listed as a figure is.
    pub fn add_check<C: Serialize + fmt::Display>(
        &mut self,
        section: &str,
        prefix: &str,
        check: &C,
    ) -> Result<()> {
        self.put(section, prefix, check)
    }

    fn put<T: Serialize + fmt::Display>(
        &mut self,
        section: &str,
        prefix: &str,
        item: &T,
    ) -> Result<()> {
        match &mut self.json {
            None if prefix.is_empty() => println!("{item:#}"),
            None => println!("{prefix} {item:#}"),
            Some(map) => {
                let value = serde_json::to_value(item)?;
                // Every section is a list: nothing else is ever put in.
                if let Value::Array(list) = map
                    .entry(section)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(value);
                }
            }
        }
        Ok(())
    }

    /// With `--json`, prints the object gathered, a list of figures per
    /// section; nothing otherwise.
    pub fn finish(self) -> Result<()> {
        if let Some(map) = self.json {
            println!("{}", serde_json::to_string(&Value::Object(map))?);
        }
        Ok(())
    }
}

/// `n` rows pushed since `started` (when the process had used `cpu0` CPU
/// seconds), as rows/s with CPU time, wall time and peak RSS.
pub fn rate(name: impl Into<String>, n: u64, started: Instant, cpu0: f64) -> Figure {
    let wall = started.elapsed().as_secs_f64();
    Figure {
        rows: Some(n),
        cpu_seconds: Some(super::cpu_seconds() - cpu0),
        wall_seconds: Some(wall),
        peak_rss_mb: Some(super::peak_rss_mb()),
        ..Figure::new(name, n as f64 / wall, Unit::RowsPerSecond)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_bench::Target;

    #[test]
    fn an_engine_figure_reads_as_one_line_and_as_json() {
        let f = Figure {
            peak_rss_mb: Some(198.0),
            ..Figure::new("w3 reference load", 2500.0, Unit::Milliseconds)
        }
        .with_detail("1000000 rows")
        .with_target(Target::Below(2000.0));
        assert_eq!(
            f.to_string(),
            "w3 reference load: 2500.00 ms (peak RSS 198 MB, 1000000 rows); target < 2000.00 ms: MISSED"
        );
        let json = serde_json::to_value(&f).expect("json");
        assert_eq!(json["target"], serde_json::json!({"below": 2000.0}));
        assert_eq!(json["met"], serde_json::json!(false));
        assert!(json.get("rows").is_none());
        let r = rate("w1", 1000, Instant::now(), super::super::cpu_seconds());
        assert_eq!(r.unit, Unit::RowsPerSecond);
        assert_eq!(r.rows, Some(1000));
        assert!(r.wall_seconds.is_some() && r.cpu_seconds.is_some());
    }

    #[test]
    fn a_json_report_gathers_a_list_per_section() {
        let mut r = Report::new(true);
        let f = Figure::new("w2 window state", 22.0, Unit::BytesPerHeldRow);
        r.add("engine", "", &f).expect("add");
        r.add("engine", "", &f).expect("add");
        r.add("kds", "kds", &f).expect("add");
        let Some(map) = &r.json else {
            panic!("json report")
        };
        assert_eq!(map.len(), 2);
        assert_eq!(map["engine"].as_array().map(Vec::len), Some(2));
        assert_eq!(map["kds"].as_array().map(Vec::len), Some(1));
    }
}
