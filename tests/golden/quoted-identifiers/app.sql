-- unquoted names are upper-cased, quoted ones keep their case
CREATE OR REPLACE STREAM "Mixed" ("lower" VARCHAR(4), Upper DOUBLE);
CREATE OR REPLACE PUMP "p" AS INSERT INTO "Mixed"
  SELECT STREAM Ticker, PRICE FROM source_sql_stream_001;
