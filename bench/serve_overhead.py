#!/usr/bin/env python3
"""The cost of the live view of `pgvolley serve` (issue 13, item 5): the
same run (SELECT 1, closed model) with no client on its event stream and
with WATCHERS clients, interleaved ROUNDS times; prints the median
throughput of each and the difference. Not a test: it asserts nothing.

    build/pgvolley ephemeral -- python3 bench/serve_overhead.py build/pgvolley
"""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading

PGVOLLEY = os.path.realpath(sys.argv[1])
DURATION = float(os.environ.get("BENCH_DURATION", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WATCHERS = int(os.environ.get("BENCH_WATCHERS", "4"))
CONC = int(os.environ.get("BENCH_CONCURRENCY", "4"))


def request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return json.loads(data)


def watch(port, run_id, counts, i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", f"/api/runs/{run_id}/events")
    r = c.getresponse()
    n = 0
    while True:
        line = r.fp.readline()
        if not line or line.startswith(b"event: end"):
            break
        n += line.startswith(b"event: ")
    counts[i] = n
    c.close()


def one(port, watchers):
    run = request(port, "POST", "/api/runs", {
        "target": "db", "files": [{"name": "one.sql", "content": "SELECT 1;\n"}],
        "concurrency": CONC, "duration": DURATION})
    counts = [0] * (watchers + 1)
    threads = [threading.Thread(target=watch, args=(port, run["id"], counts, i))
               for i in range(watchers + 1)]  # the last one only waits for the end
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = request(port, "GET", f"/api/runs/{run['id']}")
    return rep["summary"]["qps"], sum(counts[:-1])


def main():
    d = tempfile.mkdtemp(prefix="pv-serve-bench-")
    targets = os.path.join(d, "targets.ini")
    with open(targets, "w") as f:
        f.write(f"[db]\ndsn = {os.environ['PGVOLLEY_DSN']}\nmax_concurrency = 100\n")
    p = subprocess.Popen([PGVOLLEY, "serve", "--targets", targets, "--state-dir", d,
                          "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)/", p.stdout.readline()).group(1))
    try:
        base, watched, events = [], [], 0
        for _ in range(ROUNDS):
            base.append(one(port, 0)[0])
            q, n = one(port, WATCHERS)
            watched.append(q)
            events += n
        b, w = statistics.median(base), statistics.median(watched)
        print(f"serve live view: c={CONC}, {DURATION:g} s runs, {ROUNDS} rounds each")
        print(f"  no watcher:        {b:10.0f} q/s (median of {[round(x) for x in base]})")
        print(f"  {WATCHERS} watchers:        {w:10.0f} q/s (median of {[round(x) for x in watched]},"
              f" {events} events read)")
        print(f"  difference:        {100 * (w - b) / b:+.1f} %")
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
