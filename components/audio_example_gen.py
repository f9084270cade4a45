"""AudioExampleGen: a clar_tf dataset's source files as standard TFX `Examples`, on Beam.

    <uri>/Split-<split>/data_tfrecord-NNNNN-of-NNNNN.gz   gzipped TFRecords of tf.Example
    <uri>/clar_tf_examples.json                           classes, clip length, split sizes

one folder per split of the dataset (`train`, `validation`, `test`; `folder`: `train`),
the layout TFX's own ExampleGens write, so StatisticsGen, SchemaGen and ExampleValidator
read it, and clar_tf trains on it (`--dataset=examples --manual_dir=<uri>`; the Trainer's
run_fn does). The features of a clip are `clar_tf.datasets.examples.FEATURES` (audio as
16-bit PCM values, label, label_name, clip_id, source, sample_rate).

The work is one Beam pipeline (the pipeline's `beam_pipeline_args` choose the runner:
DirectRunner with several workers here, Dataflow, Flink or Spark unchanged): the file list
of each split (`clar_tf.datasets.source_items`: the layout read as the TFDS builder
reads it) → decode, mix to mono, resample to 16 kHz, pad or clip and quantise to int16
(the builder's own `example`, i.e. `clar_tf.audio.io`) → `tf.Example` → `WriteToTFRecord`.
A bad file (unreadable, empty, truncated) fails the run with its path, unless
`skip_bad_files` is set: then it is left out and named, in the log, in
`<uri>/skipped_files.txt` and in the `num_skipped` property, never dropped silently.

Artifact properties, the TFX way: `split_names` (e.g. `["test", "train", "validation"]`);
custom properties `file_format` = "tfrecords_gzip", `payload_format` =
"FORMAT_TF_EXAMPLE", `dataset`, `num_classes`, `clip_length`, `class_names` (JSON list),
`num_examples` (JSON {split: count}), `num_skipped`, `train_split`, `test_split`.
"""
import json
import os
import shutil
import tempfile

import apache_beam as beam
from tfx import v1 as tfx
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from clar_tf import datasets, demo_data
from clar_tf.datasets import examples as examples_format

FILE_FORMAT = "tfrecords_gzip"  # the tfx_bsl name of what WriteToTFRecord(.gz) writes
SKIPPED_FILE = "skipped_files.txt"
_BAD = "bad"


class _Encode(beam.DoFn):
    """(key, path, label) → serialized tf.Example; a skipped bad file → its path on the
    `bad` output."""

    def __init__(self, builder, class_names):
        self._builder, self._class_names = builder, class_names

    def process(self, item):
        examples = self._builder.example(item)
        if not examples:
            yield beam.pvalue.TaggedOutput(_BAD, str(item[1]))
        for key, example in examples:
            yield examples_format.to_example(key, item[1], example["label"],
                                             example["audio"], self._class_names)


def _write_split(pipeline, split, items, builder, uri, scratch):
    """Adds one split's branch to `pipeline`: its TFRecords, and its count and skipped
    files as text in `scratch`."""
    config = builder.builder_config
    encoded = (pipeline
               | f"List{split}" >> beam.Create(items)
               | f"Shuffle{split}" >> beam.Reshuffle()  # spread the decoding over workers
               | f"Encode{split}" >> beam.ParDo(_Encode(builder, config.class_names))
               .with_outputs(_BAD, main="examples"))
    _ = (encoded.examples
         | f"Write{split}" >> beam.io.WriteToTFRecord(
             os.path.join(examples_format.split_dir(uri, split), "data_tfrecord"),
             file_name_suffix=".gz"))  # .gz: gzip, as TFX's ExampleGens write
    _ = (encoded.examples
         | f"Count{split}" >> beam.combiners.Count.Globally()
         | f"WriteCount{split}" >> beam.io.WriteToText(
             os.path.join(scratch, f"count-{split}"), shard_name_template=""))
    _ = (encoded[_BAD]
         | f"WriteBad{split}" >> beam.io.WriteToText(
             os.path.join(scratch, f"bad-{split}"), shard_name_template=""))


def _read_lines(path):
    fileio = tfx.dsl.io.fileio
    if not fileio.exists(path):
        return []
    with fileio.open(path) as f:
        return [line for line in f.read().splitlines() if line]


@tfx.dsl.components.component(use_beam=True)
def AudioExampleGen(
    examples: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Examples],
    dataset: tfx.dsl.components.Parameter[str],
    manual_dir: tfx.dsl.components.Parameter[str] = None,
    clip_length: tfx.dsl.components.Parameter[int] = None,
    skip_bad_files: tfx.dsl.components.Parameter[bool] = False,
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
):
    """Writes `dataset`'s clips from `manual_dir` as Examples into `examples.uri`.

    Args:
      examples: output: Split-<split>/ TFRecords of tf.Example.
      dataset: a clar_tf dataset with source files (clar_tf.datasets.NAMES but
        `examples`), e.g. "spoken_digits", "sc10", "nsynth11", "folder".
      manual_dir: the dataset's published layout (see its module in clar_tf.datasets);
        for spoken_digits it may be empty: the offline set is then generated in a
        temporary folder (needs espeak-ng) and removed afterwards.
      clip_length: samples per clip; `folder` only.
      skip_bad_files: leave out unreadable, empty or truncated files (named in
        skipped_files.txt and the log) instead of failing.
      beam_pipeline: the Beam pipeline TFX makes from `beam_pipeline_args`.
    """
    generated = None
    if dataset == "spoken_digits" and not manual_dir:
        generated = tempfile.mkdtemp(prefix="clar_tf_spoken_digits_")
        manual_dir = datasets.default_manual_dir(dataset, generated)
        demo_data.ensure(dataset, generated, manual_dir)
    try:
        builder, items = datasets.source_items(dataset, manual_dir or None,
                                               clip_length or None,
                                               skip_bad_files=bool(skip_bad_files))
        scratch = os.path.join(examples.uri, ".clar_tf_counts")
        with beam_pipeline as pipeline:
            for split, split_items in sorted(items.items()):
                _write_split(pipeline, split, split_items, builder, examples.uri, scratch)
    finally:
        if generated:
            shutil.rmtree(generated, ignore_errors=True)
    fileio = tfx.dsl.io.fileio
    counts = {split: int((_read_lines(os.path.join(scratch, f"count-{split}")) or [0])[0])
              for split in items}
    skipped = sorted(line for split in items
                     for line in _read_lines(os.path.join(scratch, f"bad-{split}")))
    fileio.rmtree(scratch)
    if skipped:
        with fileio.open(os.path.join(examples.uri, SKIPPED_FILE), "w") as f:
            f.write("".join(f"{path}\n" for path in skipped))
        print(f"AudioExampleGen: skipped {len(skipped)} bad audio file(s) "
              f"(skip_bad_files=True), listed in {os.path.join(examples.uri, SKIPPED_FILE)}: "
              f"{', '.join(skipped)}")
    config = builder.builder_config
    examples_format.write_info(examples.uri, dataset, config.class_names,
                               config.clip_length, counts)
    examples.split_names = artifact_utils.encode_split_names(sorted(items))
    examples_utils.set_file_format(examples, FILE_FORMAT)
    examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    for key, value in (("dataset", dataset), ("class_names", json.dumps(list(config.class_names))),
                       ("num_examples", json.dumps(counts, sort_keys=True)),
                       ("train_split", "train"),
                       ("test_split", "test" if "test" in items else "train")):
        examples.set_string_custom_property(key, value)
    for key, value in (("num_classes", len(config.class_names)),
                       ("clip_length", config.clip_length), ("num_skipped", len(skipped))):
        examples.set_int_custom_property(key, value)
