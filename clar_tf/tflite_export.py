"""On-device export: a run's inference model as a TFLite (LiteRT) file, STFT inside.

    python -m clar_tf.export --model_dir=runs/demo --tflite=runs/demo/clar.tflite

writes `clar.tflite` and, beside it, `clar.json` (the SavedModel's metadata:
`sample_rate`, `clip_length`, `embedding_size`, `labels`). The model takes raw audio,
like `inference.keras`:

    audio float32 [B, clip_length] at 16 kHz (pad or cut clips to clip_length first)
      ─► STFT ─► 3 channels ─► encoder [─► head]
      ─► embedding float32 [B, D] [, logits float32 [B, C] for supervised and CLAR]

signature `serving_default` (input `audio`, outputs `embedding` and `logits`); the batch
is resizable (`Interpreter.resize_tensor_input`), 1 as converted.

Only TFLite builtin ops (`tf.lite.OpsSet.TFLITE_BUILTINS`), so it runs with the plain
TFLite / LiteRT runtime, no Flex (Select TF ops) delegate. As trained, the frontend's
Kapre `STFT` returns a complex `[B, T, F, 1]` tensor that the frontend transposes and
slices; TFLite has no builtin `Transpose` or `StridedSlice` of complex64 and the
converter refuses them. For export only, `BuiltinStftFrontend` computes the same STFT
with `tf.signal.stft` on `[B, L]` (the call Kapre makes, same window, hop and FFT size)
and takes its real and imaginary parts at once (the DC bin's imaginary part set to +0,
as TensorFlow's FFT returns it: TFLite's gives -0, which flips that bin's phase); the
converter lowers that to builtin
`GATHER` (framing), `MUL` (window), `RFFT2D`, `REAL` and `IMAG`, and the channels to
`LOG`, `ATAN2`, `BATCH_MATMUL` (mel) and the rest. No weight changes; the test compares
the file's outputs with the Keras model on spoken-digit clips.

Float32 runs only: a `--mixed_precision` run's bfloat16 layers are not converted.
"""
import json
import os
import tempfile

import keras
import tensorflow as tf

from clar_tf import run_dir, serving
from clar_tf.layers import frontend
from clar_tf.models import loading


@keras.saving.register_keras_serializable(package="clar_tf")
class BuiltinStftFrontend(frontend.Frontend):
    """`Frontend` whose STFT is `tf.signal.stft` on real tensors (TFLite builtins).

    Same arguments, weights (none) and outputs as `Frontend`; only the STFT's complex
    tensor is never transposed or sliced (see the module docstring). Always runs its
    channels as plain ops (`jit_compile` off).
    """

    def __init__(self, **kwargs):
        kwargs["jit_compile"] = False
        super().__init__(**kwargs)

    def call(self, inputs, training=None):
        del training  # deterministic
        x = tf.cast(tf.convert_to_tensor(inputs), tf.float32)
        if self.center:
            pad = self.n_fft // 2
            x = tf.pad(x, [[0, 0], [pad, pad]])
        stft = self.stft  # Kapre's layer: its settings, its window
        spec = tf.signal.stft(x, frame_length=stft.win_length, frame_step=stft.hop_length,
                              fft_length=stft.n_fft, window_fn=stft.window_fn,
                              pad_end=stft.pad_end)  # [B, T, n_freq] complex64
        re, im = tf.math.real(spec), tf.math.imag(spec)
        # The DC bin's imaginary part is zero; TFLite's RFFT2D returns it as -0.0 where
        # TensorFlow's returns +0.0, which turns that bin's phase from π into -π for
        # frames of negative sum. Zeros of the right sign, as in the trained model:
        im = tf.concat([tf.zeros_like(im[:, :, :1]), im[:, :, 1:]], axis=-1)
        return self._channels(re, im)


def on_device_model(inference):
    """`inference` (audio → {"embedding"[, "logits"]}) with every `Frontend` replaced by
    a `BuiltinStftFrontend` of the same config; all other layers (and weights) shared."""

    def swap(layer):
        if isinstance(layer, frontend.Frontend):
            return BuiltinStftFrontend.from_config(layer.get_config())
        return layer

    return keras.models.clone_model(inference, clone_function=swap, recursive=True)


def convert(inference):
    """The `.tflite` flatbuffer (bytes) of an inference model, builtin ops only.

    Raises ValueError naming the op when TFLite has no builtin for a part of the model.
    """
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


def export_tflite(model_dir, path):
    """Converts the run in `model_dir` to `path` (.tflite) and writes its metadata beside
    it (`<path without .tflite>.json`). Returns `path`.

    Both files are written to temporary names and renamed, so a reader never sees half
    of one.
    """
    source = os.path.join(model_dir, "inference.keras")
    if not os.path.exists(source):
        raise ValueError(f"model_dir={model_dir} has no inference.keras (not a finished "
                         "clar_tf run)")
    if not path.endswith(".tflite"):
        raise ValueError(f"--tflite must name a .tflite file. Received: {path}")
    inference = loading.load_model(source)
    flatbuffer = convert(inference)
    meta = serving.clip_file_metadata(inference, run_dir.read_labels(model_dir))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    run_dir.write_bytes(path, flatbuffer)
    run_dir.write_text(path[:-len(".tflite")] + ".json", json.dumps(meta, indent=1))
    return path
