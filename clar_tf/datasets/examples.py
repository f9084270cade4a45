"""TFX `Examples`: `Split-<split>/*.gz` TFRecords of `tf.Example`, the dataset `examples`.

TFX's ExampleGens, StatisticsGen, SchemaGen and ExampleValidator read and write one
folder per split of gzipped TFRecord files of `tf.train.Example`. The pipeline's
AudioExampleGen (`components/`) writes clips in that layout; this module is the format
both sides share: `to_example` encodes a clip, `load` reads a split back with tf.data
(no TFDS), `write_info` / `read_info` the small JSON (`INFO_FILE`, beside the split
folders) that names the classes, the clip length and the splits' sizes. With it any
clar_tf command trains on the pipeline's data: `--dataset=examples --manual_dir=<uri>`.

    <uri>/Split-train/data_tfrecord-00000-of-00001.gz
    <uri>/Split-test/...
    <uri>/clar_tf_examples.json

Features of one clip (`FEATURES`):

| feature | type | |
|---|---|---|
| audio | int64 × clip_length | 16-bit PCM values (int16 range), 16 kHz, padded/clipped |
| label | int64 | class index (-1: unlabeled) |
| label_name | bytes | class name ("" when unlabeled), the label domain of the schema |
| clip_id | bytes | the clip's key in its dataset (e.g. `yes/0a7c2a8d_nohash_0.wav`) |
| source | bytes | the file it was decoded from |
| sample_rate | int64 | 16000 |

The audio is stored as integers so that StatisticsGen/SchemaGen see a fixed length (the
schema's `shape`) and read back as float32 q / 32768, as the TFDS builders' int16
storage does (`base.from_pcm16`). The order of clips within a split is the order of the
files written (Beam does not promise one across runs); `load` reads the files sorted.
"""
import json
import os

import numpy as np
import tensorflow as tf

from clar_tf.audio import io as audio_io
from clar_tf.datasets import base

INFO_FILE = "clar_tf_examples.json"
SPLIT_PREFIX = "Split-"
FILE_PATTERN = "*.gz"
FEATURES = ("audio", "label", "label_name", "clip_id", "source", "sample_rate")


def split_dir(uri, split):
    """`<uri>/Split-<split>`: TFX's folder of one split."""
    return os.path.join(uri, f"{SPLIT_PREFIX}{split}")


def to_example(key, path, label, pcm, class_names):
    """One serialized `tf.train.Example` of a clip.

    Args:
      key: the clip's id in its dataset (str).
      path: the source file (str).
      label: class index, or -1 for an unlabeled clip.
      pcm: int16 PCM samples [clip_length] at 16 kHz.
      class_names: the dataset's class names (label i = class_names[i]).
    """
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"pcm must be int16 [clip_length]. Received: {pcm.dtype} "
                         f"{list(pcm.shape)} for {path}")
    label = int(label)
    name = class_names[label] if label >= 0 else ""
    feature = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        "audio": feature(int64_list=tf.train.Int64List(value=pcm.astype(np.int64))),
        "label": feature(int64_list=tf.train.Int64List(value=[label])),
        "label_name": feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
        "clip_id": feature(bytes_list=tf.train.BytesList(value=[str(key).encode()])),
        "source": feature(bytes_list=tf.train.BytesList(value=[str(path).encode()])),
        "sample_rate": feature(int64_list=tf.train.Int64List(
            value=[audio_io.SAMPLE_RATE])),
    })).SerializeToString()


def write_info(uri, dataset, class_names, clip_length, splits):
    """Writes `<uri>/clar_tf_examples.json` (through tf.io.gfile); returns its path.

    Args:
      dataset: the clar_tf dataset the clips came from.
      splits: {split: number of examples}.
    """
    path = os.path.join(uri, INFO_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({"dataset": dataset, "class_names": list(class_names),
                   "clip_length": int(clip_length), "sample_rate": audio_io.SAMPLE_RATE,
                   "splits": {k: int(v) for k, v in sorted(splits.items())}}, f, indent=1)
    return path


def read_info(uri):
    """The dict `write_info` wrote; ValueError naming the path when it is missing or
    not that JSON."""
    path = os.path.join(uri, INFO_FILE)
    if not tf.io.gfile.exists(path):
        raise ValueError(f"--manual_dir={uri} is not a clar_tf Examples folder: {path} "
                         "does not exist (AudioExampleGen writes it beside Split-*/)")
    try:
        with tf.io.gfile.GFile(path) as f:
            info = json.load(f)
        keys = {"class_names", "clip_length", "splits", "sample_rate"}
        if not isinstance(info, dict) or not keys <= set(info):
            raise ValueError(f"needs the keys {sorted(keys)}")
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path} is not a clar_tf Examples description: {e}") from None
    if info["sample_rate"] != audio_io.SAMPLE_RATE:
        raise ValueError(f"{path}: sample_rate {info['sample_rate']}, clar_tf reads "
                         f"{audio_io.SAMPLE_RATE} Hz examples")
    return info


def files(uri, split):
    """The sorted TFRecord files of one split; ValueError naming the folder when none."""
    pattern = os.path.join(split_dir(uri, split), FILE_PATTERN)
    found = sorted(tf.io.gfile.glob(pattern))
    if not found:
        raise ValueError(f"No TFRecord files match {pattern}")
    return found


def feature_spec(clip_length):
    """The `tf.io.parse_example` spec of the features training reads."""
    return {"audio": tf.io.FixedLenFeature([clip_length], tf.int64),
            "label": tf.io.FixedLenFeature([], tf.int64)}


def load(uri, split, clip_length):
    """`{"audio": float32[clip_length], "label": int64}` of one split, file by file.

    A record whose audio does not have `clip_length` values fails when read, naming
    the feature (tf.io's error).
    """
    spec = feature_spec(clip_length)

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        return {"audio": base.from_pcm16(example["audio"]), "label": example["label"]}

    return (tf.data.TFRecordDataset(files(uri, split), compression_type="GZIP")
            .map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
