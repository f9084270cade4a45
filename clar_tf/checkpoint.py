"""The resumable checkpoint of a run, `model_dir/backup/`, in public Keras.

    backup/latest.weights.h5       the model's and the optimizer's variables
    backup/training_metadata.json  {"epoch": epochs finished}

`EpochCheckpoint` writes both at each epoch end, each to a temporary file renamed over the
previous one, so a crash or a full disk during a write leaves the previous checkpoint
whole. `restore` loads it before `fit`, which then starts at `initial_epoch`. backup_dir
may be on any `tf.io.gfile` filesystem (Keras writes a remote `.weights.h5` through a
local temporary file and copies it).
"""
import json
import os

import keras
import tensorflow as tf

from clar_tf import run_dir

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"


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

    def restore(self, model):
        """Loads the checkpoint into the built, compiled `model` (call inside its strategy
        scope); returns the number of finished epochs, 0 when there is no checkpoint."""
        if tf.io.gfile.exists(self.weights_path):
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(self.weights_path)
        if not tf.io.gfile.exists(self.metadata_path):
            return 0
        return int(json.loads(run_dir.read_text(self.metadata_path))["epoch"])

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
                f.write(json.dumps({"epoch": epochs_done}))
            if run_dir.is_local(weights):
                for path in (weights, metadata):
                    with open(path, "rb") as f:
                        os.fsync(f.fileno())
        except Exception as e:
            raise OSError(f"Could not write the checkpoint of epoch {epochs_done} to "
                          f"{self.backup_dir} ({e}); the previous checkpoint is intact: "
                          "fix the cause (disk space?) and run the same command to "
                          "resume") from e
        # A crash between the two renames repeats one epoch (new weights, old count).
        tf.io.gfile.rename(weights, self.weights_path, overwrite=True)
        tf.io.gfile.rename(metadata, self.metadata_path, overwrite=True)
