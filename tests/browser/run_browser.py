#!/usr/bin/env python3
"""Browser test of `--html`: real reports opened in headless Chromium.

Installs playwright-core (npm ci, from package-lock.json) when node_modules
is missing, starts a throwaway PostgreSQL (tests/integration/pvtest.py),
writes with the real binary: a single run (a hostile SQL text, a division by
zero, a passed and a failed target, a timeline), a sweep (-c 1,3), a compare
page of two runs, an interrupted run, a real `pgvolley suite --html` after
`pgvolley init` (two categories, its slow test diagnosed); and, rendered by
the unit test binary's --render mode, a suite report made by hand from the
sweep (a suite and its diagnosis as contracts
1 and 3 of issue 12 describe them) and an older report (the single run
without timeline, histograms and thresholds); then html_report.mjs opens each page from its file:// URL with
every other request blocked and checks it (no console or page error, the
charts drawn, the headings and rows there) and saves screenshots.

Environment: PGVOLLEY (default build/pgvolley), PV_HTML_TOOL (the
test_report_html binary; without it the hand-made pages are skipped),
PV_BROWSER_OUT (where the pages and screenshots go; default build/browser),
CHROMIUM (default /usr/bin/chromium). Exit code: 0 when every page passes."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pvtest  # noqa: E402

PGVOLLEY = os.path.abspath(pvtest.PGVOLLEY)
HTML_TOOL = os.environ.get("PV_HTML_TOOL")
OUT = os.path.abspath(os.environ.get("PV_BROWSER_OUT") or os.path.join(ROOT, "build", "browser"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HOSTILE = "</script><script>alert(1)</script><!--"

FILES = {
    "lookup.sql": "-- PARAMETERS: [[100], [2000]]\n"
                  "-- TARGET: p95 < 500ms\n"
                  "SELECT count(*) FROM generate_series(1, %s);\n",
    "hostile.sql": "-- TARGET: p99 < 0.0001ms\n"
                   f"SELECT '{HOSTILE}' AS x;\n",
    "divide.sql": "-- PARAMETERS: [[1], [0]]\nSELECT 10 / %s::int;\n",
}


def ensure_playwright():
    if os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return
    print("run_browser: installing playwright-core (npm ci)", file=sys.stderr)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)


def pgvolley(*args, expect=(0, 1)):
    cp = subprocess.run([PGVOLLEY, *args], capture_output=True, text=True, timeout=120)
    if cp.returncode not in expect:
        raise RuntimeError(f"pgvolley {' '.join(args)}: exit {cp.returncode}\n{cp.stderr}")
    return cp


def strip(v, keys):
    """v without the members named keys, at any depth."""
    if isinstance(v, dict):
        return {k: strip(x, keys) for k, x in v.items() if k not in keys}
    if isinstance(v, list):
        return [strip(x, keys) for x in v]
    return v


def suite_from_sweep(sweep):
    """A suite report (contract 1) of the sweep's levels, with a diagnosis
    (contract 3) on the failed one, some keys left out on purpose."""
    doc = dict(sweep)
    doc.pop("sweep", None)
    names = [("simple", "health_check", True), ("concurrent", "load_3", False)]
    for run, (cat, name, ok) in zip(doc["runs"], names):
        run["test"] = {"name": name, "category": cat, "file": f"{cat}/{name}.sql", "pass": ok}
    doc["runs"][-1]["diagnosis"] = {
        "findings": [{"kind": "seq_scan", "table": "pgvolley_agents",
                      "text": "sequential scan on pgvolley_agents (2,000 rows, 1,999 removed by "
                              "the filter) filtered by name: no index leads with name; "
                              "CREATE INDEX ON pgvolley_agents (name) would serve it"},
                     {"kind": "setting", "text": f"a finding quoting {HOSTILE}"}],
        "plans": [{"sql": f"SELECT '{HOSTILE}'", "analyze": True, "format": "json",
                   "plan": [{"Plan": {"Node Type": "Result"}}],
                   "text": "Seq Scan on pgvolley_agents  (cost=0.00..41.00 rows=1 width=64)",
                   "error": None}],
        "statements": None,
        "waits": [{"wait_event_type": "Lock", "wait_event": "transactionid", "samples": 12,
                   "share_pct": 40.0}],
        "lock_waits": 3,
        "indexes": [{"table": "pgvolley_agents", "index": "pgvolley_agents_pkey",
                     "idx_scan": 0, "size_bytes": 65536}],
        "settings": {"shared_buffers": "128MB", "work_mem": "4MB"},
        "notes": ["pg_stat_statements is not installed: CREATE EXTENSION pg_stat_statements"],
    }
    doc["suite"] = {"name": "default", "source": "built-in", "tests": 2, "passed": 1,
                    "failed": 1,
                    "categories": [{"name": "simple", "tests": 1, "passed": 1, "failed": 0,
                                    "avg_ms": 0.4, "p95_ms": 0.9, "qps": 900.0},
                                   {"name": "concurrent", "tests": 1, "passed": 0,
                                    "failed": 1}],
                    "overall": {"avg_ms": 0.5, "p95_ms": 1.0, "qps": 1000.0,
                                "executions": 10, "failed": 0}}
    return doc


def main():
    if not os.access(PGVOLLEY, os.X_OK):
        print(f"run_browser: {PGVOLLEY} is not built", file=sys.stderr)
        return 2
    if not os.access(CHROMIUM, os.X_OK) or not shutil.which("node"):
        print(f"run_browser: {CHROMIUM} or node is missing (scripts/deps.sh installs them)",
              file=sys.stderr)
        return 2
    ensure_playwright()
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pv-browser-")
    server = pvtest.Server()
    try:
        for name, text in FILES.items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        files = [os.path.join(work, n) for n in FILES]
        out = lambda n: os.path.join(OUT, n)  # noqa: E731
        common = ["-d", server.dsn, "-q", "--interval", "0.2", "-c", "3"]
        pgvolley("run", *common, "-T", "1.5", "-o", out("single.json"), "--html",
                  out("single.html"), *files, expect=(1,))
        pgvolley("run", *common, "-T", "1.5", "-o", out("new.json"), *files, expect=(1,))
        pgvolley("run", *common[:-2], "-c", "1,3", "-T", "0.6", "-o", out("sweep.json"),
                 "--html", out("sweep.html"), *files[:1])
        pgvolley("compare", out("single.json"), out("new.json"), "--html", out("compare.html"))
        # an interrupted run writes its page too, marked partial
        proc = subprocess.Popen([PGVOLLEY, "run", *common, "-T", "60", "--html",
                                 out("interrupted.html"), files[0]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # interrupted once its 3 connections have run the query (a loaded
        # machine can take seconds to open them; a run interrupted before
        # any execution has no charts to draw), a second more: five
        # intervals of 0.2 s
        server.backends("SELECT count(*) FROM generate_series(1, %", 3, timeout=30)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if not os.path.exists(out("interrupted.html")):
            raise RuntimeError(f"an interrupted run wrote no page (exit {proc.returncode}): {err}")
        # the JSON and the page of one run are written together, from one text
        with open(out("single.json")) as f:
            single = json.load(f)
        assert single["queries"][1]["sql"].startswith(f"SELECT '{HOSTILE}'"), single["queries"][1]
        spec = [
            {"name": "single run", "file": out("single.html"), "screenshot": out("single.png"),
             "minCanvases": 3,
             "headings": ["Summary", "Targets", "Queries", "Latency percentile spectrum",
                          "Over time", "Errors by SQLSTATE", "Configuration"],
             "rows": {"tr.query-row": 3, "table.thresholds tbody tr": 2,
                      "table.errors tbody tr": 1, "table.thresholds .badge.fail": 1},
             "texts": [HOSTILE, "division by zero", "22012", "p95 < 500ms"]},
            {"name": "sweep", "file": out("sweep.html"), "screenshot": out("sweep.png"),
             "minCanvases": 2 + 2 * 3, "headings": ["Sweep"],
             "rows": {"table.sweep-table tbody tr": 2, "details.level": 2}},
            {"name": "compare", "file": out("compare.html"), "screenshot": out("compare.png"),
             "minCanvases": 1, "headings": ["Comparison", "Latency spectra"],
             "rows": {"tr.compare-row": len(json.loads(pgvolley(
                 "compare", "-f", "json", out("single.json"), out("new.json")).stdout)["rows"])}},
        ]
        # a real suite: init, then two categories of the built-in suite, whose
        # slow test misses its targets and is diagnosed
        pgvolley("init", "-q", "-d", server.dsn, expect=(0,))
        pgvolley("suite", "-d", server.dsn, "-q", "-T", "0.2", "--only", "simple",
                 "--only", "indexed", "--html", out("real_suite.html"), expect=(1,))
        spec.append(
            {"name": "suite (real)", "file": out("real_suite.html"),
             "screenshot": out("real_suite.png"), "minCanvases": 2 * 8,
             "headings": ["Suite", "Findings of the missed targets", "Diagnosis"],
             "rows": {"tr.test-row": 8},  # a loaded machine may miss more targets
             "texts": ["runs_by_finished_at",
                       "CREATE INDEX ON pgvolley_runs (finished_at) would serve it"]})
        spec.append({"name": "interrupted run", "file": out("interrupted.html"),
                     "minCanvases": 3, "headings": ["Summary", "Over time"],
                     "texts": ["Interrupted (Ctrl-C or SIGTERM): the figures are partial."]})
        if HTML_TOOL:
            with open(out("sweep.json")) as f:
                suite = suite_from_sweep(json.load(f))
            with open(out("suite.json"), "w") as f:
                json.dump(suite, f)
            subprocess.run([HTML_TOOL, "--render", out("suite.json"), out("suite.html"),
                            "pgvolley suite: default"], check=True, timeout=60)
            spec.append(
                {"name": "suite", "file": out("suite.html"), "screenshot": out("suite.png"),
                 "minCanvases": 2 * 3,
                 "headings": ["Suite", "Findings of the missed targets", "Diagnosis"],
                 "rows": {"tr.test-row": 2, "ul.findings li": 4, "details.plan": 1,
                          "details.test[open]": 1},
                 "texts": ["CREATE INDEX ON pgvolley_agents (name) would serve it", HOSTILE,
                           "pg_stat_statements is not installed"]})
            # an older report: no timeline, no histograms, no thresholds
            old = strip(dict(single), ("timeline", "histogram", "thresholds", "started_at_ms"))
            with open(out("old.json"), "w") as f:
                json.dump(old, f)
            subprocess.run([HTML_TOOL, "--render", out("old.json"), out("old.html")],
                           check=True, timeout=60)
            spec.append({"name": "old report", "file": out("old.html"),
                         "headings": ["Summary", "Queries"], "rows": {"tr.query-row": 3},
                         "texts": ["No timeline in this report.", "No latency spectrum"]})
        with open(os.path.join(work, "spec.json"), "w") as f:
            json.dump(spec, f)
        env = dict(os.environ, CHROMIUM=CHROMIUM)
        return subprocess.run(["node", os.path.join(HERE, "html_report.mjs"),
                               os.path.join(work, "spec.json")], cwd=HERE, env=env,
                              timeout=240).returncode
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
