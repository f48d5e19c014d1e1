"""Prometheus (issue 11): `--prometheus FILE` writes the text format that
the node exporter's textfile collector reads, `--metrics-listen ADDR:PORT`
serves it live on /metrics, and `promtool check metrics` (Debian package
prometheus, installed by scripts/deps.sh) accepts both; the counters equal
the JSON report's, the latency histogram's _count is the successes and its
buckets are cumulative; a file name with quotes, backslashes and a newline
is escaped in the query label."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

NASTY = 'we"ird\\back\nline.sql'
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse(text):
    """[(name, {label: value}, float)] of the samples of a text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = {k: unescape(v) for k, v in LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(samples, name, **labels):
    found = [v for n, lb, v in samples if n == name and lb == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def promtool(testcase, text):
    exe = shutil.which("promtool")
    testcase.assertIsNotNone(exe, "promtool not found: scripts/deps.sh installs prometheus")
    cp = subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, text=True,
                        timeout=60)
    testcase.assertEqual(cp.returncode, 0, f"promtool: {cp.stdout}{cp.stderr}\n{text}")


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


class PrometheusTest(ServerTest):
    def test_file_matches_json(self):
        ok = self.write("ok.sql", "-- EXEC_COUNT: 40\nSELECT g FROM generate_series(1, 3) g;\n")
        bad = self.write("bad.sql", "-- EXEC_COUNT: 7\nSELECT 1/0;\n")
        nasty = self.write(NASTY, "-- EXEC_COUNT: 5\nSELECT pg_sleep(0.002);\n")
        prom = os.path.join(self.dir, "pgvolley.prom")
        rep = self.run_json("-c", "3", "--prometheus", prom, ok, bad, nasty, expect=1)
        with open(prom) as f:
            text = f.read()
        promtool(self, text)
        # written atomically: no temporary file left beside it
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(["ok.sql", "bad.sql", NASTY,
                                                               "pgvolley.prom"]))
        s = parse(text)
        self.assertIn('query="we\\"ird\\\\back\\nline.sql"', text)
        total_ok = total_failed = 0
        for q in rep["queries"]:
            name = q["name"]
            self.assertEqual(value(s, "pgvolley_executions_total", query=name, status="ok"),
                             q["succeeded"])
            self.assertEqual(value(s, "pgvolley_executions_total", query=name, status="failed"),
                             q["failed"])
            self.assertEqual(value(s, "pgvolley_rows_total", query=name), q["rows"])
            self.assertEqual(value(s, "pgvolley_retries_total", query=name), q["retries"])
            for e in q["errors"]:
                self.assertEqual(value(s, "pgvolley_failures_total", query=name,
                                       sqlstate=e["sqlstate"]), e["count"])
            h = "pgvolley_query_duration_seconds"
            count = value(s, h + "_count", query=name)
            self.assertEqual(count, q["succeeded"])
            buckets = [(lb["le"], v) for n, lb, v in s
                       if n == h + "_bucket" and lb["query"] == name]
            self.assertEqual(buckets[-1], ("+Inf", count))
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), "buckets are cumulative")
            les = [float(le) for le, _ in buckets]
            self.assertEqual(les, sorted(les))
            self.assertAlmostEqual(value(s, h + "_sum", query=name),
                                   q["latency_ms"]["avg"] * q["succeeded"] / 1000, delta=1e-3)
            total_ok += q["succeeded"]
            total_failed += q["failed"]
        self.assertEqual(total_ok, rep["summary"]["succeeded"])
        self.assertEqual(total_failed, rep["summary"]["failed"])
        self.assertEqual(value(s, "pgvolley_failures_total", query="bad.sql", sqlstate="22012"), 7)
        # the nasty file's 2 ms sleeps: none at or below 1 ms (pg_sleep sleeps
        # at least that long); and in every query's histogram, a bucket below
        # the report's fastest success holds none, one at or above its slowest
        # holds them all (the bounds come from the run, not from a guess at
        # how fast a loaded machine is)
        self.assertEqual(value(s, "pgvolley_query_duration_seconds_bucket", query=NASTY,
                               le="0.001"), 0)
        for q in rep["queries"]:
            if not q["succeeded"]:
                continue
            lo, hi = q["latency_ms"]["min"] / 1000, q["latency_ms"]["max"] / 1000
            for n, lb, v in s:
                if n != "pgvolley_query_duration_seconds_bucket" or lb["query"] != q["name"]:
                    continue
                le = float(lb["le"])
                if le < lo * 0.99:
                    self.assertEqual(v, 0, f"{q['name']} le={lb['le']} below min {lo}")
                if le >= hi * 1.01:
                    self.assertEqual(v, q["succeeded"], f"{q['name']} le={lb['le']} max {hi}")
        self.assertEqual(value(s, "pgvolley_concurrency"), 3)
        self.assertEqual(value(s, "pgvolley_run_finished"), 1)
        self.assertLess(abs(value(s, "pgvolley_run_start_time_seconds") - time.time()), 120)
        self.assertAlmostEqual(value(s, "pgvolley_run_duration_seconds"),
                               rep["summary"]["wall_s"], delta=1e-3)
        info = [lb for n, lb, _ in s if n == "pgvolley_run_info"]
        self.assertEqual(len(info), 1)
        self.assertEqual(info[0]["protocol"], "prepared")
        self.assertEqual(info[0]["target_dbname"], rep["target"]["dbname"])
        self.assertNotIn("password", text)

    def test_sweep_and_open_model(self):
        q = self.write("q.sql", "-- EXEC_COUNT: 10\nSELECT 1;\n")
        prom = os.path.join(self.dir, "sweep.prom")
        self.run_json("-c", "1,2", "--prometheus", prom, q)
        with open(prom) as f:
            text = f.read()
        promtool(self, text)
        s = parse(text)
        for c in ("1", "2"):
            self.assertEqual(value(s, "pgvolley_executions_total", concurrency=c, query="q.sql",
                                   status="ok"), 10)
        prom = os.path.join(self.dir, "open.prom")
        self.run_json("-T", "0.5", "--rate", "200", "--prometheus", prom, q)
        with open(prom) as f:
            text = f.read()
        promtool(self, text)
        s = parse(text)
        self.assertEqual(value(s, "pgvolley_target_rate"), 200)
        done = value(s, "pgvolley_executions_total", query="q.sql", status="ok")
        self.assertGreater(done, 0)
        self.assertEqual(value(s, "pgvolley_query_intended_duration_seconds_count",
                               query="q.sql"), done)
        self.assertEqual(value(s, "pgvolley_schedule_lag_seconds_count", query="q.sql"), done)
        self.assertEqual(value(s, "pgvolley_dropped_total", query="q.sql"), 0)

    def test_grafana_dashboard_reads_emitted_metrics(self):
        """deploy/grafana/pgvolley-dashboard.json parses, and every metric
        its queries name is one the writer emits (open model included)."""
        q = self.write("q.sql", "SELECT 1;\n")
        bad = self.write("bad.sql", "SELECT 1/0;\n")
        prom = os.path.join(self.dir, "all.prom")
        self.run_json("-T", "0.3", "--rate", "100", "--prometheus", prom, q, bad, expect=1)
        emitted = set()
        with open(prom) as f:
            for line in f:
                m = re.match(r"# TYPE (\S+) (\S+)", line)
                if m:
                    emitted.add(m.group(1))
                    if m.group(2) == "histogram":
                        emitted.update(m.group(1) + x for x in ("_bucket", "_sum", "_count"))
        src = os.environ.get("PV_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..",
                                                              "..")
        with open(os.path.join(src, "deploy", "grafana", "pgvolley-dashboard.json")) as f:
            dash = json.load(f)
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        ds = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
        self.assertEqual([v["query"] for v in ds], ["prometheus"])
        exprs = [v["definition"] for v in dash["templating"]["list"] if v["type"] == "query"]
        for p in dash["panels"]:
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p["targets"], p["title"])
            exprs += [t["expr"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 8)
        used = set()
        for e in exprs:
            names = re.findall(r"\bpgvolley_[a-z_]+", e)
            self.assertTrue(names, e)
            used.update(names)
        self.assertEqual(used - emitted, set(), "metrics the writer does not emit")
        for must in ("pgvolley_executions_total", "pgvolley_failures_total",
                     "pgvolley_query_duration_seconds_bucket", "pgvolley_in_flight",
                     "pgvolley_pool_connections", "pgvolley_target_rate"):
            self.assertIn(must, used)

    def test_interrupted_run_writes_the_file(self):
        q = self.write("slow.sql", "SELECT pg_sleep(0.01);\n")
        prom = os.path.join(self.dir, "int.prom")
        p = subprocess.Popen([PGVOLLEY, "run", "-d", self.server.dsn, "-q", "-T", "60",
                              "--prometheus", prom, q],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)  # a no-op once it has ended
        self.wait_executed("SELECT pg_sleep(0.01)%")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        with open(prom) as f:
            text = f.read()
        promtool(self, text)
        s = parse(text)
        self.assertEqual(value(s, "pgvolley_run_interrupted"), 1)
        self.assertGreater(value(s, "pgvolley_executions_total", query="slow.sql", status="ok"), 0)

    def scrape_during_run(self, host, url_host):
        port = free_port(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        addr = f"{url_host}:{port}"
        q = self.write("s.sql", "SELECT pg_sleep(0.005);\n")
        p = subprocess.Popen([PGVOLLEY, "run", "-d", self.server.dsn, "-q", "-c", "2", "-T", "120",
                              "--metrics-listen", addr, q],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = f"http://{addr}/metrics"
        def executions():
            status, ctype, body = http(url)
            self.assertEqual(status, 200)
            self.assertEqual(ctype, CONTENT_TYPE)
            promtool(self, body)
            s = parse(body)
            if not any(n == "pgvolley_run_finished" for n, _, _ in s):
                return 0  # served before the run exists (its connections still opening)
            self.assertEqual(value(s, "pgvolley_run_finished"), 0)
            n = sum(v for n, _, v in s if n == "pgvolley_executions_total")
            if n > 0:
                # the engine's snapshot: per-query series and their histogram
                # while the run goes, gauges within the concurrency
                self.assertGreater(value(s, "pgvolley_executions_total", query="s.sql",
                                         status="ok"), 0)
                self.assertGreater(value(s, "pgvolley_query_duration_seconds_count",
                                         query="s.sql"), 0)
                self.assertLessEqual(value(s, "pgvolley_in_flight"), 2)
            return n

        try:
            # the first count above 0 (the server listens before the run
            # connects; a snapshot moves at interval boundaries), then one
            # more than an interval later
            deadline = time.monotonic() + 60
            first = 0
            while first == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    first = executions()
                except urllib.error.URLError:  # not listening yet
                    continue
            self.assertGreater(first, 0)
            # grows at the next interval boundary (a second; later on a
            # loaded machine): a counter that never grows fails after 30 s
            deadline = time.monotonic() + 30
            later = first
            while later <= first and time.monotonic() < deadline:
                time.sleep(0.2)
                later = executions()
            self.assertGreater(later, first, "the executions counter grows")
            self.assertEqual(http(f"http://{addr}/")[0], 404)
            self.assertEqual(http(f"http://{addr}/metricsx")[0], 404)
            self.assertEqual(http(url, "POST")[0], 405)
            self.assertEqual(http(url, "DELETE")[0], 405)
            # a long run, ended here (a run timed to end just after the
            # checks raced them on a loaded machine): interrupted, it still
            # writes its report and then stops listening
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 130, err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        # stopped after the report
        with self.assertRaises(OSError):
            urllib.request.urlopen(url, timeout=5)

    def test_listen_scrape_during_run(self):
        self.scrape_during_run("127.0.0.1", "127.0.0.1")

    def test_listen_ipv6(self):
        try:
            free_port(socket.AF_INET6, "::1")
        except OSError:
            self.skipTest("no IPv6 loopback here")
        self.scrape_during_run("::1", "[::1]")

    def test_linger_serves_the_final_metrics(self):
        port = free_port()
        q = self.write("q.sql", "-- EXEC_COUNT: 20\nSELECT 1;\n")
        # a linger of minutes, ended by Ctrl-C
        p = subprocess.Popen([PGVOLLEY, "run", "-d", self.server.dsn, "-c", "2",
                              "--metrics-listen", f"127.0.0.1:{port}", "--metrics-linger", "600",
                              q],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stderr:  # the run ended and the report was written
                if "--metrics-linger" in line:
                    break
            status, _, body = http(f"http://127.0.0.1:{port}/metrics")
            self.assertEqual(status, 200)
            promtool(self, body)
            s = parse(body)
            self.assertEqual(value(s, "pgvolley_run_finished"), 1)
            self.assertEqual(value(s, "pgvolley_executions_total", query="q.sql", status="ok"),
                             20)
            self.assertEqual(value(s, "pgvolley_query_duration_seconds_count", query="q.sql"),
                             20)
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)  # ends the linger
            p.wait(timeout=60)
            self.assertLess(time.monotonic() - t0, 20)
            self.assertEqual(p.returncode, 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_bad_listen_address(self):
        q = self.write("q.sql", "SELECT 1;\n")
        for addr in ("9187", "127.0.0.1", "localhost:9187", "::1:9187", "[::1:9187",
                     "127.0.0.1:70000", "127.0.0.1:x"):
            r = self.pgvolley("run", "-q", "--metrics-listen", addr, q)
            self.assertEqual(r.code, 2, f"{addr}: {r.stderr}")
            self.assertIn("--metrics-listen", r.stderr)
            self.assertEqual(r.stdout, "")
        r = self.pgvolley("run", "-q", "--metrics-linger", "5", q)
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn("--metrics-linger needs --metrics-listen", r.stderr)

    def test_port_in_use(self):
        q = self.write("q.sql", "SELECT 1;\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            # checked before a server was started: with a $TMPDIR where no
            # server can be made, starting one first would fail with exit 3
            # and that reason (not timed: a loaded machine is slow either way)
            env = dict(os.environ, TMPDIR=os.path.join(self.dir, "nonexistent"))
            t0 = time.monotonic()
            cp = subprocess.run([PGVOLLEY, "run", "-q", "--ephemeral", "--metrics-listen",
                                 f"127.0.0.1:{port}", q],
                                capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(cp.returncode, 2, cp.stderr)
            self.assertIn("Address already in use", cp.stderr)
            self.assertNotIn("temporary directory", cp.stderr)
            self.assertEqual(cp.stdout, "")
            self.assertLess(time.monotonic() - t0, 30)

    def test_prometheus_file_checked_before_the_run(self):
        q = self.write("q.sql", "SELECT 1;\n")
        r = self.pgvolley("run", "-q", "--prometheus", "/nonexistent/dir/x.prom", q)
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn("/nonexistent/dir/x.prom", r.stderr)


if __name__ == "__main__":
    unittest.main()
