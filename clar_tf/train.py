"""Training entry point: absl flags → frozen `Config` → `run(config)`.

    python -m clar_tf.train --flagfile=configs/demo.flags
    python -m clar_tf.train --flagfile=configs/sc10.flags --manual_dir=/data/speech_commands

This is the only module that reads flags. `run(config)` is what the TFX `run_fn`, the
experiment drivers and the tests call. `model_dir` receives `config.json`, the resumable
backup (`backup/`), TensorBoard logs (`logs/`), `train_log.csv`, `linear_eval.csv` (the
Fig. 5 curve when `--eval_every` > 0), `encoder.keras` (raw audio → embedding),
`inference.keras` (raw audio → embedding and, with a classifier, logits), `labels.json`
and `labels.txt`, `export/<version>/` (the serving SavedModel, `clar_tf.export`) and
`results.json`.
Starting the same command again resumes from the last finished epoch. Under
`--strategy=multi_worker` only the chief writes model_dir (`is_chief`); a worker that
loses a peer ends with an error naming it (README, "GPUs and several machines").
"""
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf

from clar_tf import config as config_lib
from clar_tf import datasets, distribute, evaluate, export, optim
from clar_tf.models import methods

# Fields that may change between a run and its resumption without changing its meaning.
_RESUMABLE_CHANGES = ("verbose", "epochs", "eval_every", "export")


def build_optimizer(config, steps_per_epoch):
    """LARS (or Adam/SGD) with linear warm-up then cosine decay (paper §3.2)."""
    base = optim.scaled_learning_rate(config.learning_rate, config.batch_size,
                                      config.lr_scaling)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total, int(round(config.warmup_epochs * steps_per_epoch)))
    schedule = optim.WarmupCosine(base, warmup, total)
    if config.optimizer == "lars":
        return optim.LARS(learning_rate=schedule, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=schedule)
    return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)


def _dataset_kwargs(config):
    return dict(data_dir=config.data_dir, manual_dir=config.manual_dir,
                clip_length=config.clip_length, unlabeled=config.unlabeled)


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
        kwargs, name = _dataset_kwargs(config), config.dataset
    info = datasets.info(name, **kwargs)
    if info.clip_length != clip_length:
        raise ValueError(f"eval_dataset={name} has clips of {info.clip_length} samples but "
                         f"the encoder was trained on {clip_length}")
    return (info, datasets.load(name, info.train_split, **kwargs),
            datasets.load(name, info.test_split, **kwargs))


def linear_evaluation(config, embedder):
    """Linear evaluation of `embedder` on the config's (evaluation) dataset, all labels."""
    clip_length = int(embedder.inputs[0].shape[1])
    info, train_ds, test_ds = eval_datasets(config, clip_length)
    result = evaluate.evaluate_embedder(embedder, train_ds, test_ds, info.num_classes,
                                        epochs=config.linear_eval_epochs,
                                        batch_size=config.linear_eval_batch_size,
                                        seed=config.seed)
    result["class_names"] = list(info.class_names)
    return result


def _train_pipeline(config, info):
    ds = datasets.load(config.dataset, info.train_split, **_dataset_kwargs(config))
    n = info.splits[info.train_split]
    if n < config.batch_size:
        raise ValueError(f"batch_size={config.batch_size} is larger than the training split "
                         f"of dataset={config.dataset} ({n} examples)")
    if not config.unlabeled:
        ds = datasets.with_label_fraction(ds, config.labeled_fraction, config.seed,
                                          stratified=config.stratified)
    steps = config.steps_per_epoch or n // config.batch_size
    if config.labeled_per_batch and config.labeled_fraction < 1.0:
        ds = datasets.labeled_batches(ds, config.batch_size, config.labeled_per_batch,
                                      config.seed, config.shuffle_buffer)
    else:
        ds = (ds.shuffle(min(n, config.shuffle_buffer), seed=config.seed)
              .repeat().batch(config.batch_size, drop_remainder=True))
    # Under multi_worker each worker runs this whole pipeline and keeps its share of
    # every global batch (DATA sharding): the global batches are a single process's.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE), steps


def _check_model_dir(config):
    """Refuses a model_dir that holds another run; writes nothing."""
    path = os.path.join(config.model_dir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        new = dataclasses.asdict(config)
        diff = sorted(k for k in set(old) | set(new)
                      if old.get(k) != new.get(k) and k not in _RESUMABLE_CHANGES)
        if diff:
            raise ValueError(f"model_dir={config.model_dir} holds a run with a different "
                             f"config ({', '.join(diff)} differ); use a new --model_dir")


def _write_config(config):
    """Writes config.json (checked again: another run may have written it meanwhile)."""
    _check_model_dir(config)
    with open(os.path.join(config.model_dir, "config.json"), "w") as f:
        f.write(config.to_json())


class _ModelDirLock:
    """An exclusive `flock` on a lock file in model_dir, held while a run writes there.

    The kernel drops it when the process ends, however it ends; `release` drops it
    earlier.
    """

    def __init__(self, model_dir):
        self.model_dir, self.file = model_dir, None

    def acquire(self, name=".lock"):
        """Creates model_dir and locks `name` in it; ValueError if another run has it."""
        os.makedirs(self.model_dir, exist_ok=True)
        self.file = open(os.path.join(self.model_dir, name), "w")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise ValueError(f"model_dir={self.model_dir} is in use by another training "
                             f"(it holds the lock on {name}); wait for it to end or use "
                             "another --model_dir") from None

    def release(self):
        if self.file is not None:
            self.file.close()  # closing drops the flock
            self.file = None


def lock_name(strategy):
    """`.lock`, or `.lock-<task type>-<index>` for a worker of a multi-worker run: its
    workers share one model_dir, and each locks its own file."""
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type is None:
        return ".lock"
    return f".lock-{resolver.task_type}-{resolver.task_id}"


def is_chief(strategy):
    """Whether this process writes model_dir: yes, except on the workers of a multi-worker
    run other than the chief (worker 0). Those train in lockstep, restore the chief's
    checkpoint and write nothing to model_dir but their lock file (`lock_name`)."""
    return strategy.extended.should_checkpoint


def _init_from(config, model, clip_length):
    """Copies a pretrained embedder's weights; refuses any architecture mismatch."""
    path = os.path.join(config.init_from, "config.json")
    if not os.path.exists(path):
        raise ValueError(f"init_from={config.init_from}: no config.json (not a clar_tf run)")
    with open(path) as f:
        source = json.load(f)
    for key in ("encoder", "width", "frontend", "conv1d_kernel_size", "conv1d_pool_size"):
        if source.get(key) != getattr(config, key):
            raise ValueError(f"init_from={config.init_from} has {key}={source.get(key)!r}, "
                             f"this run has {key}={getattr(config, key)!r}")
    pretrained = keras.saving.load_model(os.path.join(config.init_from, "encoder.keras"),
                                         safe_mode=True)
    if int(pretrained.inputs[0].shape[1]) != clip_length:
        raise ValueError(f"init_from={config.init_from} takes clips of "
                         f"{pretrained.inputs[0].shape[1]} samples, this run {clip_length}")
    model.embedder.set_weights(pretrained.get_weights())
    if config.freeze_encoder:
        model.embedder.trainable = False


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoint is replaced atomically at each epoch end.

    The weights and then the epoch counter are written to temporary files, synced, and
    renamed over the previous ones, so a crash or a full disk during the write leaves
    the previous checkpoint whole: the same command resumes from it. A write that fails
    with an exception is an `OSError` saying so. With `save=False` (the non-chief workers
    of a multi-worker run) it restores from `backup_dir` but never writes there.
    """

    def __init__(self, backup_dir, save=True, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.save = save

    def _save_model(self):
        if not self.save:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = self._weights_path.replace(".weights.h5", ".tmp.weights.h5")
        metadata = self._training_metadata_path + ".tmp"
        try:
            self.model.save_weights(weights, overwrite=True)
            with open(metadata, "w") as f:
                json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
            for path in (weights, metadata):
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
        except Exception as e:
            raise OSError(f"Could not write the checkpoint of epoch {self._current_epoch} "
                          f"to {self.backup_dir} ({e}); the previous checkpoint is intact: "
                          "fix the cause (disk space?) and run the same command to "
                          "resume") from e
        os.replace(weights, self._weights_path)  # a crash between the two renames
        os.replace(metadata, self._training_metadata_path)  # repeats one epoch


class _Throughput(keras.callbacks.Callback):
    """Examples/s over the epochs after the first (which includes tracing)."""

    def __init__(self, examples_per_epoch):
        super().__init__()
        self.examples_per_epoch, self.times = examples_per_epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def examples_per_s(self):
        times = self.times[1:] or self.times
        return self.examples_per_epoch * len(times) / sum(times) if times else None


def save_inference_model(model, info, model_dir):
    """Writes `inference.keras` (audio → {"embedding"[, "logits"]}) and the labels.

    `logits` exist for the methods whose head ends in a classifier (supervised, CLAR).
    `labels.json` is the JSON list of class names in label order, which `clar_tf.export`
    reads (no name can shift it); `labels.txt` has one name per line, for reading.
    """
    audio = keras.Input(tuple(model.embedder.inputs[0].shape[1:]), name="audio")
    embedding = model.embedder(audio, training=False)
    outputs = {"embedding": embedding}
    if model.head.num_classes:
        outputs["logits"] = model.head(embedding, training=False)["output"]
    keras.Model(audio, outputs, name="inference").save(
        os.path.join(model_dir, "inference.keras"))
    with open(os.path.join(model_dir, "labels.json"), "w") as f:
        json.dump(list(info.class_names), f, indent=1)
    with open(os.path.join(model_dir, "labels.txt"), "w") as f:
        f.write("".join(f"{name}\n" for name in info.class_names))


def run(config):
    """Trains `config.method`, evaluates linearly, writes `model_dir`. Returns results.

    Every check (model_dir, datasets, model, `init_from`, evaluation set) passes before
    anything is written to `model_dir`, so a refused start leaves it as it was. Then the
    run takes an exclusive lock on `model_dir` (`_ModelDirLock`, `lock_name`) until it
    returns: a second training in the same `model_dir` is refused.
    """
    lock = _ModelDirLock(config.model_dir)
    try:
        return _run(config, lock)
    finally:
        lock.release()


def _run(config, lock):
    _check_model_dir(config)
    keras.utils.set_random_seed(config.seed)
    strategy = distribute.get_strategy(config.strategy)
    gpu = bool(tf.config.list_logical_devices("GPU"))
    keras.config.set_dtype_policy(("mixed_float16" if gpu else "mixed_bfloat16")
                                  if config.mixed_precision else "float32")
    info = datasets.info(config.dataset, **_dataset_kwargs(config))
    train_ds, steps = _train_pipeline(config, info)
    with strategy.scope():
        model = methods.build_model(config, info.num_classes, info.clip_length,
                                    sync_batchnorm=strategy.num_replicas_in_sync > 1)
        if config.init_from:
            _init_from(config, model, info.clip_length)
        model.compile(optimizer=build_optimizer(config, steps), jit_compile=config.jit_compile)
    keras.config.set_dtype_policy("float32")

    eval_info, eval_train, eval_test = eval_datasets(config, info.clip_length)
    lock.acquire(lock_name(strategy))
    chief = is_chief(strategy)
    if not chief:  # same work as the chief (lockstep), files to a scratch folder
        out_dir = tempfile.mkdtemp(prefix="clar_tf_worker_")
        try:
            return _fit_and_write(config, strategy, model, info, train_ds, steps,
                                  (eval_info, eval_train, eval_test), out_dir)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
    _write_config(config)
    return _fit_and_write(config, strategy, model, info, train_ds, steps,
                          (eval_info, eval_train, eval_test), config.model_dir)


def _fit_and_write(config, strategy, model, info, train_ds, steps, evaluation, out_dir):
    """Trains, evaluates and writes the outputs to `out_dir` (model_dir on the chief);
    the checkpoint is always model_dir/backup, written by the chief only."""
    eval_info, eval_train, eval_test = evaluation
    chief = out_dir == config.model_dir
    throughput = _Throughput(steps * config.batch_size)
    callbacks = [AtomicBackupAndRestore(os.path.join(config.model_dir, "backup"),
                                        save=chief, delete_checkpoint=False),
                 keras.callbacks.CSVLogger(os.path.join(out_dir, "train_log.csv"),
                                           append=True),
                 keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"), write_graph=False),
                 throughput]
    curve = None
    if config.eval_every:
        curve = evaluate.LinearEvalCallback(
            model.embedder, eval_train, eval_test, eval_info.num_classes,
            every=config.eval_every, csv_path=os.path.join(out_dir, "linear_eval.csv"),
            log_dir=os.path.join(out_dir, "logs", "linear_eval"),
            epochs=config.linear_eval_epochs, batch_size=config.linear_eval_batch_size,
            seed=config.seed)
        callbacks.append(curve)
    start = time.perf_counter()
    history = model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps,
                        callbacks=callbacks, verbose=config.verbose)
    train_time = time.perf_counter() - start

    model.embedder.save(os.path.join(out_dir, "encoder.keras"))
    save_inference_model(model, info, out_dir)
    export_path = (export.export_saved_model(out_dir, os.path.join(out_dir, "export"))
                   if config.export and chief else None)
    if curve is not None and curve.last and curve.last[0] == config.epochs:
        result = dict(curve.last[1])  # the curve's last point is the final encoder's score
    else:
        result = evaluate.evaluate_embedder(model.embedder, eval_train, eval_test,
                                            eval_info.num_classes,
                                            epochs=config.linear_eval_epochs,
                                            batch_size=config.linear_eval_batch_size,
                                            seed=config.seed)
    final_logs = {k: float(v[-1]) for k, v in history.history.items() if v}
    result.update(class_names=list(eval_info.class_names), epochs=config.epochs,
                  epochs_this_run=len(throughput.times), steps_per_epoch=steps,
                  train_wall_time_s=train_time, examples_per_s=throughput.examples_per_s(),
                  final_train_metrics=final_logs, method=config.method,
                  encoder=config.encoder, labeled_fraction=config.labeled_fraction,
                  num_replicas=strategy.num_replicas_in_sync, saved_model=export_path)
    results_path = os.path.join(out_dir, "results.json")
    with open(results_path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"{config.method}-{config.encoder} on {config.dataset}: linear-eval top-1 "
          f"{result['top1']:.4f} after {config.epochs} epochs "
          f"({train_time:.0f} s this run) → "
          f"{results_path if chief else 'the chief writes model_dir'}")
    return result


# ---------------------------------------------------------------------------- flags (CLI)

def define_flags():
    """Defines every `Config` field as an absl flag with help text."""
    from absl import flags

    d = config_lib.Config
    f = dataclasses.fields(d)
    defaults = {x.name: x.default for x in f}
    flags.DEFINE_string("model_dir", None, "Output folder (config, checkpoints, logs, "
                        "encoder.keras, results.json). Re-running resumes.", required=True)
    flags.DEFINE_string("dataset", defaults["dataset"], "Dataset: " + ", ".join(datasets.NAMES))
    flags.DEFINE_string("data_dir", defaults["data_dir"], "Where prepared TFDS data lives.")
    flags.DEFINE_string("manual_dir", None, "The dataset's published on-disk layout "
                        "(spoken_digits: generated there when missing).")
    flags.DEFINE_integer("clip_length", None, "Samples per clip at 16 kHz (folder only).")
    flags.DEFINE_bool("unlabeled", False, "folder dataset without class folders: all labels "
                      "-1 (use --method=simclr and --eval_dataset).")
    flags.DEFINE_float("labeled_fraction", 1.0, "Fraction of training labels kept (§8); the "
                       "rest become -1.")
    flags.DEFINE_bool("stratified", False, "Keep the labeled fraction per class.")
    flags.DEFINE_integer("labeled_per_batch", 0, "Labeled clips in every batch when "
                         "labeled_fraction < 1 (stratified per-batch sampling, §4; the "
                         "labeled pool is oversampled). 0 = random batches (paper).")
    flags.DEFINE_string("eval_dataset", None, "Labeled dataset for linear evaluation "
                        "(default: the training dataset).")
    flags.DEFINE_string("eval_manual_dir", None, "manual_dir of --eval_dataset.")
    flags.DEFINE_enum("method", defaults["method"], config_lib.METHODS,
                      "supervised (CE), simclr (NT-Xent), supcon, clar (NT-Xent + CE).")
    flags.DEFINE_enum("encoder", defaults["encoder"], config_lib.ENCODERS,
                      "2d: frontend + ResNet18-2D; 1d: ResNet18-1D on the waveform.")
    flags.DEFINE_float("width", 1.0, "ResNet width multiplier (1.0 = 512-d embeddings).")
    flags.DEFINE_enum("frontend", defaults["frontend"], config_lib.FRONTENDS,
                      "paper: 16 ms / 8 ms STFT + 128 mel; authors: their code's 2048/128.")
    flags.DEFINE_integer("conv1d_kernel_size", 3, "1D ResNet block kernel (authors' code: 9).")
    flags.DEFINE_integer("conv1d_pool_size", 3, "1D ResNet stem max-pool (authors' code: 9).")
    flags.DEFINE_string("augment", defaults["augment"], "Augmentation chain in the paper's "
                        "abbreviations joined by +: PS, WN, MN, FD, TM, TS, TST ('' = none).")
    flags.DEFINE_integer("head_hidden_units", 512, "Projection head hidden width.")
    flags.DEFINE_integer("projection_units", 128, "Projection (contrastive) width.")
    flags.DEFINE_bool("head_batchnorm", False, "BatchNorm in the head (authors' code).")
    flags.DEFINE_float("temperature", 0.5, "NT-Xent / SupCon temperature τ.")
    flags.DEFINE_float("ce_weight", 1.0, "CLAR: L = L_CL + ce_weight · L_CE.")
    flags.DEFINE_enum("ce_normalization", defaults["ce_normalization"],
                      config_lib.CE_NORMALIZATIONS,
                      "CLAR's CE: labeled = mean over the batch's labeled clips (eq. 4 as "
                      "written); batch = their sum / batch size.")
    flags.DEFINE_string("init_from", None, "model_dir of a pretrained run to start from.")
    flags.DEFINE_bool("freeze_encoder", False, "With --init_from: train only the head.")
    flags.DEFINE_integer("batch_size", defaults["batch_size"], "Global batch size.")
    flags.DEFINE_integer("epochs", defaults["epochs"], "Training epochs.")
    flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: split / batch).")
    flags.DEFINE_enum("optimizer", defaults["optimizer"], config_lib.OPTIMIZERS,
                      "lars (paper), adam, sgd (momentum 0.9).")
    flags.DEFINE_float("learning_rate", 1.0, "Base learning rate (before --lr_scaling).")
    flags.DEFINE_enum("lr_scaling", "none", config_lib.LR_SCALINGS,
                      "none; linear: lr·B/256; sqrt: lr·sqrt(B).")
    flags.DEFINE_float("weight_decay", 1e-4, "LARS weight decay (biases and BN excluded).")
    flags.DEFINE_float("warmup_epochs", 10.0, "Linear warm-up epochs before cosine decay.")
    flags.DEFINE_enum("strategy", "auto", config_lib.STRATEGIES,
                      "auto: mirrored when >1 GPU; multi_worker reads TF_CONFIG.")
    flags.DEFINE_bool("mixed_precision", False, "float16 on GPU, bfloat16 on CPU.")
    flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
    flags.DEFINE_integer("seed", 0, "Seed for weights, augmentation and label fraction.")
    flags.DEFINE_integer("shuffle_buffer", 10000, "tf.data shuffle buffer.")
    flags.DEFINE_integer("eval_every", 0, "Linear evaluation every N epochs (0 = only at the "
                         "end).")
    flags.DEFINE_integer("linear_eval_epochs", 100, "Epochs of the linear classifier.")
    flags.DEFINE_integer("linear_eval_batch_size", 256, "Batch size of linear evaluation.")
    flags.DEFINE_integer("verbose", 1, "Keras fit verbosity (0, 1, 2).")
    flags.DEFINE_bool("export", True, "Write the serving SavedModel to model_dir/export/.")
    flags.register_validator("labeled_fraction", lambda v: 0.0 <= v <= 1.0,
                             "--labeled_fraction must be in [0, 1]")
    flags.register_validator("dataset", lambda v: v in datasets.NAMES,
                             "--dataset must be one of " + ", ".join(datasets.NAMES))
    for name in ("batch_size", "epochs"):
        flags.register_validator(name, lambda v: v >= 1, f"--{name} must be >= 1")


def config_from_flags(flag_values):
    """Builds the frozen `Config` from parsed flags; a bad value names its flag."""
    names = [f.name for f in dataclasses.fields(config_lib.Config)]
    values = {n: flag_values[n].value for n in names}
    try:
        return config_lib.Config(**values)
    except ValueError as e:
        raise SystemExit(f"Flag error: {e}") from None


def main(argv):
    from absl import flags

    if len(argv) > 1:
        raise SystemExit(f"Unexpected arguments: {' '.join(argv[1:])}")
    config = config_from_flags(flags.FLAGS)
    try:
        run(config)
    except (ValueError, OSError) as e:  # user errors and a failed checkpoint write
        raise SystemExit(f"error: {e}") from None
    except tf.errors.UnavailableError as e:  # a peer of a multi-worker run is gone
        if config.strategy != "multi_worker":
            raise
        raise SystemExit(
            "error: the multi-worker run lost a worker, so every worker stops (a killed "
            "worker is seen within seconds, a hung one after the coordination service's "
            "heartbeat timeout). Start all workers again with the same command to resume "
            f"from the last finished epoch in {config.model_dir}/backup. TensorFlow said: "
            f"{_peer_failure(e.message)}") from None


def _peer_failure(message):
    """The lines of a collective's error that say which peer failed and how."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "aborted by" in line:
            return " ".join(lines[i:i + 2])
    return lines[-1] if lines else ""


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
