"""An export's metadata file against its graph (issue 36, item 7): `clar_tf.embed` and
`clar_tf.hear` take sample rate, clip length and embedding size from
`assets.extra/clar_tf_metadata.json`, and refuse a file that differs from the
SavedModel's `metadata` signature (edited, or another export's) before the first
embedding, in one line naming the file and the fields.

One untrained tiny CLAR model (module fixture, no training), exported once; each test
edits a copy of the version folder.
"""
import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from clar_tf import embed, export, hear, run_dir
from clar_tf import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = 16000
LABELS = tuple(f"word{i}" for i in range(6))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An untrained tiny CLAR run (as faults_test's) and its export: {"model_dir",
    "version"} (the version folder)."""
    from clar_tf.models import factory
    root = tmp_path_factory.mktemp("metadata")
    keras.utils.set_random_seed(0)
    config = config_lib.Config(**{**config_lib.TINY, "model_dir": str(root / "run"),
                                  "method": "clar"})
    model = factory.build_model(config, len(LABELS), CLIP)
    os.makedirs(config.model_dir)
    run_dir.write_text(run_dir.path(config.model_dir, run_dir.CONFIG), config.to_json())
    model.embedder.save(run_dir.path(config.model_dir, run_dir.ENCODER))
    export.save_inference_model(model, SimpleNamespace(class_names=LABELS),
                                config.model_dir)
    version = export.export_saved_model(config.model_dir, str(root / "serving"), version=1)
    return {"model_dir": config.model_dir, "version": version}


def _edited(exported, dest, **changes):
    """A copy of the export's version folder at `dest` whose metadata file has `changes`
    (a value of None deletes the field). Returns (folder, metadata file path)."""
    folder = str(dest)
    shutil.copytree(exported["version"], folder)
    meta_path = os.path.join(folder, export.METADATA_FILE)
    with open(meta_path) as f:
        meta = json.load(f)
    for key, value in changes.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return folder, meta_path


def _audio(samples=20000, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (2, samples)).astype(np.float32)


def test_an_unedited_export_embeds_as_the_run(exported):
    model = embed.load(exported["version"])
    run = embed.load(exported["model_dir"])
    assert (model.sample_rate, model.clip_length, model.embedding_size) == (
        16000, CLIP, run.embedding_size)
    model.verify()
    model.verify()  # passed once: never again
    clips, frames, _ = embed.embed(_audio(), 16000, model)
    want_clips, want_frames, _ = embed.embed(_audio(), 16000, run)
    np.testing.assert_allclose(frames, want_frames, atol=1e-4)
    np.testing.assert_allclose(clips, want_clips, atol=1e-4)


EDITS = [
    ({"sample_rate": 48000}, "sample_rate=48000", "sample_rate=16000"),
    ({"clip_length": 8000}, "clip_length=8000", f"clip_length={CLIP}"),
    ({"embedding_size": 32}, "embedding_size=32", "embedding_size="),
    ({"frame_hop": 1000}, "frame_hop=1000", f"frame_hop={CLIP // 2}"),
    ({"labels": ["word0", "word1", "word2", "oops", "word4", "word5"]},
     "labels[3]='oops'", "says 'word3'"),
    ({"labels": list(LABELS[:5])}, "5 labels ('word0', 'word1', …)",
     "6 labels ('word0', 'word1', …)"),
    ({"labels": None}, "no labels", "6 labels"),
    ({"sample_rate": 48000, "clip_length": 8000}, "sample_rate=48000, clip_length=8000",
     f"sample_rate=16000, clip_length={CLIP}"),
]


@pytest.mark.parametrize("changes, said, truth", EDITS,
                         ids=[",".join(c) + ("" if i < 5 else f"-{i}")
                              for i, (c, _, _) in enumerate(EDITS)])
def test_an_edited_metadata_file_is_refused_naming_it_and_the_fields(
        exported, tmp_path, changes, said, truth):
    folder, meta_path = _edited(exported, tmp_path / "1", **changes)
    model = embed.load(folder)  # reads the file only: the edit is not seen yet
    hear_model = hear.load_model(folder)
    for attempt in (lambda: embed.embed(_audio(), 16000, model),
                    lambda: model(np.zeros((0, model.clip_length), np.float32)),
                    model.verify,  # refused again: the check is not skipped after a refusal
                    lambda: hear.get_scene_embeddings(_audio(), hear_model),
                    lambda: hear.get_timestamp_embeddings(_audio(), hear_model)):
        with pytest.raises(ValueError) as raised:
            attempt()
        message = str(raised.value)
        assert "\n" not in message, message
        assert message.startswith(f"{meta_path} says {said} but the SavedModel's metadata "
                                  "signature says "), message
        assert truth in message and message.endswith("re-export"), message


def test_an_edited_file_writes_nothing_from_the_files_api(exported, tmp_path):
    folder, meta_path = _edited(exported, tmp_path / "1", sample_rate=48000)
    sf.write(tmp_path / "a.wav", _audio()[0], 16000)
    with pytest.raises(ValueError, match="sample_rate=48000"):
        embed.embed_files([str(tmp_path / "a.wav")], embed.load(folder),
                          str(tmp_path / "out"), verbose=0)
    assert os.listdir(tmp_path / "out") == []


class _NoMetadata(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="audio")])
    def serve(self, audio):
        return {"embedding": tf.zeros([tf.shape(audio)[0], 3])}


def test_a_saved_model_without_a_metadata_signature_is_refused_at_load(tmp_path):
    path = str(tmp_path / "export" / "1")
    module = _NoMetadata()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    os.makedirs(os.path.join(path, "assets.extra"))
    with open(os.path.join(path, export.METADATA_FILE), "w") as f:
        json.dump({"sample_rate": 16000, "clip_length": 800, "embedding_size": 3,
                   "labels": []}, f)
    with pytest.raises(ValueError, match="without a metadata signature") as raised:
        embed.load(str(tmp_path / "export"))
    assert str(raised.value).startswith(path)
    with pytest.raises(ValueError, match="without a metadata signature"):
        hear.load_model(path)


@pytest.mark.slow
def test_embed_cli_refuses_an_edited_file_in_one_line(exported, tmp_path):
    folder, meta_path = _edited(exported, tmp_path / "1", sample_rate=48000)
    sf.write(tmp_path / "a.wav", _audio()[0], 16000)
    proc = subprocess.run([sys.executable, "-m", "clar_tf.embed", f"--model={folder}",
                           f"--out={tmp_path / 'out'}", str(tmp_path / "a.wav")], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [f"error: {meta_path} says sample_rate=48000 but the SavedModel's "
                     "metadata signature says sample_rate=16000: the file was edited or "
                     "belongs to another export; re-export"], proc.stderr[-3000:]
    assert os.listdir(tmp_path / "out") == []
