-- Seed 002's targets table, row "Aggregations": avg < 20 ms, p95 < 40 ms, > 100 qps.
-- TARGET: avg < 20ms, p95 < 40ms, qps > 100
-- EXEC_COUNT: 100
SELECT relkind, count(*) FROM pg_class GROUP BY relkind;
