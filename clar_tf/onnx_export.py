"""A run's inference model as an ONNX file, STFT inside (tf2onnx; runs in onnxruntime).

    clar-export --model_dir=runs/demo --onnx=runs/demo/clar.onnx

writes `clar.onnx` and, beside it, `clar.json` (the SavedModel's metadata:
`sample_rate`, `clip_length`, `embedding_size`, `labels`; the same values are the
file's `metadata_props`) and the file's model card, `clar.onnx.MODEL_CARD.md` and
`clar.onnx.model_card.json` (`clar_tf.model_card`: the run's data, method, config and
evaluation, this file's input contract and outputs, versions, intended use and limits).
The graph takes raw audio, as the SavedModel's `serving_default` does:

    audio float32 [batch, samples] at 16 kHz, any batch, any number of samples
      ─► zeros appended / right side cut to clip_length (as `clar_tf.serving`)
      ─► frontend (`layers.ExportFrontend`) ─► encoder [─► head]
      ─► embedding float32 [B, D], samples_used int32 [B] (min(samples, clip_length))
         [, logits float32 [B, C] for the methods with a classifier, supervised and CLAR]

Opset 17 (`OPSET`); the batch and samples axes are dynamic.

Kapre's STFT does not convert (tf2onnx refuses its RFFT followed by a transpose), so the
2D models' `Frontend` is swapped for `layers.ExportFrontend`: the same channels from
public Keras layers (the STFT a `keras.layers.STFTSpectrogram`, a convolution with the
DFT kernels of the same window), equal within float32 rounding (its tolerances:
`layers.frontend`, `tests/frontend_test.py`). Every other layer and weight is the
trained model's. The SavedModel keeps Kapre. The DFT kernels are weights of the file:
0.26 MB with the paper frontend (256 × 129 × 2 floats), 17 MB with the authors' (2048 ×
1025 × 2).

What the file leaves out of the SavedModel: the input checks (rank, no samples, NaN or
inf: ONNX has no assertion op; onnxruntime itself refuses another rank or dtype), the
string outputs (`classes`: the labels are in `clar.json`), `probabilities` (softmax of
`logits`) and `serve_frames` (cut a long recording into windows and send them as a
batch). Float32 runs only, like the TFLite file: a `--mixed_precision` run is refused.

Needs the `[export]` extra (`pip install ".[export]"` in the clar_tf folder: onnx,
tf2onnx, onnxruntime); without it the export fails in one line naming the extra.
"""
import json
import logging
import os
import tempfile

import keras
import tensorflow as tf

import clar_tf
from clar_tf import model_card, provenance, run_dir, serving
from clar_tf.layers import frontend
from clar_tf.models import loading

OPSET = 17
EXTRA_MISSING = ("the ONNX export needs the [export] extra (onnx, tf2onnx, onnxruntime), "
                 "missing here: {name}; install it with pip install \".[export]\" in the "
                 "clar_tf folder")


class ExtraMissing(ImportError):
    """A package of the `[export]` extra is not installed (the message names it)."""


def require_extra():
    """Imports the converter's packages; `ExtraMissing` (one line) when one is absent."""
    for name in ("onnx", "tf2onnx"):
        try:
            __import__(name)
        except ImportError:
            raise ExtraMissing(EXTRA_MISSING.format(name=name)) from None


class _FitToClip(keras.layers.Layer):
    """[B, any] audio → [B, clip_length]: zeros appended or the right side cut, as
    `clar_tf.serving`'s `serving_default` (and `audio_io.pad_or_clip`) do."""

    def __init__(self, clip_length, **kwargs):
        super().__init__(**kwargs)
        self.clip_length = clip_length

    def call(self, audio):
        length = tf.shape(audio)[1]
        clips = tf.pad(audio[:, :self.clip_length],
                       [[0, 0], [0, tf.maximum(0, self.clip_length - length)]])
        return tf.ensure_shape(clips, [None, self.clip_length])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.clip_length)


class _SamplesUsed(keras.layers.Layer):
    """[B, any] audio → int32 [B]: min(samples, clip_length), `serving_default`'s
    `samples_used`."""

    def __init__(self, clip_length, **kwargs):
        super().__init__(**kwargs)
        self.clip_length = clip_length

    def call(self, audio):
        shape = tf.shape(audio)
        return tf.fill(shape[:1], tf.minimum(shape[1], self.clip_length))

    def compute_output_spec(self, audio):
        return keras.KerasTensor((audio.shape[0],), dtype="int32")


def portable_model(inference):
    """`inference` (audio [B, clip_length] → {"embedding"[, "logits"]}) with every
    `layers.Frontend` replaced by the `layers.ExportFrontend` of the same settings; all
    other layers and weights shared."""

    def swap(layer):
        if isinstance(layer, frontend.Frontend):
            return frontend.ExportFrontend.from_frontend(layer)
        return layer

    return keras.models.clone_model(inference, clone_function=swap, recursive=True)


def onnx_ready_model(inference):
    """The Keras model the ONNX file holds: audio float32 [B, any] → fit to the clip
    length → `portable_model(inference)`, plus `samples_used`."""
    policies = _policies(inference)
    if policies - {"float32"}:
        raise ValueError(f"the ONNX export takes float32 runs only; this model computes in "
                         f"{sorted(policies - {'float32'})} (a --mixed_precision run)")
    clip_length = int(inference.inputs[0].shape[1])
    audio = keras.Input((None,), name="audio", dtype="float32")
    outputs = dict(portable_model(inference)(_FitToClip(clip_length)(audio)))
    outputs["samples_used"] = _SamplesUsed(clip_length)(audio)
    return keras.Model(audio, outputs, name="clar_onnx")


def _policies(model):
    """The dtype policy names of `model`'s layers, nested models included."""
    names, stack = set(), [model]
    while stack:
        layer = stack.pop()
        names.add(layer.dtype_policy.name)
        stack.extend(getattr(layer, "layers", ()))
    return names


def convert(inference, metadata=None):
    """The ONNX `ModelProto` of an inference model (see the module docstring), opset
    `OPSET`, input `audio` [batch, samples], outputs `embedding`, `samples_used` and,
    with a classifier, `logits`; `metadata` (a dict) becomes its `metadata_props` (values
    as JSON).

    Raises:
      ExtraMissing: onnx or tf2onnx is not installed.
      ValueError: the model does not convert (tf2onnx's reason), or is not float32.
    """
    require_extra()
    import onnx

    model = onnx_ready_model(inference)
    if clar_tf.QUIET:
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="clar_tf_onnx_") as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            model.export(path, format="onnx", verbose=False, opset_version=OPSET,
                         input_signature=[tf.TensorSpec([None, None], tf.float32,
                                                        name="audio")])
        except Exception as e:  # tf2onnx raises its own errors for what it cannot convert
            reason = " ".join(str(e).split())[:300]
            raise ValueError(f"the model does not convert to ONNX: {reason}") from e
        proto = onnx.load(path)
    # tf2onnx names the dynamic axes unk__<n>: name them.
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, ("batch", "samples") if value.name == "audio"
                             else ("batch",)):
            dim.dim_param = name
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model_dir, path):
    """Converts the run in `model_dir` to `path` (.onnx) and writes its metadata beside it
    (`<path without .onnx>.json`) and its model card (`model_card.beside(path)`).
    Returns `path`.

    Every file is written to a temporary name and renamed, so a reader never sees half
    of one.

    Raises:
      ExtraMissing: the `[export]` extra is not installed (checked first).
      ValueError: not a finished run, a damaged `inference.keras`, a path that is not
        .onnx, a config.json, results.json or provenance.json that is not JSON (named), a
        model that does not convert.
    """
    if not path.endswith(".onnx"):
        raise ValueError(f"--onnx must name a .onnx file. Received: {path}")
    source = run_dir.path(model_dir, run_dir.INFERENCE)
    if not tf.io.gfile.exists(source):
        raise ValueError(f"model_dir={model_dir} has no inference.keras (not a finished "
                         "clar_tf run)")
    require_extra()
    config, results, made = run_dir.read_run_files(model_dir)  # refused before converting
    inference = loading.load_model(source)
    meta = serving.clip_file_metadata(inference, run_dir.read_labels(model_dir))
    proto = convert(inference, meta)
    texts = model_card.files(model_card.card(
        config, results, dict(meta, provenance=made), exported_by=provenance.provenance(),
        export_format="onnx", opset=OPSET, file=os.path.basename(path)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    run_dir.write_bytes(path, proto.SerializeToString())
    run_dir.write_text(path[:-len(".onnx")] + ".json", json.dumps(meta, indent=1))
    for name, card_path in model_card.beside(path).items():
        run_dir.write_text(card_path, texts[name])
    return path
