"""Elementwise math that XLA fuses on CPU, and the test for being inside XLA.

XLA's own atan2 / sin / cos on CPU run several times slower than TensorFlow's vectorised
kernels, while plain polynomials fuse with their neighbours; callers pick per context:
`(atan2 if in_xla() else tf.math.atan2)(y, x)`. Used by the augmentations' phase vocoder
and the frontend's phase channel.
"""
import math

import tensorflow as tf


def in_xla():
    """Whether the op being built will be XLA-compiled (a `jit_compile=True` function).

    Decides between TensorFlow's own vectorized atan2 / sin / cos kernels (fast in plain
    graphs on CPU) and the polynomial versions below (which XLA fuses; XLA's own
    transcendental functions are several times slower on CPU)."""
    try:
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import control_flow_util
        return bool(control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph()))
    except Exception:  # private API moved: polynomials are correct everywhere
        return True


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
