"""`pgvolley run` against a real throwaway PostgreSQL: counts, percentiles,
isolated failures, timeouts cancelled on the server, parallelism, sweeps,
formats, exit codes."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import (PGVOLLEY, ServerTest, children, running_backends,  # noqa: E402
                    scenario, wait_while_stopped)

CUSTOMER = """\
-- PARAMETERS: [[1, "AAAAAAAABAAAAAAA", 100], [2, "AAAAAAAACAAAAAAA", 50], [3, "AAAAAAAADAAAAAAA", 200], [4, "AAAAAAAAEAAAAAAA", 1000]]
-- EXEC_COUNT: 40

SELECT * FROM customer
WHERE c_customer_sk = %s
  AND c_customer_id = %s
LIMIT %s;
"""



class RunTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql(
            "CREATE TABLE customer (c_customer_sk int PRIMARY KEY, c_customer_id char(16));"
            "INSERT INTO customer SELECT g, 'AAAAAAAA' || chr(65 + g % 16) || 'AAAAAAA' "
            "FROM generate_series(1, 1000) g;"
            "CREATE TABLE sink (v int);")

    def wait_gone(self, like, timeout=20):
        """The number of active queries LIKE like once there are none (or
        after timeout seconds)."""
        sql = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
               f"AND query LIKE '{like}' AND pid <> pg_backend_pid()")
        deadline = time.monotonic() + timeout
        while self.server.sql(sql) != "0" and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.server.sql(sql)

    def check_latency(self, lat):
        self.assertLessEqual(lat["min"], lat["p50"])
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p95"])
        self.assertLessEqual(lat["p95"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["p999"])
        self.assertLessEqual(lat["p999"], lat["max"])
        self.assertGreater(lat["min"], 0)
        self.assertLessEqual(lat["min"], lat["avg"])
        self.assertLessEqual(lat["avg"], lat["max"])

    def test_counts_per_scenario(self):
        f = self.write("customer.sql", CUSTOMER)
        rep = self.run_json("-c", "10", "-j", "2", f)
        self.assertEqual(rep["schema"], "pgvolley.report/1")
        s = rep["summary"]
        self.assertEqual(s["executions"], 160)
        self.assertEqual(s["succeeded"], 160)
        self.assertEqual(s["failed"], 0)
        self.assertEqual(len(rep["queries"]), 1)
        q = rep["queries"][0]
        self.assertEqual(q["executions"], 160)
        self.assertEqual([x["name"] for x in q["scenarios"]],
                         ["scenario_1", "scenario_2", "scenario_3", "scenario_4"])
        for sc in q["scenarios"]:
            self.assertEqual(sc["executions"], 40)
            self.assertEqual(sc["succeeded"], 40)
            self.assertEqual(sc["rows"], 40)  # each key matches exactly one row
            self.check_latency(sc["latency_ms"])
        self.assertEqual(scenario(rep, 0, "scenario_2")["parameters"],
                         [2, "AAAAAAAACAAAAAAA", 50])
        self.check_latency(s["latency_ms"])
        self.assertAlmostEqual(s["speedup"], s["sum_latency_s"] / s["wall_s"], places=3)
        self.assertAlmostEqual(s["qps"], s["executions"] / s["wall_s"], delta=s["qps"] * 1e-3)
        self.assertEqual(rep["config"]["concurrency"], 10)
        self.assertEqual(rep["target"]["dbname"], "postgres")

    def test_exec_count_default_and_option(self):
        f = self.write("one.sql", "SELECT 1;\n")
        rep = self.run_json(f)
        self.assertEqual(rep["summary"]["executions"], 5)
        rep = self.run_json("--exec-count", "7", f)
        self.assertEqual(rep["summary"]["executions"], 7)

    def test_failures_isolated_with_sqlstate(self):
        f = self.write("div.sql", "-- PARAMETERS: [[1], [0], [2]]\n-- EXEC_COUNT: 6\n"
                       "SELECT 10 / %s::int;\n")
        g = self.write("ok.sql", "SELECT 1;\n")
        rep = self.run_json("-c", "4", f, g, expect=1)
        self.assertEqual(rep["summary"]["executions"], 18 + 5)
        self.assertEqual(rep["summary"]["failed"], 6)
        self.assertEqual(scenario(rep, 0, "scenario_1")["succeeded"], 6)
        bad = scenario(rep, 0, "scenario_2")
        self.assertEqual(bad["failed"], 6)
        self.assertEqual(bad["succeeded"], 0)
        self.assertEqual(bad["errors"][0]["sqlstate"], "22012")
        self.assertIn("division by zero", bad["errors"][0]["message"])
        self.assertEqual(scenario(rep, 0, "scenario_3")["failed"], 0)
        self.assertEqual(rep["queries"][1]["failed"], 0)
        self.assertEqual(rep["errors"], [{"sqlstate": "22012", "message": "division by zero",
                                          "count": 6}])

    def test_missing_table_fails_every_execution(self):
        f = self.write("missing.sql", "SELECT * FROM no_such_table;\n")
        for proto in ("prepared", "extended", "simple"):
            rep = self.run_json("--protocol", proto, f, expect=1)
            self.assertEqual(rep["summary"]["failed"], 5, proto)
            self.assertEqual(rep["errors"][0]["sqlstate"], "42P01", proto)

    def test_timeout_cancels_on_server(self):
        # queries that would sleep for 10 minutes, cancelled after 0.5 s: the
        # run's own clock (from its start, connected, to its last answer),
        # and the test's, which also counts start-up and connecting
        f = self.write("sleep.sql", "-- PARAMETERS: [[600]]\n-- EXEC_COUNT: 3\n"
                       "SELECT pg_sleep(%s) /* pgvolley-timeout-test */;\n")
        t0 = time.monotonic()
        rep = self.run_json("-c", "3", "--command-timeout", "0.5", f, expect=1)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertLess(rep["summary"]["wall_s"], 20)
        self.assertEqual(rep["summary"]["failed"], 3)
        self.assertEqual(rep["errors"][0]["sqlstate"], "57014")
        self.assertIn("timeout", rep["errors"][0]["message"])
        self.assertEqual(self.wait_gone("%pgvolley-timeout-test%"), "0")

    def test_connection_usable_after_timeout(self):
        # c=1 with one connection: the cancelled connection must serve the next query
        f = self.write("mix.sql", "-- PARAMETERS: [[5], [0]]\n-- EXEC_COUNT: 2\n"
                       "SELECT pg_sleep(%s);\n")
        rep = self.run_json("-c", "1", "--pool-size", "1", "--max-overflow", "0",
                            "--command-timeout", "0.3", f, expect=1)
        self.assertEqual(scenario(rep, 0, "scenario_1")["failed"], 2)
        self.assertEqual(scenario(rep, 0, "scenario_2")["succeeded"], 2)
        self.assertEqual(rep["pool"]["opened"], 1)

    def test_parallel_sleeps_beat_their_sum(self):
        f = self.write("sleeps.sql", "-- PARAMETERS: [[1], [1], [1], [1], [1], [1]]\n"
                       "-- EXEC_COUNT: 1\nSELECT pg_sleep(%s);\n")
        rep = self.run_json("-c", "6", f)
        s = rep["summary"]
        self.assertEqual(s["succeeded"], 6)
        self.assertGreaterEqual(s["sum_latency_s"], 6.0)
        # one after another: 6 s; at once: 1 s (the run's clock starts once
        # connected), and slack for a loaded machine
        self.assertLess(s["wall_s"], 3.0)
        self.assertGreater(s["speedup"], 2.0)

    def test_time_based_with_warmup(self):
        # a warm-up much longer than the run: the measured time is the run's
        # 0.5 s (and what a loaded machine adds), not 2.5 s with the warm-up
        f = self.write("t.sql", "-- PARAMETERS: [[1], [2]]\nSELECT %s::int;\n")
        t0 = time.monotonic()
        rep = self.run_json("-T", "0.5", "--warmup", "2", "-c", "2", f)
        elapsed = time.monotonic() - t0
        s = rep["summary"]
        self.assertGreater(s["executions"], 10)
        self.assertGreaterEqual(s["wall_s"], 0.45)
        self.assertLess(s["wall_s"], 1.5)
        self.assertGreaterEqual(elapsed, 2.45)  # the warm-up ran
        a = scenario(rep, 0, "scenario_1")["executions"]
        b = scenario(rep, 0, "scenario_2")["executions"]
        self.assertLessEqual(abs(a - b), 4)  # round-robin
        self.assertEqual(rep["config"]["mode"], "time")

    def test_sweep(self):
        f = self.write("s.sql", "-- EXEC_COUNT: 20\nSELECT 1;\n")
        rep = self.run_json("-c", "1,2,4", f)
        self.assertTrue(rep["sweep"])
        self.assertEqual([r["config"]["concurrency"] for r in rep["runs"]], [1, 2, 4])
        for r in rep["runs"]:
            self.assertEqual(r["summary"]["executions"], 20)
        t = self.pgvolley("run", "-q", "-c", "1,2,4", f)
        self.assertEqual(t.code, 0, t.stderr)
        self.assertIn("Concurrency", t.stdout)

    def test_formats_and_output_file(self):
        f = self.write("one.sql", "SELECT 1;\n")
        out = os.path.join(self.dir, "report.json")
        t = self.pgvolley("run", "-q", "-o", out, f)
        self.assertEqual(t.code, 0, t.stderr)
        for word in ("Executions", "p95", "Speedup", "Wall time", "Sequential time"):
            self.assertIn(word, t.stdout)
        with open(out) as fh:
            rep = json.load(fh)
        self.assertEqual(rep["summary"]["executions"], 5)
        m = self.pgvolley("run", "-q", "-f", "markdown", f)
        self.assertEqual(m.code, 0, m.stderr)
        self.assertIn("| ", m.stdout)
        self.assertIn("---", m.stdout)

    def test_bound_parameters_not_spliced(self):
        evil = "x'); INSERT INTO sink VALUES (666); --"
        f = self.write("inj.sql", "-- PARAMETERS: [[" + json.dumps(evil) + "]]\n"
                       "-- EXEC_COUNT: 1\nSELECT length(%s::text);\n")
        rep = self.run_json(f)
        self.assertEqual(rep["summary"]["succeeded"], 1)
        self.assertEqual(self.server.sql("SELECT count(*) FROM sink"), "0")

    def test_percent_s_in_literal_is_text(self):
        f = self.write("lit.sql", "-- PARAMETERS: [[\"a\"]]\n-- EXEC_COUNT: 1\n"
                       "SELECT '%s' || %s AS v, $$%s$$ AS w /* %s */;\n")
        rep = self.run_json(f)
        self.assertEqual(rep["summary"]["succeeded"], 1)
        self.assertEqual(rep["queries"][0]["parameters_count"], 1)

    def test_lost_connection_replaced(self):
        f = self.write("kill.sql", "-- EXEC_COUNT: 4\n"
                       "SELECT pg_terminate_backend(pg_backend_pid());\n")
        g = self.write("after.sql", "-- EXEC_COUNT: 3\nSELECT 1;\n")
        rep = self.run_json("-c", "1", f, g, expect=1)
        self.assertEqual(rep["queries"][0]["failed"], 4)
        self.assertEqual(rep["queries"][1]["succeeded"], 3)
        self.assertGreaterEqual(rep["pool"]["opened"], 5)
        self.assertIn(rep["errors"][0]["sqlstate"], ("57P01", "08006"))

    def test_retries_transient_errors(self):
        # every odd attempt kills its own backend (57P01): one retry each succeeds
        self.server.sql("CREATE SEQUENCE flaky")
        f = self.write("flaky.sql", "-- EXEC_COUNT: 4\n"
                       "SELECT CASE WHEN nextval('flaky') % 2 = 1 "
                       "THEN pg_terminate_backend(pg_backend_pid())::int ELSE 1 END;\n")
        rep = self.run_json("-c", "1", "--retries", "1", f)
        s = rep["summary"]
        self.assertEqual((s["executions"], s["succeeded"], s["failed"]), (4, 4, 0))
        self.assertEqual(s["retries"], 4)
        self.assertEqual(rep["config"]["retries"], 1)
        # a permanent error is not retried; a transient one gives up after N tries
        g = self.write("kill.sql", "-- EXEC_COUNT: 2\n"
                       "SELECT pg_terminate_backend(pg_backend_pid());\n")
        h = self.write("div.sql", "-- EXEC_COUNT: 2\nSELECT 1/0;\n")
        rep = self.run_json("-c", "1", "--retries", "2", g, h, expect=1)
        self.assertEqual(rep["queries"][0]["failed"], 2)
        self.assertEqual(rep["queries"][0]["retries"], 4)
        self.assertEqual(rep["queries"][1]["failed"], 2)
        self.assertEqual(rep["queries"][1]["retries"], 0)

    def test_large_results_streamed(self):
        f = self.write("big.sql", "-- EXEC_COUNT: 3\n"
                       "SELECT g, repeat('x', 50) FROM generate_series(1, 300000) g;\n")
        rep = self.run_json("-c", "1", f)
        self.assertEqual(rep["summary"]["rows"], 900000)
        self.assertEqual(rep["summary"]["succeeded"], 3)

    def test_pipeline_counts_and_throughput_shape(self):
        f = self.write("pl.sql", CUSTOMER)
        rep = self.run_json("-c", "10", "-j", "2", "--pipeline", "5", f)
        self.assertEqual(rep["summary"]["executions"], 160)
        self.assertEqual(rep["summary"]["succeeded"], 160)
        self.assertEqual(rep["config"]["pipeline"], 5)
        self.assertLessEqual(rep["pool"]["opened"], 2)  # 10 in flight over 2 pipelines
        for sc in rep["queries"][0]["scenarios"]:
            self.assertEqual(sc["rows"], 40)
            self.check_latency(sc["latency_ms"])

    def test_pipeline_error_aborts_the_rest_and_recovers(self):
        # one connection, pipelines of 4: [s1 x4] [s1 s1 s2 s2] [s2 x4]
        f = self.write("plerr.sql", "-- PARAMETERS: [[0], [1]]\n-- EXEC_COUNT: 6\n"
                       "SELECT 10 / %s::int;\n")
        rep = self.run_json("-c", "4", "-j", "1", "--pipeline", "4", f, expect=1)
        s1 = scenario(rep, 0, "scenario_1")
        s2 = scenario(rep, 0, "scenario_2")
        self.assertEqual(s1["failed"], 6)
        self.assertEqual({e["sqlstate"]: e["count"] for e in s1["errors"]},
                         {"22012": 2, "PV003": 4})
        self.assertEqual((s2["succeeded"], s2["failed"]), (4, 2))
        self.assertEqual(s2["errors"][0]["sqlstate"], "PV003")
        self.assertEqual(rep["pool"]["opened"], 1)
        r = self.pgvolley("run", "--pipeline", "2", "--protocol", "simple",
                          self.write("x.sql", "SELECT 1;\n"))
        self.assertEqual(r.code, 2)

    def test_pipeline_aborted_by_transient_error_is_retried(self):
        # [flaky(1) 0 0 0] in one pipeline: flaky(1) fails once with 40001,
        # which aborts the three behind it (PV003). They never ran, so with
        # --retries they are sent again, and everything succeeds.
        self.server.sql("DROP SEQUENCE IF EXISTS flaky_seq; CREATE SEQUENCE flaky_seq;"
                        "CREATE OR REPLACE FUNCTION flaky(int) RETURNS int LANGUAGE plpgsql AS $$"
                        "BEGIN IF $1 = 1 AND nextval('flaky_seq') = 1 THEN"
                        " RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END IF;"
                        " RETURN $1; END $$")
        f = self.write("flaky.sql", "-- PARAMETERS: [[1], [0], [2], [3]]\n-- EXEC_COUNT: 1\n"
                       "SELECT flaky(%s::int);\n")
        rep = self.run_json("-c", "4", "-j", "1", "--pipeline", "4", "--retries", "2", f)
        self.assertEqual(rep["summary"]["failed"], 0, rep["errors"])
        self.assertEqual(rep["summary"]["succeeded"], 4)
        self.assertEqual(sum(s["retries"] for s in rep["queries"][0]["scenarios"]), 4)
        # without --retries: one 40001 and three PV003, as before
        self.server.sql("ALTER SEQUENCE flaky_seq RESTART")
        rep = self.run_json("-c", "4", "-j", "1", "--pipeline", "4", f, expect=1)
        self.assertEqual({e["sqlstate"]: e["count"] for e in rep["errors"]},
                         {"40001": 1, "PV003": 3})

    def test_pipelines_merge_back_after_a_fault(self):
        # -c 20 --pipeline 10 on one thread wants 2 connections. Backends
        # terminated once mid-run: the replacements must not split the
        # pipelines for the rest of the run (issue 9, defect 4)
        f = self.write("pl.sql", "-- PARAMETERS: [[0], [0.001]]\n"
                       "SELECT pg_sleep(%s::float8);\n")
        p = subprocess.Popen([PGVOLLEY, "run", "-q", "-f", "json", "-d", self.server.dsn,
                              "-c", "20", "-j", "1", "--pipeline", "10", "--retries", "3",
                              "-T", "3", f],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)  # a no-op once it has ended
        # mid-run: once it runs its queries (a loaded machine can take seconds to connect)
        self.wait_executed("SELECT pg_sleep(%")
        killed = self.server.sql("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE backend_type = 'client backend' "
                                 "AND pid <> pg_backend_pid()")
        killed = ",".join(row.split("|")[0] for row in killed.split()) or "0"
        time.sleep(1.0)
        # the replacements (a terminated backend may take a moment to go)
        conns = int(self.server.sql("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE backend_type = 'client backend' "
                                    f"AND pid <> pg_backend_pid() AND pid NOT IN ({killed})"))
        out, err = p.communicate(timeout=30)
        self.assertIn(p.returncode, (0, 1), err)
        rep = json.loads(out)
        self.assertEqual(rep["summary"]["failed"], 0, rep["errors"])
        self.assertLessEqual(conns, 2)  # a second after the fault
        self.assertLessEqual(rep["pool"]["max_in_use"], 2)

    def test_concurrency_above_what_the_server_accepts(self):
        # the server accepts 5 connections for this role and refuses the rest
        # (53300): the run keeps to the 5, backs off before trying again, and
        # no execution fails because a connection was refused (issue 9, 7).
        # With 4 threads, some get none of the 5: their executions go to the
        # threads that have connections
        self.server.sql("DROP ROLE IF EXISTS limited; "
                        "CREATE ROLE limited LOGIN CONNECTION LIMIT 5")
        dsn = self.server.dsn.replace("user=postgres", "user=limited")
        f = self.write("lim.sql", "-- PARAMETERS: [[0.001], [0.002]]\n-- EXEC_COUNT: 500\n"
                       "SELECT pg_sleep(%s::float8);\n")
        for threads, c, more in (("1", "20", []), ("4", "40", []), ("4", "40", ["-T", "1.5"])):
            with self.subTest(threads=threads, more=more):
                # the previous run's backends count against the limit until
                # they have exited (tens of ms each on a loaded machine): with
                # all 5 still there, every connection is refused, and with
                # none open anywhere the run fails an execution
                deadline = time.monotonic() + 30
                while (self.server.sql("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE usename = 'limited'") != "0"
                       and time.monotonic() < deadline):
                    time.sleep(0.05)
                r = self.pgvolley("run", "-q", "-f", "json", "-d", dsn, "-c", c, "-j", threads,
                                  *more, f, dsn=False, timeout=60)
                self.assertEqual(r.code, 0, r.stderr)
                rep = r.json()
                self.assertEqual(rep["summary"]["failed"], 0)
                if not more:
                    self.assertEqual(rep["summary"]["succeeded"], 1000)
                self.assertEqual(rep["errors"], [])
                pool = rep["pool"]
                self.assertGreater(pool["connect_failed"], 0)
                # never above the limit (several threads connecting at once may
                # each be refused, so briefly below it)
                self.assertIn(pool["max_open"], (3, 4, 5), pool)
                self.assertEqual(pool["wanted"], int(c))
                self.assertEqual(r.stderr.count(f"the server accepted {pool['max_open']} of {c} "
                                                "connections"), 1, r.stderr)
                # backed off: the first attempts at once (one per connection
                # wanted), then well under one per execution (a loaded
                # machine's slower run makes more of them, 50 ms to 500 ms
                # apart: a count fixed in advance would time the machine)
                self.assertLess(pool["connect_failed"],
                                int(c) + rep["summary"]["executions"] / 4, pool)

    def test_prepared_statement_gone_stops_the_run(self):
        # what a pooler in transaction mode does to --protocol prepared,
        # without one: the statement vanishes between executions (DEALLOCATE
        # ALL in the round robin). The run stops at the first 26000 with the
        # reason, instead of failing every execution after it
        a = self.write("a.sql", "-- PARAMETERS: [[1], [2]]\nSELECT %s::int;\n")
        b = self.write("b.sql", "DEALLOCATE ALL;\n")
        # a run of 2 minutes, stopped at once: its own clock, and the test's
        # (start-up and connecting too)
        t0 = time.monotonic()
        r = self.pgvolley("run", "-q", "-f", "json", "-c", "1", "-j", "1", "-T", "120", a, b,
                          timeout=180)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertEqual(r.code, 1, r.stderr)
        rep = r.json()
        self.assertLess(rep["summary"]["wall_s"], 20)
        self.assertIn("--protocol extended", rep["aborted"])
        self.assertFalse(rep["interrupted"])
        self.assertEqual([(e["sqlstate"], e["count"]) for e in rep["errors"]], [("26000", 1)])
        self.assertIn("the run stopped", r.stderr)
        r = self.pgvolley("run", "-q", "-f", "json", "-c", "1", "-j", "1", "-T", "0.5",
                          "--protocol", "extended", a, b)
        self.assertEqual(r.code, 0, r.stderr)
        self.assertIsNone(r.json()["aborted"])

    def test_pipeline_timeout_cancels(self):
        # queries that would sleep for 10 minutes (see test_timeout_cancels_on_server)
        f = self.write("plsleep.sql", "-- PARAMETERS: [[600]]\n-- EXEC_COUNT: 4\n"
                       "SELECT pg_sleep(%s) /* pgvolley-pipeline-timeout */;\n")
        t0 = time.monotonic()
        rep = self.run_json("-c", "4", "-j", "1", "--pipeline", "4", "--command-timeout", "0.5",
                            f, expect=1)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertLess(rep["summary"]["wall_s"], 20)
        self.assertEqual(rep["summary"]["failed"], 4)
        codes = {e["sqlstate"]: e["count"] for e in rep["errors"]}
        self.assertEqual(codes.get("57014"), 1)
        self.assertEqual(codes.get("PV003"), 3)
        self.assertEqual(self.wait_gone("%pgvolley-pipeline-timeout%"), "0")

    def test_progress_lines_and_quiet(self):
        f = self.write("p.sql", "SELECT 1;\n")
        r = self.pgvolley("run", "-f", "json", "-T", "1.2", "-c", "2", "--progress", "0.3", f)
        self.assertEqual(r.code, 0, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.startswith("progress: c=2 ")]
        self.assertGreaterEqual(len(lines), 2, r.stderr)
        self.assertRegex(lines[-1], r"executions, [\d.]+ q/s, 0 errors$")
        self.assertNotIn("\r", r.stderr)  # no bar when stderr is not a terminal
        json.loads(r.stdout)  # progress never mixes into stdout
        q = self.pgvolley("run", "-q", "-f", "json", "-T", "0.5", "--progress", "0.1", f)
        self.assertEqual(q.stderr, "")

    def test_pool_timeout(self):
        f = self.write("slow.sql", "-- PARAMETERS: [[1]]\n-- EXEC_COUNT: 3\n"
                       "SELECT pg_sleep(%s);\n")
        rep = self.run_json("-c", "3", "-j", "1", "--pool-size", "1", "--max-overflow", "0",
                            "--pool-timeout", "0.3", f, expect=1)
        self.assertEqual(rep["summary"]["succeeded"], 1)
        self.assertEqual(rep["summary"]["failed"], 2)
        self.assertEqual(rep["errors"][0]["sqlstate"], "PV001")
        self.assertEqual(rep["pool"]["timeouts"], 2)

    def test_password_never_printed(self):
        uri = self.server.uri.replace("postgres@", "postgres:s3cretPW@")
        f = self.write("one.sql", "SELECT 1;\n")
        for fmt in ("json", "table", "markdown"):
            r = self.pgvolley("run", "-d", uri, "-f", fmt, "--progress", "0.1", f, dsn=False)
            self.assertEqual(r.code, 0, r.stderr)
            self.assertNotIn("s3cretPW", r.stdout + r.stderr)
        bad = uri.replace("127.0.0.1", "127.0.0.1:1").split("@")[0] + "@127.0.0.1:1/x"
        r = self.pgvolley("run", "-d", bad, f, dsn=False)
        self.assertEqual(r.code, 3)
        self.assertNotIn("s3cretPW", r.stdout + r.stderr)

    def test_cannot_connect_exit_3(self):
        f = self.write("one.sql", "SELECT 1;\n")
        r = self.pgvolley("run", "-d", "host=127.0.0.1 port=1 connect_timeout=2", f, dsn=False)
        self.assertEqual(r.code, 3)
        self.assertIn("cannot connect", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_simple_protocol_refuses_parameters(self):
        f = self.write("p.sql", "-- PARAMETERS: [[1]]\nSELECT %s;\n")
        r = self.pgvolley("run", "--protocol", "simple", f)
        self.assertEqual(r.code, 2)
        self.assertIn("p.sql", r.stderr)
        g = self.write("q.sql", "SELECT 1;\n")
        rep = self.run_json("--protocol", "simple", g)
        self.assertEqual(rep["summary"]["succeeded"], 5)
        rep = self.run_json("--protocol", "extended", f)
        self.assertEqual(rep["summary"]["succeeded"], 5)

    def test_timeouts_racing_completions(self):
        # Queries that end just as their timeout passes: the cancel request is
        # still queued when the result arrives. The connection must wait for
        # it (a late cancel would hit its next query) and a second cancel must
        # not be queued on the same request: that used to hang or crash.
        f = self.write("race.sql", "-- PARAMETERS: [[0.049], [0.0], [0.0], [0.0]]\n"
                       "-- EXEC_COUNT: 500\nSELECT pg_sleep(%s::float8);\n")
        # 500 races in one run (each cancel request is a fork of the server)
        rep = self.run_json("-c", "100", "-j", "2", "--command-timeout", "0.05", f,
                            expect=1, timeout=60)
        self.assertEqual(rep["summary"]["executions"], 2000)
        self.assertGreater(rep["queries"][0]["scenarios"][0]["failed"], 0)
        # every failure is a query that passed its own timeout; a stray
        # cancel would fail a query with the server's "canceling statement
        # due to user request" instead
        for e in rep["errors"]:
            self.assertEqual(e["sqlstate"], "57014")
            self.assertTrue(e["message"].startswith("command timeout after 0.05 s"),
                            e["message"])

    def test_pipeline_copy_out_fails_and_ends(self):
        # COPY TO STDOUT inside a pipeline used to spin for ever
        f = self.write("copy.sql", "-- EXEC_COUNT: 10\nCOPY (SELECT 1) TO STDOUT;\n")
        rep = self.run_json("-c", "2", "--pipeline", "5", f, expect=1, timeout=60)
        self.assertEqual(rep["summary"]["executions"], 10)
        self.assertEqual(rep["summary"]["failed"], 10)
        self.assertIn("0A000", {e["sqlstate"] for e in rep["errors"]})

    def test_second_host_after_refused_first(self):
        # libpq moves to the next host on a new socket that can reuse the
        # refused one's descriptor number; it must still be watched
        port = re.search(r"port=(\d+)", self.server.dsn).group(1)
        dsn = f"host=127.0.0.2,127.0.0.1 port={port} user=postgres dbname=postgres"
        f = self.write("two.sql", "-- EXEC_COUNT: 20\nSELECT 1;\n")
        r = self.pgvolley("run", "-q", "-f", "json", "-d", dsn, "-c", "4",
                          "--connect-timeout", "5", f, dsn=False, timeout=60)
        self.assertEqual(r.code, 0, r.stderr)
        rep = r.json()
        self.assertEqual(rep["summary"]["succeeded"], 20)
        self.assertGreater(rep["pool"]["opened"], 0)

    def test_backends_killed_during_run(self):
        # connections the server closes while idle or parked are replaced
        # for the executions waiting: no stall, no pool timeouts
        f = self.write("kill.sql", "-- PARAMETERS: [[0.005], [0.02], [0.0]]\n"
                       "SELECT pg_sleep(%s::float8);\n")
        stop = threading.Event()

        def killer():
            while not stop.is_set():
                try:
                    self.server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE backend_type = 'client backend' "
                                    "AND pid <> pg_backend_pid()")
                except Exception:  # noqa: BLE001 - the killer only has to keep going
                    pass
                stop.wait(0.05)

        t = threading.Thread(target=killer)
        t.start()
        try:
            for pipeline in ("1", "4"):
                # a stall would hold the executions waiting for a connection
                # until the minute's pool timeout
                t0 = time.monotonic()
                r = self.pgvolley("run", "-q", "-f", "json", "-c", "12", "-j", "3", "-T", "2",
                                  "--retries", "2", "--command-timeout", "0.015",
                                  "--pool-timeout", "60", "--pipeline", pipeline, f, timeout=120)
                self.assertLess(time.monotonic() - t0, 20)
                self.assertIn(r.code, (0, 1), r.stderr)
                rep = r.json()
                self.assertGreater(rep["summary"]["executions"], 0)
                states = {e["sqlstate"] for e in rep["errors"]}
                self.assertNotIn("PV001", states)
                for e in rep["errors"]:  # text, not freed memory
                    self.assertTrue(e["message"].isprintable(), e["message"])
        finally:
            stop.set()
            t.join()

    def wait_for_server(self):
        """After a backend crash the server restarts its backends: wait."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.server.sql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        self.fail("the server did not come back")

    def test_terminated_backends_report_the_servers_error(self):
        """Backends told to quit at once (SIGQUIT, as an immediate shutdown
        sends) say why in a warning before they close the connection: the
        execution fails with that reason, not with 08006."""
        # queries that would sleep for minutes: all of them run when the
        # backends are told to quit (a loaded machine can take seconds to
        # connect them)
        f = self.write("long.sql", "SELECT pg_sleep(300);\n")
        for pipeline in ("1", "2"):
            p = subprocess.Popen([PGVOLLEY, "run", "-q", "-f", "json", "-d", self.server.dsn,
                                  "-c", "4", "-j", "2", "--exec-count", "4",
                                  "--pipeline", pipeline, f],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.addCleanup(p.kill)  # a no-op once it has ended
            n = 4 if pipeline == "1" else 2  # one backend per pipeline
            pids = self.server.backends("SELECT pg_sleep(300)%", n, timeout=30)
            self.assertEqual(len(pids), n)
            # SIGQUIT, as an immediate shutdown sends: each backend sends its
            # FATAL and exits at once (and the server restarts the others)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGQUIT)
                except ProcessLookupError:
                    pass  # the server already stopped it after the first one
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 1, err)
            rep = json.loads(out)
            self.assertEqual(rep["summary"]["failed"], 4)
            # the server's reason (57P01 for the backend told to quit, 57P02
            # for those the server then stops), never 08006
            self.assertEqual(sum(e["count"] for e in rep["errors"]), 4)
            for e in rep["errors"]:
                self.assertIn(e["sqlstate"], ("57P01", "57P02"), rep["errors"])
                self.assertIn("terminating connection", e["message"])
            self.wait_for_server()

    def test_cancel_never_answered_does_not_hang(self):
        """Backends and postmaster stopped (SIGSTOP): the command timeout's
        cancel request is never answered. The run still ends after the
        timeout and the grace period, and writes its report (PV002)."""
        f = self.write("stuck.sql", "SELECT pg_sleep(20);\n")
        postmaster = self.server.postmaster_pid()
        before = children(postmaster)
        p = subprocess.Popen([PGVOLLEY, "run", "-q", "-f", "json", "-d", self.server.dsn,
                              "-c", "2", "--exec-count", "2", "--command-timeout", "1", f],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)  # a no-op once it has ended
        # frozen within the 1 s the timeout leaves
        backends = running_backends(postmaster, 2, before)
        self.assertEqual(len(backends), 2)
        out, err, elapsed = wait_while_stopped(p, [postmaster] + backends, 60)
        self.assertEqual(p.returncode, 1, err)
        # 1 s timeout + 5 s grace, and slack for a loaded machine (a run that
        # waits for the cancel's answer never ends: the 60 s above)
        self.assertLess(elapsed, 30)
        rep = json.loads(out)
        self.assertEqual(rep["summary"]["failed"], 2)
        self.assertEqual([e["sqlstate"] for e in rep["errors"]], ["PV002"])

    def thread_cpus(self, pid):
        """{tid: allowed CPUs} of pid's threads other than the main one."""
        out = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            if int(tid) == pid:
                continue
            out[int(tid)] = os.sched_getaffinity(int(tid))
        return out

    def test_pin_threads(self):
        # the 0.2 s sleeps time out: their cancels start the cancel threads,
        # which must not inherit a worker's single CPU
        f = self.write("pin.sql", "-- PARAMETERS: [[0], [0.2]]\nSELECT pg_sleep(%s::float8);\n")
        allowed = os.sched_getaffinity(0)
        for pin in (True, False):
            args = [PGVOLLEY, "run", "-q", "-d", self.server.dsn, "-c", "4", "-j", "2",
                    "-T", "2", "--command-timeout", "0.05", "-f", "json"]
            args += (["--pin-threads"] if pin else []) + [f]
            p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
            # the workers and the cancel threads are there once a query has
            # timed out (a loaded machine can take seconds to get that far),
            # and pinned workers once each has pinned itself
            cpus = {}
            pinned = lambda: sum(1 for c in cpus.values() if len(c) == 1)  # noqa: E731
            deadline = time.monotonic() + 20
            while ((len(cpus) <= 2 or (pin and len(allowed) > 1 and pinned() < 2))
                   and p.poll() is None and time.monotonic() < deadline):
                time.sleep(0.05)
                try:
                    cpus = self.thread_cpus(p.pid)
                except (FileNotFoundError, ProcessLookupError):
                    break  # it ended meanwhile
            stdout, _ = p.communicate(timeout=20)
            self.assertEqual(p.returncode, 1)  # the timeouts
            self.assertGreater(len(cpus), 2)  # the workers and the cancel threads
            rep = json.loads(stdout)
            self.assertIs(rep["config"]["pinned_threads"], pin)
            self.assertGreater(rep["summary"]["executions"], 0)
            single = sorted(next(iter(c)) for c in cpus.values() if len(c) == 1)
            if pin:
                # the two workers, each on its own allowed CPU (in order, modulo their number)
                want = sorted(sorted(allowed)[i % len(allowed)] for i in range(2))
                self.assertEqual(single if len(allowed) > 1 else want, want)
            elif len(allowed) > 1:
                self.assertEqual(single, [])
                self.assertTrue(all(c == allowed for c in cpus.values()))

    def test_interrupt_writes_partial_report(self):
        f = self.write("long.sql", "-- PARAMETERS: [[0.2]]\n-- EXEC_COUNT: 1000\n"
                       "SELECT pg_sleep(%s);\n")
        out = os.path.join(self.dir, "partial.json")
        p = subprocess.Popen([PGVOLLEY, "run", "-q", "-d", self.server.dsn, "-c", "2",
                              "-f", "json", "-o", out, f],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)  # a no-op once it has ended
        self.wait_executed("SELECT pg_sleep(%")  # some executions done (of 100 s of them)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        stdout, _ = p.communicate(timeout=60)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(p.returncode, 130)
        rep = json.loads(stdout)
        self.assertTrue(rep["interrupted"])
        self.assertGreater(rep["summary"]["executions"], 0)
        self.assertLess(rep["summary"]["executions"], 1000)
        self.assertEqual(rep["summary"]["failed"], 0)  # cancelled ones are not counted
        with open(out) as fh:
            self.assertTrue(json.load(fh)["interrupted"])


class EphemeralRunTest(unittest.TestCase):
    def test_run_ephemeral(self):
        import tempfile
        with tempfile.TemporaryDirectory(prefix="pvtest-") as d:
            f = os.path.join(d, "one.sql")
            with open(f, "w") as fh:
                fh.write("-- EXEC_COUNT: 3\nSELECT version();\n")
            cp = subprocess.run([PGVOLLEY, "run", "--ephemeral", "-q", "-f", "json", f],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        rep = json.loads(cp.stdout)
        self.assertEqual(rep["summary"]["succeeded"], 3)
        self.assertTrue(rep["target"]["server_version"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
