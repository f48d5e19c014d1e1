-- TPC-B-like transaction: the same statements as pgbench's built-in
-- "tpcb-like" script (pgbench -b tpcb-like, its default), on the tables
-- that `pgbench -i` creates. See README.md in this directory.
--
-- One value per placeholder, drawn anew for every execution with pgbench's
-- random() (uniform, both bounds included), as pgbench's \set lines:
--   $1 aid    random(1, 100000 * scale)
--   $2 tid    random(1, 10 * scale)
--   $3 bid    random(1, 1 * scale)
--   $4 delta  random(-5000, 5000)
-- Written for `pgbench -i -s 1` (scale 1). For scale S, multiply the upper
-- bounds of the first three by S: for -s 10,
--   -- GENERATE: random(1, 1000000), random(1, 100), random(1, 10), random(-5000, 5000)
--
-- GENERATE: random(1, 100000), random(1, 10), random(1, 1), random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + $4 WHERE aid = $1;
SELECT abalance FROM pgbench_accounts WHERE aid = $1;
UPDATE pgbench_tellers SET tbalance = tbalance + $4 WHERE tid = $2;
UPDATE pgbench_branches SET bbalance = bbalance + $4 WHERE bid = $3;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($2, $3, $1, $4, CURRENT_TIMESTAMP);
END;
