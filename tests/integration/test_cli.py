"""The command line without a server: --help on every command, --version,
usage errors and their exit code."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from pvtest import PGVOLLEY, find_psql  # noqa: E402


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

    def test_ephemeral_settings(self):
        # -c/--set reach the server, as postgres -c; bad ones are usage errors
        # (2) or the server's own refusal (3)
        r = subprocess.run([PGVOLLEY, "ephemeral", "-c", "work_mem=7MB", "--set",
                            "lock_timeout=4321", "--", find_psql(), "-XAt", "-c",
                            "SELECT current_setting('work_mem') || ' ' || "
                            "current_setting('lock_timeout')"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual((r.returncode, r.stdout), (0, "7MB 4321ms\n"), r.stderr)
        for bad in ("work_mem", "=1", "bad name=1", "x;y=1"):
            r = run("ephemeral", "-c", bad, "--", "true")
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("takes NAME=VALUE", r.stderr)
        r = subprocess.run([PGVOLLEY, "ephemeral", "-c", "no_such_setting=1", "--", "true"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 3)
        self.assertIn('unrecognized configuration parameter "no_such_setting"', r.stderr)

    def test_option_errors_name_the_option(self):
        """Every bad value of run's number options: the message names the option as
        written (long or short; --opt=V and --opt V) and states the real range."""
        year = "31536000"
        cases = [
            # (long, short, bad values, fragments of the range)
            ("--concurrency", "-c", ["0", "10001", "1,,2", "x"], ["1 to 10000"]),
            ("--threads", "-j", ["0", "1025", "x"], ["1 to 1024"]),
            ("--duration", "-T", ["0", "-1", "1e9", "x"], ["0.001 to " + year]),
            ("--warmup", None, ["-1", "1e9", "x"], ["0 to " + year]),
            ("--exec-count", None, ["0", "1000000001", "1.5"], ["1 to 1000000000"]),
            ("--pool-size", None, ["0", "50001", "x"], ["1 to 50000"]),
            ("--max-overflow", None, ["-1", "50001", "x"], ["0 to 50000"]),
            ("--pool-timeout", None, ["0", "1e9", "x"], ["0.001 to " + year]),
            ("--pool-recycle", None, ["0", "1e9", "x"], ["0.001 to " + year]),
            ("--command-timeout", None, ["-1", "1e9", "x"], ["0 (none) to " + year]),
            ("--connect-timeout", None, ["0", "1e9", "x"], ["0.001 to " + year]),
            ("--retries", None, ["-1", "101", "x"], ["0 to 100"]),
            ("--pipeline", None, ["0", "1001", "x"], ["1 to 1000"]),
            ("--progress", None, ["0", "0.05", "1e9", "x"], ["0.1 to " + year]),
        ]
        for long, short, values, ranges in cases:
            for v in values:
                forms = [([f"{long}={v}"], long), ([long, v], long)]
                if short:
                    forms += [([short, v], short), ([short + v], short)]
                for args, name in forms:
                    with self.subTest(args=args):
                        r = run("run", *args, "f.sql")
                        self.assertEqual(r.returncode, 2, r.stderr)
                        first = r.stderr.splitlines()[0]
                        self.assertTrue(first.startswith(f"pgvolley run: {name} takes "), first)
                        self.assertIn(f"not '{v}'", first)
                        for frag in ranges:
                            self.assertIn(frag, first)
        # abbreviated long options are named in full; unknown ones as written
        r = run("run", "--pool-t", "0", "f.sql")
        self.assertIn("pgvolley run: --pool-timeout takes", r.stderr)
        r = run("run", "--bogus=1", "f.sql")
        self.assertIn("unknown option '--bogus=1'", r.stderr)
        r = run("run", "-qx", "f.sql")
        self.assertIn("unknown option '-x'", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
