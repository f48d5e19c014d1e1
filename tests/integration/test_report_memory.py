"""A finished run is never lost because its report does not fit in memory
(issue 9): `pgvolley run` under an address-space limit (prlimit's RLIMIT_AS,
set with Python's resource module) that lets the run finish but not its
JSON report prints the table, or at least the summary, says on stderr that
the full report could not be rendered, and exits 4.

The limit is found by bisection: the lowest limit (in steps of 4 MiB) at
which the JSON report is printed whole; below it, limits are tried downwards
until one leaves the run finished and the report too big, or the run itself
no longer finishes. Every limit tried must give one of the three outcomes.
The table with the JSON report to a file is then tried from that limit
down, until a run does not print the whole report: it must be exit 4.
glibc's allocator runs with one arena (MALLOC_ARENA_MAX=1), so that a worker
thread's arena (64 MiB of address space reserved at once) does not make the
outcome depend on timing.

Only in the normal build: a sanitizer's allocator reserves far more address
space than it uses and aborts when a reservation fails."""
import json
import os
import resource
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

MIB = 1024 * 1024
STEP = 4 * MIB
NSETS = 30000  # parameter sets: an 18 MB JSON report, a 4 MB table


def sanitized():
    with open(PGVOLLEY, "rb") as f:
        binary = f.read()
    return b"__asan_init" in binary or b"__tsan_init" in binary


class ReportMemoryTest(ServerTest):

    def limited(self, limit, *args):
        def cap():
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
        # pipelined: the same report, a third less CPU per run (the test runs a dozen)
        cmd = [PGVOLLEY, "run", "-d", self.server.dsn, "-q", "-j", "1", "-c", "2",
               "--pipeline", "16"] + list(args)
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120, preexec_fn=cap,
                            env=dict(os.environ, MALLOC_ARENA_MAX="1"))
        return cp

    def outcome(self, cp):
        """'full', 'kept' (the run finished, a smaller report was printed) or 'lost'."""
        if cp.returncode == 0:
            rep = json.loads(cp.stdout)
            self.assertEqual(rep["summary"]["executions"], NSETS)
            return "full"
        self.assertEqual(cp.returncode, 4, cp.stderr)
        if "cannot render the full report" in cp.stderr:
            self.assertRegex(cp.stderr, r"the run finished and the (table|summary) is on stdout")
            self.assertIn("Summary\n", cp.stdout)
            self.assertRegex(cp.stdout, rf"Executions: +{NSETS} \({NSETS} ok, 0 failed\)")
            self.assertIn("\nTotal ", cp.stdout)
            return "kept"
        # the run itself did not finish (out of memory before or while it ran): nothing printed
        self.assertEqual(cp.stdout, "", cp.stderr)
        self.assertIn("out of memory", cp.stderr)
        return "lost"

    def test_summary_kept_when_the_report_does_not_fit(self):
        if sanitized():
            self.skipTest("sanitizer build: address-space limits make its allocator abort")
        path = self.write("many.sql", "-- PARAMETERS: ["
                          + ",".join(f"[{i}]" for i in range(1, NSETS + 1))
                          + "]\n-- EXEC_COUNT: 1\nSELECT %s::int;\n")
        # the report fits in 256 MiB today (a bisection of 6 runs); if that
        # grows, the search starts from 1 GiB
        lo, hi = 16 * MIB, 256 * MIB
        if self.outcome(self.limited(hi, "-f", "json", path)) != "full":
            lo, hi = hi, 1024 * MIB
            self.assertEqual(self.outcome(self.limited(hi, "-f", "json", path)), "full")
        seen = {}
        while hi - lo > STEP:
            mid = (lo + hi) // 2 // STEP * STEP
            seen[mid] = self.outcome(self.limited(mid, "-f", "json", path))
            if seen[mid] == "full":
                hi = mid
            else:
                lo = mid
        limit = hi - STEP
        while limit > 16 * MIB:
            got = seen.get(limit) or self.outcome(self.limited(limit, "-f", "json", path))
            if got != "full":
                break
            limit -= STEP
        self.assertEqual(got, "kept",
                         f"at {limit // MIB} MiB nothing was printed; the lowest limit that "
                         f"prints the whole report is {hi // MIB} MiB: no limit between left the "
                         "run finished with a report too big")

        # the table on stdout and the JSON report to a file: the table (or the
        # summary) is printed, the file is not written, and stderr says so. From
        # the same limit down: the heap's layout depends on when the timeline's
        # aggregator thread allocates, so a limit this close to the edge can
        # leave one run a few MiB more than another
        out = os.path.join(self.dir, "report.json")
        for lim in range(limit, max(limit - 8 * STEP, 16 * MIB), -STEP):
            cp = self.limited(lim, "-f", "table", "-o", out, path)
            if cp.returncode != 0:
                break
            os.unlink(out)  # written whole: the limit was not low enough
        self.assertEqual(cp.returncode, 4, cp.stderr)
        self.assertIn("Summary\n", cp.stdout)
        self.assertFalse(os.path.exists(out))
        self.assertRegex(cp.stderr, r"cannot render the (JSON|full) report")
        self.assertIn("was not written", cp.stderr)


if __name__ == "__main__":
    unittest.main()
