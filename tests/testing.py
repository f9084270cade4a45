"""Shared test helpers: keras-hub style layer round trip, the spoken-digits fixture data,
the tiny training config and run."""
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


def tiny_config(model_dir, manual_dir, data_dir, **overrides):
    """A `Config` for a seconds-long run on the spoken digits (`config.TINY`: width 0.125,
    batch 8, one epoch of two steps, small head): the trained model the end-to-end tests
    export, embed and evaluate. `overrides` replace any field."""
    from clar_tf import config as config_lib
    return config_lib.Config(**{**config_lib.TINY, **dict(
        model_dir=str(model_dir), dataset="spoken_digits", manual_dir=str(manual_dir),
        data_dir=str(data_dir)), **overrides})


def spoken_digits(root, clips_per_word):
    """The offline spoken digits under `root`: the published layout in `raw/`, the TFDS
    data (prepared on first use) in `tfds/`. Returns them as `Config` fields."""
    from clar_tf import demo_data
    demo_data.make(str(root / "raw"), seed=0, clips_per_word=clips_per_word)
    return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


def tiny_run(root, **overrides):
    """A finished `tiny_config` run on 10 clips per word, in `root/run`: its model_dir."""
    from clar_tf import train
    model_dir = str(root / "run")
    train.run(tiny_config(model_dir, **spoken_digits(root, 10), **overrides))
    return model_dir
