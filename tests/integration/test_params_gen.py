"""Drawn parameter values against a real throwaway PostgreSQL: GENERATE's
values stay in range and repeat with --seed, a PARAMETERS_FILE's rows and a
PARAMETERS_QUERY's sampled rows are the values bound, the report records
the seed and the spec, and malformed
headers stop before anything runs (exit 2, PATH:LINE:COL)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402

RECORD = """\
-- GENERATE: random(1, 100), zipfian(1, 1000, 1.5), gaussian(-50, 50, 2.5), string(12)
-- EXEC_COUNT: 300
INSERT INTO drawn (tag, u, z, g, s) VALUES ('{tag}', %s, %s, %s, %s);
"""


class ParamsGenTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql(
            "CREATE TABLE item (id int PRIMARY KEY, name text);"
            "INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 100) g;"
            "CREATE TABLE drawn (tag text, u int, z int, g int, s text);"
            "CREATE TABLE seen (tag text, id int, name text);")

    def record(self, tag, *args):
        f = self.write(f"{tag}.sql", RECORD.format(tag=tag))
        return self.run_json("-c", "1", "-j", "1", *args, f)

    def values(self, tag):
        return self.server.sql(f"SELECT u, z, g, s FROM drawn WHERE tag = '{tag}' "
                               "ORDER BY u, z, g, s").splitlines()

    def test_lookup_in_range(self):
        # an id out of range would divide by zero: every execution fails then
        f = self.write("lookup.sql", "-- GENERATE: random(1, 100)\n-- EXEC_COUNT: 200\n"
                                     "SELECT name FROM item WHERE id = $1 "
                                     "AND 1 / ($1::int BETWEEN 1 AND 100)::int = 1;\n")
        rep = self.run_json("-c", "4", "-j", "2", f)
        self.assertEqual(rep["summary"]["executions"], 200)
        self.assertEqual(rep["summary"]["failed"], 0)
        q = rep["queries"][0]
        self.assertEqual(q["rows"], 200)  # every id exists: one row each
        self.assertEqual([s["name"] for s in q["scenarios"]], ["generated"])
        self.assertEqual(q["scenarios"][0]["parameters"], {"generate": ["random(1, 100)"]})
        self.assertIsInstance(rep["config"]["seed"], int)

    def test_ranges_and_seed(self):
        rep = self.record("a", "--seed", "12345")
        self.assertEqual(rep["config"]["seed"], 12345)
        self.assertEqual(rep["summary"]["succeeded"], 300)
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM drawn WHERE tag = 'a' AND u BETWEEN 1 AND 100 "
            "AND z BETWEEN 1 AND 1000 AND g BETWEEN -50 AND 50 AND s ~ '^[A-Za-z0-9]{12}$'"),
            "300")
        # skew: zipfian's rank 1 is the most frequent value, gaussian's middle beats its edges
        self.assertEqual(self.server.sql(
            "SELECT z FROM drawn WHERE tag = 'a' GROUP BY z ORDER BY count(*) DESC, z LIMIT 1"),
            "1")
        self.assertEqual(self.server.sql(
            "SELECT count(*) FILTER (WHERE g BETWEEN -10 AND 10) > "
            "2 * count(*) FILTER (WHERE g < -30 OR g > 30) FROM drawn WHERE tag = 'a'"), "t")
        # the same seed gives the same values; another seed, others
        self.record("b", "--seed", "12345")
        self.record("c", "--seed", "54321")
        self.assertEqual(self.values("a"), self.values("b"))
        self.assertNotEqual(self.values("a"), self.values("c"))
        # without --seed, a random seed that the report gives, and that repeats the run
        rep = self.record("d")
        seed = rep["config"]["seed"]
        self.assertGreaterEqual(seed, 0)
        self.record("e", "--seed", str(seed), "--protocol", "extended")
        self.assertEqual(self.values("d"), self.values("e"))

    def test_pipeline_draws(self):
        rep = self.record("p", "--pipeline", "8", "--seed", "7")
        self.assertEqual(rep["summary"]["succeeded"], 300)
        self.assertEqual(self.server.sql(
            "SELECT count(DISTINCT s) FROM drawn WHERE tag = 'p'"), "300")

    def test_csv_values(self):
        self.write("keys.csv", 'name,id,extra\n"item 3",3,x\n"item, quoted ""7""",7,\n')
        f = self.write("csv.sql", "-- PARAMETERS_FILE: keys.csv (id, name)\n-- EXEC_COUNT: 50\n"
                                  "INSERT INTO seen VALUES ('csv', %s, %s);\n")
        rep = self.run_json("-c", "2", "-j", "1", "--seed", "1", f)
        self.assertEqual(rep["summary"]["succeeded"], 50)
        sc = rep["queries"][0]["scenarios"][0]
        self.assertEqual(sc["name"], "csv")
        self.assertEqual(sc["parameters"],
                         {"file": "keys.csv", "columns": ["id", "name"], "rows": 2})
        rows = self.server.sql("SELECT id, name, count(*) FROM seen WHERE tag = 'csv' "
                               "GROUP BY 1, 2 ORDER BY 1").splitlines()
        self.assertEqual([r.rsplit("|", 1)[0] for r in rows],
                         ['3|item 3', '7|item, quoted "7"'])
        self.assertTrue(all(int(r.rsplit("|", 1)[1]) > 5 for r in rows))

    def test_sampled_from_the_database(self):
        f = self.write("q.sql", "-- PARAMETERS_QUERY: SELECT id, name FROM item WHERE id % 10 = 0\n"
                                "-- EXEC_COUNT: 100\nINSERT INTO seen VALUES ('q', %s, %s);\n")
        rep = self.run_json("-c", "3", "-j", "2", f)
        self.assertEqual(rep["summary"]["succeeded"], 100)
        sc = rep["queries"][0]["scenarios"][0]
        self.assertEqual(sc["name"], "sampled")
        self.assertEqual(sc["parameters"], {
            "query": "SELECT id, name FROM item WHERE id % 10 = 0", "rows": 10})
        self.assertEqual(self.server.sql(
            "SELECT count(*), count(*) FILTER (WHERE id % 10 = 0 AND name = 'item ' || id), "
            "count(DISTINCT id) > 5 FROM seen WHERE tag = 'q'"), "100|100|t")

    def test_sample_errors(self):
        cases = [
            ("-- PARAMETERS_QUERY: SELECT nope FROM item\nSELECT %s\n",
             ':1:22: PARAMETERS_QUERY failed: 42703 column "nope" does not exist'),
            ("-- PARAMETERS_QUERY: SELECT id FROM item WHERE false\nSELECT %s\n",
             ":1:22: PARAMETERS_QUERY returned no row"),
            ("-- PARAMETERS_QUERY: SELECT id, name FROM item\nSELECT %s\n",
             ":1:22: PARAMETERS_QUERY returns 2 columns but the query has 1 placeholder"),
        ]
        for text, want in cases:
            f = self.write("bad.sql", text)
            r = self.pgvolley("run", "-q", f)
            self.assertEqual(r.code, 2, r.stderr)
            self.assertIn(f + want, r.stderr)

    def test_bad_headers_exit_2(self):
        cases = [
            ("-- GENERATE: random(1, 10), gaussian(1, 10, 1.0)\nSELECT $1, $2\n",
             ":1:29: random_gaussian parameter must be at least 2.0, not 1"),
            ("SELECT %s\n-- GENERATE: zipf(1, 10, 2)\n", ":2:14: unknown generator \"zipf\""),
            ("-- GENERATE: random(1, 10)\nSELECT %s, %s\n",
             ":1:14: GENERATE gives 1 generator but the query has 2 placeholders"),
            ("-- PARAMETERS_FILE: missing.csv\nSELECT %s\n",
             ":1:21: PARAMETERS_FILE: "),
        ]
        for text, want in cases:
            f = self.write("bad.sql", text)
            r = self.pgvolley("run", "-q", f)
            self.assertEqual(r.code, 2, r.stderr)
            self.assertIn(f + want, r.stderr)
        self.write("bad.csv", "a,b\n1,2\n3\n")
        f = self.write("badcsv.sql", "-- PARAMETERS_FILE: bad.csv\nSELECT %s, %s\n")
        r = self.pgvolley("run", "-q", f)
        self.assertEqual(r.code, 2, r.stderr)
        self.assertIn(os.path.join(self.dir, "bad.csv") + ":3:1: this row has 1 field but the "
                      "header row has 2", r.stderr)
        r = self.pgvolley("run", "-q", "--seed", "-1", f)
        self.assertEqual(r.code, 2)
        self.assertIn("--seed", r.stderr)


if __name__ == "__main__":
    unittest.main()
