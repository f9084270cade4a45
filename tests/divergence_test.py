"""A diverged run stops: no export, no model, results.json says so, exit status 1
(issue 26); NaN hyper-parameters and an unusable model_dir are refused naming the flag."""
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from clar_tf import cli, datasets, run_dir, train
from clar_tf import config as config_lib
from testing import spoken_digits, tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_FILES = ("encoder.keras", "inference.keras", "export", "labels.json")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return spoken_digits(tmp_path_factory.mktemp("digits"), 10)


def _log(model_dir):
    with open(os.path.join(model_dir, "train_log.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_huge_learning_rate_stops_the_cli_with_nothing_exported(digits, tmp_path):
    model_dir = tmp_path / "run"
    # Plain SGD at 1e30: the first step's update overflows the weights, so the second
    # step's loss is not finite (LARS would bound the step's size).
    config = tiny_config(model_dir, method="clar", optimizer="sgd", learning_rate=1e30,
                         epochs=2, **digits)
    flags = tmp_path / "diverge.flags"
    flags.write_text(cli.flagfile_text(config_lib.Config, config,
                                       *config_lib.flag_spec(datasets.NAMES)))
    proc = subprocess.run([sys.executable, "-m", "clar_tf.train", f"--flagfile={flags}"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training diverged: the training loss was nan at step 2 "
                           "of 2 of epoch 0"), last
    assert "Nothing was exported; no epoch finished" in last and "--learning_rate" in last
    names = os.listdir(model_dir)
    assert not set(MODEL_FILES) & set(names), names
    with open(model_dir / "results.json") as f:
        result = json.load(f)
    assert result["status"] == "diverged" and result["saved_model"] is None
    assert (result["diverged_epoch"], result["diverged_step"]) == (0, 2)
    assert result["last_good_checkpoint_epochs"] is None
    assert not os.path.exists(model_dir / "backup" / "latest.weights.h5")
    rows = _log(model_dir)  # the cut-short epoch is logged, with its NaN loss
    assert [r["epoch"] for r in rows] == ["0"] and math.isnan(float(rows[0]["loss"]))


@pytest.mark.slow
def test_divergence_after_a_finished_epoch_keeps_its_checkpoint(digits, tmp_path,
                                                                 monkeypatch):
    model_dir = tmp_path / "run"
    config = tiny_config(model_dir, method="supervised", epochs=3, **digits)
    original = train._Throughput.on_epoch_begin
    kept = {}

    def poison_second_epoch(self, epoch, logs=None):
        # NaN weights from epoch 1 on: the real failure a diverging optimizer leaves.
        if epoch == 1:
            with open(model_dir / "backup" / "latest.weights.h5", "rb") as f:
                kept["weights"] = f.read()
            for v in self.model.trainable_weights:
                v.assign(np.full(v.shape, np.nan, v.dtype))
        original(self, epoch, logs)

    monkeypatch.setattr(train._Throughput, "on_epoch_begin", poison_second_epoch)
    with pytest.raises(train.TrainingDiverged, match=r"at step 1 of 2 of epoch 1 .*"
                       r"backup holds the last finite state, after 1 epochs"):
        train.run(config)
    with open(model_dir / "backup" / "latest.weights.h5", "rb") as f:
        assert f.read() == kept["weights"]  # epoch 1's checkpoint, not overwritten
    assert run_dir.read_json(str(model_dir), "backup/training_metadata.json")["epoch"] == 1
    result = run_dir.read_json(str(model_dir), run_dir.RESULTS)
    assert result["status"] == "diverged" and result["last_good_checkpoint_epochs"] == 1
    assert not set(MODEL_FILES) & set(os.listdir(model_dir))


@pytest.mark.slow
def test_weights_left_non_finite_by_the_last_step_are_caught(digits, tmp_path,
                                                             monkeypatch):
    # The last step's loss is finite (computed before its update); its update is not.
    original = train._CsvLog.on_epoch_end

    def poison_after_the_last_step(self, epoch, logs=None):
        original(self, epoch, logs)
        self.model.trainable_weights[0].assign(
            np.full(self.model.trainable_weights[0].shape, np.inf, "float32"))

    monkeypatch.setattr(train._CsvLog, "on_epoch_end", poison_after_the_last_step)
    config = tiny_config(tmp_path / "run", method="simclr", **digits)
    with pytest.raises(train.TrainingDiverged, match="after the last step, variables are "
                                                     "not finite"):
        train.run(config)
    assert run_dir.read_json(str(tmp_path / "run"), run_dir.RESULTS)["status"] == "diverged"
    assert not set(MODEL_FILES) & set(os.listdir(tmp_path / "run"))
    assert math.isfinite(float(_log(tmp_path / "run")[0]["loss"]))


@pytest.mark.slow
def test_a_finished_run_says_completed_and_running_it_again_rewrites_nothing(
        digits, tmp_path, capsys):
    config = tiny_config(tmp_path / "run", method="simclr", **digits)
    result = train.run(config)
    assert result["status"] == "completed"
    before = {name: os.stat(tmp_path / "run" / name).st_mtime_ns
              for name in os.listdir(tmp_path / "run")}
    exports = os.listdir(tmp_path / "run" / "export")
    assert train.run(config) == result  # issue 36 item 10: no new export version
    assert "already holds this run" in capsys.readouterr().out
    assert os.listdir(tmp_path / "run" / "export") == exports
    assert {name: os.stat(tmp_path / "run" / name).st_mtime_ns
            for name in os.listdir(tmp_path / "run")} == before


@pytest.mark.parametrize("field", ["learning_rate", "temperature", "weight_decay",
                                   "ce_weight", "warmup_epochs"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_config_refuses_non_finite_floats_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"--{field} must be a finite number"):
        config_lib.Config(model_dir="unused", **{field: value})


def test_a_model_dir_inside_a_file_is_refused_naming_the_flag(digits, tmp_path):
    (tmp_path / "file").write_text("mine")
    config = tiny_config(tmp_path / "file" / "run", **digits)
    with pytest.raises(SystemExit, match=r"^error: --model_dir=.*file/run cannot be "
                                         r"created"):
        train.main(config)
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("method, temperature, advice", [
    ("clar", 1e-30, "Raise --temperature (=1e-30"),
    ("simclr", 1e-3, "Raise --temperature (=0.001"),
    ("simclr", 0.5, "Lower --learning_rate"),
    ("supervised", 1e-30, "Lower --learning_rate"),  # cross-entropy alone: no τ
])
def test_the_advice_after_a_divergence_names_the_flag_to_change(method, temperature, advice):
    config = config_lib.Config(model_dir="m", method=method, temperature=temperature)
    assert train._advice(config).startswith(advice)
