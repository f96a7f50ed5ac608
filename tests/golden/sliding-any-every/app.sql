-- ANY / EVERY over the row and the 2 before it.
--
-- Expected rows, by hand (X: 5, 12, NULL, 3, -1):
--   window        ANY(X > 10)  EVERY(X > 0)
--   5             FALSE        TRUE
--   5 12          TRUE         TRUE
--   5 12 NULL     TRUE         TRUE   (the NULL is ignored)
--   12 NULL 3     TRUE         TRUE
--   NULL 3 -1     FALSE        FALSE
CREATE OR REPLACE STREAM "FLAGS" (X INTEGER, ANY_BIG BOOLEAN, ALL_POSITIVE BOOLEAN);
CREATE OR REPLACE PUMP "FLAGS_PUMP" AS INSERT INTO "FLAGS"
  SELECT STREAM X, ANY(X > 10) OVER W, EVERY(X > 0) OVER W
  FROM "SOURCE_SQL_STREAM_001"
  WINDOW W AS (ROWS 2 PRECEDING);
