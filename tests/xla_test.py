"""Tests for clar_tf.audio.xla against NumPy (float64)."""
import numpy as np
import tensorflow as tf

from clar_tf.audio import xla


def _wrapped(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a, np.float64) - b))))


def test_atan2_matches_numpy_everywhere():
    rng = np.random.RandomState(0)
    y = np.concatenate([rng.randn(20000) * 10.0 ** rng.uniform(-6, 6, 20000),
                        [0.0, 0.0, 1.0, -1.0, 0.0, 3.0, -2.0, 1e-30]]).astype(np.float32)
    x = np.concatenate([rng.randn(20000) * 10.0 ** rng.uniform(-6, 6, 20000),
                        [0.0, 1.0, 0.0, 0.0, -1.0, 3.0, -2.0, 1e-30]]).astype(np.float32)
    for jit in (False, True):
        got = tf.function(xla.atan2, jit_compile=jit)(y, x).numpy()
        want = np.arctan2(y.astype(np.float64), x.astype(np.float64))
        assert _wrapped(got, want).max() < 3e-6
        assert got.min() >= -np.pi - 1e-6 and got.max() <= np.pi + 1e-6
    assert got[-8] == 0.0  # atan2(0, 0)


def test_sincos_matches_numpy():
    phase = np.linspace(-200.0, 200.0, 100001).astype(np.float32)
    sin, cos = tf.function(xla.sincos, jit_compile=True)(phase)
    np.testing.assert_allclose(sin.numpy(), np.sin(phase.astype(np.float64)), atol=2e-5)
    np.testing.assert_allclose(cos.numpy(), np.cos(phase.astype(np.float64)), atol=2e-5)


def test_in_xla():
    assert not xla.in_xla()
    assert not tf.function(lambda: tf.constant(xla.in_xla()))().numpy()
    assert tf.function(lambda: tf.constant(xla.in_xla()), jit_compile=True)().numpy()
