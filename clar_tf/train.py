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
Starting the same command again resumes from the last finished epoch.
"""
import dataclasses
import json
import os
import time

import keras
import tensorflow as tf

from clar_tf import config as config_lib
from clar_tf import datasets, distribute, evaluate, export, input_pipeline, run_dir
from clar_tf.models import factory
from clar_tf.run_dir import ModelDirLock, lock_name

class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoint is replaced atomically at each epoch end.

    The weights and then the epoch counter are written to temporary files, synced, and
    renamed over the previous ones, so a crash or a full disk during the write leaves
    the previous checkpoint whole: the same command resumes from it. A write that fails
    with an exception is an `OSError` saying so.
    """

    def _save_model(self):
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


def run(config):
    """Trains `config.method`, evaluates linearly, writes `model_dir`. Returns results.

    dataset → augment → frontend → encoder → loss → optimizer (`input_pipeline`,
    `models.factory`) → fit → linear evaluation (`evaluate`) → `encoder.keras`,
    `inference.keras`, the SavedModel (`export`) and `results.json` (`run_dir`).

    Every check (model_dir, datasets, model, `init_from`, evaluation set) passes before
    anything is written to `model_dir`, so a refused start leaves it as it was. Then the
    run takes an exclusive lock on `model_dir` (`run_dir.ModelDirLock`, `lock_name`)
    until it returns: a second training in the same `model_dir` is refused.
    """
    lock = ModelDirLock(config.model_dir)
    try:
        return _run(config, lock)
    finally:
        lock.release()


def _run(config, lock):
    run_dir.check_resumable(config)
    keras.utils.set_random_seed(config.seed)
    strategy = distribute.get_strategy(config.strategy)
    gpu = bool(tf.config.list_logical_devices("GPU"))
    keras.config.set_dtype_policy(("mixed_float16" if gpu else "mixed_bfloat16")
                                  if config.mixed_precision else "float32")
    info = input_pipeline.train_info(config)
    train_ds, steps = input_pipeline.train_batches(config, info)
    with strategy.scope():
        model = factory.build_model(config, info.num_classes, info.clip_length,
                                    sync_batchnorm=strategy.num_replicas_in_sync > 1)
        if config.init_from:
            factory.init_from(config, model, info.clip_length)
        model.compile(optimizer=factory.build_optimizer(config, steps),
                      jit_compile=config.jit_compile)
    keras.config.set_dtype_policy("float32")

    eval_info, eval_train, eval_test = input_pipeline.eval_datasets(config, info.clip_length)
    lock.acquire(lock_name(strategy))
    run_dir.write_config(config)
    model_dir = config.model_dir
    throughput = _Throughput(steps * config.batch_size)
    callbacks = [AtomicBackupAndRestore(run_dir.path(model_dir, run_dir.BACKUP),
                                        delete_checkpoint=False),
                 keras.callbacks.CSVLogger(run_dir.path(model_dir, run_dir.TRAIN_LOG),
                                           append=True),
                 keras.callbacks.TensorBoard(run_dir.path(model_dir, run_dir.LOGS),
                                             write_graph=False),
                 throughput]
    curve = None
    if config.eval_every:
        curve = evaluate.LinearEvalCallback(
            model.embedder, eval_train, eval_test, eval_info.num_classes,
            every=config.eval_every,
            csv_path=run_dir.path(model_dir, run_dir.LINEAR_EVAL_CSV),
            log_dir=os.path.join(model_dir, run_dir.LOGS, "linear_eval"),
            **evaluate.classifier_args(config))
        callbacks.append(curve)
    start = time.perf_counter()
    history = model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps,
                        callbacks=callbacks, verbose=config.verbose)
    train_time = time.perf_counter() - start

    model.embedder.save(run_dir.path(model_dir, run_dir.ENCODER))
    export.save_inference_model(model, info, model_dir)
    export_path = (export.export_saved_model(model_dir, run_dir.path(model_dir, run_dir.EXPORT))
                   if config.export else None)
    if curve is not None and curve.last and curve.last[0] == config.epochs:
        result = dict(curve.last[1])  # the curve's last point is the final encoder's score
    else:
        result = evaluate.evaluate_embedder(model.embedder, eval_train, eval_test,
                                            eval_info.num_classes,
                                            **evaluate.classifier_args(config))
    final_logs = {k: float(v[-1]) for k, v in history.history.items() if v}
    result.update(class_names=list(eval_info.class_names), epochs=config.epochs,
                  epochs_this_run=len(throughput.times), steps_per_epoch=steps,
                  train_wall_time_s=train_time, examples_per_s=throughput.examples_per_s(),
                  final_train_metrics=final_logs, method=config.method,
                  encoder=config.encoder, labeled_fraction=config.labeled_fraction,
                  num_replicas=strategy.num_replicas_in_sync, saved_model=export_path)
    results_path = run_dir.write_json(model_dir, run_dir.RESULTS, result)
    print(f"{config.method}-{config.encoder} on {config.dataset}: linear-eval top-1 "
          f"{result['top1']:.4f} after {config.epochs} epochs "
          f"({train_time:.0f} s this run) → {results_path}")
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


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
