-- Per-ticker moving statistics over the last minute of trades: a sliding
-- window (RANGE INTERVAL '1' MINUTE PRECEDING) gives one output row per
-- trade, over the trades of that ticker in the minute up to it. PRICE_CHANGE
-- is the change since the ticker's previous trade in the window (NULL when
-- there is none).
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    ticker_symbol VARCHAR(4),
    price         DOUBLE,
    trades_1m     BIGINT,
    avg_price_1m  DOUBLE,
    max_price_1m  DOUBLE,
    price_change  DOUBLE);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM
        ticker_symbol,
        price,
        COUNT(*) OVER W1,
        AVG(price) OVER W1,
        MAX(price) OVER W1,
        price - LAG(price) OVER W1
    FROM "SOURCE_SQL_STREAM_001"
    WINDOW W1 AS (
        PARTITION BY ticker_symbol
        RANGE INTERVAL '1' MINUTE PRECEDING);
