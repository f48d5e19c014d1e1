-- A tenant's runs of the last day with their schedule and agent (seed 002's "JOIN with Filter").
-- TARGET: avg < 10ms, p95 < 20ms, qps > 200
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100)
SELECT r.id, r.status, r.duration_ms, s.cron, a.name
FROM pgvolley_runs r
JOIN pgvolley_schedules s ON s.id = r.schedule_id
JOIN pgvolley_agents a ON a.id = s.agent_id
WHERE r.tenant_id = %s AND r.started_at >= now() - interval '1 day'
ORDER BY r.started_at DESC
LIMIT 20;
