-- The shape of a public anomaly demo: the RANDOM_CUT_FOREST rows listed
-- beside their source stream in a comma FROM list, with no window and no
-- condition. Without a window only each side's current row takes part
-- (KDA's JOIN clause), so rows pair up when their ROWTIMEs are equal.
--
-- Expected rows, by hand: 10:00:01 and 10:00:02 hold one row each, so each
-- pairs with itself; 10:00:03 holds two rows (c, d) on each side: 4 pairs.
-- The forest (40 samples) is still warming up (40 / 4 = 10 rows), so every
-- ANOMALY_SCORE is 0.0.
CREATE OR REPLACE STREAM "PAIRS" (RCF_NAME VARCHAR(4), SOURCE_NAME VARCHAR(4), ANOMALY_SCORE DOUBLE);
CREATE OR REPLACE PUMP "PAIR_PUMP" AS INSERT INTO "PAIRS"
  SELECT STREAM rcf.NAME, source.NAME, rcf.ANOMALY_SCORE
  FROM TABLE(RANDOM_CUT_FOREST(
         CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 10, 40, 1000, 1)) AS rcf,
       "SOURCE_SQL_STREAM_001" AS source;
