//! The figures `sluice bench` reports, one type for every section (the
//! engine workloads, the shard log, video, Firehose, Nexmark).
//!
//! A [`Figure`] is a measured value with its [`Unit`]; where there is one,
//! the [`Baseline`] measured in the same run (the disk's own write speed,
//! `object_store` alone, ...); where one is set, its [`Target`] and whether
//! it was MET or MISSED; and, for a benchmark that could not run, why.
//! Its `Display` is the one line `sluice bench` prints, and its
//! `Serialize` the object `sluice bench --json` lists, with the same keys
//! for every figure of every section.
//!
//! ```
//! use sluice_bench::{Baseline, Figure, Target, Unit};
//!
//! let figure = Figure::new("embedded appends", 12.0, Unit::MegabytesPerSecond)
//!     .with_label("c")
//!     .with_baseline(Baseline::new("disk", 40.0))
//!     .with_target(Target::FractionOfBaseline(0.5));
//! assert_eq!(figure.met, Some(false));
//! assert_eq!(
//!     figure.to_string(),
//!     "(c) embedded appends: 12.00 MB/s; baseline, disk: 40.00 MB/s; \
//!      0.30 of baseline; target >= 0.50 of baseline: MISSED"
//! );
//! ```
//!
//! This crate only describes and prints figures; each benchmark lives with
//! the code it measures (`sluice_kds::bench`, `sluice_video::bench`,
//! `sluice_firehose::bench`, the CLI's engine workloads).

use std::fmt;

use serde::Serialize;

/// The unit of a figure, of its baseline and of an absolute target. Its
/// `Display` (and its JSON string) is the unit's name as printed, and
/// [`Unit::format`] writes a number the way that unit's figures are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Kinesis records per second: `1,234,567`.
    #[serde(rename = "records/s")]
    RecordsPerSecond,
    /// Rows per second through the engine: `75.8M`, `512k`.
    #[serde(rename = "rows/s")]
    RowsPerSecond,
    /// Nexmark events per second through the engine: `15.52M`, `949k`.
    #[serde(rename = "events/s")]
    EventsPerSecond,
    /// Megabytes (10⁶ bytes) per second: `921.70`.
    #[serde(rename = "MB/s")]
    MegabytesPerSecond,
    /// Milliseconds: `4.00`.
    #[serde(rename = "ms")]
    Milliseconds,
    /// Bytes of window state per row a window holds: `22`.
    #[serde(rename = "bytes per held row")]
    BytesPerHeldRow,
    /// A ratio of the slower of two rates to the faster: `0.94`.
    #[serde(rename = "of the faster")]
    OfTheFaster,
}

impl Unit {
    /// The unit's name as printed after a number.
    pub fn name(self) -> &'static str {
        match self {
            Unit::RecordsPerSecond => "records/s",
            Unit::RowsPerSecond => "rows/s",
            Unit::EventsPerSecond => "events/s",
            Unit::MegabytesPerSecond => "MB/s",
            Unit::Milliseconds => "ms",
            Unit::BytesPerHeldRow => "bytes per held row",
            Unit::OfTheFaster => "of the faster",
        }
    }

    /// `v` written as this unit's figures are (without the unit's name).
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::RecordsPerSecond => thousands(v),
            Unit::RowsPerSecond => millions(v, 1),
            Unit::EventsPerSecond => millions(v, 2),
            Unit::MegabytesPerSecond | Unit::Milliseconds | Unit::OfTheFaster => format!("{v:.2}"),
            Unit::BytesPerHeldRow => format!("{v:.0}"),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `v` rounded to a whole number, with a comma between each three digits:
/// `1,234,567`.
pub fn thousands(v: f64) -> String {
    let s = format!("{v:.0}");
    let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return s; // NaN, inf
    }
    let mut out = sign.to_owned();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `v` in millions with `decimals` from a million up (`75.8M`), else in
/// whole thousands (`512k`).
fn millions(v: f64, decimals: usize) -> String {
    if v >= 1e6 {
        format!("{:.decimals$}M", v / 1e6)
    } else {
        format!("{:.0}k", v / 1e3)
    }
}

/// What a figure must reach. The JSON form is one key, the variant in
/// snake case, with its number: `{"at_least": 8000000.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// At least this value, in the figure's unit.
    AtLeast(f64),
    /// Strictly below this value, in the figure's unit.
    Below(f64),
    /// A rate at least this fraction of the baseline's rate.
    FractionOfBaseline(f64),
    /// A time at most this many times the baseline's time on the same
    /// work: for rates, the baseline's rate over the figure's at most this.
    TimeWithin(f64),
}

impl Target {
    /// Whether `value` reaches the target, given the baseline's value. A
    /// target relative to a baseline is not met without a baseline, or
    /// when either value is not above zero; NaN never meets a target.
    pub fn met(self, value: f64, baseline: Option<f64>) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::Below(t) => value < t,
            Target::FractionOfBaseline(t) => baseline.is_some_and(|b| b > 0.0 && value / b >= t),
            Target::TimeWithin(t) => {
                baseline.is_some_and(|b| b > 0.0 && value > 0.0 && b / value <= t)
            }
        }
    }

    /// The target as printed: `target >= 200,000 records/s`,
    /// `target < 10.00 ms`, `target >= 0.80 of baseline`, `target <= 1.20x`.
    pub fn describe(self, unit: Unit) -> String {
        match self {
            Target::AtLeast(t) => format!("target >= {} {unit}", unit.format(t)),
            Target::Below(t) => format!("target < {} {unit}", unit.format(t)),
            Target::FractionOfBaseline(t) => format!("target >= {t:.2} of baseline"),
            Target::TimeWithin(t) => format!("target <= {t:.2}x"),
        }
    }

    /// How `value` compares with `baseline` in this target's terms
    /// (`0.27 of baseline`, `1.10x the baseline's time`); `None` for an
    /// absolute target.
    fn compare(self, value: f64, baseline: f64) -> Option<String> {
        match self {
            Target::AtLeast(_) | Target::Below(_) => None,
            Target::FractionOfBaseline(_) => Some(format!("{:.2} of baseline", value / baseline)),
            Target::TimeWithin(_) => Some(format!("{:.2}x the baseline's time", baseline / value)),
        }
    }
}

/// A figure's reference point, measured in the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// What was measured.
    pub name: String,
    /// Its value, in the figure's unit.
    pub value: f64,
    /// More about it (may be empty).
    pub detail: String,
}

impl Baseline {
    /// A baseline of `value` (in the figure's unit), without detail.
    pub fn new(name: impl Into<String>, value: f64) -> Baseline {
        Baseline {
            name: name.into(),
            value,
            detail: String::new(),
        }
    }

    /// The same baseline with `detail`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Baseline {
        self.detail = detail.into();
        self
    }
}

/// One benchmark's result.
///
/// `Display` gives one line:
///
/// ```text
/// [(label) ]name: value unit[ (measurements, detail)][; baseline, name: value unit[ (detail)]]; target …: MET|MISSED
/// ```
///
/// ending in `; no target set` without a target; a figure with a target
/// relative to its baseline also says how it compares (`0.27 of
/// baseline`, `1.10x the baseline's time`). A figure not run reads
/// `[(label) ]name: NOT RUN (target …): why`. The alternate form (`{:#}`)
/// adds the notes on indented lines below.
///
/// The JSON form has every field below; the run measurements (`rows`,
/// `rows_out`, `cpu_seconds`, `wall_seconds`, `peak_rss_mb`) only where
/// they were taken. A value that is not a number (a figure not run) is
/// `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// A short tag printed in parentheses before the name, such as the
    /// benchmark's letter in its section (`c` prints `(c) `).
    pub label: Option<String>,
    /// What was measured.
    pub name: String,
    /// The figure (NaN when not run).
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// More about it, e.g. counts and time (may be empty).
    pub detail: String,
    /// The reference point measured in the same run, where there is one.
    pub baseline: Option<Baseline>,
    /// What it must reach; `None`: no target is set, the figure is reported.
    pub target: Option<Target>,
    /// Whether it reached its target: `None` without one, `false` when
    /// not run.
    pub met: Option<bool>,
    /// Why it was not run; `None` when it ran.
    pub not_run: Option<String>,
    /// Further figures, for scale.
    pub notes: Vec<String>,
    /// Rows (or events) pushed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Rows the application emitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_out: Option<u64>,
    /// CPU seconds (user + system) the process used for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// Wall-clock seconds it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    /// The process's peak RSS so far, in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mb: Option<f64>,
}

impl Figure {
    /// A figure of `value` in `unit`, with no baseline and no target yet.
    pub fn new(name: impl Into<String>, value: f64, unit: Unit) -> Figure {
        Figure {
            label: None,
            name: name.into(),
            value,
            unit,
            detail: String::new(),
            baseline: None,
            target: None,
            met: None,
            not_run: None,
            notes: Vec::new(),
            rows: None,
            rows_out: None,
            cpu_seconds: None,
            wall_seconds: None,
            peak_rss_mb: None,
        }
    }

    /// A figure that could not be measured, and `why`; its value is NaN
    /// and it meets no target.
    pub fn not_run(name: impl Into<String>, unit: Unit, why: impl Into<String>) -> Figure {
        Figure {
            not_run: Some(why.into()),
            ..Figure::new(name, f64::NAN, unit)
        }
    }

    /// The same figure, tagged `label` (printed as `(label) `).
    pub fn with_label(mut self, label: impl Into<String>) -> Figure {
        self.label = Some(label.into());
        self
    }

    /// The same figure with `detail`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Figure {
        self.detail = detail.into();
        self
    }

    /// The same figure beside `baseline` (judged again if it has a target).
    pub fn with_baseline(mut self, baseline: Baseline) -> Figure {
        self.baseline = Some(baseline);
        self.judged()
    }

    /// The same figure measured against `target`.
    pub fn with_target(mut self, target: Target) -> Figure {
        self.target = Some(target);
        self.judged()
    }

    /// The same figure with one more note.
    pub fn with_note(mut self, note: impl Into<String>) -> Figure {
        self.notes.push(note.into());
        self
    }

    /// Sets [`Figure::met`] from the target, the value and the baseline.
    fn judged(mut self) -> Figure {
        let baseline = self.baseline.as_ref().map(|b| b.value);
        self.met = self
            .target
            .map(|t| self.not_run.is_none() && t.met(self.value, baseline));
        self
    }

    /// What goes in parentheses after the value: the run measurements
    /// taken, then the detail.
    fn particulars(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(cpu) = self.cpu_seconds {
            out.push(format!("{cpu:.2} CPU-s"));
        }
        if let Some(wall) = self.wall_seconds {
            out.push(format!("{wall:.2} s wall"));
        }
        if let Some(rss) = self.peak_rss_mb {
            out.push(format!("peak RSS {rss:.0} MB"));
        }
        if let Some(n) = self.rows {
            out.push(format!("{n} rows"));
        }
        if let Some(n) = self.rows_out {
            out.push(format!("{n} rows out"));
        }
        if !self.detail.is_empty() {
            out.push(self.detail.clone());
        }
        out
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = self.unit;
        if let Some(label) = &self.label {
            write!(f, "({label}) ")?;
        }
        write!(f, "{}: ", self.name)?;
        if let Some(why) = &self.not_run {
            return match self.target {
                Some(t) => write!(f, "NOT RUN ({}): {why}", t.describe(unit)),
                None => write!(f, "NOT RUN: {why}"),
            };
        }
        write!(f, "{} {unit}", unit.format(self.value))?;
        let particulars = self.particulars();
        if !particulars.is_empty() {
            write!(f, " ({})", particulars.join(", "))?;
        }
        if let Some(b) = &self.baseline {
            write!(f, "; baseline, {}: {} {unit}", b.name, unit.format(b.value))?;
            if !b.detail.is_empty() {
                write!(f, " ({})", b.detail)?;
            }
            if let Some(compared) = self.target.and_then(|t| t.compare(self.value, b.value)) {
                write!(f, "; {compared}")?;
            }
        }
        match self.target {
            Some(t) => {
                let verdict = if self.met == Some(true) {
                    "MET"
                } else {
                    "MISSED"
                };
                write!(f, "; {}: {verdict}", t.describe(unit))?;
            }
            None => f.write_str("; no target set")?,
        }
        if f.alternate() {
            for note in &self.notes {
                write!(f, "\n    {note}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_written_per_unit() {
        assert_eq!(Unit::RecordsPerSecond.format(1_234_567.4), "1,234,567");
        assert_eq!(Unit::RecordsPerSecond.format(-1234.0), "-1,234");
        assert_eq!(Unit::RecordsPerSecond.format(999.0), "999");
        assert_eq!(Unit::RecordsPerSecond.format(f64::NAN), "NaN");
        assert_eq!(Unit::RowsPerSecond.format(75.83e6), "75.8M");
        assert_eq!(Unit::RowsPerSecond.format(512_300.0), "512k");
        assert_eq!(Unit::EventsPerSecond.format(15.523e6), "15.52M");
        assert_eq!(Unit::EventsPerSecond.format(949_400.0), "949k");
        assert_eq!(Unit::MegabytesPerSecond.format(921.7), "921.70");
        assert_eq!(Unit::Milliseconds.format(4.0), "4.00");
        assert_eq!(Unit::BytesPerHeldRow.format(21.6), "22");
        assert_eq!(Unit::OfTheFaster.format(0.9412), "0.94");
    }

    #[test]
    fn targets_meet_at_their_edges() {
        assert!(Target::AtLeast(2.0).met(2.0, None));
        assert!(!Target::AtLeast(2.0).met(f64::NAN, None));
        assert!(!Target::Below(10.0).met(10.0, None));
        assert!(Target::Below(10.0).met(9.99, None));
        assert!(!Target::Below(10.0).met(f64::NAN, None));
        let fraction = Target::FractionOfBaseline(0.5);
        assert!(fraction.met(5.0, Some(10.0)));
        assert!(!fraction.met(4.9, Some(10.0)));
        assert!(!fraction.met(5.0, None));
        assert!(!fraction.met(5.0, Some(0.0)));
        assert!(!fraction.met(5.0, Some(f64::NAN)));
        // GZIP at 50 MB/s beside an encoder at 60 MB/s takes 1.2x its time.
        let within = Target::TimeWithin(1.2);
        assert!(within.met(50.0, Some(60.0)));
        assert!(!within.met(49.0, Some(60.0)));
        assert!(!within.met(0.0, Some(60.0)));
        assert!(!within.met(50.0, Some(0.0)));
        assert!(!within.met(50.0, None));
        assert!(!within.met(f64::NAN, Some(60.0)));
    }

    #[test]
    fn an_absolute_target_reads_met_or_missed() {
        let f = Figure::new("gen", 1_234_567.0, Unit::RecordsPerSecond)
            .with_label("b")
            .with_detail("n in 1 s")
            .with_target(Target::AtLeast(200_000.0));
        assert_eq!(f.met, Some(true));
        assert_eq!(
            f.to_string(),
            "(b) gen: 1,234,567 records/s (n in 1 s); target >= 200,000 records/s: MET"
        );
        let f = Figure::new("p99", 12.5, Unit::Milliseconds)
            .with_baseline(Baseline::new("disk p99", 0.23).with_detail("p50 0.10 ms"))
            .with_target(Target::Below(10.0));
        assert_eq!(f.met, Some(false));
        assert_eq!(
            f.to_string(),
            "p99: 12.50 ms; baseline, disk p99: 0.23 ms (p50 0.10 ms); target < 10.00 ms: MISSED"
        );
    }

    #[test]
    fn a_relative_target_says_how_the_figure_compares() {
        let f = Figure::new("ingest", 921.7, Unit::MegabytesPerSecond)
            .with_label("a")
            .with_detail("256 fragments")
            .with_target(Target::FractionOfBaseline(0.8))
            .with_baseline(Baseline::new("raw write", 1582.0));
        assert_eq!(f.met, Some(false), "judged again with its baseline");
        assert_eq!(
            f.to_string(),
            "(a) ingest: 921.70 MB/s (256 fragments); baseline, raw write: 1582.00 MB/s; 0.58 of baseline; target >= 0.80 of baseline: MISSED"
        );
        let f = Figure::new("GZIP delivery", 236.1, Unit::MegabytesPerSecond)
            .with_baseline(Baseline::new("gzip encoder alone", 259.9))
            .with_target(Target::TimeWithin(1.2))
            .with_note("Parquet: 80.0 MB/s");
        assert_eq!(f.met, Some(true));
        assert_eq!(
            f.to_string(),
            "GZIP delivery: 236.10 MB/s; baseline, gzip encoder alone: 259.90 MB/s; 1.10x the baseline's time; target <= 1.20x: MET"
        );
        assert!(format!("{f:#}").ends_with(": MET\n    Parquet: 80.0 MB/s"));
    }

    #[test]
    fn without_a_target_a_figure_is_reported() {
        let f = Figure::new("ttfb p99", 3.0, Unit::Milliseconds).with_label("c");
        assert_eq!(f.met, None);
        assert_eq!(f.to_string(), "(c) ttfb p99: 3.00 ms; no target set");
    }

    #[test]
    fn run_measurements_come_before_the_detail() {
        let f = Figure {
            rows: Some(10_000_000),
            cpu_seconds: Some(1.33),
            wall_seconds: Some(1.34),
            peak_rss_mb: Some(45.0),
            ..Figure::new("end-to-end json", 7.46e6, Unit::RowsPerSecond)
        }
        .with_target(Target::AtLeast(6e6));
        assert_eq!(
            f.to_string(),
            "end-to-end json: 7.5M rows/s (1.33 CPU-s, 1.34 s wall, peak RSS 45 MB, 10000000 rows); target >= 6.0M rows/s: MET"
        );
    }

    #[test]
    fn a_figure_not_run_says_why() {
        let f = Figure::not_run("boto3", Unit::RecordsPerSecond, "no python")
            .with_label("a")
            .with_target(Target::AtLeast(25_000.0));
        assert_eq!(f.met, Some(false));
        assert_eq!(
            f.to_string(),
            "(a) boto3: NOT RUN (target >= 25,000 records/s): no python"
        );
        let f = Figure::not_run("boto3", Unit::RecordsPerSecond, "no python");
        assert_eq!(f.met, None);
        assert_eq!(f.to_string(), "boto3: NOT RUN: no python");
    }

    #[test]
    fn every_figure_has_the_same_json_keys() {
        let plain = Figure::new("w2 window state", 22.0, Unit::BytesPerHeldRow);
        let full = Figure::new("(c)", 12.0, Unit::MegabytesPerSecond)
            .with_label("c")
            .with_baseline(Baseline::new("disk", 40.0).with_detail("d"))
            .with_target(Target::FractionOfBaseline(0.5))
            .with_note("for scale");
        let keys = |f: &Figure| -> Vec<String> {
            match serde_json::to_value(f).expect("json") {
                serde_json::Value::Object(map) => map.keys().cloned().collect(),
                other => panic!("not an object: {other}"),
            }
        };
        assert_eq!(keys(&plain), keys(&full));
        assert_eq!(
            serde_json::to_value(&full).expect("json"),
            json!({
                "label": "c", "name": "(c)", "value": 12.0, "unit": "MB/s", "detail": "",
                "baseline": {"name": "disk", "value": 40.0, "detail": "d"},
                "target": {"fraction_of_baseline": 0.5}, "met": false, "not_run": null,
                "notes": ["for scale"]
            })
        );
        let run = Figure {
            rows: Some(20_000),
            wall_seconds: Some(0.5),
            ..Figure::new("w1", 40_000.0, Unit::RowsPerSecond)
        }
        .with_target(Target::Below(2000.0));
        let v = serde_json::to_value(&run).expect("json");
        assert_eq!(v["rows"], json!(20_000));
        assert_eq!(v["wall_seconds"], json!(0.5));
        assert_eq!(v["target"], json!({"below": 2000.0}));
        assert!(v.get("cpu_seconds").is_none() && v.get("peak_rss_mb").is_none());
        let not_run = Figure::not_run("boto3", Unit::RecordsPerSecond, "no python");
        let v = serde_json::to_value(&not_run).expect("json");
        assert_eq!(v["value"], json!(null));
        assert_eq!(v["not_run"], json!("no python"));
        assert_eq!(v["unit"], json!("records/s"));
    }
}
