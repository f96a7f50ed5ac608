-- A window (OVER) written after a subquery that is one side of a join. Sluice
-- keeps join windows on named streams only, so it refuses this form by name and
-- place (the OVER) and says what to write instead, rather than misparsing it.
CREATE OR REPLACE STREAM "QUOTES" (TICKER VARCHAR(4), PRICE DOUBLE);
CREATE OR REPLACE PUMP "QUOTES_PUMP" AS INSERT INTO "QUOTES"
  SELECT STREAM ticker, price FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE STREAM "PAIRS" (TICKER VARCHAR(4), NEW_PRICE DOUBLE, OLD_PRICE DOUBLE);
CREATE OR REPLACE PUMP "PAIRS_PUMP" AS INSERT INTO "PAIRS"
  SELECT STREAM n.ticker, n.price, o.price
  FROM "SOURCE_SQL_STREAM_001" AS n
  JOIN (SELECT STREAM ticker, price FROM "QUOTES" WHERE price > 0)
       OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS o
    ON n.ticker = o.ticker;
