-- Continuous filter: pass through the trades whose price moved more than 1%,
-- tagging each with its direction. The classic first KDA application.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    ticker_symbol VARCHAR(4),
    sector        VARCHAR(16),
    change        DOUBLE,
    price         DOUBLE,
    direction     VARCHAR(4));

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, sector, change, price,
           CASE WHEN change > 0 THEN 'UP' ELSE 'DOWN' END
    FROM "SOURCE_SQL_STREAM_001"
    WHERE ABS(change) / price > 0.01;
