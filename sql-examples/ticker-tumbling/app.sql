-- Per-ticker statistics over 1-minute tumbling windows. Each window's rows
-- come out when ROWTIME passes the end of the minute; ROWTIME of an output
-- row is the window's end.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    window_start  TIMESTAMP,
    ticker_symbol VARCHAR(4),
    trades        BIGINT,
    avg_price     DOUBLE,
    min_price     DOUBLE,
    max_price     DOUBLE);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM
        STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE),
        ticker_symbol,
        COUNT(*),
        AVG(price),
        MIN(price),
        MAX(price)
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY ticker_symbol,
             STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
