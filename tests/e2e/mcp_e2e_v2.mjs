// mcp_e2e_v2.mjs - `pgvolley mcp` driven by the v2 MCP TypeScript client
// (@modelcontextprotocol/client), over stdio and Streamable HTTP, in both
// of its negotiation modes: "auto" (probes server/discover and speaks the
// stateless 2026-07-28) and the default "legacy" (initialize, 2025-11-25).
// A call aborted by the client is cancelled on the server: its query is
// gone from pg_stat_activity within a second (2026-07-28 over HTTP: the
// client closes the request's response stream).
//
// Environment: PGVOLLEY, DSN (a role that owns t(v int)). Exits non-zero on
// the first failure; prints the version each client negotiated.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const PGVOLLEY = process.env.PGVOLLEY;
const DSN = process.env.DSN;
if (!PGVOLLEY || !DSN) {
  console.error("mcp_e2e_v2: set PGVOLLEY and DSN");
  process.exit(2);
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const text = (r) => r.content.map((c) => c.text).join("\n");
let checks = 0;
function ok(cond, msg) {
  assert.ok(cond, msg);
  checks++;
}

const SLEEP_SQL = "SELECT pg_sleep(30) AS v2_abort_test";
const RUNNING_SQL =
  "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%v2_abort_test%' AND pid <> pg_backend_pid()";

async function running(client) {
  const r = await client.callTool({ name: "query_dataset", arguments: { dataset: "default", query: RUNNING_SQL } });
  return Number(r.structuredContent.rows[0][0]);
}

async function exercise(client, label, expectVersion) {
  const log = (m) => console.log(`[v2 ${label}] ${m}`);
  const version = client.getNegotiatedProtocolVersion();
  log(`negotiated protocol version ${version}`);
  ok(version === expectVersion, `${label}: negotiated ${version}, expected ${expectVersion}`);

  const { tools } = await client.listTools();
  ok(tools.length === 13 && tools.some((t) => t.name === "fetch_next_page") &&
     tools.some((t) => t.name === "explain_query"), "thirteen tools");

  let r = await client.callTool({ name: "query_dataset", arguments: { dataset: "default", query: "SELECT count(*) AS n, sum(v) AS s FROM t" } });
  ok(!r.isError, `query: ${text(r)}`);
  assert.deepEqual(r.structuredContent.rows, [["100", "5050"]]);

  // Invalid arguments: a tool error in both 2025-11-25 and 2026-07-28.
  r = await client.callTool({ name: "query_dataset", arguments: { dataset: "default" } });
  ok(r.isError && /invalid arguments/.test(text(r)), `invalid arguments: ${text(r)}`);

  // Progress on a multi-query call. The queries end 0.2 s apart: with three
  // equal queries, all three notifications and the answer left the server
  // together (in order: checked on the raw stream), and about one run in five
  // the client settled the call before dispatching them (0 progress seen).
  const progress = [];
  const queries = [1, 2, 3].map((i) => ({ dataset: "default", query: `SELECT ${i} AS i, pg_sleep(${(0.2 * i - 0.1).toFixed(1)})` }));
  r = await client.callTool({ name: "execute_multi_query", arguments: { queries } }, { onprogress: (p) => progress.push(p) });
  ok(!r.isError && r.structuredContent.succeeded === 3, `multi: ${text(r).slice(0, 200)}`);
  ok(progress.length >= 1 && progress.every((p) => p.total === 3), `progress ${progress.length}`);

  // An aborted call: the query is cancelled on the server.
  const ac = new AbortController();
  const slow = client
    .callTool({ name: "query_dataset", arguments: { dataset: "default", query: SLEEP_SQL } }, { signal: ac.signal })
    .then(() => "answered", () => "aborted");
  let deadline = Date.now() + 15000;
  while ((await running(client)) !== 1 && Date.now() < deadline) await sleep(50);
  ok((await running(client)) === 1, "the slow call runs");
  const t0 = Date.now();
  ac.abort();
  ok((await slow) === "aborted", "the client saw its abort");
  deadline = t0 + 5000;
  let n;
  while ((n = await running(client)) !== 0 && Date.now() < deadline) await sleep(20);
  const gone = Date.now() - t0;
  ok(n === 0 && gone < 1000, `the aborted query was gone after ${gone} ms (${n} left)`);
  log(`aborted query gone from pg_stat_activity after ${gone} ms`);

  // The plan and health tools (after the progress check, whose timing they would change).
  for (const name of ["explain_query", "get_slow_queries", "get_locks", "get_long_transactions", "get_bloat", "get_index_problems"]) {
    const args = name === "explain_query" ? { dataset: "default", query: "SELECT 1", analyze: true } : { dataset: "default" };
    const res = await client.callTool({ name, arguments: args });
    ok(res.structuredContent && (name === "get_slow_queries" || !res.isError), `${name}: ${text(res).slice(0, 300)}`);
  }
  log("all good");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function startHttp(port) {
  const p = spawn(PGVOLLEY, ["mcp", "-d", DSN, "--http", `127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let err = "";
    p.stderr.on("data", (d) => {
      err += d;
      if (/listening on http/.test(err)) resolve(p);
    });
    p.on("exit", (code) => reject(new Error(`pgvolley mcp exited with ${code}: ${err}`)));
  });
}

function stopProcess(p) {
  return new Promise((resolve) => {
    if (p.exitCode !== null) return resolve(p.exitCode);
    p.removeAllListeners("exit");
    p.on("exit", (code, sig) => resolve(code ?? sig));
    p.kill("SIGTERM");
  });
}

const MODES = [
  ["auto", { mode: "auto" }, "2026-07-28"],
  ["legacy", undefined, "2025-11-25"],
];

async function main() {
  for (const [mode, negotiation, expect] of MODES) {
    const transport = new StdioClientTransport({ command: PGVOLLEY, args: ["mcp", "-d", DSN], stderr: "inherit" });
    const client = new Client({ name: "pgvolley-e2e-v2", version: "1.0.0" }, negotiation ? { versionNegotiation: negotiation } : {});
    await client.connect(transport);
    await exercise(client, `stdio ${mode}`, expect);
    await client.close();
  }
  const port = await freePort();
  const server = await startHttp(port);
  try {
    for (const [mode, negotiation, expect] of MODES) {
      const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
      const client = new Client({ name: "pgvolley-e2e-v2", version: "1.0.0" }, negotiation ? { versionNegotiation: negotiation } : {});
      await client.connect(transport);
      await exercise(client, `http ${mode}`, expect);
      await client.close();
    }
  } finally {
    const code = await stopProcess(server);
    ok(code === 0, `HTTP server exit code ${code}`);
  }
  console.log(`mcp_e2e_v2: ${checks} checks passed`);
}

main().catch((e) => {
  console.error("mcp_e2e_v2: FAILED:", e);
  process.exit(1);
});
