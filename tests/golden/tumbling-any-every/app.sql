-- ANY (or SOME): is the condition true for at least one row of the group;
-- EVERY: for all of them. NULL conditions are ignored.
--
-- Expected rows, by hand: minute 10:00 has X 5, 12, NULL: some X > 10
-- (12), every X > 0 (5 and 12; the NULL row is ignored). Minute 10:01 has
-- 3 and -1: no X > 10; not every X > 0.
CREATE OR REPLACE STREAM "FLAGS" (ANY_BIG BOOLEAN, SOME_BIG BOOLEAN, ALL_POSITIVE BOOLEAN);
CREATE OR REPLACE PUMP "FLAGS_PUMP" AS INSERT INTO "FLAGS"
  SELECT STREAM ANY(X > 10), SOME(X > 10), EVERY(X > 0)
  FROM "SOURCE_SQL_STREAM_001"
  GROUP BY FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE);
