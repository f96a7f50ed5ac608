-- The epoch-period idiom real KDA apps group by:
--   FLOOR((ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND)
-- is the number of whole 10-second periods since the epoch (the SQL
-- Reference's "Date, Timestamp, and Interval Operators": (datetime -
-- datetime) <qualifier> is an interval, interval / numeric an interval,
-- FLOOR(interval TO SECOND) whole seconds), so grouping by it is a
-- 10-second tumbling window aligned on the epoch, as STEP(ROWTIME BY
-- INTERVAL '10' SECOND) is (the STEP page defines STEP with this same
-- arithmetic). Rows come out when the period ends, ROWTIME = its end, and
-- TIMESTAMP '1970-01-01 00:00:00' + 10 * FLOOR(...) is its start.
-- The second pump is the MINUTE form: 5-minute periods.
CREATE OR REPLACE STREAM "TEN_SECONDS" (PERIOD_START TIMESTAMP, TICKER VARCHAR(4), N INTEGER, TOTAL INTEGER);
CREATE OR REPLACE STREAM "FIVE_MINUTES" (PERIOD_START TIMESTAMP, N INTEGER, TOTAL INTEGER);
CREATE OR REPLACE PUMP "TEN_SECOND_PUMP" AS INSERT INTO "TEN_SECONDS"
  SELECT STREAM
      TIMESTAMP '1970-01-01 00:00:00' + 10 * FLOOR((s.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND),
      ticker, COUNT(*), SUM(qty)
  FROM "SOURCE_SQL_STREAM_001" AS s
  GROUP BY ticker, FLOOR((s.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND);
CREATE OR REPLACE PUMP "FIVE_MINUTE_PUMP" AS INSERT INTO "FIVE_MINUTES"
  SELECT STREAM
      TIMESTAMP '1970-01-01 00:00:00' + 5 * FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') MINUTE / 5 TO MINUTE),
      COUNT(*), SUM(qty)
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') MINUTE / 5 TO MINUTE);
-- Datetime minus interval: the time since the start of the row's hour
-- ((ROWTIME - epoch) HOUR keeps whole hours only).
CREATE OR REPLACE STREAM "INTO_THE_HOUR" (T TIMESTAMP, QTY INTEGER);
CREATE OR REPLACE PUMP "INTO_THE_HOUR_PUMP" AS INSERT INTO "INTO_THE_HOUR"
  SELECT STREAM ROWTIME - (ROWTIME - TIMESTAMP '1970-01-01 00:00:00') HOUR, qty
  FROM "SOURCE_SQL_STREAM_001"
  WHERE qty IN (2, 4);
