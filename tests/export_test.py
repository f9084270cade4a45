"""The TF Serving SavedModel: loaded in a fresh process, through saved_model_cli, the CLI."""
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import demo_data, export, serving, train
from clar_tf.models import loading
from testing import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = 16000
# The `saved_model_cli` console script of this Python's TensorFlow.
SAVED_MODEL_CLI = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]

# Runs in a fresh Python: loads the SavedModel with TensorFlow alone (no clar_tf).
_LOAD_AND_SERVE = """
import sys
import numpy as np
import tensorflow as tf
export_path, inputs_path, outputs_path = sys.argv[1:]
serve = tf.saved_model.load(export_path).signatures["serving_default"]
inputs = np.load(inputs_path)
out = {}
for name in inputs.files:
    for key, value in serve(audio=tf.constant(inputs[name])).items():
        value = value.numpy()
        out[name + "/" + key] = value.astype(str) if value.dtype == object else value
np.savez(outputs_path, **out)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny supervised run and a tiny SimCLR run, each exported once."""
    root = tmp_path_factory.mktemp("export")
    demo_data.make(str(root / "digits"), seed=0, clips_per_word=10)
    found = {}
    for method in ("supervised", "simclr"):
        model_dir = str(root / method)
        train.run(tiny_config(model_dir, root / "digits", root / "tfds", method=method))
        serving = str(root / f"{method}_serving")
        found[method] = (model_dir, export.export_saved_model(model_dir, serving))
    return found


def _padded(audio):
    """Reference of the in-graph pad/clip: NumPy, right side."""
    out = np.zeros((audio.shape[0], CLIP), np.float32)
    n = min(CLIP, audio.shape[1])
    out[:, :n] = audio[:, :n]
    return out


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """No training: a tiny 2D CLAR model's initial weights, saved as a run saves them, and
    its export (version 7). Returns (model_dir, the serving folder, the version folder)."""
    from types import SimpleNamespace

    from clar_tf import config as config_lib
    from clar_tf.models import factory
    root = tmp_path_factory.mktemp("untrained")
    keras.utils.set_random_seed(0)
    config = config_lib.Config(**{**config_lib.TINY, "model_dir": str(root / "run"),
                                  "method": "clar"})
    model = factory.build_model(config, 3, CLIP)
    os.makedirs(config.model_dir)
    export.save_inference_model(model, SimpleNamespace(class_names=("a", "b", "c")),
                                config.model_dir)
    path = export.export_saved_model(config.model_dir, str(root / "serving"), version=7)
    return config.model_dir, str(root / "serving"), path


@pytest.fixture(scope="module")
def untrained_signatures(untrained):
    return tf.saved_model.load(untrained[2]).signatures


def test_smoke_size_export_round_trip_serves_what_the_keras_model_computes(
        untrained, untrained_signatures):
    model_dir, serving_dir, path = untrained
    assert path == os.path.join(serving_dir, "7")
    serve = untrained_signatures["serving_default"]
    inference = keras.saving.load_model(os.path.join(model_dir, "inference.keras"))
    audio = 0.1 * np.random.default_rng(0).standard_normal((2, 20000), dtype=np.float32)
    got = serve(audio=tf.constant(audio))
    want = {k: np.asarray(v) for k, v in inference(_padded(audio)).items()}
    np.testing.assert_allclose(got["embedding"].numpy(), want["embedding"], atol=1e-4)
    np.testing.assert_allclose(got["logits"].numpy(), want["logits"], atol=1e-4)
    best = [("a", "b", "c")[i] for i in want["logits"].argmax(1)]
    assert [c.decode() for c in got["classes"].numpy()] == best
    assert got["samples_used"].numpy().tolist() == [CLIP, CLIP]


@pytest.mark.parametrize("signature", ["serving_default", "serve_frames"])
@pytest.mark.parametrize("shape", [[16000], [1, 1, 16000], []])
def test_audio_that_is_not_batch_by_samples_is_refused_naming_it(
        untrained_signatures, signature, shape):
    # Checked before anything else runs (serve_frames failed first in a slice or pad).
    received = re.escape(f"received shape] [{' '.join(map(str, shape))}]")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"audio must be a \[batch, samples\] tensor of 16 kHz samples "
                             rf"\(rank 2\); {received}"):
        untrained_signatures[signature](audio=tf.zeros(shape))


@pytest.mark.parametrize("signature", ["serving_default", "serve_frames"])
def test_another_dtype_and_clips_of_no_samples_are_refused(untrained_signatures, signature):
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float"):
        untrained_signatures[signature](audio=tf.zeros([2, 12000], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio has no samples"):
        untrained_signatures[signature](audio=tf.zeros([2, 0]))


def test_serve_frames_refuses_more_windows_than_its_cap(untrained_signatures):
    # One window per clip of a sample: nothing but the check is heavy.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"serve_frames runs at most {serving.MAX_WINDOWS} windows per "
                             r"request .*: send fewer or shorter clips; received\] "
                             rf"\[{serving.MAX_WINDOWS + 1}\] \[clips of\] \[1\]"):
        untrained_signatures["serve_frames"](audio=tf.zeros([serving.MAX_WINDOWS + 1, 1]))


def test_serve_frames_cap_counts_clips_times_windows(untrained):
    inference = loading.load_model(os.path.join(untrained[0], "inference.keras"))
    _, serve_frames, _ = serving.serving_functions(inference, ("a", "b", "c"),
                                                   max_windows=6)
    serve_frames = tf.function(serve_frames, autograph=False,
                               input_signature=[tf.TensorSpec(None, tf.float32)])
    # 2 clips × 3 windows (0, 8000, 16000) = 6: served.
    assert serve_frames(tf.zeros([2, 32000]))["frame_embedding"].shape == (2, 3, 64)
    for shape, windows in (([2, 32001], 8), ([7, 1], 7)):
        refused = rf"at most 6 windows per request .* \[{windows}\] \[windows\]"
        with pytest.raises(tf.errors.InvalidArgumentError, match=refused):
            serve_frames(tf.zeros(shape))


@pytest.mark.slow
def test_fresh_process_matches_the_keras_model(runs, tmp_path):
    model_dir, export_path = runs["supervised"]
    rng = np.random.default_rng(0)
    inputs = {"short": 0.1 * rng.standard_normal((3, 12000), dtype=np.float32),
              "long": 0.1 * rng.standard_normal((2, 20000), dtype=np.float32)}
    np.savez(tmp_path / "in.npz", **inputs)
    proc = subprocess.run([sys.executable, "-c", _LOAD_AND_SERVE, export_path,
                           str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    inference = keras.saving.load_model(os.path.join(model_dir, "inference.keras"))
    with open(os.path.join(model_dir, "labels.txt")) as f:
        labels = f.read().split()
    for name, audio in inputs.items():
        expected = {k: np.asarray(v) for k, v in inference(_padded(audio)).items()}
        np.testing.assert_allclose(out[f"{name}/embedding"], expected["embedding"], atol=1e-4)
        np.testing.assert_allclose(out[f"{name}/logits"], expected["logits"], atol=1e-4)
        logits = expected["logits"].astype(np.float64)
        softmax = np.exp(logits - logits.max(1, keepdims=True))
        softmax /= softmax.sum(1, keepdims=True)
        np.testing.assert_allclose(out[f"{name}/probabilities"], softmax, atol=1e-5)
        assert out[f"{name}/classes"].tolist() == [
            labels[i] for i in logits.argmax(1)]


@pytest.mark.slow
def test_metadata_signature(runs):
    model_dir, export_path = runs["supervised"]
    meta = tf.saved_model.load(export_path).signatures["metadata"]()
    with open(os.path.join(model_dir, "labels.txt")) as f:
        labels = f.read().split()
    assert int(meta["sample_rate"]) == 16000 and int(meta["clip_length"]) == CLIP
    assert int(meta["embedding_size"]) == 64  # 512 * width 0.125
    assert [x.decode() for x in meta["labels"].numpy()] == labels == sorted(demo_data.WORDS)


@pytest.mark.slow
def test_no_xla_compiled_functions(runs):
    """The SavedModel runs without XLA: no function in it must be XLA-compiled (the
    frontend's nested XLA call is turned off for export)."""
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(runs["supervised"][1], "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    functions = proto.meta_graphs[0].graph_def.library.function
    assert len(functions) > 0
    for fn in functions:
        for key in ("_XlaMustCompile", "_noinline_xla", "_XlaCompile"):
            assert not (key in fn.attr and fn.attr[key].b), (fn.signature.name, key)


@pytest.mark.slow
def test_saved_model_cli_show_and_run(runs, tmp_path):
    _, export_path = runs["supervised"]
    show = subprocess.run([*SAVED_MODEL_CLI, "show", "--dir", export_path, "--all"],
                          capture_output=True, text=True)
    assert show.returncode == 0, show.stderr[-3000:]
    for text in ("signature_def['serving_default']", "signature_def['metadata']",
                 "signature_def['serve_frames']", "outputs['samples_used']",
                 "inputs['audio']", "outputs['classes']", "outputs['probabilities']"):
        assert text in show.stdout
    np.save(tmp_path / "audio.npy", np.zeros((2, 12000), np.float32))
    run = subprocess.run([*SAVED_MODEL_CLI, "run", "--dir", export_path, "--tag_set", "serve",
                          "--signature_def", "serving_default",
                          "--inputs", f"audio={tmp_path / 'audio.npy'}"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Result for output key embedding" in run.stdout
    assert "Result for output key classes" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("signature", ["serving_default", "serve_frames"])
def test_wrong_rank_and_dtype_fail_clearly(runs, signature):
    serve = tf.saved_model.load(runs["supervised"][1]).signatures[signature]
    for shape in ([12000], [1, 2, 12000]):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"audio must be a \[batch, samples\]"):
            serve(audio=tf.zeros(shape))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float"):
        serve(audio=tf.zeros([2, 12000], tf.int32))


@pytest.mark.slow
def test_simclr_exports_only_the_embedding(runs):
    model_dir, export_path = runs["simclr"]
    loaded = tf.saved_model.load(export_path)
    serve = loaded.signatures["serving_default"]
    assert set(serve.structured_outputs) == {"embedding", "samples_used"}
    assert set(loaded.signatures["serve_frames"].structured_outputs) == {
        "embedding", "frame_embedding", "frame_start_s", "frame_center_s"}
    audio = np.random.default_rng(1).standard_normal((2, 9000), dtype=np.float32)
    encoder = keras.saving.load_model(os.path.join(model_dir, "encoder.keras"))
    np.testing.assert_allclose(serve(audio=tf.constant(audio))["embedding"],
                               encoder(_padded(audio)), atol=1e-4)
    assert loaded.signatures["metadata"]()["labels"].shape == (0,)


@pytest.mark.slow
def test_versions_and_cli(runs, tmp_path):
    model_dir, _ = runs["simclr"]
    first = export.export_saved_model(model_dir, str(tmp_path), version=3)
    assert first == os.path.join(str(tmp_path), "3")
    with pytest.raises(ValueError, match="exists already"):
        export.export_saved_model(model_dir, str(tmp_path), version=3)
    proc = subprocess.run([sys.executable, "-m", "clar_tf.export", f"--model_dir={model_dir}",
                           f"--export_dir={tmp_path}"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    versions = sorted(int(d) for d in os.listdir(tmp_path) if d.isdigit())
    assert versions[0] == 3 and versions[1] > 3 and len(versions) == 2  # Unix time
    assert not [d for d in os.listdir(tmp_path) if d.startswith(".")]  # no staging left


@pytest.mark.slow
def test_serve_frames_matches_the_embed_cli_on_a_10_second_clip(runs, tmp_path):
    import soundfile as sf
    model_dir, export_path = runs["supervised"]
    audio = 0.1 * np.random.default_rng(3).standard_normal(163000).astype(np.float32)
    sf.write(tmp_path / "long.wav", audio, CLIP, subtype="FLOAT")
    proc = subprocess.run([sys.executable, "-m", "clar_tf.embed", f"--model={model_dir}",
                           f"--out={tmp_path / 'out'}", str(tmp_path / "long.wav")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = np.load(tmp_path / "out" / "long.wav.npz")
    loaded = tf.saved_model.load(export_path)
    got = {k: v.numpy() for k, v in
           loaded.signatures["serve_frames"](audio=tf.constant(audio[None])).items()}
    # 1 + ceil((163000 - 16000) / 8000) = 20 windows, the last zero-padded.
    assert got["frame_embedding"].shape == (1, 20, 64) == (1,) + cli["frames"].shape
    np.testing.assert_allclose(got["frame_embedding"][0], cli["frames"], atol=1e-4)
    np.testing.assert_allclose(got["embedding"][0], cli["embedding"], atol=1e-4)
    np.testing.assert_allclose(got["frame_center_s"][0], cli["timestamps"], atol=1e-6)
    np.testing.assert_allclose(got["frame_start_s"][0], np.arange(20) * 0.5, atol=1e-6)
    # Per-window classes: the Keras model on windows cut by hand.
    padded = np.concatenate([audio, np.zeros(19 * 8000 + CLIP - len(audio), np.float32)])
    windows = np.stack([padded[t * 8000:t * 8000 + CLIP] for t in range(20)])
    inference = keras.saving.load_model(os.path.join(model_dir, "inference.keras"))
    logits = np.asarray(inference(windows)["logits"])
    np.testing.assert_allclose(got["frame_logits"][0], logits, atol=1e-4)
    with open(os.path.join(model_dir, "labels.txt")) as f:
        labels = f.read().split()
    assert [c.decode() for c in got["frame_classes"][0]] == [labels[i]
                                                              for i in logits.argmax(1)]
    assert int(loaded.signatures["metadata"]()["frame_hop"]) == 8000


@pytest.mark.slow
def test_default_signature_says_how_many_samples_it_used(runs):
    serve = tf.saved_model.load(runs["supervised"][1]).signatures["serving_default"]
    for samples, used in ((160000, CLIP), (CLIP, CLIP), (12000, 12000)):
        out = serve(audio=tf.zeros([3, samples]))
        assert out["samples_used"].numpy().tolist() == [used] * 3
    assert serve(audio=tf.zeros([0, 500]))["samples_used"].shape == (0,)


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="no inference.keras"):
        export.export_saved_model(str(tmp_path), str(tmp_path / "out"))
