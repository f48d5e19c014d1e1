-- Health check: the round trip of the smallest query (seed 002's "Health Check Query").
-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000
-- CONCURRENCY: 1
-- DURATION: 2s
SELECT 1;
