// mcp_e2e.mjs - `pgvolley mcp` driven by the official MCP TypeScript SDK
// client, over stdio and over Streamable HTTP.
//
// Environment: PGVOLLEY (the binary), DSN (a libpq conninfo for a role that
// is not a superuser and owns the tables t(v int), customers and sales).
// Exits non-zero on the first failure.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const PGVOLLEY = process.env.PGVOLLEY;
const DSN = process.env.DSN;
if (!PGVOLLEY || !DSN) {
  console.error("mcp_e2e: set PGVOLLEY and DSN");
  process.exit(2);
}

const TOOLS = [
  "execute_multi_query",
  "explain_query",
  "fetch_next_page",
  "get_bloat",
  "get_context",
  "get_dataset_sample",
  "get_dataset_schema",
  "get_index_problems",
  "get_locks",
  "get_long_transactions",
  "get_slow_queries",
  "list_available_datasets",
  "query_dataset",
];
const HEALTH = ["get_slow_queries", "get_locks", "get_long_transactions", "get_bloat", "get_index_problems"];

let checks = 0;
// The protocol version each client negotiated (the SDK tells its transport).
const negotiated = {};
function recordVersion(transport, label) {
  const orig = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (v) => {
    negotiated[label] = v;
    orig?.(v);
  };
}
function ok(cond, msg) {
  assert.ok(cond, msg);
  checks++;
}

const text = (r) => r.content.map((c) => c.text).join("\n");
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function call(client, name, args, opts) {
  return client.callTool({ name, arguments: args }, undefined, opts);
}

// A JSON-RPC error (McpError) with this code.
async function expectProtocolError(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    ok(e.code === code, `${what}: expected JSON-RPC error ${code}, got ${e.code} ${e.message}`);
    return;
  }
  assert.fail(`${what}: expected a JSON-RPC error ${code}`);
}

async function exercise(client, label) {
  const t0 = Date.now();
  const log = (m) => console.log(`[${label}] ${m}`);

  // -- initialize result
  ok(client.getServerVersion().name === "pgvolley", "serverInfo.name");
  ok(client.getServerCapabilities().tools, "tools capability");
  ok(/execute_multi_query/.test(client.getInstructions() ?? ""), "instructions");

  // -- tools/list
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS, "thirteen tools");
  for (const t of tools) {
    ok(t.annotations?.readOnlyHint === true, `${t.name} readOnlyHint`);
    ok(t.annotations?.destructiveHint === false, `${t.name} destructiveHint`);
    ok(t.annotations?.openWorldHint === false, `${t.name} openWorldHint`);
    ok(t.inputSchema?.type === "object", `${t.name} inputSchema`);
    ok(typeof t.description === "string" && t.description.length > 20, `${t.name} description`);
  }
  ok(tools.find((t) => t.name === "execute_multi_query").outputSchema, "multi outputSchema");
  log(`tools/list: ${tools.length} tools`);

  // -- list_available_datasets
  let r = await call(client, "list_available_datasets", {});
  ok(!r.isError, "list_available_datasets ok");
  ok(r.structuredContent.datasets[0].name === "default", "dataset 'default'");
  ok(!/password|host=|user=/.test(text(r)), "no DSN in the output");

  // -- get_context, every level
  r = await call(client, "get_context", { level: 0 });
  ok(!r.isError && /execute_multi_query/.test(text(r)), "get_context 0 guide");
  r = await call(client, "get_context", { level: 1 });
  ok(!r.isError && r.structuredContent.datasets.length === 1, "get_context 1 datasets");
  r = await call(client, "get_context", { level: 2, dataset: "default" });
  ok(!r.isError, `get_context 2: ${text(r)}`);
  const names2 = r.structuredContent.tables.map((t) => t.name);
  ok(["customers", "sales", "t"].every((n) => names2.includes(n)), `level 2 tables ${names2}`);
  ok(r.structuredContent.tables.find((t) => t.name === "sales").row_estimate === 2000,
     "row estimate from reltuples");
  ok(r.structuredContent.tables[0].columns === undefined, "level 2 has no columns");
  r = await call(client, "get_context", { level: 3 });
  ok(!r.isError && r.structuredContent.tables[0].columns.length > 0, "get_context 3 columns");
  r = await call(client, "get_context", { level: 2, dataset: "nope" });
  ok(r.isError && /unknown dataset/.test(text(r)), "get_context unknown dataset");

  // -- get_dataset_schema (fresh, cached, refreshed)
  r = await call(client, "get_dataset_schema", { dataset: "default", refresh: true });
  ok(!r.isError && r.structuredContent.cached === false, "schema fresh");
  const sales = r.structuredContent.tables.find((t) => t.name === "sales");
  ok(sales.primary_key.join() === "id", "sales primary key");
  ok(sales.foreign_keys[0].references.table === "customers", "sales foreign key");
  ok(sales.columns.find((c) => c.name === "amount").type === "numeric(10,2)", "column type");
  ok(/FK → public\.customers\(id\)/.test(text(r)), "FK in Markdown");
  r = await call(client, "get_dataset_schema", { dataset: "default" });
  ok(!r.isError && r.structuredContent.cached === true, "schema cached");
  r = await call(client, "get_dataset_schema", { dataset: "nope" });
  ok(r.isError, "schema of an unknown dataset");

  // -- get_dataset_sample
  r = await call(client, "get_dataset_sample", { dataset: "default", table: "public.sales", limit: 3 });
  ok(!r.isError && r.structuredContent.row_count === 3, `sample: ${text(r)}`);
  r = await call(client, "get_dataset_sample", { dataset: "default", table: "t" });
  ok(!r.isError && r.structuredContent.row_count === 5, "sample default limit 5");
  r = await call(client, "get_dataset_sample", { dataset: "default", table: "t; DROP TABLE t" });
  ok(r.isError && r.structuredContent.error.sqlstate === "42P01", "hostile name is an identifier");
  r = await call(client, "get_dataset_sample", { dataset: "default", table: "no_such_table" });
  ok(r.isError && /does not exist/.test(text(r)), "sample of a missing table");

  // -- query_dataset
  r = await call(client, "query_dataset", { dataset: "default", query: "SELECT count(*) AS n, sum(v) AS s FROM t", label: "sum" });
  ok(!r.isError, `query: ${text(r)}`);
  assert.deepEqual(r.structuredContent.rows, [["100", "5050"]]);
  ok(/\| 100 \| 5050 \|/.test(text(r)), "query Markdown table");
  r = await call(client, "query_dataset", { dataset: "default", query: "SELECT * FROM missing" });
  ok(r.isError && r.structuredContent.error.sqlstate === "42P01", "SQL error is a tool error");
  // A refused write: never reaches the server, and t is intact.
  r = await call(client, "query_dataset", { dataset: "default", query: "DELETE FROM t" });
  ok(r.isError && /not read-only/.test(text(r)), `DELETE refused: ${text(r)}`);
  ok(r.structuredContent.error.sqlstate === "25006", "DELETE refused with 25006");
  r = await call(client, "query_dataset", { dataset: "default", query: "WITH d AS (DELETE FROM t RETURNING 1) SELECT count(*) FROM d" });
  ok(r.isError, "data-modifying CTE refused");
  r = await call(client, "query_dataset", { dataset: "default", query: "SELECT count(*) FROM t" });
  ok(r.structuredContent.rows[0][0] === "100", "t still has 100 rows");

  // -- explain_query (the SDK checks structuredContent against the outputSchema)
  r = await call(client, "explain_query", { dataset: "default", query: "SELECT count(*) FROM t", analyze: true, format: "json" });
  ok(!r.isError && r.structuredContent.plan_json[0].Plan["Actual Rows"] === 1, `explain analyze: ${text(r).slice(0, 300)}`);
  r = await call(client, "explain_query", { dataset: "default", query: "SELECT v FROM t WHERE v = 1" });
  ok(!r.isError && /Seq Scan on t/.test(r.structuredContent.plan), `explain text: ${text(r)}`);
  r = await call(client, "explain_query", { dataset: "default", query: "DELETE FROM t", analyze: true });
  ok(r.isError && r.structuredContent.error.sqlstate === "25006", `explain analyze DELETE refused: ${text(r)}`);
  r = await call(client, "query_dataset", { dataset: "default", query: "SELECT count(*) FROM t" });
  ok(r.structuredContent.rows[0][0] === "100", "t still has 100 rows after EXPLAIN ANALYZE DELETE");

  // -- the health tools: the role "owner" is neither superuser nor pg_read_all_stats
  for (const name of HEALTH) {
    r = await call(client, name, { dataset: "default", limit: 5 });
    ok(r.structuredContent.check === name && Array.isArray(r.structuredContent.needs), `${name}: ${text(r)}`);
  }
  r = await call(client, "get_slow_queries", { dataset: "default" });
  ok(r.isError && r.structuredContent.needs.some((n) => /CREATE EXTENSION pg_stat_statements/.test(n)), "pg_stat_statements missing is said");
  r = await call(client, "get_locks", { dataset: "default" });
  ok(!r.isError && r.structuredContent.needs.some((n) => /pg_read_all_stats/.test(n)), "pg_read_all_stats is said");

  // -- protocol errors; invalid arguments are tool errors from 2025-11-25 on
  // (the model may correct them), protocol errors (-32602) before
  await expectProtocolError(call(client, "no_such_tool", {}), -32602, "unknown tool");
  const version = negotiated[label];
  log(`negotiated protocol version ${version}`);
  const badArgs = [
    ["query_dataset", { dataset: "default" }, "missing query"],
    ["get_dataset_sample", { dataset: "default", table: "t", limit: 1000 }, "limit out of range"],
    ["execute_multi_query", { queries: "SELECT 1" }, "queries not an array"],
  ];
  for (const [name, args, what] of badArgs) {
    if (version >= "2025-11-25") {
      r = await call(client, name, args);
      ok(r.isError && /invalid arguments/.test(text(r)), `${what}: a tool error (${text(r)})`);
    } else {
      await expectProtocolError(call(client, name, args), -32602, what);
    }
  }

  // -- execute_multi_query: 12 queries, one wrong, one write, with progress
  const queries = [];
  // bucket 10 sleeps 0.3 s, so that the other queries' progress
  // notifications reach the client in earlier reads than the answer, even on
  // a loaded machine (see the note on dropped notifications below)
  for (let i = 1; i <= 10; i++)
    queries.push({ dataset: "default", query: `SELECT ${i} AS i, count(*) AS n FROM sales WHERE customer_id % 10 = ${i % 10}` + (i === 10 ? " AND (SELECT true FROM pg_sleep(0.3))" : ""), label: `bucket ${i}` });
  queries.push({ dataset_id: 1, query: "SELECT * FROM no_such_table", label: "wrong" });
  queries.push({ dataset: "default", query: "SELECT city, count(*) FROM customers GROUP BY city ORDER BY 1", label: "cities" });
  const progress = [];
  r = await call(client, "execute_multi_query", { queries }, { onprogress: (p) => progress.push(p) });
  ok(!r.isError, `multi is not an error as a whole: ${text(r).slice(0, 300)}`);
  const sc = r.structuredContent;
  ok(sc.total === 12 && sc.succeeded === 11 && sc.failed === 1, `multi totals ${sc.total}/${sc.succeeded}/${sc.failed}`);
  const wrong = sc.results[10];
  ok(wrong.label === "wrong" && wrong.ok === false && wrong.error.sqlstate === "42P01", "the wrong query is marked failed with its SQLSTATE");
  ok(sc.results.filter((x) => x.ok).length >= 9, "9+ succeed");
  assert.deepEqual(sc.results[11].rows, [["Delhi", "17"], ["Mumbai", "16"], ["Pune", "17"]]);
  ok(/# Multi-Query Results/.test(text(r)), "multi Markdown");
  // The SDK handles notifications a microtask later than responses, so the
  // last notifications, when they arrive in the same read as the answer,
  // are dropped by the client; the raw tests count them exactly.
  ok(progress.length >= 1 && progress.length <= 12, `progress notifications: ${progress.length}`);
  ok(progress.every((p, i) => p.total === 12 && p.progress === i + 1), "progress counts 1, 2, ... of 12");
  r = await call(client, "execute_multi_query", { queries: [
    { dataset: "default", query: "SELECT 1" },
    { dataset: "default", query: "DELETE FROM t" },
  ] });
  ok(r.structuredContent.results[1].error.sqlstate === "25006", "write refused inside multi");
  r = await call(client, "execute_multi_query", { queries: [{ dataset: "nope", query: "SELECT 1" }] });
  ok(r.isError && /nope/.test(text(r)), "multi with an unknown dataset");

  // -- tool calls run concurrently: 6 x 0.4 s in well under 6 x 0.4 s,
  //    and a ping meanwhile is answered at once.
  const c0 = Date.now();
  const slow = [];
  for (let i = 0; i < 6; i++)
    slow.push(call(client, "query_dataset", { dataset: "default", query: `SELECT pg_sleep(0.4), ${i} AS i` }));
  const p0 = Date.now();
  await client.ping();
  const pingMs = Date.now() - p0;
  const slowResults = await Promise.all(slow);
  const concMs = Date.now() - c0;
  ok(slowResults.every((x) => !x.isError), "slow calls succeed");
  ok(concMs < 1800, `6 x 0.4 s calls took ${concMs} ms: not concurrent`);
  ok(pingMs < 300, `ping took ${pingMs} ms while tool calls ran`);
  log(`concurrency: 6 x 0.4 s in ${concMs} ms, ping ${pingMs} ms`);

  // -- cancellation: notifications/cancelled stops the query on the server
  const ac = new AbortController();
  const marker = `pv_cancel_${label.replace(/\W/g, "")}_${Date.now()}`;
  const pending = call(client, "query_dataset", { dataset: "default", query: `SELECT pg_sleep(30) AS ${marker}` }, { signal: ac.signal });
  const active = async () => {
    const q = await call(client, "query_dataset", {
      dataset: "default",
      query: `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || '${marker}' || '%' AND pid <> pg_backend_pid()`,
    });
    assert.ok(!q.isError, text(q));
    return Number(q.structuredContent.rows[0][0]);
  };
  let seen = 0;
  for (let i = 0; i < 50 && seen === 0; i++) {
    await sleep(100);
    seen = await active();
  }
  ok(seen === 1, "the slow query runs on the server");
  const a0 = Date.now();
  ac.abort("test cancels");
  await pending.then(() => assert.fail("aborted call resolved"), () => {});
  let left = 1;
  for (let i = 0; i < 50 && left > 0; i++) {
    await sleep(100);
    left = await active();
  }
  ok(left === 0, "cancelled query is gone from pg_stat_activity");
  log(`cancel: query stopped on the server within ${Date.now() - a0} ms`);
  await client.ping(); // still serving

  log(`all good (${Date.now() - t0} ms)`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

// Starts `pgvolley mcp --http`; resolves once it prints its address.
function startHttp(port, env = {}, extra = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(PGVOLLEY, ["mcp", "-d", DSN, "--http", `127.0.0.1:${port}`, ...extra], {
      stdio: ["ignore", "inherit", "pipe"],
      env: { ...process.env, ...env },
    });
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 10000);
    p.stderr.on("data", (d) => {
      err += d;
      process.stderr.write(d);
      if (err.includes(`listening on http://127.0.0.1:${port}/mcp`)) {
        clearTimeout(timer);
        resolve(p);
      }
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

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

async function rawHttpChecks(url) {
  const H = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const post = (body, headers = {}) => fetch(url, { method: "POST", headers: { ...H, ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

  let res = await post(INIT, { origin: "http://evil.example" });
  ok(res.status === 403, `foreign Origin: ${res.status}`);
  res = await post(INIT, { origin: "http://localhost:5173" });
  ok(res.status === 200, `loopback Origin: ${res.status}`);
  const sid = res.headers.get("mcp-session-id");
  ok(/^[0-9a-f]{32}$/.test(sid ?? ""), `session id ${sid}`);
  const body = await res.json();
  ok(body.result.protocolVersion === "2025-06-18", "initialize over HTTP");
  res = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": sid });
  ok(res.status === 202 && (await res.text()) === "", `notification: ${res.status}`);
  res = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" });
  ok(res.status === 400, `no session id: ${res.status}`);
  res = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { "mcp-session-id": "0".repeat(32) });
  ok(res.status === 404, `unknown session id: ${res.status}`);
  res = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { "mcp-session-id": sid, "mcp-protocol-version": "1999-01-01" });
  ok(res.status === 400, `bad protocol version: ${res.status}`);
  res = await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" });
  ok(res.status === 200 && (await res.json()).result.tools.length === TOOLS.length, "tools/list over HTTP");
  res = await post("{not json", { "mcp-session-id": sid });
  ok(res.status === 400 && (await res.json()).error.code === -32700, "parse error over HTTP");
  res = await post(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping", params: { pad: "x".repeat(1100000) } }), { "mcp-session-id": sid });
  ok(res.status === 413, `big body: ${res.status}`);
  // GET: the session's standalone stream (keepalive comments only), closed here by us.
  const ac = new AbortController();
  res = await fetch(url, { method: "GET", headers: { accept: "text/event-stream", "mcp-session-id": sid }, signal: ac.signal });
  ok(res.status === 200 && res.headers.get("content-type").startsWith("text/event-stream"), `GET: ${res.status}`);
  ac.abort();
  res = await fetch(url.replace("/mcp", "/other"), { method: "POST", headers: H, body: JSON.stringify(INIT) });
  ok(res.status === 404, `other path: ${res.status}`);
  // Progress over SSE with a raw request.
  res = await post({
    jsonrpc: "2.0", id: 4, method: "tools/call",
    params: { name: "execute_multi_query", _meta: { progressToken: 7 }, arguments: { queries: [{ dataset: "default", query: "SELECT 1" }, { dataset: "default", query: "SELECT 2" }] } },
  }, { "mcp-session-id": sid });
  ok(res.status === 200 && res.headers.get("content-type").startsWith("text/event-stream"), "SSE answer");
  const events = (await res.text()).split("\n\n").filter((e) => /^(id: \d+-\d+\n)?event: message/.test(e)).map((e) => JSON.parse(e.split("data: ")[1]));
  ok(events.length === 3 && events[0].method === "notifications/progress" && events[2].id === 4, `SSE events ${events.length}`);
  // JSON-RPC batches: refused in 2025-06-18, answered in 2025-03-26.
  const pings = [{ jsonrpc: "2.0", id: 5, method: "ping" }, { jsonrpc: "2.0", id: 6, method: "ping" }];
  res = await post(pings, { "mcp-session-id": sid });
  const refused = await res.json();
  ok(!Array.isArray(refused) && refused.error?.code === -32600, `2025-06-18 batch refused: ${JSON.stringify(refused)}`);
  res = await post({ ...INIT, params: { ...INIT.params, protocolVersion: "2025-03-26" } });
  const sid0326 = res.headers.get("mcp-session-id");
  ok((await res.json()).result.protocolVersion === "2025-03-26", "2025-03-26 session");
  res = await post(pings, { "mcp-session-id": sid0326 });
  const batch = await res.json();
  ok(Array.isArray(batch) && batch.length === 2, "batch answered as an array");
  res = await fetch(url, { method: "DELETE", headers: { "mcp-session-id": sid } });
  ok(res.status === 200, `DELETE: ${res.status}`);
  res = await post({ jsonrpc: "2.0", id: 7, method: "ping" }, { "mcp-session-id": sid });
  ok(res.status === 404, `after DELETE: ${res.status}`);
  console.log("[http raw] all good");
}

// 2026-07-28 over HTTP, raw: no handshake, no session; _meta on every
// request; the Mcp-Method/Mcp-Name headers checked against the body.
async function rawModernChecks(url) {
  const V = "2026-07-28";
  const meta = { "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" } };
  const post = (method, params, headers = {}, id = 1) => fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": V, "mcp-method": method, ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: { ...meta, ...(params._meta ?? {}) } } }),
  });
  let res = await post("server/discover", {});
  ok(res.status === 200 && !res.headers.get("mcp-session-id"), `discover: ${res.status}`);
  let body = await res.json();
  ok(body.result.supportedVersions.includes(V) && body.result.resultType === "complete", "discover result");
  ok(body.result._meta["io.modelcontextprotocol/serverInfo"].name === "pgvolley", "serverInfo in _meta");
  ok(body.result.ttlMs > 0 && body.result.cacheScope === "public", "discover cache hints");
  res = await post("tools/list", {});
  body = await res.json();
  ok(body.result.tools.length === TOOLS.length && body.result.ttlMs > 0 && body.result.cacheScope === "public", "tools/list with cache hints");
  const q = { name: "query_dataset", arguments: { dataset: "default", query: "SELECT 41 + 1 AS answer" } };
  res = await post("tools/call", q, { "mcp-name": "query_dataset" });
  body = await res.json();
  ok(res.status === 200 && body.result.structuredContent.rows[0][0] === "42" && body.result.resultType === "complete", `stateless tools/call: ${JSON.stringify(body).slice(0, 200)}`);
  res = await post("tools/call", q, { "mcp-name": "=?base64?" + Buffer.from("query_dataset").toString("base64") + "?=" });
  ok(res.status === 200, `Base64 Mcp-Name: ${res.status}`);
  for (const [what, headers] of [
    ["Mcp-Name differs", { "mcp-name": "get_context" }],
    ["Mcp-Name missing", {}],
    ["Mcp-Method differs", { "mcp-name": "query_dataset", "mcp-method": "tools/list" }],
    ["version header differs", { "mcp-name": "query_dataset", "mcp-protocol-version": "2025-11-25" }],
  ]) {
    res = await post("tools/call", q, headers);
    body = await res.json();
    ok(res.status === 400 && body.error.code === -32020, `${what}: ${res.status} ${JSON.stringify(body)}`);
  }
  res = await post("tools/list", { _meta: { "io.modelcontextprotocol/protocolVersion": "2099-01-01" } }, { "mcp-protocol-version": "2099-01-01" });
  body = await res.json();
  ok(res.status === 400 && body.error.code === -32022 && body.error.data.supported.includes(V), `unsupported version: ${JSON.stringify(body)}`);
  res = await post("ping", {});
  ok(res.status === 404 && (await res.json()).error.code === -32601, "no ping in 2026-07-28");
  res = await post("tools/list", { _meta: { "io.modelcontextprotocol/clientCapabilities": null } });
  ok(res.status === 400 && (await res.json()).error.code === -32602, "clientCapabilities required");
  // Invalid arguments: a tool error.
  res = await post("tools/call", { name: "query_dataset", arguments: { dataset: "default" } }, { "mcp-name": "query_dataset" });
  body = await res.json();
  ok(res.status === 200 && body.result.isError === true, "invalid arguments are a tool error");
  // Progress on the request's own stream.
  res = await post("tools/call", { name: "execute_multi_query", _meta: { progressToken: "p" }, arguments: { queries: [{ dataset: "default", query: "SELECT 1" }, { dataset: "default", query: "SELECT 2" }] } }, { "mcp-name": "execute_multi_query" }, 9);
  ok(res.headers.get("content-type").startsWith("text/event-stream"), "stateless SSE answer");
  const events = (await res.text()).split("\n\n").filter((e) => /^(id: \d+-\d+\n)?event: message/.test(e)).map((e) => JSON.parse(e.split("data: ")[1]));
  ok(events.length === 3 && events[2].id === 9 && events[2].result.resultType === "complete", `stateless SSE events ${events.length}`);
  console.log("[http 2026-07-28 raw] all good");
}

// stdin closed right after a request: the answer still comes, exit 0.
async function rawStdioEof() {
  const p = spawn(PGVOLLEY, ["mcp", "-d", DSN], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => p.on("exit", (code) => resolve(code)));
  p.stdin.write(JSON.stringify(INIT) + "\n");
  p.stdin.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n");
  p.stdin.write("this is not json\n");
  p.stdin.write(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "query_dataset", arguments: { dataset: "default", query: "SELECT pg_sleep(0.3), 42 AS answer" } } }) + "\n");
  const queries = [1, 2, 3, 4, 5].map((i) => ({ dataset: "default", query: `SELECT ${i}` }));
  p.stdin.write(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { _meta: { progressToken: "tok" }, name: "execute_multi_query", arguments: { queries } } }) + "\n");
  p.stdin.end();
  const code = await exited;
  ok(code === 0, `stdio exit code ${code}`);
  const msgs = out.trim().split("\n").map((l) => JSON.parse(l));
  ok(msgs.length === 9, `9 messages on stdout, got ${msgs.length}`);
  ok(msgs[1].error?.code === -32700, "parse error answered");
  const answer = msgs.find((m) => m.id === 2);
  ok(answer?.result.structuredContent.rows[0][1] === "42", "answered after EOF");
  const prog = msgs.filter((m) => m.method === "notifications/progress");
  ok(prog.length === 5 && prog.every((m, i) => m.params.progressToken === "tok" && m.params.progress === i + 1 && m.params.total === 5), "5 progress notifications in order");
  const multi = msgs.findIndex((m) => m.id === 3);
  ok(multi > msgs.findIndex((m) => m.method === "notifications/progress" && m.params.progress === 5), "progress before the answer");
  ok(msgs[multi].result.structuredContent.succeeded === 5, "multi answered after EOF");
  console.log("[stdio raw] all good");
}

async function main() {
  // (a) stdio
  {
    const transport = new StdioClientTransport({ command: PGVOLLEY, args: ["mcp", "-d", DSN], stderr: "inherit" });
    const client = new Client({ name: "pgvolley-e2e", version: "1.0.0" });
    recordVersion(transport, "stdio");
    await client.connect(transport);
    ok(negotiated.stdio === "2025-11-25", `stdio negotiated ${negotiated.stdio}`);
    await exercise(client, "stdio");
    await client.close();
  }
  await rawStdioEof();

  // (b) Streamable HTTP
  {
    const port = await freePort();
    const server = await startHttp(port);
    try {
      const url = `http://127.0.0.1:${port}/mcp`;
      const client = new Client({ name: "pgvolley-e2e", version: "1.0.0" });
      const transport = new StreamableHTTPClientTransport(new URL(url));
      recordVersion(transport, "http");
      await client.connect(transport);
      ok(negotiated.http === "2025-11-25", `HTTP negotiated ${negotiated.http}`);
      ok(transport.sessionId, "HTTP session id");
      await exercise(client, "http");
      await transport.terminateSession();
      await client.close();
      await rawHttpChecks(url);
      await rawModernChecks(url);
    } finally {
      const code = await stopProcess(server);
      ok(code === 0, `HTTP server exit code ${code}`);
    }
  }

  // (c) Streamable HTTP with a bearer token, from the environment and from a file
  for (const from of ["env", "file"]) {
    const port = await freePort();
    const token = "s3cret-" + Math.random().toString(36).slice(2);
    const file = path.join(os.tmpdir(), `pv-e2e-token-${process.pid}`);
    let server;
    if (from === "env") {
      server = await startHttp(port, { PGVOLLEY_MCP_TOKEN: token });
    } else {
      fs.writeFileSync(file, token + "\n", { mode: 0o600 });
      server = await startHttp(port, {}, ["--token-file", file]);
    }
    try {
      const url = `http://127.0.0.1:${port}/mcp`;
      const H = { "content-type": "application/json", accept: "application/json, text/event-stream" };
      let res = await fetch(url, { method: "POST", headers: H, body: JSON.stringify(INIT) });
      ok(res.status === 401, `no token: ${res.status}`);
      res = await fetch(url, { method: "POST", headers: { ...H, authorization: "Bearer wrong" }, body: JSON.stringify(INIT) });
      ok(res.status === 401, `wrong token: ${res.status}`);
      const client = new Client({ name: "pgvolley-e2e", version: "1.0.0" });
      const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
      await client.connect(transport);
      const r = await call(client, "query_dataset", { dataset: "default", query: "SELECT 1 AS one" });
      ok(!r.isError && r.structuredContent.rows[0][0] === "1", "query with a token");
      await client.close();
      console.log(`[http token from ${from}] all good`);
    } finally {
      const code = await stopProcess(server);
      ok(code === 0, `HTTP server exit code ${code}`);
      fs.rmSync(file, { force: true });
    }
  }
  // (d) a datasets file: two datasets, one with max_rows = 10
  if (process.env.DATASETS) {
    const transport = new StdioClientTransport({ command: PGVOLLEY, args: ["mcp", "--datasets", process.env.DATASETS], stderr: "inherit" });
    const client = new Client({ name: "pgvolley-e2e", version: "1.0.0" });
    await client.connect(transport);
    ok(/Datasets: shop, small/.test(client.getInstructions()), "dataset names in the instructions");
    let r = await call(client, "list_available_datasets", {});
    assert.deepEqual(r.structuredContent.datasets.map((d) => [d.id, d.name, d.max_rows]), [[1, "shop", 1000], [2, "small", 10]]);
    r = await call(client, "get_context", { level: 2 });
    ok(r.isError && /needs a dataset: one of shop, small/.test(text(r)), "level 2 needs a dataset");
    r = await call(client, "query_dataset", { dataset: "small", query: "SELECT id FROM sales ORDER BY id" });
    ok(!r.isError && r.structuredContent.truncated === true && r.structuredContent.row_count === 10, "max_rows truncates");
    ok(/Truncated/.test(text(r)), "truncation said in Markdown");
    r = await call(client, "execute_multi_query", { queries: [
      { dataset_id: 1, query: "SELECT count(*) FROM sales", label: "shop" },
      { dataset_id: 2, query: "SELECT count(*) FROM sales", label: "small" },
      { dataset: "small", query: "SELECT * FROM customers", label: "small customers" },
    ] });
    const res = r.structuredContent.results;
    ok(res[0].dataset === "shop" && res[1].dataset === "small" && res[0].rows[0][0] === "2000" && res[1].rows[0][0] === "2000", "cross-dataset multi");
    ok(res[2].truncated === true && res[2].row_count === 10, "multi truncates per dataset");
    r = await call(client, "execute_multi_query", { queries: [{ dataset_id: 3, query: "SELECT 1" }] });
    ok(r.isError, "dataset_id out of range");
    await client.close();
    console.log("[datasets file] all good");
  }
  console.log(`mcp_e2e: ${checks} checks passed`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error("mcp_e2e: FAILED:", e?.stack ?? e);
    process.exit(1);
  },
);
