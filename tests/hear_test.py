"""The HEAR 2021 API: shapes, timestamps, equality with the encoder, the official validator."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import export, hear
from testing import tiny_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = 16000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny CLAR run, its export folder, its HEAR model and its encoder."""
    root = tmp_path_factory.mktemp("hear")
    model_dir = tiny_run(root, method="clar")
    export_dir = str(root / "serving")
    export.export_saved_model(model_dir, export_dir)
    encoder = keras.saving.load_model(os.path.join(model_dir, "encoder.keras"))
    return {"model_dir": model_dir, "export_dir": export_dir,
            "model": hear.load_model(model_dir),
            "encoder": lambda x: np.asarray(encoder(np.asarray(x, np.float32)))}


def _audio(n, samples, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(-1, 1, (n, samples)).astype(np.float32))


@pytest.mark.slow
def test_model_attributes(run):
    model = run["model"]
    assert isinstance(model, tf.Module)
    assert model.sample_rate == 16000
    assert model.scene_embedding_size == model.timestamp_embedding_size == 64
    assert all(type(x) is int for x in (model.sample_rate, model.scene_embedding_size,
                                        model.timestamp_embedding_size))


@pytest.mark.slow
def test_scene_embedding_of_a_clip_is_the_padded_encoder_embedding(run):
    audio = _audio(3, 12345)
    scene = hear.get_scene_embeddings(audio, run["model"])
    assert scene.dtype == tf.float32 and scene.shape == (3, 64)
    padded = np.pad(audio.numpy(), ((0, 0), (0, CLIP - 12345)))
    np.testing.assert_allclose(scene.numpy(), run["encoder"](padded), atol=1e-4)


@pytest.mark.slow
def test_scene_embedding_of_a_long_sound_averages_half_overlapping_clips(run):
    audio = _audio(2, 24000, seed=1).numpy()  # windows [0, 16000) and [8000, 24000)
    scene = hear.get_scene_embeddings(tf.constant(audio), run["model"])
    want = 0.5 * (run["encoder"](audio[:, :CLIP]) + run["encoder"](audio[:, 8000:]))
    np.testing.assert_allclose(scene.numpy(), want, atol=1e-4)


@pytest.mark.slow
def test_timestamp_embeddings_are_centred_clip_windows(run):
    audio = _audio(2, 20000, seed=2)
    frames, ms = hear.get_timestamp_embeddings(audio, run["model"])
    assert frames.dtype == ms.dtype == tf.float32
    assert frames.shape == (2, 26, 64) and ms.shape == (2, 26)  # t = 0, 50, ..., 1250 ms
    np.testing.assert_allclose(ms.numpy(), np.tile(np.arange(26) * 50.0, (2, 1)))
    padded = np.pad(audio.numpy(), ((0, 0), (CLIP // 2, CLIP)))  # centred windows
    for t in (0, 7, 25):
        start = t * 800  # 50 ms; the window centred on t·50 ms starts half a clip earlier
        np.testing.assert_allclose(frames[:, t].numpy(),
                                   run["encoder"](padded[:, start:start + CLIP]), atol=1e-4)


@pytest.mark.slow
def test_exported_model_gives_the_same_embeddings(run):
    exported = hear.load_model(run["export_dir"])
    audio = _audio(2, 30000, seed=3)
    np.testing.assert_allclose(hear.get_scene_embeddings(audio, exported).numpy(),
                               hear.get_scene_embeddings(audio, run["model"]).numpy(),
                               atol=1e-4)


@pytest.mark.slow
def test_model_path_from_environment(run, monkeypatch):
    monkeypatch.delenv(hear.MODEL_ENV, raising=False)
    with pytest.raises(ValueError, match=hear.MODEL_ENV):
        hear.load_model()
    monkeypatch.setenv(hear.MODEL_ENV, run["model_dir"])
    assert hear.load_model().embedder.source == run["model_dir"]


@pytest.mark.slow
def test_official_validator_passes(run):
    pytest.importorskip("hearvalidator")
    # The script runs this interpreter and its `hear-validator`, with no PYTHONPATH: it
    # imports clar_tf.hear by name from the installed package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(["bash", os.path.join(REPO, "tools", "hear_validate.sh"),
                           run["export_dir"]], capture_output=True, text=True,
                          env={**env, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Interval between timestamps is 50.0ms" in proc.stdout
    assert "Looks good!" in proc.stdout
