"""The open model and load shapes (issue 10, items 1 and 2): --rate,
--arrival, --max-lag, --stages, --ramp-up.

Behaviour only, never speed: counts follow the schedule exactly with
uniform arrivals, nothing is lost (executions + dropped = planned), a
server stall shows in the latency from the intended start and not in the
latency from the send, the closed model's in-flight cap follows its stages.
"""
import json
import subprocess
import threading
import time
import unittest

from pvtest import PGVOLLEY, ServerTest


class OpenModelTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql("CREATE TABLE lookup (id int PRIMARY KEY, v text); "
                       "INSERT INTO lookup SELECT g, 'v' || g FROM generate_series(1, 100) g")

    def stall(self, after_s, for_s):
        """Locks the table the lookups read for for_s seconds, after after_s."""
        def run():
            time.sleep(after_s)
            self.server.sql(f"BEGIN; LOCK TABLE lookup IN ACCESS EXCLUSIVE MODE; "
                            f"SELECT pg_sleep({for_s}); COMMIT")
        t = threading.Thread(target=run)
        t.start()
        return t

    def test_uniform_rate_count_follows_the_schedule(self):
        # 500/s for 2 s: the intended starts are (k + 0.5) / 500, k = 0..999
        f = self.write("q.sql", "SELECT v FROM lookup WHERE id = 7;\n")
        rep = self.run_json("-c", "10", "-T", "2", "--rate", "500", "--arrival", "uniform", f)
        s = rep["summary"]
        self.assertEqual(s["executions"], 1000)
        self.assertEqual(s["dropped"], 0)
        # idle slots keep their connections (no reconnect per execution)
        self.assertEqual(rep["config"]["pool"]["size"], 10)
        self.assertLessEqual(rep["pool"]["opened"], 10)
        sched = rep["config"]["schedule"]
        self.assertEqual((sched["model"], sched["rate"], sched["arrival"]),
                         ("open", 500.0, "uniform"))
        for key in ("latency_intended_ms", "lag_ms"):
            self.assertGreaterEqual(s[key]["p50"], 0)
            self.assertIn(key, rep["queries"][0])
        # from the intended start is never shorter than from the send
        self.assertGreaterEqual(s["latency_intended_ms"]["max"], s["latency_ms"]["max"])

    def test_count_based_run_keeps_to_the_rate(self):
        # 300 executions at 300/s cannot end before the last intended start
        f = self.write("q.sql", "-- EXEC_COUNT: 300\nSELECT v FROM lookup WHERE id = 7;\n")
        rep = self.run_json("-c", "10", "--rate", "300", "--arrival", "uniform", f)
        self.assertEqual(rep["summary"]["executions"], 300)
        self.assertGreater(rep["summary"]["wall_s"], 0.99)

    def test_stall_shows_in_the_corrected_latency(self):
        # 2 in flight at most; the table is locked for 1 s in the middle:
        # the executions due meanwhile wait for a slot, and that wait is
        # theirs (from the intended start), not the server's (from the send)
        f = self.write("q.sql", "SELECT v FROM lookup WHERE id = 7;\n")
        t = self.stall(1.0, 1.0)
        rep = self.run_json("-c", "2", "-T", "3", "--rate", "200", f)
        t.join()
        s = rep["summary"]
        self.assertGreater(s["latency_intended_ms"]["p95"], 200, s)
        self.assertLess(s["latency_ms"]["p95"], 100, s)
        self.assertGreater(s["latency_intended_ms"]["max"], 800, s)
        self.assertGreater(s["lag_ms"]["max"], 500, s)

    def test_max_lag_drops_and_accounts(self):
        f = self.write("q.sql", "-- EXEC_COUNT: 600\nSELECT v FROM lookup WHERE id = 7;\n")
        t = self.stall(0.5, 1.0)
        rep = self.run_json("-c", "2", "--rate", "200", "--max-lag", "0.1", f)
        t.join()
        s = rep["summary"]
        self.assertGreater(s["dropped"], 0, s)
        self.assertEqual(s["executions"] + s["dropped"], 600)
        self.assertEqual(rep["queries"][0]["dropped"], s["dropped"])
        self.assertEqual(rep["config"]["schedule"]["max_lag_s"], 0.1)
        # what was sent was never later than the limit when its slot freed
        self.assertLess(s["lag_ms"]["max"], 100 + 50, s)

    def test_open_stages_follow_the_integral(self):
        # from 100/s to 300/s over 1 s, then 300/s for 1 s: 200 + 300 arrivals
        f = self.write("q.sql", "SELECT 1;\n")
        rep = self.run_json("-c", "10", "--rate", "100", "--stages", "1s:300,1s:300",
                            "--arrival", "uniform", f)
        self.assertEqual(rep["config"]["mode"], "time")
        self.assertAlmostEqual(rep["config"]["duration_s"], 2.0)
        self.assertIn(rep["summary"]["executions"], (499, 500, 501))
        sched = rep["config"]["schedule"]
        self.assertEqual(sched["start"], 100.0)
        self.assertEqual([(x["duration_s"], x["target"]) for x in sched["stages"]],
                         [(1.0, 300.0), (1.0, 300.0)])

    def test_closed_stages_cap_what_is_in_flight(self):
        f = self.write("q.sql", "SELECT pg_sleep(0.02);\n")
        rep = self.run_json("-c", "1", "--stages", "0.5s:3,1s:3", "-j", "1", f)
        self.assertEqual(rep["config"]["concurrency"], 3)
        self.assertLessEqual(rep["pool"]["max_in_use"], 3)
        self.assertGreater(rep["summary"]["executions"], 40)
        self.assertEqual(rep["config"]["schedule"]["model"], "closed")
        self.assertNotIn("latency_intended_ms", rep["summary"])

    def test_ramp_up(self):
        f = self.write("q.sql", "SELECT 1;\n")
        rep = self.run_json("--rate", "400", "--ramp-up", "1", "-T", "2", "--arrival",
                            "uniform", "-c", "10", f)
        # 0 -> 400/s over 1 s (200), then 400/s for 1 s (400)
        self.assertIn(rep["summary"]["executions"], (599, 600, 601))

    def test_table_shows_both_latencies(self):
        f = self.write("q.sql", "SELECT 1;\n")
        r = self.pgvolley("run", "-q", "-c", "4", "-T", "1", "--rate", "200", f)
        self.assertEqual(r.code, 0, r.stderr)
        self.assertIn("Schedule:        open model, 200 executions/s, Poisson arrivals", r.stdout)
        self.assertIn("(from the send / from the intended start)", r.stdout)
        self.assertIn("dropped", r.stdout)

    def test_bad_load_options(self):
        f = self.write("q.sql", "SELECT 1;\n")
        cases = [(["--max-lag", "1"], "--max-lag needs --rate"),
                 (["--rate", "0"], "--rate takes executions per second"),
                 (["--rate", "10", "--arrival", "bursty"], "--arrival is poisson or uniform"),
                 (["--stages", "1s:5", "-T", "3"], "--stages sets the duration"),
                 (["--ramp-up", "1"], "--ramp-up needs -T"),
                 (["--ramp-up", "3", "-T", "2"], "must be shorter than the run"),
                 (["--stages", "1s:5", "-c", "1,2"], "sweep"),
                 (["--stages", "1x:5"], "--stages: stage 1"),
                 (["--stages", "1s:5", "--ramp-up", "1"], "cannot be used together")]
        for args, msg in cases:
            with self.subTest(args=args):
                r = self.pgvolley("run", "-q", *args, f)
                self.assertEqual(r.code, 2, r.stderr)
                self.assertIn(msg, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
