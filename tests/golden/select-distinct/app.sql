-- SELECT STREAM DISTINCT, bounded by ROWTIME as KDA bounds it.
--
-- FIRST_SEEN: the minute (STEP of ROWTIME, a ROWTIME-monotonic item) is
-- part of each row, so a ticker passes the first time it is seen in a
-- minute, at its own ROWTIME; 10:00:09 A and 10:00:30 B repeat 10:00:01 A
-- and 10:00:05 B, 10:00:20 A (another price, but PRICE is not selected)
-- repeats 10:00:01 A, and 10:01:02 A repeats 10:01:01 A.
--
-- PRICES: with GROUP BY, the rows of a window come out together at its end
-- (ROWTIME = the end) and DISTINCT drops the repeats among them: minute
-- 10:00 has groups (A,1.0), (B,2.0), (A,1.5), (C,3.0) whose selected
-- TICKER values are A, B, A, C: A once, B, C. Minute 10:01: A, B.
-- Minute 10:02: A.
CREATE OR REPLACE STREAM "FIRST_SEEN" (MINUTE_START TIMESTAMP, TICKER VARCHAR(4));
CREATE OR REPLACE STREAM "PRICES" (TICKER VARCHAR(4));

CREATE OR REPLACE PUMP "FIRST_PUMP" AS INSERT INTO "FIRST_SEEN"
  SELECT STREAM DISTINCT STEP(s.ROWTIME BY INTERVAL '1' MINUTE), s.TICKER
  FROM "SOURCE_SQL_STREAM_001" AS s;

CREATE OR REPLACE PUMP "PRICES_PUMP" AS INSERT INTO "PRICES"
  SELECT STREAM DISTINCT TICKER
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY TICKER, PRICE, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
