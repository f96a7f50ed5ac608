-- In KDA, a subquery column aliased ROWTIME re-times the subquery's rows (e.g.
-- by an event-time column). Sluice does not re-time rows yet, so it rejects
-- the alias by name and place rather than treating it as an ordinary column.
CREATE OR REPLACE STREAM "BY_EVENT_TIME" (TICKER VARCHAR(4), PRICE DOUBLE);
CREATE OR REPLACE PUMP "RETIME_PUMP" AS INSERT INTO "BY_EVENT_TIME"
  SELECT STREAM ticker, price
  FROM (SELECT STREAM event_time AS ROWTIME, ticker, price FROM "SOURCE_SQL_STREAM_001");
