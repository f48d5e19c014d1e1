#!/usr/bin/env python3
"""The cost of the live view of `pgvolley serve` (issue 13, item 5): the
same run through the API with no client on its event stream and with
WATCHERS clients reading it, in pairs whose order alternates; reports each
pair's throughput ratio (watched / unwatched), the serve process's CPU per
query, and the CPU time of serve's HTTP threads (the API and the event
streams: what the live view costs). Not a test: it asserts nothing. `make
bench` imports measure() for its row 9; alone:

    build/pgvolley ephemeral -- python3 bench/serve_overhead.py build/pgvolley [workload.sql]

Without a workload file the run is SELECT 1. Environment: BENCH_DURATION
(s per run, default 5), BENCH_ROUNDS (pairs, default 3), BENCH_WATCHERS
(default 4), BENCH_CONCURRENCY (default 10)."""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def _request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"serve_overhead: {method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def _watch(port, run_id, counts, i):
    """Reads the run's event stream to its end, as the dashboard's live view
    does; counts its events."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
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


def _cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _ThreadCpu:
    """Samples, every 20 ms, the CPU time (schedstat, ns) of serve's
    libmicrohttpd connection threads (named MHD-connection): the threads
    that answer the API and feed the event streams. Keeps each thread's
    last figure, so threads that end are counted up to their last sample."""

    def __init__(self, pid):
        self.pid, self.seen, self.stop = pid, {}, threading.Event()
        self.t = threading.Thread(target=self._loop)
        self.t.start()

    def _loop(self):
        while not self.stop.wait(0.02):
            try:
                tids = os.listdir(f"/proc/{self.pid}/task")
            except OSError:
                return
            for tid in tids:
                try:
                    with open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                        if f.read().strip() != "MHD-connection":
                            continue
                    with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                        self.seen[tid] = int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    pass  # the thread ended meanwhile

    def total_s(self):
        self.stop.set()
        self.t.join()
        return sum(self.seen.values()) / 1e9


def _poll(port, run_id):
    """Waits for the end of the run without watching it: GET the run object
    every half second, as a script would."""
    while True:
        run = _request(port, "GET", f"/api/runs/{run_id}?view=run")
        if run["state"] not in ("queued", "running"):
            return
        time.sleep(0.5)


def _one(port, pid, body, watchers):
    """One run; watchers > 0: that many clients read its event stream to
    the end; 0: nothing watches it (the run's end is polled)."""
    run = _request(port, "POST", "/api/runs", body)
    counts = [0] * watchers
    threads = [threading.Thread(target=_watch, args=(port, run["id"], counts, i))
               for i in range(watchers)]
    if not watchers:
        threads = [threading.Thread(target=_poll, args=(port, run["id"]))]
    mhd = _ThreadCpu(pid)
    cpu0 = _cpu_s(pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu1 = _cpu_s(pid)
    http_s = mhd.total_s()
    rep = _request(port, "GET", f"/api/runs/{run['id']}")
    s = rep["summary"]
    return {"qps": s["qps"], "events": sum(counts), "wall_s": s["wall_s"],
            "cpu_us": 1e6 * (cpu1 - cpu0) / max(1, s["executions"]),
            # the HTTP threads' CPU, as a share of all the machine's CPUs over the run
            "http_cpu_s": http_s, "http_share": http_s / (os.cpu_count() * s["wall_s"])}


def measure(pgvolley, dsn, sql, rounds=3, duration=5.0, watchers=4, concurrency=10):
    """Runs `rounds` pairs (unwatched, watched), the order alternating, of
    `duration`-second runs of `sql` at `concurrency` through `pgvolley serve`
    on dsn, after one uncounted warm-up run. Returns {"base": [...],
    "watched": [...]} of {qps, events, wall_s, cpu_us (serve's CPU per
    query, engine included), http_cpu_s (its HTTP threads' CPU: the API and
    the event streams), http_share (that over all CPUs x wall_s)} per
    round."""
    d = tempfile.mkdtemp(prefix="pv-serve-bench-")
    targets = os.path.join(d, "targets.ini")
    with open(targets, "w") as f:
        f.write(f"[db]\ndsn = {dsn}\nmax_concurrency = 100\n")
    p = subprocess.Popen([pgvolley, "serve", "--targets", targets, "--state-dir", d,
                          "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    body = {"target": "db", "files": [{"name": "workload.sql", "content": sql}],
            "concurrency": concurrency, "duration": duration}
    out = {"base": [], "watched": []}
    try:
        port = int(re.search(r":(\d+)/", p.stdout.readline()).group(1))
        _one(port, p.pid, dict(body, duration=min(duration, 2.0)), 0)  # warm-up, not counted
        for i in range(rounds):
            order = (0, watchers) if i % 2 == 0 else (watchers, 0)
            for w in order:
                out["watched" if w else "base"].append(_one(port, p.pid, body, w))
    finally:
        p.terminate()
        p.wait()
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    return out


def main():
    pgvolley = os.path.realpath(sys.argv[1])
    sql = "SELECT 1;\n"
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            sql = f.read()
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    duration = float(os.environ.get("BENCH_DURATION", "5"))
    watchers = int(os.environ.get("BENCH_WATCHERS", "4"))
    conc = int(os.environ.get("BENCH_CONCURRENCY", "10"))
    r = measure(pgvolley, os.environ["PGVOLLEY_DSN"], sql, rounds, duration, watchers, conc)
    ratios = [w["qps"] / b["qps"] for b, w in zip(r["base"], r["watched"])]
    print(f"serve live view: c={conc}, {duration:g} s runs, {rounds} pairs, {watchers} watchers")
    for b, w, x in zip(r["base"], r["watched"], ratios):
        print(f"  {b['qps']:9.0f} q/s unwatched, {w['qps']:9.0f} watched ({w['events']} events):"
              f" ratio {x:.3f}; serve CPU {b['cpu_us']:.2f} / {w['cpu_us']:.2f} us/query; HTTP"
              f" threads {1e3 * b['http_cpu_s']:.1f} / {1e3 * w['http_cpu_s']:.1f} ms CPU"
              f" ({100 * w['http_share']:.3f}% of the machine while watched)")
    print(f"  median ratio {statistics.median(ratios):.3f} (spread {min(ratios):.3f}-"
          f"{max(ratios):.3f})")


if __name__ == "__main__":
    main()
