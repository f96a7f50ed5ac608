-- The Developer Guide's W3C_LOG_PARSE example: COMMON is the Apache
-- format %h %l %u %t "%r" %>s %b, one field per specifier, named through
-- the subquery alias l(r).
--
-- Expected rows, by hand: each entry split at its blanks, the bracketed
-- time and the quoted request kept whole (VARCHAR(16) cuts longer values,
-- as KDA does on insert); "garbage line" does not fit the format: all NULL.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
column1 VARCHAR(16),
column2 VARCHAR(16),
column3 VARCHAR(16),
column4 VARCHAR(16),
column5 VARCHAR(16),
column6 VARCHAR(16),
column7 VARCHAR(16));

CREATE OR REPLACE PUMP "myPUMP" AS
INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM
            l.r.COLUMN1,
            l.r.COLUMN2,
            l.r.COLUMN3,
            l.r.COLUMN4,
            l.r.COLUMN5,
            l.r.COLUMN6,
            l.r.COLUMN7
        FROM (SELECT STREAM W3C_LOG_PARSE("log", 'COMMON')
              FROM "SOURCE_SQL_STREAM_001") AS l(r);
