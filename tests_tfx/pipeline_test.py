"""create_pipeline: four components wired AudioExampleGen → Trainer → LinearEvaluator →
Pusher, the Trainer's custom_config a valid clar_tf Config, and nothing else decided."""
import json

import pytest
from google.protobuf import json_format
from tfx import v1 as tfx

from pipelines import pipeline

TRAIN = {"method": "clar", "width": 0.25, "epochs": 3}


def _make(**changes):
    args = dict(pipeline_name="clar-test", pipeline_root="/root", dataset="spoken_digits",
                manual_dir="/digits", train_config=TRAIN, serving_dir="/serving",
                accuracy_threshold=0.7)
    args.update(changes)
    return pipeline.create_pipeline(**args)


def _by_id(p):
    return {c.id: c for c in p.components}


def _as_dict(prop):
    """A proto exec property as a dict (TFX keeps some as JSON text, some as protos)."""
    return json.loads(prop) if isinstance(prop, str) else json_format.MessageToDict(
        prop, preserving_proto_field_name=True)


def test_four_components_in_order():
    p = _make()
    assert [c.id for c in p.components] == ["AudioExampleGen", "Trainer",
                                            "LinearEvaluator", "Pusher"]
    assert p.pipeline_info.pipeline_name == "clar-test"
    assert p.pipeline_info.pipeline_root == "/root"


def test_wiring():
    c = _by_id(_make())
    gen, trainer, evaluator, pusher = (c["AudioExampleGen"], c["Trainer"],
                                       c["LinearEvaluator"], c["Pusher"])
    assert trainer.inputs["examples"] is gen.outputs["examples"]
    assert evaluator.inputs["model_run"] is trainer.outputs["model_run"]
    assert evaluator.inputs["model"] is trainer.outputs["model"]
    assert pusher.inputs["model"] is trainer.outputs["model"]
    assert pusher.inputs["model_blessing"] is evaluator.outputs["blessing"]
    assert set(gen.outputs) == {"examples"}
    assert set(evaluator.outputs) == {"evaluation", "blessing"}
    assert pusher.upstream_nodes == {trainer, evaluator}


def test_parameters_reach_the_components():
    c = _by_id(_make())
    assert c["AudioExampleGen"].exec_properties["dataset"] == "spoken_digits"
    assert c["AudioExampleGen"].exec_properties["manual_dir"] == "/digits"
    trainer = c["Trainer"].exec_properties
    assert trainer["run_fn"] == "components.trainer_module.run_fn"
    custom = json.loads(trainer["custom_config"])
    assert custom == dict(TRAIN, dataset="spoken_digits", manual_dir="/digits")
    assert _as_dict(trainer["eval_args"]) == {"splits": ["test"]}
    assert _as_dict(trainer["train_args"]) == {"splits": ["train"]}
    assert c["LinearEvaluator"].exec_properties["threshold"] == 0.7
    destination = _as_dict(c["Pusher"].exec_properties["push_destination"])
    assert destination == {"filesystem": {"base_directory": "/serving"}}


def test_runner_choices_pass_through():
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config("/m.sqlite")
    p = _make(metadata_connection_config=metadata, beam_pipeline_args=["--direct_num_workers=2"],
              enable_cache=True)
    assert p.metadata_connection_config is metadata
    assert p.beam_pipeline_args == ["--direct_num_workers=2"]
    assert p.enable_cache


def test_pure_function_of_its_arguments():
    train = dict(TRAIN)
    a, b = _make(train_config=train), _make(train_config=train)
    assert train == TRAIN  # not mutated
    assert ([x.exec_properties for x in a.components] ==
            [x.exec_properties for x in b.components])


def test_folder_dataset_evaluates_on_train_and_passes_clip_length():
    c = _by_id(_make(dataset="folder", train_config=dict(TRAIN, clip_length=8000)))
    assert _as_dict(c["Trainer"].exec_properties["eval_args"]) == {"splits": ["train"]}
    assert c["AudioExampleGen"].exec_properties["clip_length"] == 8000


def test_spoken_digits_without_manual_dir():
    c = _by_id(_make(manual_dir=None))
    assert "manual_dir" not in json.loads(c["Trainer"].exec_properties["custom_config"])


@pytest.mark.parametrize("train, match", [
    ({"model_dir": "/x"}, "may not set model_dir"),
    ({"data_dir": "/x"}, "may not set data_dir"),
    ({"dataset": "sc10"}, "contradicts the pipeline's dataset"),
    ({"manual_dir": "/other"}, "contradicts the pipeline's manual_dir"),
    ({"widht": 0.5}, "not a clar_tf Config field"),
    ({"method": "nope"}, "`method` must be one of"),
])
def test_bad_train_config_fails_at_construction(train, match):
    with pytest.raises(ValueError, match=match):
        _make(train_config=train)
