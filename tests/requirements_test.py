"""requirements.txt, the exact versions of CI's core venv (tools/freeze_requirements.sh;
setup.sh installs with it as constraints), pins every dependency of pyproject.toml's
`[project].dependencies` and `dev` extra inside its supported range; requirements-tfx.txt,
where it exists, the same for the TFX venv (`.[tfx,dev]`)."""
import os
import re

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10 (the TFX venv): pytest brings tomli there
    tomllib = pytest.importorskip("tomli")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;@]+)")
PYTHON = re.compile(r"# python: (\d+\.\d+(?:\.\d+)?)\b")


def _project():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def read_pins(path):
    """({canonical name: version}, the `# python:` version of the header or None) of a
    frozen requirements file; fails on any line but `name==version` and comments, and on
    a package pinned twice."""
    pins, python = {}, None
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                match = PYTHON.match(line)
                python = match.group(1) if match else python
                continue
            match = PIN.fullmatch(line)
            assert match, f"{path}:{number}: not a name==version line: {line!r}"
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"{path}:{number}: {name} pinned twice"
            Version(match.group(2))  # raises InvalidVersion
            pins[name] = match.group(2)
    return pins, python


def out_of_range(requirements, pins, python):
    """What is wrong with `pins` for `requirements` (pyproject.toml strings), as messages;
    environment markers are evaluated for Python `python` (the frozen venv's), and a
    requirement whose marker is false there is skipped."""
    env = default_environment()
    env.update(python_full_version=python, python_version=".".join(python.split(".")[:2]))
    problems = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not pinned")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version}: outside {req.specifier}")
    return problems


def _check(filename, extras):
    path = os.path.join(REPO, filename)
    pins, python = read_pins(path)
    assert python, f"{filename}: no '# python: X.Y.Z' header line (setup.sh reads it)"
    assert "clar-tf" not in pins
    project = _project()
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    assert out_of_range(requirements, pins, python) == []
    with open(path) as f:
        assert "tools/freeze_requirements.sh" in f.read(), "the header names the command"
    return pins, python


def test_requirements_txt_pins_the_core_and_dev_dependencies_in_range():
    pins, _ = _check("requirements.txt", ["dev"])
    assert {"tensorflow", "keras", "kapre", "pytest"} <= set(pins)


def test_requirements_tfx_txt_pins_the_tfx_venv_in_range():
    if not os.path.exists(os.path.join(REPO, "requirements-tfx.txt")):
        pytest.skip("no requirements-tfx.txt: make it with "
                    "`bash tools/freeze_requirements.sh .venv-tfx requirements-tfx.txt`")
    pins, python = _check("requirements-tfx.txt", ["tfx", "dev"])
    assert python.startswith("3.10.") and "tfx" in pins  # TFX 1.16: Python 3.10 only


def test_the_range_check_rejects_pins_outside_the_range():
    requirements = ["keras>=3.12.1,!=3.13.0,!=3.13.1,<3.14", "tensorflow>=2.16,<2.21",
                    "absl-py>=1.4", "tfx[kfp]==1.16.0; python_version == '3.10'"]
    good = {"keras": "3.13.2", "tensorflow": "2.20.0", "absl-py": "2.5.1"}
    assert out_of_range(requirements, good, "3.11.7") == []  # the tfx marker is false
    assert out_of_range(requirements, good, "3.10.13") == ["tfx: not pinned"]
    bad = dict(good, keras="3.13.1", tensorflow="2.21.0")
    del bad["absl-py"]
    assert out_of_range(requirements, bad, "3.11.7") == [
        "keras==3.13.1: outside !=3.13.0,!=3.13.1,<3.14,>=3.12.1",
        "tensorflow==2.21.0: outside <2.21,>=2.16", "absl-py: not pinned"]


@pytest.mark.parametrize("lines", [
    ["-e /work/main"], ["keras>=3.12"], ["clar_tf @ file:///work/main"],
    ["Keras==3.13.2", "keras==3.13.2"], ["tensorflow_datasets==4.9.10", "tensorflow-datasets==4.9.10"],
])
def test_read_pins_rejects_other_lines_and_duplicates(tmp_path, lines):
    path = tmp_path / "requirements.txt"
    path.write_text("# python: 3.11.7 (linux x86_64)\n" + "\n".join(lines) + "\n")
    with pytest.raises(AssertionError):
        read_pins(path)


def test_read_pins_reads_the_header_and_pins(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# made by ...\n# python: 3.10.13 (linux x86_64)\n\nabsl-py==2.5.1\n"
                    "Markdown==3.11.4\n")
    assert read_pins(path) == ({"absl-py": "2.5.1", "markdown": "3.11.4"}, "3.10.13")
