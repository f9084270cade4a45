"""Loading a run's saved Keras models (`encoder.keras`, `inference.keras`).

Importing this module registers every clar_tf layer such a model may hold (the
augmentations and the frontend, the fused batch norm, the projection head), so a loader
needs no other clar_tf import first.
"""
import keras

from clar_tf import layers  # noqa: F401  (registers Frontend and the augmentations)
from clar_tf.models import batchnorm  # noqa: F401  (registers FusedBatchNormalization)
from clar_tf.models import heads  # noqa: F401  (registers ProjectionHead)


def load_model(path):
    """The Keras model saved at `path`, loaded in safe mode (no code from the file)."""
    return keras.saving.load_model(path, safe_mode=True)
