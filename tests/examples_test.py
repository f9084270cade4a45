"""The `examples` dataset: TFX Examples (Split-*/ gzipped TFRecords of tf.Example) written
from a dataset's source files and read back by clar_tf, against soundfile and TFDS."""
import json
import os

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from clar_tf import datasets
from clar_tf.datasets import examples, labels
from testing import spoken_digits


def _write(uri, name, manual_dir, **kwargs):
    """The Examples of `name` written here in one process (the TFX AudioExampleGen does
    the same over Beam): {split: [clip_id]} in the order written."""
    builder, items = datasets.source_items(name, manual_dir, **kwargs)
    config = builder.builder_config
    order, counts = {}, {}
    for split, split_items in items.items():
        os.makedirs(examples.split_dir(uri, split))
        path = os.path.join(examples.split_dir(uri, split), "data-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for item in split_items:
                for key, ex in builder.example(item):
                    writer.write(examples.to_example(key, item[1], ex["label"], ex["audio"],
                                                     config.class_names))
                    order.setdefault(split, []).append(key)
        counts[split] = len(order.get(split, []))
    examples.write_info(uri, name, config.class_names, config.clip_length, counts)
    return order


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    data = spoken_digits(tmp_path_factory.mktemp("digits"), 4)
    uri = str(tmp_path_factory.mktemp("examples"))
    return data, uri, _write(uri, "spoken_digits", data["manual_dir"])


def _records(uri, split):
    ds = tf.data.TFRecordDataset(examples.files(uri, split), compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()).features.feature for r in ds]


def test_examples_hold_the_source_files_bit_exactly(written):
    data, uri, order = written
    for split in ("train", "validation", "test"):
        records = _records(uri, split)
        assert [r["clip_id"].bytes_list.value[0].decode() for r in records] == order[split]
        for r in records:
            source = r["source"].bytes_list.value[0].decode()
            pcm, rate = soundfile.read(source, dtype="int16")  # the file itself
            assert rate == 16000 and r["sample_rate"].int64_list.value[0] == 16000
            expected = np.zeros(16000, np.int16)
            expected[:min(16000, pcm.size)] = pcm[:16000]
            np.testing.assert_array_equal(np.array(r["audio"].int64_list.value), expected)
            word = os.path.basename(os.path.dirname(source))
            assert r["label_name"].bytes_list.value[0].decode() == word
            assert r["label"].int64_list.value[0] == labels.SC10_WORDS.index(word)


def test_load_equals_the_tfds_builder(written):
    data, uri, _ = written
    info = datasets.info("examples", data_dir="unused", manual_dir=uri)
    tfds_info = datasets.info("spoken_digits", **data)
    assert (info.class_names, info.clip_length, info.splits, info.test_split) == (
        tfds_info.class_names, tfds_info.clip_length, tfds_info.splits, "test")
    for split in ("train", "test"):
        ours = list(datasets.load("examples", split, data_dir="unused", manual_dir=uri)
                    .as_numpy_iterator())
        theirs = list(datasets.load("spoken_digits", split, **data).as_numpy_iterator())
        assert len(ours) == len(theirs) == info.splits[split]
        assert all(a["audio"].dtype == np.float32 for a in ours)
        # TFDS shuffles its records by key: the same (label, audio) pairs, bit for bit.
        key = lambda e: (int(e["label"]), e["audio"].tobytes())  # noqa: E731
        assert sorted(map(key, ours)) == sorted(map(key, theirs))


def test_bad_examples_folders_say_which_file(written, tmp_path):
    _, uri, _ = written
    with pytest.raises(ValueError, match="is not a clar_tf Examples folder.*clar_tf_examples"):
        datasets.info("examples", data_dir="x", manual_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--manual_dir is required"):
        datasets.info("examples", data_dir="x")
    (tmp_path / examples.INFO_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=f"{examples.INFO_FILE} is not a clar_tf Examples"):
        datasets.info("examples", data_dir="x", manual_dir=str(tmp_path))
    with pytest.raises(ValueError, match="holds clips of 16000 samples"):
        datasets.info("examples", data_dir="x", manual_dir=uri, clip_length=8000)
    with pytest.raises(ValueError, match="Unknown split.*Allowed: test, train, validation"):
        datasets.load("examples", "eval", data_dir="x", manual_dir=uri)
    with open(tmp_path / examples.INFO_FILE, "w") as f:
        json.dump({"class_names": ["a"], "clip_length": 4, "sample_rate": 16000,
                   "splits": {"train": 1}}, f)
    with pytest.raises(ValueError, match="No TFRecord files match .*Split-train"):
        datasets.load("examples", "train", data_dir="x", manual_dir=str(tmp_path))
    # A record of another length fails when read, naming the feature.
    os.makedirs(examples.split_dir(str(tmp_path), "train"))
    with tf.io.TFRecordWriter(os.path.join(examples.split_dir(str(tmp_path), "train"),
                                           "d.gz"), options="GZIP") as w:
        w.write(examples.to_example("k", "p", 0, np.zeros(5, np.int16), ["a"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio"):
        list(datasets.load("examples", "train", data_dir="x", manual_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="pcm must be int16"):
        examples.to_example("k", "p", 0, np.zeros(5, np.float32), ["a"])


def test_source_items_are_the_builders_splits(written):
    data, _, order = written
    _, items = datasets.source_items("spoken_digits", data["manual_dir"])
    assert {s: [key for key, _, _ in v] for s, v in items.items()} == order
    with pytest.raises(ValueError, match="Unknown dataset.*'examples'"):
        datasets.source_items("examples", data["manual_dir"])
