-- A point lookup by primary key, on keys drawn uniformly.
-- TARGET: p95 < 5ms, error_rate < 0.1%
-- WEIGHT: 9
-- GENERATE: random(1, 100000)
SELECT balance FROM account WHERE id = $1;
