"""run_fn: clar_tf.train.run into the ModelRun, the SavedModel where the Pusher looks."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer import fn_args_utils

from components import trainer_module


def test_examples_uri_from_tfx_file_patterns():
    assert trainer_module.examples_uri(["/p/Ex/7/Split-train/*"]) == "/p/Ex/7"
    with pytest.raises(ValueError, match="Split-<split>"):
        trainer_module.examples_uri(["/p/Ex/7/train/*"])
    with pytest.raises(ValueError, match="several Examples"):
        trainer_module.examples_uri(["/a/Split-train/*", "/b/Split-train/*"])


@pytest.mark.parametrize("custom, match", [
    ({"model_dir": "/x"}, "may not set model_dir"),
    ({"data_dir": "/x"}, "may not set data_dir"),
    ({"dataset": "sc10"}, "may not set dataset"),
    ({"manual_dir": "/x", "clip_length": 8000}, "may not set clip_length, manual_dir"),
    ({"epochs": 1, "bogus": 2}, "not clar_tf Config fields: bogus"),
    ({"method": "nope"}, "`method` must be one of"),
])
def test_config_refuses_bad_custom_config(custom, match):
    fn_args = fn_args_utils.FnArgs(train_files=["/e/Split-train/*"], model_run_dir="/m",
                                   custom_config=custom)
    with pytest.raises(ValueError, match=match):
        trainer_module.config_from_fn_args(fn_args)


def test_config_reads_the_examples_artifact():
    fn_args = fn_args_utils.FnArgs(train_files=["/e/3/Split-train/*"],
                                   model_run_dir="/runs/2", custom_config={"epochs": 7})
    config = trainer_module.config_from_fn_args(fn_args)
    assert (config.dataset, config.manual_dir, config.model_dir, config.epochs) == (
        "examples", "/e/3", "/runs/2", 7)


def test_run_fn_writes_model_run(trained):
    fn_args, result = trained
    for name in ("config.json", "encoder.keras", "inference.keras", "labels.txt",
                 "results.json", "train_log.csv"):
        assert os.path.exists(os.path.join(fn_args.model_run_dir, name)), name
    with open(os.path.join(fn_args.model_run_dir, "config.json")) as f:
        config = json.load(f)
    uri = os.path.dirname(os.path.dirname(fn_args.train_files[0]))
    assert (config["dataset"], config["manual_dir"]) == ("examples", uri)
    assert config["width"] == 0.125 and config["steps_per_epoch"] == 2
    with open(os.path.join(fn_args.model_run_dir, "results.json")) as f:
        assert json.load(f)["top1"] == result["top1"]


def test_run_fn_scores_as_a_standalone_clar_train_run(trained, tmp_path):
    # The same Config (data, seed, every field) trained by clar_tf.train.run outside TFX.
    # Tolerance: one of the 10 test clips (TF's CPU kernels may sum in another order
    # between two processes' threads; in this test's runs the two were equal).
    from clar_tf import config as config_lib
    from clar_tf import train
    fn_args, result = trained
    with open(os.path.join(fn_args.model_run_dir, "config.json")) as f:
        config = config_lib.Config.from_json(f.read())
    alone = train.run(config.replace(model_dir=str(tmp_path / "alone")))
    assert abs(alone["top1"] - result["top1"]) <= 0.1 + 1e-9, (alone["top1"], result["top1"])


def test_serving_model_dir_is_the_saved_model_itself(trained):
    fn_args, _ = trained
    serving = fn_args.serving_model_dir
    assert os.path.exists(os.path.join(serving, "saved_model.pb"))  # Pusher's layout
    assert not os.path.exists(os.path.join(os.path.dirname(serving),
                                           ".clar_export_staging"))
    loaded = tf.saved_model.load(serving)
    audio = np.random.default_rng(0).normal(size=(3, 8000)).astype(np.float32)
    out = loaded.signatures["serving_default"](audio=tf.constant(audio))
    assert out["embedding"].shape[0] == 3 and out["probabilities"].shape == (3, 10)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    with open(os.path.join(fn_args.model_run_dir, "labels.txt")) as f:
        labels = f.read().split()
    want = [labels[i] for i in out["logits"].numpy().argmax(axis=1)]
    assert [c.decode() for c in out["classes"].numpy()] == want
