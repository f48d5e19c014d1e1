"""A live run scraped by a real Prometheus server (Debian's `prometheus`,
installed by scripts/deps.sh): pgvolley run --metrics-listen, a Prometheus
scraping it every second, and its query API giving back the run's counters
and a histogram_quantile over the latency buckets, as the Grafana
dashboard's panels ask for them."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, ServerTest  # noqa: E402
from test_prometheus import free_port  # noqa: E402


def query(api, expr):
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        out = json.loads(r.read().decode())
    assert out["status"] == "success", out
    return out["data"]["result"]


class PrometheusScrapeTest(ServerTest):
    def test_prometheus_scrapes_a_live_run(self):
        exe = shutil.which("prometheus")
        self.assertIsNotNone(exe, "prometheus not found: scripts/deps.sh installs it")
        tmp = tempfile.mkdtemp(prefix="pvprom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        mport, pport = free_port(), free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: pgvolley\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{mport}']\n")
        prom = subprocess.Popen([exe, f"--config.file={tmp}/prometheus.yml",
                                 f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{pport}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (prom.kill(), prom.wait()))
        api = f"http://127.0.0.1:{pport}"
        # Prometheus ready before the run starts: on a loaded machine it can
        # take seconds, and a run begun earlier is over before the first scrape
        ready = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(api + "/-/ready", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            self.assertLess(time.monotonic(), ready, "Prometheus did not get ready in 60 s")
            time.sleep(0.2)
        q = self.write("lookup.sql", "SELECT pg_sleep(0.002);\n")
        run = subprocess.Popen([PGVOLLEY, "run", "-d", self.server.dsn, "-q", "-c", "2",
                                "-T", "6", "--metrics-listen", f"127.0.0.1:{mport}",
                                "--metrics-linger", "3", "-f", "json", q],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: run.poll() is None and (run.kill(), run.wait()))
        # while the run goes on: Prometheus has the target up and a growing counter
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and run.poll() is None:
            time.sleep(1)
            try:
                res = query(api, 'pgvolley_executions_total{query="lookup.sql",status="ok"}')
            except OSError:
                continue  # Prometheus still starting
            if res:
                seen.append(float(res[0]["value"][1]))
        self.assertGreaterEqual(len([v for v in seen if v > 0]), 2, seen)
        self.assertGreater(seen[-1], seen[0], "the scraped counter grows during the run")
        out, err = run.communicate(timeout=60)
        self.assertEqual(run.returncode, 0, err)
        rep = json.loads(out)
        # the last scrape (during the linger) holds the final count; over a
        # range, as the series goes stale once pgvolley has exited
        final = query(api, 'max_over_time(pgvolley_executions_total'
                           '{query="lookup.sql",status="ok"}[5m])')
        self.assertEqual(float(final[0]["value"][1]), rep["queries"][0]["succeeded"])
        up = query(api, 'max_over_time(up{job="pgvolley"}[5m])')
        self.assertEqual(float(up[0]["value"][1]), 1)
        p95 = query(api, 'histogram_quantile(0.95, sum by (le) (max_over_time('
                         'pgvolley_query_duration_seconds_bucket{query="lookup.sql"}[5m])))')
        v = float(p95[0]["value"][1])
        self.assertGreater(v, 0.002)  # pg_sleep(0.002)
        self.assertLess(v, 1.0)


if __name__ == "__main__":
    unittest.main()
