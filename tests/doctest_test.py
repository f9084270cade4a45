"""The `Example:` sections of the public API's docstrings, run as doctests (fast tier).

Every module listed must hold at least one example and all of them must pass, so an
example that breaks, or a module whose examples vanish, fails here.
"""
import doctest
import importlib

import pytest

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = [
    "clar_tf.layers.temporal",
    "clar_tf.layers.noise",
    "clar_tf.layers.vocoder",
    "clar_tf.layers.chain",
    "clar_tf.layers.frontend",
    "clar_tf.optim",
    "clar_tf.losses",
    "clar_tf.embed",
]


def run_doctests(tests):
    """Runs `doctest.DocTest`s; returns (failed, attempted, report of the failures)."""
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    failed = attempted = 0
    for test in tests:
        result = runner.run(test, out=report.append)
        failed += result.failed
        attempted += result.attempted
    return failed, attempted, "".join(report)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    module = importlib.import_module(name)
    failed, attempted, report = run_doctests(doctest.DocTestFinder().find(module))
    assert attempted > 0, f"{name} has no docstring examples"
    assert failed == 0, f"{failed} of {attempted} examples of {name} failed:\n{report}"


def test_runner_catches_a_wrong_example():
    text = """
    >>> 1 + 1
    2
    >>> [1.0, 2.0]
    [1.0,   2.0]
    >>> 2 + 2
    5
    """
    test = doctest.DocTestParser().get_doctest(text, {}, "wrong", "wrong.py", 0)
    failed, attempted, report = run_doctests([test])
    assert (failed, attempted) == (1, 3)
    assert "Expected:\n    5\nGot:\n    4" in report
