"""Quiet command lines: TensorFlow's logs only when asked (`-v`/`--verbosity`), no progress
bars into files, progress lines for the slow steps."""
import os
import subprocess
import sys

import pytest

import clar_tf
from clar_tf import demo_data
from testing import spoken_digits

NOISE = ("cuInit", "oneDNN", "cpu_feature_guard", "FeatureConnector", "Variant folder",
         "dataset_info.json", "Traceback")


@pytest.mark.parametrize("argv, wanted", [
    (["-m"], False),
    (["clar-train", "--model_dir=m"], False),
    (["clar-train", "--verbose=2"], False),  # Keras' fit verbosity, not TF's logs
    (["clar-train", "-v", "0"], True),
    (["clar-train", "-v=1"], True),
    (["clar-train", "-v1"], True),
    (["clar-train", "--verbosity=-1"], True),
    (["clar-train", "--verbosity", "1"], True),
    (["clar-train", "--vocab"], False),
])
def test_wants_tf_logs(argv, wanted):
    assert clar_tf.wants_tf_logs(argv) is wanted


def test_only_clar_tf_commands_are_quieted():
    assert clar_tf._is_command_line(["-m", "x"])
    assert clar_tf._is_command_line(["/venv/bin/clar-embed"])
    assert not clar_tf._is_command_line(["/venv/bin/pytest"])
    assert not clar_tf._is_command_line([])
    assert not clar_tf.QUIET  # this test process imports clar_tf as a library


def test_demo_data_reports_progress(tmp_path):
    lines = []
    n = demo_data.make(str(tmp_path / "d"), clips_per_word=3, log=lines.append)
    assert n == 30 and len(lines) == 10
    assert lines[-1] == f"spoken_digits: 30/30 clips rendered in {tmp_path / 'd'}"


def _prepare(tmp_path, *flags):
    data = spoken_digits(tmp_path, 3)
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TQDM_DISABLE")}
    return subprocess.run(
        [sys.executable, "-m", "clar_tf.prepare", "--dataset=spoken_digits",
         f"--manual_dir={data['manual_dir']}", f"--data_dir={tmp_path / 'tfds'}", *flags],
        capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_a_command_prints_its_output_and_nothing_of_tensorflow(tmp_path):
    done = _prepare(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "spoken_digits: 10 classes" in done.stdout
    assert not [word for word in NOISE if word in done.stderr + done.stdout], done.stderr
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr  # no bars into a file


@pytest.mark.slow
def test_verbosity_brings_tensorflow_logs_back(tmp_path):
    done = _prepare(tmp_path, "--verbosity=0")
    assert done.returncode == 0, done.stderr
    assert "cpu_feature_guard" in done.stderr or "oneDNN" in done.stderr, done.stderr


def test_embedding_files_into_a_log_prints_plain_progress_lines(tmp_path, capsys):
    import numpy as np
    import soundfile

    from clar_tf import embed

    model = embed.Embedder(lambda x: np.zeros((len(x), 4), np.float32), 16000, 16000, 4,
                           source="stand-in")
    for i in range(3):
        soundfile.write(tmp_path / f"{i}.wav", np.zeros(8000), 16000)
    written, _ = embed.embed_files([str(tmp_path / f"{i}.wav") for i in range(3)], model,
                                   str(tmp_path / "out"))
    out = capsys.readouterr().out  # not a terminal: no bar
    assert len(written) == 3 and "\x1b[" not in out and "\r" not in out
    assert out.splitlines()[-1] == f"embedded 3/3 files into {tmp_path / 'out'}"
