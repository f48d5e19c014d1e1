"""`pgvolley mcp` protocol versions against a real server (issue 14): a
2026-07-28 client that closes its response stream cancels its call, and the
query is gone from pg_stat_activity within a second (JSON and SSE
answers); a 2025-06-18 client that disconnects while its JSON answer is
pending does too (it could never receive the answer); stateless requests
on stdio next to a legacy session's rules."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

V = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}
SLEEP_SQL = "SELECT pg_sleep(30) AS slept_in_versions_test"


def tools_call(id_, sql, modern=True, progress=None):
    params = {"name": "query_dataset", "arguments": {"dataset": "default", "query": sql}}
    meta = dict(META) if modern else {}
    if progress:
        meta["progressToken"] = progress
    if meta:
        params["_meta"] = meta
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params})


class Versions(ServerTest):
    def start(self):
        return self.start_mcp_http()

    def running(self):
        return int(self.server.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
            "'%slept_in_versions_test%' AND pid <> pg_backend_pid()"))

    def wait_running(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while self.running() != n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.running()

    def raw_post(self, port, body, headers):
        """Sends a POST on a raw socket and returns the socket (unread)."""
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        data = body.encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                   f"{head}\r\n").encode() + data)
        return s

    def close_cancels(self, port, body, headers):
        s = self.raw_post(port, body, headers)
        self.assertEqual(self.wait_running(1), 1, "the call never ran")
        s.close()  # the client goes away: its response stream is closed
        t0 = time.monotonic()
        while self.running() != 0 and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        gone_after = time.monotonic() - t0
        self.assertEqual(self.running(), 0)
        self.assertLess(gone_after, 1.0, f"the query was still running {gone_after:.2f} s later")

    def modern_headers(self, accept):
        return {"Accept": accept, "MCP-Protocol-Version": V, "Mcp-Method": "tools/call",
                "Mcp-Name": "query_dataset"}

    def test_modern_json_close_cancels(self):
        port = self.start()
        self.close_cancels(port, tools_call(1, SLEEP_SQL),
                           self.modern_headers("application/json, text/event-stream"))

    def test_modern_sse_close_cancels(self):
        port = self.start()
        self.close_cancels(port, tools_call(1, SLEEP_SQL, progress="p"),
                           self.modern_headers("application/json, text/event-stream"))

    def test_legacy_json_close_cancels(self):
        port = self.start()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/mcp", body=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"}}}),
            headers={"Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"})
        r = c.getresponse()
        r.read()
        sid = r.getheader("Mcp-Session-Id")
        c.close()
        self.assertTrue(sid)
        self.close_cancels(port, tools_call(2, SLEEP_SQL, modern=False),
                           {"Accept": "application/json", "Mcp-Session-Id": sid,
                            "MCP-Protocol-Version": "2025-06-18"})

    def test_other_calls_unaffected(self):
        # A client that stays gets its answer, statelessly, with no session.
        port = self.start()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/mcp", body=tools_call(3, "SELECT 7 AS seven"),
                  headers={"Content-Type": "application/json", **self.modern_headers(
                      "application/json, text/event-stream")})
        r = c.getresponse()
        body = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.getheader("Mcp-Session-Id"))
        self.assertEqual(body["result"]["structuredContent"]["rows"], [["7"]])
        self.assertEqual(body["result"]["resultType"], "complete")

    def test_stdio_stateless_and_legacy(self):
        msgs = [
            {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": META}},
            json.loads(tools_call(2, "SELECT 1 AS one")),
            [{"jsonrpc": "2.0", "id": 3, "method": "ping"}],  # a batch: refused
            {"jsonrpc": "2.0", "id": 4, "method": "tools/list",
             "params": {"_meta": dict(META, **{"io.modelcontextprotocol/protocolVersion":
                                               "2025-06-18"})}},
        ]
        p = subprocess.run([PGVOLLEY, "mcp", "--allow-superuser", "-d", self.server.dsn],
                           input="".join(json.dumps(m) + "\n" for m in msgs),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = [json.loads(line) for line in p.stdout.splitlines()]
        by_id = {m.get("id"): m for m in out}
        self.assertIn(V, by_id[1]["result"]["supportedVersions"])
        self.assertEqual(by_id[2]["result"]["structuredContent"]["rows"], [["1"]])
        self.assertEqual(by_id[None]["error"]["code"], -32600)
        self.assertEqual(by_id[4]["error"]["code"], -32022)


if __name__ == "__main__":
    unittest.main()
