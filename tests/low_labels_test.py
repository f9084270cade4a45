"""The low-label diagnosis script `results/low_labels/low_labels.py` (a lab script outside
the package, loaded here by its path): effective rank vs hand values, logged gradients, and
its command line."""
import csv
import dataclasses
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from clar_tf import cli, demo_data
import cli_testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join("results", "low_labels", "low_labels.py")


def _load_script():
    path = os.path.join(REPO, SCRIPT)
    spec = importlib.util.spec_from_file_location("low_labels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


low_labels = _load_script()


def _parse(argv):
    return cli.parse(low_labels.LowLabelsArgs, [SCRIPT, *argv], low_labels.HELP,
                     low_labels.CHOICES)


def test_effective_rank_against_hand_values():
    rng = np.random.default_rng(0)
    line = np.outer(rng.normal(size=50), rng.normal(size=8))        # rank 1
    assert low_labels.effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    # Centred rows spanning 4 orthogonal directions with equal energy: rank exactly 4.
    q, _ = np.linalg.qr(rng.normal(size=(8, 4)))
    h2 = np.array([[1, 1], [1, -1]])
    hadamard = np.kron(np.kron(h2, h2), h2)                          # 8 x 8, orthogonal
    x = hadamard[:, 1:5] @ q.T                    # columns 1-4 sum to 0: already centred
    assert low_labels.effective_rank(x) == pytest.approx(4.0, rel=1e-6)


@pytest.mark.slow
def test_tiny_run_logs_what_each_loss_does(tmp_path):
    demo_data.make(str(tmp_path / "raw"), seed=0, clips_per_word=20)
    out = tmp_path / "out"
    low_labels.run("tiny", str(out), fraction=0.25, epochs=1, eval_epochs=(1,),
                   variants=("ce_weight_0", "lpb8_ce_batch"),
                   manual_dir=str(tmp_path / "raw"), data_dir=str(tmp_path / "tfds"))
    with open(out / "steps.csv") as f:
        steps = list(csv.DictReader(f))
    with open(out / "epochs.csv") as f:
        epochs = list(csv.DictReader(f))
    no_ce = [r for r in steps if r["variant"] == "ce_weight_0"]
    mixed = [r for r in steps if r["variant"] == "lpb8_ce_batch"]
    assert len(no_ce) == len(mixed) == 2                             # tiny: 2 steps/epoch
    assert all(float(r["gnorm_ce"]) == 0 and float(r["ce_share_enc"]) == 0 for r in no_ce)
    assert all(int(float(r["labeled"])) == 8 for r in mixed)        # exactly 8 per batch
    for r in mixed:
        share = float(r["gnorm_ce"]) / (float(r["gnorm_cl"]) + float(r["gnorm_ce"]))
        assert float(r["ce_share_enc"]) == pytest.approx(share, rel=1e-4)
        assert -1 <= float(r["cos"]) <= 1 and float(r["trust_enc"]) > 0
    assert {r["variant"] for r in epochs} == {"ce_weight_0", "lpb8_ce_batch"}
    assert all(0 <= float(r["top1"]) <= 1 and float(r["effective_rank"]) >= 1
               for r in epochs)
    summary = (out / "summary.md").read_text()
    assert "lpb8_ce_batch" in summary
    assert "`python results/low_labels/low_labels.py --preset=tiny`" in summary


def test_args_round_trip_through_flags():
    parsed = _parse(["--eval_epochs=2,4", "--epochs=4", "--variants=paper,lpb8",
                     "--fraction=0.1"])
    assert parsed == low_labels.LowLabelsArgs(eval_epochs=(2, 4), epochs=4,
                                              variants=("paper", "lpb8"), fraction=0.1)
    # and back: the parsed values written as flags parse to the same dataclass
    again = [f"--{name}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
             for name, v in dataclasses.asdict(parsed).items()]
    assert _parse(again) == parsed


@pytest.mark.parametrize("argv, flag", [
    (["--eval_epochs=1,x"], "--eval_epochs"),
    (["--eval_epochs=9"], "eval_epochs"),
    (["--variants=paper,typo"], "variants"),
    (["--preset=huge"], "--preset"),
])
def test_a_bad_flag_is_an_error_naming_it(argv, flag):
    with pytest.raises(SystemExit, match=flag):
        _parse(argv)


def test_the_script_runs_from_the_root_and_lists_its_flags():
    r = subprocess.run([sys.executable, SCRIPT, "--help"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    # `--help` prints the docstring and the flags, then exits 0 (clar_tf.cli.main); a
    # failed import or flag definition would be a traceback.
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "python results/low_labels/low_labels.py --preset=cpu_small" in r.stdout
    for name in cli_testing.field_defaults(low_labels.LowLabelsArgs):
        assert f"--{name}:" in r.stdout, name


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_fraction_is_refused_naming_it(value):
    with pytest.raises(SystemExit, match="--fraction must be a finite number"):
        _parse([f"--fraction={value}"])


def test_the_package_no_longer_holds_it():  # it trains outside `train.run`
    assert importlib.util.find_spec("clar_tf.experiments.low_labels") is None
