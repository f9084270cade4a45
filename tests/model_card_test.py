"""The model card beside each export (issue 37, item 4): `<version>/assets.extra/
model_card.json` and `MODEL_CARD.md`, checked against the run's own files (config.json,
results.json, provenance.json, read here independently) and the SavedModel's `metadata`
signature; "not evaluated" for a run exported before its evaluation; the loaders still
load the export; a failed card write leaves no half export.

One untrained tiny CLAR model (module fixture, no training, as metadata_test's), exported
twice: before and after its results.json exists.
"""
import errno
import json
import os
import re
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import embed, export, hear, model_card, provenance, run_dir
from clar_tf import config as config_lib

CLIP = 16000
LABELS = tuple(f"word{i}" for i in range(6))
SECTIONS = ("## Model", "## Data", "## Method", "## Evaluation", "## Input", "## Outputs",
            "## Intended use", "## Limits", "## Versions and provenance", "## Config")


def _read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{"model_dir", "before" (exported without results.json), "after" (with it)}."""
    from clar_tf.models import factory
    root = tmp_path_factory.mktemp("model_card")
    keras.utils.set_random_seed(0)
    config = config_lib.Config(**{**config_lib.TINY, "model_dir": str(root / "run"),
                                  "method": "clar", "dataset": "spoken_digits",
                                  "labeled_fraction": 0.5})
    model = factory.build_model(config, len(LABELS), CLIP)
    os.makedirs(config.model_dir)
    run_dir.write_text(run_dir.path(config.model_dir, run_dir.CONFIG), config.to_json())
    run_dir.write_json(config.model_dir, run_dir.PROVENANCE,
                       dict(provenance.provenance(), started_at="2026-01-02T03:04:05+00:00",
                            earlier=[]))
    model.embedder.save(run_dir.path(config.model_dir, run_dir.ENCODER))
    export.save_inference_model(model, SimpleNamespace(class_names=LABELS),
                                config.model_dir)
    serving_dir = str(root / "serving")
    before = export.export_saved_model(config.model_dir, serving_dir, version=1)
    # results.json as train.run writes it (the numbers are made up: the card copies them).
    confusion = np.diag([3, 2, 3, 1, 3, 3]).tolist()
    confusion[1][0] = confusion[3][2] = confusion[3][4] = 1
    run_dir.write_json(config.model_dir, run_dir.RESULTS, dict(
        top1=15 / 18, per_class_accuracy=[1.0, 2 / 3, 1.0, 1 / 3, 1.0, 1.0],
        confusion_matrix=confusion, status="completed", class_names=list(LABELS),
        epochs=config.epochs, epochs_this_run=config.epochs, steps_per_epoch=2,
        train_wall_time_s=1.5, method="clar", encoder="2d", labeled_fraction=0.5,
        saved_model=before))
    after = export.export_saved_model(config.model_dir, serving_dir, version=2)
    return {"model_dir": config.model_dir, "before": before, "after": after}


def _card(version):
    return json.loads(_read(version, export.MODEL_CARD_JSON))


def _run_file(exported, name):
    return json.loads(_read(exported["model_dir"], name))


def test_card_fields_come_from_the_runs_files_and_the_metadata_signature(exported):
    card = _card(exported["after"])
    config = _run_file(exported, "config.json")
    results = _run_file(exported, "results.json")
    made = _run_file(exported, "provenance.json")
    signature = tf.saved_model.load(exported["after"]).signatures["metadata"]()
    labels = [x.decode() for x in signature["labels"].numpy()]

    assert card["schema"] == model_card.SCHEMA and card["config"] == config
    assert card["model"]["method"] == config["method"] == "clar"
    assert card["model"]["method_title"] == "CLAR"
    assert (card["model"]["encoder"], card["model"]["width"]) == (config["encoder"],
                                                                  config["width"])
    assert card["model"]["embedding_size"] == int(signature["embedding_size"])
    assert card["model"]["labels"] == labels == list(LABELS) and card["model"]["classifier"]
    assert card["data"] == {"dataset": "spoken_digits", "manual_dir": config["manual_dir"],
                            "labeled_fraction": 0.5, "eval_dataset": "spoken_digits",
                            "sample_rate": 16000, "channels": "mono"}
    assert all(card["method"][k] == config[k] for k in model_card.METHOD_FIELDS)

    e = card["evaluation"]
    assert e["status"] == "evaluated" and e["linear_eval_top1"] == results["top1"]
    assert e["classes"] == results["class_names"] and e["dataset"] == "spoken_digits"
    assert e["test_clips"] == np.sum(results["confusion_matrix"]) == 18
    assert e["epochs"] == config["epochs"]
    assert list(e["per_class_accuracy"].values()) == results["per_class_accuracy"]

    i = card["input"]
    assert (i["dtype"], i["sample_rate"], i["channels"]) == ("float32", 16000, "mono")
    assert i["sample_rate"] == int(signature["sample_rate"])
    assert i["clip_length"] == int(signature["clip_length"]) == CLIP
    assert i["frame_hop"] == int(signature["frame_hop"]) == CLIP // 2
    assert i["clip_seconds"] == 1.0 and "samples_used" in i["longer_clips"]
    assert "serve_frames" in i["longer_clips"]

    assert card["provenance"] == made  # versions and git SHA: the run's provenance.json
    assert card["provenance"]["git_sha"] == made["git_sha"]
    assert card["export"]["version"] == 2
    assert card["export"]["exported_by"]["tensorflow"] == tf.__version__
    limits = " ".join(card["limitations"])
    assert "spoken_digits at 16 kHz mono" in limits and "not evaluated on other" in limits
    assert "paper's numbers" in limits and "spoken_digits" in card["intended_use"]


def test_card_outputs_are_the_saved_models_signatures(exported):
    card = _card(exported["after"])
    loaded = tf.saved_model.load(exported["after"])
    assert set(card["outputs"]) == set(loaded.signatures)
    for name, outputs in card["outputs"].items():
        assert set(outputs) == set(loaded.signatures[name].structured_outputs), name
    _, inputs = loaded.signatures["serving_default"].structured_input_signature
    assert inputs["audio"].dtype == tf.float32 and card["input"]["name"] == "audio"


def test_a_run_exported_before_its_evaluation_is_not_evaluated(exported):
    card = _card(exported["before"])
    assert card["evaluation"]["status"] == model_card.NOT_EVALUATED
    assert card["evaluation"]["linear_eval_top1"] is None
    assert "no results.json" in card["evaluation"]["reason"]
    assert "classes" not in card["evaluation"]
    text = _read(exported["before"], export.MODEL_CARD_MD)
    assert "- not evaluated: the run has no results.json" in text
    assert "linear-eval top-1" not in text and "Not evaluated" in text


def test_markdown_has_every_section_with_the_jsons_numbers(exported):
    card = _card(exported["after"])
    text = _read(exported["after"], export.MODEL_CARD_MD)
    assert text == model_card.markdown(card)
    positions = [text.find(s + "\n") for s in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), positions
    e, i, made = card["evaluation"], card["input"], card["provenance"]
    assert (f"linear-eval top-1: {e['linear_eval_top1']:.4f} "
            f"({100 * e['linear_eval_top1']:.2f} % of {e['test_clips']} test clips), "
            f"test split of spoken_digits") in text
    assert f"classes ({len(LABELS)}): {', '.join(LABELS)}" in text
    assert f"embedding size: {card['model']['embedding_size']}" in text
    assert f"{i['sample_rate']} Hz mono" in text
    assert f"clip_length {i['clip_length']} samples (1 s), frame_hop {CLIP // 2}" in text
    # None (no git checkout, as under Bazel's sandbox) is written as "–".
    assert f"git_sha {'–' if made['git_sha'] is None else made['git_sha']}" in text
    assert f"tensorflow {made['tensorflow']}" in text
    assert f"started_at {made['started_at']}" in text
    for signature, outputs in card["outputs"].items():
        line = next(x for x in text.splitlines() if x.startswith(f"- `{signature}`"))
        assert re.findall(r"`(\w+)` ", line) == list(outputs)
    for limit in card["limitations"]:
        assert f"- {limit}" in text
    config = text.split("```json\n")[1].split("```")[0]
    assert json.loads(config) == card["config"]


def test_the_loaders_still_load_the_export(exported):
    card = _card(exported["after"])
    model = embed.load(exported["after"])
    model.verify()
    assert (model.sample_rate, model.clip_length, model.embedding_size) == (
        16000, card["input"]["clip_length"], card["model"]["embedding_size"])
    hear_model = hear.load_model(exported["after"])
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 20000)).astype(np.float32)
    scene = np.asarray(hear.get_scene_embeddings(audio, hear_model))
    assert scene.shape == (2, card["model"]["embedding_size"]) and np.isfinite(scene).all()


def _full_disk_on_card(real):
    def write(path, text):
        if path.endswith(model_card.MARKDOWN_FILE):
            with open(path, "w") as f:
                f.write(text[:len(text) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)
    return write


def test_a_failed_card_write_leaves_no_half_export(exported, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "_write_file", _full_disk_on_card(export._write_file))
    serving_dir = tmp_path / "serving"
    with pytest.raises(SystemExit) as exited:
        export.main(export.ExportArgs(exported["model_dir"], export_dir=str(serving_dir),
                                      version=9))
    message = str(exited.value.code)
    assert message.startswith(f"error: export to {serving_dir / '9'} failed: ")
    assert "No space left on device" in message and "\n" not in message
    assert os.listdir(serving_dir) == []  # no version, no staging folder


def test_a_results_json_that_is_not_json_is_refused_naming_it(exported, tmp_path):
    import shutil
    model_dir = shutil.copytree(exported["model_dir"], tmp_path / "run")
    (model_dir / "results.json").write_text('{"top1": 0.9, ')
    serving_dir = tmp_path / "serving"
    with pytest.raises(ValueError, match=re.escape(str(model_dir / "results.json"))):
        export.export_saved_model(str(model_dir), str(serving_dir), version=1)
    assert not serving_dir.exists() or os.listdir(serving_dir) == []


# --- the card builder alone (no export) ------------------------------------------------

META = {"sample_rate": 16000, "clip_length": 16000, "embedding_size": 64,
        "frame_hop": 8000, "labels": [], "provenance": {"git_sha": "abc", "tensorflow": "x"}}
CONFIG = {"method": "simclr", "encoder": "2d", "width": 0.125, "frontend": "paper",
          "dataset": "sc10", "epochs": 10, "eval_dataset": None}
RESULTS = {"top1": 0.5, "status": "completed", "epochs": 10, "class_names": ["a", "b"],
           "confusion_matrix": [[1, 1], [0, 2]], "per_class_accuracy": [0.5, 1.0]}


@pytest.mark.parametrize("results, why", [
    (None, "no results.json"),
    (dict(RESULTS, epochs=5), "scores 5 epochs, the exported weights have 10"),
    ({"status": "diverged", "method": "simclr"}, "status 'diverged'"),
    (dict(RESULTS, top1=None), "no top-1"),
])
def test_results_that_do_not_describe_the_exported_weights_give_no_number(results, why):
    card = model_card.card(CONFIG, results, META)
    assert card["evaluation"]["status"] == model_card.NOT_EVALUATED
    assert why in card["evaluation"]["reason"] and card["evaluation"]["linear_eval_top1"] is None
    text = model_card.markdown(card)
    assert "top-1:" not in text and "0.5000" not in text


def test_a_model_without_a_classifier_lists_embedding_outputs_only():
    card = model_card.card(CONFIG, RESULTS, META, version=3)
    assert not card["model"]["classifier"] and card["model"]["method_title"] == "SimCLR"
    assert set(card["outputs"]["serving_default"]) == {"embedding", "samples_used"}
    assert set(card["outputs"]["serve_frames"]) == {
        "frame_embedding", "embedding", "frame_start_s", "frame_center_s"}
    assert card["evaluation"]["test_clips"] == 4
    text = model_card.markdown(card)
    assert "classifier: no (embeddings only)" in text and "version 3" in text
    assert "linear-eval top-1: 0.5000 (50.00 % of 4 test clips), test split of sc10" in text
    json.dumps(card)  # JSON-able


def test_the_results_argument_is_the_card_of_a_caller_that_exports_first(tmp_path):
    model_dir = tmp_path / "run"
    os.makedirs(model_dir)
    (model_dir / "config.json").write_text(json.dumps(CONFIG))

    def metadata():
        return {k: tf.constant(v, tf.string if k == "labels" else tf.int32,
                               shape=[0] if k == "labels" else None)
                for k, v in META.items() if k != "provenance"}

    without = export._extra_files(metadata, str(model_dir), 1)
    given = export._extra_files(metadata, str(model_dir), 1, results=RESULTS)
    assert json.loads(without[export.MODEL_CARD_JSON])["evaluation"]["status"] == (
        model_card.NOT_EVALUATED)
    card = json.loads(given[export.MODEL_CARD_JSON])
    assert card["evaluation"]["linear_eval_top1"] == 0.5
    assert card["provenance"]["note"] == "at export"  # no provenance.json in the run
    assert json.loads(given[export.METADATA_FILE])["clip_length"] == 16000


@pytest.mark.slow
def test_a_trained_runs_own_export_carries_its_score(tmp_path):
    # train.run evaluates before it exports: the card of the export it makes has the
    # top-1 of results.json, not "not evaluated".
    from clar_tf import train
    from testing import spoken_digits, tiny_config

    config = tiny_config(tmp_path / "run", method="simclr", **spoken_digits(tmp_path, 10))
    result = train.run(config)
    with open(os.path.join(result["saved_model"], "assets.extra", "model_card.json")) as f:
        card = json.load(f)
    assert card["evaluation"]["status"] == "evaluated"
    assert card["evaluation"]["linear_eval_top1"] == result["top1"]
