-- The data of the CI example: 100000 accounts, made fresh on the throwaway
-- server of each CI run (examples/ci/gate.sh).
CREATE TABLE account (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
INSERT INTO account (id) SELECT g FROM generate_series(1, 100000) g;
ANALYZE account;
