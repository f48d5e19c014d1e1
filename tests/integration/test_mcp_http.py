"""`pgvolley mcp --http` request checks that a browser-based attacker would
probe: Host (DNS rebinding), Origin, bearer token, body size."""
import http.client
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "t", "version": "1"}}})


class McpHttpTest(ServerTest):
    def start(self, *extra, env=None):
        p = subprocess.Popen([PGVOLLEY, "mcp", "--allow-superuser", "-d", self.server.dsn,
                              "--http", "127.0.0.1:0", *extra],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env)
        line = p.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
        self.assertIsNotNone(m, line)
        self.addCleanup(lambda: (p.terminate(), p.wait(timeout=30), p.stderr.close()))
        return int(m.group(1))

    def post(self, port, body=INIT, **headers):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        c.request("POST", "/mcp", body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Mcp-Session-Id"), data

    def test_host_origin_and_size(self):
        port = self.start()
        status, sid, _ = self.post(port)
        self.assertEqual(status, 200)
        self.assertRegex(sid or "", r"^[0-9a-f]{32}$")
        self.assertEqual(self.post(port, Host=f"localhost:{port}")[0], 200)
        self.assertEqual(self.post(port, Host=f"attacker.example:{port}")[0], 403)
        self.assertEqual(self.post(port, Origin="http://attacker.example")[0], 403)
        self.assertEqual(self.post(port, Origin=f"http://localhost:{port}")[0], 200)
        self.assertEqual(self.post(port, body="x" * (2 << 20))[0], 413)

    def test_bearer_token(self):
        env = dict(os.environ, PGVOLLEY_MCP_TOKEN="s3cret-token")
        port = self.start(env=env)
        self.assertEqual(self.post(port)[0], 401)
        self.assertEqual(self.post(port, Authorization="Bearer wrong")[0], 401)
        self.assertEqual(self.post(port, Authorization="Bearer s3cret-token")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
