-- Three records arrive in the same millisecond (one PutRecords call): AMZN,
-- IBM (not in the table), MSFT. Expected, by hand: the rows in input order,
-- IBM's with a NULL COMPANY between the two matches.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), COMPANY VARCHAR(16));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM S.TICKER, C.COMPANY
    FROM "SOURCE_SQL_STREAM_001" AS S LEFT OUTER JOIN "COMPANIES" AS C ON S.TICKER = C.TICKER;
