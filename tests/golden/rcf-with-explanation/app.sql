-- The Developer Guide's RANDOM_CUT_FOREST_WITH_EXPLANATION example, with a
-- small forest (20 trees, 32 samples: rows 1-8 score 0) and the function's
-- rows filtered in the same query, through the call's alias.
--
-- How the expected rows were checked (the scores are the seeded forest's,
-- the same on every replay): readings cycle within 110-120 / 70-78; only
-- the two planted readings pass ANOMALY_SCORE > 2: 180/125 at 10:00:40
-- (both columns HIGH, Diastolic the larger share) and 112/40 at 10:00:50
-- (Diastolic LOW, nearly all of the score). In each explanation the
-- ATTRIBUTION_SCOREs add up to ANOMALY_SCORE (to the 4 decimals shown).
-- The reading without a Diastolic (10:00:30) cannot be scored: it goes to
-- error_stream naming the column, and the stream goes on.
-- The second pump, without directionality, gives ATTRIBUTION_SCORE only
-- (its forest, of 10 samples, warms up in 2 rows; the 180 reading scores
-- highest).
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
   "Systolic"            INTEGER,
   "Diastolic"           INTEGER,
   "BloodPressureLevel"  VARCHAR(20),
   "ANOMALY_SCORE"       DOUBLE,
   "ANOMALY_EXPLANATION" VARCHAR(512));
CREATE OR REPLACE STREAM "UNDIRECTED" (
   "Systolic"            INTEGER,
   "ANOMALY_EXPLANATION" VARCHAR(512));

CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
   SELECT STREAM r."Systolic", r."Diastolic", r."BloodPressureLevel", r.ANOMALY_SCORE, r.ANOMALY_EXPLANATION
   FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(
           CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 20, 32, 1000, 1, true)) AS r
   WHERE r.ANOMALY_SCORE > 2;

CREATE OR REPLACE PUMP "UNDIRECTED_PUMP" AS INSERT INTO "UNDIRECTED"
   SELECT STREAM "Systolic", ANOMALY_EXPLANATION
   FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(
           CURSOR(SELECT STREAM "Systolic" FROM "SOURCE_SQL_STREAM_001" WHERE "Systolic" >= 118),
           10, 10, 1000, 1, false));
