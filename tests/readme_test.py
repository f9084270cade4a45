"""README.md's Python quickstart runs as written against a tiny trained run, so it cannot
go stale; CITATION.cff names the package's version."""
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf

import clar_tf
from testing import tiny_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = "<!-- quickstart -->"


def quickstart():
    """The fenced python block right after `MARKER` in README.md."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert text.count(MARKER) == 1, f"README.md must hold {MARKER} exactly once"
    block = re.match(r"\s*```python\n(.*?)\n```", text.split(MARKER, 1)[1], re.DOTALL)
    assert block, f"no ```python block right after {MARKER} in README.md"
    return block.group(1)


def test_quickstart_is_python_about_the_demo_run():
    code = quickstart()
    compile(code, "README.md quickstart", "exec")
    assert '"runs/demo' in code and '"my_clip.wav"' in code


@pytest.mark.slow
def test_quickstart_runs_as_written(tmp_path, monkeypatch, capsys):
    model_dir = tiny_run(tmp_path / "train")  # CLAR (a classifier), exported by training
    monkeypatch.chdir(tmp_path)
    os.makedirs("runs")
    os.symlink(model_dir, os.path.join("runs", "demo"))
    # 2.5 s of stereo at 44.1 kHz: read_audio mixes and resamples it; 2.5 clips → 4 windows.
    rng = np.random.default_rng(0)
    sf.write("my_clip.wav", 0.1 * rng.standard_normal((110250, 2)), 44100)

    capsys.readouterr()  # training's own output
    scope = {}
    exec(compile(quickstart(), "README.md quickstart", "exec"), scope)

    model = scope["model"]
    assert scope["audio"].shape == (40000,)
    assert scope["clip"].shape == (model.embedding_size,)
    assert scope["frames"].shape == (4, model.embedding_size)
    np.testing.assert_allclose(scope["seconds"], [0.5, 1.0, 1.5, 2.0])
    with open(os.path.join(model_dir, "labels.json")) as f:
        labels = json.load(f)
    name, probability = capsys.readouterr().out.split()
    assert name in labels and 0.0 < float(probability) <= 1.0


def test_citation_names_the_package_version():
    with open(os.path.join(REPO, "CITATION.cff"), encoding="utf-8") as f:
        versions = re.findall(r"^version: (.+)$", f.read(), re.MULTILINE)
    assert versions == [clar_tf.__version__]
