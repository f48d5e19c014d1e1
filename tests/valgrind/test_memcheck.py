"""The main paths of pgvolley under valgrind's memcheck, against a real
throwaway server: a count-based run (prepared protocol, with timeouts that
cancel on the server), a pipelined run, `multi` with a refused and a good
query, and the MCP server over stdio (initialize, tools/list, a query).
Each must exit as it would without valgrind, with no memory error and no
definite leak (--error-exitcode). Registered only for the normal build:
valgrind cannot run a binary built with AddressSanitizer."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

VALGRIND = ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--track-fds=no", "-q"]


class MemcheckTest(ServerTest):
    def vg(self, args, stdin=None, expect=0):
        cp = subprocess.run(VALGRIND + [PGVOLLEY] + args, input=stdin, capture_output=True,
                            text=True, timeout=240)
        self.assertNotEqual(cp.returncode, 99, "valgrind found errors:\n" + cp.stderr[-4000:])
        self.assertEqual(cp.returncode, expect, cp.stderr[-4000:])
        return cp

    def test_run_with_timeouts(self):
        # sleeps of 2 s against a timeout of 0.2 s: a margin that holds when
        # valgrind makes the client slow enough to see the end of a shorter
        # sleep before its timeout sweep (a 0.3 s sleep once ended uncancelled)
        f = self.write("w.sql", "-- PARAMETERS: [[0], [2]]\n-- EXEC_COUNT: 20\n"
                       "SELECT pg_sleep(%s::float8);\n")
        cp = self.vg(["run", "-q", "-f", "json", "-d", self.server.dsn, "-c", "4", "-j", "2",
                      "--command-timeout", "0.2", f], expect=1)
        rep = json.loads(cp.stdout)
        self.assertEqual(rep["summary"]["executions"], 40)
        self.assertEqual(rep["summary"]["failed"], 20)  # the 2 s sleeps time out

    def test_pipelined_run(self):
        f = self.write("p.sql", "-- PARAMETERS: [[1], [2], [0]]\n-- EXEC_COUNT: 30\n"
                       "SELECT 10 / %s::int;\n")
        cp = self.vg(["run", "-q", "-f", "json", "-d", self.server.dsn, "-c", "8", "-j", "1",
                      "--pipeline", "4", f], expect=1)
        rep = json.loads(cp.stdout)
        self.assertEqual(rep["summary"]["executions"], 90)

    def test_transactions(self):
        # BEGIN with the first statement (pipeline mode, one sync), a failing
        # statement inside (ROLLBACK), a timeout cancelling a sleep in one
        f = self.write("t.sql", "-- PARAMETERS: [[1, 0], [0, 0], [1, 2]]\n-- EXEC_COUNT: 10\n"
                       "BEGIN;\nSELECT 10 / $1::int;\nSELECT pg_sleep($2::float8);\nCOMMIT;\n")
        cp = self.vg(["run", "-q", "-f", "json", "-d", self.server.dsn, "-c", "3", "-j", "1",
                      "--command-timeout", "0.5", f], expect=1)
        rep = json.loads(cp.stdout)
        s = rep["summary"]
        self.assertEqual((s["executions"], s["failed"]), (30, 20))
        self.assertEqual({e["sqlstate"] for e in rep["errors"]}, {"22012", "57014"})

    def test_multi(self):
        self.server.sql("DROP ROLE IF EXISTS vgreader; CREATE ROLE vgreader LOGIN")
        dsn = self.server.dsn.replace("user=postgres", "user=vgreader")
        q = self.write("q.json", json.dumps({"queries": [
            {"query": "SELECT g, g * 2 AS twice FROM generate_series(1, 50) g"},
            {"query": "DELETE FROM pg_class"}]}))
        cp = self.vg(["multi", "-f", "json", "-d", dsn, q], expect=1)
        res = json.loads(cp.stdout)["results"]
        self.assertTrue(res[0]["ok"])
        self.assertEqual(res[1]["error"]["sqlstate"], "25006")

    def test_mcp_stdio(self):
        self.server.sql("DROP ROLE IF EXISTS vgmcp; CREATE ROLE vgmcp LOGIN")
        dsn = self.server.dsn.replace("user=postgres", "user=vgmcp")
        msgs = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "vg", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
             "params": {"name": "query_dataset",
                        "arguments": {"dataset": "default", "query": "SELECT 1 AS one"}}},
        ]
        stdin = "".join(json.dumps(m) + "\n" for m in msgs)
        cp = self.vg(["mcp", "-d", dsn], stdin=stdin)
        answers = [json.loads(line) for line in cp.stdout.splitlines() if line.strip()]
        by_id = {a.get("id"): a for a in answers}
        self.assertIn("result", by_id[1])
        self.assertTrue(by_id[2]["result"]["tools"])
        self.assertFalse(by_id[3]["result"]["isError"], by_id[3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
