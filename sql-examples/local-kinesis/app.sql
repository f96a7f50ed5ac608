-- The KDA getting-started app, fed by a Kinesis data stream and delivering
-- to a Kinesis data stream and a Firehose delivery stream: run it with
-- `sluice serve --apps sql-examples` and put records with any AWS client.
--
-- Per-ticker trades and average price over 10-second tumbling windows, and
-- a continuous filter of the big price changes.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    ticker_symbol VARCHAR(4),
    trades        BIGINT,
    avg_price     DOUBLE);

CREATE OR REPLACE PUMP "WINDOW_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM ticker_symbol, COUNT(*), AVG(price)
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY ticker_symbol,
             STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '10' SECOND);

CREATE OR REPLACE STREAM "BIG_CHANGES" (
    ticker_symbol VARCHAR(4),
    price         DOUBLE,
    change        DOUBLE);

CREATE OR REPLACE PUMP "FILTER_PUMP" AS
  INSERT INTO "BIG_CHANGES"
    SELECT STREAM ticker_symbol, price, change
    FROM "SOURCE_SQL_STREAM_001"
    WHERE ABS(change) > 1;
