-- A tenant's next enabled schedules with their agents (seed 002's "Simple JOIN").
-- TARGET: avg < 10ms, p95 < 20ms, qps > 200
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100)
SELECT s.id, s.cron, s.next_run_at, a.name
FROM pgvolley_schedules s
JOIN pgvolley_agents a ON a.id = s.agent_id
WHERE a.tenant_id = %s AND s.enabled
ORDER BY s.next_run_at
LIMIT 50;
