-- Deliberately slow: the runs that finished in a given minute. pgvolley_runs.finished_at
-- has no index (docs/sample-schema.md), so every execution reads the whole table and this
-- test misses its target, even at scale 1; the diagnosis shows why and what would serve it.
-- TARGET: avg < 5ms, p95 < 10ms, qps > 500
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 2000)
SELECT id, tenant_id, status, duration_ms
FROM pgvolley_runs
WHERE finished_at >= date_trunc('day', now()) - $1 * interval '1 hour'
  AND finished_at < date_trunc('day', now()) - $1 * interval '1 hour' + interval '1 minute';
