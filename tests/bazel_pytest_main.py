"""Bazel entry point for the pytest test files:
`bazel_pytest_main.py tests/x_test.py --tier=fast|slow [pytest args...]`.

Each `py_test` in the top-level BUILD runs one tier of one test file through pytest from
the runfiles root, where pytest.ini (and so the rootdir) and tests/conftest.py are found
as in a checkout: `--tier=fast` runs `-m "not slow"`, `--tier=slow` runs `-m slow` (an
argument of its own, since Bazel splits `args` at spaces). A tier with no tests in the
file passes. If Bazel asks for a JUnit report (XML_OUTPUT_FILE), pytest writes it.
"""
import os
import sys

import pytest

TIERS = {"--tier=fast": "not slow", "--tier=slow": "slow"}


def main(argv):
    if not argv:
        sys.exit("usage: bazel_pytest_main.py TEST_FILE [pytest args...]")
    srcdir, workspace = os.environ.get("TEST_SRCDIR"), os.environ.get("TEST_WORKSPACE")
    if srcdir and workspace and os.path.isdir(os.path.join(srcdir, workspace)):
        os.chdir(os.path.join(srcdir, workspace))
    sys.dont_write_bytecode = True  # keep __pycache__ out of the runfiles tree
    args = [argv[0], "-q", "-p", "no:cacheprovider"]
    if os.environ.get("XML_OUTPUT_FILE"):
        args.append("--junitxml=" + os.environ["XML_OUTPUT_FILE"])
    rest = list(argv[1:])
    tiers = [a for a in rest if a.startswith("--tier=")]
    for tier in tiers:
        rest.remove(tier)
        if tier not in TIERS:
            sys.exit(f"bazel_pytest_main.py: {tier} is not one of {', '.join(TIERS)}")
        args += ["-m", TIERS[tier]]
    code = pytest.main(args + rest)
    if tiers and code == pytest.ExitCode.NO_TESTS_COLLECTED:
        return 0  # every test of the file is in the other tier
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
