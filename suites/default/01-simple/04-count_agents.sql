-- Count of the agents (2,000 rows per unit of scale; seed 002's "Count Query (Agents)").
-- TARGET: avg < 2ms, p95 < 5ms, qps > 1000
-- CONCURRENCY: 1
-- DURATION: 2s
SELECT count(*) FROM pgvolley_agents;
