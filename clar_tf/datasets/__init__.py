"""Audio datasets as TFDS builders over their published layouts, and one `load()`.

| name | TFDS builder | classes (label order) | clip | splits |
|---|---|---|---|---|
| sc10, sc35 | clar_speech_commands | digits / 35 words, sorted | 16000 | train, validation, test |
| spoken_digits | clar_speech_commands | digits, sorted | 16000 | train, validation, test |
| nsynth11, nsynth128 | clar_nsynth | family / pitch | 64000 | train, validation, test |
| gm_notes | clar_nsynth | family | 16000 | train, validation, test |
| esc10, esc50 | clar_esc50 | ESC-10 remapped / target | 80000 | train (folds 1-4), test |
| folder | clar_folder | sorted class folders, or -1 | clip_length | train |
| examples | none (`examples`) | the Examples' | the Examples' | the Examples' |

Each module documents the layout it expects in `manual_dir`. Preparation runs once per
`data_dir` on first `info()`/`load()` (or via `python -m clar_tf.prepare`): every file is
decoded, resampled to 16 kHz and padded/clipped by `audio_io`, and stored as 16-bit PCM
(builder version 2.0.0; see `base`), so epochs read ready tensors; `load` returns
float32 q / 32768 as before. A data_dir that holds only a float32 preparation (version
1.0.0, clar_tf before int16 storage) is read as it is, with a note. `spoken_digits`
and `gm_notes` need no download: their manual_dir (default `default_manual_dir`) is
written by `clar_tf.demo_data` (`clar_tf.demo_music` for gm_notes), which the commands
that train or prepare call first (`demo_data.ensure`); this module never generates
audio. The `folder` dataset's test
split is its train split.

Preparing at scale with Apache Beam, the TFDS way: by default one process decodes every
file (Speech Commands takes minutes, NSynth's 300k notes hours). With `pip install
apache-beam`, the same builders run as a Beam pipeline when given Beam options:

    tfds build clar_nsynth/nsynth11 --imports=clar_tf.datasets \\
        --data_dir=DATA --manual_dir=NSYNTH \\
        --beam_pipeline_options="runner=DirectRunner,direct_num_workers=16,direct_running_mode=multi_processing"

(or `runner=DataflowRunner,project=...,temp_location=gs://...` on a cluster). Then
`load("nsynth11", split, data_dir=DATA)` reads the result. A bad file fails a
`tfds build` run (builders made with `skip_bad_files=True` log it in the workers).
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from clar_tf.datasets import base, esc50, examples, folder, nsynth, speech_commands


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What training needs to know about a prepared dataset."""
    name: str
    num_classes: int
    class_names: tuple
    clip_length: int
    train_split: str
    test_split: str
    splits: dict  # split name -> number of examples


NAMES = ("sc10", "sc35", "spoken_digits", "nsynth11", "nsynth128", "gm_notes", "esc10",
         "esc50", "folder", "examples")
# `examples`: a TFX Examples folder (`--manual_dir`), read as it is (`examples.load`).
EXAMPLES = "examples"
_BUILDERS = {
    "sc10": speech_commands.ClarSpeechCommands,
    "sc35": speech_commands.ClarSpeechCommands,
    "spoken_digits": speech_commands.ClarSpeechCommands,
    "nsynth11": nsynth.ClarNsynth,
    "nsynth128": nsynth.ClarNsynth,
    "gm_notes": nsynth.ClarNsynth,
    "esc10": esc50.ClarEsc50,
    "esc50": esc50.ClarEsc50,
    "folder": folder.ClarFolder,
}


def default_manual_dir(name, data_dir):
    """Where `name`'s published layout is looked for when no manual_dir is given:
    `<data_dir>/downloads/manual/<name>` (TFDS's own default; the generated sets
    `spoken_digits` and `gm_notes` only)."""
    return os.path.join(data_dir, "downloads", "manual", name)


def is_prepared(name, data_dir):
    """Whether `name` (one of NAMES but `folder`) is prepared in `data_dir`, in its
    current storage or an older one that `load` still reads."""
    builder_cls = _BUILDERS[name]
    return any(builder_cls(data_dir=data_dir, config=name, version=version).is_prepared()
               for version in [None, *map(str, builder_cls.SUPPORTED_VERSIONS)])


def _source_dir(name, builder_cls, data_dir, manual_dir):
    """The manual_dir to prepare `name` from; raises ValueError naming the flag when it is
    missing or empty."""
    if name in ("spoken_digits", "gm_notes"):  # generated there by `demo_data.ensure`
        manual_dir = manual_dir or default_manual_dir(name, data_dir)
    if manual_dir is None:
        raise ValueError(f"--manual_dir is required to prepare --dataset={name} (it is not "
                         f"prepared in data_dir={data_dir} yet).\n"
                         f"{builder_cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    if not os.path.isdir(manual_dir) or not os.listdir(manual_dir):
        raise ValueError("--manual_dir must be an existing, non-empty folder. Received: "
                         f"manual_dir={manual_dir}\n"
                         f"{builder_cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return manual_dir


def _builder(name, data_dir, manual_dir, clip_length, unlabeled, skip_bad_files):
    """The builder of `name` in `data_dir` (not prepared), its arguments checked."""
    if name not in NAMES or name == EXAMPLES:
        allowed = [n for n in NAMES if n != EXAMPLES]
        raise ValueError(f"Unknown dataset. Received: --dataset={name!r}. Allowed: "
                         f"{', '.join(allowed)}")
    if name == "folder":
        if manual_dir is None:
            raise ValueError("--manual_dir is required for --dataset=folder: the folder of "
                             "audio (class folders, or any files with --unlabeled)")
        config = folder.make_config(manual_dir, clip_length, unlabeled)
    elif unlabeled:
        raise ValueError(f"unlabeled=True applies only to --dataset=folder. Received: "
                         f"--dataset={name}")
    else:
        config = name
    builder = _BUILDERS[name](data_dir=data_dir, config=config,
                              skip_bad_files=skip_bad_files)
    fixed_length = builder.builder_config.clip_length
    if clip_length is not None and int(clip_length) != fixed_length:
        raise ValueError(f"--dataset={name} has a fixed clip length of {fixed_length} "
                         f"samples (paper §3.3). Received: clip_length={clip_length}")
    return builder


def source_items(name, manual_dir, clip_length=None, unlabeled=False, skip_bad_files=False):
    """(builder, {split: [(key, path, label)]}) of `name`'s published layout in
    `manual_dir`, without preparing anything: what the TFX AudioExampleGen distributes
    over Beam workers, each calling `builder.example(item)` (decode, resample, pad and
    int16 PCM, as preparation does; [] for a bad file skipped with `skip_bad_files`).
    `builder.builder_config` has `class_names` and `clip_length`."""
    # Never prepared: the TFDS data_dir is only a name here.
    builder = _builder(name, os.path.join(manual_dir or ".", ".clar_tf_unprepared"),
                       manual_dir, clip_length, unlabeled, skip_bad_files)
    if manual_dir is None:
        raise ValueError(f"--manual_dir is required to read --dataset={name}'s files")
    source = _source_dir(name, type(builder), None, manual_dir)
    return builder, builder.split_items(source)


def _prepared_builder(name, data_dir, manual_dir, clip_length, unlabeled, skip_bad_files):
    """The builder of `name` in `data_dir`, prepared (once) from `manual_dir`."""
    builder = _builder(name, data_dir, manual_dir, clip_length, unlabeled, skip_bad_files)
    config = builder.builder_config
    if builder.is_prepared():
        return builder
    for version in builder.SUPPORTED_VERSIONS:  # an older storage, read as it is
        old = _BUILDERS[name](data_dir=data_dir, config=config, version=str(version),
                              skip_bad_files=skip_bad_files)
        if old.is_prepared():
            _note_old_storage(old)
            return old
    source = _source_dir(name, _BUILDERS[name], data_dir, manual_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=source, try_download_gcs=False))
    return builder


_NOTED = set()


def _note_old_storage(builder):
    """Says once per preparation that an older storage is being read."""
    path = os.fspath(builder.data_dir)
    if path not in _NOTED:
        _NOTED.add(path)
        base.report(f"Reading the {builder.storage} preparation (version {builder.version}) "
                    f"in {path}. Version {builder.canonical_version} stores int16 PCM, "
                    "half the disk: delete that folder and prepare again to use it.")


def info(name, *, data_dir, manual_dir=None, clip_length=None, unlabeled=False,
         skip_bad_files=False):
    """The DatasetInfo of `name`, preparing it in `data_dir` on first use.

    Args:
      name: one of NAMES.
      data_dir: where prepared datasets live (TFDS data_dir).
      manual_dir: the published layout to prepare from (see the dataset's module); not
        needed once prepared, except for `folder`, whose identity it is.
      clip_length: samples per clip; required for `folder`, else None or the fixed one.
      unlabeled: `folder` only: read every audio file under manual_dir, labels -1.
      skip_bad_files: skip unreadable/empty/truncated files instead of failing.
    """
    if name == EXAMPLES:
        about = _examples_info(manual_dir, clip_length, unlabeled)
        class_names, length, splits = (about["class_names"], about["clip_length"],
                                       about["splits"])
    else:
        builder = _prepared_builder(name, data_dir, manual_dir, clip_length, unlabeled,
                                    skip_bad_files)
        class_names = builder.builder_config.class_names
        length = builder.builder_config.clip_length
        splits = {split: int(s.num_examples) for split, s in builder.info.splits.items()}
    return DatasetInfo(name=name, num_classes=len(class_names),
                       class_names=tuple(class_names), clip_length=length,
                       train_split="train",
                       test_split="test" if "test" in splits else "train", splits=splits)


def _examples_info(manual_dir, clip_length, unlabeled):
    """`examples.read_info` of the Examples folder `manual_dir`, the arguments checked."""
    if manual_dir is None:
        raise ValueError(f"--manual_dir is required for --dataset={EXAMPLES}: the TFX "
                         "Examples folder (Split-*/ and clar_tf_examples.json)")
    if unlabeled:
        raise ValueError(f"unlabeled=True applies only to --dataset=folder. Received: "
                         f"--dataset={EXAMPLES}")
    about = examples.read_info(manual_dir)
    if clip_length is not None and int(clip_length) != about["clip_length"]:
        raise ValueError(f"--manual_dir={manual_dir} holds clips of {about['clip_length']} "
                         f"samples. Received: clip_length={clip_length}")
    return about


def load(name, split, *, data_dir, manual_dir=None, clip_length=None, unlabeled=False,
         skip_bad_files=False):
    """`{"audio": float32[clip_length], "label": int64}` examples of one split.

    Arguments as in `info` (`examples`: `manual_dir` is the Examples folder, read with
    tf.data, `data_dir` unused). The order is deterministic (files are not shuffled), so
    `with_label_fraction` picks the same examples on every call. Audio stored as int16
    is decoded to float32 q / 32768 in [-1, 1) here (`base.from_pcm16`).
    """
    if name == EXAMPLES:
        about = _examples_info(manual_dir, clip_length, unlabeled)
        allowed = about["splits"]
    else:
        builder = _prepared_builder(name, data_dir, manual_dir, clip_length, unlabeled,
                                    skip_bad_files)
        allowed = builder.info.splits
    if split not in allowed:
        raise ValueError(f"Unknown split for --dataset={name}. Received: split={split!r}. "
                         f"Allowed: {', '.join(allowed)}")
    if name == EXAMPLES:
        return examples.load(manual_dir, split, about["clip_length"])
    return builder.as_dataset(split=split, shuffle_files=False,
                              decoders=builder.float_decoders())


def label_mask(num_examples, fraction, seed, labels=None):
    """Which examples keep their label: a deterministic bool array [num_examples].

    Without `labels`, exactly round(fraction * num_examples) examples, drawn by a
    permutation seeded with `seed`. With `labels` (stratified), round(fraction * N_c)
    examples of each class c (at least 1 when fraction > 0); labels < 0 stay unlabeled.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]. Received: fraction={fraction}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(num_examples, dtype=bool)
    if labels is None:
        mask[rng.permutation(num_examples)[:round(fraction * num_examples)]] = True
        return mask
    labels = np.asarray(labels)
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        count = min(members.size, max(1, round(fraction * members.size))) if fraction else 0
        mask[rng.permutation(members)[:count]] = True
    return mask


def with_label_fraction(ds, fraction, seed, stratified=False):
    """Keeps every example of `ds` but sets label -1 on all except a labeled fraction.

    The labeled set depends only on (`seed`, the dataset's order), never on the
    training method; apply it to the unshuffled output of `load`. See `label_mask`.
    Stratified selection, or a dataset of unknown size, reads the labels once.
    """
    if fraction == 1.0:
        return ds
    num_examples = int(ds.cardinality())
    if num_examples == tf.data.INFINITE_CARDINALITY:
        raise ValueError("with_label_fraction needs a finite dataset (apply it before "
                         "repeat())")
    labels = None
    if stratified or num_examples < 0:
        labels = _read_labels(ds)
        num_examples = labels.size
    mask = tf.constant(label_mask(num_examples, fraction, seed,
                                  labels if stratified else None))

    def relabel(index, example):
        label = example["label"]
        return {**example, "label": tf.where(mask[index], label, tf.constant(-1, label.dtype))}

    return ds.enumerate().map(relabel, num_parallel_calls=tf.data.AUTOTUNE)


def labeled_batches(ds, batch_size, labeled_per_batch, seed, shuffle_buffer=10000,
                    start_batch=0):
    """Endless batches that each hold exactly `labeled_per_batch` labeled examples.

    The stratified per-batch sampling that CLAR §4 names for small labeled fractions:
    `ds` (after `with_label_fraction`) is split into its labeled pool (label >= 0) and
    its unlabeled pool; every batch takes `labeled_per_batch` examples from the first
    and `batch_size - labeled_per_batch` from the second, each pool shuffled and
    repeated on its own (so a small labeled pool is oversampled; `shuffled_passes`). The
    labeled examples come first in each batch; the losses do not depend on the order.

    Args:
        ds: finite `{"audio", "label"}` dataset, label -1 for unlabeled examples.
        batch_size: examples per batch.
        labeled_per_batch: labeled examples per batch, in [1, batch_size).
        seed: shuffling seed.
        shuffle_buffer: shuffle buffer of each pool.
        start_batch: batches of the stream to leave out: a run resumed after k epochs of
            s steps passes k * s and gets the batches an uninterrupted run trains on next.

    Returns:
        An infinite dataset of batches of `batch_size`.
    """
    if not 1 <= labeled_per_batch < batch_size:
        raise ValueError("labeled_per_batch must be in [1, batch_size). Received: "
                         f"labeled_per_batch={labeled_per_batch}, batch_size={batch_size}")
    labels = _read_labels(ds)
    counts = {"labeled": int(np.sum(labels >= 0)), "unlabeled": int(np.sum(labels < 0))}
    for name, count in counts.items():
        if count == 0:
            raise ValueError(f"labeled_per_batch={labeled_per_batch} needs both labeled and "
                             f"unlabeled training examples; there are no {name} ones "
                             "(use a labeled_fraction strictly between 0 and 1)")
    pools = [ds.filter(_is_labeled), ds.filter(_is_unlabeled)]
    per_batch = [labeled_per_batch, batch_size - labeled_per_batch]
    pools = [shuffled_passes(pool, count, seed + i, shuffle_buffer, start_batch * k)
             for i, (pool, count, k) in enumerate(zip(pools, counts.values(), per_batch))]
    pattern = tf.constant([0] * per_batch[0] + [1] * per_batch[1], tf.int64)
    choice = tf.data.Dataset.from_tensor_slices(pattern).repeat()
    return (tf.data.Dataset.choose_from_datasets(pools, choice)
            .batch(batch_size, drop_remainder=True))


def shuffled_passes(ds, count, seed, shuffle_buffer, start=0):
    """The endless stream of `ds` (`count` examples) pass after pass, each pass shuffled
    with its own seed, a function of (`seed`, pass number), from example `start` on.

    The stream depends on `seed` only (not on TensorFlow's global seed, nor on where it
    was begun): a resumed run gets the examples an uninterrupted one would, after reading
    at most one pass to get there, where `ds.shuffle(seed=seed).repeat()` would start
    again at pass 0's order.
    """
    first_pass, skip = divmod(start, count)

    def one_pass(index):
        # This function's graph takes no global seed: the op seed alone (a tensor) seeds
        # the shuffle, and tf.data cannot take a tensor seed beside a global seed of 0.
        tf.random.set_seed(None)
        return ds.shuffle(min(count, shuffle_buffer), seed=seed * 1_000_003 + index,
                          reshuffle_each_iteration=False)

    return (tf.data.Dataset.counter(first_pass).flat_map(one_pass).skip(skip)
            .apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY)))


def _read_labels(ds):
    """All labels of a finite `{"label", ...}` dataset as an int64 array (one pass)."""
    batches = ds.map(lambda e: e["label"]).batch(4096).as_numpy_iterator()
    return np.concatenate(list(batches) or [np.zeros(0, np.int64)])


def _is_labeled(example):
    return example["label"] >= 0


def _is_unlabeled(example):
    return example["label"] < 0
