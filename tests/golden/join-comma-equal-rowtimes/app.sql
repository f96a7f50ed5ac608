-- A click-through rate per 10 seconds, the shape of a public clickstream
-- app: two 10-second counts, joined by a comma FROM list whose WHERE
-- equates their ROWTIMEs. `FROM a, b WHERE c` is the inner join ON c;
-- with no window on either side only each side's current row takes part
-- (KDA's JOIN clause), which the ROWTIME equality states.
--
-- Expected rows, by hand: 10:00:00-10:00:10 has 4 impressions, 1 click
-- (CTR 25.0), 10:00:10-10:00:20 2 and 1 (50.0); each count comes out at
-- its window's end, so both sides' rows share that ROWTIME and join.
-- 10:00:20-10:00:30 has 5 impressions and no click, so no CLICKSTREAM row
-- and no CTR row.
CREATE OR REPLACE STREAM "CLICKSTREAM" ("CLICKCOUNT" DOUBLE);
CREATE OR REPLACE PUMP "CLICKPUMP" AS INSERT INTO "CLICKSTREAM" ("CLICKCOUNT")
SELECT STREAM COUNT(*) FROM "SOURCE_SQL_STREAM_001"
WHERE "browseraction" = 'Click'
GROUP BY FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND);

CREATE OR REPLACE STREAM "IMPRESSIONSTREAM" ("IMPRESSIONCOUNT" DOUBLE);
CREATE OR REPLACE PUMP "IMPRESSIONPUMP" AS INSERT INTO "IMPRESSIONSTREAM" ("IMPRESSIONCOUNT")
SELECT STREAM COUNT(*) FROM "SOURCE_SQL_STREAM_001"
WHERE "browseraction" = 'Impression'
GROUP BY FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND);

CREATE OR REPLACE STREAM "CTRSTREAM" ("CTR" DOUBLE);
CREATE OR REPLACE PUMP "CTRPUMP" AS INSERT INTO "CTRSTREAM" ("CTR")
SELECT STREAM "CLICKCOUNT" / "IMPRESSIONCOUNT" * 100.000 AS "CTR"
FROM "IMPRESSIONSTREAM", "CLICKSTREAM"
WHERE "IMPRESSIONSTREAM".ROWTIME = "CLICKSTREAM".ROWTIME;
