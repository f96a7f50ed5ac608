-- SYS_LOG_PARSE splits "Mon DD HH:MM:SS rest": COLUMN1 is the time as a
-- TIMESTAMP (syslog writes no year, so 1970, as Java's SimpleDateFormat
-- gives), COLUMN2 the server and message.
--
-- Expected rows, by hand: 1970-12-07 10:00:01 / "web1 sshd[42]: accepted
-- publickey"; 1970-02-28 23:59:59 / "db kernel: oom"; "garbage" does not
-- start with a syslog time: NULL, NULL.
CREATE OR REPLACE STREAM "PARSED" (LOGGED_AT TIMESTAMP, MESSAGE VARCHAR(64));
CREATE OR REPLACE PUMP "PARSE_PUMP" AS INSERT INTO "PARSED"
  SELECT STREAM t.r.COLUMN1, t.r.COLUMN2
  FROM (SELECT STREAM SYS_LOG_PARSE(ENTRY) AS r FROM "SOURCE_SQL_STREAM_001") AS t;
