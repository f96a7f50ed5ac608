//! Where `sluice bench`'s figures go: each printed as one line as soon as
//! it is measured, or, with `--json`, kept under its section (`engine`,
//! `kds`, `video`, `firehose`, `nexmark`) and printed at the end as one
//! JSON object, so `sluice bench all --json` gives every figure to a
//! script at once. The engine workloads' figures are [`EngineFigure`]s;
//! the services' come from their crates' bench modules.

use std::fmt;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

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
    pub fn add<F: Serialize + fmt::Display>(
        &mut self,
        section: &str,
        prefix: &str,
        figure: &F,
    ) -> Result<()> {
        match &mut self.json {
            None if prefix.is_empty() => println!("{figure:#}"),
            None => println!("{prefix} {figure:#}"),
            Some(map) => {
                let value = serde_json::to_value(figure)?;
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

/// What an engine figure must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineTarget {
    /// At least this value.
    AtLeast(f64),
    /// Strictly below this value.
    Below(f64),
}

impl EngineTarget {
    fn met(self, value: f64) -> bool {
        match self {
            EngineTarget::AtLeast(t) => value >= t,
            EngineTarget::Below(t) => value < t,
        }
    }
}

/// One figure of the engine's workloads: what was measured, its value and
/// unit, the process's CPU time, wall time and peak RSS for a rate, and
/// its target with MET or MISSED where one is set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineFigure {
    /// What was measured.
    pub name: String,
    /// The figure.
    pub value: f64,
    /// Its unit: `rows/s`, `ms`, `bytes per held row`, `of the faster`.
    pub unit: &'static str,
    /// Rows pushed (rates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// CPU seconds (user + system) the process used for it (rates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// Wall-clock seconds (rates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    /// The process's peak RSS so far, in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mb: Option<f64>,
    /// More about it (may be empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// What it must reach, if anything.
    pub target: Option<EngineTarget>,
    /// Whether it reached it (`None` without a target).
    pub met: Option<bool>,
}

impl EngineFigure {
    /// A figure of `value` in `unit`, with `detail`, without a target.
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str, detail: String) -> Self {
        EngineFigure {
            name: name.into(),
            value,
            unit,
            rows: None,
            cpu_seconds: None,
            wall_seconds: None,
            peak_rss_mb: None,
            detail,
            target: None,
            met: None,
        }
    }

    /// `n` rows pushed since `started` (when the process had used `cpu0`
    /// CPU seconds), as rows/s with CPU time, wall time and peak RSS.
    pub fn rate(name: impl Into<String>, n: u64, started: Instant, cpu0: f64) -> Self {
        let wall = started.elapsed().as_secs_f64();
        EngineFigure {
            rows: Some(n),
            cpu_seconds: Some(super::cpu_seconds() - cpu0),
            wall_seconds: Some(wall),
            peak_rss_mb: Some(super::peak_rss_mb()),
            ..EngineFigure::new(name, n as f64 / wall, "rows/s", String::new())
        }
    }

    /// The same figure measured against `target`.
    pub fn with_target(mut self, target: EngineTarget) -> Self {
        self.met = Some(target.met(self.value));
        self.target = Some(target);
        self
    }

    fn format(&self, v: f64) -> String {
        match self.unit {
            "rows/s" if v >= 1e6 => format!("{:.1}M", v / 1e6),
            "rows/s" => format!("{:.0}k", v / 1e3),
            "of the faster" => format!("{v:.2}"),
            _ => format!("{v:.0}"),
        }
    }
}

impl fmt::Display for EngineFigure {
    /// `name: value unit (details); target …: MET|MISSED`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}",
            self.name,
            self.format(self.value),
            self.unit
        )?;
        let mut details = Vec::new();
        if let (Some(cpu), Some(wall)) = (self.cpu_seconds, self.wall_seconds) {
            details.push(format!("{cpu:.2} CPU-s, {wall:.2} s wall"));
        }
        if let Some(rss) = self.peak_rss_mb {
            details.push(format!("peak RSS {rss:.0} MB"));
        }
        if let Some(n) = self.rows {
            details.push(format!("{n} rows"));
        }
        if !self.detail.is_empty() {
            details.push(self.detail.clone());
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        if let Some(target) = self.target {
            let (op, t) = match target {
                EngineTarget::AtLeast(t) => (">=", t),
                EngineTarget::Below(t) => ("<", t),
            };
            let verdict = if self.met == Some(true) {
                "MET"
            } else {
                "MISSED"
            };
            write!(
                f,
                "; target {op} {} {}: {verdict}",
                self.format(t),
                self.unit
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_figure_reads_as_one_line_and_as_json() {
        let f = EngineFigure {
            rows: Some(10_000_000),
            cpu_seconds: Some(1.33),
            wall_seconds: Some(1.34),
            peak_rss_mb: Some(45.0),
            ..EngineFigure::new("end-to-end json", 7.46e6, "rows/s", String::new())
        }
        .with_target(EngineTarget::AtLeast(6e6));
        assert_eq!(
            f.to_string(),
            "end-to-end json: 7.5M rows/s (1.33 CPU-s, 1.34 s wall, peak RSS 45 MB, 10000000 rows); target >= 6.0M rows/s: MET"
        );
        let load = EngineFigure::new("w3 reference load", 2500.0, "ms", "1000000 rows".into())
            .with_target(EngineTarget::Below(2000.0));
        assert_eq!(
            load.to_string(),
            "w3 reference load: 2500 ms (1000000 rows); target < 2000 ms: MISSED"
        );
        let json = serde_json::to_value(&load).expect("json");
        assert_eq!(json["target"], serde_json::json!({"below": 2000.0}));
        assert_eq!(json["met"], serde_json::json!(false));
        assert!(json.get("rows").is_none());
    }

    #[test]
    fn a_json_report_gathers_a_list_per_section() {
        let mut r = Report::new(true);
        let f = EngineFigure::new("w2 window state", 22.0, "bytes per held row", String::new());
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
