"""Training entry point: absl flags → frozen `Config` → `run(config)`.

    python -m clar_tf.train --flagfile=configs/demo.flags
    python -m clar_tf.train --flagfile=configs/sc10.flags --manual_dir=/data/speech_commands

The flags are derived from `Config` (`clar_tf.cli`, `config.flag_spec`); this module's
`__main__` block is the only training code that reads them. `run(config)` is what the
TFX `run_fn`, the experiment drivers and the tests call. `model_dir` receives `config.json`, the resumable
backup, TensorBoard logs, `train_log.csv`, `linear_eval.csv` (the Fig. 5 curve when
`--eval_every` > 0), `flags.txt` (`clar-train --flagfile=` it to run the same config),
`provenance.json` (versions and code version), `encoder.keras`, `inference.keras`, the labels, `export/<version>/`
(the serving SavedModel) and `results.json`: the layout is `clar_tf.run_dir`'s.
Starting the same command again resumes from the last finished epoch. Under
`--strategy=multi_worker` only the chief writes model_dir (`is_chief`); a worker that
loses a peer ends with an error naming it (README, "GPUs and several machines").
"""
import os
import tempfile
import time

import keras
import tensorflow as tf

from clar_tf import config as config_lib
from clar_tf import (checkpoint, cli, datasets, distribute, evaluate, export,
                     input_pipeline, provenance, run_dir)
from clar_tf.models import factory
from clar_tf.run_dir import ModelDirLock, lock_name


def is_chief(strategy):
    """Whether this process writes model_dir: yes, except on the workers of a multi-worker
    run other than the chief (worker 0). Those train in lockstep, restore the chief's
    checkpoint and write nothing to model_dir but their lock file (`run_dir.lock_name`)."""
    return strategy.extended.should_checkpoint


class _CsvLog(keras.callbacks.Callback):
    """Appends each epoch's metrics to a CSV file (`run_dir.append_csv_row`), on any
    `tf.io.gfile` filesystem: a row `epoch,<metrics sorted by name>`."""

    def __init__(self, csv_path):
        super().__init__()
        self.csv_path = csv_path

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        run_dir.append_csv_row(self.csv_path,
                               {"epoch": epoch, **{k: float(logs[k]) for k in sorted(logs)}})


class TrainingDiverged(RuntimeError):
    """The loss or the weights stopped being finite; the run exported nothing."""


class _StopOnDivergence(keras.callbacks.TerminateOnNaN):
    """Keras' `TerminateOnNaN` (training stops after the first step whose loss is NaN or
    inf), remembering where: `diverged` = (epoch, step, loss), or None."""

    def __init__(self):
        super().__init__()
        self.epoch, self.diverged = 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        if self.model.stop_training and self.diverged is None:
            self.diverged = (self.epoch, batch + 1, float((logs or {}).get("loss", "nan")))


def _non_finite_weights(model):
    """Names of the model's variables holding NaN or inf (a last step can leave them so
    with a finite loss)."""
    return [v.path for v in model.weights
            if not bool(tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))))]


def _stop_diverged(config, out_dir, steps, guard, backup, bad_weights):
    """Writes results.json with status "diverged" and returns the `TrainingDiverged` that
    says where and what is left."""
    if guard.diverged:
        epoch, step, loss = guard.diverged
        where = (f"the training loss was {loss} at step {step} of {steps} of epoch {epoch} "
                 "(as train_log.csv counts epochs)")
    else:
        epoch, step, loss = None, None, None
        where = f"after the last step, variables are not finite ({', '.join(bad_weights[:3])})"
    saved = run_dir.read_json(backup.backup_dir, checkpoint.METADATA)
    done = None if saved is None else saved["epoch"]
    run_dir.write_json(out_dir, run_dir.RESULTS, dict(
        status="diverged", method=config.method, diverged_epoch=epoch, diverged_step=step,
        loss=None if loss is None else str(loss), last_good_checkpoint_epochs=done,
        saved_model=None))
    last = (f"{backup.backup_dir} holds the last finite state, after {done} epochs"
            if done else "no epoch finished before it, so there is no checkpoint")
    return TrainingDiverged(
        f"training diverged: {where}. Nothing was exported; {last}. {_advice(config)} and "
        "train in a new --model_dir")


# Below this τ the contrastive losses' logits (cosine similarity / τ, up to 1/τ)
# overflow float32's exp-sum; the paper uses 0.5.
MIN_SAFE_TEMPERATURE = 0.01


def _advice(config):
    """What to change after a divergence: a tiny --temperature first (it divides the
    similarities of NT-Xent and SupCon, which cross-entropy alone does not use)."""
    if config.method != "supervised" and config.temperature < MIN_SAFE_TEMPERATURE:
        return (f"Raise --temperature (={config.temperature:g}: the contrastive loss "
                "divides cosine similarities by it, so they overflow; the paper uses 0.5)")
    return "Lower --learning_rate (or --warmup_epochs longer, or --nomixed_precision)"


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
    run_dir.check_model_dir(config.model_dir)
    run_dir.check_resumable(config)
    initial_epoch = checkpoint.EpochCheckpoint(
        run_dir.path(config.model_dir, run_dir.BACKUP)).epochs_done(
            config.epochs, run_dir.path(config.model_dir, run_dir.TRAIN_LOG))
    finished = run_dir.read_json(config.model_dir, run_dir.RESULTS)
    if (initial_epoch == config.epochs and finished
            and finished.get("status") == "completed"
            and finished.get("epochs") == config.epochs):
        # The same command again: nothing to train, nothing rewritten (no new export).
        print(f"{config.model_dir} already holds this run, finished after {config.epochs} "
              f"epochs: linear-eval top-1 {finished['top1']:.4f} (nothing to do; raise "
              "--epochs to train on, or use a new --model_dir)")
        return finished
    strategy = distribute.get_strategy(config.strategy)
    gpu = bool(tf.config.list_logical_devices("GPU"))
    keras.config.set_dtype_policy(("mixed_float16" if gpu else "mixed_bfloat16")
                                  if config.mixed_precision else "float32")
    info = input_pipeline.train_info(config)
    train_ds, steps = input_pipeline.train_batches(config, info, initial_epoch)
    eval_info, eval_train, eval_test = input_pipeline.eval_datasets(config, info.clip_length)
    # Seeded once the datasets are ready: preparing one (on first use) draws random
    # numbers, and the run that prepared them must build the model later runs build.
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = factory.build_model(config, info.num_classes, info.clip_length,
                                    sync_batchnorm=strategy.num_replicas_in_sync > 1)
        if config.init_from:
            factory.init_from(config, model, info.clip_length)
        model.compile(optimizer=factory.build_optimizer(config, steps),
                      jit_compile=config.jit_compile)
    keras.config.set_dtype_policy("float32")

    lock.acquire(lock_name(strategy))
    evaluation = (eval_info, eval_train, eval_test)
    if is_chief(strategy):
        run_dir.write_config(config, cli.flagfile_text(config_lib.Config, config,
                                                       *config_lib.flag_spec(datasets.NAMES)))
        _write_provenance(config.model_dir)
        return _fit_and_write(config, strategy, model, info, train_ds, steps, evaluation,
                              config.model_dir, chief=True)
    # Another worker: the same work in lockstep, its files to a scratch folder.
    with tempfile.TemporaryDirectory(prefix="clar_tf_worker_",
                                     ignore_cleanup_errors=True) as out_dir:
        return _fit_and_write(config, strategy, model, info, train_ds, steps, evaluation,
                              out_dir, chief=False)


def _write_provenance(model_dir):
    """Writes `provenance.json`: this start's `clar_tf.provenance`, and under "earlier"
    those of the starts it resumes."""
    old = run_dir.read_json(model_dir, run_dir.PROVENANCE)
    earlier = [] if old is None else old.pop("earlier", []) + [old]
    run_dir.write_json(model_dir, run_dir.PROVENANCE,
                       dict(provenance.provenance(), earlier=earlier))


def _fit_and_write(config, strategy, model, info, train_ds, steps, evaluation, out_dir,
                   chief):
    """Trains, evaluates and writes the outputs to `out_dir` (model_dir on the chief);
    the checkpoint is always model_dir/backup, written by the chief only."""
    eval_info, eval_train, eval_test = evaluation
    throughput = _Throughput(steps * config.batch_size)
    backup = checkpoint.EpochCheckpoint(run_dir.path(config.model_dir, run_dir.BACKUP),
                                        save=chief)
    with strategy.scope():
        initial_epoch = backup.restore(model, config.epochs,
                                       run_dir.path(config.model_dir, run_dir.TRAIN_LOG))
    guard = _StopOnDivergence()
    callbacks = [guard, backup,
                 _CsvLog(run_dir.path(out_dir, run_dir.TRAIN_LOG)),
                 keras.callbacks.TensorBoard(run_dir.path(out_dir, run_dir.LOGS),
                                             write_graph=False),
                 throughput]
    curve = None
    if config.eval_every:
        curve = evaluate.LinearEvalCallback(
            model.embedder, eval_train, eval_test, eval_info.num_classes,
            every=config.eval_every,
            csv_path=run_dir.path(out_dir, run_dir.LINEAR_EVAL_CSV),
            log_dir=os.path.join(out_dir, run_dir.LOGS, "linear_eval"),
            **evaluate.classifier_args(config))
        callbacks.append(curve)
    start = time.perf_counter()
    history = model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps,
                        initial_epoch=initial_epoch, callbacks=callbacks,
                        verbose=config.verbose)
    train_time = time.perf_counter() - start
    bad_weights = [] if guard.diverged else _non_finite_weights(model)
    if guard.diverged or bad_weights:
        raise _stop_diverged(config, out_dir, steps, guard, backup, bad_weights)

    run_dir.save_keras(model.embedder, run_dir.path(out_dir, run_dir.ENCODER))
    export.save_inference_model(model, info, out_dir)
    if curve is not None and curve.last and curve.last[0] == config.epochs:
        result = dict(curve.last[1])  # the curve's last point is the final encoder's score
    else:
        result = evaluate.evaluate_embedder(model.embedder, eval_train, eval_test,
                                            eval_info.num_classes,
                                            **evaluate.classifier_args(config))
    final_logs = {k: float(v[-1]) for k, v in history.history.items() if v}
    result.update(status="completed", class_names=list(eval_info.class_names), epochs=config.epochs,
                  epochs_this_run=len(throughput.times), steps_per_epoch=steps,
                  train_wall_time_s=train_time, examples_per_s=throughput.examples_per_s(),
                  final_train_metrics=final_logs, method=config.method,
                  encoder=config.encoder, labeled_fraction=config.labeled_fraction,
                  num_replicas=strategy.num_replicas_in_sync)
    # Exported after the evaluation, so that the export's model card holds its score.
    result["saved_model"] = (export.export_saved_model(
        out_dir, run_dir.path(out_dir, run_dir.EXPORT), results=result)
        if config.export and chief else None)
    results_path = run_dir.write_json(out_dir, run_dir.RESULTS, result)
    print(f"{config.method}-{config.encoder} on {config.dataset}: linear-eval top-1 "
          f"{result['top1']:.4f} after {config.epochs} epochs "
          f"({train_time:.0f} s this run) → "
          f"{results_path if chief else 'the chief writes model_dir'}")
    return result


def main(config):
    """`python -m clar_tf.train`: runs `config` (parsed from the flags), errors as messages."""
    try:
        input_pipeline.make_demo_data(config)
        run(config)
    except (ValueError, OSError, TrainingDiverged) as e:  # user errors, a failed
        raise SystemExit(f"error: {e}") from None  # checkpoint write, divergence
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


def cli_main():
    """The `clar-train` console script (and `python -m clar_tf.train`)."""
    cli.main(config_lib.Config, main, *config_lib.flag_spec(datasets.NAMES))


if __name__ == "__main__":
    cli_main()
