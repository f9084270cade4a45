"""tools/probes.py's verdicts (issue 36's probes rerun as a script) on hand-made results."""
import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def probes():
    spec = importlib.util.spec_from_file_location(
        "probes", os.path.join(REPO, "tools", "probes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRACEBACK = ('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
             "KeyError: 'serve'\n")
ABSL = ("FATAL Flags parsing error: flag --method=nope: value should be one of <a|b>\n"
        "Pass --helpshort or --helpfull to see help on flags.\n")


@pytest.mark.parametrize("rc,stderr,expected", [
    (1, "some log line\nerror: --model_dir=/w/f is a file, not a folder\n", "OK"),
    (1, ABSL, "OK"),                          # absl's error line, then its hint
    (1, "error: Graph execution error:\n", "UNCLEAR"),  # refused, nothing named
    (0, "", "WRONG"),                         # bad input accepted
    (1, TRACEBACK, "TRACEBACK"),
    (-11, "", "CRASH"),                       # segfault
    (139, "error: /w/f is bad\n", "CRASH"),   # the shell's 128 + SIGSEGV
])
def test_a_refusal_is_ok_only_when_its_error_line_names_the_input(probes, rc, stderr,
                                                                   expected):
    name = "/w/f" if "/w/f" in stderr else "method"
    probe = probes.Probe("p", [], names=name)
    verdict, _ = probes.judge(probe, probes.Result(rc, "", stderr), "/w")
    assert verdict == expected


def test_an_expected_success_fails_on_its_exit_status_or_its_check(probes):
    ok = probes.Probe("p", [], ok=True)
    assert probes.judge(ok, probes.Result(0, "embedded 2 files\n", ""), "/w")[0] == "OK"
    assert probes.judge(ok, probes.Result(1, "", "error: x\n"), "/w")[0] == "WRONG"
    checked = probes.Probe("p", [], ok=True, check=lambda r, w: "cosine 0.5 < 0.98")
    assert probes.judge(checked, probes.Result(0, "", ""), "/w") == ("WRONG",
                                                                     "cosine 0.5 < 0.98")


def test_rewritten_files_are_found(probes, tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / ".lock").write_text("")
    before = probes._files(str(tmp_path))
    assert set(before) == {"a"} and probes._changed(before, probes._files(str(tmp_path))) is None
    (tmp_path / "a").write_text("2")
    (tmp_path / "b").write_text("new")
    assert probes._changed(before, probes._files(str(tmp_path))) == "rewrote ['b', 'a']"
