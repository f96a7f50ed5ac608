-- A WHERE over a sliding-window subquery (no alias): the subquery emits one row
-- per input row, AVG/COUNT over that ticker's rows of the last 10 seconds (the
-- row exactly 10 s older included); the outer query keeps rows whose mean
-- moves more than 1 either way. Each kept row keeps its input row's ROWTIME.
--   10:00:00 AAA  3.0 -> AAA {3}          mean  3.0, 1 row  -> kept
--   10:00:02 BBB  0.5 -> BBB {0.5}        mean  0.5         -> dropped
--   10:00:04 AAA -2.0 -> AAA {3,-2}       mean  0.5         -> dropped
--   10:00:06 BBB  2.5 -> BBB {0.5,2.5}    mean  1.5, 2 rows -> kept
--   10:00:10 AAA -3.0 -> AAA {3,-2,-3}    mean -0.67        -> dropped
--   10:00:13 AAA -1.0 -> AAA {-2,-3,-1}   mean -2.0, 3 rows -> kept (10:00:00 left the window)
--   10:00:20 BBB  0.0 -> BBB {0}          mean  0.0         -> dropped
--   10:00:25 AAA  4.0 -> AAA {4}          mean  4.0, 1 row  -> kept
CREATE OR REPLACE STREAM "BIG_MOVES" (TICKER VARCHAR(4), MEAN_CHG DOUBLE, SEEN BIGINT);
CREATE OR REPLACE PUMP "MOVES_PUMP" AS INSERT INTO "BIG_MOVES"
  SELECT STREAM ticker, mean_chg, seen
  FROM (
      SELECT STREAM ticker,
             AVG(chg) OVER W AS mean_chg,
             COUNT(*) OVER W AS seen
      FROM "SOURCE_SQL_STREAM_001"
      WINDOW W AS (PARTITION BY ticker RANGE INTERVAL '10' SECOND PRECEDING)
  )
  WHERE ABS(mean_chg) > 1;
