"""The on-device TFLite export: builtin ops only, STFT inside, same outputs as Keras."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import datasets, demo_data, tflite_export, train
from clar_tf.layers import frontend
from clar_tf.models import factory
from testing import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained CLAR run (paper frontend), exported through the CLI, and the
    spoken-digit clips of its test split (real speech, one word per clip)."""
    root = tmp_path_factory.mktemp("tflite")
    demo_data.make(str(root / "digits"), seed=0, clips_per_word=10)
    model_dir = root / "clar"
    train.run(tiny_config(model_dir, root / "digits", root / "tfds", export=False))
    path = str(root / "on_device" / "clar.tflite")
    proc = subprocess.run([sys.executable, "-m", "clar_tf.export",
                           f"--model_dir={model_dir}", f"--tflite={path}"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    test = datasets.load("spoken_digits", "test", data_dir=str(root / "tfds"),
                         manual_dir=str(root / "digits"))
    clips = np.stack([x["audio"] for x in test.as_numpy_iterator()])
    return model_dir, path, clips


def _interpret(content, audio):
    """Runs the .tflite flatbuffer's `serving_default` on `audio` [B, L]."""
    interpreter = tf.lite.Interpreter(model_content=content)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"],
                                    audio.shape)
    interpreter.allocate_tensors()
    return interpreter, interpreter.get_signature_runner("serving_default")(audio=audio)


def _ops(interpreter):
    return {op["op_name"] for op in interpreter._get_ops_details()}


@pytest.mark.slow
def test_tflite_matches_the_keras_model_on_spoken_digits(run):
    model_dir, path, clips = run
    assert clips.shape == (10, 16000) and np.abs(clips).max() > 0.05  # real speech
    inference = keras.saving.load_model(os.path.join(model_dir, "inference.keras"))
    expected = {k: np.asarray(v) for k, v in inference(clips).items()}
    with open(path, "rb") as f:
        content = f.read()
    interpreter, out = _interpret(content, clips)
    # Builtin ops only (a Flex op would be named "Flex..." or be custom), STFT inside.
    ops = _ops(interpreter)
    assert "RFFT2D" in ops and "ATAN2" in ops, ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    assert set(out) == {"embedding", "logits"}
    # Measured: max |difference| 1.2e-5 on embeddings up to ~30 and logits up to ~10
    # (float32 FFTs of two libraries); 1e-4 leaves margin. A phase flipped by 2π in
    # one bin (TFLite's -0 in the DC bin, fixed in BuiltinStftFrontend) gave 0.1.
    for name in ("embedding", "logits"):
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-4, atol=1e-4)
    assert (out["logits"].argmax(1) == expected["logits"].argmax(1)).all()
    # One clip per call (on-device use) gives the same as the batch.
    _, single = _interpret(content, clips[3:4])
    np.testing.assert_allclose(single["embedding"], out["embedding"][3:4], atol=1e-5)
    with open(path[:-len(".tflite")] + ".json") as f:
        meta = json.load(f)
    with open(os.path.join(model_dir, "labels.json")) as f:
        labels = json.load(f)
    assert meta == {"sample_rate": 16000, "clip_length": 16000, "embedding_size": 64,
                    "labels": labels}
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith(".tmp")]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["paper", "authors"])
def test_builtin_stft_frontend_channels_match_kapre(run, variant):
    """The frontend alone, converted: its three channels against the Kapre layer's."""
    clips = run[2][:4]
    audio = keras.Input((16000,))
    kapre_frontend = frontend.Frontend(variant=variant, jit_compile=False)
    model = keras.Model(audio, {"embedding": kapre_frontend(audio)})
    expected = np.asarray(model(clips)["embedding"])
    # In TensorFlow the swapped layer computes exactly the same.
    np.testing.assert_array_equal(
        np.asarray(tflite_export.on_device_model(model)(clips)["embedding"]), expected)
    _, out = _interpret(tflite_export.convert(model), clips)
    got = out["embedding"]
    # dB of |S|² and of the mel power: measured 1.6e-3 dB at most (values -100..+30 dB).
    np.testing.assert_allclose(got[..., 0], expected[..., 0], atol=1e-2)
    np.testing.assert_allclose(got[..., 2], expected[..., 2], atol=1e-2)
    # Phase in radians: measured 2.6e-4 at most; a sign-of-zero flip would be 2π.
    np.testing.assert_allclose(got[..., 1], expected[..., 1], atol=1e-2)


def test_embedding_only_model_converts(tmp_path):
    """SimCLR's inference model has no logits: the file has the embedding alone."""
    config = tiny_config(tmp_path, "unused", "unused", method="simclr", frontend="authors")
    model = factory.build_model(config, 10, 4000)
    audio = keras.Input((4000,))
    inference = keras.Model(audio, {"embedding": model.embedder(audio, training=False)})
    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4000)).astype(np.float32)
    _, out = _interpret(tflite_export.convert(inference), clips)
    assert set(out) == {"embedding"}
    np.testing.assert_allclose(out["embedding"], inference(clips)["embedding"],
                               rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_bad_arguments_fail_clearly(run, tmp_path):
    with pytest.raises(ValueError, match="no inference.keras"):
        tflite_export.export_tflite(str(tmp_path), str(tmp_path / "m.tflite"))
    with pytest.raises(ValueError, match="must name a .tflite file"):
        tflite_export.export_tflite(str(run[0]), str(tmp_path / "m.bin"))
    proc = subprocess.run([sys.executable, "-m", "clar_tf.export",
                           f"--model_dir={run[0]}"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "--export_dir" in proc.stderr and "--tflite" in proc.stderr
