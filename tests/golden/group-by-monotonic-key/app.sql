-- KDA's streaming GROUP BY needs one monotonic key; ROWTIME windows are the
-- usual one, and a subquery column that copies ROWTIME (or that the app
-- declares with MONOTONIC) is another. Such a group is complete when a
-- row of a later group arrives: it leaves then, at that row's ROWTIME.
-- (The last group waits for a later row, so it does not come out here.)
--
-- UNIQUE: the exact-count query of the COUNT_DISTINCT_ITEMS_TUMBLING page.
-- The subquery drops exact repeats (the two 10:00:01 A 10.0 rows are one:
-- same ROWTIME, ticker and price); the outer query groups by ticker and
-- 5-second STEPs of the ROWTIME copy. Expected, by hand: 10:00:00-05 holds
-- A 10.0, B 5.0, A 11.0 and leaves when 10:00:06 arrives: A 2, B 1.
-- 10:00:05-10 holds A 10.0 (06) and B 6.0 (08), leaving at 10:00:12: A 1,
-- B 1.
-- PER_MINUTE: MONOTONIC(FLOOR(EVENT_TIME TO MINUTE)) in a subquery, the
-- outer query grouping by it. Event times run 10 s behind arrival: six
-- rows (both 10:00:01 ones too: no DISTINCT here) have minute 09:59; the
-- 10:00:12 row starts minute 10:00, so 09:59 leaves at 10:00:12 with 6.
CREATE OR REPLACE STREAM "UNIQUE" (TICKER_SYMBOL VARCHAR(4), UNIQUE_COUNT BIGINT);
CREATE OR REPLACE STREAM "PER_MINUTE" (EVENT_MINUTE TIMESTAMP, N BIGINT);

CREATE OR REPLACE PUMP "UNIQUE_PUMP" AS
INSERT INTO "UNIQUE"
SELECT STREAM TICKER_SYMBOL, COUNT(distinct_stream.price) AS unique_count
  FROM (
    SELECT STREAM DISTINCT rowtime as window_time,
      TICKER_SYMBOL,
      PRICE,
      STEP((SOURCE_SQL_STREAM_001.rowtime) BY INTERVAL '5' SECOND)
      FROM SOURCE_SQL_STREAM_001) as distinct_stream
  GROUP BY TICKER_SYMBOL, STEP((distinct_stream.window_time) BY INTERVAL '5' SECOND);

CREATE OR REPLACE PUMP "MINUTE_PUMP" AS
INSERT INTO "PER_MINUTE"
SELECT STREAM w.minute, COUNT(*)
  FROM (SELECT STREAM MONOTONIC(FLOOR(EVENT_TIME TO MINUTE)) AS minute, TICKER_SYMBOL
        FROM SOURCE_SQL_STREAM_001) AS w
  GROUP BY w.minute;
