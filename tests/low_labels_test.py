"""The low-label diagnosis driver: effective rank vs hand values, logged gradients."""
import csv

import numpy as np
import pytest

from clar_tf import demo_data
from clar_tf.experiments import low_labels


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
    assert "lpb8_ce_batch" in (out / "summary.md").read_text()
