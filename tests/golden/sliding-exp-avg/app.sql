-- The EXP_AVG page's example: per ticker, over 30 seconds, prices of the
-- last 10 s weigh 1, of the 10 s before 1/2, and before that 1/4.
--
-- Expected rows, by hand (A's prices 10, 20, 30, 40 at 0, 5, 15, 40 s):
-- 10:00:00 A: 10 alone: 10.0.
-- 10:00:05 A: 10 (age 5 s) and 20, both weight 1: 15.0.
-- 10:00:15 A: 10 (15 s, 1/2), 20 (10 s, 1/2), 30 (1): (5 + 10 + 30) / 2 = 22.5.
-- 10:00:20 B: 100 alone: 100.0.
-- 10:00:40 A: the window keeps rows from 10:00:10 on: 30 (25 s, 1/4) and
--   40 (1): (7.5 + 40) / 1.25 = 38.0.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), PRICE DOUBLE, AVGPRICE DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  select stream ticker, price,
    exp_avg(price, INTERVAL '10' SECOND) over w as avgPrice
  from "SOURCE_SQL_STREAM_001"
  window w as (partition by ticker range interval '30' second preceding);
