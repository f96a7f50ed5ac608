-- CAST of a value that does not convert sends that row to error_stream:
-- text that is not a number, a TIMESTAMP string without all six fields
-- ('yyyy-MM-dd HH:mm:ss'), text that is not TRUE/FALSE/UNKNOWN, and a
-- number too long for its VARCHAR(n) (the CAST page's DATE-to-VARCHAR(9)
-- example selects no row). The other rows go on; NULLs cast to NULL.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
  ID INTEGER, I INTEGER, TS TIMESTAMP, B BOOLEAN, V VARCHAR(3));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM id,
    CAST(s AS INTEGER),
    CAST(t AS TIMESTAMP),
    CAST(b AS BOOLEAN),
    CAST(n AS VARCHAR(3))
  FROM "SOURCE_SQL_STREAM_001";
