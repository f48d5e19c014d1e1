"""pgvolley through pgbouncer (Debian's 1.18, installed by scripts/deps.sh)
in transaction pooling mode, in front of the throwaway server: the extended
and simple protocols run with no failure; the prepared protocol, whose named
statements cannot follow a client across pgbouncer's server connections
before 1.21, stops at once with a hint to use --protocol extended instead of
failing every execution."""
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgbouncerTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(PGBOUNCER, os.X_OK):
            raise RuntimeError("pgbouncer not found (scripts/deps.sh installs it)")
        params = dict(p.split("=", 1) for p in cls.server.dsn.split())
        cls.dir = os.path.realpath(__import__("tempfile").mkdtemp(prefix="pvbouncer-"))
        os.chmod(cls.dir, 0o777)  # pgbouncer runs as postgres when we are root
        cls.port = free_port()
        ini = os.path.join(cls.dir, "pgbouncer.ini")
        with open(ini, "w") as f:
            f.write(f"""[databases]
postgres = host={params['host']} port={params['port']} dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {cls.port}
unix_socket_dir =
auth_type = trust
auth_file = {cls.dir}/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
logfile = {cls.dir}/pgbouncer.log
pidfile = {cls.dir}/pgbouncer.pid
""")
        with open(os.path.join(cls.dir, "users.txt"), "w") as f:
            f.write('"postgres" ""\n')
        for name in ("pgbouncer.ini", "users.txt"):
            os.chmod(os.path.join(cls.dir, name), 0o644)
        cmd = [PGBOUNCER, "-d"] + (["-u", "postgres"] if os.geteuid() == 0 else []) + [ini]
        subprocess.run(cmd, check=True, timeout=30)
        cls.dsn = f"host=127.0.0.1 port={cls.port} user=postgres dbname=postgres"
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", cls.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("pgbouncer did not start: see " + cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            with open(os.path.join(cls.dir, "pgbouncer.pid")) as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass
        shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def run_through(self, protocol, expect):
        f = self.write("w.sql", "-- PARAMETERS: [[1], [2], [3]]\n-- EXEC_COUNT: 200\n"
                       "SELECT %s::int + 1;\n")
        r = self.pgvolley("run", "-q", "-f", "json", "-d", self.dsn, "-c", "10", "-j", "2",
                          "--protocol", protocol, f, dsn=False, timeout=60)
        self.assertEqual(r.code, expect, r.stderr)
        return r

    def test_extended_and_simple_through_transaction_pooling(self):
        rep = self.run_through("extended", 0).json()
        self.assertEqual((rep["summary"]["succeeded"], rep["summary"]["failed"]), (600, 0))
        f = self.write("s.sql", "-- EXEC_COUNT: 300\nSELECT 1;\n")
        r = self.pgvolley("run", "-q", "-f", "json", "-d", self.dsn, "-c", "10", "-j", "2",
                          "--protocol", "simple", f, dsn=False, timeout=60)
        self.assertEqual(r.code, 0, r.stderr)
        self.assertEqual(r.json()["summary"]["failed"], 0)

    def test_prepared_stops_with_a_hint(self):
        r = self.run_through("prepared", 1)
        rep = r.json()
        self.assertIn("--protocol extended", rep["aborted"])
        self.assertIn("--protocol extended", r.stderr)
        # stopped at once: a few executions in flight, not hundreds of errors
        failed = sum(e["count"] for e in rep["errors"])
        self.assertLessEqual(failed, 20, rep["errors"])
        for e in rep["errors"]:
            self.assertIn(e["sqlstate"], ("26000", "42P05"), rep["errors"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
