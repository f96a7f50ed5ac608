-- Event-time windows beside ROWTIME windows (the KDA Developer Guide's
-- pattern): count clicks per page per event-time minute, emitted once per
-- ROWTIME minute. A late event lands in the ROWTIME window it arrived in,
-- under its own event-time minute.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    event_minute TIMESTAMP,
    page         VARCHAR(32),
    clicks       BIGINT);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS
  INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM FLOOR(event_time TO MINUTE), page, COUNT(*)
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY page,
             FLOOR(event_time TO MINUTE),
             FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE);
