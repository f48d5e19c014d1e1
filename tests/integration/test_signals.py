"""SIGINT and SIGTERM in every phase of a run and of a batch (issue 9).

- while connecting (a proxy holds every connection after the first, as a
  black-holed host would): the run stops, writes its report, exits 130;
- during the warm-up: nothing is counted, the report says interrupted;
- while a cancel request is never answered (backends and postmaster
  frozen with SIGSTOP): the first signal ends the run within the stop grace,
  a second at once, both with the report; a third exits with the counters;
- `multi` while connecting and with a frozen server: cancelled, partial
  results printed, exit 130.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from pvtest import PGVOLLEY, ServerTest, wait_while_stopped, wait_while_stopped_timed

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class HoldingProxy:
    """A TCP proxy to the server that forwards its first `forward`
    connections and holds every later one open without a byte of answer."""

    def __init__(self, port, forward):
        self.target = ("127.0.0.1", port)
        self.forward = forward
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(512)
        self.port = self.lsock.getsockname()[1]
        self.held = []
        self.nforwarded = 0
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self.forward > 0:
                    self.nforwarded += 1
                    self.forward -= 1
                    up = socket.create_connection(self.target)
                    self.held += [c, up]  # forwarded, closed with the proxy
                    threading.Thread(target=self.pump, args=(c, up), daemon=True).start()
                    threading.Thread(target=self.pump, args=(up, c), daemon=True).start()
                else:
                    self.held.append(c)

    def nheld(self):
        """Connections held without an answer."""
        with self.lock:
            return len(self.held) - 2 * self.nforwarded

    def close(self):
        self.lsock.close()
        with self.lock:
            for c in self.held:
                c.close()


class SignalTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.port = int(self.server.dsn.split("port=")[1].split()[0])

    def proxy_dsn(self, proxy):
        return f"host=127.0.0.1 port={proxy.port} user=postgres dbname=postgres sslmode=disable"

    def wait_held(self, proxy, n):
        deadline = time.monotonic() + 30
        while proxy.nheld() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(proxy.nheld(), n, "pgvolley never tried to connect")

    def start_run(self, dsn, *args, quiet=True):
        q = ["-q"] if quiet else ["--progress", "60"]
        return subprocess.Popen([PGVOLLEY, "run", "-f", "json", "-d", dsn] + q + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop_and_wait(self, p, sig, within):
        t0 = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, within, err)
        self.assertEqual(p.returncode, 130, err)
        return out, err

    # ---- run -------------------------------------------------------------

    def test_run_while_connecting(self):
        # connections held for minutes (the connect timeout): a run that
        # waited for them would take that long
        f = self.write("q.sql", "SELECT 1;\n")
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                proxy = HoldingProxy(self.port, forward=1)  # the probe goes through
                try:
                    p = self.start_run(self.proxy_dsn(proxy), "-c", "4", "-j", "2",
                                       "--connect-timeout", "300", f)
                    self.wait_held(proxy, 4)
                    out, _ = self.stop_and_wait(p, sig, 15)
                finally:
                    proxy.close()
                rep = json.loads(out)
                self.assertTrue(rep["interrupted"])
                self.assertEqual(rep["summary"]["executions"], 0)
                self.assertEqual(rep["summary"]["failed"], 0)

    def test_run_during_warmup(self):
        # a warm-up of minutes, stopped once its queries run (a loaded
        # machine can take seconds to connect)
        f = self.write("q.sql", "SELECT pg_sleep(0.01);\n")
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                p = self.start_run(self.server.dsn, "-c", "2", "--warmup", "300", "-T", "5", f)
                self.server.backends("SELECT pg_sleep(0.01)%", 2, timeout=30)
                out, _ = self.stop_and_wait(p, sig, 15)
                rep = json.loads(out)
                self.assertTrue(rep["interrupted"])
                # warm-up executions are never counted, not even when stopped
                self.assertEqual(rep["summary"]["executions"], 0)

    def test_run_during_the_run(self):
        f = self.write("q.sql", "SELECT pg_sleep(0.05);\n")
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                p = self.start_run(self.server.dsn, "-c", "4", "-T", "300", f)
                # once its 4 connections have run a query (on a loaded
                # machine connecting can take longer than a fixed sleep),
                # a second more: about 80 executions of 50 ms
                self.server.backends("SELECT pg_sleep(0.05)%", 4, timeout=30)
                time.sleep(1.0)
                out, _ = self.stop_and_wait(p, sig, 15)  # not the 5 minutes of -T
                rep = json.loads(out)
                self.assertTrue(rep["interrupted"])
                self.assertGreater(rep["summary"]["executions"], 10)
                self.assertEqual(rep["summary"]["failed"], 0)

    def frozen_run(self, signals, gap, quiet=True):
        """A run whose 2 queries sleep on a frozen server; sends signals
        `gap` s apart. Returns (exit code, stdout, stderr, seconds from just
        before the first signal to the report's arrival, and to the exit
        seen): never less than the run's own time from that signal to its
        report."""
        f = self.write("stuck.sql", "SELECT pg_sleep(20);\n")
        postmaster = self.server.postmaster_pid()
        p = self.start_run(self.server.dsn, "-c", "2", "--exec-count", "2", f, quiet=quiet)
        backends = self.server.backends("SELECT pg_sleep(20)%", 2, timeout=30)
        self.assertEqual(len(backends), 2)
        frozen = [postmaster] + backends
        first = []

        def send():
            time.sleep(0.5)
            for s in signals:
                if not first:
                    first.append(time.monotonic())
                p.send_signal(s)
                time.sleep(gap)

        threading.Thread(target=send, daemon=True).start()
        out, err, _, report_at = wait_while_stopped_timed(p, frozen, 60)
        exited = time.monotonic() - first[0]
        self.assertIsNotNone(report_at, err)
        elapsed = report_at - first[0]
        # the queries were cancelled once the server woke up
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.server.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                "'SELECT pg_sleep(20)%' AND pid <> pg_backend_pid()") != "0":
            time.sleep(0.1)
        return p.returncode, out, err, elapsed, exited

    def test_run_with_a_cancel_never_answered(self):
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                code, out, err, elapsed, exited = self.frozen_run([sig], 0)
                self.assertEqual(code, 130, err)
                # the report after the 2 s stop grace, and slack; not after
                # the 5 s grace of a command timeout's cancel, which could
                # not come before 5 s
                self.assertLess(elapsed, 4.9)
                self.assertLess(exited, 20)  # and the process ends
                rep = json.loads(out)
                self.assertTrue(rep["interrupted"])
                self.assertEqual(rep["summary"]["executions"], 0)  # cancelled: not counted

    def test_second_signal_stops_at_once_with_the_report(self):
        code, out, err, elapsed, exited = self.frozen_run([signal.SIGINT, signal.SIGINT], 0.3,
                                                          quiet=False)
        self.assertEqual(code, 130, err)
        # the report before the 2 s stop grace ended: the grace starts once
        # the run has the first signal (after the time taken), so a report
        # written when it ends comes no earlier than 2 s after that time.
        # Timed to the report, not to the exit: the sanitizer build's exit
        # (its leak check) can take most of the 2 s on a loaded machine, and
        # the stop grace is not an option of run's to make longer.
        self.assertLess(elapsed, 1.95)
        self.assertLess(exited, 20)  # and the process ends
        self.assertIn("closing the connections now", err)
        rep = json.loads(out)
        self.assertTrue(rep["interrupted"])
        self.assertEqual(rep["summary"]["executions"], 0)

    def test_third_signal_exits_at_once(self):
        """Three signals while connecting: the process ends at once with 130,
        and stdout holds either the whole report (the second signal's stop
        won) or nothing (the third's exit did, with the counters on
        stderr), never a part of one."""
        f = self.write("q.sql", "SELECT 1;\n")
        proxy = HoldingProxy(self.port, forward=1)
        try:
            # connections held for minutes (the connect timeout)
            p = self.start_run(self.proxy_dsn(proxy), "-c", "2", "--connect-timeout", "300", f)
            self.wait_held(proxy, 2)
            t0 = time.monotonic()
            for _ in range(3):
                p.send_signal(signal.SIGINT)
                time.sleep(0.05)
            out, err = p.communicate(timeout=60)
            self.assertLess(time.monotonic() - t0, 15)
        finally:
            proxy.close()
        self.assertEqual(p.returncode, 130, err)
        if "without a report" in err:
            self.assertIn("0 executions finished", err)
            self.assertEqual(out, "")
        else:
            self.assertTrue(json.loads(out)["interrupted"])

    # ---- multi -----------------------------------------------------------

    def test_multi_while_connecting(self):
        req = self.write("q.json", json.dumps({"queries": [{"query": "SELECT 1"},
                                                           {"query": "SELECT 2"}]}))
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                proxy = HoldingProxy(self.port, forward=0)
                # connections held for minutes (the connect timeout)
                ds = self.write("ds.ini", f"[default]\ndsn = {self.proxy_dsn(proxy)}\n"
                                "connect_timeout_s = 300\n")
                try:
                    p = subprocess.Popen([PGVOLLEY, "multi", "--allow-superuser", "-f", "json",
                                          "--datasets", ds, req],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
                    self.wait_held(proxy, 1)
                    out, err = self.stop_and_wait(p, sig, 15)
                finally:
                    proxy.close()
                results = json.loads(out)["results"]
                self.assertEqual(len(results), 2)
                for r in results:
                    self.assertFalse(r["ok"], r)

    def test_multi_with_a_cancel_never_answered(self):
        req = self.write("q.json", json.dumps({"queries": [{"query": "SELECT pg_sleep(20)"}]}))
        postmaster = self.server.postmaster_pid()
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                p = subprocess.Popen([PGVOLLEY, "multi", "--allow-superuser", "-f", "json",
                                      "-d", self.server.dsn, req],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                backends = self.server.backends("SELECT pg_sleep(20)", 1, timeout=30)
                self.assertEqual(len(backends), 1)
                sent = []

                def send(sig=sig):
                    sent.append(time.monotonic())
                    p.send_signal(sig)
                threading.Timer(0.5, send).start()
                out, err, _ = wait_while_stopped(p, backends + [postmaster], 60)
                elapsed = time.monotonic() - sent[0]
                self.assertEqual(p.returncode, 130, err)
                # 5 s for the cancel, and slack for a loaded machine (a multi
                # waiting for the answer never ends: the 60 s above)
                self.assertLess(elapsed, 20)
                res = json.loads(out)["results"][0]
                self.assertFalse(res["ok"])
                self.assertEqual(res["error"]["sqlstate"], "57014")


if __name__ == "__main__":
    unittest.main(verbosity=2)
