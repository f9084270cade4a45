"""Resuming: a resumed run trains on what an uninterrupted one would (the batches of
epoch e and the augmentations' random draws depend on the seed and e only), the run that
prepares its data trains like later ones, and a damaged `backup/` is refused in one line
naming the file (issue 36, items 9 and 2)."""
import csv
import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import checkpoint, compat, input_pipeline, layers, run_dir, train
from testing import spoken_digits, tiny_config


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return spoken_digits(tmp_path_factory.mktemp("digits"), 10)


@pytest.fixture
def deterministic_ops():
    """TensorFlow's op determinism for one test (the setting is process-wide)."""
    with compat.op_determinism():
        yield


def _losses(model_dir):
    with open(os.path.join(model_dir, run_dir.TRAIN_LOG), newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


# --- the order of the batches and the random draws ----------------------------------------

@pytest.mark.parametrize("labeled_per_batch", [0, 3])
def test_train_batches_started_at_an_epoch_continue_the_uninterrupted_stream(
        digits, tmp_path, labeled_per_batch):
    config = tiny_config(tmp_path / "run", labeled_fraction=0.5,
                         labeled_per_batch=labeled_per_batch, **digits)
    info = input_pipeline.train_info(config)
    whole, steps = input_pipeline.train_batches(config, info)
    resumed, _ = input_pipeline.train_batches(config, info, initial_epoch=4)
    assert 7 * steps * config.batch_size > info.splits[info.train_split]  # a second pass
    whole = list(whole.take(7 * steps).as_numpy_iterator())
    resumed = list(resumed.take(3 * steps).as_numpy_iterator())
    for key in ("audio", "label"):
        np.testing.assert_array_equal(np.stack([b[key] for b in resumed]),
                                      np.stack([b[key] for b in whole[4 * steps:]]))


def _augmenting_model(strategy):
    """(a compiled model holding an augmentation chain, the chain), in `strategy`."""
    with strategy.scope():
        x = keras.Input((800,))
        chain = layers.from_spec("FD+TS", seed=0)
        model = keras.Model(x, keras.layers.Dense(1)(chain(x)))
        model.compile(optimizer="sgd", loss="mse")
    return model, chain


@pytest.mark.parametrize("mirrored", [False, True])
def test_the_checkpoint_keeps_the_augmentations_random_streams(tmp_path, mirrored):
    strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if mirrored
                else tf.distribute.get_strategy())
    x = np.random.RandomState(0).uniform(-1, 1, (4, 800)).astype("float32")
    trained, chain = _augmenting_model(strategy)
    for _ in range(3):  # the draws of three steps
        chain(x, training=True)
    saver = checkpoint.EpochCheckpoint(str(tmp_path / "backup"))
    saver.set_model(trained)
    saver.write(3)
    fresh, fresh_chain = _augmenting_model(strategy)
    with strategy.scope():
        assert saver.restore(fresh) == 3
    np.testing.assert_array_equal(np.asarray(fresh_chain(x, training=True)),
                                  np.asarray(chain(x, training=True)))


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_a_resumed_run_logs_the_losses_of_an_uninterrupted_one(digits, tmp_path,
                                                               monkeypatch,
                                                               deterministic_ops):
    whole = tiny_config(tmp_path / "whole", epochs=3, **digits)
    whole_result = train.run(whole)
    original = train._Throughput.on_epoch_begin

    def interrupt_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise _Interrupt()
        original(self, epoch, logs)

    monkeypatch.setattr(train._Throughput, "on_epoch_begin", interrupt_second_epoch)
    resumed = whole.replace(model_dir=str(tmp_path / "resumed"))
    with pytest.raises(_Interrupt):
        train.run(resumed)
    monkeypatch.undo()
    resumed_result = train.run(resumed)
    assert resumed_result["epochs_this_run"] == 2
    np.testing.assert_allclose(_losses(resumed.model_dir), _losses(whole.model_dir),
                               rtol=1e-5)
    assert resumed_result["top1"] == pytest.approx(whole_result["top1"])


@pytest.mark.slow
def test_the_run_that_prepares_the_data_trains_like_later_ones(tmp_path, deterministic_ops):
    data = spoken_digits(tmp_path / "fresh_digits", 10)  # not prepared yet
    first = tiny_config(tmp_path / "first", **data)
    train.run(first)
    later = first.replace(model_dir=str(tmp_path / "later"))
    train.run(later)
    np.testing.assert_allclose(_losses(later.model_dir), _losses(first.model_dir),
                               rtol=1e-5)


# --- a damaged backup/ ------------------------------------------------------------------

def _dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


@pytest.fixture
def run(tmp_path):
    """A model_dir after 2 epochs: backup/ and train_log.csv, as `train.run` writes them."""
    x = np.random.RandomState(0).randn(8, 3).astype("float32")
    train_log = str(tmp_path / run_dir.TRAIN_LOG)
    _dense_model().fit(x, x[:, :2], epochs=2, verbose=0,
                       callbacks=[checkpoint.EpochCheckpoint(str(tmp_path / "backup")),
                                  train._CsvLog(train_log)])
    return tmp_path


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _scramble(path):
    with open(path, "wb") as f:
        f.write(np.random.RandomState(0).bytes(4096))


def _drop_last_row(path):
    with open(path) as f:
        lines = f.readlines()
    _write(path, "".join(lines[:-1]))


WEIGHTS = os.path.join("backup", checkpoint.WEIGHTS)
METADATA = os.path.join("backup", checkpoint.METADATA)

# (what is damaged, how, the file the refusal names)
DAMAGES = [
    ("no weights", lambda d: os.remove(d / WEIGHTS), METADATA),
    ("no metadata", lambda d: os.remove(d / METADATA), WEIGHTS),
    ("epoch 99", lambda d: _write(d / METADATA, '{"epoch": 99}'), METADATA),
    ("epoch -5", lambda d: _write(d / METADATA, '{"epoch": -5}'), METADATA),
    ("epoch a string", lambda d: _write(d / METADATA, '{"epoch": "2"}'), METADATA),
    ("metadata not JSON", lambda d: _write(d / METADATA, '{"epo'), METADATA),
    ("a row fewer", lambda d: _drop_last_row(d / run_dir.TRAIN_LOG), run_dir.TRAIN_LOG),
    ("log of another run", lambda d: (os.remove(d / WEIGHTS), os.remove(d / METADATA)),
     run_dir.TRAIN_LOG),
    ("truncated weights", lambda d: _truncate(d / WEIGHTS), WEIGHTS),
    ("random weights", lambda d: _scramble(d / WEIGHTS), WEIGHTS),
]


@pytest.mark.parametrize("damage, named", [d[1:] for d in DAMAGES],
                         ids=[d[0] for d in DAMAGES])
def test_a_damaged_backup_is_refused_in_one_line_naming_the_file(run, damage, named):
    damage(run)
    backup = checkpoint.EpochCheckpoint(str(run / "backup"))
    with pytest.raises(ValueError, match=re.escape(str(run / named))) as error:
        backup.restore(_dense_model(), 3, str(run / run_dir.TRAIN_LOG))
    assert "\n" not in str(error.value) and "new --model_dir" in str(error.value)


def test_an_intact_backup_resumes_and_leftover_temporary_files_do_not_block_it(run):
    _scramble(run / "backup" / "latest.tmp.weights.h5")  # an interrupted write's leftovers
    _write(run / "backup" / f"{checkpoint.METADATA}.tmp", '{"epo')
    backup = checkpoint.EpochCheckpoint(str(run / "backup"))
    train_log = str(run / run_dir.TRAIN_LOG)
    assert backup.epochs_done(2, train_log) == 2  # a finished run
    assert backup.epochs_done(5, train_log) == 2  # asked for more epochs: continued
    model = _dense_model()
    assert backup.restore(model, 5, train_log) == 2
    backup.set_model(model)
    backup.write(3)
    assert backup.epochs_done() == 3


@pytest.mark.parametrize("damage, named", [DAMAGES[0][1:], DAMAGES[3][1:]],
                         ids=[DAMAGES[0][0], DAMAGES[3][0]])
def test_the_command_refuses_a_damaged_backup_before_training(digits, tmp_path, damage,
                                                              named):
    model_dir = tmp_path / "run"
    os.makedirs(model_dir / "backup")
    _write(model_dir / WEIGHTS, "weights")
    _write(model_dir / METADATA, json.dumps({"epoch": 1}))
    _write(model_dir / run_dir.TRAIN_LOG, "epoch,loss\n0,1.0\n")
    damage(model_dir)
    with pytest.raises(SystemExit) as error:
        train.main(tiny_config(model_dir, epochs=2, **digits))
    message = str(error.value)
    assert message.startswith("error: ") and "\n" not in message
    assert str(model_dir / named) in message
    assert sorted(os.listdir(model_dir)) == ["backup", run_dir.TRAIN_LOG]  # left as it was


@pytest.mark.slow
def test_a_real_run_resumes_past_leftover_temporary_files_and_refuses_truncated_weights(
        digits, tmp_path):
    config = tiny_config(tmp_path / "run", **digits)
    train.run(config)
    backup = tmp_path / "run" / "backup"
    _scramble(backup / "latest.tmp.weights.h5")
    _write(backup / f"{checkpoint.METADATA}.tmp", '{"epo')
    assert train.run(config.replace(epochs=2))["epochs_this_run"] == 1
    _truncate(backup / checkpoint.WEIGHTS)
    with pytest.raises(ValueError, match=re.escape(str(backup / checkpoint.WEIGHTS))):
        train.run(config.replace(epochs=3))
