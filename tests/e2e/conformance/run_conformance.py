#!/usr/bin/env python3
"""The official MCP conformance suite against `pgvolley mcp --http`.

Installs @modelcontextprotocol/conformance 0.1.16, its 0.2.0-alpha.12 (as
the alias conformance-next: the first with 2026-07-28 scenarios) and
Node.js 22 (the npm package `node`), all pinned in package-lock.json, into
this directory's node_modules when they are missing, and runs the suite's
CLI with that node binary: the system's node (v20 on the CI image) is never
used, as the suite needs 22. Starts one server (no database is needed: the
scenarios list the tools and call none that queries) and runs each scenario
of each suite against it.

A scenario passes when it reports no failed check other than the ones
listed in NOT_APPLICABLE, each with its reason (checks that need the
suite's own diagnostic tools, or prompts and resources, which a read-only
database server does not offer). A listed check that starts passing fails
the test too, so that the list stays true. Python stdlib only.

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
CLI_NEXT = os.path.join(HERE, "node_modules", "conformance-next", "dist", "index.js")

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
# 0.2.0-alpha.12: the 2026-07-28 scenarios, and the older ones again.
SCENARIOS_NEXT = [
    "server-stateless",
    "http-header-validation",
    "caching",
    "server-session-lifecycle",
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
    "server-sse-polling",
]
SUITES = [("0.1.16", CLI, SCENARIOS), ("0.2.0-alpha.12", CLI_NEXT, SCENARIOS_NEXT)]

# Checks that fail because they do not apply to this server, with why.
NOT_APPLICABLE = {
    ("server-stateless", "sep-2575-server-rejects-undeclared-capability"):
        "needs the suite's diagnostic tool test_missing_capability; no tool of ours needs a "
        "client capability",
    ("server-stateless", "sep-2575-missing-capability-http-400"):
        "needs the suite's diagnostic tool test_missing_capability",
    ("server-stateless", "sep-2575-http-server-no-independent-requests-on-stream"):
        "needs the suite's diagnostic tool test_streaming_elicitation; we never elicit",
    ("server-stateless", "sep-2575-server-no-log-without-loglevel"):
        "needs the suite's diagnostic tool test_logging_tool; we send no log notifications",
    ("caching", "sep-2549-prompts-list-caching-hints"):
        "we offer no prompts (prompts/list is an unknown method, as the capabilities say)",
    ("caching", "sep-2549-resources-list-caching-hints"):
        "we offer no resources (resources/list is an unknown method, as the capabilities say)",
    ("caching", "sep-2549-resources-templates-list-caching-hints"):
        "we offer no resources (resources/templates/list is an unknown method)",
}

# Checks that must succeed (not only not fail: the suite reports a missing
# optional feature as WARNING or INFO), so that resumability stays tested.
REQUIRED = {
    "server-sse-polling": ["server-sse-priming-event", "server-sse-retry-field",
                           "server-sse-disconnect-resume"],
    "server-sse-multiple-streams": ["server-accepts-multiple-post-streams",
                                    "server-sse-streams-functional"],
}

RESULT_RE = re.compile(r"Passed: (\d+)/(\d+), (\d+) failed")
CHECK_RE = re.compile(r"\[([\w./-]+)\s*\]\s+(SUCCESS|FAILURE|WARNING|INFO)")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def ensure_suite():
    """npm ci under a lock: both builds of `make check` may get here at once."""
    with open(os.path.join(tempfile.gettempdir(), "pgvolley-conformance-npm.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.access(NODE, os.X_OK) and os.path.isfile(CLI) and os.path.isfile(CLI_NEXT):
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
    # PGVOLLEY_MCP_TEST_RECONNECTION: the suite's diagnostic tool
    # test_reconnection, which server-sse-polling calls (hidden, tests only).
    p = subprocess.Popen([PGVOLLEY, "mcp", "--datasets", ini, "--http", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         env=dict(os.environ, PGVOLLEY_MCP_TEST_RECONNECTION="1"))
    line = p.stderr.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", line)
    if not m:
        p.kill()
        raise SystemExit(f"run_conformance: the server did not start: {line!r}")
    return p, f"http://127.0.0.1:{m.group(1)}/mcp"


def run_scenario(suite, cli, url, name, out):
    r = subprocess.run([NODE, cli, "server", "--url", url, "--scenario", name, "-o", out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180,
                       env=dict(os.environ, NO_COLOR="1", FORCE_COLOR="0"))
    text = ANSI_RE.sub("", r.stdout)
    m = RESULT_RE.search(text)
    status = {}
    for check, st in CHECK_RE.findall(text):
        # A check reported more than once: FAILURE beats WARNING beats INFO beats SUCCESS.
        rank = {"SUCCESS": 0, "INFO": 1, "WARNING": 2, "FAILURE": 3}
        if rank[st] >= rank.get(status.get(check), -1):
            status[check] = st
    failed = {c for c, st in status.items() if st == "FAILURE"}
    expected = {c for (sc, c) in NOT_APPLICABLE if sc == name}
    unexpected = failed - expected
    stale = {c for c in expected if status.get(c) == "SUCCESS"}
    missing = {c for c in REQUIRED.get(name, []) if status.get(c) != "SUCCESS"}
    passed = m is not None and not unexpected and not stale and not missing
    summary = m.group(0) if m else f"no result (exit {r.returncode})"
    note = f"; not applicable: {', '.join(sorted(failed & expected))}" if failed & expected else ""
    print(f"conformance {suite} {name}: {'ok' if passed else 'FAILED'} ({summary}{note})")
    if not passed:
        if unexpected:
            print(f"  unexpected failures: {', '.join(sorted(unexpected))}")
        if missing:
            print(f"  required checks that did not succeed: {', '.join(sorted(missing))}")
        if stale:
            print(f"  passing now, remove from NOT_APPLICABLE: {', '.join(sorted(stale))}")
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
    only = os.environ.get("PV_CONFORMANCE_SCENARIOS")
    runs = [(suite, cli, n) for suite, cli, names in SUITES for n in names
            if not only or n in only.split(",")]
    with tempfile.TemporaryDirectory(prefix="pv-conformance-") as tmp:
        server, url = start_server(tmp)
        try:
            failed = [(s, n) for s, cli, n in runs
                      if not run_scenario(s, cli, url, n, os.path.join(tmp, s, n))]
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"conformance: {len(runs) - len(failed)}/{len(runs)} scenario runs passed under "
          f"Node.js {version}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
