-- Source-stream metadata columns, replaying records captured from a Kinesis
-- data stream (envelope "kds"). Expected rows derived by hand from
-- input.jsonl: each record's PartitionKey is PARTITION_KEY, its
-- SequenceNumber is SEQUENCE_NUMBER, its ApproximateArrivalTimestamp is both
-- ROWTIME and APPROXIMATE_ARRIVAL_TIME (1704103200.0 = 2024-01-01 10:00:00,
-- the RFC 3339 one is 10:00:03.250); `get-records` output names no shard, so
-- SHARD_ID is NULL. The WHERE keeps the two records of partition key
-- 'user-1' (AMZN, AAPL) and drops MSFT (user-2) and IBM (user-3).
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
  PK VARCHAR(256), SEQ VARCHAR(128), SHARD VARCHAR(128), ARRIVED TIMESTAMP,
  TICKER VARCHAR(4), PRICE DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM "PARTITION_KEY", SEQUENCE_NUMBER, SHARD_ID, APPROXIMATE_ARRIVAL_TIME,
         ticker, price
  FROM "SOURCE_SQL_STREAM_001"
  WHERE "PARTITION_KEY" = 'user-1';
