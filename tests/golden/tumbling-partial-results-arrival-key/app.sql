-- The Developer Guide's partial-results pattern: a GROUP BY with a ROWTIME
-- window and a window on APPROXIMATE_ARRIVAL_TIME. The ROWTIME window is
-- the tumbling window (rows come out at its end); the other is one more
-- grouping key, so late-arriving rows of an earlier arrival minute make
-- their own row. With the `kds` envelope both times are the record's
-- ApproximateArrivalTimestamp, so here each row's two keys agree.
-- The second pump does the same with the epoch-period idiom, selecting the
-- arrival period's start (an interval key in arithmetic).
CREATE OR REPLACE STREAM "PER_MINUTE" (INGEST_TIME TIMESTAMP, ARRIVAL_MINUTE TIMESTAMP, TICKER VARCHAR(4), N INTEGER);
CREATE OR REPLACE STREAM "PER_TEN_SECONDS" (ARRIVAL_PERIOD TIMESTAMP, N INTEGER);
CREATE OR REPLACE PUMP "MINUTE_PUMP" AS INSERT INTO "PER_MINUTE"
  SELECT STREAM STEP(s.ROWTIME BY INTERVAL '60' SECOND) AS ingest_time,
         STEP(s.APPROXIMATE_ARRIVAL_TIME BY INTERVAL '60' SECOND) AS arrival_minute,
         ticker, COUNT(*)
  FROM "SOURCE_SQL_STREAM_001" AS s
  GROUP BY ticker,
           STEP(s.ROWTIME BY INTERVAL '60' SECOND),
           STEP(s.APPROXIMATE_ARRIVAL_TIME BY INTERVAL '60' SECOND);
CREATE OR REPLACE PUMP "TEN_SECOND_PUMP" AS INSERT INTO "PER_TEN_SECONDS"
  SELECT STREAM
      TIMESTAMP '1970-01-01 00:00:00' + 10 * FLOOR((s.APPROXIMATE_ARRIVAL_TIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND) AS arrival_period,
      COUNT(*)
  FROM "SOURCE_SQL_STREAM_001" AS s
  GROUP BY FLOOR((s.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND),
           FLOOR((s.APPROXIMATE_ARRIVAL_TIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND);
