"""SimCLR pre-training on unlabeled audio, then fine-tuning from it (`init_from`)."""
import os
import shutil

import keras
import numpy as np
import pytest

from clar_tf import config as config_lib
from clar_tf import datasets, demo_data, train
from clar_tf.models import factory
from testing import tiny_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Labeled spoken digits, and the same clips as an unlabeled folder of nested wavs."""
    root = tmp_path_factory.mktemp("pretrain")
    demo_data.make(str(root / "digits"), seed=0, clips_per_word=10)
    unlabeled = root / "recordings"
    for i, word in enumerate(demo_data.WORDS):
        session = unlabeled / f"session{i % 3}" / ("day2" if i % 2 else "day1")
        os.makedirs(session, exist_ok=True)
        for j, name in enumerate(sorted(os.listdir(root / "digits" / word))[:6]):
            shutil.copy(root / "digits" / word / name, session / f"{word}_{j}.wav")
    flat = root / "flat"  # files only: not a labeled layout
    shutil.copytree(unlabeled / "session0" / "day1", flat)
    return {"digits": str(root / "digits"), "unlabeled": str(unlabeled), "flat": str(flat),
            "data_dir": str(root / "tfds")}


def _config(data, model_dir, **overrides):
    values = {"manual_dir": data["digits"], "linear_eval_epochs": 2, **overrides}
    return tiny_config(model_dir, values.pop("manual_dir"), data["data_dir"], **values)


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory):
    """A SimCLR run on the unlabeled folder, evaluated on the spoken digits."""
    model_dir = tmp_path_factory.mktemp("simclr")
    config = _config(data, model_dir, dataset="folder", manual_dir=data["unlabeled"],
                     unlabeled=True, clip_length=16000, method="simclr",
                     eval_dataset="spoken_digits", eval_manual_dir=data["digits"])
    return str(model_dir), train.run(config)


def _encoder_weights(model_dir):
    return keras.saving.load_model(os.path.join(model_dir, "encoder.keras")).get_weights()


@pytest.mark.slow
def test_simclr_pretrains_on_unlabeled_folder_and_evaluates_on_labeled_set(pretrained, data):
    model_dir, result = pretrained
    info = datasets.info("folder", data_dir=data["data_dir"], manual_dir=data["unlabeled"],
                         clip_length=16000, unlabeled=True)
    assert info.splits["train"] == 60 and info.num_classes == 0  # every nested wav
    # Linear evaluation ran on the digits' test split (10 classes, 10 speakers' clips).
    assert result["class_names"] == sorted(demo_data.WORDS)
    confusion = np.array(result["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10
    assert os.path.exists(os.path.join(model_dir, "encoder.keras"))


@pytest.mark.parametrize("method", config_lib.LABELED_METHODS)
def test_labeled_methods_refuse_unlabeled_data(method, data, tmp_path):
    with pytest.raises(ValueError, match=f"method={method} needs labels"):
        _config(data, tmp_path, dataset="folder", manual_dir=data["unlabeled"],
                unlabeled=True, clip_length=16000, method=method,
                eval_dataset="spoken_digits", eval_manual_dir=data["digits"])


def test_labeled_run_on_folder_without_class_folders_says_so(data, tmp_path):
    config = _config(data, tmp_path, dataset="folder", manual_dir=data["flat"],
                     clip_length=16000, method="supervised")
    with pytest.raises(ValueError, match="no class folders"):
        train.run(config)


def test_unlabeled_pretraining_needs_an_eval_dataset(data, tmp_path):
    config = _config(data, tmp_path, dataset="folder", manual_dir=data["unlabeled"],
                     unlabeled=True, clip_length=16000, method="simclr")
    with pytest.raises(ValueError, match="--eval_dataset"):
        train.run(config)


@pytest.mark.slow
def test_init_from_copies_every_encoder_weight(pretrained, data, tmp_path):
    model_dir, _ = pretrained
    config = _config(data, tmp_path, method="supervised", init_from=model_dir)
    model = factory.build_model(config, 10, 16000)
    expected = _encoder_weights(model_dir)
    assert not all(np.array_equal(a, b) for a, b in zip(model.embedder.get_weights(), expected))
    factory.init_from(config, model, 16000)
    got = model.embedder.get_weights()
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_pretrained_encoder(pretrained, data, tmp_path):
    """One step at the warm-up's lr = 0: the trainable encoder weights stay exactly."""
    model_dir, _ = pretrained
    config = _config(data, tmp_path / "finetune", method="supervised", init_from=model_dir,
                     steps_per_epoch=1, warmup_epochs=1, linear_eval_epochs=1)
    train.run(config)
    before = keras.saving.load_model(os.path.join(model_dir, "encoder.keras"))
    after = keras.saving.load_model(tmp_path / "finetune" / "encoder.keras")
    assert len(after.trainable_weights) == len(before.trainable_weights) > 0
    for a, b in zip(after.trainable_weights, before.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    (dict(width=0.25), "width=0.125"),
    (dict(encoder="1d"), "encoder='2d'"),
])
def test_init_from_mismatch_is_refused(change, message, pretrained, data, tmp_path):
    model_dir, _ = pretrained
    config = _config(data, tmp_path, method="supervised", init_from=model_dir, **change)
    with pytest.raises(ValueError, match=message):
        train.run(config)


def test_init_from_a_folder_that_is_not_a_run(data, tmp_path):
    config = _config(data, tmp_path / "run", method="supervised", init_from=str(tmp_path))
    with pytest.raises(ValueError, match="no config.json"):
        train.run(config)


@pytest.mark.slow
def test_freeze_encoder_keeps_every_encoder_weight(pretrained, data, tmp_path):
    model_dir, _ = pretrained
    config = _config(data, tmp_path / "frozen", method="supervised", init_from=model_dir,
                     freeze_encoder=True, learning_rate=1.0, linear_eval_epochs=1)
    result = train.run(config)
    assert np.isfinite(result["final_train_metrics"]["loss"])
    for a, b in zip(_encoder_weights(tmp_path / "frozen"), _encoder_weights(model_dir)):
        np.testing.assert_array_equal(a, b)
