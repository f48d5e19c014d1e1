-- An agent by its primary key (ids 1..2000 exist at every scale).
-- TARGET: avg < 5ms, p95 < 10ms, qps > 500
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 2000)
SELECT id, tenant_id, name, status, created_at FROM pgvolley_agents WHERE id = %s;
