"""The tf.data pipelines a run reads, built from its `Config`.

`train_batches` is the pre-training input (label fraction, batching, prefetch);
`eval_datasets` the labeled splits of linear evaluation. Both read through
`clar_tf.datasets`, which prepares a dataset on first use. `make_demo_data` is what the
commands call first, so that the offline spoken digits exist when a run names them.
"""
import tensorflow as tf

from clar_tf import datasets, demo_data


def make_demo_data(config, log=print):
    """Writes the offline spoken digits a run reads, for training and for evaluation,
    where they are missing (`demo_data.ensure`); called by the commands, never by
    `train.run` or `datasets.load`."""
    demo_data.ensure(config.dataset, config.data_dir, config.manual_dir, log)
    if config.eval_dataset:
        demo_data.ensure(config.eval_dataset, config.data_dir, config.eval_manual_dir, log)


def dataset_kwargs(config):
    """The `datasets.info` / `datasets.load` arguments of the training dataset."""
    return dict(data_dir=config.data_dir, manual_dir=config.manual_dir,
                clip_length=config.clip_length, unlabeled=config.unlabeled)


def train_info(config):
    """`datasets.info` of the training dataset."""
    return datasets.info(config.dataset, **dataset_kwargs(config))


def train_batches(config, info, initial_epoch=0):
    """(repeated, shuffled, batched training dataset, steps per epoch).

    Labels outside `config.labeled_fraction` become -1; with `labeled_per_batch` every
    batch holds that many labeled clips (`datasets.labeled_batches`). The batches of
    epoch e depend on (`config.seed`, e) only (`datasets.shuffled_passes`); the dataset
    starts at epoch `initial_epoch`, so a resumed run trains on what an uninterrupted
    one would.
    """
    ds = datasets.load(config.dataset, info.train_split, **dataset_kwargs(config))
    n = info.splits[info.train_split]
    if n < config.batch_size:
        raise ValueError(f"batch_size={config.batch_size} is larger than the training split "
                         f"of dataset={config.dataset} ({n} examples)")
    if not config.unlabeled:
        ds = datasets.with_label_fraction(ds, config.labeled_fraction, config.seed,
                                          stratified=config.stratified)
    steps = config.steps_per_epoch or n // config.batch_size
    start_batch = initial_epoch * steps
    if config.labeled_per_batch and config.labeled_fraction < 1.0:
        ds = datasets.labeled_batches(ds, config.batch_size, config.labeled_per_batch,
                                      config.seed, config.shuffle_buffer, start_batch)
    else:
        ds = (datasets.shuffled_passes(ds, n, config.seed, config.shuffle_buffer,
                                       start_batch * config.batch_size)
              .batch(config.batch_size, drop_remainder=True))
    # Under multi_worker each worker runs this whole pipeline and keeps its share of
    # every global batch (DATA sharding): the global batches are a single process's.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE), steps


def eval_datasets(config, clip_length):
    """(info, train, test) of the labeled set that linear evaluation uses.

    That is the training dataset itself, or `eval_dataset` when pre-training saw
    unlabeled audio. Its clips must have the training clip length.
    """
    if config.eval_dataset:
        name = config.eval_dataset
        kwargs = dict(data_dir=config.data_dir, manual_dir=config.eval_manual_dir,
                      clip_length=clip_length if name == "folder" else None)
    else:
        if config.unlabeled:
            raise ValueError("an unlabeled dataset needs --eval_dataset (a labeled set) "
                             "for linear evaluation")
        kwargs, name = dataset_kwargs(config), config.dataset
    info = datasets.info(name, **kwargs)
    if info.clip_length != clip_length:
        raise ValueError(f"eval_dataset={name} has clips of {info.clip_length} samples but "
                         f"the encoder was trained on {clip_length}")
    return (info, datasets.load(name, info.train_split, **kwargs),
            datasets.load(name, info.test_split, **kwargs))
