-- \d is the letter d in a Fast Regex, not Java's digit class: a pattern
-- written with Java's classes would match nothing, so it is refused when the
-- app is planned, naming the character and the way to write it.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (V VARCHAR(16));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM T.R.COLUMN1 FROM
    (SELECT STREAM FAST_REGEX_LOG_PARSE(s, '(\d+) (.*)') AS R FROM "SOURCE_SQL_STREAM_001") AS T;
