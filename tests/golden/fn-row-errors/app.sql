-- a bad value in one row (a negative SUBSTRING length, an impossible date, a
-- backreference in a pattern, REGEX_REPLACE from position 0, MOD by zero)
-- sends that row to error_stream; the other rows go on
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
  ID INTEGER, SUB VARCHAR(16), TS TIMESTAMP, R VARCHAR(32), M INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM id,
    SUBSTRING(s FROM 2 FOR n),
    CHAR_TO_TIMESTAMP('yyyy-MM-dd HH:mm:ss', t),
    REGEX_REPLACE(s, pat, 'X', n, 0),
    MOD(10, n - 3)
  FROM "SOURCE_SQL_STREAM_001";
