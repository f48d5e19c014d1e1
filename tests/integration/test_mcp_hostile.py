"""Hostile and careless MCP clients (issue 9, defects 11-13 and rough edges):
idle and trickling TCP connections, a full server, abandoned sessions, a
DELETE during a call, a bad dsn in the datasets file, a stdio client that
sends more calls than may run at once. Legitimate clients must still be
served, quickly."""
import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "t", "version": "1"}}})


def call(id_, sql, name="query_dataset", progress=None):
    params = {"name": name, "arguments": {"dataset": "default", "query": sql}}
    if progress:
        params["_meta"] = {"progressToken": progress}
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params})


class Hostile(ServerTest):
    def start(self, *extra):
        return self.start_mcp_http(*extra)

    def post(self, port, body=INIT, sid=None, timeout=10, accept=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        h = {"Content-Type": "application/json",
             "Accept": accept or "application/json, text/event-stream",
             "MCP-Protocol-Version": "2025-06-18"}
        if sid:
            h["Mcp-Session-Id"] = sid
        c.request("POST", "/mcp", body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Mcp-Session-Id"), data

    def session(self, port):
        status, sid, _ = self.post(port)
        self.assertEqual(status, 200)
        self.post(port, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                  sid=sid)
        return sid

    def idle_sockets(self, port, n):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        return socks

    # ---- defect 11: connections ----------------------------------------------------------

    def closed_by_server(self, socks, n):
        """Waits until n of socks have been closed by the server; returns them."""
        closed = set()
        deadline = time.monotonic() + 30
        while len(closed) < n and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.1)
            for s in ready:
                try:
                    if s.recv(1) == b"":
                        closed.add(s)
                except ConnectionError:
                    closed.add(s)
        return closed

    def test_idle_sockets_do_not_lock_out(self):
        # a long idle timeout: a client locked out until the idle sockets
        # time out would wait a minute
        port = self.start("--http-timeout", "60")
        socks = self.idle_sockets(port, 100)  # more than the 64 allowed; no byte sent
        # the burst accepted (a client racing a burst may be refused): the 36
        # over the limit pushed out, by the server's own count
        self.assertGreaterEqual(len(self.closed_by_server(socks, 36)), 36)
        t0 = time.monotonic()
        status, sid, _ = self.post(port, timeout=20)
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - t0, 15)
        status, _, data = self.post(port, call(2, "SELECT 42 AS answer"), sid=sid, timeout=10)
        self.assertEqual(status, 200)
        self.assertIn("42", data.decode())

    def test_slow_headers_are_dropped(self):
        port = self.start("--http-timeout", "2")
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # Trickle a header byte every 0.3 s: the idle timeout alone would never fire.
        t0 = time.monotonic()
        closed = False
        s.settimeout(0.3)
        while time.monotonic() - t0 < 30:
            try:
                if s.recv(1024) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
            try:
                s.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        self.assertTrue(closed, "a connection trickling its headers was kept open")
        # the 2 s deadline, and slack for a loaded machine (a trickle the
        # idle timeout alone handles is never closed)
        self.assertLess(time.monotonic() - t0, 15)
        # A silent one goes too, and the server still answers.
        q = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.addCleanup(q.close)
        self.assertIn(q.recv(1024), (b"",))
        self.assertEqual(self.post(port)[0], 200)

    def post_until_served(self, port, body=INIT, sid=None, timeout=30):
        """A request that may meet the connections of earlier requests not yet
        completed on the server (the client has read its answer before the
        server's thread has finished with it: under load, for a moment, the
        connection still counts as busy and the newcomer gets 503), retried
        for up to 30 s."""
        deadline = time.monotonic() + 30
        while True:
            try:
                status = self.post(port, body, sid=sid, timeout=timeout)[0]
            except (ConnectionError, http.client.HTTPException, OSError):
                status = None
            if status == 200 or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def test_full_server_answers_503(self):
        port = self.start("--http-max-connections", "2")
        sid = self.session(port)
        results = []

        # calls that would run for minutes, ended by the test (cancelled on
        # the server: still an answer, 200) once it has seen the 503
        def slow(i):
            results.append(self.post_until_served(port, call(10 + i, "SELECT pg_sleep(300)"),
                                                  sid=sid, timeout=60))
        threads = [threading.Thread(target=slow, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        sleeping = ("FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
                    "'%pg_sleep(300)%' AND pid <> pg_backend_pid()")
        try:
            # both calls running on the server: every connection is busy
            # (waited for, not slept: a loaded machine may take a while)
            deadline = time.monotonic() + 30
            while (time.monotonic() < deadline
                   and self.server.sql(f"SELECT count(*) {sleeping}") != "2"):
                time.sleep(0.05)
            t0 = time.monotonic()
            status, _, data = self.post(port, timeout=20)
            self.assertEqual(status, 503, data)
            # not kept waiting for a connection to free (minutes)
            self.assertLess(time.monotonic() - t0, 15)
        finally:
            self.server.sql(f"SELECT pg_cancel_backend(pid) {sleeping}")
            for t in threads:
                t.join()
        self.assertEqual(results, [200, 200])
        self.assertEqual(self.post_until_served(port), 200)

    def test_long_call_outlives_idle_timeout(self):
        # Our own wait for an answer is not the client's silence: JSON and SSE.
        port = self.start("--http-timeout", "1")
        sid = self.session(port)
        status, _, data = self.post(port, call(3, "SELECT pg_sleep(2.5), 7 AS seven"), sid=sid,
                                    timeout=20, accept="application/json")
        self.assertEqual(status, 200)
        self.assertIn('"isError": false', json.dumps(json.loads(data)))
        body = json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "_meta": {"progressToken": "p"}, "name": "execute_multi_query",
            "arguments": {"queries": [{"dataset": "default", "query": "SELECT pg_sleep(2.5)"}]}}})
        status, _, data = self.post(port, body, sid=sid, timeout=20)
        self.assertEqual(status, 200)
        msgs = [json.loads(line[6:]) for line in data.decode().splitlines()
                if line.startswith("data: ")]
        self.assertEqual(msgs[-1].get("id"), 4, data)

    # ---- defect 12: sessions ------------------------------------------------------------

    def test_abandoned_sessions_do_not_lock_out(self):
        port = self.start()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        for _ in range(1030):  # initialize and walk away (one keep-alive connection)
            c.request("POST", "/mcp", body=INIT, headers=h)
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        c.close()
        sid = self.session(port)
        status, _, data = self.post(port, call(2, "SELECT 42 AS answer"), sid=sid)
        self.assertEqual(status, 200)
        self.assertIn('"isError": false', json.dumps(json.loads(data)))

    def test_session_idle_lifetime(self):
        # A session is ended by the reaper's tick (once a second) after 1 s
        # unused. A request on a session that is still there uses it again,
        # so each look is at a session of its own: the first 2.5 s after
        # they were last used, the next ones later (a loaded machine can
        # delay the tick); one that never ends fails them all.
        port = self.start("--session-idle", "1")
        sids = [self.session(port) for _ in range(4)]
        t0 = time.monotonic()
        statuses = []
        for sid, at in zip(sids, (2.5, 5, 10, 20)):
            time.sleep(max(0, t0 + at - time.monotonic()))
            statuses.append(self.post(port, call(2, "SELECT 1"), sid=sid)[0])
            if statuses[-1] == 404:
                break
        self.assertEqual(statuses[-1], 404, f"an idle session never ended: {statuses}")
        self.assertTrue(all(st == 200 for st in statuses[:-1]), statuses)

    # ---- rough edge: DELETE during a call -------------------------------------------------

    def test_delete_during_call_answers_it(self):
        port = self.start()
        sid = self.session(port)
        out = {}

        def slow():  # a call that would run for minutes
            out["r"] = self.post(port, call(5, "SELECT pg_sleep(300)"), sid=sid, timeout=60,
                                 accept="application/json")
        t = threading.Thread(target=slow)
        t.start()
        # during the call: once it runs on the server
        self.assertEqual(len(self.server.backends("%pg_sleep(300)%", 1, timeout=30)), 1)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid})
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        t.join(30)
        self.assertFalse(t.is_alive(), "the call was not ended by DELETE")
        status, _, data = out["r"]
        self.assertEqual(status, 200)
        msg = json.loads(data)
        self.assertEqual(msg["id"], 5)
        self.assertTrue(msg["result"]["isError"])


class BadDsn(unittest.TestCase):
    # ---- defect 13 ----------------------------------------------------------------------

    def test_bad_dsn_in_datasets_file(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="pvtest-")
        path = os.path.join(d, "datasets.ini")
        with open(path, "w") as f:
            f.write("[good]\ndsn = dbname=x\n\n[sales]\ndescription = x\n"
                    "dsn = host=localhost password=hunter2 bogus=1\n")
        p = subprocess.run([PGVOLLEY, "mcp", "--datasets", path], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(path + ":6: dataset 'sales': the dsn does not parse", p.stderr)
        self.assertNotIn("hunter2", p.stderr)


class StdioBackpressure(ServerTest):
    # ---- rough edge: more calls than may run at once --------------------------------------

    def test_calls_beyond_the_limit_wait(self):
        lines = [INIT, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})]
        lines += [call(100 + i, "SELECT pg_sleep(0.3), %d AS n" % i) for i in range(40)]
        p = subprocess.run([PGVOLLEY, "mcp", "--allow-superuser", "-d", self.server.dsn],
                           input="\n".join(lines) + "\n", capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        answers = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        calls = [a for a in answers if a.get("id", 0) >= 100]
        self.assertEqual(len(calls), 40)
        refused = [a for a in calls if a["result"]["isError"]]
        self.assertEqual(refused, [])

    def running(self):
        return self.server.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                               "'%pg_sleep(300)%' AND pid <> pg_backend_pid()")

    def test_client_gone_cancels_running_calls(self):
        """A client that closes both pipes (it went away) during a call: the
        call is cancelled on the server and the server exits, without
        waiting for the answer it could not deliver."""
        p = subprocess.Popen([PGVOLLEY, "mcp", "--allow-superuser", "-d", self.server.dsn],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        # a call that would run for minutes
        p.stdin.write(INIT + "\n" + call(7, "SELECT pg_sleep(300)") + "\n")
        p.stdin.flush()
        deadline = time.monotonic() + 30
        while self.running() != "1" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.running(), "1")
        t0 = time.monotonic()
        p.stdout.close()
        p.stdin.close()
        p.wait(timeout=60)
        p.stderr.close()
        self.assertLess(time.monotonic() - t0, 20)
        deadline = time.monotonic() + 20
        while self.running() != "0" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.running(), "0", "the call still runs on the server")


if __name__ == "__main__":
    unittest.main(verbosity=2)
