"""Resumable event streams of `pgvolley mcp --http` (issue 14, 2025-11-25):
a client that closes a tool call's event stream does not cancel the call;
GET with Last-Event-ID replays what it missed and delivers the answer; an
event id of another session replays nothing; a stream nobody resumes within
the grace period has its query cancelled on PostgreSQL; the per-session
buffer keeps its event bound (the oldest progress notifications go, the
answer stays); the standalone GET stream opens and ends with its session.

The server runs with the hidden test knobs PGVOLLEY_MCP_RESUME_GRACE_MS
(a short grace period) and PGVOLLEY_MCP_RESUME_MAX_EVENTS (a small bound)."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402

V = "2025-11-25"
# The grace period: what is cancelled at once and what only after the grace
# are told apart by the server's clock (the snapshot's time), so a slow psql
# on a loaded machine does not blur them
GRACE_MS = 4000
MAX_EVENTS = 8
MARK = "slept_in_resume_test"


def call(id_, name, args, progress="p"):
    params = {"name": name, "arguments": args}
    if progress:
        params["_meta"] = {"progressToken": progress}
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params})


def events(text):
    """The events of an event stream's text: [(id or None, data)]."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        eid = None
        data = []
        for line in block.split("\n"):
            if line.startswith("id: "):
                eid = line[4:]
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if eid is not None or data:
            out.append((eid, "\n".join(data)))
    return out


class Resume(ServerTest):
    def setUp(self):
        super().setUp()
        self.port = self.start(GRACE_MS)

    def start(self, grace_ms):
        """A server with this grace period and MAX_EVENTS, writing the audit
        log (a call's line is written when the call has ended); its port."""
        os.environ["PGVOLLEY_MCP_RESUME_GRACE_MS"] = str(grace_ms)
        os.environ["PGVOLLEY_MCP_RESUME_MAX_EVENTS"] = str(MAX_EVENTS)
        try:
            self.audit = os.path.join(self.dir, f"audit-{grace_ms}.jsonl")
            return self.start_mcp_http("--audit-log", self.audit)
        finally:
            os.environ.pop("PGVOLLEY_MCP_RESUME_GRACE_MS", None)
            os.environ.pop("PGVOLLEY_MCP_RESUME_MAX_EVENTS", None)

    def activity(self):
        """(backends running a query marked MARK, the server's clock then): the
        time of the snapshot itself, not of our call, which can take a second
        of psql start-up and connection on a loaded machine."""
        n, at = self.server.sql(
            "SELECT count(*), extract(epoch FROM now()) FROM pg_stat_activity "
            f"WHERE query LIKE '%{MARK}%' AND pid <> pg_backend_pid()").split("|")
        return int(n), float(at)

    def running(self):
        return self.activity()[0]

    def wait_running(self):
        deadline = time.monotonic() + 30
        while self.running() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.running(), 1, "the query never started")

    def watch_until_gone(self, timeout):
        """[(running, server time)] from now until a snapshot finds no query
        marked MARK (or timeout seconds)."""
        seen = []
        deadline = time.monotonic() + timeout
        while not seen or (seen[-1][0] != 0 and time.monotonic() < deadline):
            seen.append(self.activity())
            time.sleep(0.05)
        return seen

    def wait_ended(self, tool):
        """Until the audit log has the line of a call of tool: the call has
        ended (its progress notifications all sent; its answer follows the
        line at once)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with open(self.audit) as f:
                    if any(json.loads(x)["tool"] == tool for x in f if x.strip()):
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        self.fail(f"no call of {tool} ended")

    def session(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("POST", "/mcp", body=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": V, "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"}}}),
            headers={"Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.assertEqual(body["result"]["protocolVersion"], V)
        return r.getheader("Mcp-Session-Id")

    def post_stream(self, sid, body):
        """POSTs on a raw socket, reads up to the priming event; returns (socket, its id)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        data = body.encode()
        s.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                   "Content-Type: application/json\r\n"
                   "Accept: application/json, text/event-stream\r\n"
                   f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {V}\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
        got = b""
        while True:
            m = re.search(rb"id: (\d+-0)\r?\nretry: \d+\r?\ndata: ?\r?\n", got)
            if m:
                return s, m.group(1).decode()
            chunk = s.recv(4096)
            self.assertTrue(chunk, f"the stream ended before its priming event: {got!r}")
            got += chunk

    def get(self, sid, last=None, timeout=20):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Accept": "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": V}
        if last:
            h["Last-Event-ID"] = last
        c.request("GET", "/mcp", headers=h)
        return c, c.getresponse()

    def resume(self, sid, last):
        c, r = self.get(sid, last)
        status, text = r.status, r.read().decode()
        c.close()
        return status, text

    def hold_gate(self):
        """A table `gate` of one row (1), locked by another session until the
        returned function is called: a query reading it runs until then,
        however slow a loaded machine is."""
        self.server.sql("CREATE TABLE IF NOT EXISTS gate AS SELECT 1 AS one")
        holder = subprocess.Popen(
            [self.server.psql_bin, "-X", "-q", "-d", self.server.dsn, "-c",
             "BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def release():
            self.server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE query LIKE 'BEGIN; LOCK TABLE gate%'")
            holder.wait(timeout=60)
        self.addCleanup(lambda: holder.poll() is None and release())
        self.assertEqual(len(self.server.backends("BEGIN; LOCK TABLE gate%", 1, timeout=30)), 1)
        return release

    def test_close_then_resume_delivers_the_answer(self):
        # a grace period longer than a loaded machine can take to get to the
        # resume: this test is not about the grace period
        self.port = self.start(60000)
        release = self.hold_gate()
        sid, other = self.session(), self.session()
        s, prime = self.post_stream(sid, call(2, "query_dataset", {
            "dataset": "default", "query": f"SELECT 0 AS {MARK}, one FROM gate"}))
        s.close()  # not a cancellation: the call goes on
        # it starts (or has started: on a loaded machine the connection can
        # take a while) and still runs a moment later, waiting for the gate
        self.wait_running()
        time.sleep(0.3)
        self.assertEqual(self.running(), 1, "closing the stream cancelled the query")
        # Another session cannot name this stream.
        status, text = self.resume(other, prime)
        self.assertEqual(status, 400, text)
        self.assertNotIn('"id":2', text.replace(" ", ""))
        # the gate opens (most likely once the resume below waits; before is
        # fine too: the answer is kept for it)
        opener = threading.Timer(0.5, release)
        opener.start()
        self.addCleanup(opener.join)
        status, text = self.resume(sid, prime)  # waits for the answer, then ends
        self.assertEqual(status, 200, text)
        evs = events(text)
        answers = [json.loads(d) for _, d in evs if d and json.loads(d).get("id") == 2]
        self.assertEqual(len(answers), 1, text)
        res = answers[0]["result"]
        self.assertFalse(res.get("isError"), res)
        self.assertEqual(res["structuredContent"]["rows"][0][1], "1")
        self.assertTrue(all(re.fullmatch(r"\d+-[1-9]\d*", e) for e, _ in evs if e), evs)
        # Delivered: the stream is gone from the buffer.
        status, _ = self.resume(sid, prime)
        self.assertEqual(status, 400)

    def test_abandoned_stream_is_cancelled_after_the_grace_period(self):
        # The query would sleep for minutes, and the grace period without
        # the test's knob is 30 s: cancelled after the 4 s grace is told
        # apart from both by far. The times are the server's snapshots',
        # from the close (the server can only see it later).
        grace = GRACE_MS / 1000
        sid = self.session()
        s, _ = self.post_stream(sid, call(3, "query_dataset", {
            "dataset": "default", "query": f"SELECT pg_sleep(300) AS {MARK}"}))
        self.wait_running()
        s.close()
        closed = time.time()
        seen = [(n, at - closed) for n, at in self.watch_until_gone(grace + 40)]
        self.assertEqual(seen[-1][0], 0, f"the abandoned query still runs: {seen}")
        early = [at for n, at in seen if n == 0 and at < grace]
        self.assertEqual(early, [], f"cancelled before the grace period ended: {seen}")
        self.assertTrue([at for n, at in seen if n == 1 and at >= grace / 2],
                        f"not seen running in the second half of the grace period: {seen}")
        # the grace period, the reaper's one-second tick, and slack
        gone = seen[-1][1]
        self.assertLess(gone, grace + 10, f"cancelled only after {gone:.1f} s")

    def test_buffer_bound_keeps_the_newest_and_the_answer(self):
        sid = self.session()
        n = 20
        queries = [{"dataset": "default", "query": f"SELECT {i} AS q"} for i in range(n)]
        s, prime = self.post_stream(sid, call(4, "execute_multi_query", {"queries": queries}))
        s.close()
        # the call finishes while nobody listens (its answer is buffered right
        # after its audit line: a moment for that, not a guess at how long
        # 20 queries take on a loaded machine)
        self.wait_ended("execute_multi_query")
        time.sleep(0.2)
        status, text = self.resume(sid, prime)
        self.assertEqual(status, 200, text)
        msgs = [json.loads(d) for _, d in events(text) if d]
        self.assertLessEqual(len(msgs), MAX_EVENTS, text)
        self.assertEqual(msgs[-1].get("id"), 4, "the answer is kept")
        self.assertEqual(len(msgs[-1]["result"]["structuredContent"]["results"]), n)
        progress = [m["params"]["progress"] for m in msgs[:-1]]
        self.assertEqual(len(progress), MAX_EVENTS - 1, "the newest progress events are kept")
        self.assertEqual(progress, sorted(progress))
        self.assertEqual(progress[-1], n)

    def test_stream_started_with_a_full_buffer_is_not_resumable(self):
        # a finished, abandoned call fills the session's buffer (MAX_EVENTS
        # events); a call streamed then gets no ids, and closing its stream
        # cancels it at once rather than after the grace period: what a
        # session keeps stays bounded
        sid = self.session()
        queries = [{"dataset": "default", "query": f"SELECT {i} AS q"} for i in range(20)]
        s, _ = self.post_stream(sid, call(5, "execute_multi_query", {"queries": queries}))
        s.close()
        # its 20 progress notifications are in the buffer: it is at its bound
        self.wait_ended("execute_multi_query")
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        data = call(6, "query_dataset", {"dataset": "default",
                                         "query": f"SELECT pg_sleep(300) AS {MARK}"}).encode()
        s.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                   "Content-Type: application/json\r\n"
                   "Accept: application/json, text/event-stream\r\n"
                   f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {V}\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
        self.wait_running()
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            self.assertTrue(chunk, got)
            got += chunk
        s.settimeout(0.5)  # a resumable stream's priming event would follow the headers
        try:
            got += s.recv(4096)
        except socket.timeout:
            pass
        self.assertIn(b"text/event-stream", got)
        self.assertNotIn(b"\nid: ", got, "a stream started with a full buffer has ids")
        s.close()
        closed = time.time()
        seen = [(n, at - closed) for n, at in self.watch_until_gone(30)]
        self.assertEqual(seen[-1][0], 0, f"the query still runs: {seen}")
        # at once: gone, by the server's clock, before the grace period of a
        # kept stream could have ended (that one is cancelled no earlier than
        # the grace period after the close; the query would sleep for minutes)
        self.assertLess(seen[-1][1], GRACE_MS / 1000, f"not cancelled at once: {seen}")

    def test_standalone_stream_ends_with_its_session(self):
        sid = self.session()
        c, r = self.get(sid)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/event-stream"))
        first = r.read1(4096).decode()  # the priming event
        self.assertRegex(first, r"^id: \d+-0\nretry: \d+\ndata: ?\n\n")
        c2, r2 = self.get(sid)  # one per session
        self.assertEqual(r2.status, 409)
        r2.read()
        c2.close()
        d = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        d.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid})
        self.assertEqual(d.getresponse().status, 200)
        d.close()
        t0 = time.monotonic()
        r.read()  # returns at the stream's end (a stream left open: the 20 s timeout raises)
        self.assertLess(time.monotonic() - t0, 15)
        c.close()
        c3, r3 = self.get(sid)
        self.assertEqual(r3.status, 404)
        c3.close()


if __name__ == "__main__":
    unittest.main()
