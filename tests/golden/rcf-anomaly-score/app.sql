-- The Developer Guide's anomaly-detection app, with a small forest so that
-- it warms up within the case: 20 trees of 32 samples score from the 9th
-- row on (warm-up is subSampleSize / 4 = 8 rows, each scored 0).
--
-- How the expected rows were checked (the scores themselves are the seeded
-- forest's, the same on every replay, which is what this case pins):
-- rows 1-8 score 0.0; the heart rate follows a sine between 62 and 78, and
-- the one planted spike (150, rateType HIGH, at 10:00:30.500) scores far
-- above every other row; each second's two rows leave at the second's end
-- (FLOOR(ROWTIME TO SECOND) + 1 s), higher score first; rateType, a
-- VARCHAR, is passed through but not scored.
CREATE OR REPLACE STREAM "TEMP_STREAM" (
   "heartRate"     INTEGER,
   "rateType"      VARCHAR(20),
   "ANOMALY_SCORE" DOUBLE);
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
   "heartRate"     INTEGER,
   "rateType"      VARCHAR(20),
   "ANOMALY_SCORE" DOUBLE);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "TEMP_STREAM"
   SELECT STREAM "heartRate", "rateType", ANOMALY_SCORE
   FROM TABLE(RANDOM_CUT_FOREST(
           CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 20, 32, 1000, 1));

CREATE OR REPLACE PUMP "OUTPUT_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
   SELECT STREAM * FROM "TEMP_STREAM"
   ORDER BY FLOOR("TEMP_STREAM".ROWTIME TO SECOND), ANOMALY_SCORE DESC;
