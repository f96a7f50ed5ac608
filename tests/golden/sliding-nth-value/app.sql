-- NTH_VALUE: the n-th value from the window's first (default) or last
-- row, skipping NULLs with IGNORE NULLS; NULL when there are fewer.
--
-- Expected rows, by hand (X: 1, NULL, 3, 4, 5; a window of the row and
-- the 3 before it):
--   window          FIRST 2nd  LAST 2nd  IGNORE NULLS 2nd
--   1               NULL       NULL      NULL
--   1 NULL          NULL       1         NULL
--   1 NULL 3        NULL       NULL      3
--   1 NULL 3 4      NULL       3         3
--   NULL 3 4 5      3          4         4
CREATE OR REPLACE STREAM "NTH" (X INTEGER, SECOND_FIRST INTEGER, SECOND_LAST INTEGER, SECOND_NON_NULL INTEGER);
CREATE OR REPLACE PUMP "NTH_PUMP" AS INSERT INTO "NTH"
  SELECT STREAM X,
    NTH_VALUE(X, 2) OVER W,
    NTH_VALUE(X, 2) FROM LAST OVER W,
    NTH_VALUE(X, 2) IGNORE NULLS OVER W
  FROM "SOURCE_SQL_STREAM_001"
  WINDOW W AS (ROWS 3 PRECEDING);
