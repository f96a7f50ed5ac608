-- Two levels of subqueries, each with an alias its enclosing query qualifies
-- columns with. Innermost (c): temperature readings only, renamed to
-- SENSOR / TEMP_C. Middle (hot): non-NULL readings, TEMP_F = TEMP_C * 9 / 5 + 32.
-- Outer: TEMP_F above 100, with hot.ROWTIME, which is the reading's arrival
-- time (a filter/project keeps each row's ROWTIME at every level).
--   10:00:00 s1 temp 40.0  -> 104.0 -> kept
--   10:00:01 s2 humidity   -> not a temperature
--   10:00:02 s2 temp 20.0  -> 68.0
--   10:00:03 s3 temp NULL  -> dropped by the middle query
--   10:00:04 s1 temp 38.5  -> 101.3 -> kept
--   10:00:05 s3 temp 37.5  -> 99.5
CREATE OR REPLACE STREAM "FEVER_ALERTS" (SENSOR VARCHAR(8), TEMP_F DOUBLE, READ_AT TIMESTAMP);
CREATE OR REPLACE PUMP "ALERT_PUMP" AS INSERT INTO "FEVER_ALERTS"
  SELECT STREAM hot.sensor, hot.temp_f, hot.ROWTIME
  FROM (
      SELECT STREAM c.sensor, c.temp_c * 9 / 5 + 32 AS temp_f
      FROM (
          SELECT STREAM r.sensor_id AS sensor, r.reading AS temp_c
          FROM "SOURCE_SQL_STREAM_001" AS r
          WHERE r.kind = 'temp'
      ) AS c
      WHERE c.temp_c IS NOT NULL
  ) AS hot
  WHERE hot.temp_f > 100;
