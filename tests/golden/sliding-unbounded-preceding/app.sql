-- An unbounded window: every row of the partition so far, however old
-- (a public inventory app's cumulative quantity per item).
--
-- Expected rows, by hand (A: 5, 2, -4, 1; B: 3, 10):
-- CUMULATIVE (SUM, COUNT per SKU): A 5/1, B 3/1, A 7/2, B 13/2, A 3/3,
--   and A 4/4 more than an hour later: nothing ever leaves the window.
-- OVERALL (ROWS UNBOUNDED PRECEDING, no partition: MIN, MAX, AVG of all
--   rows; AVG of integers is an integer, truncated): 5 5 5, 3 5 4,
--   2 5 3, 2 10 5, -4 10 3, -4 10 2 (17 / 6 = 2.83 → 2).
CREATE OR REPLACE STREAM "CUMULATIVE" (SKU VARCHAR(4), TOTAL INTEGER, N BIGINT);
CREATE OR REPLACE STREAM "OVERALL" (LO INTEGER, HI INTEGER, MEAN INTEGER);

CREATE OR REPLACE PUMP "CUMULATIVE_PUMP" AS INSERT INTO "CUMULATIVE"
  SELECT STREAM SKU,
    SUM(QTY) OVER (PARTITION BY SKU RANGE UNBOUNDED PRECEDING),
    COUNT(*) OVER (PARTITION BY SKU RANGE UNBOUNDED PRECEDING)
  FROM "SOURCE_SQL_STREAM_001";

CREATE OR REPLACE PUMP "OVERALL_PUMP" AS INSERT INTO "OVERALL"
  SELECT STREAM MIN(QTY) OVER W, MAX(QTY) OVER W, AVG(QTY) OVER W
  FROM "SOURCE_SQL_STREAM_001"
  WINDOW W AS (ROWS UNBOUNDED PRECEDING);
