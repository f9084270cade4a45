"""Data validation on AudioExampleGen's Examples with TFX's own StatisticsGen, SchemaGen
and ExampleValidator (as `create_pipeline` configures them), and the AnomalyGate that
keeps the Trainer off anomalous data."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.components.util import examples_utils
from tfx.types import artifact_utils

from clar_tf.datasets import examples as examples_format
from components.anomaly_gate import AnomalyGate, anomaly_lines
from pipelines import pipeline
from tfx_testing import artifact, run_executor

WORDS = sorted(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                "nine"])
standard = tfx.types.standard_artifacts


def _component(name):
    p = pipeline.create_pipeline(
        pipeline_name="t", pipeline_root="/r", dataset="spoken_digits", manual_dir=None,
        train_config={}, serving_dir="/s", accuracy_threshold=0.0)
    return next(c for c in p.components if c.id == name)


def _run(name, inputs, outputs):
    component = _component(name)
    run_executor(type(component), inputs, outputs, dict(component.exec_properties))


def _validate(examples, tmp_path):
    """(statistics, schema, anomalies) artifacts of `examples`."""
    stats = artifact(standard.ExampleStatistics, tmp_path / "stats")
    _run("StatisticsGen", {"examples": [examples]}, {"statistics": [stats]})
    schema = artifact(standard.Schema, tmp_path / "schema")
    _run("SchemaGen", {"statistics": [stats]}, {"schema": [schema]})
    anomalies = artifact(standard.ExampleAnomalies, tmp_path / "anomalies")
    _run("ExampleValidator", {"statistics": [stats], "schema": [schema]},
         {"anomalies": [anomalies]})
    return stats, schema, anomalies


@pytest.fixture(scope="module")
def clean(examples, tmp_path_factory):
    return _validate(examples, tmp_path_factory.mktemp("clean"))


def test_statistics_show_the_ten_labels(clean):
    stats, _, _ = clean
    path = os.path.join(artifact_utils.get_split_uri([stats], "train"), "FeatureStats.pb")
    view = tfdv.load_stats_binary(path).datasets[0]
    by_name = {f.path.step[0]: f for f in view.features}
    assert set(by_name) == set(pipeline.STATS_FEATURES)  # not clip_id, not source
    label_names = by_name["label_name"].string_stats
    assert label_names.unique == 10
    assert sorted(v.label for v in label_names.rank_histogram.buckets) == WORDS
    audio = by_name["audio"].num_stats.common_stats
    assert audio.min_num_values == audio.max_num_values == 16000


def test_schema_holds_the_label_domain_and_the_clip_length(clean):
    _, schema_artifact, _ = clean
    schema = tfdv.load_schema_text(os.path.join(schema_artifact.uri, "schema.pbtxt"))
    assert sorted(tfdv.get_domain(schema, "label_name").value) == WORDS
    assert [d.size for d in tfdv.get_feature(schema, "audio").shape.dim] == [16000]


def test_clean_examples_pass_the_gate(clean, capsys):
    _, _, anomalies = clean
    assert anomaly_lines(anomalies) == []
    run_executor(AnomalyGate, {"anomalies": [anomalies]}, {}, {"allow_anomalies": False})
    assert "found no anomalies" in capsys.readouterr().out


def test_an_unknown_label_and_a_short_clip_stop_the_trainer(examples, tmp_path, capsys):
    bad = artifact(standard.Examples, tmp_path / "bad_examples")
    shutil.copytree(examples.uri, bad.uri, dirs_exist_ok=True)
    bad.split_names = examples.split_names
    examples_utils.set_file_format(bad, examples_utils.get_file_format(examples))
    # One more test clip: a label outside the ten words, half the clip length.
    extra = os.path.join(examples_format.split_dir(bad.uri, "test"), "extra.gz")
    with tf.io.TFRecordWriter(extra, options="GZIP") as writer:
        writer.write(examples_format.to_example("eleven/x.wav", "/x.wav", 10,
                                                np.zeros(8000, np.int16), WORDS + ["eleven"]))
    _, _, anomalies = _validate(bad, tmp_path)
    lines = anomaly_lines(anomalies)
    assert any(line.startswith("test: label_name:") for line in lines), lines
    assert any(line.startswith("test: audio:") for line in lines), lines
    assert not any(line.startswith(("train:", "validation:")) for line in lines)
    with pytest.raises(ValueError, match="anomalies in the Examples, so the Trainer will "
                                         "not run: test: audio"):
        run_executor(AnomalyGate, {"anomalies": [anomalies]}, {}, {"allow_anomalies": False})
    run_executor(AnomalyGate, {"anomalies": [anomalies]}, {}, {"allow_anomalies": True})
    assert "training despite anomalies" in capsys.readouterr().out
