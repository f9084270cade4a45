"""Shared test helpers (keras-hub style layer round trip)."""
import os
import tempfile

import keras
import numpy as np


def assert_layer_roundtrip(layer, inputs, *, training=False, atol=1e-6):
    """Round-trip `layer` through get_config/from_config, JSON and a `.keras` file.

    Checks that every route rebuilds a layer of the same class and config, that the
    `.keras` route restores weights (same output on `inputs`), and that the symbolic
    output shape equals the eager one. Returns the eager output.
    """
    out = keras.ops.convert_to_numpy(layer(inputs, training=training))
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    json_clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert type(json_clone) is type(layer) and json_clone.get_config() == config

    x = keras.Input(shape=tuple(inputs.shape[1:]), dtype=str(inputs.dtype))
    model = keras.Model(x, layer(x, training=training))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    got = keras.ops.convert_to_numpy(loaded(inputs, training=training))
    np.testing.assert_allclose(got, out, atol=atol, rtol=1e-5)
    sym = model.outputs[0].shape
    assert tuple(sym[1:]) == tuple(out.shape[1:]), (sym, out.shape)
    return out
