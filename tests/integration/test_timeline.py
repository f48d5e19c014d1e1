"""Timelines (issue 11, item 1): the report's `timeline`, `--interval`,
`--timeline FILE` (CSV), and the cap of kept points.

Behaviour only, never speed: the points add up to the summary (overall and
per query), a stall of the server shows in the interval that holds it, the
CSV has its header and a row per interval and query, a lowered cap
coalesces the JSON points while the CSV keeps every interval, and bad
values of --interval are usage errors (exit 2).
"""
import csv
import json
import os
import subprocess
import threading
import time
import unittest

from pvtest import PGVOLLEY, ServerTest

COLUMNS = ["concurrency", "t_s", "interval_s", "query", "executions", "succeeded", "failed",
           "qps", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms", "in_flight", "pool_waits", "rate",
           "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "errors"]


class TimelineTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql("CREATE TABLE lookup (id int PRIMARY KEY, v text); "
                       "INSERT INTO lookup SELECT g, 'v' || g FROM generate_series(1, 100) g")

    def two_files(self):
        a = self.write("a.sql", "SELECT v FROM lookup WHERE id = 7;\n")
        b = self.write("b.sql", "SELECT count(*) FROM lookup;\n")
        return a, b

    def check_sums(self, rep):
        points = rep["timeline"]["points"]
        self.assertGreater(len(points), 0)
        self.assertEqual(sum(p["executions"] for p in points), rep["summary"]["executions"])
        self.assertEqual(sum(p["failed"] for p in points), rep["summary"]["failed"])
        for i, q in enumerate(rep["queries"]):
            self.assertEqual(sum(p["queries"][i]["executions"] for p in points),
                             q["executions"], q["name"])
            for p in points:
                self.assertEqual(p["queries"][i]["name"], q["name"])
        return points

    def test_exact_counts_over_many_intervals(self):
        # the workers hand an interval over to the run's aggregator thread at
        # each boundary: over hundreds of them, none is lost or counted twice,
        # in the summary (against the planned count of each parameter set)
        # and in the points
        sets = ", ".join(f"[{i}]" for i in range(1, 41))
        f = self.write("many.sql", f"-- PARAMETERS: [{sets}]\n-- EXEC_COUNT: 25\n"
                       "SELECT pg_sleep(0.0005), %s::int /* pgvolley-tl-exact */;\n")
        rep = self.run_json("-c", "4", "-j", "2", "--interval", "0.005", f)
        self.assertEqual(rep["summary"]["executions"], 1000)
        self.assertEqual(rep["summary"]["failed"], 0)
        scen = rep["queries"][0]["scenarios"]
        self.assertEqual(len(scen), 40)
        self.assertEqual(sorted({s["executions"] for s in scen}), [25])
        points = self.check_sums(rep)
        self.assertGreater(len(points), 50)

    def test_points_add_up_to_the_summary(self):
        a, b = self.two_files()
        rep = self.run_json("-c", "4", "-j", "2", "-T", "2", "--interval", "0.25", a, b)
        self.assertEqual(rep["timeline"]["interval_s"], 0.25)
        points = self.check_sums(rep)
        self.assertGreaterEqual(len(points), 8)
        self.assertLessEqual(len(points), 9)
        for p in points[:-1]:
            self.assertAlmostEqual(p["interval_s"], 0.25)
            self.assertGreater(p["executions"], 0)
            self.assertAlmostEqual(p["qps"], p["executions"] / 0.25, places=3)
            lat = p["latency_ms"]
            self.assertLessEqual(lat["p50"], lat["p99"])
            self.assertLessEqual(lat["p99"], lat["max"])
            self.assertNotIn("rate", p)  # the closed model
        # the points end where the run does
        self.assertAlmostEqual(points[-1]["t_s"], rep["summary"]["wall_s"], delta=0.01)

    def test_failures_by_class_and_count_based_run(self):
        good = self.write("good.sql", "-- EXEC_COUNT: 200\nSELECT 1;\n")
        bad = self.write("bad.sql", "-- EXEC_COUNT: 30\nSELECT 1/0;\n")
        rep = self.run_json("-c", "2", good, bad, expect=1)
        points = self.check_sums(rep)
        self.assertEqual(sum(p["errors"].get("22", 0) for p in points), 30)
        self.assertEqual(sum(p["queries"][1]["failed"] for p in points), 30)

    def test_open_model_rate_and_lag(self):
        a, _ = self.two_files()
        rep = self.run_json("-c", "4", "-T", "2", "--rate", "200", "--arrival", "uniform", a)
        points = self.check_sums(rep)
        # uniform arrivals: exactly R x T scheduled, and without --max-lag
        # every one runs, late or not
        self.assertEqual(rep["summary"]["executions"], 400)
        self.assertEqual(rep["summary"]["dropped"], 0)
        # each point's rate counts the executions started in it: together,
        # all of them (a loaded machine starts some late, in a later point)
        self.assertAlmostEqual(sum(p["rate"] * p["interval_s"] for p in points), 400, delta=0.5)
        full = [p for p in points if abs(p["interval_s"] - 1.0) < 1e-9]
        self.assertGreaterEqual(len(full), 1)
        for p in full:
            self.assertIn("p99", p["lag_ms"])
            if p["lag_ms"]["max"] < 20:  # the client kept to the schedule in it
                self.assertAlmostEqual(p["rate"], 200, delta=10)

    def test_a_stall_shows_in_its_interval(self):
        a, _ = self.two_files()

        def lock():
            time.sleep(1.2)
            self.server.sql("BEGIN; LOCK TABLE lookup IN ACCESS EXCLUSIVE MODE; "
                            "SELECT pg_sleep(1); COMMIT")
        t = threading.Thread(target=lock)
        t.start()
        try:
            rep = self.run_json("-c", "4", "-T", "4", "--interval", "0.5", a)
        finally:
            t.join()
        points = self.check_sums(rep)
        busy = max(p["executions"] for p in points)
        # an interval inside the stall has (nearly) nothing; the one where it
        # ends has a latency of several hundred ms
        quiet = [p for p in points[:-1] if p["executions"] <= busy * 0.05]
        slow = [p for p in points if p["latency_ms"]["max"] >= 400]
        self.assertTrue(quiet or slow, points)
        self.assertTrue(slow, [p["latency_ms"] for p in points])
        self.assertTrue(any(p["in_flight"] > 0 for p in quiet) or not quiet)

    def test_csv_rows(self):
        a, b = self.two_files()
        out = os.path.join(self.dir, "tl.csv")
        rep = self.run_json("-c", "2", "-T", "1.5", "--interval", "0.5", "--timeline", out, a, b)
        with open(out, newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], COLUMNS)
        body = [dict(zip(COLUMNS, r)) for r in rows[1:]]
        self.assertEqual(len(body) % 3, 0)
        alls = [r for r in body if r["query"] == "(all)"]
        self.assertEqual(len(alls), len(rep["timeline"]["points"]))
        self.assertEqual([r["query"] for r in body[:3]], ["(all)", "a.sql", "b.sql"])
        self.assertEqual(sum(int(r["executions"]) for r in alls), rep["summary"]["executions"])
        self.assertEqual(sum(int(r["executions"]) for r in body if r["query"] == "b.sql"),
                         rep["queries"][1]["executions"])
        for r in body:
            self.assertEqual(r["concurrency"], "2")
            self.assertEqual(r["rate"], "")
            if r["query"] == "(all)":
                self.assertNotEqual(r["in_flight"], "")
            else:
                self.assertEqual(r["in_flight"], "")

    def test_cap_coalesces_json_but_not_csv(self):
        a, _ = self.two_files()
        out = os.path.join(self.dir, "tl.csv")
        env = dict(os.environ, PGVOLLEY_TIMELINE_CAP="10")
        cp = subprocess.run([PGVOLLEY, "run", "-d", self.server.dsn, "-q", "-f", "json", "-c",
                             "2", "-T", "1", "--interval", "0.01", "--timeline", out, a],
                            capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        rep = json.loads(cp.stdout)
        points = self.check_sums(rep)
        self.assertLessEqual(len(points), 10)
        self.assertGreater(points[0]["interval_s"], 0.05)  # coalesced
        with open(out, newline="") as f:
            alls = [r for r in csv.DictReader(f) if r["query"] == "(all)"]
        self.assertGreaterEqual(len(alls), 90)  # every 10 ms interval
        self.assertEqual(sum(int(r["executions"]) for r in alls), rep["summary"]["executions"])

    def test_bad_interval_is_a_usage_error(self):
        a, _ = self.two_files()
        for bad in ("0", "-1", "abc", "0.0001", "100000", ""):
            r = self.pgvolley("run", "-q", "--interval", bad, a)
            self.assertEqual(r.code, 2, (bad, r.stderr))
        r = self.pgvolley("run", "-q", "--timeline", os.path.join(self.dir, "no/such/dir.csv"), a)
        self.assertEqual(r.code, 2, r.stderr)


if __name__ == "__main__":
    unittest.main()
