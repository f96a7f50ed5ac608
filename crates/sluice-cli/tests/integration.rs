//! End-to-end tests of the `sluice` binary: the golden cases, `check`,
//! `run` (replay and live from stdin) and `bench`'s own result check.

#![allow(clippy::unwrap_used)] // a test binary: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod serve;

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh `sluice-cli-{name}-{pid}` directory under the system's temp
/// directory, removed with everything in it when dropped (at the end of
/// the test that made it, passed or failed).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("sluice-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

#[test]
fn golden_cases_pass() {
    let out = sluice()
        .arg("test")
        .arg(repo().join("tests/golden"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 50, "{last}");
}

#[test]
fn kda_compat_supported_cases_pass_when_shared_exists() {
    let shared = repo().join("../shared/kda-compat");
    if !shared.is_dir() {
        eprintln!("../shared/kda-compat not present: skipped");
        return;
    }
    let list = std::fs::read_to_string(repo().join("tests/kda-compat-supported.txt")).unwrap();
    let cases: Vec<PathBuf> = list
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| shared.join(l))
        .collect();
    assert!(!cases.is_empty());
    let out = sluice().arg("test").args(&cases).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // An expressions.tsv case counts one check per line.
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn failing_case_shows_first_difference_and_exits_non_zero() {
    let d = temp_dir("failing");
    std::fs::write(
        d.join("app.sql"),
        "CREATE STREAM \"S\" (A INTEGER);\nCREATE STREAM \"D\" (A INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"D\" SELECT STREAM A * 2 FROM \"S\";\n",
    )
    .unwrap();
    std::fs::write(
        d.join("case.toml"),
        "[[input]]\nstream = \"S\"\nfile = \"in.jsonl\"\nenvelope = \"none\"\n",
    )
    .unwrap();
    std::fs::write(d.join("in.jsonl"), "{\"A\": 1}\n{\"A\": 2}\n").unwrap();
    std::fs::create_dir_all(d.join("expected")).unwrap();
    std::fs::write(d.join("expected/D.jsonl"), "{\"A\": 2}\n{\"A\": 5}\n").unwrap();
    let out = sluice().arg("test").arg(&d).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("row 2: A: expected 5, got 4"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");

    // --bless writes what the app emits; then the case passes.
    let out = sluice()
        .arg("test")
        .arg("--bless")
        .arg(&d)
        .output()
        .unwrap();
    assert!(out.status.success());
    let blessed = std::fs::read_to_string(d.join("expected/D.jsonl")).unwrap();
    assert!(blessed.contains("\"A\":4"), "{blessed}");
    let out = sluice().arg("test").arg(&d).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn check_reports_file_line_column_and_exit_code() {
    let d = temp_dir("check");
    let good = repo().join("sql-examples/ticker-tumbling");
    let bad = d.join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE STREAM \"S\" (PRICE DOUBLE);\nCREATE STREAM \"D\" (P DOUBLE);\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\n  SELECT STREAM PRCE FROM \"S\";\n",
    )
    .unwrap();
    let out = sluice().arg("check").arg(&good).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = sluice().arg("check").arg(&good).arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains(&format!(
            "{}:4:17: unknown column \"PRCE\" in stream \"S\"; did you mean \"PRICE\"?",
            bad.display()
        )),
        "{stdout}"
    );
}

#[test]
fn run_replays_an_example_to_files() {
    let d = temp_dir("run");
    let out_file = d.join("out.jsonl");
    let err_file = d.join("errors.jsonl");
    let out = sluice()
        .arg("run")
        .arg(repo().join("sql-examples/error-stream"))
        .arg("--output")
        .arg(format!("DESTINATION_SQL_STREAM={}", out_file.display()))
        .arg("--output")
        .arg(format!("error_stream={}", err_file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(
        rows,
        "{\"ORDER_ID\": 1, \"UNIT_PRICE\": 2.50}\n{\"ORDER_ID\": 4, \"UNIT_PRICE\": 3.33}\n"
    );
    let errors = std::fs::read_to_string(&err_file).unwrap();
    assert_eq!(errors.lines().count(), 2, "{errors}");
    assert!(errors.contains("Coercion error"), "{errors}");
    assert!(errors.contains("division by zero"), "{errors}");
}

#[test]
fn run_live_reads_stdin_with_the_system_clock() {
    let d = temp_dir("live");
    std::fs::write(
        d.join("app.sql"),
        "CREATE STREAM \"IN\" (\"name\" VARCHAR(8));\nCREATE STREAM \"OUT\" (GREETING VARCHAR(16));\nCREATE PUMP \"P\" AS INSERT INTO \"OUT\" SELECT STREAM 'hi ' || \"name\" FROM \"IN\";\n",
    )
    .unwrap();
    let mut child = sluice()
        .arg("run")
        .arg(d.join("app.sql"))
        .arg("--input")
        .arg("IN=-")
        .arg("--output")
        .arg("OUT=-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"{\"name\": \"ann\"}\n{\"name\": \"bob\"}\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"GREETING\": \"hi ann\"}\n{\"GREETING\": \"hi bob\"}\n"
    );
}

#[test]
fn bench_checks_its_own_result() {
    let out = sluice()
        .args(["bench", "--rows", "300000", "--seconds", "0.3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("engine-only: "), "{stdout}");
    assert!(stdout.contains("end-to-end json: "), "{stdout}");
    // `all` ends with the shard log's figures, (a) run or not, each with a target.
    for letter in ["a", "b", "c", "d", "e"] {
        let line = format!("kds ({letter}) ");
        assert!(stdout.contains(&line), "{stdout}");
    }
    assert!(stdout.contains("target < 10.00 ms: "), "{stdout}");
    // then the video and Firehose figures, each ingest or delivery against its target.
    for line in [
        "video (a) ",
        "video (b) ",
        "video (c) ",
        "firehose UNCOMPRESSED",
        "firehose GZIP",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
    assert!(stdout.contains("target >= 0.80 of baseline: "), "{stdout}");
    assert!(stdout.contains("target <= 1.20x: "), "{stdout}");
}

/// `sluice bench ARGS --json`: it succeeds and prints one JSON object.
fn bench_json(args: &[&str]) -> (serde_json::Value, String) {
    let out = sluice()
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_str(stdout.trim()).unwrap(), stdout)
}

#[test]
fn bench_kds_json_is_one_object_of_five_figures() {
    let (v, stdout) = bench_json(&["kds", "--seconds", "0.2"]);
    let figures = v["kds"].as_array().unwrap();
    assert_eq!(figures.len(), 5, "{stdout}");
    for (f, letter) in figures.iter().zip(["a", "b", "c", "d", "e"]) {
        assert!(f["met"].is_boolean() && f["target"].is_object(), "{f}");
        assert_eq!(f["label"], letter, "{f}");
        // (a) runs only with the venv; the others always.
        assert!(letter == "a" || f["not_run"].is_null(), "{f}");
    }
    // (c), (d) and (e) each beside the disk's own figure, measured in the same run.
    for f in &figures[2..] {
        assert!(f["baseline"]["value"].as_f64() > Some(0.0), "{f}");
    }
}

#[test]
fn bench_engine_json_gives_every_figure_with_its_target() {
    let (v, stdout) = bench_json(&["w2", "--rows", "20000"]);
    let figures = v["engine"].as_array().unwrap();
    let names: Vec<&str> = figures.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(
        &names[..3],
        [
            "w2 engine-only, 1-minute window",
            "w2 engine-only, 1-hour window",
            "w2 1-hour vs 1-minute window"
        ],
        "{stdout}"
    );
    for f in &figures[..2] {
        assert_eq!(f["unit"], "rows/s", "{f}");
        assert_eq!(f["rows"], 20000, "{f}");
        assert_eq!(f["target"], serde_json::json!({"at_least": 8e6}), "{f}");
        assert!(
            f["met"].is_boolean() && f["value"].as_f64() > Some(0.0),
            "{f}"
        );
    }
    assert_eq!(figures[2]["target"], serde_json::json!({"at_least": 0.9}));
    // Every figure has the keys of every other section's figures.
    for f in figures {
        for key in ["label", "detail", "baseline", "not_run", "notes"] {
            assert!(f.get(key).is_some(), "{key}: {f}");
        }
    }
}

#[test]
fn eval_prints_one_value_as_a_kda_literal() {
    let run = |e: &str| {
        let out = sluice().arg("eval").arg(e).output().expect("sluice runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(run("UPPER('kda') || '!'").1, "'KDA!'");
    assert_eq!(
        run("STEP(CAST('2004-09-27 13:48:23' AS TIMESTAMP) BY INTERVAL '10' SECOND)").1,
        "TIMESTAMP '2004-09-27 13:48:20'"
    );
    let (ok, _, err) = run("NOPE(1)");
    assert!(!ok);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn eval_prints_a_plain_query_over_values_one_line_per_row() {
    let run = |q: &str| {
        let out = sluice().arg("eval").arg(q).output().expect("sluice runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Columns tab-separated, values as KDA literals; WHERE drops row 2; the
    // column N unifies 1 and 2.5 to DOUBLE.
    let (ok, out, err) = run(
        "SELECT t.s || '!', n, n > 2 FROM (VALUES ('a', 1), ('it''s', 2), ('c', 2.5), ('d', NULL)) AS t(s, n) WHERE n <> 2 OR n IS NULL",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "'a!'\t1.0\tFALSE\n'c!'\t2.5\tTRUE\n'd!'\tNULL\tNULL\n");
    // A log parser's ROW fields, row by row.
    let (ok, out, err) = run(
        "SELECT t.r.\"COLUMN2\" FROM (VALUES (REGEX_LOG_PARSE('a b', '(\\w+) (\\w+)')), (REGEX_LOG_PARSE('c d', '(\\w+) (\\w+)'))) AS t(r)",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "'b'\n'd'\n");
    // Bare VALUES; no row kept prints nothing.
    assert_eq!(run("VALUES (1, 'x'), (2, 'y')").1, "1\t'x'\n2\t'y'\n");
    let (ok, out, _) = run("SELECT c FROM (VALUES (1)) t(c) WHERE c > 1");
    assert!(ok && out.is_empty(), "{out}");
    // A ragged row is refused, naming the row and its line.
    let (ok, _, err) = run("VALUES (1, 2),\n(3)");
    assert!(!ok);
    assert!(
        err.contains("2:1: row 2 of VALUES (line 2) has 1 values"),
        "{err}"
    );
}

/// `sluice discover` on a JSON file with nested objects and on a CSV file;
/// the printed `[[input]]` sections, written into a case unchanged, feed an
/// app that `sluice test` passes.
#[test]
fn discovered_inputs_run_unchanged_in_a_case() {
    let d = temp_dir("discover-case");
    std::fs::write(
        d.join("trades.jsonl"),
        concat!(
            r#"{"ticker": "AMZN", "trade": {"price": 101.5, "qty": 10, "venue": {"code": "XNAS"}}, "at": "2024-01-02 10:00:00.000", "tags": ["a", "b"], "user@id": 7}"#,
            "\n",
            r#"{"ticker": "GOOGL", "trade": {"price": 99, "qty": 3000000000, "venue": {"code": "XNYS"}}, "at": "2024-01-02T10:00:01Z", "tags": [], "user@id": 8, "note": null}"#,
            "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("energy.csv"),
        "year,month,state,consumption\r\n2001,1,AK,47615\r\n2001,1,AL,3020601\r\n",
    )
    .unwrap();
    let discover = |args: &[&str]| {
        let out = sluice()
            .arg("discover")
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let json = discover(&["trades.jsonl"]);
    for line in [
        r#"{ name = "ticker", type = "VARCHAR(8)", mapping = "$.ticker" },"#,
        r#"{ name = "trade_price", type = "DOUBLE", mapping = "$.trade.price" },"#,
        r#"{ name = "trade_qty", type = "BIGINT", mapping = "$.trade.qty" },"#,
        r#"{ name = "trade_venue_code", type = "VARCHAR(4)", mapping = "$.trade.venue.code" },"#,
        r#"{ name = "COL_at", type = "TIMESTAMP", mapping = "$.at" },"#,
        r#"{ name = "tags", type = "VARCHAR(16)", mapping = "$.tags[0:]" },"#,
        r#"{ name = "COL_userid", type = "INTEGER", mapping = "$['user@id']" },"#,
    ] {
        assert!(json.contains(line), "{line} not in:\n{json}");
    }
    let csv = discover(&["--stream", "SOURCE_SQL_STREAM_002", "energy.csv"]);
    assert!(csv.contains("header = true\n"), "{csv}");
    assert!(
        csv.contains(r#"{ name = "COL_year", type = "INTEGER" },"#),
        "{csv}"
    );
    std::fs::write(d.join("case.toml"), format!("{json}\n{csv}")).unwrap();
    std::fs::write(
        d.join("app.sql"),
        r#"
CREATE OR REPLACE STREAM "TRADES" (TICKER VARCHAR(8), PRICE DOUBLE, QTY BIGINT,
  VENUE VARCHAR(4), TAGS VARCHAR(16), AT_TIME TIMESTAMP, USER_ID INTEGER);
CREATE OR REPLACE PUMP "TRADES_PUMP" AS INSERT INTO "TRADES"
  SELECT STREAM "ticker", "trade_price", "trade_qty", "trade_venue_code", "tags", "COL_at", "COL_userid"
  FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE STREAM "ENERGY" (STATE VARCHAR(4), YEAR_MONTH INTEGER, CONSUMPTION INTEGER);
CREATE OR REPLACE PUMP "ENERGY_PUMP" AS INSERT INTO "ENERGY"
  SELECT STREAM "state", "COL_year" * 100 + "COL_month", "consumption"
  FROM "SOURCE_SQL_STREAM_002";
"#,
    )
    .unwrap();
    std::fs::create_dir_all(d.join("expected")).unwrap();
    std::fs::write(
        d.join("expected/TRADES.jsonl"),
        concat!(
            r#"{"TICKER": "AMZN", "PRICE": 101.5, "QTY": 10, "VENUE": "XNAS", "TAGS": "[\"a\",\"b\"]", "AT_TIME": "2024-01-02 10:00:00.000", "USER_ID": 7}"#,
            "\n",
            r#"{"TICKER": "GOOGL", "PRICE": 99.0, "QTY": 3000000000, "VENUE": "XNYS", "TAGS": "[]", "AT_TIME": "2024-01-02 10:00:01.000", "USER_ID": 8}"#,
            "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("expected/ENERGY.jsonl"),
        "{\"STATE\": \"AK\", \"YEAR_MONTH\": 200101, \"CONSUMPTION\": 47615}\n\
         {\"STATE\": \"AL\", \"YEAR_MONTH\": 200101, \"CONSUMPTION\": 3020601}\n",
    )
    .unwrap();
    let out = sluice().arg("test").arg(&d).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");

    // --aws: the same schema as AWS InputSchema JSON.
    let aws: serde_json::Value = serde_json::from_str(&discover(&["--aws", "energy.csv"])).unwrap();
    assert_eq!(aws["RecordFormat"]["RecordFormatType"], "CSV");
    assert_eq!(
        aws["RecordFormat"]["MappingParameters"]["CSVMappingParameters"]["RecordRowDelimiter"],
        "\r\n"
    );
    assert_eq!(
        aws["RecordColumns"][2],
        serde_json::json!({ "Name": "state", "SqlType": "VARCHAR(4)" })
    );

    // Records inside a case envelope: what `aws kinesis get-records` printed.
    let out = sluice()
        .args(["discover", "--envelope", "kds", "input.jsonl"])
        .current_dir(repo().join("tests/golden/rowtime-and-arrival"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("envelope = \"kds\"\n"), "{stdout}");
    assert!(
        stdout.contains(r#"{ name = "ticker", type = "VARCHAR(4)", mapping = "$.ticker" },"#),
        "{stdout}"
    );

    // A bad record is named by its line.
    std::fs::write(d.join("bad.jsonl"), "{\"a\": 1}\n{\"a\": \n").unwrap();
    let out = sluice()
        .args(["discover", "--format", "json", "bad.jsonl"])
        .current_dir(&d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.jsonl: record 2: not valid JSON"),
        "{stderr}"
    );
}

#[test]
fn import_reads_each_kda_configuration_form_into_the_same_app() {
    let migration = repo().join("sql-examples/kda-migration");
    let sql = std::fs::read_to_string(repo().join("sql-examples/local-kinesis/app.sql")).unwrap();
    let code = &sql[sql.find("CREATE OR REPLACE STREAM").unwrap()..];
    let mut tomls = Vec::new();
    for form in [
        "describe-application.json",
        "template.json",
        "template.yaml",
        "main.tf.json",
    ] {
        let out_dir = temp_dir(&format!("import-{form}"));
        let out = sluice()
            .arg("import")
            .arg(migration.join(form))
            .arg("--arn-map")
            .arg(migration.join("arn-map.toml"))
            .arg("--out")
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{form}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(out_dir.join("app.sql")).unwrap(),
            code
        );
        let check = sluice().arg("check").arg(&out_dir).output().unwrap();
        assert!(check.status.success(), "{form}: {check:?}");
        let toml = std::fs::read_to_string(out_dir.join("app.toml")).unwrap();
        for want in [
            "stream = \"SOURCE_SQL_STREAM_001\"\nkinesis_stream = \"ExampleInputStream\"",
            "{ name = \"TICKER_SYMBOL\", type = \"VARCHAR(4)\", mapping = \"$.ticker_symbol\" }",
            "stream = \"DESTINATION_SQL_STREAM\"\nkinesis_stream = \"ExampleOutputStream\"\nformat = \"json\"",
            "stream = \"BIG_CHANGES\"\ndelivery_stream = \"example-big-changes\"\nformat = \"csv\"",
        ] {
            assert!(toml.contains(want), "{form}: no {want:?} in\n{toml}");
        }
        // Only CloudFormation has no starting position (StartApplication gives it).
        tomls.push(toml.replace("starting_position = \"NOW\"\n", ""));
    }
    let body = |t: &String| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&tomls[0]), body(&tomls[1]));
    assert_eq!(body(&tomls[0]), body(&tomls[2]));
    assert_eq!(body(&tomls[0]), body(&tomls[3]));
}

#[test]
fn import_names_every_part_sluice_cannot_run_at_once() {
    let d = temp_dir("import-unsupported");
    let text = std::fs::read_to_string(
        repo().join("sql-examples/kda-migration/describe-application.json"),
    )
    .unwrap()
    .replace(
        "\"RecordEncoding\": \"UTF-8\"",
        "\"RecordEncoding\": \"UTF-16\"",
    )
    .replace(
        "\"KinesisStreamsInputDescription\"",
        "\"InputProcessingConfigurationDescription\": { \"InputLambdaProcessorDescription\": { \"ResourceARN\": \"command:cat\" } }, \"KinesisFirehoseInputDescription\"",
    );
    std::fs::write(d.join("describe.json"), text).unwrap();
    let out = sluice()
        .arg("run")
        .arg("--kda-config")
        .arg(d.join("describe.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Sluice cannot run these parts of it"), "{err}");
    assert!(err.contains("RecordEncoding UTF-16"), "{err}");
    assert!(
        err.contains("a preprocessing Lambda on a Firehose input"),
        "{err}"
    );
}

/// `sluice translate --to flink` over every golden app case (not the
/// expected-error ones): each either translates or is refused with
/// located reasons, nothing panics; prints how many translate.
#[test]
fn translate_to_flink_translates_or_refuses_every_golden_case() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("app.sql").is_file())
        .collect();
    dirs.sort();
    let (mut total, mut translated) = (0, 0);
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for dir in dirs {
        let toml = std::fs::read_to_string(dir.join("case.toml")).unwrap_or_default();
        if toml.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("error") && l.contains('=')
        }) {
            continue;
        }
        total += 1;
        let out = sluice()
            .args(["translate", "--to", "flink", "--case"])
            .arg(&dir)
            .args(["--source-dir", "/src", "--sink-dir", "/sink"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {
                assert!(
                    stdout.contains("EXECUTE STATEMENT SET"),
                    "{dir:?}: {stdout}"
                );
                translated += 1;
            }
            Some(1) => {
                let located: Vec<&str> = stderr
                    .lines()
                    .skip(1)
                    .map(str::trim)
                    .filter(|l| {
                        l.strip_prefix("line ").is_some_and(|r| {
                            r.split(':')
                                .next()
                                .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))
                        }) || l.starts_with("configuration: ")
                    })
                    .collect();
                assert!(!located.is_empty(), "{dir:?}: no located refusal: {stderr}");
                for l in located {
                    let construct = l.split(": ").nth(1).unwrap_or(l);
                    *reasons.entry(construct.to_string()).or_default() += 1;
                }
            }
            other => panic!("{dir:?}: exit {other:?}: {stderr}"),
        }
    }
    for (r, n) in &reasons {
        eprintln!("{n:4} {r}");
    }
    eprintln!("translate --to flink: {translated} of {total} golden app cases translate");
    assert!(total > 100, "{total}");
    assert!(translated >= 75, "{translated} of {total}");
}
