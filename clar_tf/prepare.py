"""Prepares a dataset once (TFDS shows progress) and prints per-split, per-class counts.

    python -m clar_tf.prepare --dataset=sc10 --manual_dir=/data/speech_commands \\
        --data_dir=/data/tfds [--clip_length=N] [--unlabeled] [--skip_bad_files]

`--dataset` is one of `clar_tf.datasets.NAMES`; see `clar_tf.datasets` for the layout
each expects in `--manual_dir` and for preparing at scale with Apache Beam.
"""
import dataclasses
import sys
from typing import Optional

import numpy as np

from clar_tf import checks, cli, datasets, demo_data


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


@dataclasses.dataclass(frozen=True)
class PrepareArgs:
    """`python -m clar_tf.prepare`'s flags."""

    dataset: str
    data_dir: str
    manual_dir: Optional[str] = None
    clip_length: Optional[int] = None
    unlabeled: bool = False
    skip_bad_files: bool = False

    def __post_init__(self):
        checks.check_choice("dataset", self.dataset, datasets.NAMES)
        checks.check_clip_length(self.clip_length)


HELP = {
    "dataset": "Dataset to prepare.",
    "data_dir": "Where prepared datasets live.",
    "manual_dir": "The published layout to prepare from.",
    "clip_length": (f"Samples per clip at 16 kHz (required for folder), at most "
                    f"{checks.MAX_CLIP_LENGTH} (10 minutes)."),
    "unlabeled": "folder only: read all audio files, label -1.",
    "skip_bad_files": "Skip unreadable/empty/truncated files.",
}
CHOICES = {"dataset": datasets.NAMES}


def main(args):
    """Prepares `args.dataset` (a `PrepareArgs`) and prints its counts."""
    kwargs = dict(data_dir=args.data_dir, manual_dir=args.manual_dir,
                  clip_length=args.clip_length, unlabeled=args.unlabeled,
                  skip_bad_files=args.skip_bad_files)
    try:
        demo_data.ensure(args.dataset, args.data_dir, args.manual_dir)
        ds_info = datasets.info(args.dataset, **kwargs)
        counts = class_counts(args.dataset, ds_info, **kwargs)
    except (ValueError, FileNotFoundError) as e:  # user errors name their flag or file
        sys.exit(f"error: {e}")
    print(format_counts(ds_info, counts))


def cli_main():
    """The `clar-prepare` console script (and `python -m clar_tf.prepare`)."""
    cli.main(PrepareArgs, main, HELP, CHOICES)


if __name__ == "__main__":
    cli_main()
