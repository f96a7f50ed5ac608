-- Anomaly detection, the shape of the KDA Developer Guide's example: every
-- reading gets an ANOMALY_SCORE from RANDOM_CUT_FOREST over the stream's
-- numeric columns (TEMPERATURE, RPM; SENSOR is text and passes through),
-- with KDA's defaults: 100 trees of 256 samples, time decay 100,000,
-- shingle size 1. The forest learns from the stream as it runs: the first
-- 64 readings score 0 (warm-up). A second pump keeps the readings that
-- score above 2.5, the most anomalous first within each minute.
CREATE OR REPLACE STREAM "SCORED_STREAM" (
    sensor        VARCHAR(16),
    temperature   DOUBLE,
    rpm           DOUBLE,
    anomaly_score DOUBLE);
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    sensor        VARCHAR(16),
    temperature   DOUBLE,
    rpm           DOUBLE,
    anomaly_score DOUBLE);

CREATE OR REPLACE PUMP "SCORE_PUMP" AS INSERT INTO "SCORED_STREAM"
    SELECT STREAM sensor, temperature, rpm, ANOMALY_SCORE
    FROM TABLE(RANDOM_CUT_FOREST(
        CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001")));

CREATE OR REPLACE PUMP "ANOMALY_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM * FROM "SCORED_STREAM"
    WHERE anomaly_score > 2.5
    ORDER BY FLOOR("SCORED_STREAM".ROWTIME TO MINUTE), anomaly_score DESC;
