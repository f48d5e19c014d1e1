"""Every malformed workload file or argument: exit code 2, one line on stderr
naming the file (and line where it applies), and nothing runs - all files
are validated before the first query is sent."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import ServerTest  # noqa: E402

GOOD_INSERT = "-- EXEC_COUNT: 1\nINSERT INTO witness VALUES (1);\n"

CASES = {
    # name: (content, expected fragment of the message)
    "invalid_json": ("-- PARAMETERS: [[1, 2], [3,\nSELECT %s, %s;\n", ":1:"),
    "json_not_array": ("-- PARAMETERS: {\"a\": 1}\nSELECT 1;\n", ":1"),
    "wrong_set_length": ("-- PARAMETERS: [[1, 2], [3]]\nSELECT %s, %s;\n", "set 2"),
    "exec_count_zero": ("-- EXEC_COUNT: 0\nSELECT 1;\n", ":1"),
    "exec_count_negative": ("-- EXEC_COUNT: -3\nSELECT 1;\n", ":1"),
    "exec_count_text": ("-- EXEC_COUNT: many\nSELECT 1;\n", ":1"),
    "exec_count_huge": ("-- EXEC_COUNT: 99999999999999999999\nSELECT 1;\n", ":1"),
    "empty": ("", "empty"),
    "comment_only": ("-- just a comment\n/* and another */\n", "statement"),
    "two_statements": ("SELECT 1; SELECT 2;\n", "statement"),
    "unterminated_string": ("SELECT 'abc;\n", "unterminated"),
    "unterminated_comment": ("SELECT 1 /* never closed\n", "unterminated"),
    "unterminated_dollar": ("SELECT $x$ abc\n", "unterminated"),
    "duplicate_header": ("-- EXEC_COUNT: 2\n-- EXEC_COUNT: 3\nSELECT 1;\n", "EXEC_COUNT"),
    "mixed_placeholders": ("-- PARAMETERS: [[1, 2]]\nSELECT %s, $2;\n", "mix"),
    # jansson's own flag names never reach the user
    "nul_in_parameter": ('-- PARAMETERS: [["a\\u0000b"]]\nSELECT %s;\n', "NUL character"),
}


class BadInputTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.sql("CREATE TABLE witness (v int)")

    def assert_rejected(self, path, fragment=None):
        good = self.write("0_good_insert.sql", GOOD_INSERT)
        r = self.pgvolley("run", "-q", good, path, timeout=30)
        self.assertEqual(r.code, 2, f"{path}: stdout={r.stdout!r} stderr={r.stderr!r}")
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(os.path.basename(path), lines[0])
        if fragment:
            self.assertIn(fragment.lower(), lines[0].lower())
        self.assertEqual(r.stdout, "")
        # nothing ran: the good file's INSERT was never sent
        self.assertEqual(self.server.sql("SELECT count(*) FROM witness"), "0")

    def test_cases(self):
        for name, (content, fragment) in CASES.items():
            with self.subTest(name):
                self.assert_rejected(self.write(name + ".sql", content), fragment)

    def test_binary_content(self):
        self.assert_rejected(self.write("bin.sql", b"SELECT 1;\x00\x01\x02\xff\n"), "binary")

    def test_invalid_utf8(self):
        self.assert_rejected(self.write("latin1.sql", b"SELECT '\xe9t\xe9';\n"))

    def test_giant_line(self):
        self.assert_rejected(self.write("giant.sql", "SELECT '" + "x" * (2 << 20) + "';\n"),
                             ":1")

    def test_deeply_nested_json(self):
        n = 100000
        self.assert_rejected(self.write("deep.sql", "-- PARAMETERS: " + "[" * n + "]" * n +
                                        "\nSELECT 1;\n"))

    def test_missing_file(self):
        self.assert_rejected(os.path.join(self.dir, "nope.sql"))

    def test_directory_without_sql(self):
        d = os.path.join(self.dir, "emptydir")
        os.mkdir(d)
        self.assert_rejected(d)

    def test_directory_sorted(self):
        d = os.path.join(self.dir, "wl")
        os.mkdir(d)
        for name in ("b.sql", "a.sql", "c.txt"):
            with open(os.path.join(d, name), "w") as f:
                f.write("-- EXEC_COUNT: 2\nSELECT 1;\n")
        rep = self.run_json(d)
        self.assertEqual([q["name"] for q in rep["queries"]], ["a.sql", "b.sql"])
        self.assertEqual(rep["summary"]["executions"], 4)

    def test_fifo_and_device_refused(self):
        """A FIFO (no writer: open() would wait for ever) or a device is refused
        without being opened, in a few seconds at most."""
        fifo = os.path.join(self.dir, "w.sql")
        os.mkfifo(fifo)
        self.assert_rejected(fifo, "is a FIFO")
        self.assert_rejected("/dev/null", "is a device")

    def test_bad_arguments(self):
        f = self.write("one.sql", "SELECT 1;\n")
        for args in (["-c", "0"], ["-c", "10001"], ["-c", "1,,2"], ["-c", "x"],
                     ["-j", "0"], ["-T", "-1"], ["--protocol", "nope"], ["--format", "xml"],
                     ["--exec-count", "0"], ["--pool-size", "0"], ["--bogus"],
                     ["--command-timeout", "abc"]):
            with self.subTest(args=args):
                r = self.pgvolley("run", *args, f)
                self.assertEqual(r.code, 2, r.stderr)
                self.assertIn("pgvolley run:", r.stderr)
        r = self.pgvolley("run", dsn=False)
        self.assertEqual(r.code, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
