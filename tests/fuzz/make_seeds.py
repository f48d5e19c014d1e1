#!/usr/bin/env python3
"""make_seeds.py - writes the committed seed corpora tests/fuzz/corpus/<target>/
from tests/data, the examples and hand-written messages. Run from the source
root after changing a seed source; the output is committed (the fuzz runs
never write into it)."""
import glob
import json
import os

ROOT = 'tests/fuzz/corpus'


def w(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# workload: a flag byte (limits; see fuzz_workload.c), then the file.
files = sorted(glob.glob('tests/data/workload/*.sql') + glob.glob('tests/data/workload/dir/*.sql')
               + glob.glob('examples/*.sql'))
for f in files:
    if not os.path.isfile(f):
        continue
    t = open(f, 'rb').read()
    w('workload', os.path.basename(f), b'\x00' + t)
    w('workload', 'limits_' + os.path.basename(f), b'\x0f' + t)
w('workload', 'params_types.sql',
  b'\x00-- PARAMETERS: [[1, "a", null, true, {"k": [1, 2.50]}, [[1,2],[3,null]], -1e5]]\n'
  b'-- EXEC_COUNT: 3\nSELECT $1::int, $2, $3, $4, $5::jsonb, $6::int[], $7::float8;\n')
w('workload', 'generate.sql',
  b'\x00-- GENERATE: random(1, 100000), zipfian(1, 1000, 1.07), string(16)\n'
  b'SELECT $1::int, $2::int, $3;\n')
w('workload', 'generate_all.sql',
  b'\x00-- GENERATE: uniform(-5,5), random_exponential(0, 9, 0.5), random_gaussian(10, 20, 2.0),'
  b' gaussian(-1, 1, 1e1), random_zipfian(7, 7, 1000), string(0)\nSELECT %s, %s, %s, %s, %s, %s\n')
w('workload', 'suite_headers.sql',
  b'\x00-- TARGET: avg < 5ms, p95 < 10ms, qps > 500\n-- CONCURRENCY: 10\n-- DURATION: 2.5s\n'
  b'-- GENERATE: random(1, 2000)\nSELECT $1 * interval \'1 hour\', $1;\n')
w('workload', 'dollar_quote.sql',
  b"\x00-- a comment\n/* block */ SELECT $$x$$ || $1 -- trailing\n-- PARAMETERS: [[\"q\"]]\n")

# params: a byte (placeholders in bits 0-1, depth limit 3 in bit 2), then PARAMETERS.
P = [(1, '[[1], [2], [3]]'), (2, '[[1, "AAAA"], [2.5, null]]'),
     (3, '[[true, false, {"a": {"b": [1, 2]}}]]'), (1, '[[[1, [2, 3], "x\\"y", null]]]'),
     (2, '[["\\u00e9\\u20ac", 12345678901234567890123]]'), (0, '[[]]'), (1, '[[-0.0e-3]]'),
     (3, '[[{"k": 1E400}, "", 0]]'), (1 | 4, '[[[[1]]]]'), (1, '[ [ 1 ] , [ "2" ] ]')]
for i, (b, j) in enumerate(P):
    w('params', 'seed%02d' % i, bytes([b]) + j.encode())

# datasets: INI files.
w('datasets', 'example.ini', open('examples/datasets.ini', 'rb').read())
w('datasets', 'two.ini', "[sales]\ndsn = host=127.0.0.1 port=1 dbname=sales\ndescription = Orders\n"
  "[hr]\ndsn = postgresql://u:p@h/db\nmax_rows = 5\npool_min = 0\npool_max = 1\n")
w('datasets', 'errors.ini', "key = outside\n[a]\ndsn=x\nunknown=1\n[a]\n")
w('datasets', 'numbers.ini', "[n]\ndsn = service=x\nmax_rows = -1\n"
  "statement_timeout_ms = 99999999999999999999\npool_min = 5\npool_max = 4\n")
w('datasets', 'comments.ini',
  "; c\n# c\n  [x.y-z_1]\n  dsn = a ; comment\n\tdescription = \"quoted\" # not a comment\n")

# jsonrpc: messages; mcp: a byte (bit 0: initialize first), then a message.
msgs = {
    'init': '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":'
            '"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}',
    'ping': '{"jsonrpc":"2.0","id":"p","method":"ping"}',
    'list': '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    'note': '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    'resp': '{"jsonrpc":"2.0","id":5,"result":{}}',
    'resp_err': '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x","data":[1]}}',
    'batch': '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"},3,'
             '{"jsonrpc":"2.0","id":2.5,"method":"ping"}]',
    'bad_version': '{"jsonrpc":"1.0","id":1,"method":"ping","params":[1]}',
    'dup': '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
    'empty_batch': '[]',
    'scalar': '"x"',
    'not_json': '{"jsonrpc":',
    'call_list': '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":'
                 '"list_available_datasets","arguments":{"detail":"full"}}}',
    'call_schema': '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":'
                   '"get_dataset_schema","arguments":{"dataset":"sales"}}}',
    'call_query': '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"query_dataset",'
                  '"arguments":{"dataset":"sales","query":"SELECT 1"},"_meta":{"progressToken":"t"}}}',
    'call_query_write': '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":'
                        '"query_dataset","arguments":{"dataset":"sales","query":"DELETE FROM t"}}}',
    'call_sample': '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":'
                   '"get_dataset_sample","arguments":{"dataset":"sales","table":'
                   '"public.\\"Order Items\\"","limit":5}}}',
    'call_multi': '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":'
                  '"execute_multi_query","arguments":{"queries":[{"dataset":"sales","query":'
                  '"SELECT 1"},{"dataset":"nope","query":"SELECT 2"},{"dataset":"sales","query":'
                  '"UPDATE t SET a=1"}]}}}',
    'call_context': '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_context",'
                    '"arguments":{"level":2}}}',
    'call_explain': '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":'
                    '"explain_query","arguments":{"dataset":"sales","query":"SELECT 1",'
                    '"format":"json","analyze":true}}}',
    'call_explain_write': '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":'
                          '"explain_query","arguments":{"dataset":"sales","query":'
                          '"/* x */ EXPLAIN ANALYZE DELETE FROM t","analyze":true}}}',
    'call_health': '{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":'
                   '"get_long_transactions","arguments":{"dataset":"sales","min_seconds":5,'
                   '"limit":3}}}',
    'call_unknown': '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":'
                    '"drop_everything","arguments":{}}}',
    'cancel_batch': '[{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":'
                    '"query_dataset","arguments":{"dataset":"sales","query":"SELECT pg_sleep(1)"}}},'
                    '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":11}}]',
    'unknown_method': '{"jsonrpc":"2.0","id":12,"method":"resources/list","params":{}}',
}
for k, v in msgs.items():
    w('jsonrpc', k + '.json', v)
    w('mcp', k + '.json', b'\x01' + v.encode())
w('mcp', 'uninit_list.json', b'\x00' + msgs['list'].encode())
w('mcp', 'init_again.json', b'\x03' + msgs['init'].encode())
w('jsonrpc', 'tools_list_golden.json', open('tests/data/mcp_tools_list.json', 'rb').read())

# guard: a byte (odd: allow-list mode), then SQL.
for f in ('tests/data/attacks.json', 'tests/data/readonly_ok.json'):
    for e in json.load(open(f)):
        w('guard', e['name'], b'\x00' + e['sql'].encode())
# guard with explain_analyze (bit 1 of the first byte).
for i, q in enumerate(["EXPLAIN ANALYZE SELECT 1", "EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM t",
                       "EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING 1) SELECT 1"]):
    w('guard', 'explain_analyze%d' % i, b'\x02' + q.encode())
for i, q in enumerate(["SELECT lower(a), count(*) FROM t GROUP BY 1", "SELECT now(), upper('x')",
                       "SELECT set_config('a','b',false)", "EXPLAIN (ANALYZE false) SELECT 1",
                       "SHOW work_mem"]):
    w('guard', 'allow%d' % i, b'\x01' + q.encode())

# shape: --stages specs, good and bad.
for i, spec in enumerate(["30s:100,2m:100,30s:0", "1s:5", "0:10,1.5s:0", "250ms:3, 2m : 7 ,1h:0",
                          "10:0,10:0,1:1", "1x:5", "", "1s", "-1s:4", "1e3:4"]):
    w('shape', 'seed%02d' % i, spec)

# what fuzz_mcp found: a parse error whose message quoted invalid UTF-8 got no answer
w('mcp', 'regress_invalid_escape_utf8',
  b'\x01{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_dataset_sample",'
  b'"arguments":{"dataset":"sales","table":"public.\\\xde\xa6rder Items\\"","limit":5}}}')

# hist: the encoded histograms of the committed sample reports, and an empty one.
hists = set()
for f in sorted(glob.glob('tests/data/report/*.json')):
    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == 'histogram' and isinstance(x, str):
                    hists.add(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(json.load(open(f)))
for i, h in enumerate(sorted(hists, key=lambda s: (len(s), s))[:24]):
    w('hist', 'seed%02d' % i, h)
w('hist', 'empty', 'pvh1.AAA')
