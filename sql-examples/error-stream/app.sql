-- Orders with a per-unit price. Records that do not fit the input schema
-- (a quantity that is not a number) and rows whose arithmetic fails
-- (quantity 0: division by zero) go to "error_stream" with KDA's columns;
-- every other order goes on.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    order_id   INTEGER,
    unit_price DECIMAL(10,2));

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM order_id, CAST(total / quantity AS DECIMAL(10,2))
    FROM "SOURCE_SQL_STREAM_001";
