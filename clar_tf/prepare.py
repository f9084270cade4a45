"""Prepares a dataset once (TFDS shows progress) and prints per-split, per-class counts.

    python -m clar_tf.prepare --dataset=sc10 --manual_dir=/data/speech_commands \\
        --data_dir=/data/tfds [--clip_length=N] [--unlabeled] [--skip_bad_files]

`--dataset` is one of `clar_tf.datasets.NAMES`; see `clar_tf.datasets` for the layout
each expects in `--manual_dir` and for preparing at scale with Apache Beam.
"""
import sys

import numpy as np

from clar_tf import datasets


def class_counts(name, ds_info, **load_kwargs):
    """{split: int array [num_classes + 1]}: examples per class, then unlabeled (-1)."""
    counts = {}
    for split in ds_info.splits:
        labels = datasets.load(name, split, **load_kwargs).map(lambda e: e["label"])
        found = np.zeros(ds_info.num_classes + 1, np.int64)
        for batch in labels.batch(4096).as_numpy_iterator():
            found += np.bincount(np.where(batch < 0, ds_info.num_classes, batch),
                                 minlength=ds_info.num_classes + 1)
        counts[split] = found
    return counts


def format_counts(ds_info, counts):
    """A table: one row per class (and unlabeled, if any), one column per split."""
    names = list(ds_info.class_names) + ["(unlabeled)"]
    splits = list(counts)
    width = max(len(n) for n in names + ["total"])
    lines = [f"{ds_info.name}: {ds_info.num_classes} classes, clips of "
             f"{ds_info.clip_length} samples at 16 kHz",
             " ".join([f"{'class':<{width}}"] + [f"{s:>10}" for s in splits])]
    for i, name in enumerate(names):
        if i < ds_info.num_classes or any(counts[s][i] for s in splits):
            lines.append(" ".join([f"{name:<{width}}"] +
                                  [f"{counts[s][i]:>10}" for s in splits]))
    lines.append(" ".join([f"{'total':<{width}}"] +
                          [f"{counts[s].sum():>10}" for s in splits]))
    return "\n".join(lines)


def main(argv):
    """CLI entry: parses its own flags (nothing global), prepares, prints the counts."""
    from absl import flags
    fv = flags.FlagValues()
    flags.DEFINE_enum("dataset", None, datasets.NAMES, "Dataset to prepare.",
                      required=True, flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Where prepared datasets live.", required=True,
                        flag_values=fv)
    flags.DEFINE_string("manual_dir", None, "The published layout to prepare from.",
                        flag_values=fv)
    flags.DEFINE_integer("clip_length", None, "Samples per clip (required for folder).",
                         flag_values=fv)
    flags.DEFINE_bool("unlabeled", False, "folder only: read all audio files, label -1.",
                      flag_values=fv)
    flags.DEFINE_bool("skip_bad_files", False, "Skip unreadable/empty/truncated files.",
                      flag_values=fv)
    try:
        fv(argv)
    except flags.Error as e:
        sys.exit(f"{e}\n{__doc__}")
    kwargs = dict(data_dir=fv.data_dir, manual_dir=fv.manual_dir,
                  clip_length=fv.clip_length, unlabeled=fv.unlabeled,
                  skip_bad_files=fv.skip_bad_files)
    try:
        ds_info = datasets.info(fv.dataset, **kwargs)
        counts = class_counts(fv.dataset, ds_info, **kwargs)
    except (ValueError, FileNotFoundError) as e:  # user errors name their flag or file
        sys.exit(f"error: {e}")
    print(format_counts(ds_info, counts))


if __name__ == "__main__":
    main(sys.argv)
