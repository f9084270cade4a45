"""LinearEvaluator blesses at or above the threshold, and the standard Pusher obeys."""
import json
import os

import pytest
from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.utils import proto_utils

from components import linear_evaluator
from components.linear_evaluator import LinearEvaluator
from tfx_testing import artifact, run_executor

_A = tfx.types.standard_artifacts


def _model_run(tmp_path, top1, **more):
    run = artifact(_A.ModelRun, tmp_path / "model_run")
    with open(os.path.join(run.uri, "results.json"), "w") as f:
        json.dump({"top1": top1, "per_class_accuracy": [top1], "method": "clar", **more}, f)
    return run


def _evaluate(tmp_path, model_run, threshold, model=None, **params):
    evaluation = artifact(_A.ModelEvaluation, tmp_path / "evaluation")
    blessing = artifact(_A.ModelBlessing, tmp_path / "blessing")
    inputs = {"model_run": [model_run]}
    if model is not None:
        inputs["model"] = [model]
    run_executor(LinearEvaluator, inputs, {"evaluation": [evaluation],
                                           "blessing": [blessing]},
                 {"threshold": threshold, **params})
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        return json.load(f), evaluation, blessing


@pytest.mark.parametrize("top1, threshold, blessed", [
    (0.6, 0.5, True), (0.5, 0.5, True), (0.4, 0.5, False), (0.0, 0.0, True),
    (1.0, 1.01, False)])
def test_blessing_follows_threshold(tmp_path, top1, threshold, blessed):
    metrics, evaluation, blessing = _evaluate(tmp_path, _model_run(tmp_path, top1),
                                              threshold)
    assert blessing.get_int_custom_property("blessed") == int(blessed)
    assert os.listdir(blessing.uri) == ["BLESSED" if blessed else "NOT_BLESSED"]
    assert metrics["top1"] == top1 and metrics["blessed"] is blessed
    assert metrics["threshold"] == threshold and metrics["source"] == "results.json"
    assert evaluation.get_float_custom_property("top1") == pytest.approx(top1)


def test_model_is_recorded_like_tfx_evaluator(tmp_path):
    model = artifact(_A.Model, tmp_path / "model")
    model.id = 42
    _, _, blessing = _evaluate(tmp_path, _model_run(tmp_path, 0.9), 0.5, model=model)
    assert blessing.get_string_custom_property("current_model") == model.uri
    assert blessing.get_int_custom_property("current_model_id") == 42


def test_other_metric_and_unknown_metric(tmp_path):
    run = _model_run(tmp_path, 0.3, examples_per_s=120.0)
    metrics, evaluation, blessing = _evaluate(tmp_path, run, 100.0, metric="examples_per_s")
    assert metrics["metric"] == "examples_per_s" and metrics["value"] == 120.0
    assert blessing.get_int_custom_property("blessed") == 1  # top1 0.3 < 100: not what decides
    assert evaluation.get_float_custom_property("examples_per_s") == 120.0
    _, _, blessing = _evaluate(tmp_path, run, 121.0, metric="examples_per_s")
    assert blessing.get_int_custom_property("blessed") == 0
    with pytest.raises(ValueError, match="metric='top5' is not a number.*Allowed: "
                                         "examples_per_s, top1"):
        linear_evaluator.evaluate_run(run.uri, 0.5, metric="top5")


def _push(tmp_path, model, blessing, blessed):
    """Runs the standard Pusher on `model` with `blessing` into tmp_path/serving; checks it
    pushed exactly when `blessed`; returns the pushed version folders."""
    pushed = artifact(_A.PushedModel, tmp_path / "pushed")
    destination = tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
        base_directory=str(tmp_path / "serving")))
    pusher_executor.Executor().Do(
        {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination)})
    assert pushed.get_int_custom_property("pushed") == int(blessed)
    versions = os.listdir(tmp_path / "serving") if (tmp_path / "serving").exists() else []
    assert len(versions) == int(blessed)
    return versions


@pytest.mark.parametrize("blessed", [True, False])
def test_standard_pusher_respects_blessing(tmp_path, blessed):
    model = artifact(_A.Model, tmp_path / "model")
    serving = os.path.join(model.uri, "Format-Serving")
    os.makedirs(os.path.join(serving, "variables"))
    with open(os.path.join(serving, "saved_model.pb"), "wb") as f:
        f.write(b"stand-in")
    _, _, blessing = _evaluate(tmp_path, _model_run(tmp_path, 0.7),
                               0.5 if blessed else 0.9, model=model)
    versions = _push(tmp_path, model, blessing, blessed)
    if blessed:
        assert os.path.exists(tmp_path / "serving" / versions[0] / "saved_model.pb")


def test_recompute_from_the_tiny_run(tmp_path, trained):
    # Recomputed linear evaluation (same data, same seed) equals what training wrote.
    fn_args, result = trained
    run = artifact(_A.ModelRun, fn_args.model_run_dir)
    metrics, _, blessing = _evaluate(tmp_path, run, 0.0, recompute=True)
    assert metrics["source"] == "recomputed" and len(metrics["class_names"]) == 10
    assert metrics["top1"] == pytest.approx(result["top1"], abs=1e-6)
    assert blessing.get_int_custom_property("blessed") == 1


@pytest.mark.parametrize("margin, blessed", [(-0.05, True), (0.05, False)])
def test_the_trained_model_is_pushed_only_above_the_threshold(tmp_path, trained, margin,
                                                              blessed):
    # The tiny run's real SavedModel and results.json: a threshold just below its top-1
    # blesses and pushes it, one just above does neither.
    fn_args, result = trained
    model = artifact(_A.Model, os.path.dirname(fn_args.serving_model_dir))
    run = artifact(_A.ModelRun, fn_args.model_run_dir)
    _, _, blessing = _evaluate(tmp_path, run, result["top1"] + margin, model=model)
    assert blessing.get_int_custom_property("blessed") == int(blessed)
    versions = _push(tmp_path, model, blessing, blessed)
    if blessed:
        import tensorflow as tf
        served = tf.saved_model.load(str(tmp_path / "serving" / versions[0]))
        assert "serving_default" in served.signatures
