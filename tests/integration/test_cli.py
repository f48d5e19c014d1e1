"""The command line without a server: --help on every command, --version,
usage errors and their exit code."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY  # noqa: E402


def run(*args):
    return subprocess.run([PGVOLLEY] + list(args), capture_output=True, text=True, timeout=30)


class CliTest(unittest.TestCase):
    def test_help_everywhere(self):
        for cmd in ([], ["run"], ["demo"], ["ephemeral"]):
            for flag in ("--help", "-h"):
                r = run(*cmd, flag)
                self.assertEqual(r.returncode, 0, (cmd, r.stderr))
                self.assertIn("Usage: pgvolley", r.stdout)
                self.assertEqual(r.stderr, "")
        r = run("run", "--help")
        for opt in ("--concurrency", "--threads", "--duration", "--warmup", "--exec-count",
                    "--protocol", "--pool-size", "--max-overflow", "--pool-timeout",
                    "--pool-recycle", "--command-timeout", "--connect-timeout", "--format",
                    "--output", "--progress", "--quiet", "--ephemeral", "--dsn"):
            self.assertIn(opt, r.stdout)

    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^pgvolley \d+\.\d+\.\d+\n$")

    def test_usage_errors(self):
        for args in ([], ["nope"], ["run"], ["run", "--dsn", "x", "--ephemeral", "f.sql"],
                     ["demo", "--bogus"], ["ephemeral", "--bogus"], ["run", "-c"]):
            r = run(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertTrue(r.stderr.strip(), args)
            self.assertEqual(r.stdout, "", args)


if __name__ == "__main__":
    unittest.main(verbosity=2)
