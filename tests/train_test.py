"""End to end: `train.run`, resume after interruption, the CLI and its flag errors."""
import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from clar_tf import config as config_lib
from clar_tf import input_pipeline, train
from testing import spoken_digits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return spoken_digits(tmp_path_factory.mktemp("digits"), 60)


def _config(digits, model_dir, **overrides):
    values = dict(model_dir=str(model_dir), dataset="spoken_digits", width=0.125,
                  augment="FD+TS", batch_size=32, epochs=2, steps_per_epoch=2,
                  warmup_epochs=1, head_hidden_units=32, projection_units=16,
                  linear_eval_epochs=20, eval_every=1, verbose=0, **digits)
    values.update(overrides)
    return config_lib.Config(**values)


def _column(path, name):
    with open(path, newline="") as f:
        return [row[name] for row in csv.DictReader(f)]


@pytest.mark.slow
def test_run_resumes_after_interruption(digits, tmp_path, monkeypatch):
    config = _config(digits, tmp_path / "run")

    class Interrupt(Exception):
        pass

    original = train._Throughput.on_epoch_begin

    def interrupt_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise Interrupt()
        original(self, epoch, logs)

    monkeypatch.setattr(train._Throughput, "on_epoch_begin", interrupt_second_epoch)
    with pytest.raises(Interrupt):
        train.run(config)
    assert not os.path.exists(tmp_path / "run" / "results.json")
    monkeypatch.undo()

    result = train.run(config)
    assert _column(tmp_path / "run" / "train_log.csv", "epoch") == ["0", "1"]  # epoch 0 once, then resumed at epoch 1
    assert result["epochs_this_run"] == 1
    assert _column(tmp_path / "run" / "linear_eval.csv", "epoch") == ["1", "2"]
    with open(tmp_path / "run" / "results.json") as f:
        saved = json.load(f)
    assert saved["top1"] == result["top1"]
    # The curve's last point (epoch 2 = the final encoder) is the final score.
    assert float(_column(tmp_path / "run" / "linear_eval.csv", "top1")[-1]) == pytest.approx(
        saved["top1"], abs=1e-6)
    confusion = np.array(saved["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() > 0
    assert saved["class_names"][0] == "eight"  # sorted word names
    assert np.isclose(np.trace(confusion) / confusion.sum(), saved["top1"])
    encoder = keras.saving.load_model(tmp_path / "run" / "encoder.keras")
    assert tuple(encoder.inputs[0].shape) == (None, 16000)
    inference = keras.saving.load_model(tmp_path / "run" / "inference.keras")
    clip = np.random.RandomState(0).randn(2, 16000).astype("float32")
    out = inference(clip)
    np.testing.assert_allclose(out["embedding"], encoder(clip), atol=1e-5)
    assert out["logits"].shape == (2, 10)
    assert os.path.isfile(os.path.join(saved["saved_model"], "saved_model.pb"))
    assert os.path.dirname(saved["saved_model"]) == str(tmp_path / "run" / "export")
    with open(tmp_path / "run" / "labels.txt") as f:
        assert f.read().split() == saved["class_names"]
    with open(tmp_path / "run" / "config.json") as f:
        assert config_lib.Config.from_json(f.read()) == config
    # The standalone evaluation CLI reads the model_dir back and agrees.
    proc = subprocess.run([sys.executable, "-m", "clar_tf.evaluate",
                           f"--model_dir={tmp_path / 'run'}",
                           f"--data_dir={digits['data_dir']}"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "run" / "linear_eval.json") as f:
        assert abs(json.load(f)["top1"] - saved["top1"]) <= 0.05


@pytest.mark.slow
def test_model_dir_with_another_config_is_refused(digits, tmp_path):
    config = _config(digits, tmp_path / "run", epochs=1)
    train.run(config)
    with pytest.raises(ValueError, match="method differ"):
        train.run(config.replace(method="simclr"))


@pytest.mark.slow
def test_cli_smoke_flagfile_learns(digits, tmp_path):
    model_dir = tmp_path / "smoke"
    proc = subprocess.run(
        [sys.executable, "-m", "clar_tf.train", "--flagfile=configs/smoke.flags",
         f"--manual_dir={digits['manual_dir']}", f"--data_dir={digits['data_dir']}",
         f"--model_dir={model_dir}"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "linear-eval top-1" in proc.stdout
    with open(model_dir / "results.json") as f:
        result = json.load(f)
    assert result["top1"] > 0.5, result["top1"]  # chance 0.1; untrained encoder ≈ 0.3


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--method=byol"], "method"),
    (["--labeled_fraction=1.5"], "labeled_fraction"),
    (["--dataset=imagenet"], "dataset"),
    (["--encoder=3d"], "encoder"),
    (["--batch_size=0"], "batch_size"),
    (["--ce_normalization=mean"], "ce_normalization"),
    (["--batch_size=32", "--labeled_per_batch=32"], "labeled_per_batch"),
    (["--ce_weight=-1"], "ce_weight"),
])
def test_cli_rejects_bad_flags(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "clar_tf.train",
                           f"--model_dir={tmp_path}", *args],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


@pytest.mark.slow
def test_train_pipeline_puts_labeled_per_batch_labeled_clips_in_every_batch(digits, tmp_path):
    config = _config(digits, tmp_path / "run", labeled_fraction=0.25, labeled_per_batch=5)
    info = input_pipeline.train_info(config)
    ds, steps = input_pipeline.train_batches(config, info)
    assert steps == 2
    for batch in ds.take(12).as_numpy_iterator():
        assert batch["audio"].shape == (32, 16000)
        assert (batch["label"] >= 0).sum() == 5
    # Random batches (the paper's sampling) when labeled_per_batch is 0.
    plain, _ = input_pipeline.train_batches(config.replace(labeled_per_batch=0), info)
    counts = [(b["label"] >= 0).sum() for b in plain.take(12).as_numpy_iterator()]
    assert len(set(counts)) > 1 and abs(np.mean(counts) - 8) < 3
