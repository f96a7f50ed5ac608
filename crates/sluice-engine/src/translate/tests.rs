//! The translation's rules, each on a small app: the exact Flink SQL of a
//! filter pump (the whole test-form script), a tumbling window, a sliding
//! window, a stream join, and the refusals of what Flink cannot express.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use super::{Connectors, Refusal, to_flink};
use crate::config::AppConfig;
use crate::io::input::Input;
use crate::plan::{AppPlan, SourceDecl};

const INPUT: &str = r#"
[[input]]
stream = "SOURCE_SQL_STREAM_001"
format = "json"
columns = [
  { name = "TICKER", type = "VARCHAR(4)", mapping = "$.ticker" },
  { name = "PRICE", type = "DOUBLE", mapping = "$.price" },
  { name = "QTY", type = "INTEGER", mapping = "$.trade.qty" },
]
"#;

fn files(sinks: &[&str]) -> Connectors {
    Connectors::Files {
        source_dir: "/src".into(),
        sink_dir: "/sink".into(),
        sinks: sinks.iter().map(|s| s.to_string()).collect(),
        expects_error_rows: false,
    }
}

/// The source streams `config`'s inputs declare.
fn sources(config: &AppConfig) -> Vec<SourceDecl> {
    config
        .inputs()
        .unwrap()
        .iter()
        .map(Input::source_decl)
        .collect()
}

fn translate(sql: &str, sinks: &[&str]) -> Result<String, Vec<Refusal>> {
    let config = AppConfig::parse(INPUT, "case.toml").unwrap();
    let plan = AppPlan::new(sql, &sources(&config)).unwrap();
    to_flink(&plan, &config, &files(sinks))
        .map(|s| s.text)
        .map_err(|r| r.0)
}

/// The statement of `script` that starts with `start`.
fn statement<'a>(script: &'a str, start: &str) -> &'a str {
    let at = script.find(start).unwrap();
    let end = script[at..].find(";\n").unwrap();
    &script[at..at + end + 1]
}

#[test]
fn a_filter_pump_is_a_view_and_a_sink_in_the_test_form() {
    let sql = r#"
CREATE OR REPLACE STREAM "DEST" (TICKER VARCHAR(4), PRICE DOUBLE);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001" WHERE price > 100 AND ticker <> 'X';
"#;
    let script = translate(sql, &["DEST"]).unwrap();
    assert_eq!(
        script,
        "-- Flink SQL (1.20 / 2.x) translated by sluice from a Kinesis Data Analytics SQL application.
SET 'table.local-time-zone' = 'UTC';
SET 'execution.runtime-mode' = 'streaming';
SET 'parallelism.default' = '1';
SET 'execution.checkpointing.interval' = '1 s';

CREATE TABLE `SOURCE_SQL_STREAM_001$records` (
  `ticker` STRING,
  `price` DOUBLE,
  `trade` ROW<`qty` INT>,
  `_arrival_ms` BIGINT,
  `ROWTIME` AS CAST(TO_TIMESTAMP_LTZ(`_arrival_ms`, 3) AS TIMESTAMP(3)),
  `APPROXIMATE_ARRIVAL_TIME$` AS CAST(TO_TIMESTAMP_LTZ(`_arrival_ms`, 3) AS TIMESTAMP(3)),
  WATERMARK FOR `ROWTIME` AS `ROWTIME` - INTERVAL '0.001' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '/src/SOURCE_SQL_STREAM_001.jsonl',
  'format' = 'json',
  'json.ignore-parse-errors' = 'false'
);

CREATE TEMPORARY VIEW `SOURCE_SQL_STREAM_001` AS
SELECT `ROWTIME`, `APPROXIMATE_ARRIVAL_TIME$` AS `APPROXIMATE_ARRIVAL_TIME`, CAST(`ticker` AS VARCHAR(4)) AS `TICKER`, `price` AS `PRICE`, `trade`.`qty` AS `QTY` FROM `SOURCE_SQL_STREAM_001$records`;

CREATE TEMPORARY VIEW `DEST` AS
SELECT `ROWTIME` AS `ROWTIME`, CAST(`TICKER` AS VARCHAR(4)) AS `TICKER`, `PRICE` AS `PRICE` FROM `SOURCE_SQL_STREAM_001` WHERE ((`PRICE` > 100.0E0) AND (`TICKER` <> 'X'));

CREATE TABLE `SINK_DEST` (
  `ROWTIME` TIMESTAMP(3),
  `TICKER` VARCHAR(4),
  `PRICE` DOUBLE
) WITH ('connector' = 'filesystem', 'path' = '/sink/DEST', 'format' = 'json');

EXECUTE STATEMENT SET
BEGIN
INSERT INTO `SINK_DEST` SELECT CAST(`ROWTIME` AS TIMESTAMP(3)), `TICKER`, `PRICE` FROM `DEST`;
END;
"
    );
}

#[test]
fn a_tumbling_window_is_the_tumble_tvf_with_kda_rowtime_at_its_end() {
    let sql = r#"
CREATE OR REPLACE STREAM "PER_MINUTE" (TICKER VARCHAR(4), N BIGINT, TOTAL BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "PER_MINUTE"
  SELECT STREAM ticker, COUNT(*), SUM(qty) FROM "SOURCE_SQL_STREAM_001"
  GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
CREATE OR REPLACE STREAM "PER_HOUR" (N BIGINT);
CREATE OR REPLACE PUMP "Q" AS INSERT INTO "PER_HOUR"
  SELECT STREAM SUM(n) FROM "PER_MINUTE" GROUP BY FLOOR("PER_MINUTE".ROWTIME TO HOUR);
"#;
    let script = translate(sql, &["PER_HOUR", "PER_MINUTE"]).unwrap();
    assert_eq!(
        statement(&script, "CREATE TEMPORARY VIEW `PER_MINUTE`"),
        "CREATE TEMPORARY VIEW `PER_MINUTE` AS
SELECT `__window_time` AS `ROWTIME`, CAST(`__g0` AS VARCHAR(4)) AS `TICKER`, `__a0` AS `N`, `__a1` AS `TOTAL` FROM (SELECT window_time AS `__window_time`, window_end AS `__rowtime`, window_start AS `__w`, `TICKER` AS `__g0`, COUNT(CAST(1 AS BIGINT)) AS `__a0`, SUM(CAST(`QTY` AS BIGINT)) AS `__a1` FROM TABLE(TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`ROWTIME`), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, window_time, `TICKER`);"
    );
    // window_time is the end less 1 ms: the next window is offset by it,
    // and the sinks add it back.
    assert!(
        statement(&script, "CREATE TEMPORARY VIEW `PER_HOUR`").contains(
            "TABLE(TUMBLE(TABLE `PER_MINUTE`, DESCRIPTOR(`ROWTIME`), INTERVAL '1' HOUR, INTERVAL '-0.001' SECOND))"
        ),
        "{script}"
    );
    assert!(script.contains(
        "INSERT INTO `SINK_PER_MINUTE` SELECT CAST((`ROWTIME` + INTERVAL '0.001' SECOND) AS TIMESTAMP(3)), `TICKER`, `N`, `TOTAL` FROM `PER_MINUTE`;"
    ));
    assert!(script.contains(
        "INSERT INTO `SINK_PER_HOUR` SELECT CAST((`ROWTIME` + INTERVAL '0.002' SECOND) AS TIMESTAMP(3)), `N` FROM `PER_HOUR`;"
    ));
}

#[test]
fn a_sliding_window_is_an_over_aggregation_ordered_by_rowtime() {
    let sql = r#"
CREATE OR REPLACE STREAM "MOVING" (TICKER VARCHAR(4), N BIGINT, AVG_PRICE DOUBLE);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "MOVING"
  SELECT STREAM ticker, COUNT(*) OVER w, AVG(price) OVER w FROM "SOURCE_SQL_STREAM_001"
  WINDOW w AS (PARTITION BY ticker RANGE INTERVAL '10' SECOND PRECEDING);
"#;
    let script = translate(sql, &["MOVING"]).unwrap();
    assert_eq!(
        statement(&script, "CREATE TEMPORARY VIEW `MOVING`"),
        "CREATE TEMPORARY VIEW `MOVING` AS
SELECT `ROWTIME` AS `ROWTIME`, CAST(`TICKER` AS VARCHAR(4)) AS `TICKER`, `__a0` AS `N`, `__a1` AS `AVG_PRICE` FROM (SELECT *, CAST(COUNT(*) OVER w AS BIGINT) AS `__a0`, CAST(AVG(`PRICE`) OVER w AS DOUBLE) AS `__a1` FROM `SOURCE_SQL_STREAM_001` WINDOW w AS (PARTITION BY `TICKER` ORDER BY `ROWTIME` RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW));"
    );
    // Rows sharing a ROWTIME: a known difference, said in the script.
    assert!(
        script.contains("-- note: pump \"P\" (line 3): window W: rows that share one ROWTIME"),
        "{script}"
    );
}

#[test]
fn a_stream_join_is_an_interval_join_on_both_windows() {
    let sql = r#"
CREATE OR REPLACE STREAM "A" (TICKER VARCHAR(4), QTY INTEGER);
CREATE OR REPLACE PUMP "PA" AS INSERT INTO "A"
  SELECT STREAM ticker, qty FROM "SOURCE_SQL_STREAM_001" WHERE qty > 0;
CREATE OR REPLACE STREAM "B" (TICKER VARCHAR(4), QTY INTEGER);
CREATE OR REPLACE PUMP "PB" AS INSERT INTO "B"
  SELECT STREAM ticker, qty FROM "SOURCE_SQL_STREAM_001" WHERE qty < 0;
CREATE OR REPLACE STREAM "PAIRS" (TICKER VARCHAR(4), A_QTY INTEGER, B_QTY INTEGER);
CREATE OR REPLACE PUMP "J" AS INSERT INTO "PAIRS"
  SELECT STREAM a.ticker, a.qty, b.qty
  FROM "A" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS a
  JOIN "B" OVER (RANGE INTERVAL '10' SECOND PRECEDING) AS b ON a.ticker = b.ticker;
"#;
    let script = translate(sql, &["PAIRS"]).unwrap();
    let view = statement(&script, "CREATE TEMPORARY VIEW `J$joined`");
    assert!(
        view.ends_with(
            "FROM `A` AS l JOIN `B` AS r ON l.`TICKER` = r.`TICKER` AND r.`ROWTIME` >= l.`ROWTIME` - INTERVAL '10' SECOND AND r.`ROWTIME` <= l.`ROWTIME` + INTERVAL '1' MINUTE;"
        ),
        "{view}"
    );
    assert!(view.contains("GREATEST(CAST(l.`ROWTIME` AS TIMESTAMP(3)), CAST(r.`ROWTIME` AS TIMESTAMP(3))) AS `ROWTIME`"));
}

#[test]
fn every_refusal_is_listed_with_its_line() {
    let sql = r#"CREATE OR REPLACE STREAM "S1" (TICKER VARCHAR(4), N BIGINT);
CREATE OR REPLACE PUMP "STAGGERED" AS INSERT INTO "S1"
  SELECT STREAM ticker, COUNT(*) FROM "SOURCE_SQL_STREAM_001"
  WINDOWED BY STAGGER (PARTITION BY ticker RANGE INTERVAL '1' MINUTE);
CREATE OR REPLACE STREAM "S2" (TICKER VARCHAR(4), PRICE DOUBLE);
CREATE OR REPLACE PUMP "SORTED" AS INSERT INTO "S2"
  SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001" ORDER BY ROWTIME, price DESC;
CREATE OR REPLACE STREAM "S3" (TICKER VARCHAR(4));
CREATE OR REPLACE PUMP "FINE" AS INSERT INTO "S3"
  SELECT STREAM ticker FROM "SOURCE_SQL_STREAM_001";
"#;
    let refusals = translate(sql, &["S1", "S2", "S3"]).unwrap_err();
    let lines: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    assert_eq!(refusals.len(), 2, "{lines:?}");
    assert_eq!(refusals[0].location.line, 2);
    assert!(
        lines[0].starts_with("line 2: stagger window (WINDOWED BY STAGGER): "),
        "{lines:?}"
    );
    assert_eq!(refusals[1].location.line, 6);
    assert!(
        lines[1].starts_with("line 6: ORDER BY on a stream: "),
        "{lines:?}"
    );
}

#[test]
fn a_left_outer_reference_join_is_a_temporal_join_on_a_versioned_copy() {
    let toml = format!(
        "{INPUT}
[[reference]]
table = \"COMPANIES\"
file = \"companies.json\"
format = \"json\"
columns = [
  {{ name = \"TICKER\", type = \"VARCHAR(4)\", mapping = \"$.ticker\" }},
  {{ name = \"COMPANY\", type = \"VARCHAR(32)\", mapping = \"$.name\" }},
]
"
    );
    let config = AppConfig::parse(&toml, "case.toml").unwrap();
    let tables = [crate::plan::TableDecl::reference(
        "COMPANIES",
        vec![
            crate::plan::StreamColumn::new("TICKER", crate::types::SqlType::Varchar(4)),
            crate::plan::StreamColumn::new("COMPANY", crate::types::SqlType::Varchar(32)),
        ],
    )];
    let sql = r#"
CREATE OR REPLACE STREAM "DEST" (TICKER VARCHAR(4), COMPANY VARCHAR(32));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
  SELECT STREAM s.TICKER, c.COMPANY
  FROM "SOURCE_SQL_STREAM_001" AS s LEFT OUTER JOIN "COMPANIES" AS c ON s.TICKER = c.TICKER;
"#;
    let plan = AppPlan::with_tables(sql, &sources(&config), &tables).unwrap();
    let script = to_flink(&plan, &config, &files(&["DEST"])).unwrap().text;
    assert_eq!(
        statement(&script, "CREATE TABLE `COMPANIES$P`"),
        "CREATE TABLE `COMPANIES$P` (
  `ticker` VARCHAR(4),
  `name` VARCHAR(32),
  `__valid_from` AS CAST(TIMESTAMP '1970-01-01 00:00:00' AS TIMESTAMP(3)),
  WATERMARK FOR `__valid_from` AS `__valid_from`,
  PRIMARY KEY (`ticker`) NOT ENFORCED
) WITH (
  'connector' = 'filesystem',
  'path' = '/src/COMPANIES.json',
  'format' = 'json'
);"
    );
    let view = statement(&script, "CREATE TEMPORARY VIEW `P$joined`");
    assert!(
        view.starts_with("CREATE TEMPORARY VIEW `P$joined` AS\nSELECT l.`ROWTIME` AS `ROWTIME`,"),
        "{view}"
    );
    assert!(
        view.ends_with(
            "FROM `SOURCE_SQL_STREAM_001` AS l LEFT JOIN `COMPANIES$P` FOR SYSTEM_TIME AS OF l.`ROWTIME` AS r ON l.`TICKER` = r.`ticker`;"
        ),
        "{view}"
    );
}
