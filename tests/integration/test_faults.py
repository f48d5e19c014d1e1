"""Fault injection on the throwaway server in the middle of a run: a fast and
an immediate restart (pg_ctl), with and without --retries, with and without
--pipeline. The run goes on, accounts for every execution, reports the
server's SQLSTATEs (never a bare 08006 for a connection the server closed
with a reason), and with retries comes back to its throughput."""
import glob
import json
import os
import re
import statistics
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

# what a restart may legitimately cost an execution without --retries
RESTART_STATES = {"57P01", "57P02", "57P03", "08001", "08006"}


def pg_ctl():
    found = shutil.which("pg_ctl")
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return os.path.join(d, "pg_ctl")
    raise RuntimeError("pg_ctl not found (Debian package postgresql)")


class FaultTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.datadir = cls.server.sql("SHOW data_directory")
        cls.server.sql("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v int);"
                       "INSERT INTO kv SELECT g, g FROM generate_series(1, 1000) g "
                       "ON CONFLICT DO NOTHING")

    def restart(self, mode):
        cmd = [pg_ctl(), "-D", self.datadir, "restart", "-m", mode, "-w", "-t", "60"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        # the restarted server writes to pg_ctl's output: not a pipe we wait on
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=90)

    def run_with_fault(self, mode, retries, pipeline):
        f = self.write("kv.sql", "-- PARAMETERS: [[1], [17], [256], [999]]\n"
                       "SELECT v FROM kv WHERE k = %s;\n")
        args = [PGVOLLEY, "run", "-f", "json", "-d", self.server.dsn, "-c", "8",
                "-j", "2", "-T", "7", "--progress", "0.5", "--pipeline", str(pipeline),
                "--retries", str(retries), f]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err_lines = []
        reader = threading.Thread(target=lambda: err_lines.extend(p.stderr))
        reader.start()
        time.sleep(2.5)
        self.restart(mode)
        out = p.stdout.read()
        p.wait(timeout=60)
        reader.join()
        rep = json.loads(out)
        rates = []  # (seconds, q/s of the interval)
        for line in err_lines:
            m = re.search(r"c=\d+ ([\d.]+) s, \d+ executions, ([\d.]+) q/s", line)
            if m:
                rates.append((float(m.group(1)), float(m.group(2))))
        before = [q for t, q in rates if 0.5 < t <= 2.0]
        after = [q for t, q in rates if t >= 5.5]
        return p.returncode, rep, before, after, "".join(err_lines)

    def check(self, mode, retries, pipeline):
        code, rep, before, after, err = self.run_with_fault(mode, retries, pipeline)
        s = rep["summary"]
        self.assertEqual(s["executions"], s["succeeded"] + s["failed"])
        self.assertEqual(sum(e["count"] for e in rep["errors"]), s["failed"])
        self.assertGreater(s["succeeded"], 0)
        self.assertTrue(before and after, err)
        b, a = statistics.median(before), statistics.median(after)
        print(f"\n{mode} restart, retries {retries}, pipeline {pipeline}: "
              f"{b:.0f} q/s before, {a:.0f} q/s after ({a / b:.2f}); "
              f"{s['failed']} failed, errors {[(e['sqlstate'], e['count']) for e in rep['errors']]}",
              file=sys.stderr)
        for e in rep["errors"]:
            self.assertIn(e["sqlstate"], RESTART_STATES, (rep["errors"], rep["pool"], err[-1500:]))
            if e["sqlstate"] == "08006":  # only where the server said nothing
                self.assertNotIn("bad file descriptor", e["message"])
        if retries:
            self.assertEqual(code, 0, rep["errors"])
            self.assertEqual(s["failed"], 0)
        else:
            self.assertIn(code, (0, 1))
        # back to its pace (medians of the 0.5 s intervals): the machine is
        # shared and noisy (other builds took 40% in some runs), so the test
        # asks for 40%, which a pool that got back only some of its
        # connections would still miss; the figures printed above are what
        # it measured
        self.assertGreater(a, 0.4 * b, (before, after))
        # every connection the restart took was made again
        pool = rep["pool"]
        self.assertEqual(pool["lost"], pool["wanted"], pool)
        self.assertGreaterEqual(pool["opened"], pool["wanted"] + pool["lost"], pool)
        return b, a

    def test_fast_restart_with_retries(self):
        self.check("fast", 10, 1)

    def test_fast_restart_with_retries_pipelined(self):
        self.check("fast", 10, 4)

    def test_immediate_restart_without_retries(self):
        self.check("immediate", 0, 1)

    def test_immediate_restart_with_retries_pipelined(self):
        self.check("immediate", 10, 4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
