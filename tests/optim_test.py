"""Tests for clar_tf.optim: LARS against a NumPy reference, the schedule, LR scaling."""
import json
import math
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import distribute
from clar_tf.optim import LARS, WarmupCosine, scaled_learning_rate


# --- LARS ---------------------------------------------------------------------------------

def np_lars_step(w, g, v, lr, *, adapt, momentum=0.9, wd=1e-4, eeta=1e-3, nesterov=False):
    """One SimCLR-style LARS step in float64; `adapt=False` is plain momentum SGD."""
    w, g, v = (np.asarray(a, np.float64) for a in (w, g, v))
    if adapt:
        g = g + wd * w
        w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
        lr = lr * (eeta * w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0)
    v = momentum * v + lr * g
    update = momentum * v + lr * g if nesterov else v
    return w - update, v


class MatMul(keras.layers.Layer):
    """y = x @ gamma with a rank-2 weight whose short name is "gamma"."""

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1], 3), name="gamma",
                                     initializer="ones")

    def call(self, x):
        return keras.ops.matmul(x, self.gamma)


def _small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense", bias_initializer="ones")(inputs)
    # Layer name contains "batch_normalization": excluded by path, not by short name.
    outputs = MatMul(name="batch_normalization_like")(x)
    return keras.Model(inputs, outputs)


def _schedule_value(lr, step):
    if isinstance(lr, WarmupCosine):
        return float(lr(step))
    return lr


@pytest.mark.parametrize("kwargs,adapt", [
    # adapt flags for (dense/kernel, dense/bias, batch_normalization_like/gamma)
    ({}, (True, False, False)),
    ({"exclude_rank1": False}, (True, False, False)),          # bias excluded by path
    ({"exclude_from_weight_decay": ()}, (True, False, True)),  # bias excluded by rank
    ({"nesterov": True, "weight_decay": 1e-2, "momentum": 0.8}, (True, False, False)),
    ({"learning_rate": WarmupCosine(0.7, 2, 5)}, (True, False, False)),
])
def test_lars_three_steps_match_numpy_reference(kwargs, adapt):
    model = _small_model()
    kwargs = dict(kwargs)
    lr = kwargs.pop("learning_rate", 0.5)
    opt = LARS(learning_rate=lr, **kwargs)
    hyper = {"momentum": opt.momentum, "wd": opt.lars_weight_decay, "eeta": opt.eeta,
             "nesterov": opt.nesterov}
    variables = model.trainable_variables
    assert [v.path for v in variables] == [
        "dense/kernel", "dense/bias", "batch_normalization_like/gamma"]
    ref_w = [v.numpy().astype(np.float64) for v in variables]
    ref_v = [np.zeros_like(w) for w in ref_w]
    x = np.random.RandomState(1).randn(8, 4).astype("float32")
    y = np.random.RandomState(2).randn(8, 3).astype("float32")
    for step in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, variables)
        opt.apply(grads, variables)
        step_lr = _schedule_value(lr, step)
        for i, g in enumerate(grads):
            ref_w[i], ref_v[i] = np_lars_step(ref_w[i], g.numpy(), ref_v[i], step_lr,
                                              adapt=adapt[i], **hyper)
        for var, w in zip(variables, ref_w):
            np.testing.assert_allclose(var.numpy(), w, atol=1e-6, rtol=1e-6,
                                       err_msg=f"{var.path} after step {step + 1}")
    assert int(opt.iterations) == 3


def test_lars_trust_ratio_falls_back_to_one_for_zero_weights():
    w = keras.Variable(np.zeros((2, 3), "float32"), name="kernel")
    g = np.full((2, 3), 0.25, "float32")
    LARS(learning_rate=0.1, momentum=0.0).apply([g], [w])
    np.testing.assert_allclose(w.numpy(), -0.1 * g, atol=1e-7)


def test_lars_config_round_trip():
    opt = LARS(learning_rate=WarmupCosine(1.5, 10, 100), momentum=0.8, weight_decay=1e-6,
               eeta=0.002, nesterov=True, exclude_from_weight_decay=("bn", "bias"),
               exclude_from_layer_adaptation=["bias"], exclude_rank1=False, clipnorm=1.0)
    config = opt.get_config()
    assert config["weight_decay"] == 1e-6 and config["exclude_rank1"] is False
    clone = LARS.from_config(config)
    assert clone.get_config() == config
    assert clone.lars_weight_decay == 1e-6 and clone.weight_decay is None

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(opt)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is LARS
    assert restored.get_config() == config
    assert isinstance(restored._learning_rate, WarmupCosine)


def test_lars_rejects_bad_arguments():
    for kwargs in ({"momentum": 1.0}, {"momentum": -0.1}, {"weight_decay": -1.0},
                   {"eeta": 0.0}, {"exclude_from_weight_decay": [1]}):
        with pytest.raises(ValueError):
            LARS(**kwargs)


def test_lars_in_compile_fit_and_saved_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8),
                              keras.layers.BatchNormalization(), keras.layers.ReLU(),
                              keras.layers.Dense(2)])
    model.compile(optimizer=LARS(learning_rate=WarmupCosine(1.0, 1, 4)), loss="mse")
    before = [v.numpy() for v in model.trainable_variables]
    x = np.random.RandomState(0).randn(16, 5).astype("float32")
    y = np.random.RandomState(1).randn(16, 2).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations) == 2
    assert any(not np.allclose(a, v.numpy()) for a, v in
               zip(before, model.trainable_variables))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is LARS
    assert loaded.optimizer.get_config() == model.optimizer.get_config()


def _dense_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
                             keras.layers.Dense(2)])


def test_lars_under_mirrored_strategy_matches_single_device():
    x = np.random.RandomState(4).randn(8, 5).astype("float32")
    y = np.random.RandomState(5).randn(8, 2).astype("float32")

    def fit_two_steps():
        model = _dense_model()
        model.compile(optimizer=LARS(learning_rate=2.0), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        return model

    single = fit_two_steps()
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        mirrored = fit_two_steps()
    assert strategy.num_replicas_in_sync == 2
    assert int(mirrored.optimizer.iterations.numpy()) == 2
    for a, b in zip(single.trainable_variables, mirrored.trainable_variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6, rtol=1e-5,
                                   err_msg=a.path)
    for a, b in zip(single.optimizer.variables, mirrored.optimizer.variables):
        np.testing.assert_allclose(np.asarray(b.numpy()), np.asarray(a.numpy()),
                                   atol=1e-6, rtol=1e-5, err_msg=a.path)


# --- WarmupCosine -------------------------------------------------------------------------

def test_warmup_cosine_values():
    sched = WarmupCosine(2.0, warmup_steps=10, total_steps=110)
    expected = {
        0: 0.0,                                          # start of warm-up
        5: 1.0,                                          # mid warm-up
        10: 2.0,                                         # end of warm-up
        35: 2.0 * 0.5 * (1 + math.cos(math.pi * 0.25)),  # a quarter into the cosine
        60: 1.0,                                         # mid cosine
        110: 0.0,                                        # end
        500: 0.0,                                        # past the end: stays at 0
    }
    for step, value in expected.items():
        np.testing.assert_allclose(float(sched(step)), value, atol=1e-6)
        np.testing.assert_allclose(float(sched(tf.constant(step, tf.int64))), value,
                                   atol=1e-6)


def test_warmup_cosine_without_warmup_and_in_graph():
    sched = WarmupCosine(0.5, warmup_steps=0, total_steps=20)
    fn = tf.function(lambda s: sched(s))
    for step, value in {0: 0.5, 10: 0.25, 20: 0.0}.items():
        np.testing.assert_allclose(float(fn(tf.constant(step))), value, atol=1e-6)


def test_warmup_cosine_config_round_trip_and_validation():
    sched = WarmupCosine(1.0, 3, 30, name="lr")
    assert WarmupCosine.from_config(sched.get_config()).get_config() == sched.get_config()
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(sched))))
    assert type(restored) is WarmupCosine and restored.get_config() == sched.get_config()
    for args in ((-1.0, 0, 10), (1.0, -1, 10), (1.0, 11, 10), (1.0, 0, 0), (1.0, 1.5, 10)):
        with pytest.raises(ValueError):
            WarmupCosine(*args)


# --- scaled_learning_rate -----------------------------------------------------------------

def test_scaled_learning_rate():
    assert scaled_learning_rate(0.3, 1024) == pytest.approx(1.2)
    assert scaled_learning_rate(0.075, 1024, "sqrt") == pytest.approx(2.4)
    assert scaled_learning_rate(1.0, 1024, "none") == 1.0
    with pytest.raises(ValueError, match="scaling"):
        scaled_learning_rate(1.0, 256, "log")
    with pytest.raises(ValueError, match="batch_size"):
        scaled_learning_rate(1.0, 0)
