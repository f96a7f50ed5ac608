-- FAST_REGEX_LOG_PARSE on Apache common-log lines. In a Fast Regex `"`
-- quotes text, so the quote character is written \" ; [^ ] is a run of
-- non-blanks.
--
-- Expected rows, by hand (elements: the groups, and the text between them;
-- each ends at the first place where the fixed start of what follows
-- matches; " +" between the method and the URL has no fixed follower, so it
-- takes every blank; the final `\" ([0-9]*) ([0-9-]*)` stretch ends the line):
-- 1. 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326
--    HOST 127.0.0.1, USERID frank, TS 10/Oct/2000:13:55:36 -0700,
--    METHOD GET, URL /apache_pb.gif (ends at the first " HTTP"),
--    STATUS 200, BYTES 2326.
-- 2. 10.0.0.2 - - [10/Oct/2000:13:56:01 -0700] "POST   /login HTTP/1.1" 302 -
--    three blanks after POST all go to " +": METHOD POST, URL /login;
--    BYTES "-" ([0-9-]* takes it).
-- 3. "garbage line": no " - " after the host, so characters are left over:
--    every field NULL.
-- 4. NULL log: NULL fields.
-- 5. 10.0.0.9 - ana [11/Oct/2000:08:00:00 +0000] "GET /a HTTP/b HTTP/1.1" 404 0
--    URL (.*) ends at the first " HTTP/": "/a" (lazy, never revisited);
--    VERSION [^\"]* then runs to the quote: "b HTTP/1.1".
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    HOST VARCHAR(16), USERID VARCHAR(16), TS VARCHAR(32), METHOD VARCHAR(8),
    URL VARCHAR(32), VERSION VARCHAR(16), STATUS VARCHAR(4), BYTES VARCHAR(8));

CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM T.R.COLUMN1, T.R.COLUMN2, T.R.COLUMN3, T.R.COLUMN4,
                  T.R.COLUMN5, T.R.COLUMN6, T.R.COLUMN7, T.R.COLUMN8
    FROM (SELECT STREAM FAST_REGEX_LOG_PARSE(LOG,
            '([^ ]*) - ([^ ]*) \[([^\]]*)\] \"([A-Z]*) +(.*) HTTP/([^\"]*)\" ([0-9]*) ([0-9-]*)') AS R
          FROM "SOURCE_SQL_STREAM_001") AS T;
