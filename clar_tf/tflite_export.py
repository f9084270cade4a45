"""On-device export: a run's inference model as a TFLite (LiteRT) file, STFT inside.

    clar-export --model_dir=runs/demo --tflite=runs/demo/clar.tflite \
        [--tflite_quantize=none|dynamic|float16]

writes `clar.tflite`, beside it `clar.json` (the SavedModel's metadata: `sample_rate`,
`clip_length`, `embedding_size`, `labels`) and the file's model card,
`clar.tflite.MODEL_CARD.md` and `clar.tflite.model_card.json` (`clar_tf.model_card`;
named after the whole file name, so a `clar.onnx` in the same folder keeps its own card).
The model takes raw audio, like `inference.keras`:

    audio float32 [B, clip_length] at 16 kHz (pad or cut clips to clip_length first)
      ─► STFT ─► 3 channels ─► encoder [─► head]
      ─► embedding float32 [B, D] [, logits float32 [B, C] for supervised and CLAR]

signature `serving_default` (input `audio`, outputs `embedding` and `logits`). The
length is fixed (clip_length); the batch is resizable (`resize_tensor_input`), 1 as
converted. Run it in LiteRT (`ai_edge_litert.interpreter.Interpreter`, the `[export]`
extra) or `tf.lite.Interpreter` (deprecated in TensorFlow 2.20); `interpreter()` takes
the first that is installed.

Only TFLite builtin ops (`tf.lite.OpsSet.TFLITE_BUILTINS`), so it runs with the plain
LiteRT runtime, no Flex (Select TF ops) delegate.

The frontend. As trained, the frontend's Kapre `STFT` returns a complex `[B, T, F, 1]`
tensor that the frontend transposes and slices; TFLite has no builtin `Transpose` or
`StridedSlice` of complex64 and the converter refuses them. For export only,
`BuiltinStftFrontend` computes the same three channels (module `clar_tf.layers.frontend`)
from `tf.signal.rfft` of framed, windowed audio (the calls `tf.signal.stft` makes, with
Kapre's window, hop and FFT size; the converter lowers them to builtin `GATHER`, `MUL`,
`RFFT2D`, `REAL`, `IMAG`), the DC bin's imaginary part set to +0 as TensorFlow's FFT
returns it (TFLite's gives -0, which flips that bin's phase from π to -π), and the mel
filterbank as `GATHER` of the power at each band's non-zero bins, `MUL` by the filter
weights and `SUM` (`mel_taps`: at most 6 bins a band in the paper frontend, 47 in the
authors'), the same sums as Kapre's `(n_freq, n_mels)` matrix product. In TensorFlow it
gives the Kapre frontend's channels within float32 rounding (tests/tflite_export_test.py).

`layers.ExportFrontend` (the ONNX export's) also converts with builtin ops only, but it is
not used here: its STFT is a `CONV_2D` with the DFT kernels as weights (0.26 MB paper,
17 MB authors; `RFFT2D` has none) and its mel filterbank a `FULLY_CONNECTED`, and
dynamic-range quantization turns both into int8 (measured, paper frontend on spoken
digits: errors up to 47 dB on the STFT channel and 86 dB on the mel channel).

Quantization (`quantize`, `--tflite_quantize`), of the encoder and head only:

  * "none": float32 weights.
  * "dynamic": dynamic-range quantization (`tf.lite.Optimize.DEFAULT`): the weights of
    the encoder's and head's `CONV_2D`s and `FULLY_CONNECTED`s are int8 (per output
    channel), activations stay float32. The quantizer only takes constant weights of ops
    with int8 kernels (`CONV_2D`, `FULLY_CONNECTED`, `BATCH_MATMUL`, ...) of 1024
    elements or more (the demo model: 22 of its 23; the 16 → 32 1×1 shortcut, 512
    weights, stays float32). The frontend has no such op: Kapre's mel filterbank, a
    matrix product (`FULLY_CONNECTED`, 129 × 128), would be quantized (measured: 86 dB
    error at most, 10 dB on average, on the mel channel); the `GATHER`-`MUL`-`SUM` above
    is not.
  * "float16": float16 weights (`target_spec.supported_types = [tf.float16]`; `DEQUANTIZE`
    to float32 when the interpreter loads them). That quantizer converts every float32
    constant of the graph, scalars included, and has no list of ops to leave out: in
    the frontend, the floor 1e-10 of the decibels becomes 0 in float16 (-inf dB in the
    paper frontend's empty mel bands; measured on the demo model: every embedding and
    logit NaN) and the rounded window moves quiet bins by up to 7 dB.

So the frontend has no float constant at all: each (window, filter weights, interpolation
weights, decibel floors and scale) is its float32 bits as an int32 constant, plus a zero
computed from the input's shape at run time (`min(batch, 0)`), `BITCAST` back to float32
(`_unfoldable`). The converter cannot fold that into a constant, so neither quantizer sees
a frontend value, and the values are exactly the float32 ones. The frontend is the same
graph in all three files: its output (the encoder's input) is equal in them
(tests/tflite_export_test.py). The cost: a few int32 `ADD`s and `BITCAST`s of small
tensors per call.

Float32 runs only: a `--mixed_precision` run's bfloat16 layers are not converted.
"""
import json
import math
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from clar_tf import checks, model_card, provenance, run_dir, serving
from clar_tf.layers import frontend
from clar_tf.models import loading

QUANTIZE_MODES = ("none", "dynamic", "float16")
FORMAT = "TFLite (LiteRT) flatbuffer, builtin ops"


def interpreter(model_path=None, model_content=None, num_threads=None):
    """A TFLite interpreter of the file `model_path` or the flatbuffer `model_content`:
    LiteRT's `ai_edge_litert.interpreter.Interpreter` when `ai-edge-litert` (the
    `[export]` extra) is installed, else `tf.lite.Interpreter` (deprecated in TensorFlow
    2.20, same interface). `runtime()` names the one used."""
    return _interpreter_class()(model_path=model_path, model_content=model_content,
                                num_threads=num_threads)


def runtime():
    """What `interpreter` runs: "LiteRT <version>" or "tf.lite (TensorFlow <version>)"."""
    if _interpreter_class() is tf.lite.Interpreter:
        return f"tf.lite (TensorFlow {tf.__version__})"
    from importlib import metadata
    return f"LiteRT {metadata.version('ai-edge-litert')}"


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return tf.lite.Interpreter
    return Interpreter


def mel_taps(matrix):
    """A `(n_freq, n_mels)` filterbank matrix as (`bins`, `weights`), each `(n_mels, K)`
    with K the most non-zero entries of a column: band m's non-zero bins and their
    weights, padded with bin 0 and weight 0. Σ_k power[bins[m, k]]·weights[m, k] is
    band m of `power @ matrix` (the same non-zero terms)."""
    matrix = np.asarray(matrix, np.float32)
    nonzero = matrix != 0
    taps = max(1, int(nonzero.sum(axis=0).max()))
    bins = np.zeros((matrix.shape[1], taps), np.int32)
    weights = np.zeros((matrix.shape[1], taps), np.float32)
    for band in range(matrix.shape[1]):
        rows = np.flatnonzero(nonzero[:, band])
        bins[band, :len(rows)] = rows
        weights[band, :len(rows)] = matrix[rows, band]
    return bins, weights


def _unfoldable(value, zero):
    """The float32 `value` as a tensor no converter pass can fold into a constant: its
    bits as an int32 constant plus `zero` (an int32 0 known only at run time), bitcast
    to float32. Exactly `value` (see the module docstring for why)."""
    bits = np.asarray(value, np.float32).view(np.int32)
    return tf.bitcast(tf.constant(bits) + zero, tf.float32)


@keras.saving.register_keras_serializable(package="clar_tf")
class BuiltinStftFrontend(frontend.Frontend):
    """`Frontend` whose STFT is `tf.signal.rfft` on real tensors and whose mel filterbank
    is a gather, a product and a sum, with no float constant in its graph (TFLite builtins
    that no quantizer touches; see the module docstring).

    Same arguments, weights (none) and outputs as `Frontend`; always runs as plain ops
    (`jit_compile` off).
    """

    def __init__(self, **kwargs):
        kwargs["jit_compile"] = False
        super().__init__(**kwargs)
        self._window = self.stft.window_fn(self.n_fft, dtype=tf.float32).numpy()
        self._mel_bins, self._mel_weights = mel_taps(self.mel_filterbank.filterbank)

    def call(self, inputs, training=None):
        del training  # deterministic
        x = tf.cast(tf.convert_to_tensor(inputs), tf.float32)
        zero = tf.minimum(tf.shape(x)[0], 0)  # 0, but only at run time

        def const(value):
            return _unfoldable(value, zero)

        if self.center:
            pad = self.n_fft // 2
            x = tf.pad(x, [[0, 0], [pad, pad]])
        stft = self.stft  # Kapre's layer: its settings (tf.signal.stft's steps)
        frames = tf.signal.frame(x, stft.win_length, stft.hop_length, pad_end=stft.pad_end)
        spec = tf.signal.rfft(frames * const(self._window), [stft.n_fft])  # [B, T, n_freq]
        re, im = tf.math.real(spec), tf.math.imag(spec)
        # The DC bin's imaginary part is zero; TFLite's RFFT2D returns it as -0.0 where
        # TensorFlow's returns +0.0, which turns that bin's phase from π into -π for
        # frames of negative sum. Zeros of the right sign, as in the trained model:
        im = tf.concat([tf.zeros_like(im[:, :, :1]), im[:, :, 1:]], axis=-1)
        power = re * re + im * im  # |S|², [B, T, n_freq]
        mel = tf.reduce_sum(tf.gather(power, self._mel_bins, axis=2)
                            * const(self._mel_weights), axis=-1)
        mel_db = self._decibels(mel, self._mel_amin, const)
        if self.variant == "paper":
            stft_db = self._decibels(power[:, :, :self.n_mels], self._amin, const)
            re, im = re[:, :, :self.n_mels], im[:, :, :self.n_mels]
        else:
            mag = tf.sqrt(power)
            mag = (tf.gather(mag, self._log_lo, axis=2) * const(1.0 - self._log_frac)
                   + tf.gather(mag, self._log_hi, axis=2) * const(self._log_frac))
            stft_db = self._decibels(tf.square(mag), self._amin, const)
            re = tf.gather(re, self._phase_bins, axis=2)
            im = tf.gather(im, self._phase_bins, axis=2)
        phase = tf.math.atan2(im, re)
        return tf.stack([stft_db, phase, mel_db], axis=-1)

    def _decibels(self, power, amin, const):
        """10·log10(max(power, amin)), clamped to `top_db` below each example's maximum
        when set (`Frontend._db`), [B, T, F]."""
        db = const(10.0 / math.log(10.0)) * tf.math.log(tf.maximum(power, const(amin)))
        if self.top_db is not None:
            db = tf.maximum(db, tf.reduce_max(db, axis=(1, 2), keepdims=True)
                            - const(self.top_db))
        return db


def on_device_model(inference):
    """`inference` (audio → {"embedding"[, "logits"]}) with every `Frontend` replaced by
    a `BuiltinStftFrontend` of the same config; all other layers (and weights) shared."""

    def swap(layer):
        if isinstance(layer, frontend.Frontend):
            return BuiltinStftFrontend.from_config(layer.get_config())
        return layer

    return keras.models.clone_model(inference, clone_function=swap, recursive=True)


def convert(inference, quantize="none"):
    """The `.tflite` flatbuffer (bytes) of an inference model, builtin ops only.

    Args:
      inference: audio [B, clip_length] → {"embedding"[, "logits"]} (`inference.keras`).
      quantize: one of `QUANTIZE_MODES` (module docstring): the encoder's and head's
        weights float32, int8 (dynamic range) or float16; the frontend stays float32.

    Raises ValueError naming the op when TFLite has no builtin for a part of the model.
    """
    checks.check_choice("quantize", quantize, QUANTIZE_MODES)
    model = on_device_model(inference)
    clip_length = int(inference.inputs[0].shape[1])

    def serving_default(audio):
        return {k: tf.cast(v, tf.float32) for k, v in model(audio, training=False).items()}

    # Through a SavedModel: the converter freezes its variables into the file (from a
    # tf.function it would keep them as uninitialised resource variables).
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_default, input_signature=[
        tf.TensorSpec([None, clip_length], tf.float32, name="audio")])
    with tempfile.TemporaryDirectory() as tmp:
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as e:  # the converter raises its own ConverterError
            raise ValueError(f"the model has ops that TFLite has no builtin for: "
                             f"{_converter_reason(e)}") from e


def _converter_reason(error):
    """The converter's one-line reason ("TF Select ops: ...") from its long message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("TF Select ops")),
                lines[-1][:300] if lines else "")


def export_tflite(model_dir, path, quantize="none"):
    """Converts the run in `model_dir` to `path` (.tflite) and writes its metadata beside
    it (`<path without .tflite>.json`) and its model card (`model_card.beside(path)`).
    Returns `path`.

    Every file is written to a temporary name and renamed, so a reader never sees half
    of one.

    Raises:
      ValueError: not a finished run, a path that is not .tflite, a bad `quantize`, a
        config.json, results.json or provenance.json that is not JSON (named), a model
        that does not convert.
    """
    checks.check_choice("quantize", quantize, QUANTIZE_MODES)
    source = os.path.join(model_dir, "inference.keras")
    if not os.path.exists(source):
        raise ValueError(f"model_dir={model_dir} has no inference.keras (not a finished "
                         "clar_tf run)")
    if not path.endswith(".tflite"):
        raise ValueError(f"--tflite must name a .tflite file. Received: {path}")
    config, results, made = run_dir.read_run_files(model_dir)  # refused before converting
    inference = loading.load_model(source)
    flatbuffer = convert(inference, quantize)
    meta = serving.clip_file_metadata(inference, run_dir.read_labels(model_dir))
    texts = model_card.files(model_card.card(
        config, results, dict(meta, provenance=made), exported_by=provenance.provenance(),
        export_format="tflite", quantization=quantize, file=os.path.basename(path)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    run_dir.write_bytes(path, flatbuffer)
    run_dir.write_text(path[:-len(".tflite")] + ".json", json.dumps(meta, indent=1))
    for name, card_path in model_card.beside(path).items():
        run_dir.write_text(card_path, texts[name])
    return path
