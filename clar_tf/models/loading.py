"""Loading a run's saved Keras models (`encoder.keras`, `inference.keras`), in safe mode,
refusing a damaged or crafted file in one line that names it.

Importing this module registers every clar_tf layer such a model may hold (the
augmentations and the frontend, the fused batch norm, the projection head), so a loader
needs no other clar_tf import first.
"""
import zipfile

import keras
import tensorflow as tf

from clar_tf import layers  # noqa: F401  (registers Frontend and the augmentations)
from clar_tf import run_dir
from clar_tf.models import batchnorm  # noqa: F401  (registers FusedBatchNormalization)
from clar_tf.models import heads  # noqa: F401  (registers ProjectionHead)


def load_model(path):
    """The Keras model of a run's `.keras` file `path` (`inference.keras`,
    `encoder.keras`), loaded in safe mode (no code from the file).

    Raises:
      ValueError: one line naming `path`: it cannot be read, is not a Keras archive
        (damaged or truncated: a full disk, a killed save), or holds a model that Keras
        refuses (safe mode) or cannot rebuild.
    """
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            # A zip ends in a 22-byte (or longer) record; GFile refuses to seek before 0.
            is_archive = f.size() >= 22 and zipfile.is_zipfile(f)
    except tf.errors.OpError as e:
        raise ValueError(f"{path} cannot be read: {run_dir.reason(e)}") from None
    if not is_archive:
        raise ValueError(f"{path} exists but is not a readable Keras archive (.keras zip): "
                         "it is damaged or truncated (a full disk or a killed save?)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as e:
        # Keras nests the errors of the layers it rebuilds, each with its whole config;
        # the last paragraph is the innermost reason.
        innermost = str(e).strip().split("\n\n")[-1]
        raise ValueError(f"{path} holds a model that Keras refuses in safe mode or cannot "
                         "rebuild (a crafted file, or one of another clar_tf or Keras "
                         f"version): {' '.join(innermost.split())}") from e
