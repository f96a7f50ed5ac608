-- An unbounded window keeps running totals, not its rows, so the
-- functions that read rows (FIRST_VALUE, LAST_VALUE, LAG) are refused over
-- it by name, saying which aggregates work.
CREATE OR REPLACE STREAM "PREVIOUS" (SKU VARCHAR(4), PREV_QTY INTEGER);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "PREVIOUS"
  SELECT STREAM SKU, LAG(QTY) OVER (PARTITION BY SKU ROWS UNBOUNDED PRECEDING)
  FROM "SOURCE_SQL_STREAM_001";
