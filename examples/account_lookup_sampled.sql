-- Point lookups on keys sampled from the table before the run (about 1% of
-- pgbench_accounts' pages), so that every lookup hits a row that exists.
-- The tables come from `pgbench -i`; see examples/tpcb_like/README.md.
-- PARAMETERS_QUERY: SELECT aid FROM pgbench_accounts TABLESAMPLE SYSTEM (1)
SELECT abalance FROM pgbench_accounts WHERE aid = %s;
