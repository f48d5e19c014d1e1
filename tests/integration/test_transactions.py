"""Transactions and weighted mixes (issue 10, item 4).

A file may hold a transaction: its statements run in order on one
connection, timed as a whole and each on its own; a failure rolls it back
and counts once with its SQLSTATE; serialization failures are retried with
--retries. `-- WEIGHT: N` and FILE@N set each file's share of a time-based
run.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from pvtest import PGVOLLEY, ServerTest, find_pg_program

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


TPCB = """-- GENERATE: random(1, 1000), random(1, 10), random(1, 1), random(-5000, 5000)
BEGIN;
UPDATE tx_accounts SET abalance = abalance + $4 WHERE aid = $1;
SELECT abalance FROM tx_accounts WHERE aid = $1;
UPDATE tx_tellers SET tbalance = tbalance + $4 WHERE tid = $2;
UPDATE tx_branches SET bbalance = bbalance + $4 WHERE bid = $3;
INSERT INTO tx_history (tid, bid, aid, delta) VALUES ($2, $3, $1, $4);
END;
"""


class TransactionTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.server.sql(
            "DROP TABLE IF EXISTS tx_accounts, tx_tellers, tx_branches, tx_history, tx_counter; "
            "CREATE TABLE tx_accounts (aid int PRIMARY KEY, abalance int NOT NULL DEFAULT 0); "
            "CREATE TABLE tx_tellers (tid int PRIMARY KEY, tbalance int NOT NULL DEFAULT 0); "
            "CREATE TABLE tx_branches (bid int PRIMARY KEY, bbalance int NOT NULL DEFAULT 0); "
            "CREATE TABLE tx_history (tid int, bid int, aid int, delta int); "
            "CREATE TABLE tx_counter (id int PRIMARY KEY, v int NOT NULL); "
            "INSERT INTO tx_accounts (aid) SELECT generate_series(1, 1000); "
            "INSERT INTO tx_tellers (tid) SELECT generate_series(1, 10); "
            "INSERT INTO tx_branches VALUES (1, 0); INSERT INTO tx_counter VALUES (1, 0)")

    def test_tpcb_like_is_consistent(self):
        f = self.write("tpcb.sql", TPCB)
        rep = self.run_json("-c", "4", "-T", "2", "--retries", "10", "--seed", "7", f)
        s = rep["summary"]
        self.assertGreater(s["executions"], 100)
        self.assertEqual(s["failed"], 0, rep["errors"])
        # every counted transaction committed once, and all of it
        hist, delta = self.server.sql("SELECT count(*), coalesce(sum(delta), 0) "
                                      "FROM tx_history").split("|")
        self.assertEqual(int(hist), s["executions"])
        for table, col in (("tx_accounts", "abalance"), ("tx_tellers", "tbalance"),
                           ("tx_branches", "bbalance")):
            self.assertEqual(self.server.sql(f"SELECT sum({col}) FROM {table}"), delta)
        q = rep["queries"][0]
        self.assertEqual(len(q["statements"]), 7)
        self.assertEqual([st["added"] for st in q["statements"]], [False] * 7)
        self.assertTrue(q["statements"][1]["sql"].startswith("UPDATE tx_accounts"))
        for st in q["statements"]:
            self.assertEqual(st["executions"], s["executions"])
        # the whole takes at least as long as its slowest statement
        self.assertGreaterEqual(q["latency_ms"]["max"],
                                max(st["latency_ms"]["max"] for st in q["statements"]))
        self.assertEqual(q["parameters_count"], 4)

    def test_failure_rolls_back_and_counts_once(self):
        f = self.write("div.sql", "-- PARAMETERS: [[1], [0]]\n-- EXEC_COUNT: 50\n"
                       "-- TRANSACTION\n"
                       "UPDATE tx_counter SET v = v + 1 WHERE id = 1;\n"
                       "SELECT 1 / %s;\n")
        rep = self.run_json("-c", "3", f, expect=1)
        s = rep["summary"]
        self.assertEqual((s["executions"], s["failed"]), (100, 50))
        # only the division's error: no 25P02 (a connection handed on inside
        # the aborted transaction)
        self.assertEqual([(e["sqlstate"], e["count"]) for e in rep["errors"]], [("22012", 50)])
        # the failed half rolled back its update
        self.assertEqual(self.server.sql("SELECT v FROM tx_counter"), "50")
        st = rep["queries"][0]["statements"]
        self.assertEqual([x["added"] for x in st], [True, False, False, True])
        self.assertEqual([x["sql"] for x in (st[0], st[3])], ["BEGIN", "COMMIT"])
        self.assertEqual(st[2]["failed"], 50)
        self.assertEqual(st[3]["executions"], 50)  # the failed ones never reach COMMIT
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"), "0")

    def test_first_statement_fails(self):
        # BEGIN travels with the first statement: when that one fails, the
        # transaction is rolled back and the rest never runs
        f = self.write("first.sql", "-- PARAMETERS: [[1], [0]]\n-- EXEC_COUNT: 50\n"
                       "-- TRANSACTION\n"
                       "SELECT 1 / %s;\n"
                       "UPDATE tx_counter SET v = v + 1 WHERE id = 1;\n")
        for extra in ((), ("--separate-begin",)):
            with self.subTest(extra=extra):
                self.server.sql("UPDATE tx_counter SET v = 0")
                rep = self.run_json("-c", "2", *extra, f, expect=1)
                s = rep["summary"]
                self.assertEqual((s["executions"], s["failed"]), (100, 50))
                self.assertEqual([(e["sqlstate"], e["count"]) for e in rep["errors"]],
                                 [("22012", 50)])
                self.assertEqual(self.server.sql("SELECT v FROM tx_counter"), "50")
                st = rep["queries"][0]["statements"]
                self.assertEqual([x["failed"] for x in st], [0, 50, 0, 0])
                self.assertEqual([x["executions"] for x in st], [100, 100, 50, 50])
                self.assertEqual(rep["config"]["separate_begin"], bool(extra))
                self.assertEqual(self.server.sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE state LIKE 'idle in transaction%'"), "0")

    def test_begin_goes_with_first_statement(self):
        self.assertIsNotNone(shutil.which("strace"), "strace (scripts/deps.sh installs it)")
        # one connection, 200 transactions of 4 statements: 800 round trips
        # with --separate-begin, 600 when BEGIN goes with the UPDATE (the
        # first transaction prepares its statements one at a time); counted
        # as the client's sendto calls
        f = self.write("t.sql", "-- EXEC_COUNT: 200\nBEGIN;\n"
                       "UPDATE tx_counter SET v = v + 1 WHERE id = 1;\n"
                       "SELECT v FROM tx_counter WHERE id = 1;\nCOMMIT;\n")
        trace = os.path.join(self.dir, "trace")

        def sends(*extra):
            cmd = ["strace", "-f", "-e", "trace=sendto", "-o", trace, PGVOLLEY, "run", "-q",
                   "-d", self.server.dsn, "-c", "1", *extra, f]
            # LeakSanitizer cannot run under ptrace (the ASan build): off here only
            env = dict(os.environ)
            env["ASAN_OPTIONS"] = ":".join(filter(None, (env.get("ASAN_OPTIONS"),
                                                         "detect_leaks=0")))
            cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(cp.returncode, 0, cp.stderr)
            with open(trace) as t:
                return sum(1 for line in t if "sendto(" in line)

        paired, separate = sends(), sends("--separate-begin")
        print(f"sendto calls: {paired} with BEGIN paired, {separate} separate")
        self.assertGreaterEqual(separate, 800)
        self.assertGreaterEqual(separate - paired, 190, (paired, separate))
        self.assertEqual(self.server.sql("SELECT v FROM tx_counter"), "400")

    def test_serialization_failures_retried(self):
        f = self.write("ser.sql", "-- EXEC_COUNT: 300\n"
                       "BEGIN ISOLATION LEVEL REPEATABLE READ;\n"
                       "SELECT v FROM tx_counter WHERE id = 1;\n"
                       "UPDATE tx_counter SET v = v + 1 WHERE id = 1;\n"
                       "COMMIT;\n")
        rep = self.run_json("-c", "6", "--retries", "100", f)
        s = rep["summary"]
        self.assertEqual((s["executions"], s["failed"]), (300, 0))
        self.assertGreater(s["retries"], 0)  # they did collide
        self.assertEqual(self.server.sql("SELECT v FROM tx_counter"), "300")
        # without retries the collisions are failures, counted once each
        rep = self.run_json("-c", "6", f, expect=1)
        s = rep["summary"]
        self.assertGreater(s["failed"], 0)
        self.assertEqual({e["sqlstate"] for e in rep["errors"]}, {"40001"})
        self.assertEqual(self.server.sql("SELECT v FROM tx_counter"), str(300 + s["succeeded"]))

    def test_interrupted_transaction_leaves_nothing_open(self):
        f = self.write("slow.sql", "-- EXEC_COUNT: 100\nBEGIN;\n"
                       "UPDATE tx_counter SET v = v + 1 WHERE id = 1;\n"
                       "SELECT pg_sleep(0.3);\nCOMMIT;\n")
        p = subprocess.Popen([PGVOLLEY, "run", "-q", "-f", "json", "-d", self.server.dsn,
                              "-c", "1", f], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 130, err)
        rep = json.loads(out)
        done = rep["summary"]["executions"]
        time.sleep(0.3)
        # the one transaction in flight (-c 1) is not counted, but may have
        # committed: Ctrl-C can come while its COMMIT is on the way
        self.assertIn(int(self.server.sql("SELECT v FROM tx_counter")), (done, done + 1))
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%tx_counter%' "
            "AND pid <> pg_backend_pid()"), "0")

    def test_protocols(self):
        f = self.write("tpcb.sql", TPCB)
        for proto in ("extended", "prepared"):
            with self.subTest(protocol=proto):
                rep = self.run_json("-c", "2", "-T", "0.5", "--protocol", proto, f)
                self.assertEqual(rep["summary"]["failed"], 0, rep["errors"])
        g = self.write("plain.sql", "-- TRANSACTION\nSELECT 1;\nSELECT 2;\n")
        rep = self.run_json("-c", "2", "--protocol", "simple", g)
        self.assertEqual(rep["summary"]["succeeded"], 5)

    def test_bad_transaction_files(self):
        cases = [("SELECT 1; SELECT 2;", "2 statements; a workload file holds one statement"),
                 ("-- TRANSACTION\nBEGIN; SELECT 1; COMMIT;", "-- TRANSACTION and a BEGIN"),
                 ("BEGIN; SELECT %s; SELECT $1; COMMIT;", "one placeholder style")]
        for text, msg in cases:
            with self.subTest(text=text):
                r = self.pgvolley("run", "-q", self.write("bad.sql", text))
                self.assertEqual(r.code, 2, r.stderr)
                self.assertIn(msg, r.stderr)
        r = self.pgvolley("run", "-q", "--pipeline", "4", self.write("t.sql", TPCB))
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn("a transaction cannot run with --pipeline", r.stderr)

    def test_examples_on_pgbench_tables(self):
        """examples/tpcb_like/tpcb.sql and examples/account_lookup_sampled.sql,
        mixed 1 to 9 at a rate, on the tables `pgbench -i` creates: as the
        README runs them."""
        subprocess.run([find_pg_program("pgbench"), "-i", "-s", "1", "-q", self.server.dsn], check=True,
                       capture_output=True, timeout=120)
        tpcb = os.path.join(ROOT, "examples", "tpcb_like", "tpcb.sql")
        look = os.path.join(ROOT, "examples", "account_lookup_sampled.sql")
        rep = self.run_json("-c", "10", "--rate", "300", "--ramp-up", "0.5", "-T", "2",
                            "--retries", "10", look + "@9", tpcb + "@1")
        s = rep["summary"]
        self.assertEqual(s["failed"], 0, rep["errors"])
        n = {q["name"]: q["executions"] for q in rep["queries"]}
        self.assertGreater(n["tpcb.sql"], 0)
        self.assertGreater(n["account_lookup_sampled.sql"], 5 * n["tpcb.sql"])
        # every lookup hit a sampled key that exists: one row each
        look_q = rep["queries"][0]
        self.assertEqual(look_q["rows"], look_q["executions"])
        self.assertEqual(look_q["scenarios"][0]["name"], "sampled")
        hist, delta = self.server.sql("SELECT count(*), coalesce(sum(delta), 0) "
                                      "FROM pgbench_history").split("|")
        self.assertEqual(int(hist), n["tpcb.sql"])
        self.assertEqual(self.server.sql("SELECT sum(bbalance) FROM pgbench_branches"), delta)

    def test_weights(self):
        a = self.write("a.sql", "-- WEIGHT: 3\nSELECT 1;\n")
        b = self.write("b.sql", "-- PARAMETERS: [[1], [2]]\nSELECT %s::int;\n")
        rep = self.run_json("-c", "2", "-T", "1", a, b + "@1")
        n = {q["name"]: q["executions"] for q in rep["queries"]}
        self.assertAlmostEqual(n["a.sql"] / (n["a.sql"] + n["b.sql"]), 0.75, delta=0.01)
        sc = [x["executions"] for x in rep["queries"][1]["scenarios"]]
        self.assertAlmostEqual(sc[0] / sum(sc), 0.5, delta=0.02)
        # without weights, every parameter set as often as every other
        rep = self.run_json("-c", "2", "-T", "1", self.write("c.sql", "SELECT 1;\n"), b)
        n = {q["name"]: q["executions"] for q in rep["queries"]}
        self.assertAlmostEqual(n["c.sql"] / (n["c.sql"] + n["b.sql"]), 1 / 3, delta=0.01)
        for bad, msg in (("-- WEIGHT: 0\nSELECT 1;\n", "WEIGHT must be a number above 0"),
                         ("-- WEIGHT: x\nSELECT 1;\n", "WEIGHT must be a number above 0")):
            r = self.pgvolley("run", "-q", self.write("w.sql", bad))
            self.assertEqual(r.code, 2, r.stderr)
            self.assertIn("w.sql:1:", r.stderr)
            self.assertIn(msg, r.stderr)
        r = self.pgvolley("run", "-q", a + "@0")
        self.assertEqual(r.code, 2, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
