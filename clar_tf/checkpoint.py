"""The resumable checkpoint of a run, `model_dir/backup/`, in public Keras.

    backup/latest.weights.h5       the model's and the optimizer's variables
    backup/training_metadata.json  {"epoch": epochs finished, "seed_states": [...]}

"seed_states" are the states of the model's `keras.random.SeedGenerator`s (the
augmentations' draws), which `.weights.h5` leaves out: a resumed run continues their
streams where the interrupted one left them (checkpoints without it restart them).

`EpochCheckpoint` writes both at each epoch end, each to a temporary file renamed over the
previous one, so a crash or a full disk during a write leaves the previous checkpoint
whole (a leftover temporary file is never read, and the next write overwrites it).
`epochs_done` checks the checkpoint against itself and the run's `train_log.csv` before
a run starts; `restore` loads it before `fit`, which then starts at `initial_epoch`. A
checkpoint that fails a check is refused with a one-line ValueError naming the file.
backup_dir may be on any `tf.io.gfile` filesystem (Keras writes a remote `.weights.h5`
through a local temporary file and copies it).
"""
import csv
import gc
import io
import json
import os
import traceback
import warnings

import keras
import numpy as np
import tensorflow as tf

from clar_tf import run_dir

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"
START_OVER = "use a new --model_dir to start over"


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the training state to `backup_dir` at each epoch end (module docstring).

    Args:
        backup_dir: the folder (created when first written).
        save: False for the non-chief workers of a multi-worker run: they `restore` from
            `backup_dir` but never write there.
    """

    def __init__(self, backup_dir, save=True):
        super().__init__()
        self.backup_dir, self.save = backup_dir, save
        self.weights_path = os.path.join(backup_dir, WEIGHTS)
        self.metadata_path = os.path.join(backup_dir, METADATA)

    def epochs_done(self, max_epochs=None, train_log=None):
        """The number of epochs the checkpoint holds, 0 when there is none, checked.

        Args:
            max_epochs: the run's `epochs`; a checkpoint of more is refused (a finished
                run asked for more epochs continues).
            train_log: the run's per-epoch CSV (`run_dir.TRAIN_LOG`), which must log as
                many epochs; None skips that check.

        Raises:
            ValueError: one line naming the file at fault: weights without metadata or
                metadata without weights, metadata that is not JSON or whose epoch is not
                an integer in [0, max_epochs], a train_log of another number of epochs.
        """
        metadata = self._checked_metadata(max_epochs, train_log)
        return 0 if metadata is None else metadata["epoch"]

    def restore(self, model, max_epochs=None, train_log=None):
        """Loads the checkpoint into the built, compiled `model` (call inside its strategy
        scope); returns the number of finished epochs, 0 when there is no checkpoint.

        Raises:
            ValueError: one line naming the file at fault: a failed `epochs_done` check
                (same arguments), or weights or seed states that cannot be loaded.
        """
        metadata = self._checked_metadata(max_epochs, train_log)
        if metadata is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(self.weights_path)
        except (OSError, ValueError, KeyError) as e:  # h5py's errors, a mismatched model
            raise ValueError(f"{self.weights_path} cannot be loaded ({_one_line(e)}); "
                             f"{START_OVER}") from None
        self._restore_seed_states(model, metadata.get("seed_states"))
        return metadata["epoch"]

    def _checked_metadata(self, max_epochs, train_log):
        """The metadata file as a dict, None when there is no checkpoint; the checks of
        `epochs_done`."""
        metadata = self._metadata(max_epochs)
        epochs = 0 if metadata is None else metadata["epoch"]
        logged = epochs if train_log is None else _rows(train_log)
        if logged != epochs:
            held = "no checkpoint" if metadata is None else f"a checkpoint of {epochs}"
            raise ValueError(f"{train_log} logs {logged} epochs but {self.backup_dir} "
                             f"holds {held}, so the run cannot resume where it stopped; "
                             f"{START_OVER}")
        return metadata

    def _metadata(self, max_epochs):
        """The metadata file as a dict, None when there is no checkpoint; ValueError when
        only one of the two files exists or the epoch is not in [0, max_epochs]."""
        has_weights = tf.io.gfile.exists(self.weights_path)
        if not tf.io.gfile.exists(self.metadata_path):
            if has_weights:
                raise ValueError(f"{self.weights_path} has no {METADATA} beside it, so the "
                                 f"epochs it holds are unknown; {START_OVER}")
            return None
        if not has_weights:
            raise ValueError(f"{self.metadata_path} has no {WEIGHTS} beside it, so there "
                             f"are no weights to resume from; {START_OVER}")
        try:
            metadata = json.loads(run_dir.read_text(self.metadata_path))
        except ValueError as e:  # not JSON, not UTF-8
            raise ValueError(f"{self.metadata_path} is damaged ({_one_line(e)}); "
                             f"{START_OVER}") from None
        epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
        if type(epoch) is not int or epoch < 0:
            raise ValueError(f"{self.metadata_path} is damaged: its epoch is {epoch!r}, "
                             f"not a number of finished epochs; {START_OVER}")
        if max_epochs is not None and epoch > max_epochs:
            raise ValueError(f"{self.metadata_path} holds {epoch} finished epochs, more "
                             f"than --epochs={max_epochs}; ask for at least {epoch}, or "
                             f"{START_OVER}")
        return metadata

    def _restore_seed_states(self, model, states):
        """Sets `model`'s seed generator states to the saved `states` (None: a
        checkpoint written without them, left as they are)."""
        if states is None:
            return
        variables = _seed_states(model)
        if len(states) != len(variables):
            raise ValueError(f"{self.metadata_path} holds {len(states)} random seed states "
                             f"but the model has {len(variables)}: it is another model's "
                             f"checkpoint; {START_OVER}")
        for variable, state in zip(variables, states):
            variable.assign(np.asarray(state, dtype=variable.dtype))

    def on_epoch_end(self, epoch, logs=None):
        # An epoch cut short (a diverged run, `train._StopOnDivergence`) is not saved:
        # the checkpoint keeps the last finished epoch.
        if self.save and not self.model.stop_training:
            self.write(epoch + 1)

    def write(self, epochs_done):
        """Writes the model's state after `epochs_done` epochs (module docstring).

        Raises:
            OSError: a write failed; it says the previous checkpoint is intact.
        """
        tf.io.gfile.makedirs(self.backup_dir)
        weights = self.weights_path.replace(".weights.h5", ".tmp.weights.h5")
        metadata = self.metadata_path + ".tmp"
        try:
            self.model.save_weights(weights, overwrite=True)
            with tf.io.gfile.GFile(metadata, "w") as f:
                f.write(json.dumps({"epoch": epochs_done, "seed_states": [
                    np.asarray(v).tolist() for v in _seed_states(self.model)]}))
            if run_dir.is_local(weights):
                for path in (weights, metadata):
                    with open(path, "rb") as f:
                        os.fsync(f.fileno())
        except Exception as e:
            reason = run_dir.reason(e)
            _discard(e, weights, metadata)
            raise OSError(f"Could not write the checkpoint of epoch {epochs_done} to "
                          f"{self.backup_dir} ({reason}); the previous checkpoint is "
                          "intact: fix the cause (disk space?) and run the same command "
                          "to resume") from None
        # A crash between the two renames repeats one epoch (new weights, old count).
        tf.io.gfile.rename(weights, self.weights_path, overwrite=True)
        tf.io.gfile.rename(metadata, self.metadata_path, overwrite=True)


def _discard(error, *paths):
    """Drops what a failed write left: the half-written h5py file, emptied and closed now
    (its handle lives in `error`'s traceback; left open until the interpreter exits on a
    full disk, h5py's failing close ended the process with a segmentation fault), and
    the temporary `paths`."""
    for path in paths:  # its space first, so that closing it can flush on a full disk
        if run_dir.is_local(path) and os.path.exists(path):
            os.truncate(path, 0)
    traceback.clear_frames(error.__traceback__)
    error.__traceback__ = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gc.collect()  # h5py closes the file here; its close error is ignored
        except Exception:  # noqa: BLE001 (a failed close of a file being discarded)
            pass
    for path in paths:
        try:
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        except (OSError, tf.errors.OpError):
            pass  # a leftover temporary file never blocks the next start


def _seed_states(model):
    """The state variables of `model`'s `keras.random.SeedGenerator`s, in a fixed order:
    its `variables` that are not `weights`."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _rows(csv_path):
    """The number of rows of the CSV file `csv_path`, 0 when there is none."""
    if not tf.io.gfile.exists(csv_path):
        return 0
    return sum(1 for _ in csv.DictReader(io.StringIO(run_dir.read_text(csv_path))))


def _one_line(error):
    """`error`'s message on one line."""
    return " ".join(str(error).split())
