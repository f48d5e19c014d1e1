-- The server's clock (seed 002's "Timestamp Query").
-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000
-- CONCURRENCY: 1
-- DURATION: 2s
SELECT now();
