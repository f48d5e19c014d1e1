"""Thresholds (issue 11): `--threshold EXPR`, a file's `-- TARGET:` header,
the report's `thresholds`, exit code 1 with one stderr line per failed
threshold, `--abort-on-fail`, and bad expressions (exit 2)."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402

SOURCE = os.environ.get("PV_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
FAILED_LINE = re.compile(r"^pgvolley run: threshold failed: (.+) \((query [^,)]+|whole run)"
                         r"(, c=\d+)?\): measured (.+)$")


class ThresholdTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.quick = self.write("quick.sql", "-- EXEC_COUNT: 50\nSELECT 1;\n")
        self.slow = self.write("slow.sql", "-- EXEC_COUNT: 20\nSELECT pg_sleep(0.005);\n")

    def failed_lines(self, stderr):
        return [ln for ln in stderr.splitlines() if ln.startswith("pgvolley run: threshold")]

    def test_passing_thresholds(self):
        rep = self.run_json("-c", "2", "--threshold", "p95 < 10s", "--threshold",
                            "error_rate < 1%", "--threshold", "quick.sql: executions >= 50",
                            self.quick, self.slow)
        th = rep["thresholds"]
        self.assertEqual([t["expr"] for t in th],
                         ["p95 < 10s", "error_rate < 1%", "executions >= 50"])
        self.assertEqual([t["scope"] for t in th], [None, None, "quick.sql"])
        self.assertTrue(all(t["pass"] for t in th))
        self.assertEqual([t["unit"] for t in th], ["ms", "%", "count"])
        self.assertEqual(th[0]["source"], "option")
        self.assertEqual(th[0]["limit"], 10000)
        self.assertAlmostEqual(th[0]["measured"], rep["summary"]["latency_ms"]["p95"], places=6)
        self.assertEqual(th[2]["measured"], 50)

    def test_failing_threshold(self):
        r = self.pgvolley("run", "-q", "-f", "json", "-c", "2", "--threshold",
                          "slow.sql: p95 < 1ms", "--threshold", "qps > 0", self.quick, self.slow)
        self.assertEqual(r.code, 1, r.stderr)
        rep = r.json()
        self.assertEqual([t["pass"] for t in rep["thresholds"]], [False, True])
        lines = self.failed_lines(r.stderr)
        self.assertEqual(len(lines), 1, r.stderr)
        m = FAILED_LINE.match(lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(1), "p95 < 1ms")
        self.assertEqual(m.group(2), "query slow.sql")
        self.assertTrue(m.group(4).endswith(" ms"))
        self.assertGreater(rep["thresholds"][0]["measured"], 1.0)

    def test_table_and_markdown_blocks(self):
        r = self.pgvolley("run", "-q", "-c", "2", "--threshold", "p95 < 1ms", self.slow)
        self.assertEqual(r.code, 1)
        self.assertIn("Thresholds", r.stdout)
        self.assertRegex(r.stdout, r"FAIL\s+p95 < 1ms\s+whole run")
        r = self.pgvolley("run", "-q", "-f", "markdown", "-c", "2", "--threshold", "p95 < 10s",
                          self.slow)
        self.assertEqual(r.code, 0, r.stderr)
        self.assertIn("### Thresholds", r.stdout)
        self.assertRegex(r.stdout, r"\| `p95 < 10s` \| whole run \| [0-9.]+ ms \| pass \|")

    def test_target_header(self):
        f = self.write("t.sql", "-- EXEC_COUNT: 30\n-- TARGET: avg < 10s, failed < 1, "
                                "max < 0.001us\nSELECT 1;\n")
        r = self.pgvolley("run", "-q", "-f", "json", "-c", "2", f)
        self.assertEqual(r.code, 1, r.stderr)
        th = r.json()["thresholds"]
        self.assertEqual([t["expr"] for t in th], ["avg < 10s", "failed < 1", "max < 0.001us"])
        self.assertEqual({t["scope"] for t in th}, {"t.sql"})
        self.assertEqual({t["source"] for t in th}, {f + ":2"})
        self.assertEqual([t["pass"] for t in th], [True, True, False])
        lines = self.failed_lines(r.stderr)
        self.assertEqual(len(lines), 1)
        self.assertIn("max < 0.001us (query t.sql)", lines[0])

    def test_sweep_each_level(self):
        rep = self.run_json("-c", "1,2", "--threshold", "executions >= 70", self.quick,
                            self.slow)
        self.assertEqual(len(rep["runs"]), 2)
        for run in rep["runs"]:
            self.assertEqual(len(run["thresholds"]), 1)
            self.assertTrue(run["thresholds"][0]["pass"])

    def test_seed_002_targets(self):
        d = os.path.join(SOURCE, "examples", "seed002_targets")
        r = self.pgvolley("run", "-q", "-f", "json", "-c", "10", d, timeout=180)
        self.assertIn(r.code, (0, 1), r.stderr)
        th = r.json()["thresholds"]
        self.assertEqual(len(th), 12)
        simple = [t for t in th if t["scope"] == "simple_select.sql"]
        self.assertEqual([t["expr"] for t in simple], ["avg < 2ms", "p95 < 5ms", "qps > 1000"])
        self.assertTrue(simple[0]["source"].endswith("simple_select.sql:3"))
        failed = [t for t in th if not t["pass"]]
        self.assertEqual(len(self.failed_lines(r.stderr)), len(failed))
        self.assertEqual(r.code, 1 if failed else 0)

    def test_abort_on_fail(self):
        bad = self.write("bad.sql", "-- PARAMETERS: [[0]]\nSELECT 1 / %s::int;\n")
        out = os.path.join(self.dir, "r.json")
        r = self.pgvolley("run", "-q", "-c", "2", "-T", "20", "--threshold", "failed < 5",
                          "--abort-on-fail", "-o", out, bad, timeout=60)
        self.assertEqual(r.code, 1, r.stderr)
        with open(out) as f:
            rep = json.load(f)
        self.assertIn("failed < 5 (whole run) cannot pass", rep["aborted"])
        self.assertLess(rep["summary"]["wall_s"], 10)
        self.assertFalse(rep["thresholds"][0]["pass"])
        self.assertIn("STOPPED: threshold failed < 5", r.stdout)

    def test_abort_on_fail_latency_of_a_query(self):
        # a per-query latency threshold, checked live on the engine's
        # snapshot: a time-based run stops after the grace (3 intervals of
        # 0.5 s, at least 3 s), long before its 30 s
        slow = self.write("slow.sql", "SELECT pg_sleep(0.01);\n")
        out = os.path.join(self.dir, "slow.json")
        r = self.pgvolley("run", "-q", "-c", "2", "-T", "30", "--interval", "0.5",
                          "--threshold", "slow.sql: p95 < 1ms", "--abort-on-fail", "-o", out,
                          slow, timeout=60)
        self.assertEqual(r.code, 1, r.stderr)
        with open(out) as f:
            rep = json.load(f)
        self.assertIn("p95 < 1ms (query slow.sql)", rep["aborted"])
        self.assertGreaterEqual(rep["summary"]["wall_s"], 2.5)
        self.assertLess(rep["summary"]["wall_s"], 15)
        self.assertFalse(rep["thresholds"][0]["pass"])
        self.assertGreater(rep["thresholds"][0]["measured"], 5)

    def test_bad_expressions(self):
        for expr, msg in [("p95 < 5xs", "unknown unit 'xs'"),
                          ("p96x < 1", "unknown metric 'p96x'"),
                          ("error_rate < 5", "a fraction from 0 to 1"),
                          ("nosuch.sql: p95 < 5ms", "no query is named nosuch.sql")]:
            r = self.pgvolley("run", "-q", "--threshold", expr, self.quick)
            self.assertEqual(r.code, 2, expr)
            self.assertIn(f"--threshold '{expr}'" if ":" not in expr else "--threshold", r.stderr)
            self.assertIn(msg, r.stderr)
        f = self.write("badtarget.sql", "-- TARGET: p95 < 5ms, qps >> 3\nSELECT 1;\n")
        r = self.pgvolley("run", "-q", f)
        self.assertEqual(r.code, 2)
        self.assertIn(f"{f}:1:28: TARGET: expected a number", r.stderr)


if __name__ == "__main__":
    unittest.main()
