-- Source-stream metadata columns from the "arrival" envelope. Expected rows
-- derived by hand from input.jsonl: PARTITION_KEY is a line's partition_key
-- (lines 1 and 3), NULL where the line has none (line 2) or gives null
-- (line 4); the envelope carries no shard or sequence number, so SHARD_ID
-- and SEQUENCE_NUMBER are NULL on every row. KEYED is the IS NOT NULL test
-- of PARTITION_KEY, and the qualified form s.PARTITION_KEY reads the same
-- column.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
  V INTEGER, PK VARCHAR(256), KEYED BOOLEAN, SHARD VARCHAR(128), SEQ VARCHAR(128));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM s.v, s.PARTITION_KEY, PARTITION_KEY IS NOT NULL, s.SHARD_ID, SEQUENCE_NUMBER
  FROM "SOURCE_SQL_STREAM_001" AS s;
