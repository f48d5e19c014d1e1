-- Seed 002's targets table, row "JOIN Queries": avg < 10 ms, p95 < 20 ms, > 200 qps.
-- TARGET: avg < 10ms, p95 < 20ms, qps > 200
-- EXEC_COUNT: 200
SELECT c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LIMIT 20;
