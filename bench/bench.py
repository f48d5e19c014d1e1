#!/usr/bin/env python3
"""Side-by-side benchmark: pgbench's select-only workload against pgvolley's
equivalent point lookup, same server, same client settings (-c 10 -j 2),
alternating rounds. Run through `make bench` (bench/run.sh), which starts a
throwaway server and sets PGHOST/PGPORT/PGUSER/PGDATABASE.

Client CPU time per query is measured with getrusage(RUSAGE_CHILDREN) around
each client process (user + system time of the client only; the server is
not a child of this script)."""
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PGVOLLEY = sys.argv[1]
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CLIENTS = 10
THREADS = 2
SCALE = 1


def bindir_tool(name):
    """pgbench from the server's bindir (Debian: /usr/lib/postgresql/N/bin)."""
    p = shutil.which(name)
    if p:
        return p
    for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        c = f"/usr/lib/postgresql/{d}/bin/{name}"
        if os.path.exists(c):
            return c
    sys.exit(f"bench: {name} not found")


def timed(cmd):
    """Runs cmd; returns (stdout, client cpu seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.stdout + out.stderr, cpu


def run_pgbench(pgbench):
    out, cpu = timed([pgbench, "-n", "-S", "-M", "prepared", "-c", str(CLIENTS),
                      "-j", str(THREADS), "-T", str(int(DURATION))])
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    n = int(m.group(1))
    return float(tps.group(1)), n, cpu


def run_pgvolley(workload):
    out, cpu = timed([PGVOLLEY, "run", "-q", "-f", "json", "-c", str(CLIENTS), "-j",
                      str(THREADS), "-T", str(DURATION), workload])
    rep = json.loads(out[:out.rindex("}") + 1])
    s = rep["summary"]
    return s["qps"], s["executions"], cpu


def main():
    pgbench = bindir_tool("pgbench")
    subprocess.run([pgbench, "-i", "-q", "-s", str(SCALE)], check=True, capture_output=True)
    rng = random.Random(42)
    aids = [[rng.randint(1, 100000 * SCALE)] for _ in range(100)]
    tmp = tempfile.mkdtemp(prefix="pgvolley-bench-")
    workload = os.path.join(tmp, "select_only.sql")
    with open(workload, "w") as f:
        f.write("-- pgbench -S equivalent: a primary-key point lookup.\n")
        f.write("-- PARAMETERS: " + json.dumps(aids) + "\n")
        f.write("SELECT abalance FROM pgbench_accounts WHERE aid = %s;\n")

    pb, pv = [], []
    for r in range(ROUNDS):
        pb.append(run_pgbench(pgbench))
        pv.append(run_pgvolley(workload))
        print(f"round {r + 1}: pgbench {pb[-1][0]:.0f} q/s, pgvolley {pv[-1][0]:.0f} q/s",
              file=sys.stderr)
    shutil.rmtree(tmp)

    def summary(rows):
        qps = statistics.median(r[0] for r in rows)
        cpu_us = statistics.median(r[2] / r[1] * 1e6 for r in rows)
        return qps, cpu_us

    multi_rows = bench_multi()

    pb_qps, pb_cpu = summary(pb)
    pv_qps, pv_cpu = summary(pv)
    print()
    print(f"Select-only point lookup, -c {CLIENTS} -j {THREADS}, {DURATION:g} s x {ROUNDS} "
          f"rounds (median), scale {SCALE}")
    print(f"{'client':<28}{'queries/s':>12}{'client CPU us/query':>22}")
    print(f"{'pgbench -S -M prepared':<28}{pb_qps:>12.0f}{pb_cpu:>22.2f}")
    print(f"{'pgvolley run (prepared)':<28}{pv_qps:>12.0f}{pv_cpu:>22.2f}")
    print(f"{'ratio pgvolley/pgbench':<28}{pv_qps / pb_qps:>12.2f}{pv_cpu / pb_cpu:>22.2f}")
    walls, seqs = multi_rows
    print()
    print("pgvolley multi: 30 x SELECT pg_sleep(0.1) at concurrency 10 (ideal: 3 rounds = 300 ms),"
          " 5 calls")
    print(f"  wall ms: median {statistics.median(walls):.1f}, max {max(walls):.1f}; "
          f"over ideal: median {statistics.median(walls) - 300:.1f} ms, "
          f"max {max(walls) - 300:.1f} ms (target <= 20)")
    print(f"  sequential (sum of query times): median {statistics.median(seqs):.0f} ms")


def bench_multi():
    """30 queries of ~100 ms at concurrency 10 through `pgvolley multi`: the
    ideal schedule is 3 rounds = 300 ms; report how far above it we land."""
    q = {"queries": [{"query": "SELECT pg_sleep(0.1)", "label": f"q{i}"} for i in range(30)]}
    walls, seqs = [], []
    for _ in range(5):
        out = subprocess.run([PGVOLLEY, "multi", "--allow-superuser", "-d",
                              os.environ["PGVOLLEY_DSN"], "-f", "json", "-"],
                             input=json.dumps(q), check=True, capture_output=True, text=True)
        rep = json.loads(out.stdout)
        assert rep["succeeded"] == 30, rep
        walls.append(rep["wall_ms"])
        seqs.append(sum(r["ms"] for r in rep["results"]))
    return walls, seqs


if __name__ == "__main__":
    main()
