-- Seed 001's parallel execution proof: five queries sleeping 1, 2, 3, 1 and
-- 2 seconds. One after another they take 9 s; at -c 5 they take about 3 s
-- (the longest), a speedup of about 3x.
-- PARAMETERS: [[1, "1"], [2, "2"], [3, "3"], [1, "4"], [2, "5"]]
-- EXEC_COUNT: 1

SELECT pg_sleep(%s) AS delay, %s AS test_id, now() AS ts;
