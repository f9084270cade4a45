"""create_pipeline: AudioExampleGen → StatisticsGen → SchemaGen → ExampleValidator →
AnomalyGate → Trainer → LinearEvaluator → Pusher, the Trainer's custom_config a valid
clar_tf Config, and nothing else decided."""
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


def test_components_in_order():
    p = _make()
    assert [c.id for c in p.components] == [
        "AudioExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
        "Trainer", "LinearEvaluator", "Pusher"]
    assert p.pipeline_info.pipeline_name == "clar-test"
    assert p.pipeline_info.pipeline_root == "/root"


def test_wiring():
    c = _by_id(_make())
    gen, trainer, evaluator, pusher = (c["AudioExampleGen"], c["Trainer"],
                                       c["LinearEvaluator"], c["Pusher"])
    stats, schema, validator, gate = (c["StatisticsGen"], c["SchemaGen"],
                                      c["ExampleValidator"], c["AnomalyGate"])
    assert stats.inputs["examples"] is gen.outputs["examples"]
    assert schema.inputs["statistics"] is stats.outputs["statistics"]
    assert validator.inputs["statistics"] is stats.outputs["statistics"]
    assert validator.inputs["schema"] is schema.outputs["schema"]
    assert gate.inputs["anomalies"] is validator.outputs["anomalies"]
    assert gate in trainer.upstream_nodes  # no training before the data is validated
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
    assert custom == TRAIN  # the data is the Examples artifact (run_fn)
    assert c["AnomalyGate"].exec_properties["allow_anomalies"] is False
    assert c["AudioExampleGen"].exec_properties["skip_bad_files"] is False
    assert c["SchemaGen"].exec_properties["infer_feature_shape"] in (1, True)
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
    c = _by_id(_make(dataset="folder", clip_length=8000, skip_bad_files=True,
                     allow_anomalies=True))
    assert _as_dict(c["Trainer"].exec_properties["eval_args"]) == {"splits": ["train"]}
    assert c["AudioExampleGen"].exec_properties["clip_length"] == 8000
    assert c["AudioExampleGen"].exec_properties["skip_bad_files"] is True
    assert c["AnomalyGate"].exec_properties["allow_anomalies"] is True


@pytest.mark.parametrize("train, match", [
    ({"model_dir": "/x"}, "may not set model_dir"),
    ({"data_dir": "/x"}, "may not set data_dir"),
    ({"dataset": "sc10"}, "may not set dataset"),
    ({"manual_dir": "/other"}, "may not set manual_dir"),
    ({"clip_length": 8000}, "may not set clip_length"),
    ({"widht": 0.5}, "not a clar_tf Config field"),
    ({"method": "nope"}, "`method` must be one of"),
])
def test_bad_train_config_fails_at_construction(train, match):
    with pytest.raises(ValueError, match=match):
        _make(train_config=train)
