-- The statistics aggregates and FIRST_VALUE / LAST_VALUE per tumbling
-- window (GROUP BY), beside their sliding-window forms.
--
-- Expected row, by hand (X in arrival order: 2, 4, 4, 4, 5, 5, 7, 9; mean
-- 5, squared deviations sum to 32): VAR_POP 32/8 = 4.0, VAR_SAMP 32/7 =
-- 4.5714.., STDDEV_POP 2.0, STDDEV_SAMP sqrt(32/7) = 2.1380.., FIRST_VALUE
-- 2.0 (the first to arrive), LAST_VALUE 9.0 (the last).
CREATE OR REPLACE STREAM "STATS" (VP DOUBLE, VS DOUBLE, SP DOUBLE, SS DOUBLE, F DOUBLE, L DOUBLE);
CREATE OR REPLACE PUMP "STATS_PUMP" AS INSERT INTO "STATS"
  SELECT STREAM VAR_POP(X), VAR_SAMP(X), STDDEV_POP(X), STDDEV_SAMP(X), FIRST_VALUE(X), LAST_VALUE(X)
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE);
