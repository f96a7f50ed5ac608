-- A window opens per ticker at its first row and closes one minute later;
-- a row arriving exactly at the close opens the next window.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), N BIGINT, QTY_SUM BIGINT, MIN_PRICE DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM ticker, COUNT(*), SUM(qty), MIN(price)
  FROM "SOURCE_SQL_STREAM_001"
  WINDOWED BY STAGGER (PARTITION BY ticker RANGE INTERVAL '1' MINUTE);
