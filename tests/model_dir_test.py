"""model_dir on any tf.io.gfile filesystem (here TensorFlow's `ram://`), the files that
say what made a run (flags.txt, provenance.json, the export metadata), and the CSV and
lock helpers of `run_dir`."""
import csv
import importlib.metadata
import io
import json
import os
import platform
import subprocess

import numpy as np
import pytest
import tensorflow as tf

import clar_tf
from clar_tf import checkpoint, cli, datasets, embed, export, provenance, run_dir, train
from clar_tf import config as config_lib
from testing import spoken_digits, tiny_config


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return spoken_digits(tmp_path_factory.mktemp("digits"), 10)


def _ls(path):
    return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(path))


@pytest.mark.slow
def test_a_run_on_ram_filesystem_writes_resumes_exports_and_embeds(digits):
    model_dir = "ram://clar_tf_test/run"
    config = tiny_config(model_dir, method="clar", **digits)
    first = train.run(config)
    assert first["epochs_this_run"] == 1
    names = _ls(model_dir)
    for name in ("config.json", "flags.txt", "provenance.json", "backup", "logs",
                 "train_log.csv", "encoder.keras", "inference.keras", "labels.json",
                 "results.json", "export"):
        assert name in names, names
    assert ".lock" not in names  # the marker lock is gone once the run returns
    assert _ls(f"{model_dir}/backup") == ["latest.weights.h5", "training_metadata.json"]
    assert not [n for n in names if n.endswith(".tmp")]

    # The same command with one more epoch resumes from the ram:// checkpoint.
    second = train.run(config.replace(epochs=2))
    assert second["epochs_this_run"] == 1
    rows = list(csv.DictReader(io.StringIO(run_dir.read_text(f"{model_dir}/train_log.csv"))))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    saved = json.loads(run_dir.read_text(f"{model_dir}/results.json"))
    assert saved["top1"] == second["top1"]
    assert json.loads(run_dir.read_text(
        f"{model_dir}/backup/training_metadata.json"))["epoch"] == 2
    assert config_lib.Config.from_json(run_dir.read_text(
        f"{model_dir}/config.json")) == config.replace(epochs=2)
    versions = _ls(f"{model_dir}/export")
    assert len(versions) == 2 and all(v.isdigit() for v in versions)

    # The export and the run embed the same clip alike, straight from ram://.
    clip = np.random.RandomState(0).randn(16000).astype("float32")
    from_run = embed.embed(clip, 16000, embed.load(model_dir))[0]
    from_export = embed.embed(clip, 16000, embed.load(f"{model_dir}/export"))[0]
    np.testing.assert_allclose(from_export, from_run, atol=1e-4)


@pytest.mark.slow
def test_flags_txt_reproduces_the_config(digits, tmp_path):
    config = tiny_config(tmp_path / "run", method="simclr", temperature=0.1 + 0.2,
                         augment="FD+TS", seed=7, **digits)
    train.run(config)
    argv = ["clar-train", f"--flagfile={tmp_path / 'run' / 'flags.txt'}"]
    again = cli.parse(config_lib.Config, argv, *config_lib.flag_spec(datasets.NAMES))
    assert again == config


def test_flagfile_text_round_trips_every_field_type():
    config = config_lib.Config(model_dir="runs/x y", manual_dir="/data/a,b", epochs=3,
                               temperature=1 / 3, mixed_precision=True, export=False,
                               method="supcon", labeled_fraction=0.2, stratified=True)
    spec = config_lib.flag_spec(datasets.NAMES)
    text = cli.flagfile_text(config_lib.Config, config, *spec)
    assert "--temperature=0.3333333333333333\n" in text and "--nomixed_precision" not in text
    assert "--noexport\n" in text and "--mixed_precision\n" in text
    assert "--init_from" not in text  # None: the default
    path = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), "clar_tf_flags_test.txt")
    with open(path, "w") as f:
        f.write(text)
    assert cli.parse(config_lib.Config, ["x", f"--flagfile={path}"], *spec) == config


def test_provenance_names_the_versions_and_the_code():
    facts = provenance.provenance()
    assert facts["python"] == platform.python_version()
    assert facts["tensorflow"] == importlib.metadata.version("tensorflow")
    for name in ("keras", "kapre", "numpy", "librosa", "clar_tf"):
        assert facts[name] == importlib.metadata.version(name)
    sha, dirty = provenance.code_version()
    assert (facts["git_sha"], facts["git_dirty"]) == (sha, dirty)
    root = os.path.dirname(os.path.dirname(os.path.abspath(clar_tf.__file__)))
    git = subprocess.run(["git", "-C", root, "rev-parse", "--show-toplevel", "HEAD"],
                         capture_output=True, text=True)
    lines = git.stdout.split()
    if git.returncode == 0 and os.path.realpath(lines[0]) == os.path.realpath(root):
        assert sha == lines[1] and isinstance(dirty, bool)
    else:  # an installed package, or a copy outside git (Bazel's runfiles)
        assert (sha, dirty) == (None, None)


def test_provenance_of_an_installed_package_has_no_git_sha(tmp_path, monkeypatch):
    # The package folder of a git repository that is not its own checkout (a venv inside
    # the user's project): its SHA would be another project's.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "venv" / "clar_tf").mkdir(parents=True)
    monkeypatch.setattr(clar_tf, "__file__", str(tmp_path / "venv" / "clar_tf" / "x.py"))
    assert provenance.code_version() == (None, None)


@pytest.mark.slow
def test_provenance_is_written_per_start_and_carried_by_the_export(digits, tmp_path):
    config = tiny_config(tmp_path / "run", method="supervised", **digits)
    result = train.run(config)
    facts = run_dir.read_json(str(tmp_path / "run"), run_dir.PROVENANCE)
    assert facts["tensorflow"] == tf.__version__ and facts["earlier"] == []
    with open(os.path.join(result["saved_model"], export.METADATA_FILE)) as f:
        assert json.load(f)["provenance"] == facts
    train.run(config.replace(epochs=2))  # a resumed start keeps the first one's facts
    again = run_dir.read_json(str(tmp_path / "run"), run_dir.PROVENANCE)
    first = dict(facts)
    del first["earlier"]
    assert again["earlier"] == [first]


def test_a_model_dir_that_is_a_file_is_refused(digits, tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("mine")
    config = tiny_config(path, **digits)
    with pytest.raises(SystemExit, match=f"--model_dir={path} is a file"):
        train.main(config)
    assert path.read_text() == "mine"


def test_marker_lock_on_a_remote_model_dir_refuses_a_second_run():
    model_dir = "ram://clar_tf_test/locked"
    first = run_dir.ModelDirLock(model_dir)
    first.acquire()
    assert f"pid={os.getpid()}" in run_dir.read_text(f"{model_dir}/.lock")
    with pytest.raises(ValueError, match=r"in use by another training.*delete that file"):
        run_dir.ModelDirLock(model_dir).acquire()
    first.release()
    assert not tf.io.gfile.exists(f"{model_dir}/.lock")
    second = run_dir.ModelDirLock(model_dir)
    second.acquire()
    second.release()


@pytest.mark.parametrize("root", ["local", "ram://clar_tf_test/csv"])
def test_append_csv_row_matches_the_csv_module(root, tmp_path):
    path = (str(tmp_path / "log.csv") if root == "local" else f"{root}/log.csv")
    rows = [{"epoch": 0, "loss": 1.5}, {"epoch": 1, "loss": 1.25},
            {"epoch": 2, "loss": 1.0, "top1": "0.5"}]
    for row in rows:
        run_dir.append_csv_row(path, row)
    expected = io.StringIO()
    writer = csv.DictWriter(expected, ["epoch", "loss", "top1"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    assert run_dir.read_text(path) == expected.getvalue()


def test_checkpoint_restores_weights_optimizer_state_and_epoch(tmp_path):
    import keras
    x = np.random.RandomState(0).randn(8, 3).astype("float32")

    def model():
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        return m

    trained = model()
    saver = checkpoint.EpochCheckpoint(str(tmp_path / "backup"))
    trained.fit(x, x[:, :2], epochs=3, verbose=0, callbacks=[saver])
    fresh = model()
    assert checkpoint.EpochCheckpoint(str(tmp_path / "backup")).restore(fresh) == 3
    for a, b in zip(fresh.weights + fresh.optimizer.variables,
                    trained.weights + trained.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert checkpoint.EpochCheckpoint(str(tmp_path / "none")).restore(model()) == 0
