"""The benchmarks run from a clone: each is a module of the `benchmarks` package, and its
reference (`benchmarks/torch_reference.py`) is in the repository.

The reference's augmentation chain needs only NumPy and librosa, so it is checked here
against hand-computed properties; its PyTorch step runs where torch and nnAudio are
installed (the reference venv of `tools/ref_env.sh`, or `pip install ".[bench]"`).
"""
import importlib.util
import math
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = ["ab_bench", "augment_bench", "frontend_bench", "storage_bench",
              "tflite_bench", "train_bench"]


def _load_reference():
    path = os.path.join(REPO, "benchmarks", "torch_reference.py")
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_runs_as_a_module_from_the_root(name):
    r = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout


def test_no_benchmark_edits_sys_path():
    for name in os.listdir(os.path.join(REPO, "benchmarks")):
        if name.endswith(".py"):
            with open(os.path.join(REPO, "benchmarks", name)) as f:
                assert "sys.path" not in f.read(), name


def test_worker_command_refuses_other_modules():
    from benchmarks import common
    assert common.worker_command("benchmarks.train_bench", "--worker", 3)[1:] == [
        "-m", "benchmarks.train_bench", "--worker", "3"]
    with pytest.raises(ValueError, match="not a benchmarks module"):
        common.worker_command("os.path")


def test_the_reference_is_found_in_the_clone(monkeypatch):
    from benchmarks import common
    monkeypatch.delenv("CLAR_REF_SCRIPT", raising=False)
    assert common.reference_script() == os.path.join(REPO, "benchmarks",
                                                     "torch_reference.py")


def test_reference_chain_is_the_authors_order():
    ref = _load_reference()
    from benchmarks import augment_bench
    assert "+".join(name for name, _ in ref.CHAIN) == augment_bench.CHAIN


def test_reference_chain_with_p0_is_the_identity_and_with_p1_changes_every_clip():
    ref = _load_reference()
    rng = np.random.default_rng(1)
    clip = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    np.testing.assert_array_equal(ref.augment_reference(clip, rng, p=0.0), clip)
    out = ref.augment_reference(clip, rng, p=1.0)
    assert out.dtype == np.float32 and out.shape == clip.shape
    assert np.all(np.isfinite(out)) and not np.allclose(out, clip)


def test_reference_white_noise_has_the_drawn_snr():
    ref = _load_reference()
    clip = np.sin(np.linspace(0, 400 * math.pi, 16000)).astype(np.float32)
    snrs = []
    for seed in range(20):
        noisy = ref._white_noise(clip, np.random.default_rng(seed), 16000)
        noise = noisy - clip
        snrs.append(10 * math.log10(np.mean(clip ** 2) / np.mean(noise ** 2)))
        drawn = int(np.random.default_rng(seed).integers(0, 20))
        assert abs(snrs[-1] - drawn) < 0.3, (seed, snrs[-1], drawn)


def test_reference_time_mask_and_fade_by_hand():
    ref = _load_reference()
    clip = np.ones(800, dtype=np.float32)
    masked = ref._time_mask(clip, np.random.default_rng(0), 16000)
    changed = np.flatnonzero(masked != 1.0)
    assert len(changed) == 100 and changed[-1] - changed[0] == 99  # one eighth, contiguous
    faded = ref._fade(clip, np.random.default_rng(0), 16000)
    assert faded[0] == 0.0 and faded[-1] == 0.0 and faded.max() <= 1.0


def test_reference_aug_cli_prints_the_figure_common_reads():
    from benchmarks import common
    r = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "torch_reference.py"),
                        "aug", "--seconds", "0.5", "--p", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    value, unit = common._FIGURE.search(r.stdout).groups()
    assert unit == "clips" and float(value) > 0


@pytest.mark.skipif(not all(importlib.util.find_spec(n) for n in ("torch", "nnAudio")),
                    reason="the reference step needs torch and nnAudio (tools/ref_env.sh)")
def test_reference_step_trains():
    ref = _load_reference()
    assert ref.bench_step(batch=4, seconds=0.1) > 0
