-- One run with its events.
-- TARGET: avg < 10ms, p95 < 20ms, qps > 200
-- CONCURRENCY: 1
-- DURATION: 2s
-- GENERATE: random(1, 100000)
SELECT r.id, r.status, e.kind, e.created_at, e.payload
FROM pgvolley_runs r
JOIN pgvolley_events e ON e.run_id = r.id
WHERE r.id = %s;
