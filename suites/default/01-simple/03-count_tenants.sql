-- Count of a small table (100 rows per unit of scale).
-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000
-- CONCURRENCY: 1
-- DURATION: 2s
SELECT count(*) FROM pgvolley_tenants;
