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
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402

V = "2025-11-25"
GRACE_MS = 2000
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
        os.environ["PGVOLLEY_MCP_RESUME_GRACE_MS"] = str(GRACE_MS)
        os.environ["PGVOLLEY_MCP_RESUME_MAX_EVENTS"] = str(MAX_EVENTS)
        self.addCleanup(os.environ.pop, "PGVOLLEY_MCP_RESUME_GRACE_MS", None)
        self.addCleanup(os.environ.pop, "PGVOLLEY_MCP_RESUME_MAX_EVENTS", None)
        self.port = self.start_mcp_http()

    def running(self):
        return int(self.server.sql(
            f"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{MARK}%' "
            "AND pid <> pg_backend_pid()"))

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

    def test_close_then_resume_delivers_the_answer(self):
        sid, other = self.session(), self.session()
        s, prime = self.post_stream(sid, call(2, "query_dataset", {
            "dataset": "default", "query": f"SELECT pg_sleep(1.5) AS {MARK}, 1 AS one"}))
        s.close()  # not a cancellation: the call goes on
        time.sleep(0.5)
        self.assertEqual(self.running(), 1, "closing the stream cancelled the query")
        # Another session cannot name this stream.
        status, text = self.resume(other, prime)
        self.assertEqual(status, 400, text)
        self.assertNotIn('"id":2', text.replace(" ", ""))
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
        sid = self.session()
        s, _ = self.post_stream(sid, call(3, "query_dataset", {
            "dataset": "default", "query": f"SELECT pg_sleep(30) AS {MARK}"}))
        deadline = time.monotonic() + 10
        while self.running() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        s.close()
        t0 = time.monotonic()
        time.sleep(GRACE_MS / 1000 / 2)
        self.assertEqual(self.running(), 1, "cancelled before the grace period ended")
        while self.running() != 0 and time.monotonic() - t0 < 15:
            time.sleep(0.05)
        gone = time.monotonic() - t0
        self.assertEqual(self.running(), 0, "the abandoned query still runs")
        # The grace period plus the reaper's one-second tick.
        self.assertLess(gone, GRACE_MS / 1000 + 2.5, f"cancelled only after {gone:.1f} s")

    def test_buffer_bound_keeps_the_newest_and_the_answer(self):
        sid = self.session()
        n = 20
        queries = [{"dataset": "default", "query": f"SELECT {i} AS q"} for i in range(n)]
        s, prime = self.post_stream(sid, call(4, "execute_multi_query", {"queries": queries}))
        s.close()
        time.sleep(1.5)  # the call finishes while nobody listens
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
        time.sleep(1.5)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        data = call(6, "query_dataset", {"dataset": "default",
                                         "query": f"SELECT pg_sleep(30) AS {MARK}"}).encode()
        s.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                   "Content-Type: application/json\r\n"
                   "Accept: application/json, text/event-stream\r\n"
                   f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {V}\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
        deadline = time.monotonic() + 10
        while self.running() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.running(), 1)
        s.settimeout(0.5)
        got = b""
        try:
            while b"\r\n\r\n" not in got:
                got += s.recv(4096)
            got += s.recv(4096)
        except socket.timeout:
            pass
        self.assertIn(b"text/event-stream", got)
        self.assertNotIn(b"\nid: ", got, "a stream started with a full buffer has ids")
        s.close()
        t0 = time.monotonic()
        while self.running() != 0 and time.monotonic() - t0 < 10:
            time.sleep(0.02)
        self.assertEqual(self.running(), 0)
        self.assertLess(time.monotonic() - t0, GRACE_MS / 1000 / 2, "not cancelled at once")

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
        r.read()  # returns at the stream's end
        self.assertLess(time.monotonic() - t0, 3.0)
        c.close()
        c3, r3 = self.get(sid)
        self.assertEqual(r3.status, 404)
        c3.close()


if __name__ == "__main__":
    unittest.main()
