-- The events of one minute, some hours ago: the index on events (created_at).
-- TARGET: avg < 5ms, p95 < 10ms, qps > 500
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 2000)
SELECT id, run_id, kind, created_at
FROM pgvolley_events
WHERE created_at >= date_trunc('day', now()) - $1 * interval '1 hour'
  AND created_at < date_trunc('day', now()) - $1 * interval '1 hour' + interval '1 minute'
LIMIT 50;
