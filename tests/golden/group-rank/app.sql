-- GROUP_RANK sorting a streaming GROUP BY's results, the use the SQL
-- Reference gives it: each minute's counts share a ROWTIME (the minute's
-- end), so they form one group, ranked when time passes that ROWTIME.
--
-- Expected rows, by hand. Minute 10:00 counts A 3, B 1, C 3, D 2;
-- minute 10:01 B 2, A 1.
-- TOP3 ('desc' ranks the largest count 1; RANK(): A and C tie at 1, D is
--   3, B 4; 'asc' output, outputMax 3): A 1, C 1, D 3; then B 1, A 2.
-- ALL ('asc': B 1, D 2, A 3, C 3; 'desc' output, ties in arrival order,
--   outputMax 0 = all): A 3, C 3, D 2, B 1; then B 2, A 1.
CREATE OR REPLACE STREAM "COUNTS" (TICKER VARCHAR(4), N BIGINT);
CREATE OR REPLACE STREAM "TOP3" (TICKER VARCHAR(4), N BIGINT, "groupRank" INTEGER);
CREATE OR REPLACE STREAM "ALL_RANKED" (TICKER VARCHAR(4), N BIGINT, R INTEGER);

CREATE OR REPLACE PUMP "COUNT_PUMP" AS INSERT INTO "COUNTS"
  SELECT STREAM TICKER, COUNT(*) FROM "SOURCE_SQL_STREAM_001"
  GROUP BY TICKER, FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE);

CREATE OR REPLACE PUMP "TOP3_PUMP" AS INSERT INTO "TOP3"
  SELECT STREAM * FROM TABLE(GROUP_RANK(
    CURSOR(SELECT STREAM * FROM "COUNTS"), 'N', 'groupRank', 'desc', 'asc', 5000, 3));

CREATE OR REPLACE PUMP "ALL_PUMP" AS INSERT INTO "ALL_RANKED"
  SELECT STREAM TICKER, N, "rank" FROM TABLE(GROUP_RANK(
    CURSOR(SELECT STREAM * FROM "COUNTS"), 'N', 'rank', 'asc', 'desc', 0, 0));
