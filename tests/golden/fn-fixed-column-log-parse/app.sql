-- FIXED_COLUMN_LOG_PARSE, in a subquery whose ROW the outer query takes
-- apart by field name. Positions start at 0.
--
-- Expected rows, by hand:
-- "0042 07/Dec/2026:10:00:00 disk full": CODE 42 (characters 0-3),
--   AT 2026-12-07 10:00:00 (5-24, with the pattern), MESSAGE "disk full"
--   (from 26 to the end).
-- "  17 07/Dec/2026:10:05:30 ok": CODE 17 (the blanks around a number are
--   trimmed), AT 10:05:30, MESSAGE "ok".
-- "0003": CODE 3; the line ends before AT and MESSAGE start: NULL, NULL.
CREATE OR REPLACE STREAM "PARSED" (CODE INTEGER, AT TIMESTAMP, MESSAGE VARCHAR(32));
CREATE OR REPLACE PUMP "PARSE_PUMP" AS INSERT INTO "PARSED"
  SELECT STREAM t.r.CODE, t.r.AT, t.r.MESSAGE
  FROM (SELECT STREAM FIXED_COLUMN_LOG_PARSE(LINE,
          'CODE TYPE INTEGER START 0 FOR 4, AT TYPE TIMESTAMP ''dd/MMM/yyyy:HH:mm:ss'' START 5 FOR 20, MESSAGE TYPE VARCHAR(32) START 26') AS r
        FROM "SOURCE_SQL_STREAM_001") AS t;
