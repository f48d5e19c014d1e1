"""make profile: where a point lookup's client cost goes, pgvolley beside pgbench.

Run by bench/profile.sh under `pgvolley ephemeral` (PGHOST etc. set). Both
clients run the same primary-key lookup on pgbench's table at -c 10 -j 2
with the prepared protocol, and for each this prints, per query:

  - user-space instructions (valgrind --tool=callgrind): the difference
    between a run of 2N and one of N queries, divided by N, so start-up,
    connecting and the final report cancel out; and the functions that cost
    most in the 2N run (self cost, per query);
  - system calls (strace -f -c) in the 2N run, per query, by call;
  - CPU time (user, system), voluntary and involuntary context switches,
    from wait4, in a run of PROFILE_DURATION seconds (default 5) without
    any tracer.

Instruction counts are repeatable whatever else the machine does; the timed
run is not. It asserts nothing.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

PGVOLLEY = sys.argv[1]
N = int(os.environ.get("PROFILE_QUERIES", "20000"))
DURATION = float(os.environ.get("PROFILE_DURATION", "5"))
CLIENTS, THREADS, SETS = 10, 2, 100


def tool(name):
    for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        p = os.path.join("/usr/lib/postgresql", d, "bin", name)
        if os.access(p, os.X_OK):
            return p
    p = shutil.which(name)
    if not p:
        sys.exit(f"profile: {name} not found (Debian package postgresql)")
    return p


def pgvolley_cmd(workload, n=None, duration=None):
    cmd = [PGVOLLEY, "run", "-q", "-f", "json", "-c", str(CLIENTS), "-j", str(THREADS)]
    cmd += ["-T", f"{duration:g}"] if duration else ["--exec-count", str(n // SETS)]
    return cmd + [workload]


def pgbench_cmd(pgbench, n=None, duration=None):
    cmd = [pgbench, "-n", "-S", "-M", "prepared", "-c", str(CLIENTS), "-j", str(THREADS)]
    return cmd + (["-T", str(int(duration))] if duration else ["-t", str(n // CLIENTS)])


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"profile: {' '.join(cmd)} exited with {p.returncode}:\n{p.stderr[-2000:]}")
    return p.stdout + p.stderr


def callgrind(cmd, out):
    run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd)
    text = run(["callgrind_annotate", out])
    total = int(re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M)
                .group(1).replace(",", ""))
    top = []
    for m in re.finditer(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", text, re.M):
        if "PROGRAM TOTALS" in m.group(2):
            continue
        fn = m.group(2)
        # "file:function [object]" -> "function (object)"
        obj = re.search(r"\[(.*)\]$", fn)
        name = fn.split(" [")[0].rsplit(":", 1)[-1]
        top.append((int(m.group(1).replace(",", "")), name,
                    os.path.basename(obj.group(1)) if obj else ""))
        if len(top) == 12:
            break
    return total, top


def strace(cmd, out):
    run(["strace", "-f", "-c", "-o", out] + cmd)
    calls = {}
    with open(out) as f:
        for line in f:
            m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
            if m and m.group(3) != "total":
                calls[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
    return calls


def timed(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, st, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(st) != 0:
        sys.exit(f"profile: {' '.join(cmd)} failed:\n{out[-2000:]}")
    return out, ru


def main():
    for t in ("valgrind", "callgrind_annotate", "strace"):
        if not shutil.which(t):
            sys.exit(f"profile: {t} not found (Debian packages valgrind and strace; "
                     "scripts/deps.sh installs them)")
    pgbench = tool("pgbench")
    tmp = tempfile.mkdtemp(prefix="pgvolley-profile-")
    run([pgbench, "-i", "-q", "-s", "1"])
    rng = random.Random(42)
    workload = os.path.join(tmp, "select_only.sql")
    with open(workload, "w") as f:
        f.write("-- PARAMETERS: " + json.dumps([[rng.randint(1, 100000)]
                                                for _ in range(SETS)]) + "\n")
        f.write("SELECT abalance FROM pgbench_accounts WHERE aid = %s;\n")

    clients = [("pgvolley", lambda n=None, d=None: pgvolley_cmd(workload, n, d)),
               ("pgbench", lambda n=None, d=None: pgbench_cmd(pgbench, n, d))]
    res = {}
    for name, cmd in clients:
        print(f"profile: {name} under callgrind ({N} and {2 * N} queries)...", file=sys.stderr)
        one, _ = callgrind(cmd(N), os.path.join(tmp, f"{name}.1.cg"))
        two, top = callgrind(cmd(2 * N), os.path.join(tmp, f"{name}.2.cg"))
        print(f"profile: {name} under strace...", file=sys.stderr)
        sc = strace(cmd(2 * N), os.path.join(tmp, f"{name}.strace"))
        print(f"profile: {name} for {DURATION:g} s...", file=sys.stderr)
        out, ru = timed(cmd(d=DURATION))
        if name == "pgvolley":
            rep = json.loads(out[:out.rindex("}") + 1])
            done = rep["summary"]["executions"]
        else:
            done = int(re.search(r"processed: (\d+)", out).group(1))
        res[name] = dict(ir=(two - one) / N, top=top, total2=two, sc=sc, done=done, ru=ru)

    print()
    print(f"Point lookup, -c {CLIENTS} -j {THREADS}, prepared protocol; per query.")
    print()
    print("| measure | pgvolley | pgbench | ratio |")
    print("| --- | ---: | ---: | ---: |")

    def row(label, a, b, fmt="{:.2f}"):
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")

    a, b = res["pgvolley"], res["pgbench"]
    row(f"user-space instructions (callgrind, {2 * N} minus {N} queries)", a["ir"], b["ir"],
        "{:.0f}")
    for call in sorted(set(a["sc"]) | set(b["sc"]),
                       key=lambda c: -(a["sc"].get(c, (0, 0))[0] + b["sc"].get(c, (0, 0))[0])):
        ca, cb = a["sc"].get(call, (0, 0)), b["sc"].get(call, (0, 0))
        if (ca[0] + cb[0]) / (2 * N) < 0.01:
            continue
        row(f"{call} calls (strace, {2 * N} queries)", ca[0] / (2 * N), cb[0] / (2 * N), "{:.3f}")
    for key, label in (("ru_utime", "user CPU, us"), ("ru_stime", "system CPU, us")):
        row(f"{label} ({DURATION:g} s run)", getattr(a["ru"], key) / a["done"] * 1e6,
            getattr(b["ru"], key) / b["done"] * 1e6)
    row(f"voluntary context switches ({DURATION:g} s run)", a["ru"].ru_nvcsw / a["done"],
        b["ru"].ru_nvcsw / b["done"], "{:.3f}")
    row(f"involuntary context switches ({DURATION:g} s run)", a["ru"].ru_nivcsw / a["done"],
        b["ru"].ru_nivcsw / b["done"], "{:.3f}")
    print(f"| queries in the {DURATION:g} s run | {a['done']} | {b['done']} | "
          f"{a['done'] / b['done']:.2f} |")
    for name in ("pgvolley", "pgbench"):
        r = res[name]
        print()
        print(f"{name}: top functions by self cost in the {2 * N}-query run "
              f"(instructions per query; start-up included)")
        for ir, fn, obj in r["top"]:
            print(f"  {ir / (2 * N):8.1f}  {fn}  ({obj})")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
