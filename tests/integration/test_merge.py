"""Shards and their exact merge (issue 11, item 5): `run --shard I/N`,
`--start-at`, the JSON report's encoded histograms and `pgvolley merge`.

Four shards of a count-based run against one server are merged: the counts
are the sums of the shards' and those of the unsharded plan; every merged
percentile is that of the histogram made of all the shards' buckets (decoded
here, independently of the C decoder, from the documented format) to within
a bucket; errors add up by SQLSTATE. Different workloads and sweeps do not
merge (exit 2); a time-based run divides the concurrency and the rate.
"""
import base64
import json
import math
import os
import time
import unittest

from pvtest import ServerTest

PCTS = (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9))


def varints(data):
    """The unsigned LEB128 varints of data, in order."""
    out, x, shift = [], 0, 0
    for byte in data:
        x |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            out.append(x)
            x, shift = 0, 0
    assert shift == 0, "truncated varint"
    return out


def skip_ld(v, i):
    """Index after the long double encoded at v[i]."""
    return i + 1 if v[i] == 0 else i + 2


def decode(text):
    """A "pvh1." histogram: (count, min, max, {bucket index: count})."""
    assert text.startswith("pvh1."), text[:10]
    b64 = text[5:]
    v = varints(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    count, i, lo, hi = v[0], 1, 0, 0
    if count:
        lo, hi = v[1], v[1] + v[2]
        i = skip_ld(v, skip_ld(v, 6))  # past sum_lo, sum_hi, shift, dsum, dsum2
    n, i = v[i], i + 1
    buckets, nxt = {}, 0
    for _ in range(n):
        idx = nxt + v[i]
        buckets[idx] = v[i + 1]
        nxt, i = idx + 1, i + 2
    assert i == len(v), "bytes after the buckets"
    return count, lo, hi, buckets


def bucket_bounds(idx):
    band, sub = idx >> 10, idx & 1023
    if band == 0:
        return sub, sub
    lo = (1024 + sub) << (band - 1)
    return lo, lo + (1 << (band - 1)) - 1


def percentile_ns(count, lo, hi, buckets, q):
    """pv_hist_percentile's definition: the bucket holding the value of rank
    ceil(q/100 * count), as its midpoint clamped to [min, max]."""
    rank = max(1, min(count, math.ceil(q * count / 100 - 1e-9)))
    seen = 0
    for idx in sorted(buckets):
        seen += buckets[idx]
        if seen >= rank:
            blo, bhi = bucket_bounds(idx)
            return min(max(blo + (bhi - blo) // 2, lo), hi), bhi - blo + 1
    raise AssertionError("rank beyond the buckets")


def without(v, keys=("timeline", "thresholds")):
    """v without the members the reader does not carry."""
    if isinstance(v, dict):
        return {k: without(x, keys) for k, x in v.items() if k not in keys}
    if isinstance(v, list):
        return [without(x, keys) for x in v]
    return v


class MergeTest(ServerTest):
    def workload(self):
        a = self.write("a.sql", "-- PARAMETERS: [[1], [2], [3]]\n-- EXEC_COUNT: 101\n"
                                "SELECT %s::int + g FROM generate_series(1, 20) g;\n")
        b = self.write("b.sql", "-- EXEC_COUNT: 37\nSELECT pg_sleep(0.0005 * random());\n")
        c = self.write("c.sql", "-- PARAMETERS: [[0], [1]]\n-- EXEC_COUNT: 13\n"
                                "SELECT 1 / %s::int;\n")
        return [a, b, c]

    def shards(self, files, n=4, extra=()):
        paths = []
        for i in range(n):
            out = os.path.join(self.dir, f"shard-{i}.json")
            r = self.pgvolley("run", "-q", "-c", "3", "--shard", f"{i}/{n}", "-o", out, *extra,
                              *files)
            self.assertIn(r.code, (0, 1), r.stderr)
            paths.append(out)
        return paths

    def merge(self, *args, expect=0):
        r = self.pgvolley("merge", *args)
        self.assertEqual(r.code, expect, r.stderr)
        return r

    def test_four_shards_merge_to_the_whole(self):
        files = self.workload()
        paths = self.shards(files)
        reps = [json.load(open(p)) for p in paths]
        for i, rep in enumerate(reps):
            self.assertEqual(rep["config"]["shard"], {"index": i, "count": 4})
        whole = self.run_json("-c", "3", *files, expect=1)
        out = os.path.join(self.dir, "merged.json")
        r = self.merge("-f", "json", "-o", out, *paths, expect=1)  # c.sql fails: exit 1
        merged = r.json()
        self.assertEqual(json.load(open(out)), merged)
        self.assertNotIn("shard", merged["config"])

        def groups(rep):
            yield "summary", rep["summary"]
            for q in rep["queries"]:
                yield q["name"], q
                for s in q["scenarios"]:
                    yield q["name"] + "/" + s["name"], s

        planned = 3 * 101 + 37 + 2 * 13
        self.assertEqual(merged["summary"]["executions"], planned)
        per_shard = [dict(groups(rep)) for rep in reps]
        unsharded = dict(groups(whole))
        for name, g in groups(merged):
            for key in ("executions", "succeeded", "failed", "rows"):
                self.assertEqual(g[key], sum(s[name][key] for s in per_shard), (name, key))
            self.assertEqual(g["executions"], unsharded[name]["executions"], name)
            self.assertEqual(g["failed"], unsharded[name]["failed"], name)
            # the merged histogram, against one made here of the shards' buckets
            count, lo, hi, buckets = 0, None, 0, {}
            for s in per_shard:
                n, slo, shi, sb = decode(s[name]["latency_ms"]["histogram"])
                if n:
                    count += n
                    lo = slo if lo is None else min(lo, slo)
                    hi = max(hi, shi)
                    for k, v in sb.items():
                        buckets[k] = buckets.get(k, 0) + v
            mcount, mlo, mhi, mbuckets = decode(g["latency_ms"]["histogram"])
            self.assertEqual((mcount, mlo, mhi, mbuckets), (count, lo or 0, hi, buckets), name)
            self.assertEqual(count, g["succeeded"], name)
            if not count:
                continue
            self.assertAlmostEqual(g["latency_ms"]["min"], lo / 1e6, places=9)
            self.assertAlmostEqual(g["latency_ms"]["max"], hi / 1e6, places=9)
            for key, q in PCTS:
                want, width = percentile_ns(count, lo, hi, buckets, q)
                got = g["latency_ms"][key] * 1e6
                self.assertLessEqual(abs(got - want), width + 1, (name, key, got, want))
        # errors, summed by SQLSTATE
        err = {e["sqlstate"]: e["count"] for e in merged["errors"]}
        self.assertEqual(err, {"22012": 13})
        # wall time: from the earliest start to the latest end
        starts = [rep["started_at_ms"] / 1e3 for rep in reps]
        ends = [st + rep["summary"]["wall_s"] for st, rep in zip(starts, reps)]
        self.assertAlmostEqual(merged["summary"]["wall_s"], max(ends) - min(starts), delta=0.002)
        self.assertEqual(merged["started_at_ms"], min(rep["started_at_ms"] for rep in reps))

        # the table and Markdown read the merged report too
        self.assertIn("Total", self.merge(*paths, expect=1).stdout)
        self.assertIn("|", self.merge("-f", "markdown", *paths, expect=1).stdout)

    def test_a_report_reads_back_unchanged(self):
        files = self.workload()
        out = os.path.join(self.dir, "one.json")
        r = self.pgvolley("run", "-q", "-c", "2", "-o", out, *files)
        self.assertEqual(r.code, 1, r.stderr)
        again = self.merge("-f", "json", out, expect=1)
        with open(out) as f:
            written = f.read()
        if '"timeline"' not in written and '"thresholds"' not in written:
            self.assertEqual(again.stdout, written)  # byte for byte
        # what the reader carries (a run's timeline and thresholds it does not)
        self.assertEqual(without(json.loads(again.stdout)), without(json.loads(written)))

    def test_what_does_not_merge(self):
        files = self.workload()
        paths = self.shards(files[:2], n=2)
        other = self.write("other.sql", "-- EXEC_COUNT: 5\nSELECT 2;\n")
        o = os.path.join(self.dir, "other.json")
        self.assertEqual(self.pgvolley("run", "-q", "-o", o, other).code, 0)
        r = self.merge(paths[0], o, expect=2)
        self.assertIn("not the workload of", r.stderr)
        self.assertIn("other.json", r.stderr)
        r = self.merge(paths[0], paths[0], expect=2)
        self.assertIn("both shard 0/2", r.stderr)
        sweep = os.path.join(self.dir, "sweep.json")
        self.assertEqual(self.pgvolley("run", "-q", "-c", "1,2", "-o", sweep, *files[:2]).code, 0)
        r = self.merge(paths[0], sweep, expect=2)
        self.assertIn("sweep", r.stderr)
        bad = self.write("bad.json", '{"schema": "pgvolley.report/1"}')
        r = self.merge(bad, expect=2)
        self.assertIn("bad.json", r.stderr)
        with open(paths[1]) as f:
            rep = json.load(f)
        rep["summary"]["latency_ms"]["histogram"] = "pvh1.AQ"
        r = self.merge(self.write("broken.json", json.dumps(rep)), expect=2)
        self.assertIn("broken.json: summary.latency_ms.histogram:", r.stderr)

    def test_time_based_shards_divide_concurrency_and_rate(self):
        f = self.write("t.sql", "SELECT 1;\n")
        conc = []
        for i in range(4):
            rep = self.run_json("-c", "6", "-T", "0.3", "--rate", "200", "--shard", f"{i}/4", f)
            conc.append(rep["config"]["concurrency"])
            self.assertAlmostEqual(rep["config"]["schedule"]["rate"], 50.0)
        self.assertEqual(conc, [2, 2, 1, 1])
        r = self.pgvolley("run", "-q", "-c", "3", "-T", "0.3", "--shard", "3/4", f)
        self.assertEqual(r.code, 2)
        self.assertIn("without a slot", r.stderr)

    def test_start_at(self):
        f = self.write("s.sql", "-- EXEC_COUNT: 3\nSELECT 1;\n")
        at = math.ceil(time.time()) + 2
        rep = self.run_json("--start-at", str(at), f)
        self.assertGreaterEqual(rep["started_at_ms"], at * 1000)
        self.assertLess(rep["started_at_ms"], at * 1000 + 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2 * 86400))
        r = self.pgvolley("run", "-q", "--start-at", stamp, f)
        self.assertEqual(r.code, 2)
        self.assertIn("24 hours", r.stderr)
        for bad in ("1/1", "4/4", "x/2", "-1/3", "2"):
            r = self.pgvolley("run", "-q", "--shard", bad, f)
            self.assertEqual(r.code, 2, bad)


if __name__ == "__main__":
    unittest.main()
