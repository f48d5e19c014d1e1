"""The MCP tools of issue 14 item 3 against a real throwaway server:
explain_query (every format; ANALYZE of a SELECT gives actual rows; ANALYZE
of a write, in every spelling, is refused and changes nothing) and the
health tools (a deliberate lock wait and a long transaction are seen; a
missing or unloaded pg_stat_statements and a missing privilege are said).
Every structuredContent is checked against the tool's outputSchema.

Also the bypasses reported against other PostgreSQL MCP servers: functions
with side effects in FROM, setval, set_config('statement_timeout', ...) from
inside a query, DO with SET LOCAL, conditional comments, EXPLAIN smuggling -
each refused, or run and proven harmless (the row, the sequence and the
setting unchanged)."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

SETUP = """
CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO acct SELECT g, 100 FROM generate_series(1, 1000) g;
CREATE SEQUENCE s;
SELECT setval('s', 42);
CREATE TABLE bloated (id int PRIMARY KEY, pad text);
INSERT INTO bloated SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
DELETE FROM bloated WHERE id % 10 <> 0;
CREATE TABLE dup (a int);
INSERT INTO dup VALUES (1), (1);
CREATE INDEX acct_balance_unused ON acct (balance);
ANALYZE;
CREATE ROLE plain LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO plain;
"""


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def validate(v, schema, path="$"):
    """The JSON Schema subset the tools declare (type, properties, required,
    items, enum, minimum, maximum), stdlib only. Raises AssertionError."""
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        ok = any((t == "integer" and isinstance(v, int) and not isinstance(v, bool)) or
                 (t == "number" and isinstance(v, (int, float)) and not isinstance(v, bool)) or
                 (t in TYPES and isinstance(v, TYPES[t])) for t in types)
        assert ok, f"{path}: {v!r} is not of type {types}"
    if "enum" in schema:
        assert v in schema["enum"], f"{path}: {v!r} not in {schema['enum']}"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        assert v >= schema.get("minimum", v) and v <= schema.get("maximum", v), path
    if isinstance(v, dict):
        for k in schema.get("required", []):
            assert k in v, f"{path}: {k!r} is required"
        for k, sub in schema.get("properties", {}).items():
            if k in v:
                validate(v[k], sub, f"{path}.{k}")
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            validate(x, schema["items"], f"{path}[{i}]")


class Mcp:
    """pgvolley mcp on stdio, initialized; call() checks the outputSchema."""

    def __init__(self, dsn, *extra):
        source = ["--datasets", dsn[1:]] if dsn.startswith("@") else ["-d", dsn]
        self.p = subprocess.Popen([PGVOLLEY, "mcp", *source, *extra], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.id = 0
        r = self.rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "t", "version": "1"}})
        assert r["result"]["protocolVersion"] == "2025-06-18", r
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0",
                                       "method": "notifications/initialized"}) + "\n")
        self.p.stdin.flush()
        self.tools = {t["name"]: t for t in self.rpc("tools/list", {})["result"]["tools"]}

    def rpc(self, method, params):
        self.id += 1
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method,
                                       "params": params}) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def call(self, name, **args):
        """The tool result; its structuredContent validated against the outputSchema."""
        r = self.rpc("tools/call", {"name": name, "arguments": {"dataset": "default", **args}})
        if "error" in r:
            return r
        res = r["result"]
        validate(res["structuredContent"], self.tools[name]["outputSchema"])
        return res

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        self.p.stdout.close()


def text(res):
    return "\n".join(c["text"] for c in res["content"])


class McpTools(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql(SETUP)
        # An invalid index: a failed CREATE UNIQUE INDEX CONCURRENTLY leaves it behind.
        try:
            cls.server.sql("CREATE UNIQUE INDEX CONCURRENTLY dup_a ON dup (a)")
            raise AssertionError("CREATE UNIQUE INDEX on duplicates succeeded")
        except subprocess.CalledProcessError:
            pass
        cls.mcp = Mcp(cls.server.dsn, "--allow-superuser")

    @classmethod
    def tearDownClass(cls):
        cls.mcp.close()
        super().tearDownClass()

    def state(self):
        """What an attack could change: balances, the sequence, a session default."""
        return (self.server.sql("SELECT sum(balance), count(*) FROM acct"),
                self.server.sql("SELECT last_value FROM s"),
                self.server.sql("SELECT setting FROM pg_settings "
                                "WHERE name = 'statement_timeout'"))

    # ---- explain_query -------------------------------------------------------------------

    def test_tools_listed_read_only(self):
        for name in ("explain_query", "get_slow_queries", "get_locks", "get_long_transactions",
                     "get_bloat", "get_index_problems"):
            t = self.mcp.tools[name]
            self.assertTrue(t["annotations"]["readOnlyHint"], name)
            self.assertIn("dataset", t["inputSchema"]["required"])

    def test_explain_every_format(self):
        for fmt, marker in (("text", "Index"), ("json", '"Plan"'), ("yaml", "Plan:"),
                            ("xml", "<explain")):
            with self.subTest(fmt):
                r = self.mcp.call("explain_query", query="SELECT * FROM acct WHERE id = 7",
                                  format=fmt)
                self.assertFalse(r["isError"], text(r))
                sc = r["structuredContent"]
                self.assertEqual((sc["format"], sc["analyze"]), (fmt, False))
                self.assertIn(marker, sc["plan"])
                self.assertNotIn("actual", sc["plan"].lower())
        r = self.mcp.call("explain_query", query="SELECT 1", format="json")
        self.assertIsInstance(r["structuredContent"]["plan_json"], list)

    def test_explain_analyze_select_gives_actual_rows(self):
        r = self.mcp.call("explain_query", query="SELECT * FROM acct WHERE id <= 3",
                          analyze=True)
        self.assertFalse(r["isError"], text(r))
        self.assertRegex(r["structuredContent"]["plan"], r"actual time=[0-9.]+\.\.[0-9.]+ rows=3 ")
        r = self.mcp.call("explain_query", query="SELECT * FROM acct WHERE id <= 3",
                          analyze=True, format="json")
        self.assertEqual(r["structuredContent"]["plan_json"][0]["Plan"]["Actual Rows"], 3)
        self.assertIn("Shared Hit Blocks", r["structuredContent"]["plan"])  # BUFFERS

    def test_explain_analyze_of_writes_refused_and_nothing_changes(self):
        before = self.state()
        writes = [
            "UPDATE acct SET balance = 0",
            "DELETE FROM acct",
            "INSERT INTO acct VALUES (0, 0)",
            "WITH u AS (UPDATE acct SET balance = 0 RETURNING id) SELECT count(*) FROM u",
            "SELECT * FROM (WITH d AS (DELETE FROM acct RETURNING id) SELECT id FROM d) x",
            "SELECT 1; UPDATE acct SET balance = 0",
            "SELECT 1 /* ; */; DELETE FROM acct -- ;",
            "EXECUTE p",
            "CREATE TABLE stolen AS SELECT * FROM acct",
            "SELECT * INTO stolen FROM acct",
            "SELECT * FROM acct FOR UPDATE",
            "SELECT setval('s', 1)",
            "SELECT * FROM setval('s', 1)",
            "SELECT * FROM set_config('statement_timeout', '1', false)",
        ]
        for analyze in (True, False):
            for sql in writes:
                with self.subTest(sql=sql, analyze=analyze):
                    r = self.mcp.call("explain_query", query=sql, analyze=analyze)
                    self.assertTrue(r["isError"], text(r))
                    self.assertEqual(r["structuredContent"]["error"]["sqlstate"], "25006")
        # EXPLAIN in the statement itself: an argument error, never composed.
        for sql in ("EXPLAIN ANALYZE DELETE FROM acct", "  /* c */ explain (analyze) "
                    "UPDATE acct SET balance = 0", "-- x\nEXPLAIN SELECT 1"):
            r = self.mcp.call("explain_query", query=sql, analyze=True)
            self.assertEqual(r["error"]["code"], -32602, r)
        # query_dataset keeps refusing EXPLAIN ANALYZE in every spelling.
        for sql in ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYSE DELETE FROM acct",
                    "EXPLAIN (ANALYZE true) UPDATE acct SET balance = 0",
                    "EXPLAIN (FORMAT JSON, ANALYZE) SELECT * FROM acct",
                    "EXPLAIN (analyze on, buffers) DELETE FROM acct",
                    "EXPLAIN UPDATE acct SET balance = 0"):
            with self.subTest(sql=sql):
                r = self.mcp.call("query_dataset", query=sql)
                self.assertTrue(r["isError"], text(r))
                self.assertIn("not read-only", text(r))
        self.assertEqual(self.state(), before)

    def test_explain_bad_arguments(self):
        r = self.mcp.call("explain_query", query="SELECT 1", format="html")
        self.assertEqual(r["error"]["code"], -32602)
        r = self.mcp.call("explain_query", query="SELECT 1", analyze="yes")
        self.assertEqual(r["error"]["code"], -32602)
        r = self.mcp.rpc("tools/call", {"name": "explain_query",
                                        "arguments": {"dataset": "nope", "query": "SELECT 1"}})
        self.assertTrue(r["result"]["isError"])
        self.assertIn("unknown dataset", text(r["result"]))

    def test_explain_analyze_under_the_statement_timeout(self):
        ini = self.write("ds.ini", f"[default]\ndsn = {self.server.dsn}\n"
                                   "statement_timeout_ms = 300\n")
        m = Mcp("@" + ini, "--allow-superuser")
        self.addCleanup(m.close)
        # the query would sleep for minutes: ended by the 300 ms timeout,
        # whatever a loaded machine adds (connecting, the sanitizer build)
        t0 = time.monotonic()
        r = m.call("explain_query", query="SELECT pg_sleep(300)", analyze=True)
        self.assertLess(time.monotonic() - t0, 30)
        self.assertTrue(r["isError"])
        self.assertEqual(r["structuredContent"]["error"]["sqlstate"], "57014")

    # ---- the health tools ----------------------------------------------------------------

    def wait_until(self, count_sql, timeout=30):
        """Until count_sql (a count) is 1 or more."""
        deadline = time.monotonic() + timeout
        while int(self.server.sql(count_sql)) < 1:
            if time.monotonic() > deadline:
                self.fail(f"never seen: {count_sql}")
            time.sleep(0.05)

    def test_lock_wait_and_long_transaction_are_seen(self):
        # the lock held until the test's cleanup ends it (a holder timed to
        # outlast the test raced it on a loaded machine)
        holder = subprocess.Popen(
            [self.server.psql_bin, "-X", "-q", "-d", self.server.dsn, "-c",
             "BEGIN; LOCK TABLE acct IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(holder.wait)
        self.addCleanup(self.server.sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'BEGIN; LOCK TABLE acct%'")
        self.assertEqual(len(self.server.backends("BEGIN; LOCK TABLE acct%", 1, timeout=30)), 1)
        waiter = subprocess.Popen(
            [self.server.psql_bin, "-X", "-q", "-d", self.server.dsn, "-c",
             "SELECT count(*) FROM acct"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(waiter.wait)
        self.addCleanup(waiter.terminate)
        # the waiter waits for the lock; the holder's transaction is older than 1 s
        self.wait_until("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query = 'SELECT count(*) FROM acct'")
        self.wait_until("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                        "'BEGIN; LOCK TABLE acct%' AND now() - xact_start > interval '1.1 s'")
        r = self.mcp.call("get_locks")
        self.assertFalse(r["isError"], text(r))
        sc = r["structuredContent"]
        self.assertEqual(sc["check"], "get_locks")
        rows = [dict(zip(sc["columns"], row)) for row in sc["rows"]]
        mine = [x for x in rows if x["waiting_query"] == "SELECT count(*) FROM acct"]
        self.assertEqual(len(mine), 1, rows)
        self.assertIn("AccessShareLock on acct", mine[0]["waits_for"])
        self.assertIn("LOCK TABLE acct", mine[0]["blocking_query"])
        self.assertIn("AccessExclusiveLock", mine[0]["blocker_holds"])
        self.assertEqual(sc["needs"], [])  # a superuser reads every session

        r = self.mcp.call("get_long_transactions", min_seconds=1)
        sc = r["structuredContent"]
        rows = [dict(zip(sc["columns"], row)) for row in sc["rows"]]
        old = [x for x in rows if "LOCK TABLE acct" in (x["query"] or "")]
        self.assertEqual(len(old), 1, rows)
        self.assertGreaterEqual(float(old[0]["xact_s"]), 1.0)
        r = self.mcp.call("get_long_transactions", min_seconds=3600)
        self.assertEqual(r["structuredContent"]["row_count"], 0)
        self.assertIn("Nothing found", text(r))

    def test_missing_pg_stat_statements_is_said(self):
        r = self.mcp.call("get_slow_queries")
        self.assertTrue(r["isError"])
        sc = r["structuredContent"]
        self.assertEqual(sc["error"]["sqlstate"], "42P01")
        self.assertTrue(any("shared_preload_libraries = 'pg_stat_statements'" in n
                            and "CREATE EXTENSION pg_stat_statements" in n
                            for n in sc["needs"]), sc["needs"])
        self.assertIn("**Needs**", text(r))

    def test_unloaded_pg_stat_statements_is_said(self):
        self.server.sql("CREATE DATABASE pgss")
        dsn = " ".join(p for p in self.server.dsn.split() if not p.startswith("dbname="))
        subprocess.run([self.server.psql_bin, "-X", "-q", "-d", dsn + " dbname=pgss", "-c",
                        "CREATE EXTENSION pg_stat_statements"], check=True, timeout=60)
        m = Mcp(dsn + " dbname=pgss", "--allow-superuser")
        self.addCleanup(m.close)
        r = m.call("get_slow_queries", order_by="mean_time")
        self.assertEqual(r["structuredContent"]["error"]["sqlstate"], "55000")
        self.assertTrue(any("created but not loaded" in n for n in
                            r["structuredContent"]["needs"]))

    def test_privilege_needed_is_said(self):
        dsn = " ".join(p for p in self.server.dsn.split() if not p.startswith("user="))
        m = Mcp(dsn + " user=plain")
        self.addCleanup(m.close)
        for tool in ("get_locks", "get_long_transactions", "get_slow_queries"):
            r = m.call(tool)
            self.assertTrue(any("GRANT pg_read_all_stats TO plain" in n
                                for n in r["structuredContent"]["needs"]), (tool, text(r)))
        r = m.call("get_bloat")  # reads no session: needs nothing
        self.assertEqual(r["structuredContent"]["needs"], [])
        self.server.sql("GRANT pg_read_all_stats TO plain")
        self.addCleanup(self.server.sql, "REVOKE pg_read_all_stats FROM plain")
        r = m.call("get_locks")
        self.assertEqual(r["structuredContent"]["needs"], [])

    def test_bloat_estimate(self):
        r = self.mcp.call("get_bloat", limit=50)
        self.assertFalse(r["isError"], text(r))
        sc = r["structuredContent"]
        rows = {x["name"]: x for x in (dict(zip(sc["columns"], row)) for row in sc["rows"])}
        self.assertEqual(rows["public.bloated"]["kind"], "table")
        self.assertGreater(float(rows["public.bloated"]["bloat_pct"]), 60, rows)
        self.assertEqual(rows["public.bloated_pkey"]["table"], "public.bloated")
        self.assertGreater(float(rows["public.bloated_pkey"]["bloat_pct"]), 50, rows)
        self.assertLess(float(rows["public.acct"]["bloat_pct"]), 30, rows)
        self.assertTrue(any("pg_stats" in n for n in sc["notes"]))

    def test_unused_and_invalid_indexes(self):
        r = self.mcp.call("get_index_problems")
        self.assertFalse(r["isError"], text(r))
        sc = r["structuredContent"]
        rows = {x["index"]: x for x in (dict(zip(sc["columns"], row)) for row in sc["rows"])}
        self.assertEqual(rows["public.dup_a"]["problem"], "invalid")
        self.assertEqual(sc["rows"][0][0], "public.dup_a")  # invalid ones first
        self.assertEqual(rows["public.acct_balance_unused"]["problem"], "unused")
        self.assertIn("CREATE INDEX acct_balance_unused", rows["public.acct_balance_unused"]
                      ["definition"])
        r = self.mcp.call("get_index_problems", limit=1)
        self.assertEqual(r["structuredContent"]["row_count"], 1)

    # ---- bypasses reported against other servers -----------------------------------------

    def test_bypasses_refused_or_harmless(self):
        before = self.state()
        timeout_before = self.mcp.call(
            "query_dataset", query="SELECT current_setting('statement_timeout')")
        refused = [
            # functions with side effects in FROM
            "SELECT * FROM setval('s', 1000)",
            "SELECT * FROM ROWS FROM (setval('s', 1000), generate_series(1, 2))",
            "SELECT * FROM acct, LATERAL setval('s', acct.id) x",
            "SELECT * FROM nextval('s')",
            "SELECT * FROM set_config('statement_timeout', '0', false)",
            "SELECT * FROM pg_advisory_lock(1)",
            # set_config from inside a query
            "SELECT set_config('statement_timeout', '0', false)",
            "SELECT (SELECT set_config('statement_timeout', '0', true))",
            "WITH x AS (SELECT set_config('statement_timeout', '0', false)) SELECT * FROM x",
            "SELECT 1 WHERE set_config('statement_timeout', '0', false) IS NOT NULL",
            # DO with SET LOCAL, SET LOCAL itself
            "DO $$ BEGIN SET LOCAL statement_timeout = 0; END $$",
            "DO $$BEGIN SET LOCAL transaction_read_only = off; UPDATE acct SET balance = 0; "
            "END$$",
            "SET LOCAL statement_timeout = 0",
            # EXPLAIN smuggling
            "EXPLAIN ANALYZE UPDATE acct SET balance = 0",
            "EXPLAIN (ANALYZE true, FORMAT JSON) DELETE FROM acct",
            "EXPLAIN ANALYZE WITH d AS (DELETE FROM acct RETURNING id) SELECT * FROM d",
            "EXPLAIN SELECT 1; UPDATE acct SET balance = 0",
            "EXPLAIN (COSTS off) SELECT 1 /* ; */; DELETE FROM acct",
            "EXPLAIN ANALYZE EXECUTE p",
            # a conditional comment that hides nothing from PostgreSQL's parser
            "SELECT 1 /*!50000 ; */; UPDATE acct SET balance = 0",
        ]
        qs = [{"dataset": "default", "query": q, "label": str(i)} for i, q in enumerate(refused)]
        r = self.mcp.call("execute_multi_query", queries=qs)
        for res in r["structuredContent"]["results"]:
            self.assertFalse(res["ok"], refused[int(res["label"])])
            self.assertEqual(res["error"]["sqlstate"], "25006", refused[int(res["label"])])
        # MySQL-style conditional comments are plain comments to PostgreSQL: they run, harmless.
        for sql in ("SELECT 1 /*! ; UPDATE acct SET balance = 0 */",
                    "SELECT /*!50000 1; DELETE FROM acct; */ 1",
                    "SELECT 1 -- ; DELETE FROM acct",
                    "SELECT /*+ Set(statement_timeout 0) */ 1"):
            with self.subTest(sql=sql):
                res = self.mcp.call("query_dataset", query=sql)
                self.assertFalse(res["isError"], text(res))
                self.assertEqual(res["structuredContent"]["rows"], [["1"]])
        after = self.mcp.call("query_dataset",
                              query="SELECT current_setting('statement_timeout')")
        self.assertEqual(after["structuredContent"]["rows"],
                         timeout_before["structuredContent"]["rows"])
        self.assertEqual(self.state(), before)
        self.assertEqual(self.server.sql("SELECT count(*) FROM pg_locks "
                                         "WHERE locktype = 'advisory'"), "0")


class SlowQueries(ServerTest):
    """get_slow_queries where pg_stat_statements is loaded and created: the
    statements run before are listed, in the order asked for."""
    settings = ("shared_preload_libraries=pg_stat_statements",)

    def test_slowest_statements_listed(self):
        self.server.sql("CREATE EXTENSION pg_stat_statements")
        self.server.sql("CREATE TABLE w (id int)")
        for _ in range(3):
            self.server.sql("SELECT pg_sleep(0.2), 'slow_marker'")
        for _ in range(20):
            self.server.sql("SELECT count(*) FROM w WHERE id = 7")
        m = Mcp(self.server.dsn, "--allow-superuser")
        self.addCleanup(m.close)
        for order in ("total_time", "mean_time"):
            r = m.call("get_slow_queries", order_by=order)
            self.assertFalse(r.get("isError"), text(r))
            sc = r["structuredContent"]
            rows = [dict(zip(sc["columns"], row)) for row in sc["rows"]]
            # the three pg_sleep(0.2) calls are one normalised statement, and the slowest
            self.assertIn("pg_sleep", rows[0]["query"], rows[:3])
            self.assertIn("pg_sleep", text(r))
            self.assertEqual(int(rows[0]["calls"]), 3, rows[0])
            self.assertGreaterEqual(float(rows[0]["total_ms"]), 600.0, rows[0])
            lookup = [x for x in rows if "FROM w WHERE id" in x["query"]]
            self.assertEqual(len(lookup), 1, rows)
            self.assertEqual(int(lookup[0]["calls"]), 20)


if __name__ == "__main__":
    unittest.main()
