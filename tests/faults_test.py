"""Faults while writing a run or an export, and damaged or crafted files they read (issue
36, items 6 and 8): a failed write leaves the previous file whole and no temporary file;
each bad file or flag is refused in one line naming it.

One untrained tiny CLAR model (module fixture, no training) stands in for a run; the
training test (slow) trains its own.
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from clar_tf import embed, export, run_dir, train
from clar_tf import config as config_lib
from clar_tf.audio import io as audio_io
from clar_tf.models import loading
from testing import spoken_digits, tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = 16000
INFO = SimpleNamespace(class_names=("a", "b", "c"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An untrained tiny CLAR model saved as a run saves it (config.json, encoder.keras,
    inference.keras, labels): {"model_dir", "model"}."""
    from clar_tf.models import factory
    root = tmp_path_factory.mktemp("faults")
    keras.utils.set_random_seed(0)
    config = config_lib.Config(**{**config_lib.TINY, "model_dir": str(root / "run"),
                                  "method": "clar"})
    model = factory.build_model(config, len(INFO.class_names), CLIP)
    os.makedirs(config.model_dir)
    run_dir.write_text(run_dir.path(config.model_dir, run_dir.CONFIG), config.to_json())
    model.embedder.save(run_dir.path(config.model_dir, run_dir.ENCODER))
    export.save_inference_model(model, INFO, config.model_dir)
    return {"model_dir": config.model_dir, "model": model}


def _copy_run(run, dest):
    """A copy of the fixture's run folder at `dest`; returns its path."""
    return shutil.copytree(run["model_dir"], dest)


def _disk_full_save(self, filepath, *args, **kwargs):
    """`keras.Model.save` on a disk that fills up: a zip's first bytes, then ENOSPC."""
    with open(filepath, "wb") as f:
        f.write(b"PK\x03\x04" + bytes(4096))
    raise OSError(errno.ENOSPC, "No space left on device")


def _leftovers(folder):
    return [n for n in os.listdir(folder) if ".tmp" in n]


def _one_line_exit(main, args):
    """The message of the `SystemExit` that `main(args)` ends with (asserted one line)."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    message = str(exited.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


# --- 6: encoder.keras, inference.keras and export versions are written whole or not at all


def test_failed_inference_save_leaves_the_previous_file_and_no_temporary(
        run, tmp_path, monkeypatch):
    model_dir = _copy_run(run, tmp_path / "run")
    path = run_dir.path(model_dir, run_dir.INFERENCE)
    with open(path, "rb") as f:
        before = f.read()
    monkeypatch.setattr(keras.Model, "save", _disk_full_save)
    with pytest.raises(OSError, match="No space left on device") as raised:
        export.save_inference_model(run["model"], INFO, model_dir)
    assert str(raised.value).startswith(path) and "intact" in str(raised.value)
    with open(path, "rb") as f:
        assert f.read() == before
    assert not _leftovers(model_dir)


def test_a_leftover_temporary_file_is_replaced_by_the_next_save(run, tmp_path):
    model_dir = _copy_run(run, tmp_path / "run")
    with open(os.path.join(model_dir, "inference.tmp.keras"), "wb") as f:
        f.write(b"PK\x03\x04 left by a killed save")
    export.save_inference_model(run["model"], INFO, model_dir)
    assert not _leftovers(model_dir)
    assert loading.load_model(run_dir.path(model_dir, run_dir.INFERENCE)).name == "inference"


_KILLED_SAVE = """
import os, signal, sys
import keras
from clar_tf import run_dir

def killed_save(self, filepath, *args, **kwargs):
    with open(filepath, "wb") as f:
        f.write(b"PK\\x03\\x04" + bytes(4096))
    os.kill(os.getpid(), signal.SIGKILL)

keras.Model.save = killed_save
run_dir.save_keras(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), sys.argv[1])
"""


def test_kill_during_save_leaves_the_previous_file_and_the_next_save_runs(tmp_path):
    path = str(tmp_path / "encoder.keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    run_dir.save_keras(model, path)
    with open(path, "rb") as f:
        before = f.read()
    proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, path], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    with open(path, "rb") as f:
        assert f.read() == before
    assert _leftovers(tmp_path) == ["encoder.tmp.keras"]  # what kill -9 leaves
    run_dir.save_keras(model, path)
    assert not _leftovers(tmp_path)
    assert loading.load_model(path).get_weights()[0].shape == (4, 3)


@pytest.mark.slow
def test_failed_encoder_save_in_training_leaves_the_previous_encoder(tmp_path, monkeypatch):
    config = tiny_config(tmp_path / "run", method="simclr",
                         **spoken_digits(tmp_path / "digits", 10))
    train.run(config)
    path = run_dir.path(config.model_dir, run_dir.ENCODER)
    with open(path, "rb") as f:
        before = f.read()
    monkeypatch.setattr(keras.Model, "save", _disk_full_save)
    message = _one_line_exit(train.main, config.replace(epochs=2))  # resumes, then fails
    assert message == (f"error: {path} could not be written (No space left on device); "
                       "the previous encoder.keras, if any, is intact")
    with open(path, "rb") as f:
        assert f.read() == before
    assert not _leftovers(config.model_dir)


def _disk_full_write_out(self, filepath, **kwargs):
    """`ExportArchive.write_out` on a disk that fills up: part of the variables, then
    TensorFlow's ResourceExhaustedError."""
    os.makedirs(os.path.join(filepath, "variables"))
    with open(os.path.join(filepath, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(bytes(4096))
    raise tf.errors.ResourceExhaustedError(
        None, None, f"{filepath}/variables/variables.data-00000-of-00001; No space left on "
        "device")


def test_failed_export_leaves_no_staging_folder_and_says_where(run, tmp_path, monkeypatch):
    monkeypatch.setattr(keras.export.ExportArchive, "write_out", _disk_full_write_out)
    serving = tmp_path / "serving"
    message = _one_line_exit(export.main, export.ExportArgs(
        run["model_dir"], export_dir=str(serving), version=9))
    assert message.startswith(f"error: export to {serving / '9'} failed: ")
    assert "No space left on device" in message
    assert os.listdir(serving) == []


def test_the_reason_of_a_tensorflow_error_is_its_message_without_op_decorations():
    # What SaveV2 raised on a 1 MB tmpfs (tools/probes.py, "export on a full disk").
    error = tf.errors.ResourceExhaustedError(None, None, (
        "{{function_node __wrapped__SaveV2_dtypes_213_device_/job:localhost/replica:0/task:0"
        "/device:CPU:0}} /x/.tmp-1/variables/part-0.tempstate1; No space left on device\n"
        " [Op:SaveV2]"))
    assert run_dir.reason(error) == "/x/.tmp-1/variables/part-0.tempstate1; No space left on device"
    assert run_dir.reason(OSError(errno.ENOSPC, "No space left on device")) == (
        "No space left on device")


def test_a_staging_folder_left_by_a_killed_export_does_not_block_it(run, tmp_path):
    serving = tmp_path / "serving"
    stale = serving / ".tmp-5" / "assets.extra"
    os.makedirs(stale)
    (stale / "clar_tf_metadata.json").write_text("{half written")
    path = export.export_saved_model(run["model_dir"], str(serving), version=5)
    assert sorted(os.listdir(serving)) == ["5"]
    assert embed.load(path).clip_length == CLIP


# --- 8: a damaged or crafted file, a bad flag: one line naming it ---------------------


def _damaged(data, how):
    return {"truncated": data[:len(data) // 2], "empty": b"",
            "random": np.random.default_rng(0).bytes(len(data))}[how]


@pytest.mark.parametrize("how", ["truncated", "empty", "random"])
def test_damaged_keras_files_are_named_as_damaged(run, tmp_path, how):
    model_dir = _copy_run(run, tmp_path / "run")
    for name in (run_dir.ENCODER, run_dir.INFERENCE):
        path = run_dir.path(model_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(_damaged(data, how))
    want = "exists but is not a readable Keras archive"
    encoder = run_dir.path(model_dir, run_dir.ENCODER)
    with pytest.raises(ValueError, match=want) as raised:
        embed.load(model_dir)
    assert str(raised.value).startswith(encoder)
    message = _one_line_exit(embed.main, embed.EmbedArgs(model_dir, str(tmp_path / "out"),
                                                         (str(tmp_path),)))
    assert message.startswith(f"error: {encoder} {want}")
    message = _one_line_exit(export.main, export.ExportArgs(
        model_dir, export_dir=str(tmp_path / "serving")))
    assert message.startswith(f"error: {run_dir.path(model_dir, run_dir.INFERENCE)} {want}")


def _crafted(source, dest, edit):
    """A copy of the `.keras` file `source` at `dest` whose config.json is `edit(text)`."""
    with zipfile.ZipFile(source) as z:
        files = {name: z.read(name) for name in z.namelist()}
    files["config.json"] = edit(files["config.json"].decode()).encode()
    os.remove(dest)
    with zipfile.ZipFile(dest, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


_OS_SYSTEM = {"module": "os", "class_name": "function", "config": "system",
              "registered_name": None}


@pytest.mark.parametrize("where", ["model", "activation"])
def test_a_keras_file_naming_os_system_is_refused_in_one_line(run, tmp_path, where):
    model_dir = _copy_run(run, tmp_path / "run")
    encoder = run_dir.path(model_dir, run_dir.ENCODER)

    def edit(text):
        if where == "model":
            return json.dumps(_OS_SYSTEM)
        assert '"activation": "linear"' in text
        return text.replace('"activation": "linear"',
                            f'"activation": {json.dumps(_OS_SYSTEM)}', 1)

    _crafted(run_dir.path(run["model_dir"], run_dir.ENCODER), encoder, edit)
    with pytest.raises(ValueError, match="refuses in safe mode") as raised:
        embed.load(model_dir)
    assert str(raised.value).startswith(encoder) and "'system'" in str(raised.value)
    message = _one_line_exit(embed.main, embed.EmbedArgs(model_dir, str(tmp_path / "out"),
                                                         (str(tmp_path),)))
    assert message.startswith(f"error: {encoder} holds a model that Keras refuses")


def _export_folder(root, pb=b"garbage, not a protobuf", **meta):
    """A version folder `root/1` with `pb` as saved_model.pb and the metadata file: a
    valid one updated by `meta`, or the text `meta["text"]`. Returns `root`."""
    version = root / "1"
    os.makedirs(version / "assets.extra")
    (version / "saved_model.pb").write_bytes(pb)
    text = meta.pop("text", None) or json.dumps(
        {"sample_rate": 16000, "clip_length": CLIP, "embedding_size": 8, "labels": [],
         **meta})
    (version / export.METADATA_FILE).write_text(text)
    return root


@pytest.mark.parametrize("pb", [b"garbage, not a protobuf", b""])
def test_a_damaged_saved_model_pb_is_named(tmp_path, pb):
    folder = _export_folder(tmp_path / "serving", pb)
    pb_path = str(folder / "1" / "saved_model.pb")
    with pytest.raises(ValueError, match="not a readable SavedModel") as raised:
        embed.load(str(folder))
    assert str(raised.value).startswith(pb_path) and "\n" not in str(raised.value)


def test_export_metadata_that_is_not_json_is_named(tmp_path):
    folder = _export_folder(tmp_path / "serving", text="{not json")
    with pytest.raises(ValueError, match="is not JSON") as raised:
        embed.load(str(folder))
    assert str(raised.value).startswith(str(folder / "1" / export.METADATA_FILE))


@pytest.mark.parametrize("key", ["clip_length", "sample_rate", "embedding_size"])
def test_export_metadata_with_a_size_of_zero_names_the_field_and_file(tmp_path, key):
    folder = _export_folder(tmp_path / "serving", **{key: 0})
    meta = folder / "1" / export.METADATA_FILE
    with pytest.raises(ValueError, match=f"invalid {key}.*Received: {key}=0") as raised:
        embed.load(str(folder))
    assert str(raised.value).startswith(str(meta))


def test_export_metadata_with_a_clip_length_beyond_ten_minutes_is_refused(tmp_path):
    # 1e12 used to end in numpy's ArrayMemoryError traceback (3.64 TiB) in embed and hear.
    folder = _export_folder(tmp_path / "serving", clip_length=10**12)
    with pytest.raises(ValueError, match=r"invalid clip_length: at most 9600000 \(10 "
                       r"minutes\). Received: clip_length=1000000000000") as raised:
        embed.load(str(folder))
    assert str(raised.value).startswith(str(folder / "1" / export.METADATA_FILE))


def _stub_model():
    """An untrained stand-in `Embedder` (as in `embed.embed`'s docstring)."""
    encoder = keras.Sequential([keras.Input((CLIP,)), keras.layers.Dense(8)])
    return embed.Embedder(encoder, 16000, CLIP, 8, "stub")


def test_out_that_is_a_file_names_the_flag(tmp_path):
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(800), 16000)
    out = tmp_path / "out.npz"
    out.write_bytes(b"a file")
    with pytest.raises(ValueError, match=f"--out={out} is a file, not a folder"):
        embed.embed_files([str(audio)], _stub_model(), str(out), verbose=0)


def test_dangling_symlink_names_the_file_and_why(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    sf.write(folder / "a.wav", np.zeros(800), 16000)
    link = folder / "b.wav"
    link.symlink_to(tmp_path / "gone.wav")
    with pytest.raises(audio_io.AudioError) as raised:
        embed.embed_files([str(folder)], _stub_model(), str(tmp_path / "out"), verbose=0)
    assert str(raised.value) == (f"Cannot read audio file {link}: a symlink to "
                                 f"{tmp_path / 'gone.wav'}, which does not exist")
    written, skipped = embed.embed_files([str(folder)], _stub_model(), str(tmp_path / "out"),
                                         skip_bad_files=True, verbose=0)
    assert skipped == [str(link)] and len(written) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_audio_names_the_file_and_why(tmp_path):
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(800), 16000)
    audio.chmod(0)
    with pytest.raises(audio_io.AudioError,
                       match=f"Cannot read audio file {audio}: Permission denied"):
        embed.embed_files([str(audio)], _stub_model(), str(tmp_path / "out"), verbose=0)


@pytest.mark.slow
def test_embed_cli_reports_bad_files_and_flags_without_a_traceback(run, tmp_path):
    """Through `python -m clar_tf.embed`: a damaged encoder.keras, a dangling symlink and
    an --out that is a file, each one line naming it."""
    audio = tmp_path / "recordings"
    audio.mkdir()
    sf.write(audio / "a.wav", np.zeros(800), 16000)
    (audio / "b.wav").symlink_to(tmp_path / "gone.wav")
    (tmp_path / "out_file").write_bytes(b"")
    damaged = _copy_run(run, tmp_path / "damaged")
    with open(run_dir.path(damaged, run_dir.ENCODER), "r+b") as f:
        f.truncate(1000)
    cases = [(damaged, tmp_path / "out", f"{run_dir.path(damaged, run_dir.ENCODER)} exists "
              "but is not a readable Keras archive"),
             (run["model_dir"], tmp_path / "out", f"{audio / 'b.wav'}: a symlink to"),
             (run["model_dir"], tmp_path / "out_file", f"--out={tmp_path / 'out_file'} is a "
              "file")]
    for model_dir, out, want in cases:
        proc = subprocess.run([sys.executable, "-m", "clar_tf.embed", f"--model={model_dir}",
                               f"--out={out}", str(audio)], cwd=REPO, capture_output=True,
                              text=True)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and want in lines[0], proc.stderr[-3000:]


# --- a full disk (issue 36 item 1) -------------------------------------------------------


def test_write_text_on_a_failing_disk_names_the_file_and_leaves_no_temporary(tmp_path,
                                                                              monkeypatch):
    path = str(tmp_path / "config.json")
    run_dir.write_text(path, "old")

    def full(src, dst, overwrite=False):
        raise tf.errors.ResourceExhaustedError(None, None, f"{src}; No space left on device")

    monkeypatch.setattr(tf.io.gfile, "rename", full)
    with pytest.raises(OSError, match=rf"^{path} could not be written \(.*No space left"):
        run_dir.write_text(path, "new")
    assert os.listdir(tmp_path) == ["config.json"] and open(path).read() == "old"


@pytest.fixture
def full_disk(tmp_path):
    """A 9 MB tmpfs at tmp_path/full (skipped where mounting is not allowed)."""
    disk = tmp_path / "full"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=9m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_a_full_disk_ends_the_run_in_one_line_and_the_next_start_too(full_disk, tmp_path):
    # A checkpoint (~6 MB at this size) and its temporary copy do not both fit in 9 MB:
    # h5py's failing close used to end the process with a segmentation fault.
    data = spoken_digits(tmp_path, 3)
    model_dir = full_disk / "run"
    command = [sys.executable, "-m", "clar_tf.train", "--flagfile=smoke.flags",
               f"--manual_dir={data['manual_dir']}", f"--data_dir={data['data_dir']}",
               f"--model_dir={model_dir}", "--batch_size=8", "--nojit_compile"]

    def start():
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
        assert len(errors) == 1, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
        assert not [n for n in os.listdir(model_dir) + os.listdir(model_dir / "backup")
                    if ".tmp" in n]
        return errors[0]

    line = start()
    assert line.startswith(f"error: Could not write the checkpoint of epoch 2 to "
                           f"{model_dir / 'backup'} (") and "No space left" in line
    with open(full_disk / "filler", "wb", buffering=0) as f:  # the rest of the disk
        try:
            while True:
                f.write(bytes(1 << 16))
        except OSError:
            pass
    line = start()  # the same command, the disk still full: one line, nothing left
    assert line.startswith(f"error: {model_dir / 'config.json'} could not be written")
