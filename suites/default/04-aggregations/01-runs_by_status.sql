-- A tenant's runs of the last week by status (seed 002's "Count by Tenant").
-- TARGET: avg < 20ms, p95 < 40ms, qps > 100
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100)
SELECT status, count(*)
FROM pgvolley_runs
WHERE tenant_id = %s AND started_at >= now() - interval '7 days'
GROUP BY status;
