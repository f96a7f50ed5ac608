-- A tumbling GROUP BY over a filtering subquery (AS big). The subquery keeps
-- orders of 10 units or more; its bare ROWTIME item is the row's ROWTIME (not a
-- column), so big.ROWTIME in the outer STEP is each kept order's arrival time.
-- Kept: 10:00:05 EU 12, 10:00:40 EU 20, 10:00:50 US 15, 10:01:30 US 11,
-- 10:01:59 EU 10 (10 >= 10); dropped: US 3, US 9, EU 1.
-- One-minute windows close when time passes their end; each row's ROWTIME is
-- the window's end:
--   [10:00, 10:01): EU 2 orders 32 units, US 1 order 15 units -> ROWTIME 10:01:00
--   [10:01, 10:02): US 1 order 11 units, EU 1 order 10 units  -> ROWTIME 10:02:00
--   [10:02, 10:03): nothing kept (EU 1 was dropped)            -> no rows
CREATE OR REPLACE STREAM "LARGE_ORDERS_PER_MINUTE" (REGION VARCHAR(8), ORDERS BIGINT, UNITS BIGINT);
CREATE OR REPLACE PUMP "TOTALS_PUMP" AS INSERT INTO "LARGE_ORDERS_PER_MINUTE"
  SELECT STREAM big.region, COUNT(*) AS orders, SUM(big.units) AS units
  FROM (
      SELECT STREAM ROWTIME, region, units
      FROM "SOURCE_SQL_STREAM_001"
      WHERE units >= 10
  ) AS big
  GROUP BY big.region, STEP(big.ROWTIME BY INTERVAL '1' MINUTE);
