-- Seed 002's targets table, row "Simple SELECT": avg < 2 ms, p95 < 5 ms, > 1000 qps.
-- pgvolley run -T 10 -c 10 examples/seed002_targets/  (exit 1 when a target is missed)
-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000
-- EXEC_COUNT: 2000
SELECT 1;
