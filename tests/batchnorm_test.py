"""Tests for clar_tf.models.batchnorm.FusedBatchNormalization.

References: a NumPy batch-norm (biased batch variance, Keras' moving-average update) and
Keras' own `BatchNormalization` with the same weights (values and gradients).
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import distribute
from clar_tf.models.batchnorm import FusedBatchNormalization
from testing import assert_layer_roundtrip

EPS, MOMENTUM = 1e-5, 0.9
SHAPES = [(16, 5), (4, 30, 6), (3, 7, 9, 8)]


def _pair(shape, seed=0, **kwargs):
    """A fused layer and a Keras layer with identical random γ, β and moving stats."""
    rng = np.random.RandomState(seed)
    c = shape[-1]
    weights = [rng.uniform(0.5, 2.0, c), rng.randn(c), rng.randn(c), rng.uniform(0.5, 2, c)]
    layers = []
    for cls in (FusedBatchNormalization, keras.layers.BatchNormalization):
        layer = cls(momentum=MOMENTUM, epsilon=EPS, **kwargs)
        layer.build(shape)
        layer.set_weights([w.astype(np.float32) for w in weights])
        layers.append(layer)
    return layers, weights


def _numpy_bn(x, gamma, beta):
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axes), x.var(axes)
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta, mean, var


@pytest.mark.parametrize("shape", SHAPES)
def test_training_matches_numpy_and_keras(shape):
    (fused, ref), (gamma, beta, mm, mv) = _pair(shape)
    x = np.random.RandomState(1).randn(*shape).astype(np.float32) * 3 + 1
    for step in range(2):
        y = fused(x, training=True).numpy()
        y_ref, mean, var = _numpy_bn(x.astype(np.float64), gamma, beta)
        np.testing.assert_allclose(y, y_ref, atol=2e-5)
        np.testing.assert_allclose(y, ref(x, training=True).numpy(), atol=2e-5)
        mm = MOMENTUM * mm + (1 - MOMENTUM) * mean
        mv = MOMENTUM * mv + (1 - MOMENTUM) * var  # biased, as Keras
        np.testing.assert_allclose(fused.moving_mean.numpy(), mm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fused.moving_variance.numpy(), mv, rtol=1e-5)
        np.testing.assert_allclose(fused.moving_variance.numpy(),
                                   ref.moving_variance.numpy(), rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_gradients_match_keras(shape, jit_compile):
    (fused, ref), _ = _pair(shape)
    x = tf.constant(np.random.RandomState(2).randn(*shape).astype(np.float32))
    w = tf.constant(np.random.RandomState(3).randn(*shape).astype(np.float32))

    def grads(layer):
        @tf.function(jit_compile=jit_compile)
        def f(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.sin(layer(x, training=True)) * w)
            return tape.gradient(loss, [x, layer.gamma, layer.beta])
        return [g.numpy() for g in f(x)]

    for got, want in zip(grads(fused), grads(ref)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_inference_and_frozen_use_moving_statistics():
    (fused, ref), (gamma, beta, mm, mv) = _pair((8, 4, 3))
    x = np.random.RandomState(4).randn(8, 4, 3).astype(np.float32)
    want = (x - mm) / np.sqrt(mv + EPS) * gamma + beta
    np.testing.assert_allclose(fused(x, training=False).numpy(), want, atol=1e-5)
    fused.trainable = False  # a frozen encoder's BN stays in inference mode (Keras rule)
    np.testing.assert_allclose(fused(x, training=True).numpy(), want, atol=1e-5)
    np.testing.assert_allclose(fused.moving_mean.numpy(), mm, rtol=1e-6)


def test_mixed_precision_keeps_dtype_and_values():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        (fused, _), (gamma, beta, _, _) = _pair((6, 5, 5, 4))
    finally:
        keras.config.set_dtype_policy(policy)
    x = np.random.RandomState(5).randn(6, 5, 5, 4).astype(np.float32)
    y = fused(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and fused.moving_mean.dtype == "float32"
    x_bf = tf.cast(tf.cast(x, tf.bfloat16), tf.float64).numpy()
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(),
                               _numpy_bn(x_bf, gamma, beta)[0], atol=0.05)


def test_synchronized_uses_global_batch_statistics():
    """Under 2 replicas, synchronized BN normalizes with the moments of the whole batch."""
    strategy = distribute.get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    x = np.random.RandomState(6).randn(8, 3, 2).astype(np.float32)
    x[4:] += 5.0  # replica 1's half differs, so local statistics would not match
    with strategy.scope():
        layer = FusedBatchNormalization(synchronized=True, epsilon=EPS)
        layer.build(x.shape)
    assert not layer._fusable(x, None)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
    dist = strategy.experimental_distribute_dataset(dataset)
    out = strategy.run(tf.function(lambda b: layer(b, training=True)), args=(next(iter(dist)),))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(out)])
    np.testing.assert_allclose(got, _numpy_bn(x.astype(np.float64), 1.0, 0.0)[0], atol=1e-4)


@pytest.mark.parametrize("shape", [(4, 5), (2, 6, 3, 4)])
def test_roundtrip(shape):
    (fused, _), _ = _pair(shape)
    x = np.random.RandomState(7).randn(*shape).astype(np.float32)
    assert_layer_roundtrip(fused, x, atol=1e-5)
