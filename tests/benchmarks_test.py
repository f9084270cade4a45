"""The benchmarks run from a clone: each is a module of the `benchmarks` package, and its
reference (`benchmarks/torch_reference.py`) is in the repository.

The reference's augmentation chain needs only NumPy and librosa, so it is checked here
against hand-computed properties; its PyTorch step runs where torch and nnAudio are
installed (the reference venv of `tools/ref_env.sh`, or `pip install ".[bench]"`).
"""
import importlib.util
import math
import os
import shutil
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


# ------------------------------------------------------------------ frontend_bench
@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_frontend_bench_paths_equal_the_kapre_frontend(variant):
    """Every path frontend_bench times is checked against the kapre path before it is
    timed; here each passes that check on a tiny batch (as in the benchmark's worker)."""
    import tensorflow as tf
    from benchmarks import frontend_bench as fb
    x = tf.constant((0.1 * np.random.default_rng(3).standard_normal((2, 4000)))
                    .astype("float32"))
    fns = fb.frontends(variant, fb.FULL_MODES)
    ref = tf.function(fns["kapre"])(x).numpy()
    for mode in fb.FULL_MODES[1:]:
        got = tf.function(fns[mode], jit_compile=mode == "kapre-xla")(x).numpy()
        errors = fb.compare(got, ref)
        assert fb.within_tolerance(errors), (mode, errors)


def test_frontend_bench_check_refuses_a_wrong_path():
    from benchmarks import frontend_bench as fb
    rng = np.random.default_rng(0)
    ref = np.stack([rng.uniform(-60, 0, (2, 5, 4)), rng.uniform(-3, 3, (2, 5, 4)),
                    rng.uniform(-60, 0, (2, 5, 4))], -1).astype(np.float32)
    assert fb.compare(ref, ref) == dict.fromkeys(fb.TOLERANCES, 0.0)
    wrapped = ref.copy()
    wrapped[..., 1] += 2 * np.pi  # the same angle
    assert fb.within_tolerance(fb.compare(wrapped, ref))
    for channel, delta in ((0, 0.01), (1, 0.01), (2, 0.01)):
        wrong = ref.copy()
        wrong[0, 2, 3, channel] += delta
        assert not fb.within_tolerance(fb.compare(wrong, ref)), channel
    wrong = ref.copy()
    wrong[1, 0, 0, 2] = np.nan
    assert not fb.within_tolerance(fb.compare(wrong, ref))
    assert not fb.within_tolerance(fb.compare(ref[:, :4], ref))


def test_frontend_bench_dft_matrix_is_numpy_rfft():
    from benchmarks import frontend_bench as fb
    import tensorflow as tf
    rng = np.random.default_rng(1)
    window = np.hanning(258)[:256] ** 0.5  # any window
    frames = rng.standard_normal((3, 256))
    y = frames.astype(np.float32) @ fb.real_dft_matrix(window)
    re, im = (t.numpy() for t in fb.split_real_dft(tf.constant(y), 256))
    spec = np.fft.rfft(frames * window)
    np.testing.assert_allclose(re, spec.real, atol=2e-4)
    np.testing.assert_allclose(im, spec.imag, atol=2e-4)
    assert np.all(im[:, [0, 128]] == 0)


# ------------------------------------------------------------------ gpu.sh
GPU_SH = os.path.join(REPO, "benchmarks", "gpu.sh")


def _gpu_sh(env_changes):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(env_changes)
    return subprocess.run([shutil.which("bash"), GPU_SH], env=env, capture_output=True,
                          text=True, timeout=60)


def test_gpu_sh_is_valid_bash():
    r = subprocess.run(["bash", "-n", GPU_SH], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("how", ["CUDA_VISIBLE_DEVICES", "no nvidia-smi"])
def test_gpu_sh_refuses_without_a_gpu(how, tmp_path):
    if how == "CUDA_VISIBLE_DEVICES":
        r = _gpu_sh({"CUDA_VISIBLE_DEVICES": "-1"})
    else:
        (tmp_path / "bin").mkdir()
        if shutil.which("nvidia-smi"):
            pytest.skip("nvidia-smi is installed here")
        for tool in ("dirname", "timeout", "grep"):  # what runs before the refusal
            os.symlink(shutil.which(tool), tmp_path / "bin" / tool)
        r = _gpu_sh({"PATH": str(tmp_path / "bin")})
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no GPU visible" in lines[0], r.stderr


FAKE_PYTHON = """#!/bin/bash
echo "$*" >> "{log}"
case "$1" in
  -c) exit 0 ;;
  -m) [ "$2" = benchmarks.train_bench ] && echo '{result}' || echo '| table | row |' ;;
  -) shift; exec "{python}" - "$@" ;;
esac
"""


@pytest.mark.parametrize("step_s, frontend_s, verdicts, rc", [
    (0.15, 0.004, ["PASS", "PASS"], 0),   # 6,827 clips/s; (4 + 4) / 150 ms = 5 %
    (0.30, 0.050, ["MISS", "MISS"], 1)])  # 3,413 clips/s; (4 + 50) / 300 ms = 18 %
def test_gpu_sh_prints_a_verdict_per_target(tmp_path, step_s, frontend_s, verdicts, rc):
    """The script's flow with a stand-in GPU (nvidia-smi) and Python (a fixed result)."""
    import json
    (tmp_path / "bin").mkdir()
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.write_text("#!/bin/bash\necho 'GPU 0: Stand-in (UUID: x)'\n")
    result = {"examples_per_s": 1024 / step_s, "step_s": step_s, "steps": 40,
              "cpu_s_per_step": 0.1, "compile_s": 30.0, "views_s": 0.004,
              "forward_s": 0.05, "frontend_s": frontend_s}
    python = tmp_path / "bin" / "python"
    python.write_text(FAKE_PYTHON.format(log=tmp_path / "calls.txt", python=sys.executable,
                                         result=json.dumps(result)))
    for f in (smi, python):
        f.chmod(0o755)
    r = _gpu_sh({"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PYTHON": str(python),
                 "OUT": str(tmp_path / "out")})
    assert r.returncode == rc, r.stdout + r.stderr
    found = [line.split(":")[0] for line in r.stdout.splitlines()
             if line.startswith(("PASS", "MISS"))]
    assert found == verdicts, r.stdout
    calls = (tmp_path / "calls.txt").read_text()
    train = next(line for line in calls.splitlines() if "benchmarks.train_bench" in line)
    for flag in ("--batch 1024", "--jit_compile", "--mixed_precision", "--breakdown",
                 "--encoder 2d", "--method clar"):
        assert flag in train, train
    assert "benchmarks.augment_bench" in calls and "benchmarks.frontend_bench" in calls
    assert (tmp_path / "out" / "summary.txt").read_text().count("PASS") == verdicts.count(
        "PASS")
