-- EXP_AVG in a tumbling window: per ticker and minute, half-life 20 s.
--
-- Expected rows, by hand (a value's weight is 1/2 per whole 20 s between
-- its ROWTIME and the latest ROWTIME of its group, the NULL row included):
-- 10:00 window, A: 10 @0 s, 20 @15 s, 40 @45 s, NULL @50 s; latest 50 s:
--   ages 50, 35, 5 s → weights 1/4, 1/2, 1:
--   (2.5 + 10 + 40) / 1.75 = 30.0; 4 rows.
-- 10:00 window, B: 100 @30 s alone → 100.0; 1 row.
-- 10:01 window, A: 5 @70 s alone → 5.0; 1 row (closed by B's 10:02:05 row).
-- 10:02 window, B: 1 → 1.0, emitted when the input ends.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), EA DOUBLE, N INTEGER);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM TICKER, EXP_AVG(PRICE, INTERVAL '20' SECOND), COUNT(*)
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY TICKER, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
