#!/usr/bin/env python3
"""Seed 000's executor, rebuilt in Python as a reference point for `make bench`.

This is the design pgvolley replaces (../shared/seeds/000_*.txt), kept as
close to the seed as the seed text allows:

- concurrency = asyncio.Semaphore(concurrency_level);
- SQLAlchemy's async engine (create_async_engine) over the asyncpg driver,
  with the seed's pool settings: pool_size = max(1, c // 4),
  max_overflow = c, pool_timeout = 30, pool_recycle = 3600, echo = False;
- one asyncio task per (query, scenario), as in the seed's _runner: the task
  loops over its executions and takes the semaphore around each one;
- each execution converts the `%s` placeholders to :p1..:pn (the seed's
  _convert_ps_placeholders), takes a connection with
  `async with engine.connect()`, runs `conn.execute(text(sql), params)`,
  reads rowcount, and records a result (status, latency) as the seed's
  QueryExecutionResult does;
- asyncio.gather(*tasks, return_exceptions=True).

Adaptations, each minimal, for the benchmark:

- `--duration SEC`: the seed is count-based (EXEC_COUNT executions per
  scenario). To compare at the same duration as pgvolley -T and pgbench -T,
  each _runner loops until the deadline instead of EXEC_COUNT times; without
  --duration it runs EXEC_COUNT times per scenario exactly as the seed.
- The target comes from PGHOST/PGPORT/PGUSER/PGDATABASE (a Unix socket
  directory in `make bench`, like pgbench and pgvolley). The seed's
  `ssl_mode: require` and `command_timeout: 30` live in its pool_config but
  are not passed in the create_async_engine call the seed shows; they are
  left out here as well (no SSL on the throwaway server's socket).
- `--pool-size N` (off by default) overrides the seed's pool_size, to see
  what the design costs without the connection churn; `make bench` runs the
  seed's settings.
- Written against Debian 12's SQLAlchemy 1.4.46 and asyncpg 0.27; nothing
  the seed uses is missing from 1.4 (create_async_engine, AsyncConnection,
  text() all exist there).

Prints one JSON object on stdout: executions, succeeded, failed, wall_s, qps,
connections_opened (how often the pool had to open a new connection:
with pool_size c/4, connections returned beyond it are closed and reopened
later, as in the seed), and the first error if any.
"""
import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine


@dataclass
class QueryExecutionResult:
    query_identifier: str
    scenario_name: str
    success: bool
    duration_ms: float
    row_count: int
    error: Optional[str] = None


def validate_query_format(query_content: str) -> Dict[str, Any]:
    """The seed's header parser: -- PARAMETERS and -- EXEC_COUNT (default 5)."""
    parameter_sets: List[List[Any]] = []
    exec_count = 5
    for line in query_content.split('\n'):
        line = line.strip()
        if line.startswith('-- PARAMETERS:'):
            parameter_sets = json.loads(line.replace('-- PARAMETERS:', '').strip())
        elif line.startswith('-- EXEC_COUNT:'):
            exec_count = int(line.replace('-- EXEC_COUNT:', '').strip())
    return {"parameter_sets": parameter_sets, "exec_count": exec_count}


def sql_body(query_content: str) -> str:
    """The query without its comment lines."""
    return '\n'.join(l for l in query_content.split('\n')
                     if not l.strip().startswith('--')).strip()


class SeedExecutor:
    def __init__(self, connection_url: URL, concurrency_level: int,
                 pool_size: Optional[int] = None):
        pool_config = {
            "base_pool_size": pool_size or max(1, concurrency_level // 4),
            "max_overflow": concurrency_level,
            "pool_timeout": 30,
            "pool_recycle": 3600,
        }
        self._engine = create_async_engine(
            connection_url,
            pool_size=pool_config.get("base_pool_size", 5),
            max_overflow=pool_config.get("max_overflow", 10),
            pool_timeout=pool_config.get("pool_timeout", 30),
            pool_recycle=pool_config.get("pool_recycle", 3600),
            echo=False,
        )
        self.connections_opened = 0

        @event.listens_for(self._engine.sync_engine, "connect")
        def _on_connect(dbapi_conn, conn_record):  # counts pool opens
            self.connections_opened += 1

    @staticmethod
    def _convert_ps_placeholders(query: str, parameters: List[Any]) -> Tuple[str, Dict[str, Any]]:
        converted_query = query
        params_map = {}
        for i, param in enumerate(parameters, 1):
            placeholder = "%s"
            param_name = f"p{i}"
            converted_query = converted_query.replace(placeholder, f":{param_name}", 1)
            params_map[param_name] = param
        return converted_query, params_map

    async def _execute_single_query_async(self, query: str, parameters: List[Any],
                                          query_identifier: str,
                                          scenario_name: str) -> QueryExecutionResult:
        start = time.perf_counter()
        try:
            converted_query, params_map = self._convert_ps_placeholders(query, parameters)
            async with self._engine.connect() as conn:
                result = await conn.execute(text(converted_query), params_map)
                row_count = result.rowcount or 0
            return QueryExecutionResult(query_identifier, scenario_name, True,
                                        (time.perf_counter() - start) * 1000, row_count)
        except Exception as e:  # the seed isolates every failure
            return QueryExecutionResult(query_identifier, scenario_name, False,
                                        (time.perf_counter() - start) * 1000, 0, str(e))

    async def run(self, queries: List[Dict[str, Any]], concurrency_level: int,
                  deadline: Optional[float]) -> List[QueryExecutionResult]:
        sem = asyncio.Semaphore(concurrency_level)

        async def _runner(query_config: Dict[str, Any],
                          scenario: Dict[str, Any]) -> List[QueryExecutionResult]:
            results: List[QueryExecutionResult] = []
            exec_count = int(scenario.get('execution_count', 1))
            n = 0
            # Adaptation: with a deadline, loop until it instead of exec_count times.
            while (time.monotonic() < deadline) if deadline is not None else (n < exec_count):
                n += 1
                async with sem:
                    res = await self._execute_single_query_async(
                        query_config['query_content'], scenario['parameters'],
                        query_config['query_identifier'], scenario['name'])
                    results.append(res)
            return results

        tasks: List[asyncio.Task] = []
        for qc in queries:
            for sc in qc.get('test_scenarios', []):
                tasks.append(asyncio.create_task(_runner(qc, sc)))
        nested_results = await asyncio.gather(*tasks, return_exceptions=True)
        out: List[QueryExecutionResult] = []
        for r in nested_results:
            if isinstance(r, BaseException):
                out.append(QueryExecutionResult("?", "?", False, 0, 0, repr(r)))
            else:
                out.extend(r)
        return out

    async def dispose(self) -> None:
        await self._engine.dispose()


def load_queries(paths: List[str]) -> List[Dict[str, Any]]:
    queries = []
    for path in paths:
        with open(path) as f:
            content = f.read()
        fmt = validate_query_format(content)
        test_scenarios = []
        for i, params in enumerate(fmt["parameter_sets"] or [[]]):
            test_scenarios.append({"name": f"scenario_{i + 1}", "parameters": params,
                                   "execution_count": fmt["exec_count"]})
        queries.append({"query_identifier": os.path.basename(path),
                        "query_content": sql_body(content),
                        "test_scenarios": test_scenarios})
    return queries


async def amain(args: argparse.Namespace) -> Dict[str, Any]:
    url = URL.create("postgresql+asyncpg",
                     username=os.environ.get("PGUSER"),
                     database=os.environ.get("PGDATABASE"),
                     port=int(os.environ["PGPORT"]) if os.environ.get("PGPORT") else None,
                     # asyncpg takes a Unix socket directory as host
                     query={"host": os.environ.get("PGHOST", "localhost")})
    ex = SeedExecutor(url, args.concurrency, args.pool_size)
    queries = load_queries(args.files)
    t0 = time.monotonic()
    deadline = t0 + args.duration if args.duration else None
    results = await ex.run(queries, args.concurrency, deadline)
    wall = time.monotonic() - t0
    await ex.dispose()
    ok = sum(1 for r in results if r.success)
    first_error = next((r.error for r in results if not r.success), None)
    return {"executions": len(results), "succeeded": ok, "failed": len(results) - ok,
            "wall_s": wall, "qps": len(results) / wall if wall > 0 else 0,
            "connections_opened": ex.connections_opened, "first_error": first_error}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument("-c", "--concurrency", type=int, default=10)
    ap.add_argument("-T", "--duration", type=float, default=0,
                    help="loop each scenario until SEC seconds have passed (adaptation)")
    ap.add_argument("--pool-size", type=int, default=None,
                    help="override the seed's pool_size = max(1, c // 4) (not the seed; "
                         "for a what-if without connection churn)")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    rep = asyncio.run(amain(args))
    json.dump(rep, sys.stdout)
    sys.stdout.write("\n")
    return 0 if rep["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
