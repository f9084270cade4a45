"""Test-wide set-up: quiet TensorFlow and two logical CPU devices.

Two logical CPUs let distribution tests run a `MirroredStrategy` on this one-CPU machine;
the logical device split must happen before TensorFlow initialises, so it lives here.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
