-- A plain SELECT (no STREAM) over a SELECT STREAM subquery: KDA runs it as a
-- streaming query all the same, one row out per row the subquery emits.
-- The subquery (alias t, written without AS) keeps rows with a positive
-- quantity and computes NOTIONAL = PRICE * QTY; the outer SELECT * keeps
-- notionals of 100 or more and returns the subquery's columns in its order.
--   10:00:00 AMZN 20.0 x 10 -> 200.0 -> kept
--   10:00:10 MSFT 50.0 x 0  -> dropped by the subquery
--   10:00:20 AMZN 9.5  x 10 -> 95.0  -> dropped by the outer query
--   10:00:30 MSFT 25.0 x 4  -> 100.0 -> kept
CREATE OR REPLACE STREAM "NOTIONALS" (TICKER VARCHAR(4), NOTIONAL DOUBLE);
CREATE OR REPLACE PUMP "NOTIONAL_PUMP" AS INSERT INTO "NOTIONALS"
  SELECT *
  FROM (SELECT STREAM ticker, price * qty AS notional
        FROM "SOURCE_SQL_STREAM_001"
        WHERE qty > 0) t
  WHERE t.notional >= 100;
