"""Choosing the `tf.distribute` strategy (one per process and name).

Strategies are cached: TensorFlow's collective ops number their instances per process, and
a second `MirroredStrategy` over the same devices in one process collides with the first
("Collective instance N expected type …"). Experiment drivers and tests call
`clar_tf.train.run` many times in one process, so they must share one strategy.
"""
import functools

import tensorflow as tf

from clar_tf.config import STRATEGIES


@functools.lru_cache(maxsize=None)
def get_strategy(name="auto"):
    """`auto`: MirroredStrategy over all GPUs when there are several, else one device.

    `mirrored` uses all GPUs, or all logical CPUs when there is no GPU (the tests split
    the CPU in two). `multi_worker` reads the cluster from the `TF_CONFIG` environment
    variable (see README, "Several machines").
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}. "
                         f"Received: strategy={name!r}")
    if name == "multi_worker":  # before anything that starts TensorFlow's runtime
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
