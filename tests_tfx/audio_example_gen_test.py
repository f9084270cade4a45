"""AudioExampleGen: the prepared dataset is a TFDS data_dir at the artifact's uri."""
import json
import os

import numpy as np
import pytest
from tfx import v1 as tfx
from tfx.types import artifact_utils

from clar_tf import datasets
from components.audio_example_gen import AudioExampleGen
from tfx_testing import artifact, run_executor


def _lines(path):
    with open(path) as f:
        return [line for line in f.read().splitlines() if line]


def test_split_names_recorded_as_tfx_does(examples):
    assert artifact_utils.decode_split_names(examples.split_names) == [
        "test", "train", "validation"]
    # TFX's own helper accepts them, as the Trainer will.
    assert artifact_utils.get_split_uris([examples], "train") == [
        os.path.join(examples.uri, "Split-train")]


def test_custom_properties_describe_the_dataset(examples, digits_dir):
    props = examples.mlmd_artifact.custom_properties
    assert props["file_format"].string_value == "tfds"
    assert props["dataset"].string_value == "spoken_digits"
    assert props["num_classes"].int_value == 10
    assert props["clip_length"].int_value == 16000
    assert json.loads(props["class_names"].string_value) == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    # Counts from the manual_dir's own lists (10 clips per word, lists as written).
    n_val = len(_lines(os.path.join(digits_dir, "validation_list.txt")))
    n_test = len(_lines(os.path.join(digits_dir, "testing_list.txt")))
    assert json.loads(props["num_examples"].string_value) == {
        "train": 100 - n_val - n_test, "validation": n_val, "test": n_test}
    assert props["train_split"].string_value == "train"
    assert props["test_split"].string_value == "test"


def test_uri_is_a_tfds_data_dir(examples, digits_dir):
    version_dir = os.path.join(examples.uri, "clar_speech_commands", "spoken_digits",
                               "2.0.0")  # int16 storage
    assert os.path.exists(os.path.join(version_dir, "dataset_info.json"))
    assert any(name.startswith("clar_speech_commands-train.tfrecord")
               for name in os.listdir(version_dir))
    # Readable with clar_tf's own loader and nothing but the uri (no manual_dir).
    batch = next(iter(datasets.load("spoken_digits", "test", data_dir=examples.uri)
                      .batch(100)))
    # The labels are the words of testing_list.txt, numbered in sorted-folder order.
    words = sorted(d for d in os.listdir(digits_dir) if not d.startswith("_")
                   and os.path.isdir(os.path.join(digits_dir, d)))
    want = sorted(words.index(p.split("/")[0])
                  for p in _lines(os.path.join(digits_dir, "testing_list.txt")))
    assert batch["audio"].shape == (len(want), 16000)
    assert batch["audio"].dtype == np.float32
    assert sorted(batch["label"].numpy().tolist()) == want


def test_unknown_dataset_is_refused(tmp_path):
    out = artifact(tfx.types.standard_artifacts.Examples, tmp_path)
    with pytest.raises(ValueError, match="Unknown dataset.*dataset='nope'"):
        run_executor(AudioExampleGen, {}, {"examples": [out]}, {"dataset": "nope"})
