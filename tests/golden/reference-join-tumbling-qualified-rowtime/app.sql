-- A tumbling window over a stream-to-table LEFT JOIN, the window written
-- with the stream's alias (STEP(logs.ROWTIME ...)) as real apps write it.
-- A joined row's ROWTIME is its stream row's, so logs.ROWTIME is the
-- window's ROWTIME. Rows per (application, 1-minute window); a host the
-- table lacks joins to a NULL application.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (APPLICATION VARCHAR(16), REQUESTS INTEGER, ERRORS INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM hosts.APPLICATION, COUNT(*), SUM(CASE WHEN logs.STATUS >= 500 THEN 1 ELSE 0 END)
  FROM "SOURCE_SQL_STREAM_001" AS logs
  LEFT JOIN "HOSTS" AS hosts ON logs.HOST = hosts.HOST
  GROUP BY hosts.APPLICATION, STEP(logs.ROWTIME BY INTERVAL '1' MINUTE);
