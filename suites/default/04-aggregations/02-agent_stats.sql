-- A tenant's busiest agents of the last 3 days: runs, failures, mean and p95 duration
-- (seed 002's "Complex Aggregation").
-- TARGET: avg < 20ms, p95 < 40ms, qps > 100
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100)
SELECT a.id, a.name, count(*) AS runs,
       count(*) FILTER (WHERE r.status = 'failed') AS failed,
       avg(r.duration_ms) AS mean_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) AS p95_ms
FROM pgvolley_runs r
JOIN pgvolley_schedules s ON s.id = r.schedule_id
JOIN pgvolley_agents a ON a.id = s.agent_id
WHERE r.tenant_id = %s AND r.started_at >= now() - interval '3 days'
GROUP BY a.id, a.name
ORDER BY runs DESC
LIMIT 10;
