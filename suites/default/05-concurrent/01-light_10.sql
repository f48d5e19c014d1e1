-- Concurrent light load: 10 connections at once, each looking up an agent and its
-- tenant's latest runs (seed 002's "Concurrent Light Load (10 workers)").
-- TARGET: avg < 30ms, p95 < 60ms, qps > 300
-- CONCURRENCY: 10
-- DURATION: 3s
-- GENERATE: random(1, 2000)
SELECT a.id, a.name, r.id AS run_id, r.status, r.started_at
FROM pgvolley_agents a
JOIN LATERAL (SELECT id, status, started_at FROM pgvolley_runs
              WHERE tenant_id = a.tenant_id ORDER BY started_at DESC LIMIT 5) r ON true
WHERE a.id = %s;
