-- Explicitly late rows. ROWTIME is the arrival time, so it never goes
-- back; an event's own time (EVENT_TIME) can be minutes behind it. The
-- Developer Guide's partial-results pattern groups by both: each ROWTIME
-- minute emits, at its end, one row per event minute seen in it. A late
-- event is not dropped and nothing waits for it: it adds a partial result
-- for its old event minute in the ROWTIME minute it arrives in.
--
-- Expected rows, by hand:
-- ARRIVED: every row at its arrival.
-- PER_MINUTE at 10:01:00 (arrivals 10:00): event minute 10:00, N 2, 1+2.
--   at 10:02:00 (arrivals 10:01): 10:00 again (3 and 5 came late), N 2,
--   3+5; 10:01, N 1, 4.
--   at 10:03:00 (arrivals 10:02): 10:02, N 1, 6; 09:58 (5 minutes late),
--   N 1, 7. Groups in the order first seen.
CREATE OR REPLACE STREAM "ARRIVED" (EVENT_TIME TIMESTAMP, V INTEGER);
CREATE OR REPLACE STREAM "PER_MINUTE" (EVENT_MINUTE TIMESTAMP, N BIGINT, TOTAL INTEGER);
CREATE OR REPLACE PUMP "ARRIVED_PUMP" AS INSERT INTO "ARRIVED"
  SELECT STREAM EVENT_TIME, V FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE PUMP "MINUTE_PUMP" AS INSERT INTO "PER_MINUTE"
  SELECT STREAM FLOOR(s.EVENT_TIME TO MINUTE), COUNT(*), SUM(V)
  FROM "SOURCE_SQL_STREAM_001" AS s
  GROUP BY FLOOR(s.ROWTIME TO MINUTE), FLOOR(s.EVENT_TIME TO MINUTE);
