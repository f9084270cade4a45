"""AudioExampleGen: Split-*/ gzipped TFRecords of tf.Example from a Beam pipeline, read
back bit-exactly against the source files (soundfile) and by clar_tf's `examples`."""
import json
import os

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.util import examples_utils
from tfx.types import artifact_utils

from clar_tf import datasets
from components.audio_example_gen import AudioExampleGen, SKIPPED_FILE
from tfx_testing import artifact, run_executor


def _lines(path):
    with open(path) as f:
        return [line for line in f.read().splitlines() if line]


def _records(examples, split):
    files = sorted(tf.io.gfile.glob(os.path.join(
        artifact_utils.get_split_uri([examples], split), "*.gz")))
    assert files and all(os.path.basename(f).startswith("data_tfrecord-") for f in files)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()).features.feature for r in ds]


def test_splits_and_properties_as_tfx_records_them(examples, digits_dir):
    assert artifact_utils.decode_split_names(examples.split_names) == [
        "test", "train", "validation"]
    assert sorted(os.listdir(examples.uri)) == [
        "Split-test", "Split-train", "Split-validation", "clar_tf_examples.json"]
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    assert examples_utils.get_payload_format_string(examples) == "FORMAT_TF_EXAMPLE"
    props = examples.mlmd_artifact.custom_properties
    assert props["dataset"].string_value == "spoken_digits"
    assert props["num_classes"].int_value == 10 and props["clip_length"].int_value == 16000
    assert props["num_skipped"].int_value == 0
    assert json.loads(props["class_names"].string_value) == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    # Counts from the manual_dir's own lists (10 clips per word, lists as written).
    n_val = len(_lines(os.path.join(digits_dir, "validation_list.txt")))
    n_test = len(_lines(os.path.join(digits_dir, "testing_list.txt")))
    counts = {"train": 100 - n_val - n_test, "validation": n_val, "test": n_test}
    assert json.loads(props["num_examples"].string_value) == counts
    assert {s: len(_records(examples, s)) for s in counts} == counts


def test_examples_round_trip_bit_exactly_to_the_wav_files(examples, digits_dir):
    listed = {"test": _lines(os.path.join(digits_dir, "testing_list.txt")),
              "validation": _lines(os.path.join(digits_dir, "validation_list.txt"))}
    words = sorted(d for d in os.listdir(digits_dir) if not d.startswith("_")
                   and os.path.isdir(os.path.join(digits_dir, d)))
    for split in ("train", "validation", "test"):
        records = _records(examples, split)
        ids = sorted(r["clip_id"].bytes_list.value[0].decode() for r in records)
        if split in listed:
            assert ids == sorted(listed[split])  # the split lists, every file once
        for r in records:
            clip_id = r["clip_id"].bytes_list.value[0].decode()
            source = r["source"].bytes_list.value[0].decode()
            assert source == os.path.join(digits_dir, clip_id)
            pcm, rate = soundfile.read(source, dtype="int16")  # 16 kHz int16 wav
            assert rate == 16000 == r["sample_rate"].int64_list.value[0]
            want = np.zeros(16000, np.int16)
            want[:min(pcm.size, 16000)] = pcm[:16000]
            np.testing.assert_array_equal(np.array(r["audio"].int64_list.value), want)
            word = clip_id.split("/")[0]
            assert r["label_name"].bytes_list.value[0].decode() == word
            assert r["label"].int64_list.value[0] == words.index(word)


def test_clar_tf_reads_the_examples(examples):
    info = datasets.info("examples", data_dir="unused", manual_dir=examples.uri)
    assert (info.num_classes, info.clip_length, info.test_split) == (10, 16000, "test")
    batch = next(iter(datasets.load("examples", "test", data_dir="unused",
                                    manual_dir=examples.uri).batch(1000)))
    records = _records(examples, "test")
    assert batch["audio"].dtype == tf.float32
    np.testing.assert_array_equal(  # float32 q / 32768, in the files' order
        batch["audio"].numpy() * 32768,
        np.array([r["audio"].int64_list.value for r in records], np.float32))


def test_bad_files_fail_or_are_skipped_and_named(tmp_path, digits_dir):
    import shutil
    manual = tmp_path / "digits"
    shutil.copytree(digits_dir, manual)
    bad = manual / _lines(os.path.join(digits_dir, "testing_list.txt"))[0]
    bad.write_bytes(b"RIFF not really a wav")
    out = artifact(tfx.types.standard_artifacts.Examples, tmp_path / "fail")
    with pytest.raises(Exception, match=str(bad)):
        run_executor(AudioExampleGen, {}, {"examples": [out]},
                     {"dataset": "spoken_digits", "manual_dir": str(manual)})
    out = artifact(tfx.types.standard_artifacts.Examples, tmp_path / "skip")
    run_executor(AudioExampleGen, {}, {"examples": [out]},
                 {"dataset": "spoken_digits", "manual_dir": str(manual),
                  "skip_bad_files": True})
    assert _lines(os.path.join(out.uri, SKIPPED_FILE)) == [str(bad)]
    assert out.mlmd_artifact.custom_properties["num_skipped"].int_value == 1
    n_test = len(_lines(os.path.join(digits_dir, "testing_list.txt")))
    assert json.loads(out.mlmd_artifact.custom_properties["num_examples"].string_value)[
        "test"] == n_test - 1 == len(_records(out, "test"))


def test_unknown_dataset_is_refused(tmp_path):
    out = artifact(tfx.types.standard_artifacts.Examples, tmp_path)
    with pytest.raises(ValueError, match="Unknown dataset.*dataset='nope'"):
        run_executor(AudioExampleGen, {}, {"examples": [out]}, {"dataset": "nope"})
