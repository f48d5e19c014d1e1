-- Seed 002's targets table, row "Indexed Lookup": avg < 5 ms, p95 < 10 ms, > 500 qps.
-- TARGET: avg < 5ms, p95 < 10ms, qps > 500
-- PARAMETERS: [[1], [2], [3]]
-- EXEC_COUNT: 400
SELECT c.relname FROM pg_class c WHERE c.oid = %s::oid;
