-- A subquery as the stream side of a stream-to-reference-table join. The
-- subquery (AS q) keeps prices above 0; each kept row is looked up in the
-- reference table by ticker, keeping the subquery row's ROWTIME.
--   10:00:00 AMZN 100.0 -> Amazon
--   10:00:10 MSFT   0.0 -> dropped by the subquery
--   10:00:20 NFLX  50.0 -> not in the table: no row (inner join)
--   10:00:30 MSFT 210.0 -> Microsoft
CREATE OR REPLACE STREAM "PRICED" (TICKER VARCHAR(4), COMPANY VARCHAR(32), PRICE DOUBLE);
CREATE OR REPLACE PUMP "PRICED_PUMP" AS INSERT INTO "PRICED"
  SELECT STREAM q.ticker, c.company, q.price
  FROM (SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001" WHERE price > 0) AS q
  JOIN "COMPANIES" AS c ON q.ticker = c.ticker;
