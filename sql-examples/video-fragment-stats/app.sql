-- Video health per Kinesis video stream, from the fragments PutMedia took:
-- run it with `sluice serve --apps sql-examples` and send video with
-- `sluice video put` or any KVS producer; each fragment is a row of the
-- VIDEO_FRAGMENTS columns, ROWTIME being the fragment's server time.
--
-- Per stream and minute: fragments, frame rate and bit rate over the media
-- received, gaps between fragments and rejected fragments; and an alert
-- row at once for every rejected fragment or gap over a second.
CREATE OR REPLACE STREAM "VIDEO_HEALTH" (
    stream_name        VARCHAR(256),
    fragments          BIGINT,
    frames_per_second  DOUBLE,
    mbit_per_second    DOUBLE,
    gaps               BIGINT,
    max_gap_ms         BIGINT,
    rejected           BIGINT,
    max_latency_ms     BIGINT);

CREATE OR REPLACE PUMP "HEALTH_PUMP" AS
  INSERT INTO "VIDEO_HEALTH"
    SELECT STREAM STREAM_NAME,
           COUNT(FRAGMENT_NUMBER),
           SUM(CASE WHEN ACK_STATUS <> 'ERROR' THEN FRAME_COUNT END) * 1000.0
             / NULLIF(SUM(CASE WHEN ACK_STATUS <> 'ERROR' THEN DURATION_MS END), 0),
           SUM(CASE WHEN ACK_STATUS <> 'ERROR' THEN SIZE_BYTES END) * 8 / 1000.0
             / NULLIF(SUM(CASE WHEN ACK_STATUS <> 'ERROR' THEN DURATION_MS END), 0),
           SUM(CASE WHEN GAP_MS > 1000 THEN 1 ELSE 0 END),
           MAX(GAP_MS),
           SUM(CASE WHEN ACK_STATUS = 'ERROR' THEN 1 ELSE 0 END),
           MAX(INGEST_LATENCY_MS)
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY STREAM_NAME,
             STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);

CREATE OR REPLACE STREAM "VIDEO_ALERTS" (
    stream_name     VARCHAR(256),
    producer_ts     TIMESTAMP,
    alert           VARCHAR(32),
    gap_ms          BIGINT,
    error_id        INTEGER);

CREATE OR REPLACE PUMP "ALERT_PUMP" AS
  INSERT INTO "VIDEO_ALERTS"
    SELECT STREAM STREAM_NAME, PRODUCER_TS,
           CASE WHEN ACK_STATUS = 'ERROR' THEN 'REJECTED' ELSE 'GAP' END,
           GAP_MS, ERROR_ID
    FROM "SOURCE_SQL_STREAM_001"
    WHERE ACK_STATUS = 'ERROR' OR GAP_MS > 1000;
