#!/usr/bin/env python3
"""End-to-end test of `pgvolley mcp` with the official MCP TypeScript SDK
clients: v1 (@modelcontextprotocol/sdk) and v2 (@modelcontextprotocol/client).

Installs them (npm ci, from package-lock.json) when node_modules lacks one,
starts a throwaway PostgreSQL with `pgvolley ephemeral`, creates a
non-superuser role "owner" that owns t(v int), customers and sales, and runs
mcp_e2e.mjs then mcp_e2e_v2.mjs (stdio and Streamable HTTP) against it.
Python stdlib only.

Environment: PGVOLLEY (default build/pgvolley). Exit code: the test's."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PGVOLLEY = os.path.abspath(os.environ.get("PGVOLLEY") or os.path.join(ROOT, "build", "pgvolley"))

SETUP_SQL = """
CREATE ROLE owner LOGIN;
CREATE TABLE t (v int);
INSERT INTO t SELECT generate_series(1, 100);
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text);
INSERT INTO customers
    SELECT i, 'customer ' || i, (ARRAY['Mumbai', 'Delhi', 'Pune'])[1 + i % 3]
    FROM generate_series(1, 50) i;
CREATE TABLE sales (
    id int PRIMARY KEY,
    customer_id int REFERENCES customers (id),
    amount numeric(10, 2),
    sold_at date
);
INSERT INTO sales
    SELECT i, 1 + i % 50, (i * 7 % 1000) / 10.0, DATE '2024-01-01' + i % 365
    FROM generate_series(1, 2000) i;
COMMENT ON TABLE sales IS 'One row per sale';
ALTER TABLE t OWNER TO owner;
ALTER TABLE customers OWNER TO owner;
ALTER TABLE sales OWNER TO owner;
ANALYZE;
"""


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from pvtest import find_psql  # noqa: E402  (one copy of the psql lookup)


def ensure_sdk():
    mods = os.path.join(HERE, "node_modules", "@modelcontextprotocol")
    if all(os.path.isdir(os.path.join(mods, m)) for m in ("sdk", "client")):
        return
    print("run_e2e: installing the MCP SDK (npm ci)", file=sys.stderr)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)


def with_user(conninfo, user):
    parts = [p for p in conninfo.split() if not p.startswith("user=")]
    return " ".join(parts + [f"user={user}"])


def main():
    if not os.access(PGVOLLEY, os.X_OK):
        print(f"run_e2e: {PGVOLLEY} is not built", file=sys.stderr)
        return 2
    if not shutil.which("node"):
        print("run_e2e: node is missing (scripts/deps.sh installs it)", file=sys.stderr)
        return 2
    ensure_sdk()
    server = subprocess.Popen([PGVOLLEY, "ephemeral"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        conninfo = server.stdout.readline().strip()
        if not conninfo:
            print("run_e2e: pgvolley ephemeral did not start a server", file=sys.stderr)
            return 3
        subprocess.run([find_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
                        "-c", SETUP_SQL], check=True, timeout=60)
        dsn = with_user(conninfo, "owner")
        # A datasets file: two datasets on the same database, one with a
        # small row limit.
        ini = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pv-e2e-{os.getpid()}.ini")
        with open(ini, "w") as f:
            f.write(f"[shop]\ndsn = {dsn}\ndescription = Customers and sales\n\n"
                    f"[small]\ndsn = {dsn}\ndescription = Same data, 10 rows at most\n"
                    "max_rows = 10\nmax_concurrency = 2\n")
        env = dict(os.environ, PGVOLLEY=PGVOLLEY, DSN=dsn, DATASETS=ini)
        try:
            # v1 (@modelcontextprotocol/sdk), then v2 (@modelcontextprotocol/client)
            for script in ("mcp_e2e.mjs", "mcp_e2e_v2.mjs"):
                rc = subprocess.run(["node", os.path.join(HERE, script)], cwd=HERE, env=env,
                                    timeout=600).returncode
                if rc != 0:
                    return rc
            return 0
        finally:
            os.unlink(ini)
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
