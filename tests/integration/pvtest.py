"""Shared harness for pgvolley's integration tests (Python stdlib only).

Starts one throwaway PostgreSQL per test module with the project's own
`pgvolley ephemeral` (no mock of libpq or the server), runs SQL with psql,
and runs `pgvolley` as a user would: files in, JSON out."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

PGVOLLEY = os.environ.get("PGVOLLEY") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "pgvolley")


def find_pg_program(name):
    """A PostgreSQL client program: on PATH, else in the newest
    /usr/lib/postgresql/N/bin (Debian's layout)."""
    p = shutil.which(name)
    if p:
        return p
    for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        c = f"/usr/lib/postgresql/{d}/bin/{name}"
        if os.path.exists(c):
            return c
    raise RuntimeError(f"{name} not found (scripts/deps.sh installs PostgreSQL)")


def find_psql():
    return find_pg_program("psql")


class Server:
    """A throwaway server for the life of a test class."""

    def __init__(self, settings=()):
        """settings: "name=value" server settings (pgvolley ephemeral -c)."""
        args = [a for s in settings for a in ("-c", s)]
        self.proc = subprocess.Popen([PGVOLLEY, "ephemeral", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.dsn = self.proc.stdout.readline().strip()
        self.uri = self.proc.stdout.readline().strip()
        if not self.dsn:
            self.proc.wait(timeout=30)
            raise RuntimeError("pgvolley ephemeral did not start a server")
        self.psql_bin = find_psql()

    def sql(self, query):
        """Runs query with psql; returns stdout rows (unaligned, tuples only)."""
        out = subprocess.run([self.psql_bin, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                              "-d", self.dsn, "-c", query],
                             check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def postmaster_pid(self):
        with open(os.path.join(self.sql("SHOW data_directory"), "postmaster.pid")) as f:
            return int(f.readline())

    def backends(self, like, n, timeout=5):
        """The pids of the backends whose query is LIKE like, once there are n
        (or what there are after timeout seconds: a loaded machine can take
        seconds to connect)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.sql("SELECT pid FROM pg_stat_activity WHERE query LIKE "
                            f"'{like}' AND pid <> pg_backend_pid()").split()
            if len(pids) >= n or time.monotonic() >= deadline:
                return [int(p) for p in pids]
            time.sleep(0.05)


def children(pid):
    """{pid: process title} of pid's child processes (from /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    out = {}
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline") as f:
                out[k] = f.read().replace("\0", " ").strip()
        except OSError:
            pass  # gone meanwhile
    return out


def running_backends(postmaster, n, before, timeout=30):
    """The pids of the n backends of postmaster, other than those in before,
    running a SELECT by their process title, once there are n (or what
    there are after timeout seconds). Read from /proc, not with psql
    (Server.backends): a loaded machine can take a second to start psql and
    connect it, longer than a query's timeout may leave to freeze the
    backends running it."""
    deadline = time.monotonic() + timeout
    last = []
    while True:
        pids = sorted(pid for pid, title in children(postmaster).items()
                      if pid not in before and title.startswith("postgres: ")
                      and title.split()[-1] == "SELECT")
        # the same ones twice in a row: running, not a statement passing by
        if (len(pids) >= n and pids == last) or time.monotonic() >= deadline:
            return pids
        last = pids
        time.sleep(0.01)


def wait_while_stopped_timed(proc, pids, timeout):
    """SIGSTOPs pids (a frozen server), waits for proc (started with
    text=True and pipes for stdout and stderr), and SIGCONTs them whatever
    happens. Returns (stdout, stderr, seconds waited, the time.monotonic()
    the first byte of stdout arrived or None): a report is written once a
    run has stopped, before the process's exit, which the sanitizer build
    makes slow (its leak check)."""
    got = {}

    def read(name, stream):
        data = []
        while True:
            b = stream.read1(65536)
            if not b:
                break
            got.setdefault(name + "_at", time.monotonic())
            data.append(b)
        got[name] = b"".join(data).decode()

    readers = [threading.Thread(target=read, args=("out", proc.stdout.buffer), daemon=True),
               threading.Thread(target=read, args=("err", proc.stderr.buffer), daemon=True)]
    stopped = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        t0 = time.monotonic()
        for t in readers:
            t.start()
        proc.wait(timeout=timeout)
        elapsed = time.monotonic() - t0
        for t in readers:
            t.join(timeout)
        return got.get("out", ""), got.get("err", ""), elapsed, got.get("out_at")
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for t in readers:
            if t.ident is not None:  # started
                t.join(timeout)
        proc.stdout.close()
        proc.stderr.close()


def wait_while_stopped(proc, pids, timeout):
    """wait_while_stopped_timed without the report's time: (stdout, stderr,
    seconds waited)."""
    out, err, elapsed, _ = wait_while_stopped_timed(proc, pids, timeout)
    return out, err, elapsed


class Result:
    def __init__(self, cp):
        self.code = cp.returncode
        self.stdout = cp.stdout
        self.stderr = cp.stderr

    def json(self):
        return json.loads(self.stdout)


class ServerTest(unittest.TestCase):
    """Base class: one server per class, a temp dir per test."""
    server = None
    settings = ()  # server settings of the class's server (pgvolley ephemeral -c)

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.settings)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pvtest-")

    def wait_executed(self, like):
        """Until a backend running a query LIKE like has started it again:
        an execution has ended (a loaded machine can take seconds to get
        there)."""
        sql = ("SELECT pid || ' ' || query_start FROM pg_stat_activity "
               f"WHERE query LIKE '{like}' AND pid <> pg_backend_pid()")
        first = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = dict(row.split(" ", 1) for row in self.server.sql(sql).splitlines())
            if any(pid in first and first[pid] != start for pid, start in now.items()):
                return
            first = {**now, **first}
            time.sleep(0.05)
        self.fail(f"no execution of {like} ended")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        return path

    def pgvolley(self, *args, dsn=True, timeout=120):
        cmd = [PGVOLLEY] + list(args)
        if dsn and args and args[0] == "run":
            cmd[2:2] = ["-d", self.server.dsn]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return Result(cp)

    def start_mcp_http(self, *extra, source=None):
        """Starts `pgvolley mcp --http 127.0.0.1:0` on the test's server, or
        on source (e.g. ["--datasets", FILE]), stopped at cleanup; returns
        the port it printed."""
        source = source or ["-d", self.server.dsn]
        p = subprocess.Popen([PGVOLLEY, "mcp", "--allow-superuser", *source,
                              "--http", "127.0.0.1:0", *extra],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
        if not m:
            p.wait(timeout=30)
            self.fail(line + p.stderr.read())
        self.addCleanup(lambda: (p.terminate(), p.wait(timeout=30), p.stderr.close()))
        return int(m.group(1))

    def run_json(self, *args, expect=0, timeout=120):
        r = self.pgvolley("run", "-q", "-f", "json", *args, timeout=timeout)
        self.assertEqual(r.code, expect, f"exit code; stderr: {r.stderr}")
        return r.json()


def scenario(rep, file_index, name):
    for s in rep["queries"][file_index]["scenarios"]:
        if s["name"] == name:
            return s
    raise KeyError(name)
