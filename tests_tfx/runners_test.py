"""The runners' presets and flags (`clar_tf.cli`, as tests/cli_test.py checks the other
CLIs), and the Kubeflow v2 compile naming all eight components."""
import dataclasses
import json

import pytest
from absl import flags

from clar_tf import cli
from clar_tf import config as config_lib
from pipelines import kubeflow_runner, local_runner, pipeline
import cli_testing  # tests/ (pytest.ini's pythonpath)

COMPONENTS = {"AudioExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "AnomalyGate", "Trainer", "LinearEvaluator", "Pusher"}


def test_demo_preset_reads_the_flag_file():
    values = local_runner.preset_config("demo")
    # configs/demo.flags, typed; its dataset and paths are the pipeline's business.
    assert values["batch_size"] == 64 and values["width"] == 0.25
    assert values["epochs"] == 20 and values["eval_every"] == 4
    assert values["warmup_epochs"] == 1.0 and values["augment"] == "FD+TM"
    assert not {"dataset", "manual_dir", "data_dir", "model_dir"} & set(values)


@pytest.mark.parametrize("preset", local_runner.PRESETS)
def test_every_preset_is_a_valid_config(preset):
    custom = pipeline.trainer_config(local_runner.preset_config(preset))
    config_lib.Config(model_dir="m", data_dir="d", dataset="examples", manual_dir="e",
                      **custom)


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


def test_kubeflow_compile_names_every_component(tmp_path):
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
    assert set(tasks["Trainer"]["dependentTasks"]) == {"AudioExampleGen", "AnomalyGate"}
    assert set(tasks["AnomalyGate"]["dependentTasks"]) == {"ExampleValidator"}
    assert set(tasks["ExampleValidator"]["dependentTasks"]) == {"StatisticsGen",
                                                                 "SchemaGen"}
    assert set(tasks["LinearEvaluator"]["dependentTasks"]) == {"Trainer"}
    assert set(tasks["Pusher"]["dependentTasks"]) == {"Trainer", "LinearEvaluator"}
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {
        "registry.example/clar-tf:1"}
    args = json.dumps(executors)
    assert "components.audio_example_gen.AudioExampleGen_Executor" in args
    assert "components.linear_evaluator.LinearEvaluator_Executor" in args
    assert "components.anomaly_gate.AnomalyGate_Executor" in args


# (module, its args class, help, choices)
RUNNERS = {
    "pipelines.local_runner": (local_runner.LocalRunnerArgs, local_runner.HELP,
                               local_runner.CHOICES),
    "pipelines.kubeflow_runner": (kubeflow_runner.KubeflowRunnerArgs, kubeflow_runner.HELP,
                                  kubeflow_runner.CHOICES),
}


def _parse(module, argv):
    cls, help_texts, choices = RUNNERS[module]
    return cli.parse(cls, [module, *argv], help_texts, choices)


@pytest.mark.parametrize("module, argv, expected", [
    # tools/tfx_ci.sh's runs
    ("pipelines.local_runner",
     ["--preset=tiny", "--manual_dir=/w/digits", "--pipeline_root=/w/root",
      "--serving_dir=/w/serving", "--enable_cache", "--accuracy_threshold=0.0"],
     local_runner.LocalRunnerArgs(preset="tiny", manual_dir="/w/digits",
                                  pipeline_root="/w/root", serving_dir="/w/serving",
                                  enable_cache=True, accuracy_threshold=0.0)),
    ("pipelines.local_runner",
     ["--dataset=sc10", "--preset=none", '--train_config={"epochs": 100}',
      "--pipeline_name=p", "--metadata_path=m.sqlite", "--noenable_cache"],
     local_runner.LocalRunnerArgs(dataset="sc10", preset="none",
                                  train_config='{"epochs": 100}', pipeline_name="p",
                                  metadata_path="m.sqlite")),
    ("pipelines.kubeflow_runner",
     ["--preset=tiny", "--pipeline_root=/mnt/clar/pipeline_root", "--image=clar-tf:ci",
      "--output=/w/p.json", "--serving_dir=/mnt/s", "--manual_dir=/mnt/m"],
     kubeflow_runner.KubeflowRunnerArgs(preset="tiny", pipeline_root="/mnt/clar/pipeline_root",
                                        image="clar-tf:ci", output="/w/p.json",
                                        serving_dir="/mnt/s", manual_dir="/mnt/m")),
])
def test_args_round_trip_through_flags(module, argv, expected):
    parsed = _parse(module, argv)
    assert dataclasses.astuple(parsed) == dataclasses.astuple(expected)
    assert type(parsed) is type(expected)
    again = [f"--{f.name}={getattr(parsed, f.name)}" for f in dataclasses.fields(parsed)
             if getattr(parsed, f.name) is not None]
    assert _parse(module, again) == parsed


def test_kubeflow_args_are_local_runners_plus_image_and_output():
    local = {f.name: f.default for f in dataclasses.fields(local_runner.LocalRunnerArgs)}
    kubeflow = {f.name: f.default
                for f in dataclasses.fields(kubeflow_runner.KubeflowRunnerArgs)}
    assert kubeflow == dict(local, image="clar-tf:latest", output="clar_tf_pipeline.json")
    assert set(kubeflow_runner.HELP) == set(kubeflow) and set(local_runner.HELP) == set(local)


@pytest.mark.parametrize("module, argv, flag", [
    ("pipelines.local_runner", ["--preset=huge"], "--preset"),
    ("pipelines.local_runner", ["--accuracy_threshold=high"], "--accuracy_threshold"),
    ("pipelines.local_runner", ["--accuracy_threshold=nan"], "accuracy_threshold"),
    ("pipelines.local_runner", ["--train_config=[1]"], "train_config.*JSON object"),
    ("pipelines.local_runner", ["--train_config={epochs: 2}"], "train_config.*not JSON"),
    ("pipelines.local_runner", ["--epochs=2"], "epochs"),
    ("pipelines.kubeflow_runner", ["--preset=tiny"], "pipeline_root.*absolute"),
    ("pipelines.kubeflow_runner", ["--pipeline_root=/r", "--serving_dir=gs://b/s"],
     "serving_dir.*absolute"),
    ("pipelines.kubeflow_runner", ["--pipeline_root=/r", "--manual_dir=data"],
     "manual_dir.*absolute"),
    ("pipelines.kubeflow_runner", ["--pipeline_root=/r", "--preset=huge"], "--preset"),
])
def test_a_bad_flag_is_an_error_naming_it(module, argv, flag):
    with pytest.raises(SystemExit, match=flag):
        _parse(module, argv)


def test_stray_arguments_are_refused():
    with pytest.raises(SystemExit, match="Unexpected arguments: extra"):
        _parse("pipelines.local_runner", ["extra"])


def test_importing_the_runners_defines_no_flags():
    assert not {"pipeline_root", "preset", "image", "output"} & set(flags.FLAGS)


# runpy warns that the module was imported before it runs as __main__ (the test does so).
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
@pytest.mark.parametrize("module", sorted(RUNNERS))
def test_main_defines_exactly_the_dataclass_fields_as_listed_flags(module, monkeypatch):
    namespace, defaults, listed, enums = cli_testing.script_flags(module, monkeypatch)
    cls = namespace[RUNNERS[module][0].__name__]
    assert defaults == cli_testing.field_defaults(cls)
    assert set(defaults) <= listed  # what `--help` shows
    assert enums == {"preset": list(local_runner.PRESETS)}


def test_kubeflow_main_compiles_from_its_args(tmp_path, capsys):
    out = tmp_path / "pipeline.json"
    kubeflow_runner.main(kubeflow_runner.KubeflowRunnerArgs(
        preset="tiny", pipeline_root="/mnt/root", image="registry.example/clar-tf:2",
        output=str(out), train_config='{"epochs": 3}'))
    spec = json.loads(out.read_text())["pipelineSpec"]
    assert set(spec["root"]["dag"]["tasks"]) == COMPONENTS
    trainer = json.dumps(spec["deploymentSpec"]["executors"])
    assert "registry.example/clar-tf:2" in trainer
    assert "wrote Kubeflow v2 pipeline clar-tf (8 components" in capsys.readouterr().out
