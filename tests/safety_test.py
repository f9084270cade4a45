"""Bad input, faults and crafted files (issue 15): each is refused clearly or survived.

One tiny supervised run (module fixture) is exported and then fed bad audio, loaded from
crafted folders and evaluated with a crafted config; the other tests build their own
small inputs.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from clar_tf import config as config_lib
from clar_tf import demo_data, export, run_dir, train
from cli_testing import run_main
from testing import spoken_digits, tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return spoken_digits(tmp_path_factory.mktemp("digits"), 10)


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    """A tiny supervised run and its SavedModel."""
    model_dir = str(tmp_path_factory.mktemp("run") / "supervised")
    train.run(tiny_config(model_dir, method="supervised", **digits))
    return {"model_dir": model_dir,
            "saved_model": export.export_saved_model(model_dir,
                                                     os.path.join(model_dir, "serving"))}


def _train_cli(*args):
    return subprocess.run([sys.executable, "-m", "clar_tf.train", *args], cwd=REPO,
                          capture_output=True, text=True)


# --- 5: no labels for a labeled method --------------------------------------------------

@pytest.mark.parametrize("method", config_lib.LABELED_METHODS)
def test_labeled_fraction_zero_is_refused_for_labeled_methods(method):
    with pytest.raises(ValueError, match="--labeled_fraction=0"):
        config_lib.Config(model_dir="unused", method=method, labeled_fraction=0.0)
    config_lib.Config(model_dir="unused", method=method, labeled_fraction=0.01)


def test_labeled_fraction_zero_is_allowed_for_simclr():
    assert config_lib.Config(model_dir="unused", method="simclr",
                             labeled_fraction=0.0).labeled_fraction == 0.0


@pytest.mark.parametrize("width", [1e-9, 0.06, 16.5, 1e9])
def test_width_outside_its_range_is_refused(width):
    # 1e-9 used to train a 1-channel network; 1e9 would not fit in any memory.
    with pytest.raises(ValueError, match=rf"width must be in \[0.0625, 16.0\].*width={width}"):
        config_lib.Config(model_dir="m", width=width)
    config_lib.Config(model_dir="m", width=config_lib.MIN_WIDTH)  # the bounds themselves


@pytest.mark.parametrize("field,value,bound", [("learning_rate", -1.0, "> 0"),
                                               ("learning_rate", 0.0, "> 0"),
                                               ("weight_decay", -1e-4, ">= 0")])
def test_negative_learning_rate_or_weight_decay_is_refused_naming_the_flag(field, value,
                                                                          bound):
    # -1 used to end in the schedule's "`base` must be >= 0" (no flag named).
    with pytest.raises(ValueError, match=rf"{field} must be {bound}. Received: {field}="):
        config_lib.Config(model_dir="m", **{field: value})
    config_lib.Config(model_dir="m", weight_decay=0.0)  # no weight decay is allowed


def test_cli_refuses_labeled_fraction_zero_in_one_line(tmp_path):
    proc = _train_cli(f"--model_dir={tmp_path / 'run'}", "--method=clar",
                      "--labeled_fraction=0")
    assert proc.returncode != 0
    assert "--labeled_fraction=0" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "run")


# --- 4: a refused start writes nothing --------------------------------------------------

def test_bad_augment_names_the_flag():
    with pytest.raises(ValueError, match=r"--augment.*'XX'"):
        config_lib.Config(model_dir="unused", augment="FD+XX")
    assert config_lib.Config(model_dir="unused", augment=" fd + tm ").augment == " fd + tm "


@pytest.mark.slow
def test_failed_start_leaves_model_dir_untouched_and_the_fix_runs(digits, tmp_path):
    config = tiny_config(tmp_path / "run", method="simclr", **digits)
    with pytest.raises(ValueError, match="init_from"):
        train.run(config.replace(init_from=str(tmp_path / "no_such_run")))
    assert not os.path.exists(tmp_path / "run")
    with pytest.raises(ValueError, match="batch_size=4096"):
        train.run(config.replace(batch_size=4096))
    assert not os.path.exists(tmp_path / "run")
    result = train.run(config)  # the corrected command is not "a different config"
    assert result["epochs_this_run"] == 1
    with open(tmp_path / "run" / "config.json") as f:
        assert config_lib.Config.from_json(f.read()) == config


# --- 1: class names cannot shift --------------------------------------------------------

def _wav(path, n=1600, level=0.25, sr=16000):
    import soundfile as sf
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(n, level, np.float32), sr)


@pytest.mark.parametrize("bad", ["  ", "new\nline", "tab\there", "bell\x07", "\u200b"])
def test_folder_refuses_blank_or_control_class_names(tmp_path, bad):
    from clar_tf import datasets
    for name in ("good", bad):
        _wav(tmp_path / "clips" / name / "a.wav")
    with pytest.raises(ValueError) as error:
        datasets.info("folder", data_dir=str(tmp_path / "data"),
                      manual_dir=str(tmp_path / "clips"), clip_length=1600)
    assert repr(str(tmp_path / "clips" / bad)) in str(error.value)
    assert not os.path.exists(tmp_path / "data" / "clar_folder")


@pytest.mark.slow
def test_labels_json_is_what_export_serves(run, tmp_path):
    import shutil
    with open(os.path.join(run["model_dir"], "labels.json")) as f:
        assert json.load(f) == sorted(demo_data.WORDS)
    # Names a line-per-name file would mangle are kept exactly by labels.json.
    names = [" lead", "trail ", "two  spaces", "ünï", "#7", "a,b", '"q"', "x\\y", "é",
             "z"]
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    shutil.copy(os.path.join(run["model_dir"], "inference.keras"), crafted)
    (crafted / "labels.json").write_text(json.dumps(names))
    (crafted / "labels.txt").write_text("stale\n" * 10)
    loaded = tf.saved_model.load(export.export_saved_model(str(crafted),
                                                           str(tmp_path / "serving")))
    assert [x.decode() for x in loaded.signatures["metadata"]()["labels"].numpy()] == names
    audio = np.random.default_rng(0).standard_normal((4, 16000), dtype=np.float32)
    out = loaded.signatures["serving_default"](audio=tf.constant(audio))
    expected = [names[i] for i in np.argmax(out["logits"].numpy(), axis=1)]
    assert [x.decode() for x in out["classes"].numpy()] == expected


# --- 7: non-finite and out-of-range audio -----------------------------------------------

def _serve(run):
    return tf.saved_model.load(run["saved_model"]).signatures["serving_default"]


def _clips(n=2, samples=12000, scale=0.1, seed=0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n, samples))).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_saved_model_refuses_non_finite_audio_naming_it(run, bad):
    audio = _clips()
    audio[1, 5] = bad
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio must hold finite"):
        _serve(run)(audio=tf.constant(audio))


@pytest.mark.slow
def test_out_of_range_samples_are_used_as_sent_until_they_overflow(run):
    import keras
    encoder = keras.saving.load_model(os.path.join(run["model_dir"], "encoder.keras"))
    loud = _clips(samples=16000, scale=1e4)  # not clipped to [-1, 1]
    np.testing.assert_allclose(_serve(run)(audio=tf.constant(loud))["embedding"],
                               encoder(loud), rtol=1e-4, atol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio samples too large"):
        _serve(run)(audio=tf.constant(_clips(scale=1e30)))


@pytest.mark.slow
@pytest.mark.parametrize("source", ["model_dir", "saved_model"])
def test_embed_and_hear_refuse_non_finite_audio(run, source):
    from clar_tf import embed, hear
    model = embed.load(run[source])
    audio = _clips(samples=20000)
    audio[0, 100] = np.nan
    with pytest.raises(ValueError, match="audio must hold finite samples"):
        embed.embed(audio, 16000, model)
    with pytest.raises(ValueError, match="audio must hold finite samples"):
        hear.get_timestamp_embeddings(audio, hear.HearModel(model))
    loud = _clips(scale=1e30)[0]
    with pytest.raises(ValueError, match="audio samples too large") as error:
        embed.embed(loud, 16000, model)
    assert f"peak of {np.abs(loud).max():.3g}" in str(error.value)


# --- 10: empty input --------------------------------------------------------------------

@pytest.mark.slow
def test_saved_model_answers_an_empty_batch_and_refuses_empty_clips(run):
    out = _serve(run)(audio=tf.zeros([0, 12000]))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {"embedding": (0, 64), "logits": (0, 10), "probabilities": (0, 10),
                      "classes": (0,), "samples_used": (0,)}
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio has no samples"):
        _serve(run)(audio=tf.zeros([2, 0]))


@pytest.mark.slow
@pytest.mark.parametrize("source", ["model_dir", "saved_model"])
def test_embed_and_hear_handle_empty_input(run, source):
    from clar_tf import embed, hear
    model = embed.load(run[source])
    for audio in (np.zeros(0, np.float32), np.zeros((2, 0), np.float32)):
        with pytest.raises(ValueError, match="at least one sample"):
            embed.embed(audio, 44100, model)
    for get in (hear.get_scene_embeddings, hear.get_timestamp_embeddings):
        with pytest.raises(ValueError, match="at least one sample"):
            get(np.zeros((2, 0), np.float32), hear.HearModel(model))
    # No clips: empty results shaped like those of one clip of that length.
    one = embed.embed(np.zeros((1, 30000), np.float32), 44100, model)
    none = embed.embed(np.zeros((0, 30000), np.float32), 44100, model)
    assert [x.shape for x in none] == [(0, 64), (0,) + one[1].shape[1:], one[2].shape]
    assert model(np.zeros((0, 16000), np.float32)).shape == (0, 64)


def test_empty_manual_dir_names_the_flag(tmp_path):
    from clar_tf import datasets
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="--manual_dir must be an existing, non-empty"):
        datasets.info("sc10", data_dir=str(tmp_path / "data"),
                      manual_dir=str(tmp_path / "empty"))


def test_train_cli_reports_a_bad_layout_in_one_line(tmp_path):
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout" / "README").write_text("not the layout")
    proc = _train_cli(f"--model_dir={tmp_path / 'run'}", "--dataset=sc10",
                      f"--manual_dir={tmp_path / 'layout'}",
                      f"--data_dir={tmp_path / 'data'}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"error: Expected the Speech Commands split list validation_list.txt at " \
           f"{tmp_path / 'layout' / 'validation_list.txt'}" in proc.stderr
    assert not os.path.exists(tmp_path / "run")


def test_prepare_reports_a_bad_file_in_one_line(tmp_path):
    from clar_tf import prepare
    _wav(tmp_path / "clips" / "good" / "a.wav")
    bad = tmp_path / "clips" / "bad" / "b.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF1234WAVEnot really audio")
    args = ["prepare", "--dataset=folder", f"--manual_dir={tmp_path / 'clips'}",
            f"--data_dir={tmp_path / 'data'}", "--clip_length=1600"]
    message = r"^error: Cannot read audio file .*--skip_bad_files"
    with pytest.raises(SystemExit, match=message) as error:
        run_main(prepare, prepare.PrepareArgs, args)
    assert str(bad) in str(error.value)


# --- 3: loading crafted folders runs none of their code ---------------------------------

class _Trap(tf.Module):
    """A SavedModel whose functions write `marker` when they run."""

    def __init__(self, marker):
        super().__init__()
        self.marker = marker

    @tf.function(input_signature=[])
    def metadata(self):
        tf.io.write_file(self.marker, "metadata ran")
        return {"sample_rate": tf.constant(16000), "clip_length": tf.constant(800),
                "embedding_size": tf.constant(3), "labels": tf.constant([], tf.string)}

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="audio")])
    def serve(self, audio):
        tf.io.write_file(self.marker, "serve ran")
        return {"embedding": tf.zeros([tf.shape(audio)[0], 3])}


def test_loading_an_export_runs_none_of_its_graph(tmp_path):
    from clar_tf import embed, hear
    marker = str(tmp_path / "marker")
    trap = _Trap(marker)
    path = str(tmp_path / "export" / "1")
    tf.saved_model.save(trap, path, signatures={"serving_default": trap.serve,
                                                "metadata": trap.metadata})
    os.makedirs(os.path.dirname(os.path.join(path, export.METADATA_FILE)))
    with open(os.path.join(path, export.METADATA_FILE), "w") as f:
        json.dump({"sample_rate": 16000, "clip_length": 800, "embedding_size": 3,
                   "labels": []}, f)
    model = embed.load(str(tmp_path / "export"))
    hear.load_model(path)
    assert not os.path.exists(marker)
    assert (model.sample_rate, model.clip_length, model.embedding_size) == (16000, 800, 3)
    model(np.zeros((1, 800), np.float32))  # embedding runs the graph, by design
    assert os.path.exists(marker)


@pytest.mark.slow
def test_export_writes_its_metadata_as_data(run):
    with open(os.path.join(run["saved_model"], export.METADATA_FILE)) as f:
        meta = json.load(f)
    graph = tf.saved_model.load(run["saved_model"]).signatures["metadata"]()
    # The graph's metadata, and the provenance of the run that made the model.
    assert meta.pop("provenance") == run_dir.read_json(run["model_dir"], run_dir.PROVENANCE)
    assert meta == {k: ([x.decode() for x in v.numpy()] if k == "labels" else int(v))
                    for k, v in graph.items()}
    assert {"sample_rate", "clip_length", "embedding_size", "labels"} <= set(meta)


@pytest.mark.slow
def test_a_crafted_keras_file_with_a_lambda_is_refused(run, tmp_path):
    import shutil

    import keras
    from clar_tf import embed
    marker = tmp_path / "marker"
    audio = keras.Input((16000,), name="audio")
    touch = keras.layers.Lambda(lambda x, path=str(marker): (open(path, "w").close(), x)[1])
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    shutil.copy(os.path.join(run["model_dir"], "config.json"), crafted)
    keras.Model(audio, touch(audio)).save(crafted / "encoder.keras")
    keras.Model(audio, {"embedding": touch(audio)}).save(crafted / "inference.keras")
    marker.unlink()  # building the models ran the lambda; loading must not
    with pytest.raises(ValueError, match="Lambda"):
        embed.load(str(crafted))
    with pytest.raises(ValueError, match="Lambda"):
        export.export_saved_model(str(crafted), str(tmp_path / "serving"))
    proc = subprocess.run([sys.executable, "-m", "clar_tf.evaluate", f"--model_dir={crafted}",
                           f"--data_dir={tmp_path / 'data'}"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "error: " in proc.stderr and "Lambda" in proc.stderr
    assert not marker.exists()


def test_requirements_exclude_keras_with_safe_mode_bypasses():
    import keras
    from packaging.requirements import Requirement
    try:
        import tomllib
    except ImportError:  # Python 3.10 (the TFX venv's low-end run): pytest brings tomli
        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    spec = next(Requirement(d).specifier for d in dependencies if Requirement(d).name == "keras")
    # Last releases before the fixes of CVE-2025-1550, CVE-2025-9906, CVE-2025-9905.
    assert not any(spec.contains(v) for v in ("3.8.0", "3.10.0", "3.11.2"))
    assert spec.contains(keras.__version__)


# --- 9: a run's config.json does not decide where evaluation writes ---------------------

@pytest.mark.slow
def test_evaluate_prepares_data_only_where_the_user_says(run, digits, tmp_path):
    import shutil
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    shutil.copy(os.path.join(run["model_dir"], "encoder.keras"), crafted)
    with open(os.path.join(run["model_dir"], "config.json")) as f:
        config = json.load(f)
    config.update(data_dir=str(tmp_path / "planted_data"),
                  manual_dir=str(tmp_path / "planted_manual"), linear_eval_epochs=1)
    (crafted / "config.json").write_text(json.dumps(config))
    user_data = tmp_path / "user_data"
    proc = subprocess.run([sys.executable, "-m", "clar_tf.evaluate",
                           f"--model_dir={crafted}", f"--data_dir={user_data}",
                           f"--manual_dir={digits['manual_dir']}"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["crafted", "user_data"]
    assert os.path.isdir(user_data / "clar_speech_commands" / "spoken_digits")
    with open(crafted / "linear_eval.json") as f:
        assert json.load(f)["class_names"] == sorted(demo_data.WORDS)


# --- 2: a failed checkpoint write loses nothing -----------------------------------------

def _epochs_logged(model_dir):
    import csv
    with open(os.path.join(model_dir, "train_log.csv"), newline="") as f:
        return [row["epoch"] for row in csv.DictReader(f)]


@pytest.mark.slow
def test_crash_during_checkpoint_write_resumes_from_the_previous_epoch(
        digits, tmp_path, monkeypatch):
    import keras
    config = tiny_config(tmp_path / "run", method="simclr", epochs=2, **digits)
    backup = tmp_path / "run" / "backup"
    good = tmp_path / "epoch1.weights.h5"
    original = keras.Model.save_weights
    saves = []

    def disk_full_on_second_save(self, filepath, *args, **kwargs):
        original(self, filepath, *args, **kwargs)
        saves.append(filepath)
        if len(saves) == 1:
            original(self, str(good))
            return
        with open(filepath, "r+b") as f:  # half written, then the disk is full
            f.truncate(os.path.getsize(filepath) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", disk_full_on_second_save)
    with pytest.raises(OSError, match="previous checkpoint is intact"):
        train.run(config)
    monkeypatch.undo()
    with open(backup / "latest.weights.h5", "rb") as f, open(good, "rb") as g:
        assert f.read() == g.read()  # the checkpoint of epoch 1, whole
    with open(backup / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 1
    assert _epochs_logged(tmp_path / "run") == ["0"]

    result = train.run(config)  # the same command again
    assert result["epochs_this_run"] == 1
    assert _epochs_logged(tmp_path / "run") == ["0", "1"]
    with open(backup / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 2


# Runs in a fresh Python: trains `config.json` (argv[1]), keeps a copy of the first
# checkpoint (argv[2]), and is killed (SIGKILL) halfway through writing the second.
_KILLED_DURING_SAVE = """
import os, shutil, signal, sys
import keras
from clar_tf import config as config_lib, train
with open(sys.argv[1]) as f:
    config = config_lib.Config.from_json(f.read())
original = keras.Model.save_weights
saves = []
def save_weights(self, filepath, *args, **kwargs):
    original(self, filepath, *args, **kwargs)
    saves.append(filepath)
    if len(saves) == 1:
        shutil.copy(filepath, sys.argv[2])
    else:
        with open(filepath, "r+b") as f:
            f.truncate(os.path.getsize(filepath) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
keras.Model.save_weights = save_weights
train.run(config)
"""


@pytest.mark.slow
def test_kill_during_checkpoint_write_resumes_from_the_previous_epoch(digits, tmp_path):
    import signal
    config = tiny_config(tmp_path / "run", method="simclr", epochs=2, **digits)
    (tmp_path / "config.json").write_text(config.to_json())
    good = tmp_path / "epoch1.weights.h5"
    proc = subprocess.run([sys.executable, "-c", _KILLED_DURING_SAVE,
                           str(tmp_path / "config.json"), str(good)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    backup = tmp_path / "run" / "backup"
    with open(backup / "latest.weights.h5", "rb") as f, open(good, "rb") as g:
        assert f.read() == g.read()  # the checkpoint of epoch 1, whole
    assert _epochs_logged(tmp_path / "run") == ["0"]
    result = train.run(config)  # the same command again; the kill released the lock
    assert result["epochs_this_run"] == 1
    assert _epochs_logged(tmp_path / "run") == ["0", "1"]


# --- 6: one training per model_dir ------------------------------------------------------

@pytest.mark.slow
def test_a_second_training_in_the_same_model_dir_is_refused(digits, tmp_path, monkeypatch):
    config = tiny_config(tmp_path / "run", method="simclr", **digits)
    original = train._Throughput.on_epoch_begin
    refused = []

    def start_a_second_training(self, epoch, logs=None):
        if not refused:
            refused.append(None)
            with pytest.raises(ValueError, match="in use by another training") as error:
                train.run(config)
            refused[0] = str(error.value)
        original(self, epoch, logs)

    monkeypatch.setattr(train._Throughput, "on_epoch_begin", start_a_second_training)
    train.run(config)
    assert str(tmp_path / "run") in refused[0]
    monkeypatch.undo()
    # The lock ends with the run: the same model_dir trains on.
    assert train.run(config.replace(epochs=2))["epochs_this_run"] == 1
    assert _epochs_logged(tmp_path / "run") == ["0", "1"]


def test_workers_of_one_multi_worker_run_lock_their_own_file(tmp_path):
    import types
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec({"worker": ["host1:2222", "host2:2222"]}), task_type="worker",
        task_id=1)
    worker = types.SimpleNamespace(cluster_resolver=resolver)
    assert run_dir.lock_name(worker) == ".lock-worker-1"
    assert run_dir.lock_name(tf.distribute.get_strategy()) == ".lock"
    first, second = (run_dir.ModelDirLock(str(tmp_path)) for _ in range(2))
    first.acquire(".lock-worker-0")
    second.acquire(".lock-worker-1")  # another worker of the same run
    second.release()
    with pytest.raises(ValueError, match="in use by another training"):
        second.acquire(".lock-worker-0")
    first.release()
    second.acquire(".lock-worker-0")
    second.release()
