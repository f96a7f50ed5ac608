-- The Developer Guide's TOP_K_ITEMS_TUMBLING example (K = 3 here) and a
-- COUNT_DISTINCT_ITEMS_TUMBLING app shaped like a public IoT solution's
-- (a non-STREAM outer SELECT adding constant columns to the function's).
--
-- Expected rows, counted by hand from input.jsonl (NULL tickers are not
-- items; each window's rows come out at its end, ROWTIME = the end):
-- 10:00:00-10:01:00: AMZN 4, MSFT 3, INTC 3, AAPL 2, TBV 1 (MSFT before
--   INTC: same count, seen first); 5 distinct.
-- 10:01:00-10:02:00: TBV 2, AAPL 1 (fewer than K items); 2 distinct.
-- 10:03:00-10:04:00: AAPL 1; 1 distinct (closed when the input ends).
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
  "TICKER"               VARCHAR(4),
  "MOST_FREQUENT_VALUES" BIGINT);
CREATE OR REPLACE STREAM "DISTINCT_TICKERS" (
  "METRIC"    VARCHAR(16),
  "UNIT"      VARCHAR(8),
  "TICKERS"   BIGINT);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
    INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM *
        FROM TABLE (TOP_K_ITEMS_TUMBLING(
            CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"),
            'TICKER',         -- name of column in single quotes
            3,                -- number of the most frequently occurring values
            60                -- tumbling window size in seconds
            )
        );

CREATE OR REPLACE PUMP "DISTINCT_PUMP" AS
    INSERT INTO "DISTINCT_TICKERS"
    SELECT 'DistinctTickers', 'Count', * FROM (
        SELECT STREAM * FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
            CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"),
            'ticker',
            60)));
