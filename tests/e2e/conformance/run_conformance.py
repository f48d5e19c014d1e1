#!/usr/bin/env python3
"""The official MCP conformance suite against `pgvolley mcp --http`.

Installs @modelcontextprotocol/conformance and Node.js 22 (the npm package
`node`, both pinned in package-lock.json) into this directory's
node_modules when they are missing, and runs the suite's CLI with that
node binary: the system's node (v20 on the CI image) is never used, as the
suite needs 22. Starts one server (no database is needed: the scenarios
run list the tools and never query) and runs each scenario of SCENARIOS
against it; every one must report no failure. Python stdlib only.

Environment: PGVOLLEY (default build/pgvolley); PV_CONFORMANCE_SCENARIOS
(comma-separated) to run only some. Exit code 0 when every scenario passed."""
import fcntl
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
PGVOLLEY = os.path.abspath(os.environ.get("PGVOLLEY") or os.path.join(ROOT, "build", "pgvolley"))
NODE = os.path.join(HERE, "node_modules", "node", "bin", "node")
CLI = os.path.join(HERE, "node_modules", "@modelcontextprotocol", "conformance", "dist",
                   "index.js")

# The server scenarios that apply to a read-only database server (the
# others need test-only tools, prompts, resources, sampling or elicitation).
SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
    "server-sse-polling",
]

RESULT_RE = re.compile(r"Passed: (\d+)/(\d+), (\d+) failed")


def ensure_suite():
    """npm ci under a lock: both builds of `make check` may get here at once."""
    with open(os.path.join(tempfile.gettempdir(), "pgvolley-conformance-npm.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.access(NODE, os.X_OK) and os.path.isfile(CLI):
            return
        print("run_conformance: installing the suite and Node.js 22 (npm ci)", file=sys.stderr)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       timeout=600)
        if not os.access(NODE, os.X_OK):
            raise SystemExit("run_conformance: npm ci did not install node_modules/node")


def start_server(tmp):
    ini = os.path.join(tmp, "datasets.ini")
    with open(ini, "w") as f:
        # Never connected to: the scenarios list tools and never query.
        f.write("[shop]\ndsn = host=/nonexistent dbname=shop\n"
                "description = A dataset the conformance scenarios never query\n")
    p = subprocess.Popen([PGVOLLEY, "mcp", "--datasets", ini, "--http", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = p.stderr.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
    if not m:
        p.kill()
        raise SystemExit(f"run_conformance: the server did not start: {line!r}")
    return p, f"http://127.0.0.1:{m.group(1)}/mcp"


def run_scenario(url, name, out):
    r = subprocess.run([NODE, CLI, "server", "--url", url, "--scenario", name, "-o", out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180,
                       env=dict(os.environ, NO_COLOR="1", FORCE_COLOR="0"))
    text = r.stdout
    m = RESULT_RE.search(text)
    passed = m is not None and int(m.group(3)) == 0 and r.returncode == 0
    status = "ok" if passed else "FAILED"
    summary = m.group(0) if m else f"no result (exit {r.returncode})"
    print(f"conformance {name}: {status} ({summary})")
    if not passed:
        print(text)
    return passed


def main():
    if not os.access(PGVOLLEY, os.X_OK):
        print(f"run_conformance: {PGVOLLEY} is not built", file=sys.stderr)
        return 2
    ensure_suite()
    version = subprocess.run([NODE, "--version"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.strip()
    if not version.startswith("v22."):
        print(f"run_conformance: expected Node.js 22, got {version}", file=sys.stderr)
        return 2
    names = SCENARIOS
    if os.environ.get("PV_CONFORMANCE_SCENARIOS"):
        names = os.environ["PV_CONFORMANCE_SCENARIOS"].split(",")
    with tempfile.TemporaryDirectory(prefix="pv-conformance-") as tmp:
        server, url = start_server(tmp)
        try:
            failed = [n for n in names if not run_scenario(url, n, os.path.join(tmp, n))]
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"conformance: {len(names) - len(failed)}/{len(names)} scenarios passed under "
          f"Node.js {version}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
