"""The CPU execution policy of the layers: nested XLA calls, host shards, fused math.

Inside a plain (not XLA-compiled) `tf.function`, as `model.fit` runs one by default, the
augmentations and the frontend run their elementwise work as a nested `jit_compile=True`
function (`NestedXla`): XLA fuses what a plain graph runs op by op. On a CPU-only host a
batch is cut into one piece per core (`host_shards`, `sharded`), each its own XLA call,
so the cores share the work (benchmarks/augment_bench.py, benchmarks/ab_bench.py).

XLA's own atan2 / sin / cos on CPU run several times slower than TensorFlow's vectorised
kernels, while plain polynomials fuse with their neighbours; callers pick per context:
`(atan2 if in_xla() else tf.math.atan2)(y, x)`. Used by the phase vocoder
(`clar_tf.audio.dsp`) and the frontend's phase channel.
"""
import math
import os

import tensorflow as tf

from clar_tf import compat


def in_xla():
    """Whether the op being built will be XLA-compiled (a `jit_compile=True` function).

    Decides between TensorFlow's own vectorized atan2 / sin / cos kernels (fast in plain
    graphs on CPU) and the polynomial versions below (which XLA fuses; XLA's own
    transcendental functions are several times slower on CPU)."""
    return compat.in_xla_context()


ATAN_COEFFS = (-0.01172120, 0.05265332, -0.11643287, 0.19354346, -0.33262347, 0.99997726)


def atan2(y, x):
    """atan2 in (-π, π] from a minimax polynomial (max error 2e-6 rad), atan2(0, 0) = 0.

    Elementwise arithmetic only, so XLA fuses it with its neighbours; XLA's own atan2 on
    CPU is several times slower.
    """
    ax, ay = tf.abs(x), tf.abs(y)
    a = tf.minimum(ax, ay) / tf.maximum(tf.maximum(ax, ay), 1e-30)
    s = a * a
    r = ATAN_COEFFS[0]
    for c in ATAN_COEFFS[1:]:
        r = r * s + c
    r = r * a
    r = tf.where(ay > ax, 0.5 * math.pi - r, r)
    r = tf.where(x < 0, math.pi - r, r)
    return tf.where(y < 0, -r, r)


def sincos(phase):
    """(sin, cos) of a phase of moderate size from Taylor polynomials after reduction to
    [-π/4, π/4] (error 4e-7 plus the float32 reduction error, 6e-5 at |phase| = 1000). Elementwise arithmetic only, so it
    fuses under XLA, whose own sin/cos are slow on CPU."""
    q = tf.round(phase * (2.0 / math.pi))
    r = phase - q * (0.5 * math.pi)
    r2 = r * r
    s = r * (1.0 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 / 362880))))
    c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320))))
    k = tf.cast(q, tf.int32) % 4  # quadrant: sin(r + kπ/2)
    sin = tf.where(k == 0, s, tf.where(k == 1, c, tf.where(k == 2, -s, -c)))
    cos = tf.where(k == 0, c, tf.where(k == 1, -s, tf.where(k == 2, -c, s)))
    return sin, cos


MAX_SHARDS = 8


def host_shards():
    """How many pieces to cut a batch into for nested XLA calls: the host's cores (at
    most `MAX_SHARDS`) when no GPU is visible, else 1. On CPU one XLA call runs its
    elementwise loops on one thread; independent calls run side by side on TensorFlow's
    inter-op threads (benchmarks/augment_bench.py)."""
    if tf.config.list_logical_devices("GPU"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_SHARDS))


def sharded(fn, x, params):
    """fn(x, params) computed on `host_shards()` consecutive pieces of the batch and
    concatenated. Every op is per example, so the result equals one call on the whole
    batch; pieces may be empty when the batch is smaller than the number of pieces."""
    shards = host_shards()
    if shards == 1:
        return fn(x, params)
    n = tf.shape(x)[0]
    sizes = n // shards + tf.cast(tf.range(shards) < n % shards, tf.int32)
    xs = tf.split(x, sizes, axis=0, num=shards)
    ps = {k: tf.split(v, sizes, axis=0, num=shards) for k, v in params.items()}
    return tf.concat([fn(xs[i], {k: v[i] for k, v in ps.items()}) for i in range(shards)],
                     axis=0)


class NestedXla:
    """`fn` as a nested `jit_compile=True` function when the caller builds a plain graph.

    `nested(enabled)` says whether a call now would run the nested XLA function: `enabled`
    (the layer's `jit_compile` argument), not eager, and not already inside XLA. Calling
    the object runs the compiled function (traced on first use); the layer calls `fn`
    itself otherwise.
    """

    def __init__(self, fn):
        self.fn, self._compiled = fn, None

    @staticmethod
    def nested(enabled):
        return enabled and not tf.executing_eagerly() and not in_xla()

    def __call__(self, *args):
        if self._compiled is None:
            self._compiled = tf.function(self.fn, jit_compile=True)
        return self._compiled(*args)
