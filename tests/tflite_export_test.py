"""The on-device TFLite export: builtin ops only, STFT inside, same outputs as Keras; the
quantized files (`--tflite_quantize=dynamic|float16`) with the frontend kept float32; the
model card beside each file; the interpreter helper (LiteRT, else tf.lite)."""
import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from clar_tf import compat, datasets, demo_data, export, model_card, tflite_export, train
from clar_tf.layers import frontend
from clar_tf.models import factory
from testing import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained CLAR run (paper frontend), exported to float32 TFLite through the
    CLI and to the two quantized files in-process, and the spoken-digit clips of its test
    split (real speech, one word per clip). Returns (model_dir, {mode: path}, clips)."""
    root = tmp_path_factory.mktemp("tflite")
    demo_data.make(str(root / "digits"), seed=0, clips_per_word=10)
    model_dir = root / "clar"
    train.run(tiny_config(model_dir, root / "digits", root / "tfds", export=False))
    paths = {mode: str(root / "on_device" / f"clar_{mode}.tflite")
             for mode in tflite_export.QUANTIZE_MODES}
    proc = subprocess.run([sys.executable, "-m", "clar_tf.export",
                           f"--model_dir={model_dir}", f"--tflite={paths['none']}"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for mode in ("dynamic", "float16"):
        tflite_export.export_tflite(str(model_dir), paths[mode], quantize=mode)
    test = datasets.load("spoken_digits", "test", data_dir=str(root / "tfds"),
                         manual_dir=str(root / "digits"))
    clips = np.stack([x["audio"] for x in test.as_numpy_iterator()])
    return model_dir, paths, clips


def _interpret(content, audio, **kwargs):
    """Runs the .tflite flatbuffer's `serving_default` on `audio` [B, L]."""
    interpreter = tflite_export.interpreter(model_content=content, **kwargs)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"],
                                    audio.shape)
    interpreter.allocate_tensors()
    return interpreter, interpreter.get_signature_runner("serving_default")(audio=audio)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _ops(interpreter):
    return {op["op_name"] for op in compat.tflite_ops(interpreter)}


def test_the_interpreter_is_litert_where_installed_else_tf_lite(monkeypatch):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    audio = keras.Input((4,))
    content = tflite_export.convert(keras.Model(audio, {
        "embedding": keras.layers.Dense(2)(audio)}))
    assert isinstance(tflite_export.interpreter(model_content=content),
                      litert.Interpreter)
    assert tflite_export.runtime().startswith("LiteRT ")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # not installed
    with warnings.catch_warnings():  # TensorFlow 2.20: "tf.lite.Interpreter is deprecated"
        warnings.simplefilter("ignore", UserWarning)
        assert isinstance(tflite_export.interpreter(model_content=content),
                          tf.lite.Interpreter)
    assert tflite_export.runtime() == f"tf.lite (TensorFlow {tf.__version__})"


@pytest.mark.slow
def test_tflite_matches_the_keras_model_on_spoken_digits(run):
    model_dir, paths, clips = run
    assert clips.shape == (10, 16000) and np.abs(clips).max() > 0.05  # real speech
    inference = keras.saving.load_model(os.path.join(model_dir, "inference.keras"))
    expected = {k: np.asarray(v) for k, v in inference(clips).items()}
    content = _read(paths["none"])
    interpreter, out = _interpret(content, clips)
    # Builtin ops only (a Flex op would be named "Flex..." or be custom), STFT inside.
    ops = _ops(interpreter)
    assert {"RFFT2D", "ATAN2", "BITCAST"} <= ops, ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    assert set(out) == {"embedding", "logits"}
    # Measured: max |difference| 7.6e-6 on embeddings up to ~16 and 4.3e-6 on logits up
    # to ~6 (float32 FFTs of two libraries); 1e-4 leaves margin. A phase flipped by 2π
    # in one bin (TFLite's -0 in the DC bin, fixed in BuiltinStftFrontend) gave 0.1.
    for name in ("embedding", "logits"):
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-4, atol=1e-4)
    assert (out["logits"].argmax(1) == expected["logits"].argmax(1)).all()
    # One clip per call (on-device use), one thread, gives the same as the batch.
    _, single = _interpret(content, clips[3:4], num_threads=1)
    np.testing.assert_allclose(single["embedding"], out["embedding"][3:4], atol=1e-5)
    with open(paths["none"][:-len(".tflite")] + ".json") as f:
        meta = json.load(f)
    with open(os.path.join(model_dir, "labels.json")) as f:
        labels = json.load(f)
    assert meta == {"sample_rate": 16000, "clip_length": 16000, "embedding_size": 64,
                    "labels": labels}
    assert not [n for n in os.listdir(os.path.dirname(paths["none"]))
                if n.endswith(".tmp")]


def _tensors(interpreter):
    """({index: tensor details}, {index: [ops reading it]}, {index: op writing it})."""
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    readers, writer = {}, {}
    for op in compat.tflite_ops(interpreter):
        for i in op["inputs"]:
            readers.setdefault(int(i), []).append(op)
        for i in op["outputs"]:
            writer[int(i)] = op
    return details, readers, writer


def _features(path, clips):
    """The frontend's output in the file `path` (the [B, T, 128, 3] tensor the encoder
    reads, `tf.stack` → PACK) on `clips`, and the interpreter."""
    from ai_edge_litert import interpreter as litert
    with warnings.catch_warnings():  # "intended for debugging purposes only"
        warnings.simplefilter("ignore", UserWarning)
        # Every tensor kept readable; no XNNPACK delegate, so the ops are the file's.
        interpreter = litert.Interpreter(
            model_path=path, experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=(
                litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"],
                                    clips.shape)
    interpreter.allocate_tensors()
    interpreter.get_signature_runner("serving_default")(audio=clips)
    details, _, writer = _tensors(interpreter)
    stacks = [i for i, t in details.items() if i in writer
              and writer[i]["op_name"] == "PACK" and t["shape"].tolist() == [
                  len(clips), 126, 128, 3]]
    assert len(stacks) == 1, stacks
    return interpreter.get_tensor(stacks[0]), interpreter


@pytest.mark.slow
def test_quantized_files_keep_the_frontend_float32_and_quantize_the_encoder(run):
    pytest.importorskip("ai_edge_litert.interpreter")
    model_dir, paths, clips = run
    features, _ = _features(paths["none"], clips)
    sizes = {mode: os.path.getsize(path) for mode, path in paths.items()}
    for mode in ("dynamic", "float16"):
        got, interpreter = _features(paths[mode], clips)
        # The frontend is the same float32 graph in every file (no constant for the
        # quantizer to take): its output, the encoder's input, is exactly the float
        # file's (measured: equal; tolerance 0).
        np.testing.assert_array_equal(got, features, err_msg=mode)
        details, readers, writer = _tensors(interpreter)
        weights = {int(op["inputs"][1]) for op in compat.tflite_ops(interpreter)
                   if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")}
        small = {i for i in weights if details[i]["shape"].prod() < 1024}
        if mode == "dynamic":
            # Every conv / dense weight of the encoder and head is int8, per output
            # channel, but those below the quantizer's 1024 elements; nothing else is
            # (op inputs: without XNNPACK the hybrid kernels keep int8 scratch tensors).
            # This tiny run (width 0.125): 15 of 23; 8 have fewer than 1024 elements.
            int8 = {i for i in readers if details[i]["dtype"] == np.int8}
            assert int8 == weights - small and len(int8) >= 10, (len(int8), len(small))
            for i in int8:
                scales = details[i]["quantization_parameters"]["scales"]
                assert len(scales) == details[i]["shape"][0]
            assert all(details[i]["dtype"] == np.float32 for i in small)
        else:
            # float16 weights, each DEQUANTIZEd to float32 for a conv or dense layer
            # (its weights or bias) and nothing else: none in the frontend.
            half = {i for i in readers if details[i]["dtype"] == np.float16}
            assert len(half) >= 40
            for i in half:
                (dequantize,) = readers[i]
                assert dequantize["op_name"] == "DEQUANTIZE"
                out = int(dequantize["outputs"][0])
                assert {op["op_name"] for op in readers[out]} <= {
                    "CONV_2D", "FULLY_CONNECTED"}, details[i]["name"]
            assert all(writer[i]["op_name"] == "DEQUANTIZE" for i in weights)
    # Measured on this tiny run: dynamic 0.31 of the float32 file, float16 0.53 (the
    # graph and the small float32 weights are the rest).
    assert sizes["dynamic"] < 0.4 * sizes["none"] < sizes["float16"] < 0.6 * sizes["none"]


@pytest.mark.slow
def test_quantized_files_stay_close_to_the_float_file(run):
    model_dir, paths, clips = run
    _, want = _interpret(_read(paths["none"]), clips)
    scale = np.abs(want["embedding"]).max()
    for mode, tolerance in (("dynamic", 0.05), ("float16", 0.005)):
        _, got = _interpret(_read(paths[mode]), clips)
        # Max |difference| relative to the largest |embedding| (15.6), measured on this
        # tiny run: 0.014 (dynamic), 5.2e-4 (float16); the classes all agree.
        error = np.abs(got["embedding"] - want["embedding"]).max() / scale
        assert error < tolerance, (mode, error)
        assert np.isfinite(got["logits"]).all()


@pytest.mark.slow
def test_each_file_has_its_model_card(run):
    model_dir, paths, clips = run
    read = lambda name: json.loads(open(os.path.join(model_dir, name)).read())  # noqa: E731
    config, results, made = (read(n) for n in ("config.json", "results.json",
                                                "provenance.json"))
    for mode, path in paths.items():
        card_path = model_card.beside(path)
        with open(card_path[model_card.JSON_FILE]) as f:
            card = json.load(f)
        with open(card_path[model_card.MARKDOWN_FILE], encoding="utf-8") as f:
            text = f.read()
        assert card_path[model_card.JSON_FILE] == path + ".model_card.json"
        assert text == model_card.markdown(card)
        assert card["config"] == config and card["provenance"] == made
        assert card["evaluation"]["status"] == "evaluated"
        assert card["evaluation"]["linear_eval_top1"] == results["top1"]
        x = card["export"]
        assert x["format"] == model_card.FORMATS["tflite"] and x["version"] is None
        assert (x["file"], x["quantization"]) == (os.path.basename(path), mode)
        assert f"file `{os.path.basename(path)}`, quantization {x['quantization_detail']}" in text
        i = card["input"]
        assert (i["shape"], i["clip_length"], i["frame_hop"]) == (
            "[batch, clip_length]", 16000, None)
        assert "exactly clip_length = 16000" in i["length"] and "append zeros" in (
            i["shorter_clips"])
        interpreter = tflite_export.interpreter(model_path=path)
        runner = interpreter.get_signature_runner("serving_default")
        assert set(card["outputs"]) == {"serving_default"}
        assert set(card["outputs"]["serving_default"]) == set(runner.get_output_details())
        quantized = [x for x in card["limitations"] if x.startswith("Quantized")]
        assert len(quantized) == (mode != "none")


@pytest.mark.slow
@pytest.mark.parametrize("variant, top_db", [("paper", None), ("authors", None),
                                             ("paper", 80.0)])
def test_builtin_stft_frontend_channels_match_kapre(run, variant, top_db):
    """The frontend alone, converted: its three channels against the Kapre layer's, in
    all three quantization modes (no weights: each file computes the same)."""
    clips = run[2][:4]
    audio = keras.Input((16000,))
    kapre_frontend = frontend.Frontend(variant=variant, top_db=top_db, jit_compile=False)
    model = keras.Model(audio, {"embedding": kapre_frontend(audio)})
    expected = np.asarray(model(clips)["embedding"])
    # In TensorFlow the swapped layer gives the same phase; the mel sums run in another
    # order and Kapre's top_db clamp takes log10 another way (measured: 1.1e-5 dB at
    # most).
    got = np.asarray(tflite_export.on_device_model(model)(clips)["embedding"])
    np.testing.assert_array_equal(got[..., 1], expected[..., 1])
    np.testing.assert_allclose(got[..., ::2], expected[..., ::2], atol=1e-4)
    outputs = {}
    for mode in tflite_export.QUANTIZE_MODES:
        interpreter, out = _interpret(tflite_export.convert(model, mode), clips)
        assert not [t for t in interpreter.get_tensor_details()
                    if t["dtype"] in (np.int8, np.float16)], mode
        outputs[mode] = out["embedding"]
    for mode in ("dynamic", "float16"):
        np.testing.assert_array_equal(outputs[mode], outputs["none"])
    got = outputs["none"]
    # dB of |S|² and of the mel power: measured 9.7e-4 dB at most (values -100..+30 dB).
    np.testing.assert_allclose(got[..., 0], expected[..., 0], atol=1e-2)
    np.testing.assert_allclose(got[..., 2], expected[..., 2], atol=1e-2)
    # Phase in radians: measured 2.6e-4 at most; a sign-of-zero flip would be 2π.
    np.testing.assert_allclose(got[..., 1], expected[..., 1], atol=1e-2)


def test_mel_taps_are_the_matrix_product():
    rng = np.random.default_rng(0)
    matrix = np.asarray(frontend.Frontend(jit_compile=False).mel_filterbank.filterbank)
    bins, weights = tflite_export.mel_taps(matrix)
    assert bins.shape == weights.shape == (128, 6)  # paper: 6 bins a band at most
    power = rng.uniform(0.0, 2.0, (3, 129)).astype(np.float32)
    np.testing.assert_allclose((power[:, bins] * weights).sum(-1), power @ matrix,
                               rtol=1e-6, atol=1e-12)
    assert (weights[(matrix != 0).sum(0) == 0] == 0).all()  # empty bands: zero


def test_embedding_only_model_converts(tmp_path):
    """SimCLR's inference model has no logits: the file has the embedding alone."""
    config = tiny_config(tmp_path, "unused", "unused", method="simclr", frontend="authors")
    model = factory.build_model(config, 10, 4000)
    audio = keras.Input((4000,))
    inference = keras.Model(audio, {"embedding": model.embedder(audio, training=False)})
    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4000)).astype(np.float32)
    _, out = _interpret(tflite_export.convert(inference), clips)
    assert set(out) == {"embedding"}
    np.testing.assert_allclose(out["embedding"], inference(clips)["embedding"],
                               rtol=1e-4, atol=1e-4)


# --- the card of a TFLite file, built alone (no conversion) -----------------------------

META = {"sample_rate": 16000, "clip_length": 8000, "embedding_size": 32,
        "labels": ["a", "b"], "provenance": None}
CONFIG = {"method": "clar", "encoder": "2d", "width": 0.25, "frontend": "paper",
          "dataset": "spoken_digits", "epochs": 3, "labeled_fraction": 1.0}


@pytest.mark.parametrize("mode", tflite_export.QUANTIZE_MODES)
def test_the_tflite_card_states_its_input_contract_and_quantization(mode):
    card = model_card.card(CONFIG, None, META, export_format="tflite", quantization=mode,
                           file="clar.tflite", exported_by={"tensorflow": "2.x"})
    i = card["input"]
    assert i["shape"] == "[batch, clip_length]" and i["clip_seconds"] == 0.5
    assert "8000" in i["length"] and "fixed" in i["length"]
    assert "first 8000 samples" in i["longer_clips"] and "every 4000" in i["longer_clips"]
    assert card["outputs"] == {"serving_default": {
        "embedding": "float32 [B, D]: the clip embedding", "logits": "float32 [B, C]"}}
    assert card["export"]["quantization"] == mode
    assert card["export"]["quantization_detail"] == model_card.QUANTIZATION[mode]
    assert card["provenance"] == {"tensorflow": "2.x", "note": "at export"}
    limits = " ".join(card["limitations"])
    assert "exactly 8000 samples" in limits and "SavedModel" not in limits
    assert ("Quantized" in limits) == (mode != "none")
    text = model_card.markdown(card)
    assert "`clar.tflite.model_card.json`" in text and "frame_hop" not in text
    assert "- `serving_default`: `embedding` float32 [B, D]: the clip embedding; `logits`" in text
    json.dumps(card)


def test_bad_quantize_arguments_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="^--tflite_quantize must be one of none, "
                                         "dynamic, float16. Received: --tflite_quantize=int4"):
        export.ExportArgs(model_dir="r", tflite="m.tflite", tflite_quantize="int4")
    with pytest.raises(ValueError, match="--tflite_quantize=dynamic .* give --tflite"):
        export.ExportArgs(model_dir="r", export_dir="e", tflite_quantize="dynamic")
    assert export.ExportArgs(model_dir="r", tflite="m.tflite",
                             tflite_quantize="float16").tflite_quantize == "float16"
    with pytest.raises(ValueError, match="`quantize` must be one of none, dynamic, float16"):
        tflite_export.export_tflite(str(tmp_path), str(tmp_path / "m.tflite"), "int8")
    with pytest.raises(ValueError, match="export_format must be one of"):
        model_card.card(CONFIG, None, META, export_format="coreml")
    with pytest.raises(SystemExit, match="Flag error: --tflite_quantize must be one of"):
        export_cli(["--model_dir=r", "--tflite=m.tflite", "--tflite_quantize=int4"])


def export_cli(argv):
    from clar_tf import cli
    return cli.parse(export.ExportArgs, ["clar-export", *argv], export.HELP)


@pytest.mark.slow
def test_bad_arguments_fail_clearly(run, tmp_path):
    with pytest.raises(ValueError, match="no inference.keras"):
        tflite_export.export_tflite(str(tmp_path), str(tmp_path / "m.tflite"))
    with pytest.raises(ValueError, match="must name a .tflite file"):
        tflite_export.export_tflite(str(run[0]), str(tmp_path / "m.bin"))
    proc = subprocess.run([sys.executable, "-m", "clar_tf.export",
                           f"--model_dir={run[0]}"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "--export_dir" in proc.stderr and "--tflite" in proc.stderr
