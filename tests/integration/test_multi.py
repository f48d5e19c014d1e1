"""`pgvolley multi` against a real throwaway PostgreSQL: a batch with one bad
query, row caps, timeouts, parallelism, validation errors, the superuser
refusal - and the attack corpus: no string changes a byte of the data."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import (PGVOLLEY, ServerTest, children, running_backends,  # noqa: E402
                    wait_while_stopped)

DATA = os.path.join(os.path.dirname(__file__), "..", "data")



class MultiTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # An ordinary role that owns the tables and could write them: the
        # guard must hold for it, not only for a read-only role.
        cls.server.sql("CREATE ROLE owner LOGIN")
        cls.server.sql("CREATE DATABASE shop OWNER owner")
        cls.owner_dsn = cls.server.dsn.replace("user=postgres", "user=owner").replace(
            "dbname=postgres", "dbname=shop")
        cls.shop_admin = cls.server.dsn.replace("dbname=postgres", "dbname=shop")
        cls.psql(cls.shop_admin,
                 "SET ROLE owner;"
                 "CREATE TABLE t (v int);"
                 "INSERT INTO t SELECT g FROM generate_series(1, 100) g;"
                 "CREATE SEQUENCE s;"
                 "CREATE TABLE users (id int PRIMARY KEY, gender text, age int, city text);"
                 "INSERT INTO users SELECT g, CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END,"
                 " 18 + g % 60, 'city' || (g % 7) FROM generate_series(1, 1000) g;"
                 "CREATE FUNCTION p() RETURNS void LANGUAGE sql AS 'DELETE FROM t';"
                 "CREATE PROCEDURE pr() LANGUAGE sql AS $$DELETE FROM t$$;")

    @classmethod
    def psql(cls, dsn, sql):
        out = subprocess.run([cls.server.psql_bin, "-X", "-A", "-t", "-q", "-v",
                              "ON_ERROR_STOP=1", "-d", dsn, "-c", sql],
                             check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def snapshot(self):
        """Everything an attack could change, as one string."""
        return self.psql(self.shop_admin, """
            SELECT (SELECT md5(string_agg(v::text, ',' ORDER BY v)) FROM t)
              || '|' || (SELECT count(*) FROM t)
              || '|' || (SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM users u)
              || '|' || (SELECT last_value || ':' || is_called FROM s)
              || '|' || (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)
              || '|' || (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')
              || '|' || (SELECT count(*) FROM pg_db_role_setting)
              || '|' || (SELECT count(*) FROM pg_largeobject_metadata)
              || '|' || (SELECT count(*) FROM pg_prepared_xacts)
              || '|' || (SELECT count(*) FROM pg_replication_slots)
              || '|' || (SELECT string_agg(rolname || rolsuper, ',' ORDER BY rolname)
                         FROM pg_roles WHERE rolname !~ '^pg_')
              || '|' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)
            """)

    def multi(self, queries, *args, dsn=None, expect=None, fmt="json"):
        path = self.write("in.json", json.dumps({"queries": queries}))
        cmd = [PGVOLLEY, "multi", "-f", fmt]
        if not any(a in ("--datasets", "-D") for a in args):
            cmd += ["-d", dsn or self.owner_dsn]
        cmd += list(args) + [path]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if expect is not None:
            self.assertEqual(cp.returncode, expect, cp.stderr)
        return cp

    def test_dataset_host_name_resolved_off_the_loop(self):
        """A dataset that names its host (host=localhost) is looked up on
        libuv's thread pool and pinned: the engine thread never resolves a
        name (libpq's lookup blocks). strace shows which thread reads
        /etc/hosts; the engine thread names itself pv-batch."""
        port = self.server.uri.rsplit(":", 1)[1].split("/")[0]
        dsn = f"host=localhost port={port} user=owner dbname=shop"
        path = self.write("in.json", json.dumps({"queries": [
            {"query": "SELECT count(*) AS n FROM t"}, {"query": "SELECT 2 AS two"}]}))
        trace = os.path.join(self.dir, "trace")
        cp = subprocess.run(["strace", "-f", "-qq", "-e", "trace=prctl,openat", "-o", trace,
                             PGVOLLEY, "multi", "-f", "json", "-d", dsn, path],
                            capture_output=True, text=True, timeout=120,
                            # LeakSanitizer cannot run under ptrace (ASan build)
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        rep = json.loads(cp.stdout)
        self.assertEqual([r["ok"] for r in rep["results"]], [True, True])
        engine, lookups = set(), set()
        with open(trace) as f:
            for line in f:
                tid = line.split(" ", 1)[0]
                if 'PR_SET_NAME, "pv-batch"' in line:
                    engine.add(tid)
                if '"/etc/hosts"' in line:
                    lookups.add(tid)
        self.assertEqual(len(engine), 1, "the engine thread names itself pv-batch")
        self.assertTrue(lookups, "the host name was looked up somewhere")
        self.assertFalse(engine & lookups, "no name lookup on the engine's loop thread")

    def test_batch_with_one_bad_query(self):
        qs = [{"query": f"SELECT count(*) AS n FROM users WHERE age > {i * 5}",
               "label": f"older than {i * 5}"} for i in range(11)]
        qs.insert(4, {"query": "SELECT nope FROM users", "label": "broken"})
        cp = self.multi(qs, expect=1)
        rep = json.loads(cp.stdout)
        self.assertEqual(rep["total"], 12)
        self.assertEqual(rep["succeeded"], 11)
        self.assertEqual(rep["failed"], 1)
        bad = rep["results"][4]
        self.assertEqual(bad["label"], "broken")
        self.assertFalse(bad["ok"])
        self.assertEqual(bad["error"]["sqlstate"], "42703")
        self.assertIn("nope", bad["error"]["message"])
        first = rep["results"][0]
        self.assertTrue(first["ok"])
        self.assertEqual(first["columns"], ["n"])
        self.assertEqual(first["rows"], [["1000"]])
        self.assertEqual(first["row_count"], 1)
        self.assertEqual([r["label"] for r in rep["results"]][:4],
                         ["older than 0", "older than 5", "older than 10", "older than 15"])
        md = self.multi(qs, fmt="markdown", expect=1).stdout
        self.assertIn("# Multi-Query Results", md)
        self.assertIn("**Total Queries**: 12", md)
        self.assertIn("**Failed**: 1", md)
        self.assertIn("## 5. broken", md)
        self.assertIn("42703", md)
        self.assertIn("| n |", md)
        self.assertIn("```sql\nSELECT nope FROM users\n```\n", md)
        # Cells: one spelling for SQL NULL (report/pv_render.h), pipes
        # escaped, a cell is one line.
        md = self.multi([{"query": "SELECT NULL::text AS n, 'a|b' AS p, E'x\\ny' AS nl"}],
                        fmt="markdown", expect=0).stdout
        self.assertIn("| n | p | nl |\n|---|---|---|\n| _NULL_ | a\\|b | x y |\n", md)

    def test_parallel_takes_about_the_slowest(self):
        # 10 queries of 1 s: one after another they take 10 s, in parallel
        # about 1 s plus opening their connections (which can take seconds on
        # a loaded machine, in the sanitizer build): half of the 10 s tells
        # the two apart. The batch's time is the report's.
        qs = [{"query": "SELECT pg_sleep(1)"} for _ in range(10)]
        t0 = time.monotonic()
        rep = json.loads(self.multi(qs, expect=0).stdout)
        elapsed = time.monotonic() - t0
        self.assertEqual(rep["succeeded"], 10)
        self.assertTrue(all(r["ms"] >= 1000 for r in rep["results"]), rep["results"])
        self.assertLess(rep["wall_ms"], 5000)
        self.assertLess(elapsed, 30)  # and nothing long before or after the batch

    def test_row_cap_and_timeout(self):
        ds = self.write("ds.ini", f"[capped]\ndsn = {self.owner_dsn}\nmax_rows = 5\n"
                        "description = few rows\n\n"
                        f"[quick]\ndsn = {self.owner_dsn}\nstatement_timeout_ms = 300\n")
        # The set-returning function in the select list streams its rows: a
        # billion of them would take many minutes to read whole, so a capped
        # read ends in seconds (not timed closely: a loaded machine, the
        # sanitizer build). The capped query's and the timed-out query's own
        # times are the report's.
        qs = [{"dataset": "capped", "query": "SELECT generate_series(1, 1000000000) AS g"},
              {"dataset": "quick", "query": "SELECT pg_sleep(60)"},
              {"dataset_id": 1, "query": "SELECT 1 AS one"}]
        t0 = time.monotonic()
        rep = json.loads(self.multi(qs, "--datasets", ds, expect=1).stdout)
        self.assertLess(time.monotonic() - t0, 30)
        big, slow, one = rep["results"]
        self.assertLess(big["ms"], 10000)
        self.assertLess(slow["ms"], 20000)  # pg_sleep(60) ended by the 300 ms timeout
        self.assertTrue(big["ok"])
        self.assertTrue(big["truncated"])
        self.assertEqual(big["row_count"], 5)
        self.assertEqual(big["rows"], [["1"], ["2"], ["3"], ["4"], ["5"]])
        self.assertFalse(slow["ok"])
        self.assertEqual(slow["error"]["sqlstate"], "57014")
        self.assertTrue(one["ok"])
        self.assertFalse(one["truncated"])
        left = self.psql(self.shop_admin, "SELECT count(*) FROM pg_stat_activity "
                         "WHERE state = 'active' AND query LIKE '%pg_sleep(60)%' "
                         "AND pid <> pg_backend_pid()")
        self.assertEqual(left, "0")

    def test_cancel_never_answered_does_not_hang(self):
        """Backend and postmaster stopped (SIGSTOP): the client-side timeout's
        cancel request is never answered. multi still ends the query (57014,
        its client-side timeout) and exits; the engine waits for nothing."""
        ds = self.write("ds.ini", f"[quick]\ndsn = {self.owner_dsn}\nstatement_timeout_ms = 2000\n")
        path = self.write("in.json", json.dumps({"queries": [{"query": "SELECT pg_sleep(30)"}]}))
        postmaster = self.server.postmaster_pid()
        before = children(postmaster)
        p = subprocess.Popen([PGVOLLEY, "multi", "-f", "json", "--datasets", ds, path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)  # a no-op once it has ended
        # frozen within the 2 s the server's statement timeout leaves
        backends = running_backends(postmaster, 1, before)
        self.assertEqual(len(backends), 1)
        out, err, elapsed = wait_while_stopped(p, backends + [postmaster], 60)
        self.assertEqual(p.returncode, 1, err)
        # 2 s + 5 s to cancel + 5 s more, and slack for a loaded machine (a
        # multi waiting for the answer never ends: the 60 s above)
        self.assertLess(elapsed, 30)
        res = json.loads(out)["results"][0]
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["sqlstate"], "57014")
        self.assertIn("client side", res["error"]["message"])

    def test_validation_errors_run_nothing(self):
        cases = [({"queries": []}, "empty"),
                 ({"nothing": 1}, "queries"),
                 ({"queries": [{"label": "x"}]}, "queries[0]"),
                 ({"queries": [{"query": "SELECT 1", "dataset": "nope"}]}, "unknown dataset"),
                 ({"queries": [{"query": "SELECT 1"}] * 31}, "31"),
                 ({"queries": [{"query": "SELECT 1", "dataset_id": 7}]}, "dataset_id")]
        for doc, fragment in cases:
            with self.subTest(fragment=fragment):
                path = self.write("bad.json", json.dumps(doc))
                cp = subprocess.run([PGVOLLEY, "multi", "-d", self.owner_dsn, path],
                                    capture_output=True, text=True, timeout=30)
                self.assertEqual(cp.returncode, 2, cp.stderr)
                self.assertIn(fragment, cp.stderr)
                self.assertEqual(cp.stdout, "")
        path = self.write("broken.json", '{"queries": [\n  {"query": }\n]}')
        cp = subprocess.run([PGVOLLEY, "multi", "-d", self.owner_dsn, path],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(cp.returncode, 2)
        self.assertIn("broken.json:2:", cp.stderr)

    def test_superuser_refused_unless_overridden(self):
        qs = [{"query": "SELECT 1"}]
        rep = json.loads(self.multi(qs, dsn=self.shop_admin, expect=1).stdout)
        self.assertEqual(rep["results"][0]["error"]["sqlstate"], "42501")
        self.assertIn("superuser", rep["results"][0]["error"]["message"])
        rep = json.loads(self.multi(qs, "--allow-superuser", dsn=self.shop_admin,
                                    expect=0).stdout)
        self.assertTrue(rep["results"][0]["ok"])

    def test_allow_list_mode(self):
        qs = [{"query": "SELECT count(*) FROM users"},
              {"query": "SELECT lower(city) FROM users LIMIT 1"}]
        rep = json.loads(self.multi(qs, "--allow-functions", "count", expect=1).stdout)
        self.assertTrue(rep["results"][0]["ok"])
        self.assertFalse(rep["results"][1]["ok"])
        self.assertIn("lower", rep["results"][1]["error"]["message"])

    def test_attack_corpus_changes_nothing(self):
        with open(os.path.join(DATA, "attacks.json")) as f:
            attacks = json.load(f)
        self.assertGreaterEqual(len(attacks), 25)
        before = self.snapshot()
        # one call with every attack, and each attack alone
        qs = [{"query": a["sql"], "label": a["name"]} for a in attacks]
        for i in range(0, len(qs), 30):
            rep = json.loads(self.multi(qs[i:i + 30], "--max-queries", "30", expect=1).stdout)
            for r in rep["results"]:
                self.assertFalse(r["ok"], f"attack succeeded: {r['label']}")
        for a in attacks:
            with self.subTest(a["name"]):
                cp = self.multi([{"query": a["sql"], "label": a["name"]}])
                self.assertEqual(cp.returncode, 1, cp.stderr)
                self.assertFalse(json.loads(cp.stdout)["results"][0]["ok"])
        self.assertEqual(self.snapshot(), before)
        # other sessions untouched: a new session still sees the defaults
        self.assertEqual(self.psql(self.owner_dsn, "SHOW default_transaction_read_only"), "off")

    def test_legitimate_read_only_queries_pass(self):
        with open(os.path.join(DATA, "readonly_ok.json")) as f:
            oks = json.load(f)
        qs = [{"query": q["sql"], "label": q["name"]} for q in oks][:30]
        rep = json.loads(self.multi(qs, "--max-queries", "30").stdout)
        for r in rep["results"]:
            self.assertTrue(r["ok"], f"{r['label']}: {r['error']}")

    def test_batch_api_example(self):
        exe = os.environ.get("PV_BATCH_EXAMPLE")
        if not exe:
            self.skipTest("PV_BATCH_EXAMPLE not set (run through ctest)")
        cp = subprocess.run([exe, self.shop_admin], capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 1, cp.stderr)  # two queries are wrong on purpose
        lines = cp.stdout.splitlines()
        self.assertEqual(len(lines), 4)
        # each value comes with its column's name and type (volley_result.types)
        self.assertRegex(lines[0], r"^tables +ok, 1 row\(s\) in [0-9.]+ ms: tables::int8 = \d+$")
        self.assertRegex(lines[1], r"^a week ago +ok, 1 row\(s\) in [0-9.]+ ms: "
                                   r"week_ago::timestamptz = \d{4}-\d\d-\d\d ")
        self.assertIn("failed (42P01)", lines[2])
        self.assertIn("failed (25006)", lines[3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
