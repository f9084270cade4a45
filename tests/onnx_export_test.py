"""The ONNX export (`clar-export --onnx`): raw audio of any length in, STFT inside, run in
onnxruntime against the Keras model (Kapre frontend) and the SavedModel on spoken-digit
clips, for two trained runs: CLAR with the paper frontend on 1 s clips, and SimCLR (no
classifier) with the authors' frontend on 0.5 s clips."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from clar_tf import datasets, export, model_card, onnx_export, train
from clar_tf.models import loading
from testing import tiny_config, tiny_run

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("tf2onnx")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# |ONNX - Keras| <= ATOL + RTOL·|Keras|, elementwise. Measured on these runs: at most
# 1.1e-5 on CLAR's embeddings (up to ~17) and 6.2e-6 on its logits (up to ~6), 6.2e-6 on
# SimCLR's embeddings (up to ~12): 3 % of the tolerance; the float32 rounding of the
# convolution STFT against Kapre's FFT, through the network.
RTOL = ATOL = 1e-4


def _export(model_dir, *flags):
    proc = subprocess.run([sys.executable, "-m", "clar_tf.export", f"--model_dir={model_dir}",
                           *flags], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny trained runs, each exported to ONNX through the command line, and real
    spoken-digit clips: CLAR (paper frontend, clip_length 16000; also a SavedModel in the
    same call) with the 10 clips of its test split, and SimCLR (authors' frontend,
    clip_length 8000, the folder dataset on the same words)."""
    root = tmp_path_factory.mktemp("onnx")
    clar = tiny_run(root, export=False)  # writes root/raw (the digits), root/tfds
    clar_onnx = str(root / "out" / "clar.onnx")
    _export(clar, f"--onnx={clar_onnx}", f"--export_dir={root / 'serving'}", "--version=1")
    test = datasets.load("spoken_digits", "test", data_dir=str(root / "tfds"),
                         manual_dir=str(root / "raw"))
    clips = np.stack([x["audio"] for x in test.as_numpy_iterator()])

    words = root / "words"  # the word folders alone: a labeled folder dataset
    for word in os.listdir(root / "raw"):
        if (root / "raw" / word).is_dir() and not word.startswith("_"):
            shutil.copytree(root / "raw" / word, words / word)
    simclr = root / "simclr"
    train.run(tiny_config(simclr, words, root / "tfds", dataset="folder", clip_length=8000,
                          frontend="authors", method="simclr", export=False))
    simclr_onnx = str(root / "out" / "simclr.onnx")
    _export(simclr, f"--onnx={simclr_onnx}")
    return {"clar": (clar, clar_onnx), "simclr": (str(simclr), simclr_onnx),
            "clips": clips, "savedmodel": str(root / "serving" / "1")}


def _session(path):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda audio: dict(zip(names, session.run(None, {"audio": audio})))


def _fit(audio, length):
    """NumPy reference of the in-graph pad/cut: zeros appended, right side cut."""
    out = np.zeros((audio.shape[0], length), np.float32)
    n = min(length, audio.shape[1])
    out[:, :n] = audio[:, :n]
    return out


def _inputs(clips, clip_length):
    """The clips cut to 3/4 of the clip length, as long, and 1.5 times as long (noise)."""
    clips = _fit(clips, clip_length)
    noise = 0.1 * np.random.default_rng(0).standard_normal((len(clips), clip_length // 2))
    return [clips[:, :clip_length * 3 // 4], clips,
            np.concatenate([clips, noise.astype(np.float32)], axis=1)]


def _assert_matches_keras(out, inference, audio, clip_length):
    expected = {k: np.asarray(v) for k, v in inference(_fit(audio, clip_length)).items()}
    assert set(out) == set(expected) | {"samples_used"}
    for name, value in expected.items():
        np.testing.assert_allclose(out[name], value, rtol=RTOL, atol=ATOL, err_msg=name)
    if "logits" in expected:
        assert (out["logits"].argmax(1) == expected["logits"].argmax(1)).all()
    assert out["samples_used"].dtype == np.int32
    assert out["samples_used"].tolist() == [min(audio.shape[1], clip_length)] * len(audio)


@pytest.mark.slow
def test_clar_onnx_matches_keras_and_the_savedmodel_on_spoken_digits(runs):
    model_dir, path = runs["clar"]
    clips = runs["clips"]
    assert clips.shape == (10, 16000) and np.abs(clips).max() > 0.05  # real speech
    inference = loading.load_model(os.path.join(model_dir, "inference.keras"))
    serve = _session(path)
    saved = tf.saved_model.load(runs["savedmodel"]).signatures["serving_default"]
    for audio in _inputs(clips, 16000):
        out = serve(audio)
        _assert_matches_keras(out, inference, audio, 16000)
        # The SavedModel's own pad/cut of the same request gives the same.
        want = saved(audio=tf.constant(audio))
        for name in ("embedding", "logits", "samples_used"):
            np.testing.assert_allclose(out[name], want[name].numpy(), rtol=RTOL, atol=ATOL)
    # Dynamic batch: one clip gives what it gives in the batch.
    np.testing.assert_allclose(serve(clips[3:4])["embedding"], serve(clips)["embedding"][3:4],
                               atol=1e-5)


@pytest.mark.slow
def test_simclr_onnx_at_another_clip_length_and_the_authors_frontend(runs):
    model_dir, path = runs["simclr"]
    inference = loading.load_model(os.path.join(model_dir, "inference.keras"))
    assert inference.inputs[0].shape[1] == 8000 and "logits" not in inference.output
    serve = _session(path)
    clips = runs["clips"][:, 4000:12000]  # the words sit around the middle of each second
    for audio in _inputs(clips, 8000):
        _assert_matches_keras(serve(audio), inference, audio, 8000)


@pytest.mark.slow
def test_the_onnx_file_its_axes_ops_and_metadata(runs):
    model_dir, path = runs["clar"]
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert {o.domain: o.version for o in model.opset_import}[""] == onnx_export.OPSET == 17
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(model.graph.input) + list(model.graph.output)}
    assert dims == {"audio": ["batch", "samples"], "embedding": ["batch", 64],
                    "logits": ["batch", 10], "samples_used": ["batch"]}
    # The STFT is inside as a convolution: no DFT/STFT op, nothing of Kapre or TF left.
    ops = {node.op_type for node in model.graph.node}
    assert {"Conv", "Atan", "Log", "Pad"} <= ops and not ops & {"DFT", "STFT"}, ops
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    with open(os.path.join(model_dir, "labels.json")) as f:
        labels = json.load(f)
    meta = {"sample_rate": 16000, "clip_length": 16000, "embedding_size": 64,
            "labels": labels}
    with open(path[:-len(".onnx")] + ".json") as f:
        assert json.load(f) == meta
    assert {p.key: json.loads(p.value) for p in model.metadata_props} == meta
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith(".tmp")]
    simclr = onnx.load(runs["simclr"][1])
    assert [o.name for o in simclr.graph.output] == ["embedding", "samples_used"]
    assert {p.key: json.loads(p.value) for p in simclr.metadata_props}["labels"] == []


@pytest.mark.slow
def test_each_onnx_file_has_its_model_card(runs):
    for name, (model_dir, path) in (("clar", runs["clar"]), ("simclr", runs["simclr"])):
        paths = model_card.beside(path)
        assert paths[model_card.MARKDOWN_FILE] == path + ".MODEL_CARD.md"
        with open(paths[model_card.JSON_FILE]) as f:
            card = json.load(f)
        with open(paths[model_card.MARKDOWN_FILE], encoding="utf-8") as f:
            assert f.read() == model_card.markdown(card)
        with open(os.path.join(model_dir, "results.json")) as f:
            results = json.load(f)
        with open(os.path.join(model_dir, "config.json")) as f:
            assert card["config"] == json.load(f)
        with open(os.path.join(model_dir, "provenance.json")) as f:
            assert card["provenance"] == json.load(f)
        assert card["evaluation"]["linear_eval_top1"] == results["top1"]
        x = card["export"]
        assert x["format"] == "ONNX, opset 17" and x["file"] == os.path.basename(path)
        assert x["quantization"] == "none"
        clip = 16000 if name == "clar" else 8000
        i = card["input"]
        assert (i["shape"], i["clip_length"], i["frame_hop"]) == ("[batch, samples]", clip,
                                                                   None)
        assert i["length"].startswith("any") and "samples_used" in i["longer_clips"]
        # The outputs the card names are the graph's.
        graph = [o.name for o in onnx.load(path).graph.output]
        assert set(card["outputs"]) == {"graph"} and set(card["outputs"]["graph"]) == set(graph)
        assert card["model"]["classifier"] == (name == "clar")


def test_the_onnx_card_states_its_input_contract():
    meta = {"sample_rate": 16000, "clip_length": 8000, "embedding_size": 32, "labels": []}
    card = model_card.card({"method": "simclr", "dataset": "folder"}, None, meta,
                           export_format="onnx", opset=17, file="m.onnx")
    i = card["input"]
    assert i["shape"] == "[batch, samples]" and "any" in i["length"]
    assert "zeros appended up to clip_length (8000 samples)" in i["shorter_clips"]
    assert "first 8000 samples" in i["longer_clips"] and "every 4000" in i["longer_clips"]
    assert "ONNX has no assertion op" in i["refused"]
    assert set(card["outputs"]["graph"]) == {"embedding", "samples_used"}
    assert card["export"]["format"] == "ONNX, opset 17"
    assert card["evaluation"]["status"] == model_card.NOT_EVALUATED
    limits = " ".join(card["limitations"])
    assert "first 8000 samples" in limits and "Quantized" not in limits
    text = model_card.markdown(card)
    assert "ONNX, opset 17, file `m.onnx`, quantization none" in text
    assert "`m.onnx.model_card.json`" in text


@pytest.mark.parametrize("missing", ["onnx", "tf2onnx"])
def test_a_missing_extra_fails_in_one_line_naming_it(monkeypatch, tmp_path, missing, capsys):
    monkeypatch.setitem(sys.modules, missing, None)  # `import <missing>` raises ImportError
    with pytest.raises(onnx_export.ExtraMissing, match=r"\[export\] extra"):
        onnx_export.require_extra()
    serving = tmp_path / "serving"
    with pytest.raises(SystemExit) as raised:
        export.main(export.ExportArgs(model_dir=str(tmp_path), export_dir=str(serving),
                                      onnx=str(tmp_path / "m.onnx")))
    message = str(raised.value.code)
    assert message == ("error: the ONNX export needs the [export] extra (onnx, tf2onnx, "
                       f"onnxruntime), missing here: {missing}; install it with pip "
                       'install ".[export]" in the clar_tf folder')
    assert "\n" not in message
    assert os.listdir(tmp_path) == []  # checked first: no SavedModel either


def test_bad_arguments_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="must name a .onnx file"):
        onnx_export.export_onnx(str(tmp_path), str(tmp_path / "m.bin"))
    with pytest.raises(ValueError, match="no inference.keras"):
        onnx_export.export_onnx(str(tmp_path), str(tmp_path / "m.onnx"))
    with pytest.raises(SystemExit, match="^error: model_dir=.* has no inference.keras"):
        export.main(export.ExportArgs(model_dir=str(tmp_path), onnx=str(tmp_path / "m.onnx")))
    assert export.ExportArgs(model_dir="r", onnx="m.onnx").onnx == "m.onnx"
    with pytest.raises(ValueError, match="--onnx"):
        export.ExportArgs(model_dir="r")


def test_a_mixed_precision_model_is_refused():
    import keras
    audio = keras.Input((400,))
    dense = keras.layers.Dense(4, dtype="mixed_bfloat16")(audio)
    inference = keras.Model(audio, {"embedding": dense})
    with pytest.raises(ValueError, match="float32 runs only"):
        onnx_export.onnx_ready_model(inference)
