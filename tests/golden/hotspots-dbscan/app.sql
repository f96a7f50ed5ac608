-- The Developer Guide's hotspots app, on a few points so the result can be
-- worked out by hand: windowSize 100 (all rows stay in the window),
-- scanRadius 1.0, at least 3 points (a point counts itself) in a hotspot.
-- x and y are read; is_hot, text, passes through.
--
-- Expected HOTSPOTS_RESULT, by hand:
-- (0,0), (10,10), (0,0.5): no point has 3 within 1.0 -> {"hotspots":[]}.
-- (0.5,0): (0,0), (0,0.5), (0.5,0) are each within 1.0 of the others: one
--   hotspot, box [0,0]-[0.5,0.5]; each side counts as at least the scan
--   radius (1.0), so its size is 1.0 and its density 3 / 1.0 = 3.0.
-- The row without x cannot be placed: error_stream names the column, and
--   the window does not take it.
-- (10,10.5): the second group has 2 points; the first hotspot stays.
-- (9.5,10): the second group has 3: two hotspots, density 3.0 each, the
--   one found first (it holds the oldest point) first.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    "x" DOUBLE,
    "y" DOUBLE,
    "is_hot" VARCHAR(4),
    HOTSPOTS_RESULT VARCHAR(10000));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS
    INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT "x", "y", "is_hot", "HOTSPOTS_RESULT"
    FROM TABLE (
        HOTSPOTS(
            CURSOR(SELECT STREAM "x", "y", "is_hot" FROM "SOURCE_SQL_STREAM_001"),
            100,
            1.0,
            3)
    );
