"""`pgvolley init` (issue 12, item 1): the multi-tenant sample schema.

At scale 1 against a throwaway server: the exact row counts, the primary
and foreign keys in pg_constraint (validated) and data that satisfies them,
the tenant skew, the refusal to touch existing tables without --drop (exit
2, naming the table), --drop twice, bad options (exit 2), an unreachable
server (exit 3), and a `pgvolley run` lookup against the schema.
"""
import unittest

from pvtest import ServerTest

ROWS = {"pgvolley_tenants": 100, "pgvolley_agents": 2000, "pgvolley_schedules": 10000,
        "pgvolley_runs": 100000, "pgvolley_events": 300000}

FKEYS = {"pgvolley_agents_tenant_id_fkey", "pgvolley_schedules_agent_id_fkey",
         "pgvolley_runs_schedule_id_fkey", "pgvolley_runs_tenant_id_fkey",
         "pgvolley_events_run_id_fkey", "pgvolley_events_tenant_id_fkey"}


class InitTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first = None

    def init(self, *args):
        return self.pgvolley("init", "-d", self.server.dsn, *args)

    def ensure_loaded(self):
        if self.server.sql("SELECT to_regclass('pgvolley_events') IS NOT NULL") != "t":
            r = self.init("--drop")
            self.assertEqual(r.code, 0, r.stderr)

    def test_1_load_scale_1(self):
        self.server.sql("DROP TABLE IF EXISTS pgvolley_events, pgvolley_runs, "
                        "pgvolley_schedules, pgvolley_agents, pgvolley_tenants")
        r = self.init("-s", "1", "-j", "3")
        self.assertEqual(r.code, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        for table, n in ROWS.items():
            self.assertEqual(int(self.server.sql(f"SELECT count(*) FROM {table}")), n, table)
            self.assertRegex(r.stderr, table + r" +" + str(n) + r" rows .* rows/s")
        self.assertIn("done in", r.stderr)
        self.assertNotIn("host=", r.stderr)

    def test_constraints(self):
        self.ensure_loaded()
        rows = self.server.sql(
            "SELECT conname, contype, convalidated FROM pg_constraint "
            "WHERE conrelid::regclass::text LIKE 'pgvolley_%'").splitlines()
        cons = {line.split("|")[0]: line.split("|")[1:] for line in rows}
        for table in ROWS:
            self.assertEqual(cons.get(table + "_pkey"), ["p", "t"], table)
        for fk in FKEYS:
            self.assertEqual(cons.get(fk), ["f", "t"], fk)
        # the denormalised tenant_id is that of the schedule's agent
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pgvolley_runs r JOIN pgvolley_schedules s "
            "ON s.id = r.schedule_id JOIN pgvolley_agents a ON a.id = s.agent_id "
            "WHERE a.tenant_id <> r.tenant_id"), "0")
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pgvolley_events e JOIN pgvolley_runs r ON r.id = e.run_id "
            "WHERE e.tenant_id <> r.tenant_id"), "0")
        idx = self.server.sql("SELECT count(*) FROM pg_indexes "
                              "WHERE tablename LIKE 'pgvolley_%'")
        self.assertGreaterEqual(int(idx), 5 + 10)
        # ANALYZE ran
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname LIKE 'pgvolley_%' "
            "AND last_analyze IS NOT NULL"), "5")

    def test_skew_and_time_range(self):
        self.ensure_loaded()
        counts = [int(x) for x in self.server.sql(
            "SELECT count(r.id) FROM pgvolley_tenants t LEFT JOIN pgvolley_runs r "
            "ON r.tenant_id = t.id GROUP BY t.id ORDER BY 1 DESC").split()]
        self.assertEqual(len(counts), 100)
        median = counts[50]
        self.assertGreater(counts[0], 10 * max(median, 1), counts[:10])
        self.assertGreater(sum(counts[:10]), sum(counts) // 2)  # a few own most
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pgvolley_runs WHERE started_at < now() - interval '91 days' "
            "OR started_at > now()"), "0")

    def test_deterministic(self):
        self.ensure_loaded()
        q = ("SELECT md5(string_agg(id || ':' || run_id || ':' || tenant_id || kind "
             "|| payload::text, ',' ORDER BY id)) FROM pgvolley_events WHERE id % 97 = 0")
        before = self.server.sql(q)
        r = self.init("--drop", "-j", "1", "-q")
        self.assertEqual(r.code, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(self.server.sql(q), before)
        # another seed, other rows (the same counts): loaded into another
        # schema (the current one, from the connection's search_path), so
        # the default seed's rows stay for the other tests
        self.server.sql("DROP SCHEMA IF EXISTS seed42 CASCADE; CREATE SCHEMA seed42")
        r = self.pgvolley("init", "-d", self.server.dsn + " options=-csearch_path=seed42",
                          "-q", "--seed", "42")
        self.assertEqual(r.code, 0, r.stderr)
        q42 = q.replace("FROM pgvolley_events", "FROM seed42.pgvolley_events")
        self.assertNotEqual(self.server.sql(q42), before)
        self.assertEqual(self.server.sql("SELECT count(*) FROM seed42.pgvolley_events"), "300000")
        self.assertEqual(self.server.sql(q), before)
        self.server.sql("DROP SCHEMA seed42 CASCADE")

    def test_refuses_existing_tables(self):
        self.ensure_loaded()
        r = self.init()
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn("pgvolley_", r.stderr)
        self.assertIn("already exists", r.stderr)
        self.assertIn("--drop", r.stderr)
        # only one of them is enough, and nothing was touched
        self.server.sql("CREATE TABLE IF NOT EXISTS keep_me (x int); "
                        "INSERT INTO keep_me VALUES (1)")
        self.server.sql("DROP TABLE pgvolley_events")
        r = self.init()
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn("public.pgvolley_agents", r.stderr)
        self.assertEqual(self.server.sql("SELECT to_regclass('pgvolley_events') IS NULL"), "t")
        # --drop twice: idempotent, and it leaves other tables alone
        for _ in range(2):
            r = self.init("--drop", "-q")
            self.assertEqual(r.code, 0, r.stderr)
            self.assertEqual(self.server.sql("SELECT count(*) FROM pgvolley_runs"), "100000")
        self.assertEqual(self.server.sql("SELECT count(*) FROM keep_me"), "1")

    def test_bad_options(self):
        for args in (["-s", "0"], ["-s", "10001"], ["-s", "x"], ["-s", ""], ["-j", "0"],
                     ["--bogus"], ["extra"], ["--seed", "-1"], ["--seed", "x"]):
            r = self.init(*args)
            self.assertEqual(r.code, 2, (args, r.stderr))
            self.assertIn("pgvolley init", r.stderr)
        r = self.pgvolley("init", "--help")
        self.assertEqual(r.code, 0)
        self.assertIn("--drop", r.stdout)

    def test_cannot_connect(self):
        r = self.pgvolley("init", "-d", "host=127.0.0.1 port=1 connect_timeout=2 "
                          "password=s3cret-pw")
        self.assertEqual(r.code, 3, r.stderr)
        self.assertIn("cannot connect", r.stderr)
        self.assertNotIn("s3cret-pw", r.stderr)

    def test_server_error_has_sqlstate(self):
        # a schema nobody may create in: 3F000 (no schema selected)
        self.server.sql("DROP TABLE IF EXISTS keep_me")
        r = self.pgvolley("init", "-d", self.server.dsn + " options='-csearch_path=nowhere'")
        self.assertEqual(r.code, 1, r.stderr)
        self.assertIn("SQLSTATE 3F000", r.stderr)

    def test_run_against_schema(self):
        self.ensure_loaded()
        f = self.write("lookup.sql",
                       "-- GENERATE: random(1, 100)\n-- EXEC_COUNT: 50\n"
                       "SELECT count(*) FROM pgvolley_runs WHERE tenant_id = %s "
                       "AND started_at > now() - interval '7 days';\n")
        rep = self.run_json("-c", "2", f)
        self.assertEqual(rep["summary"]["succeeded"], 50)
        self.assertEqual(rep["summary"]["failed"], 0)


if __name__ == "__main__":
    unittest.main()
