"""`pgvolley serve --history-dsn` (issue 13 item 3): the run history in a
PostgreSQL database (the test's throwaway server) across restarts: a
finished run is listed after a restart with its report and points; a run
running when serve is SIGKILLed shows interrupted after the restart; two
servers share the database without interrupting each other's runs; the
history DSN's password shows nowhere. Python stdlib only."""
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
PASSWORD = "hunter2-not-needed"


class Serve:
    """One `pgvolley serve` process keeping its history in PostgreSQL."""

    def __init__(self, dsn, *targets):
        self.proc = subprocess.Popen(
            [PGVOLLEY, "serve", *targets, "--history-dsn", dsn, "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"http://127\.0\.0\.1:(\d+)/$", line.strip())
        if not m:
            err = self.proc.stderr.read()
            self.proc.wait(timeout=30)
            raise AssertionError(f"serve did not start: {line!r} {err}")
        self.port = int(m.group(1))
        self.stderr = ""

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        return r.status, data

    def json(self, method, path, body=None):
        status, data = self.request(method, path, body)
        return status, json.loads(data)

    def point_events(self, run_id):
        """The run's point events, read from its event stream to its end."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", f"/api/runs/{run_id}/events")
        r = c.getresponse()
        points, ev = [], None
        while True:
            line = r.fp.readline().decode()
            if not line:
                break
            line = line.rstrip("\n")
            if line.startswith("event: "):
                ev = line[7:]
                if ev == "end":
                    break
            elif line.startswith("data: ") and ev == "point":
                points.append(json.loads(line[6:]))
        c.close()
        return points

    def wait_state(self, run_id, states, timeout=60, points=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, lst = self.json("GET", "/api/runs?limit=1000")
            for r in lst["runs"]:
                if r["id"] == run_id and r["state"] in states and r["points"] >= points:
                    return r
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached {states}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        if not self.proc.stdout.closed:
            self.proc.stdout.close()
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return self.stderr


def run_req(target, content=QUICK, duration=1):
    return {"target": target, "files": [{"name": "q.sql", "content": content}],
            "concurrency": 2, "duration": duration}


class ServeHistoryPgTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the history's own database on the test's server
        cls.server.sql("CREATE DATABASE history")
        cls.history_dsn = cls.server.dsn.replace("dbname=postgres", "dbname=history") + \
            f" password={PASSWORD}"

    def setUp(self):
        super().setUp()
        self.server.sql("SELECT 1")  # the server is up
        subprocess.run([*self.psql_history(), "-c",
                        "DROP SCHEMA IF EXISTS pgvolley_history CASCADE"],
                       check=True, capture_output=True, timeout=60)
        self.targets = self.write("targets.ini", f"[db]\ndsn = {self.server.dsn}\n")

    def psql_history(self):
        return [self.server.psql_bin, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                "-d", self.history_dsn.replace(f" password={PASSWORD}", "")]

    def history_sql(self, query):
        return subprocess.run([*self.psql_history(), "-c", query], check=True,
                              capture_output=True, text=True, timeout=60).stdout.strip()

    def serve(self, *targets):
        s = Serve(self.history_dsn, *targets)
        self.addCleanup(s.stop)
        return s

    def test_finished_run_survives_restart(self):
        s = self.serve("--ephemeral")
        status, run = s.json("POST", "/api/runs", run_req("ephemeral"))
        self.assertEqual(status, 201, run)
        points = s.point_events(run["id"])
        self.assertGreater(len(points), 0)
        s.wait_state(run["id"], ["finished"])
        err = s.stop()
        s = self.serve("--ephemeral")
        status, lst = s.json("GET", "/api/runs")
        self.assertEqual([(r["id"], r["state"]) for r in lst["runs"]], [(run["id"], "finished")])
        self.assertEqual(lst["runs"][0]["points"], len(points))
        self.assertGreater(lst["runs"][0]["summary"]["executions"], 0)
        status, rep = s.json("GET", f"/api/runs/{run['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(rep["schema"], "pgvolley.report/1")
        self.assertEqual(s.point_events(run["id"]), points)
        # the password of the history's DSN: nowhere
        status, page = s.request("GET", f"/api/runs/{run['id']}/report.html")
        err += s.stop()
        dump = self.history_sql("SELECT row_to_json(r)::text FROM pgvolley_history.runs r")
        dump += self.history_sql("SELECT row_to_json(i)::text FROM pgvolley_history.instances i")
        for text in [err, json.dumps(lst), json.dumps(rep), page, dump]:
            self.assertNotIn(PASSWORD, text)

    def test_sigkill_and_two_servers(self):
        a = self.serve("--targets", self.targets)
        status, long = a.json("POST", "/api/runs", run_req("db", SLEEPY, duration=60))
        self.assertEqual(status, 201, long)
        a.wait_state(long["id"], ["running"], points=1)
        # a second server on the same history leaves a's running run alone
        b = self.serve("--targets", self.targets)
        status, r = b.json("GET", f"/api/runs?state=running")
        self.assertEqual([x["id"] for x in r["runs"]], [long["id"]])
        self.assertEqual(self.history_sql(
            "SELECT count(*) FROM pgvolley_history.instances"), "2")
        # b cannot cancel it, and says where it runs
        status, e = b.json("POST", f"/api/runs/{long['id']}/cancel")
        self.assertEqual(status, 409, e)
        self.assertIn("on another pgvolley serve sharing this history", e["error"]["message"])
        b.stop()
        a.stop(signal.SIGKILL)
        s = self.serve("--targets", self.targets)
        status, lst = s.json("GET", "/api/runs")
        self.assertEqual([(r["id"], r["state"]) for r in lst["runs"]],
                         [(long["id"], "interrupted")])
        self.assertIn("stopped", lst["runs"][0]["message"])
        self.assertGreaterEqual(lst["runs"][0]["points"], 1)
        err = s.stop()
        self.assertNotIn(PASSWORD, err)

    def test_bad_dsn_and_state_dir(self):
        r = self.pgvolley("serve", "--targets", self.targets, "--history-dsn",
                          f"host=/nonexistent-pv-dir port=1 password={PASSWORD}")
        self.assertNotEqual(r.code, 0)
        self.assertIn("run history", r.stderr)
        self.assertNotIn(PASSWORD, r.stderr + r.stdout)
        r = self.pgvolley("serve", "--targets", self.targets, "--history-dsn", self.history_dsn,
                          "--state-dir", self.dir)
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn("--state-dir", r.stderr)
        self.assertNotIn(PASSWORD, r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
