#!/usr/bin/env python3
"""Browser test of the dashboard of `pgvolley serve` (docs/serve-ui.md).

Installs playwright-core (npm ci, from package-lock.json) when node_modules
is missing, starts `pgvolley serve --ephemeral` (a throwaway PostgreSQL with
the sample data of `pgvolley init`) on a free loopback port with a fresh
state directory and a random token (--token-file; the script gets it as
PV_TOKEN), and runs serve_ui.mjs against it in headless Chromium: signing
in, the form, a preview, a bad file's error, a live run cancelled, a run
finished and its report, the history (refreshing by itself) and a
comparison; screenshots go to PV_BROWSER_OUT (default build/browser).

Environment: PGVOLLEY (default build/pgvolley), PV_BROWSER_OUT, CHROMIUM
(default /usr/bin/chromium). Exit code: 0 when every step passes."""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

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
    with open(err_path, "w") as err:
        proc = subprocess.Popen([PGVOLLEY, "serve", "--ephemeral", "--listen", "127.0.0.1:0",
                                 "--state-dir", state, "--token-file", token_path],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not re.match(r"http://127\.0\.0\.1:\d+/$", line):
            proc.wait(timeout=30)
            with open(err_path) as f:
                print(f"run_serve_ui: serve did not start: {line!r}\n{f.read()}", file=sys.stderr)
            return 1
        env = dict(os.environ, CHROMIUM=CHROMIUM, PV_TOKEN=token)
        rc = subprocess.run(["node", os.path.join(HERE, "serve_ui.mjs"), line, OUT], cwd=HERE,
                            env=env, timeout=240).returncode
        if rc != 0:
            with open(err_path) as f:
                sys.stderr.write("run_serve_ui: the server's messages:\n" + f.read())
        return rc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
