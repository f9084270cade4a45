"""The two test tiers: `pytest -m "not slow"` (fast) and `-m slow`. BUILD's
SLOW_TEST_FILES names exactly the files that hold slow tests (so Bazel's slow targets
cover them), and the Bazel entry point maps `--tier` to pytest's marker expression."""
import ast
import glob
import os

import pytest

import bazel_pytest_main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build_list(name):
    with open(os.path.join(REPO, "BUILD")) as f:
        tree = ast.parse(f.read())
    return next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", None) == name)


def has_slow_tests(source):
    """Whether a test file's source marks a test (or the whole module) slow."""
    for node in ast.walk(ast.parse(source)):
        decorators = getattr(node, "decorator_list", [])
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and any(
                "mark.slow" in ast.unparse(d) for d in decorators):
            return True
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark"
                                                for t in node.targets):
            if "mark.slow" in ast.unparse(node.value):
                return True
    return False


def test_has_slow_tests_reads_decorators_and_module_marks():
    assert has_slow_tests("import pytest\n@pytest.mark.slow\ndef test_a():\n    pass\n")
    assert has_slow_tests("import pytest\npytestmark = [pytest.mark.slow]\n")
    assert not has_slow_tests("import pytest\n@pytest.mark.parametrize('x', [1])\n"
                              "def test_a(x):\n    pass\n# pytest.mark.slow\n")


def test_build_lists_exactly_the_files_with_slow_tests():
    found = set()
    for path in glob.glob(os.path.join(REPO, "tests", "*_test.py")):
        with open(path) as f:
            if has_slow_tests(f.read()):
                found.add(os.path.basename(path)[:-3])
    assert sorted(found) == sorted(_build_list("SLOW_TEST_FILES"))


@pytest.mark.parametrize("tier, marker", [("fast", "not slow"), ("slow", "slow")])
def test_bazel_tier_selects_the_marker(monkeypatch, tier, marker):
    seen = []
    monkeypatch.setattr(bazel_pytest_main.pytest, "main",
                        lambda args: seen.append(args) or pytest.ExitCode.NO_TESTS_COLLECTED)
    monkeypatch.delenv("TEST_SRCDIR", raising=False)
    monkeypatch.delenv("XML_OUTPUT_FILE", raising=False)
    assert bazel_pytest_main.main(["tests/x_test.py", f"--tier={tier}"]) == 0
    assert seen == [["tests/x_test.py", "-q", "-p", "no:cacheprovider", "-m", marker]]
    # Without a tier, "no tests" stays a failure.
    assert bazel_pytest_main.main(["tests/x_test.py"]) == pytest.ExitCode.NO_TESTS_COLLECTED
