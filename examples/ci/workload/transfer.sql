-- A transfer between two accounts: one transaction of two updates.
-- TARGET: p95 < 20ms
-- WEIGHT: 1
-- GENERATE: random(1, 100000), random(1, 100000), random(1, 100)
BEGIN;
UPDATE account SET balance = balance - $3 WHERE id = $1;
UPDATE account SET balance = balance + $3 WHERE id = $2;
COMMIT;
