"""The runners' presets, and the Kubeflow v2 compile naming all four components."""
import json

import pytest

from clar_tf import config as config_lib
from pipelines import kubeflow_runner, local_runner, pipeline

COMPONENTS = {"AudioExampleGen", "Trainer", "LinearEvaluator", "Pusher"}


def test_demo_preset_reads_the_flag_file():
    values = local_runner.preset_config("demo")
    # configs/demo.flags, typed; its dataset and paths are the pipeline's business.
    assert values["batch_size"] == 64 and values["width"] == 0.25
    assert values["epochs"] == 20 and values["eval_every"] == 4
    assert values["warmup_epochs"] == 1.0 and values["augment"] == "FD+TM"
    assert not {"dataset", "manual_dir", "data_dir", "model_dir"} & set(values)


@pytest.mark.parametrize("preset", local_runner.PRESETS)
def test_every_preset_is_a_valid_config(preset):
    custom = pipeline.trainer_config("spoken_digits", None,
                                     local_runner.preset_config(preset))
    config_lib.Config(model_dir="m", data_dir="d", **custom)


def test_overrides_and_bad_values(tmp_path):
    assert local_runner.preset_config("tiny", '{"epochs": 2}')["epochs"] == 2
    with pytest.raises(ValueError, match="JSON object"):
        local_runner.preset_config("tiny", "[1]")
    bad = tmp_path / "bad.flags"
    bad.write_text("--epochs=3\n--bogus=1\n")
    with pytest.raises(ValueError, match="--bogus is not a clar_tf Config field"):
        local_runner.flagfile_config(str(bad))
    good = tmp_path / "good.flags"
    good.write_text("# comment\n--nohead_batchnorm\n--jit_compile\n--steps_per_epoch=5\n")
    assert local_runner.flagfile_config(str(good)) == {
        "head_batchnorm": False, "jit_compile": True, "steps_per_epoch": 5}


def test_kubeflow_compile_names_the_four_components(tmp_path):
    p = pipeline.create_pipeline(
        pipeline_name="clar-tf", pipeline_root="/mnt/root", dataset="spoken_digits",
        manual_dir=None, train_config=local_runner.TINY, serving_dir="/mnt/serving",
        accuracy_threshold=0.5)
    out = tmp_path / "sub" / "pipeline.json"
    kubeflow_runner.compile_pipeline(p, "registry.example/clar-tf:1", str(out))
    kubeflow_runner.compile_pipeline(p, "registry.example/clar-tf:1", str(out))  # replaces
    spec = json.loads(out.read_text())["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == COMPONENTS
    assert set(tasks["Trainer"]["dependentTasks"]) == {"AudioExampleGen"}
    assert set(tasks["LinearEvaluator"]["dependentTasks"]) == {"Trainer"}
    assert set(tasks["Pusher"]["dependentTasks"]) == {"Trainer", "LinearEvaluator"}
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {
        "registry.example/clar-tf:1"}
    args = json.dumps(executors)
    assert "components.audio_example_gen.AudioExampleGen_Executor" in args
    assert "components.linear_evaluator.LinearEvaluator_Executor" in args
