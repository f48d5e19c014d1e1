"""Where reports go, and what the process does when its output or its
standard descriptors are not what a terminal gives (issue 9):

- `-o FILE` writes atomically only to regular files and new paths (next to
  a symbolic link's target, keeping the link), straight through to devices,
  FIFOs and /dev/stdout, and is checked before anything runs (exit 2);
- closed stdin, stdout or stderr never abort the process;
- a failed write on stdout is an error (exit 4 and a message), and a reader
  that went away (`| head -1`) ends the process as it ends pgbench and psql:
  by SIGPIPE;
- Ctrl-C or SIGTERM on `multi` cancels its queries on the server and still
  prints what finished (exit 130).

As root, a test that writes to a system node (/dev/null, /dev/stdout) first
checks the same kind of node made for the test, so that a regression breaks
a private node rather than the machine's."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402

ROOT = os.geteuid() == 0
NOBODY = 65534

# queries that would sleep for minutes: a stop cancels them long before
SLEEP_BATCH = {"queries": [{"query": "SELECT pg_sleep(300)", "label": "sleep-a"},
                           {"query": "SELECT pg_sleep(300)", "label": "sleep-b"},
                           {"query": "SELECT 42 AS answer", "label": "quick"}]}


def closing(fd):
    return lambda: os.close(fd)


class OutputTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql("CREATE TABLE witness (v int)")

    def setUp(self):
        super().setUp()
        self.server.sql("TRUNCATE witness")
        self.sql_file = self.write("one.sql", "-- EXEC_COUNT: 3\nSELECT 1;\n")

    def run_pv(self, *args, dsn=None, timeout=60, **kw):
        cmd = [PGVOLLEY] + list(args)
        if args and args[0] == "run":
            cmd[2:2] = ["-q", "-d", dsn or self.server.dsn]
        if "stdout" not in kw and "stderr" not in kw:
            kw["capture_output"] = True
        return subprocess.run(cmd, timeout=timeout, **kw)

    def assert_report(self, path):
        with open(path) as f:
            rep = json.load(f)
        self.assertEqual(rep["schema"], "pgvolley.report/1")
        self.assertEqual(rep["summary"]["executions"], 3)

    # ---- -o FILE ----------------------------------------------------------

    def assert_char_device_kept(self, path, before):
        st = os.stat(path, follow_symlinks=False)
        self.assertTrue(stat.S_ISCHR(st.st_mode), f"{path} is no longer a character device")
        self.assertEqual(st.st_rdev, before.st_rdev)
        self.assertEqual(os.listdir(os.path.dirname(path)).count(os.path.basename(path)), 1)

    def test_output_device(self):
        if ROOT:
            # A private copy of /dev/null first (a regression replaces this one).
            node = os.path.join(self.dir, "null")
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            before = os.stat(node)
            r = self.run_pv("run", "-o", node, self.sql_file)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_char_device_kept(node, before)
            self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])
        before = os.stat("/dev/null")
        r = self.run_pv("run", "-o", "/dev/null", self.sql_file)
        try:
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_char_device_kept("/dev/null", before)
        finally:
            if ROOT and not stat.S_ISCHR(os.lstat("/dev/null").st_mode):
                os.unlink("/dev/null")  # put the machine's /dev/null back
                os.mknod("/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
                os.chmod("/dev/null", 0o666)

    def test_output_fifo(self):
        fifo = os.path.join(self.dir, "report.fifo")
        os.mkfifo(fifo)
        got = {}

        def reader():
            with open(fifo) as f:
                got["text"] = f.read()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        r = self.run_pv("run", "-o", fifo, self.sql_file, timeout=30)
        t.join(10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")
        self.assertEqual(json.loads(got["text"])["summary"]["executions"], 3)

    def test_output_symlink(self):
        os.mkdir(os.path.join(self.dir, "reports"))
        target = self.write("reports/latest.json", "old\n")
        os.chmod(target, 0o640)
        link = os.path.join(self.dir, "report.json")
        os.symlink("reports/latest.json", link)  # relative, as ln -s makes them
        r = self.run_pv("run", "-o", link, self.sql_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.islink(link), "the symbolic link was replaced by a file")
        self.assertEqual(os.readlink(link), "reports/latest.json")
        self.assert_report(target)
        self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o640)
        # a link to a file that does not exist yet creates the file
        os.symlink("reports/new.json", os.path.join(self.dir, "next.json"))
        r = self.run_pv("run", "-o", os.path.join(self.dir, "next.json"), self.sql_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.islink(os.path.join(self.dir, "next.json")))
        self.assert_report(os.path.join(self.dir, "reports/new.json"))
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "reports"))),
                         ["latest.json", "new.json"])

    def test_output_regular_file_and_new_path(self):
        path = self.write("r.json", "old\n")
        r = self.run_pv("run", "-o", path, self.sql_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_report(path)
        path2 = os.path.join(self.dir, "fresh.json")
        r = self.run_pv("run", "-o", path2, self.sql_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_report(path2)
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp." in n], [])

    def assert_stdout_output(self, path):
        r = self.run_pv("run", "-f", "json", "-o", path, self.sql_file, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        # the -f json report on stdout, then the -o report after it
        dec = json.JSONDecoder()
        first, end = dec.raw_decode(r.stdout)
        second, _ = dec.raw_decode(r.stdout[end:].lstrip())
        self.assertEqual(first["schema"], "pgvolley.report/1")
        self.assertEqual(second["summary"]["executions"], 3)

    def test_output_dev_stdout(self):
        # Spellings that cannot hurt the machine first, the same shape as /dev/stdout.
        self.assert_stdout_output("/proc/self/fd/1")
        mine = os.path.join(self.dir, "stdout")
        os.symlink("/proc/self/fd/1", mine)
        self.assert_stdout_output(mine)
        self.assertTrue(os.path.islink(mine))
        before = os.readlink("/dev/stdout")
        try:
            self.assert_stdout_output("/dev/stdout")
            self.assert_stdout_output("/dev/fd/1")
        finally:
            if ROOT and not os.path.islink("/dev/stdout"):
                os.unlink("/dev/stdout")  # put the machine's /dev/stdout back
                os.symlink(before, "/dev/stdout")
        self.assertEqual(os.readlink("/dev/stdout"), before)
        # into a regular file that stdout already wrote: appended, not overwritten
        out = os.path.join(self.dir, "out.txt")
        with open(out, "w") as f:
            r = self.run_pv("run", "-f", "json", "-o", "/dev/stdout", self.sql_file,
                            stdout=f, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            text = f.read()
        self.assertEqual(text.count('"schema": "pgvolley.report/1"'), 2, text[:300])

    def assert_refused_before_run(self, path, fragment, **kw):
        """-o path fails with exit 2 naming path, and nothing ran."""
        insert = self.write("insert.sql", "-- EXEC_COUNT: 1\nINSERT INTO witness VALUES (1);\n")
        os.chmod(insert, 0o644)
        r = self.run_pv("run", "-o", path, insert, text=True, dsn=self.server.uri, **kw)
        self.assertEqual(r.returncode, 2, f"stdout={r.stdout!r} stderr={r.stderr!r}")
        self.assertIn(path, r.stderr)
        self.assertIn(fragment, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.server.sql("SELECT count(*) FROM witness"), "0")

    def test_output_checked_before_the_run(self):
        self.assert_refused_before_run(os.path.join(self.dir, "no", "such", "dir", "r.json"),
                                       "No such file or directory")
        self.assert_refused_before_run(self.dir, "Is a directory")
        # a directory the user may not write into (as root: run as nobody)
        os.chmod(self.dir, 0o755)
        ro = os.path.join(self.dir, "ro")
        os.mkdir(ro, 0o555)
        os.chmod(ro, 0o555)
        kw = {}
        if ROOT:
            def drop():
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            kw["preexec_fn"] = drop
        self.assert_refused_before_run(os.path.join(ro, "r.json"), "Permission denied", **kw)
        self.assertEqual(os.listdir(ro), [])

    # ---- closed standard descriptors ---------------------------------------

    def test_closed_standard_descriptors_run(self):
        for fd in (0, 1, 2):
            with self.subTest(fd=fd):
                out = os.path.join(self.dir, f"closed{fd}.json")
                r = self.run_pv("run", "-o", out, self.sql_file, preexec_fn=closing(fd))
                self.assertNotEqual(r.returncode, -signal.SIGABRT, r.stderr)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assert_report(out)

    def test_closed_standard_descriptors_multi(self):
        req = self.write("q.json", json.dumps({"queries": [{"query": "SELECT 1 AS one"}]}))
        for fd in (0, 1, 2):
            with self.subTest(fd=fd):
                r = self.run_pv("multi", "--allow-superuser", "-d", self.server.dsn, req,
                                preexec_fn=closing(fd), text=True)
                self.assertNotEqual(r.returncode, -signal.SIGABRT, r.stderr)
                self.assertEqual(r.returncode, 0, r.stderr)
                if fd != 1:
                    self.assertIn("one", r.stdout)

    def test_closed_standard_descriptors_mcp(self):
        if subprocess.run([PGVOLLEY, "mcp", "--help"], capture_output=True).returncode != 0:
            self.skipTest("built without the MCP server")
        ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
        for fd in (0, 1, 2):
            with self.subTest(fd=fd):
                r = self.run_pv("mcp", "--allow-superuser", "-d", self.server.dsn,
                                input=ping, preexec_fn=closing(fd), timeout=30)
                self.assertNotEqual(r.returncode, -signal.SIGABRT, r.stderr)
                self.assertEqual(r.returncode, 0, r.stderr)
                if fd == 2:
                    self.assertIn(b'"id":1', r.stdout)

    def test_closed_stdin_ephemeral_run(self):
        out = os.path.join(self.dir, "eph.json")
        r = subprocess.run([PGVOLLEY, "run", "-q", "--ephemeral", "-o", out, self.sql_file],
                           capture_output=True, timeout=120, preexec_fn=closing(0))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_report(out)

    # ---- write errors on stdout --------------------------------------------

    def test_stdout_full(self):
        out = os.path.join(self.dir, "r.json")
        with open("/dev/full", "w") as full:
            r = self.run_pv("run", "-f", "json", "-o", out, self.sql_file, stdout=full,
                            stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("cannot write the report to stdout: No space left on device", r.stderr)
        self.assert_report(out)  # the file is written all the same
        req = self.write("q.json", json.dumps({"queries": [{"query": "SELECT 1"}]}))
        with open("/dev/full", "w") as full:
            r = self.run_pv("multi", "--allow-superuser", "-d", self.server.dsn, req,
                            stdout=full, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("cannot write the report to stdout: No space left on device", r.stderr)
        with open("/dev/full", "w") as full:
            r = subprocess.run([PGVOLLEY, "--help"], stdout=full, stderr=subprocess.PIPE,
                               text=True, timeout=30)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("No space left on device", r.stderr)

    def head_one(self, *args):
        """args | head -1: pgvolley's exit status and stderr."""
        p = subprocess.Popen([PGVOLLEY] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        first = p.stdout.readline()
        p.stdout.close()  # the reader goes away, as head does
        err = p.stderr.read().decode()
        p.stderr.close()
        p.wait(timeout=60)
        return first, p.returncode, err

    def test_stdout_reader_gone(self):
        # A report far larger than a pipe's buffer, so that the writer sees the reader go.
        params = json.dumps([[i] for i in range(3000)])
        big = self.write("big.sql", f"-- PARAMETERS: {params}\n-- EXEC_COUNT: 1\nSELECT %s::int;\n")
        out = os.path.join(self.dir, "r.json")
        first, code, err = self.head_one("run", "-q", "-d", self.server.dsn, "-f", "json",
                                         "-o", out, big)
        self.assertEqual(first, b"{\n")
        # as pgbench and psql: killed by SIGPIPE (141 in a shell), no message
        self.assertEqual(code, -signal.SIGPIPE, err)
        self.assertEqual(err, "")
        with open(out) as f:
            self.assertEqual(json.load(f)["summary"]["executions"], 3000)
        req = self.write("q.json", json.dumps(
            {"queries": [{"query": "SELECT repeat('x', 200) FROM generate_series(1, 5000)"}]}))
        first, code, err = self.head_one("multi", "--allow-superuser", "-d", self.server.dsn,
                                         req)
        self.assertTrue(first.startswith(b"# "), first)
        self.assertEqual(code, -signal.SIGPIPE, err)

    # ---- multi: Ctrl-C and SIGTERM -----------------------------------------

    SLEEPING = ("FROM pg_stat_activity WHERE state = 'active' "
                "AND query LIKE '%pg_sleep(300)%' AND pid <> pg_backend_pid()")

    def sleeping(self):
        return self.server.sql(f"SELECT count(*) {self.SLEEPING}")

    def wait_for(self, what, count_sql, n):
        """Until count_sql counts n or more (a loaded machine can take seconds)."""
        deadline = time.monotonic() + 30
        while int(self.server.sql(count_sql)) < n:
            if time.monotonic() > deadline:
                self.fail(f"{what}: {self.server.sql(count_sql)}, not {n}")
            time.sleep(0.1)

    def test_multi_interrupted(self):
        req = self.write("sleep.json", json.dumps(SLEEP_BATCH))
        # a test that fails leaves no sleeper behind for the next
        self.addCleanup(self.server.sql, f"SELECT pg_cancel_backend(pid) {self.SLEEPING}")
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                started = self.server.sql("SELECT now()")
                p = subprocess.Popen([PGVOLLEY, "multi", "--allow-superuser", "-f", "json",
                                      "-d", self.server.dsn, req],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.addCleanup(p.kill)  # a no-op once it has ended
                # both sleeping, and the quick query done: its connection
                # back in this multi's pool, reset (DISCARD ALL) and idle
                self.wait_for("sleeping", f"SELECT count(*) {self.SLEEPING}", 2)
                self.wait_for("the quick query done", "SELECT count(*) FROM pg_stat_activity "
                              "WHERE state = 'idle' AND query LIKE 'DISCARD ALL%' "
                              f"AND backend_start >= '{started}'", 1)
                t0 = time.monotonic()
                p.send_signal(sig)
                out, err = p.communicate(timeout=60)
                self.assertLess(time.monotonic() - t0, 20, "multi took too long to stop")
                self.assertEqual(p.returncode, 130, err)
                self.assertIn("interrupted", err)
                res = {r["label"]: r for r in json.loads(out)["results"]}
                self.assertEqual(res["quick"]["ok"], True, res["quick"])
                for label in ("sleep-a", "sleep-b"):
                    self.assertFalse(res[label]["ok"], res[label])
                    self.assertIn("57014", json.dumps(res[label]))
                # cancelled, not left to sleep for minutes (gone in a moment
                # on a loaded machine)
                deadline = time.monotonic() + 20
                while self.sleeping() != "0" and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.assertEqual(self.sleeping(), "0", "queries left running on the server")

    def test_multi_second_signal_exits_at_once(self):
        req = self.write("sleep.json", json.dumps(SLEEP_BATCH))
        self.addCleanup(self.server.sql, f"SELECT pg_cancel_backend(pid) {self.SLEEPING}")
        p = subprocess.Popen([PGVOLLEY, "multi", "--allow-superuser", "-d", self.server.dsn,
                              req], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)
        self.wait_for("sleeping", f"SELECT count(*) {self.SLEEPING}", 2)
        p.send_signal(signal.SIGINT)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)  # not the minutes the queries sleep
        self.assertEqual(p.returncode, 130, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
