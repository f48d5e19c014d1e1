-- A tenant's events of the last day by kind.
-- TARGET: avg < 20ms, p95 < 40ms, qps > 100
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100)
SELECT kind, count(*)
FROM pgvolley_events
WHERE tenant_id = %s AND created_at >= now() - interval '1 day'
GROUP BY kind;
