-- A tenant's latest runs: the index on runs (tenant_id, started_at).
-- Tenants are skewed (tenant 1 owns about a third of the runs); the keys are drawn uniformly.
-- TARGET: avg < 5ms, p95 < 10ms, qps > 500
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100)
SELECT id, schedule_id, status, started_at, duration_ms
FROM pgvolley_runs
WHERE tenant_id = %s
ORDER BY started_at DESC
LIMIT 20;
