"""Tests for clar_tf.models.heads.ProjectionHead."""
import os
import tempfile

import keras
import numpy as np
import pytest

from clar_tf.models.heads import ProjectionHead


def _x(batch=4, dim=32, seed=0):
    return np.random.RandomState(seed).randn(batch, dim).astype("float32")


def _numpy(out):
    return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}


def _relu(a):
    return np.maximum(a, 0.0)


def _assert_dict_roundtrip(layer, inputs, training=False, atol=1e-6):
    """`tests.testing.assert_layer_roundtrip` for a layer with dict outputs."""
    out = _numpy(layer(inputs, training=training))
    config = layer.get_config()
    assert ProjectionHead.from_config(config).get_config() == config
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is ProjectionHead and clone.get_config() == config

    x = keras.Input(shape=inputs.shape[1:])
    model = keras.Model(x, layer(x, training=training))
    for key, tensor in model.output.items():
        assert tuple(tensor.shape[1:]) == out[key].shape[1:], key
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "head.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    got = _numpy(loaded(inputs, training=training))
    assert set(got) == set(out) == {"projection", "output"}
    for key in out:
        np.testing.assert_allclose(got[key], out[key], atol=atol, rtol=1e-5)
    return out


@pytest.mark.parametrize("kwargs,proj,outdim", [
    ({}, 128, 128), ({"num_classes": 10}, 128, 10),
    ({"hidden_units": 64, "projection_units": 16, "num_classes": 35, "batchnorm": True},
     16, 35)])
def test_output_shapes(kwargs, proj, outdim):
    out = ProjectionHead(**kwargs)(_x())
    assert set(out) == {"projection", "output"}
    assert tuple(out["projection"].shape) == (4, proj)
    assert tuple(out["output"].shape) == (4, outdim)
    sym = keras.Model(*(lambda i: (i, ProjectionHead(**kwargs)(i)))(keras.Input((32,))))
    assert tuple(sym.output["projection"].shape) == (None, proj)
    assert tuple(sym.output["output"].shape) == (None, outdim)


def test_matches_numpy_mlp():
    layer = ProjectionHead(hidden_units=24, projection_units=8, num_classes=5)
    x = _x()
    out = _numpy(layer(x))
    (w1, b1), (w2, b2), (w3, b3) = [
        [keras.ops.convert_to_numpy(v) for v in d.weights]
        for d in (layer.dense1, layer.dense2, layer.dense3)]
    assert w1.shape == (32, 24) and w2.shape == (24, 8) and w3.shape == (8, 5)
    projection = _relu(x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(out["projection"], projection, atol=1e-5)
    np.testing.assert_allclose(out["output"], _relu(projection) @ w3 + b3, atol=1e-5)
    assert len(layer.trainable_weights) == 6


def test_batchnorm_variant_matches_numpy():
    layer = ProjectionHead(hidden_units=16, projection_units=8, num_classes=3, batchnorm=True)
    x = _x(batch=6)
    layer(x)
    rng = np.random.RandomState(3)
    for bn in (layer.bn1, layer.bn2):  # non-trivial statistics and affine parameters
        for var in bn.weights:
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))
    (w1, b1), (w2, b2), (w3, b3) = [
        [keras.ops.convert_to_numpy(v) for v in d.weights]
        for d in (layer.dense1, layer.dense2, layer.dense3)]

    def bn_inference(a, bn):
        g, b, m, v = (keras.ops.convert_to_numpy(t) for t in
                      (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
        return g * (a - m) / np.sqrt(v + bn.epsilon) + b

    def bn_training(a, bn):
        g, b = keras.ops.convert_to_numpy(bn.gamma), keras.ops.convert_to_numpy(bn.beta)
        return g * (a - a.mean(0)) / np.sqrt(a.var(0) + bn.epsilon) + b

    for training, norm in ((False, bn_inference), (True, bn_training)):
        projection = _relu(norm(x @ w1 + b1, layer.bn1)) @ w2 + b2
        expected = _relu(norm(projection, layer.bn2)) @ w3 + b3
        out = _numpy(layer(x, training=training))
        np.testing.assert_allclose(out["projection"], projection, atol=1e-4)
        np.testing.assert_allclose(out["output"], expected, atol=1e-4)
    assert layer.bn1.momentum == 0.9 and layer.bn1.epsilon == 1e-5
    assert not layer.bn1.synchronized


def test_sync_batchnorm():
    layer = ProjectionHead(batchnorm=True, sync_batchnorm=True)
    assert layer.bn1.synchronized and layer.bn2.synchronized


@pytest.mark.parametrize("kwargs", [
    {}, {"hidden_units": 64, "projection_units": 16, "num_classes": 7, "batchnorm": True,
         "sync_batchnorm": True}])
def test_roundtrip(kwargs):
    _assert_dict_roundtrip(ProjectionHead(**kwargs), _x())


@pytest.mark.parametrize("kwargs,name", [
    ({"hidden_units": 0}, "hidden_units"), ({"projection_units": 2.5}, "projection_units"),
    ({"num_classes": 0}, "num_classes"), ({"batchnorm": 1}, "batchnorm"),
    ({"sync_batchnorm": None}, "sync_batchnorm")])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        ProjectionHead(**kwargs)
