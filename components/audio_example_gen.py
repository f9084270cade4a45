"""AudioExampleGen: a clar_tf dataset, prepared by its TFDS builder, as `Examples`.

TFX's own ExampleGens write `Split-<name>/*.tfrecord.gz` of `tf.Example`s. clar_tf's
datasets are TFDS builders that decode, resample and pad every clip once
(`clar_tf.datasets`), so this component prepares the dataset with the same builder
into the artifact's uri and hands that folder on: **the `Examples` uri is a TFDS
`data_dir`**, which `clar_tf.datasets.load(name, split, data_dir=examples.uri)` (and the
Trainer's `run_fn`) reads. The layout inside it is TFDS's:

    <uri>/<builder>/<config>/<version>/{dataset_info.json, *.tfrecord-NNNNN-of-NNNNN}
    <uri>/downloads/manual/spoken_digits/...   (only when spoken_digits is generated)

The artifact records what downstream components need, the TFX way:

* property `split_names`: the dataset's splits, e.g. `["test", "train", "validation"]`
  (what `artifact_utils.get_split_uris` and the Trainer's train/eval args check);
* custom properties `file_format` = "tfds", `dataset`, `num_classes`, `clip_length`,
  `class_names` (JSON list), `num_examples` (JSON {split: count}), `train_split`,
  `test_split`.
"""
import json

from tfx import v1 as tfx
from tfx.types import artifact_utils

from clar_tf import datasets, demo_data

FILE_FORMAT = "tfds"


@tfx.dsl.components.component
def AudioExampleGen(
    examples: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Examples],
    dataset: tfx.dsl.components.Parameter[str],
    manual_dir: tfx.dsl.components.Parameter[str] = None,
    clip_length: tfx.dsl.components.Parameter[int] = None,
):
    """Prepares `dataset` (one of clar_tf.datasets.NAMES) into `examples.uri`.

    Args:
      examples: output; its uri becomes the TFDS data_dir of the prepared dataset.
      dataset: clar_tf dataset name, e.g. "spoken_digits", "sc10", "nsynth11", "folder".
      manual_dir: the dataset's published layout (see its module in clar_tf.datasets);
        for spoken_digits it may be empty, and the offline set is generated inside the
        artifact (needs espeak-ng).
      clip_length: samples per clip; `folder` only.
    """
    if dataset not in datasets.NAMES:
        raise ValueError(f"Unknown dataset. Received: dataset={dataset!r}. Allowed: "
                         f"{', '.join(datasets.NAMES)}")
    demo_data.ensure(dataset, examples.uri, manual_dir or None)
    info = datasets.info(dataset, data_dir=examples.uri, manual_dir=manual_dir or None,
                         clip_length=clip_length or None)
    examples.split_names = artifact_utils.encode_split_names(sorted(info.splits))
    examples.set_string_custom_property("file_format", FILE_FORMAT)
    examples.set_string_custom_property("dataset", dataset)
    examples.set_int_custom_property("num_classes", info.num_classes)
    examples.set_int_custom_property("clip_length", info.clip_length)
    examples.set_string_custom_property("class_names", json.dumps(list(info.class_names)))
    examples.set_string_custom_property("num_examples", json.dumps(info.splits,
                                                                   sort_keys=True))
    examples.set_string_custom_property("train_split", info.train_split)
    examples.set_string_custom_property("test_split", info.test_split)
