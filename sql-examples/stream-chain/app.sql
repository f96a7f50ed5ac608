-- A chain of in-application streams: clean the input into a temporary
-- stream, then aggregate the clean rows per sensor every 10 seconds, then
-- keep only the hot sensors. Declaration order does not matter.
CREATE OR REPLACE STREAM "HOT_SENSORS" (sensor_id VARCHAR(8), avg_temp DOUBLE, readings BIGINT);

CREATE OR REPLACE PUMP "HOT_PUMP" AS
  INSERT INTO "HOT_SENSORS"
    SELECT STREAM sensor_id, avg_temp, readings
    FROM "SENSOR_STATS"
    WHERE avg_temp > 30;

CREATE OR REPLACE STREAM "CLEAN_READINGS" (sensor_id VARCHAR(8), temp_c DOUBLE);

CREATE OR REPLACE PUMP "CLEAN_PUMP" AS
  INSERT INTO "CLEAN_READINGS"
    SELECT STREAM UPPER(TRIM(sensor_id)), (temp_f - 32) * 5 / 9
    FROM "SOURCE_SQL_STREAM_001"
    WHERE temp_f IS NOT NULL;

CREATE OR REPLACE STREAM "SENSOR_STATS" (sensor_id VARCHAR(8), avg_temp DOUBLE, readings BIGINT);

CREATE OR REPLACE PUMP "STATS_PUMP" AS
  INSERT INTO "SENSOR_STATS"
    SELECT STREAM sensor_id, AVG(temp_c), COUNT(*)
    FROM "CLEAN_READINGS"
    GROUP BY sensor_id, STEP("CLEAN_READINGS".ROWTIME BY INTERVAL '10' SECOND);
