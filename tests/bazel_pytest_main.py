"""Bazel entry point for the pytest test files: `bazel_pytest_main.py tests/x_test.py`.

Each `py_test` in the top-level BUILD runs one test file through pytest from the runfiles
root, where pytest.ini (and so the rootdir) and tests/conftest.py are found as in a
checkout. If Bazel asks for a JUnit report (XML_OUTPUT_FILE), pytest writes it.
"""
import os
import sys

import pytest


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
    return pytest.main(args + list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
