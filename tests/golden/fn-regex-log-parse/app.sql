-- The Developer Guide's REGEX_LOG_PARSE example: the function's ROW is
-- named REC in a subquery and the enclosing query selects its fields.
--
-- Expected rows, by hand (the pattern must match the whole entry; groups
-- are greedy and backtrack as in Java):
-- "Mary 1234 had lamb": COLUMN1 "Mary" (the only space before a digit),
--   COLUMN2 "1234" (longer values leave no room for the two words after).
-- "nothing to see": no digit after a space, no match: NULL, NULL.
-- "203.0.113.7 200 GET index.html": "203.0.113.7", "200".
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (logentry VARCHAR(32), match1 VARCHAR(24), match2 VARCHAR(24));

CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM T.LOGENTRY, T.REC.COLUMN1, T.REC.COLUMN2
    FROM
         (SELECT STREAM LOGENTRY,
             REGEX_LOG_PARSE(LOGENTRY, '(\w.+) (\d.+) (\w.+) (\w.+)') AS REC
             FROM SOURCE_SQL_STREAM_001) AS T;
