#!/usr/bin/env python3
"""Browser test of the dashboard of `pgvolley serve` (docs/serve-ui.md).

Installs playwright-core (npm ci, from package-lock.json) when node_modules
is missing, starts `pgvolley serve --ephemeral` (a throwaway PostgreSQL with
the sample data of `pgvolley init`) on a free loopback port with a fresh
state directory and a random token (--token-file; the script gets it as
PV_TOKEN), and runs serve_ui.mjs against it in headless Chromium: signing
in, the form, a preview, a bad file's error, a live run cancelled, a run
finished and its report, the history (refreshing by itself) and a
comparison. Then it starts a long run through the API, stops serve
(SIGTERM) while that run is running, starts serve again on the same state
directory and runs serve_ui.mjs --after-restart: the cancelled, finished
and interrupted runs are in the history, with the finished run's report,
and two of them compare. Screenshots go to PV_BROWSER_OUT (default
build/browser).

Environment: PGVOLLEY (default build/pgvolley), PV_BROWSER_OUT, CHROMIUM
(default /usr/bin/chromium). Exit code: 0 when every step passes."""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pvtest  # noqa: E402

PGVOLLEY = os.path.abspath(pvtest.PGVOLLEY)
OUT = os.path.abspath(os.environ.get("PV_BROWSER_OUT") or os.path.join(ROOT, "build", "browser"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def ensure_playwright():
    if os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return
    print("run_serve_ui: installing playwright-core (npm ci)", file=sys.stderr)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)


def main():
    if not os.access(PGVOLLEY, os.X_OK):
        print(f"run_serve_ui: {PGVOLLEY} is not built", file=sys.stderr)
        return 2
    if not os.access(CHROMIUM, os.X_OK) or not shutil.which("node"):
        print(f"run_serve_ui: {CHROMIUM} or node is missing (scripts/deps.sh installs them)",
              file=sys.stderr)
        return 2
    ensure_playwright()
    os.makedirs(OUT, exist_ok=True)
    state = tempfile.mkdtemp(prefix="pv-serve-ui-")
    err_path = os.path.join(state, "serve.err")
    token = secrets.token_hex(16)
    token_path = os.path.join(state, "token")
    with open(token_path, "w") as f:
        f.write(token + "\n")

    def start():
        with open(err_path, "a") as err:
            proc = subprocess.Popen([PGVOLLEY, "serve", "--ephemeral", "--listen", "127.0.0.1:0",
                                     "--state-dir", state, "--token-file", token_path],
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err, text=True)
        line = proc.stdout.readline().strip()
        if not re.match(r"http://127\.0\.0\.1:\d+/$", line):
            stop(proc)
            with open(err_path) as f:
                raise SystemExit(f"run_serve_ui: serve did not start: {line!r}\n{f.read()}")
        return proc, line

    def api(base, method, path, body=None):
        req = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def tour(base, *extra, runs=None):
        env = dict(os.environ, CHROMIUM=CHROMIUM, PV_TOKEN=token)
        if runs:
            env["PV_RUNS"] = json.dumps(runs)
        rc = subprocess.run(["node", os.path.join(HERE, "serve_ui.mjs"), base, OUT, *extra],
                            cwd=HERE, env=env, timeout=240).returncode
        if rc != 0:
            with open(err_path) as f:
                sys.stderr.write("run_serve_ui: the server's messages:\n" + f.read())
        return rc

    proc = None
    try:
        proc, base = start()
        rc = tour(base)
        if rc != 0:
            return rc
        with open(os.path.join(OUT, "serve-ui-runs.json")) as f:
            runs = json.load(f)
        # a run still running when serve stops
        run = api(base, "POST", "api/runs", {
            "target": "ephemeral", "name": "running at the stop", "concurrency": 2,
            "duration": 120, "files": [{"name": "sleep.sql", "content": "SELECT pg_sleep(0.01);\n"}]})
        runs["interrupted"] = run["id"]
        deadline = time.monotonic() + 30
        while api(base, "GET", f"api/runs/{run['id']}?view=run")["state"] != "running":
            if time.monotonic() > deadline:
                raise SystemExit("run_serve_ui: the long run did not start")
            time.sleep(0.2)
        time.sleep(1.5)  # executions to keep: its report so far
        stop(proc)
        print(f"ok   serve stopped while run {run['id']} was running; started again")
        proc, base = start()
        return tour(base, "--after-restart", runs=runs)
    finally:
        if proc:
            stop(proc)
        shutil.rmtree(state, ignore_errors=True)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()

if __name__ == "__main__":
    sys.exit(main())
