-- Trades counted per ticker and event-time minute with a stagger window: a
-- window opens when the first row of its partition (ticker, event minute)
-- arrives and closes one minute later, so rows that arrive late for their
-- event minute still count. Each window's row comes out at its close
-- (ROWTIME = open + 1 minute). A row arriving after its partition's window
-- closed opens a new one (MSFT's 10:00:59 trade, arriving at 10:01:30).
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    ticker_symbol VARCHAR(4),
    event_minute  TIMESTAMP,
    ticker_count  BIGINT,
    avg_price     DOUBLE);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM
        ticker_symbol,
        FLOOR(event_time TO MINUTE),
        COUNT(*),
        AVG(price)
    FROM "SOURCE_SQL_STREAM_001"
    WINDOWED BY STAGGER (
        PARTITION BY FLOOR(event_time TO MINUTE), ticker_symbol
        RANGE INTERVAL '1' MINUTE);
