"""`pgvolley compare BASE.json NEW.json` (issue 11): two real runs, a run
against a hand-degraded copy, Markdown output, timelines' noise (added by
hand to real reports, as Contract 2 of the plan shapes them), sweeps and
bad files (exit 2)."""
import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402


def timeline(run, qps_values, p95_values):
    """A hand-made timeline with the given per-interval qps and p95 (the
    other percentiles follow p95), overall and for every query."""
    points = []
    for i, (q, p) in enumerate(zip(qps_values, p95_values)):
        lat = {"avg": p * 0.6, "p50": p / 2, "p95": p, "p99": p * 1.2, "max": p * 1.5}
        points.append({"t_s": i + 1.0, "interval_s": 1.0, "executions": int(q),
                       "succeeded": int(q), "failed": 0, "errors": {}, "qps": q,
                       "latency_ms": lat, "in_flight": 1, "pool_waits": 0,
                       "queries": [{"name": qr["name"], "executions": int(q), "succeeded": int(q),
                                    "failed": 0, "errors": {}, "qps": q, "latency_ms": lat}
                                   for qr in run["queries"]]})
    run["timeline"] = {"interval_s": 1, "points": points}


class CompareTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = __import__("tempfile").mkdtemp(prefix="pvcompare-")
        cls.sql = os.path.join(cls.tmp, "lookup.sql")
        with open(cls.sql, "w") as f:
            f.write("-- EXEC_COUNT: 300\nSELECT pg_sleep(0.001);\n")
        cls.reports = []
        for i in range(2):
            out = os.path.join(cls.tmp, f"run{i}.json")
            r = cls.pgvolley_cls("run", "-d", cls.server.dsn, "-q", "-c", "4", "-o", out, cls.sql)
            assert r.returncode == 0, r.stderr
            cls.reports.append(out)

    @classmethod
    def tearDownClass(cls):
        __import__("shutil").rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    @classmethod
    def pgvolley_cls(cls, *args):
        from pvtest import PGVOLLEY
        import subprocess
        return subprocess.run([PGVOLLEY] + list(args), capture_output=True, text=True, timeout=120)

    def load(self, i):
        with open(self.reports[i]) as f:
            return json.load(f)

    def save(self, name, rep):
        return self.write(name, json.dumps(rep))

    def compare(self, *args):
        return self.pgvolley("compare", *args)

    def test_same_report_no_regression(self):
        r = self.compare(self.reports[0], self.reports[0])
        self.assertEqual(r.code, 0, r.stdout + r.stderr)
        self.assertIn("0 regressions", r.stdout)
        self.assertIn("Noise: unknown", r.stdout)
        self.assertRegex(r.stdout, r"lookup\.sql\s+p95\s+[0-9.]+\s+[0-9.]+\s+\+0\.0%")

    def test_two_real_runs_generous_limit(self):
        r = self.compare("--max-regression", "1000", "-f", "json", *self.reports)
        self.assertEqual(r.code, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["schema"], "pgvolley.compare/1")
        self.assertEqual(out["regressions"], 0)
        self.assertEqual(out["noise"], "unknown")
        scopes = {(row["scope"], row["metric"]) for row in out["rows"]}
        for m in ("qps", "avg", "p50", "p95", "p99", "max"):
            self.assertIn((None, m), scopes)
            self.assertIn(("lookup.sql", m), scopes)

    def test_degraded_copy_regresses(self):
        rep = self.load(0)
        bad = copy.deepcopy(rep)
        bad["summary"]["qps"] *= 0.5
        bad["queries"][0]["latency_ms"]["p95"] *= 1.5
        new = self.save("degraded.json", bad)
        r = self.compare(self.reports[0], new)
        self.assertEqual(r.code, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"overall\s+qps\s+.*-50\.0%.*REGRESSION")
        self.assertRegex(r.stdout, r"lookup\.sql\s+p95\s+.*\+50\.0%.*REGRESSION")
        self.assertIn("2 regressions", r.stdout)
        # 60% is within the limit
        r = self.compare("--max-regression", "60", self.reports[0], new)
        self.assertEqual(r.code, 0, r.stdout)
        # markdown: a table for a pull-request comment
        r = self.compare("-f", "markdown", self.reports[0], new)
        self.assertEqual(r.code, 1)
        self.assertIn("### pgvolley compare", r.stdout)
        self.assertIn("**2 regressions**", r.stdout)
        self.assertIn("| Scope | Metric | Base | New | Change | Noise | Verdict |", r.stdout)
        self.assertRegex(r.stdout, r"\| overall \| qps \| [0-9.]+ \| [0-9.]+ \| -50\.0% \| "
                                   r"unknown \| \*\*REGRESSION\*\* \|")

    def test_noise_from_timelines(self):
        base = self.load(0)
        new = copy.deepcopy(base)
        new["summary"]["latency_ms"]["p95"] = base["summary"]["latency_ms"]["p95"] * 1.2
        p = base["summary"]["latency_ms"]["p95"]
        # noisy intervals: +-50% around p95; a 20% change is within 2 standard errors
        timeline(base, [1000, 1010, 990, 1000], [p * 0.5, p * 1.5, p * 0.5, p * 1.5])
        timeline(new, [1000, 1010, 990, 1000], [p * 0.6, p * 1.6, p * 0.6, p * 1.6])
        a, b = self.save("a.json", base), self.save("b.json", new)
        r = self.compare(a, b)
        self.assertEqual(r.code, 0, r.stdout)
        self.assertIn("Noise: from the runs' timelines", r.stdout)
        self.assertRegex(r.stdout, r"overall\s+p95\s+.*\+20\.0%\s+±[0-9.]+%\s+within noise")
        # steady intervals: the same 20% is a regression
        timeline(base, [1000, 1010, 990, 1000], [p, p * 1.01, p, p * 0.99])
        timeline(new, [1000, 1010, 990, 1000], [p * 1.2, p * 1.21, p * 1.2, p * 1.19])
        a, b = self.save("a.json", base), self.save("b.json", new)
        r = self.compare("-f", "json", a, b)
        self.assertEqual(r.code, 1, r.stdout)
        out = json.loads(r.stdout)
        self.assertEqual(out["noise"], "timeline")
        row = [x for x in out["rows"] if x["scope"] is None and x["metric"] == "p95"][0]
        self.assertEqual(row["verdict"], "REGRESSION")
        # max is shown, never gated
        row = [x for x in out["rows"] if x["scope"] is None and x["metric"] == "max"][0]
        self.assertEqual(row["verdict"], "info")
        # a run's last, short point (the tail of what was in flight) is no
        # sample of the load: a wild one does not widen the noise
        for rep in (base, new):
            tail = copy.deepcopy(rep["timeline"]["points"][-1])
            tail.update(t_s=tail["t_s"] + 0.02, interval_s=0.02, qps=50.0)
            tail["latency_ms"] = {"avg": p * 50, "p50": p * 40, "p95": p * 80, "p99": p * 90, "max": p * 100}
            rep["timeline"]["points"].append(tail)
        a, b = self.save("a.json", base), self.save("b.json", new)
        r = self.compare("-f", "json", a, b)
        self.assertEqual(r.code, 1, r.stdout)
        row = [x for x in json.loads(r.stdout)["rows"]
               if x["scope"] is None and x["metric"] == "p95"][0]
        self.assertEqual(row["verdict"], "REGRESSION")
        self.assertLess(row["noise_pct"], 5)
        self.assertLess(row["noise_pct"], 5)

    def test_sweep_level_by_level(self):
        out = os.path.join(self.dir, "sweep.json")
        r = self.pgvolley("run", "-q", "-c", "1,2", "-o", out, self.sql)
        self.assertEqual(r.code, 0, r.stderr)
        with open(out) as f:
            rep = json.load(f)
        bad = copy.deepcopy(rep)
        bad["runs"][1]["summary"]["latency_ms"]["p99"] *= 2
        bad["runs"] = bad["runs"] + [copy.deepcopy(bad["runs"][1])]
        bad["runs"][2]["config"]["concurrency"] = 8
        r = self.compare("-f", "json", out, self.save("sweep2.json", bad))
        self.assertEqual(r.code, 1, r.stdout + r.stderr)
        res = json.loads(r.stdout)
        regs = [(x["concurrency"], x["scope"], x["metric"]) for x in res["rows"]
                if x["verdict"] == "REGRESSION"]
        self.assertEqual(regs, [(2, None, "p99")])
        self.assertEqual(res["notes"], ["concurrency 8 is only in " +
                                        os.path.join(self.dir, "sweep2.json")])

    def test_bad_input(self):
        good = self.reports[0]
        notjson = self.write("x.json", "{\n  \"schema\": \n")
        other = self.write("o.json", json.dumps({"schema": "something/1"}))
        nosummary = self.write("n.json", json.dumps({"schema": "pgvolley.report/1"}))
        cases = [((good, notjson), notjson + ":3:"),
                 ((other, good), other + ": not a pgvolley run report"),
                 ((good, nosummary), nosummary + ": a run without a \"summary\""),
                 ((good, os.path.join(self.dir, "missing.json")), "missing.json"),
                 ((good,), "two reports are needed"),
                 (("--max-regression", "-3", good, good), "--max-regression"),
                 (("-f", "html", good, good), "--format")]
        for args, msg in cases:
            r = self.compare(*args)
            self.assertEqual(r.code, 2, args)
            self.assertIn(msg, r.stderr, args)


if __name__ == "__main__":
    unittest.main()
