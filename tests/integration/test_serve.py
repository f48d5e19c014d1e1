"""`pgvolley serve` (issue 13): its HTTP API against a real throwaway server:
a run followed by its events to the end, its report and page, compare,
cancel (running and queued), the history across restarts (and a SIGKILL),
bad input, the request checks, and the OpenAPI document's agreement with
the routes the server answers. Python stdlib only; SSE read by hand."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

QUICK = "-- name: one\nSELECT 1;\n"
SLEEPY = "-- name: sleepy\nSELECT pg_sleep(0.3);\n"
TOKEN = "a-test-token-0123456789"


class Serve:
    """One `pgvolley serve` process."""

    def __init__(self, test, state, *extra, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen(
            [PGVOLLEY, "serve", "--targets", test.targets, "--state-dir", state,
             "--listen", listen, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"http://(\S+):(\d+)/$", line.strip())
        if not m:
            err = self.proc.stderr.read()
            self.proc.wait(timeout=10)
            raise AssertionError(f"serve did not start: {line!r} {err}")
        self.port = int(m.group(2))
        self.host = "127.0.0.1"
        self.token = None

    def request(self, method, path, body=None, headers=None, raw=False):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        if raw:
            return r.status, r, data
        return r.status, (json.loads(data) if data and
                          r.getheader("Content-Type", "").startswith("application/json")
                          else data)

    def events(self, run_id, until="end", timeout=30, headers=None):
        """The run's server-sent events [(event, data)] until `until`."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        c.request("GET", f"/api/runs/{run_id}/events",
                  headers=headers or
                  ({"Authorization": f"Bearer {self.token}"} if self.token else {}))
        r = c.getresponse()
        assert r.status == 200, r.status
        assert r.getheader("Content-Type") == "text/event-stream"
        out, ev, data = [], None, []
        while True:
            line = r.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "":
                if ev:
                    out.append((ev, json.loads("\n".join(data))))
                    if ev == until:
                        break
                ev, data = None, []
        c.close()
        return out

    def wait_state(self, run_id, states, timeout=30, points=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, runs = self.request("GET", "/api/runs?limit=1000")
            for r in runs["runs"]:
                if r["id"] == run_id and r["state"] in states and r["points"] >= points:
                    return r
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached {states}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.stdout.closed:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        return err


def run_req(content=QUICK, **kw):
    req = {"target": "db", "files": [{"name": "q.sql", "content": content}],
           "concurrency": 2, "duration": 1}
    req.update(kw)
    return {k: v for k, v in req.items() if v is not None}


class ServeTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tempfile
        cls.cdir = tempfile.mkdtemp(prefix="pvserve-")
        cls.targets = os.path.join(cls.cdir, "targets.ini")
        with open(cls.targets, "w") as f:
            f.write(f"[db]\ndsn = {cls.server.dsn}\ndescription = the test server\n"
                    "max_concurrency = 8\n")

    def serve(self, *extra, state=None, **kw):
        s = Serve(self, state or os.path.join(self.dir, "state"), *extra, **kw)
        self.addCleanup(s.stop)
        return s

    def create(self, s, req, expect=201):
        status, body = s.request("POST", "/api/runs", req)
        self.assertEqual(status, expect, body)
        return body

    def test_run_events_report_compare(self):
        s = self.serve()
        status, t = s.request("GET", "/api/targets")
        self.assertEqual(t, {"targets": [{"name": "db", "description": "the test server",
                                          "max_concurrency": 8}]})
        self.assertNotIn("dsn", json.dumps(t))
        run = self.create(s, run_req(name="first", concurrency=[1, 2], duration=1))
        self.assertIn(run["state"], ["queued", "running"])
        ev = s.events(run["id"])
        names = [e for e, _ in ev]
        self.assertEqual(names[0], "state")
        self.assertIn("point", names)
        self.assertEqual(names[-2:], ["summary", "end"])
        summary = ev[-2][1]
        self.assertEqual(summary["state"], "finished")
        self.assertEqual(summary["exit_code"], 0)
        self.assertGreater(summary["summary"]["executions"], 0)
        points = [d for e, d in ev if e == "point"]
        self.assertEqual(sorted({p["concurrency"] for p in points}), [1, 2])
        # a late client gets the same points from the history
        late = [d for e, d in s.events(run["id"]) if e == "point"]
        self.assertEqual(late, points)
        status, rep = s.request("GET", f"/api/runs/{run['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(rep["schema"], "pgvolley.report/1")
        self.assertTrue(rep["sweep"])
        self.assertNotIn("password", json.dumps(rep))
        status, resp, page = s.request("GET", f"/api/runs/{run['id']}/report.html", raw=True)
        self.assertEqual(status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/html"))
        self.assertIn(b"<html", page[:200].lower())
        second = self.create(s, run_req(concurrency=2))
        s.events(second["id"])
        status, cmp = s.request("GET", f"/api/compare?base={run['id']}&new={second['id']}")
        self.assertEqual(status, 200, cmp)
        self.assertEqual(cmp["schema"], "pgvolley.compare/1")
        status, lst = s.request("GET", "/api/runs?state=finished&name=firs")
        self.assertEqual([r["id"] for r in lst["runs"]], [run["id"]])
        status, page1 = s.request("GET", "/api/runs?limit=1")
        self.assertEqual([r["id"] for r in page1["runs"]], [second["id"]])
        status, page2 = s.request("GET", f"/api/runs?limit=1&before={page1['next_before']}")
        self.assertEqual([r["id"] for r in page2["runs"]], [run["id"]])
        self.assertEqual(s.request("DELETE", f"/api/runs/{second['id']}")[0], 204)
        self.assertEqual(s.request("GET", f"/api/runs/{second['id']}")[0], 404)

    def test_cancel_running_and_queued(self):
        s = self.serve("--max-runs", "1")
        long = self.create(s, run_req(SLEEPY, duration=60, concurrency=3))
        queued = self.create(s, run_req())
        status, r = s.request("GET", f"/api/runs/{queued['id']}")
        self.assertEqual((r["state"], r["queue_position"]), ("queued", 1))
        status, r = s.request("POST", f"/api/runs/{queued['id']}/cancel")
        self.assertEqual((status, r["state"]), (200, "cancelled"))
        s.wait_state(long["id"], ["running"])
        self.assertEqual(len(self.server.backends("%pg_sleep%", 3)), 3)
        status, r = s.request("POST", f"/api/runs/{long['id']}/cancel")
        self.assertEqual(status, 202)
        t0 = time.monotonic()
        ev = s.events(long["id"])
        self.assertEqual(ev[-2][1]["state"], "cancelled")
        self.assertEqual(ev[-2][1]["exit_code"], 130)
        left = []
        while time.monotonic() - t0 < 2.5:
            left = self.server.sql("SELECT pid FROM pg_stat_activity WHERE query LIKE "
                                   "'%pg_sleep(0.3)%' AND pid <> pg_backend_pid()").split()
            if not left:
                break
            time.sleep(0.05)
        self.assertEqual(left, [], "the cancelled run's queries are still on the server")
        status, rep = s.request("GET", f"/api/runs/{long['id']}")
        self.assertTrue(rep["interrupted"])
        status, r = s.request("POST", f"/api/runs/{long['id']}/cancel")
        self.assertEqual(status, 409)

    def test_history_survives_restart_and_sigkill(self):
        state = os.path.join(self.dir, "state")
        s = Serve(self, state)
        done = self.create(s, run_req())
        s.events(done["id"])
        s.stop()
        s = Serve(self, state)
        status, r = s.request("GET", f"/api/runs/{done['id']}")
        self.assertEqual(r["schema"], "pgvolley.report/1")
        long = self.create(s, run_req(SLEEPY, duration=60))
        s.wait_state(long["id"], ["running"])
        s.stop(signal.SIGKILL)
        s = self.serve(state=state)
        status, lst = s.request("GET", "/api/runs")
        states = {r["id"]: r["state"] for r in lst["runs"]}
        self.assertEqual(states, {done["id"]: "finished", long["id"]: "interrupted"})
        # a server stopped cleanly marks its running run interrupted itself
        again = self.create(s, run_req(SLEEPY, duration=60))
        s.wait_state(again["id"], ["running"], points=1)
        s.stop()
        s = self.serve(state=state)
        status, resp, data = s.request("GET", f"/api/runs/{again['id']}", raw=True)
        self.assertEqual(resp.getheader("X-Pgvolley-Run-State"), "interrupted", data)
        self.assertTrue(json.loads(data)["interrupted"])  # its partial report was kept
        status, lst = s.request("GET", f"/api/runs?state=interrupted")
        self.assertIn(again["id"], [r["id"] for r in lst["runs"]])

    def test_workload_dir(self):
        wd = os.path.join(self.dir, "wl")
        os.mkdir(wd)
        with open(os.path.join(wd, "ids.csv"), "w") as f:
            f.write("id\n1\n2\n3\n")
        with open(os.path.join(wd, "w.sql"), "w") as f:
            f.write("-- name: byid\n-- PARAMETERS_FILE: ids.csv\nSELECT $1::int;\n")
        with open(os.path.join(wd, "bad.sql"), "w") as f:
            f.write("-- EXEC_COUNT: 0\nSELECT 1;\n")
        s = self.serve("--workload-dir", wd)
        status, f = s.request("GET", "/api/workload-files")
        self.assertEqual(f, {"workload_dir": True, "files": [
            {"name": "bad.sql", "size": 27}, {"name": "w.sql", "size": 58}]})
        run = self.create(s, {"target": "db", "workload_files": ["w.sql"], "concurrency": 1})
        ev = s.events(run["id"])
        self.assertEqual((ev[-2][1]["state"], ev[-2][1]["exit_code"]), ("finished", 0), ev[-2])
        status, e = s.request("POST", "/api/runs", {"target": "db", "workload_files": ["bad.sql"],
                                                    "concurrency": 1})
        self.assertEqual(status, 400)
        self.assertRegex(e["error"]["message"], r"^bad\.sql:1:\d+: ")
        for name in ["nope.sql", "../w.sql", "/etc/passwd", "."]:
            status, e = s.request("POST", "/api/runs", {"target": "db", "workload_files": [name],
                                                        "concurrency": 1})
            self.assertEqual(status, 400, name)
        # an uploaded file may not read the server's files
        status, e = s.request("POST", "/api/runs", run_req(
            "-- PARAMETERS_FILE: /etc/passwd\nSELECT $1;\n"))
        self.assertEqual(status, 400)
        self.assertIn("q.sql:1:4: PARAMETERS_FILE is not allowed", e["error"]["message"])

    def test_preview(self):
        s = self.serve()
        content = ("-- name: pair\n-- PARAMETERS: [[1, \"a\"], [2, \"b\"]]\n-- EXEC_COUNT: 3\n"
                   "SELECT $1::int, $2::text;\n")
        status, p = s.request("POST", "/api/preview", run_req(content, concurrency=[1, 8],
                                                               duration=None))
        self.assertEqual(status, 200, p)
        q = p["queries"][0]
        self.assertEqual((q["file"], q["params"], q["exec_count"]), ("q.sql", 2, 3))
        self.assertEqual([(x["exec_count"], x["params"]) for x in q["scenarios"]],
                         [(3, [1, "a"]), (3, [2, "b"])])
        self.assertEqual(p["executions_per_level"], 6)
        self.assertFalse(p["time_based"])
        # the seed's pool sizing: max(1, c/4) kept, c more as overflow
        self.assertEqual([(lv["concurrency"], lv["pool"]["size"], lv["pool"]["max_overflow"])
                          for lv in p["levels"]], [(1, 1, 1), (8, 2, 8)])
        status, e = s.request("POST", "/api/preview", run_req("-- EXEC_COUNT: 0\nSELECT 1;\n"))
        self.assertEqual(status, 400)
        self.assertEqual(s.request("GET", "/api/runs")[1]["runs"], [])
        self.assertEqual(s.request("GET", "/api/workload-files")[1],
                         {"workload_dir": False, "files": []})
        # view=run: the run's object (with its request) even once it has a report
        run = self.create(s, run_req())
        s.events(run["id"])
        status, r = s.request("GET", f"/api/runs/{run['id']}?view=run")
        self.assertEqual((r["state"], r["config"]["files"][0]["name"]), ("finished", "q.sql"))

    def test_bad_input(self):
        s = self.serve()
        bad = "-- EXEC_COUNT: many\nSELECT 2;\n"
        status, e = s.request("POST", "/api/runs", run_req(bad))
        self.assertEqual(status, 400)
        self.assertEqual(e["error"]["message"],
                         'q.sql:1:16: EXEC_COUNT must be a positive integer, not "many"')
        # the same text as `pgvolley run` prints
        path = self.write("q.sql", bad)
        cli = self.pgvolley("run", path)
        self.assertIn(':1:16: EXEC_COUNT must be a positive integer, not "many"', cli.stderr)
        status, e = s.request("POST", "/api/runs", run_req(target="nope"))
        self.assertEqual(status, 400)
        self.assertIn("unknown target 'nope'", e["error"]["message"])
        status, e = s.request("POST", "/api/runs", run_req(concurrency=[2, 9]))
        self.assertEqual(status, 400)
        self.assertIn("max_concurrency 8", e["error"]["message"])
        status, e = s.request("POST", "/api/runs", run_req(pool_size=0))
        self.assertEqual(status, 400)
        self.assertIn("--pool-size", e["error"]["message"])
        status, e = s.request("POST", "/api/runs", run_req(dsn="host=elsewhere"))
        self.assertEqual(status, 400)
        self.assertIn("unknown field 'dsn'", e["error"]["message"])
        status, e = s.request("POST", "/api/runs", "{not json")
        self.assertEqual(status, 400)
        status, e = s.request("POST", "/api/runs", run_req("x" * (5 << 20)))
        self.assertEqual(status, 413)
        status, e = s.request("POST", "/api/runs", {"target": "db", "concurrency": 1})
        self.assertEqual(status, 400)
        self.assertIn("no workload file", e["error"]["message"])
        status, lst = s.request("GET", "/api/runs")
        self.assertEqual(lst["runs"], [])

    def test_auth_host_origin(self):
        tok = self.write("token", TOKEN + "\n")
        s = self.serve("--token-file", tok)
        self.assertEqual(s.request("GET", "/api/runs")[0], 401)
        self.assertEqual(s.request("GET", "/api/runs",
                                   headers={"Authorization": "Bearer wrong"})[0], 401)
        s.token = TOKEN
        self.assertEqual(s.request("GET", "/api/runs")[0], 200)
        self.assertEqual(s.request("GET", "/api/runs",
                                   headers={"Host": f"evil.example:{s.port}"})[0], 403)
        self.assertEqual(s.request("GET", "/api/runs",
                                   headers={"Origin": "http://evil.example"})[0], 403)
        self.assertEqual(s.request("GET", "/api/runs",
                                   headers={"Origin": f"http://localhost:{s.port}"})[0], 200)
        # beyond loopback: refused without a token
        p = subprocess.run([PGVOLLEY, "serve", "--targets", self.targets, "--state-dir",
                            os.path.join(self.dir, "s2"), "--listen", "0.0.0.0:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("needs --token-file", p.stderr)

    def test_browser_sign_in(self):
        """--token-file: the dashboard's files are open, /api/ needs the bearer header or
        a session's cookie (POST /api/login); failed sign-ins are rate limited; a cookie
        request that changes something needs the server's Origin."""
        tok = self.write("token", TOKEN + "\n")
        s = self.serve("--token-file", tok)
        origin = f"http://127.0.0.1:{s.port}"
        for path in ["/", "/ui/app.js", "/ui/app.css"]:
            self.assertEqual(s.request("GET", path)[0], 200, path)
        status, resp, _ = s.request("GET", "/api/runs", raw=True)
        self.assertEqual((status, resp.getheader("WWW-Authenticate")), (401, "Bearer"))
        self.assertEqual(s.request("POST", "/api/login", "{}")[0], 400)
        # wrong tokens: 401 five times at once, then 429 for every attempt (the right
        # one too, unseen) until the bucket refills at one a second
        codes = [s.request("POST", "/api/login", {"token": "wrong-" + str(i)})[0]
                 for i in range(5)]
        self.assertEqual(codes, [401] * 5)
        status, resp, _ = s.request("POST", "/api/login", {"token": TOKEN}, raw=True)
        self.assertEqual((status, resp.getheader("Retry-After")), (429, "1"))
        self.assertIsNone(resp.getheader("Set-Cookie"))
        # ... for that client address only: another one signs in meanwhile
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30,
                                       source_address=("127.0.0.2", 0))
        c.request("POST", "/api/login", body=json.dumps({"token": TOKEN}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual(r.status, 204, "one client's failures locked another out")
        time.sleep(1.2)
        status, resp, _ = s.request("POST", "/api/login", {"token": TOKEN},
                                    headers={"Origin": origin}, raw=True)
        self.assertEqual(status, 204)
        cookie = resp.getheader("Set-Cookie")
        m = re.match(r"pgvolley_session=([0-9a-f]{64}); (.*)$", cookie)
        self.assertTrue(m, cookie)
        attrs = m.group(2).split("; ")
        self.assertEqual(sorted(attrs), ["HttpOnly", "Path=/", "SameSite=Strict"])
        jar = {"Cookie": f"pgvolley_session={m.group(1)}"}
        # a page loaded over https, or a TLS proxy saying so: the cookie is Secure
        status, resp, _ = s.request("POST", "/api/login", {"token": TOKEN},
                                    headers={"Origin": f"https://localhost:{s.port}"}, raw=True)
        self.assertIn("; Secure", resp.getheader("Set-Cookie"))
        status, resp, _ = s.request("POST", "/api/login", {"token": TOKEN},
                                    headers={"X-Forwarded-Proto": "https"}, raw=True)
        self.assertIn("; Secure", resp.getheader("Set-Cookie"))
        # the cookie works for reading and for the event stream
        self.assertEqual(s.request("GET", "/api/runs", headers=jar)[0], 200)
        self.assertEqual(s.request("GET", "/api/runs",
                                   headers={"Cookie": "pgvolley_session=" + "0" * 64})[0], 401)
        # ... but a change needs the server's own Origin (and no cross-site fetch)
        status, e = s.request("POST", "/api/runs", run_req(), headers=jar)
        self.assertEqual(status, 403, e)
        self.assertIn("Origin", e["error"]["message"])
        self.assertEqual(s.request("POST", "/api/runs", run_req(), headers={
            **jar, "Origin": origin, "Sec-Fetch-Site": "cross-site"})[0], 403)
        self.assertEqual(s.request("POST", "/api/runs", run_req(), headers={
            **jar, "Origin": "http://evil.example"})[0], 403)
        # another local port is another origin, though the guard lets any
        # loopback origin through and SameSite does not tell ports apart
        other = re.sub(r":\d+$", ":1", origin)
        self.assertNotEqual(other, origin)
        self.assertEqual(s.request("POST", "/api/runs", run_req(), headers={
            **jar, "Origin": other})[0], 403)
        run = self.create_with(s, run_req(), {**jar, "Origin": origin,
                                              "Sec-Fetch-Site": "same-origin"})
        ev = s.events(run["id"], headers=jar)
        self.assertEqual(ev[-2][1]["state"], "finished")
        # the bearer header still works, Origin or not
        s.token = TOKEN
        self.create(s, run_req(duration=None))
        s.token = None
        # signing out ends the session (its cookie then gets 401)
        status, resp, _ = s.request("POST", "/api/logout", headers={**jar, "Origin": origin},
                                    raw=True)
        self.assertEqual(status, 204)
        self.assertIn("Max-Age=0", resp.getheader("Set-Cookie"))
        self.assertEqual(s.request("GET", "/api/runs", headers=jar)[0], 401)

    def create_with(self, s, req, headers):
        status, body = s.request("POST", "/api/runs", req, headers=headers)
        self.assertEqual(status, 201, body)
        return body

    def test_concurrency_to_1000(self):
        """serve's targets may allow up to 1000 (seed 000's range; multi and mcp keep
        100), and so does the ephemeral target: a run at 300 on it finishes."""
        big = self.write("big.ini", f"[big]\ndsn = {self.server.dsn}\nmax_concurrency = 1000\n")
        s = self.serve("--ephemeral", "--targets", big)
        status, t = s.request("GET", "/api/targets")
        self.assertEqual({x["name"]: x["max_concurrency"] for x in t["targets"]},
                         {"big": 1000, "ephemeral": 1000})
        run = self.create(s, run_req(target="ephemeral", concurrency=300, duration=None,
                                     exec_count=1200))
        ev = s.events(run["id"], timeout=120)
        self.assertEqual((ev[-2][1]["state"], ev[-2][1]["exit_code"]), ("finished", 0), ev[-2])
        status, rep = s.request("GET", f"/api/runs/{run['id']}")
        self.assertEqual(rep["config"]["concurrency"], 300)
        status, e = s.request("POST", "/api/runs", run_req(target="ephemeral", concurrency=1001))
        self.assertEqual(status, 400)
        self.assertEqual(e["error"]["message"], "concurrency 1001 is above the limit of target "
                         "'ephemeral' (max_concurrency 1000)")
        over = self.write("over.ini", f"[big]\ndsn = {self.server.dsn}\nmax_concurrency = 1001\n")
        p = subprocess.run([PGVOLLEY, "serve", "--targets", over, "--state-dir",
                            os.path.join(self.dir, "s3"), "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("max_concurrency must be from 1 to 1000, not 1001", p.stderr)
        # multi keeps its 100
        q = self.write("q.json", '{"queries": [{"query": "SELECT 1"}]}')
        p = subprocess.run([PGVOLLEY, "multi", "--datasets", big, q], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("max_concurrency must be from 1 to 100, not 1000", p.stderr)

    def test_openapi_agrees(self):
        s = self.serve()
        status, doc = s.request("GET", "/api/openapi.json")
        self.assertEqual(doc["openapi"], "3.1.0")
        run = self.create(s, run_req())
        s.events(run["id"])
        other = self.create(s, run_req())
        s.events(other["id"])
        methods = ["GET", "POST", "DELETE", "PUT", "PATCH"]
        for path, ops in doc["paths"].items():
            url = path.replace("{id}", str(run["id"]))
            if path == "/api/compare":
                url += f"?base={run['id']}&new={other['id']}"
            for m in methods:
                if m.lower() in ops and m == "DELETE":
                    continue  # answered below, once the rest is checked
                body = run_req() if (m == "POST" and path in ("/api/runs", "/api/preview")) \
                    else None
                if m == "GET" and path.endswith("/events"):
                    s.events(run["id"])
                    continue
                status, _ = s.request(m, url, body)
                if m.lower() in ops:
                    self.assertIn(str(status), ops[m.lower()]["responses"], f"{m} {path}")
                    self.assertNotIn(status, (404, 405), f"{m} {path}")
                else:
                    self.assertEqual(status, 405, f"{m} {path} is answered but not documented")
        self.assertEqual(s.request("DELETE", f"/api/runs/{other['id']}")[0], 204)
        self.assertEqual(s.request("DELETE", "/api/runs?keep=0")[0], 200)
        for path in ["/api", "/api/run", "/api/runs/1/x", "/api/runs/abc", "/index.html",
                     "/api/targets/db", "/metrics"]:
            self.assertEqual(s.request("GET", path)[0], 404, path)


if __name__ == "__main__":
    unittest.main()
