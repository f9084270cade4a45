"""The serving signature every export shares (paper-independent plumbing).

`serving_functions` wraps a run's `inference.keras` into `serve(audio)`, which checks,
pads/clips and runs the model (outputs in `clar_tf.export`'s docstring), `serve_frames`
(the same model on every window of a long clip, as `clar_tf.embed` cuts them) and
`metadata()`: the SavedModel's endpoints (`clar_tf.export`); the TFLite export
(`clar_tf.tflite_export`) writes the same metadata beside its file.

Both audio endpoints check their input in the graph, in this order, each failing with an
InvalidArgument error that names `audio`: rank ("audio must be a [batch, samples] tensor
... (rank 2)", with the shape received), samples ("audio has no samples"), values ("audio
must hold finite samples"); `serve_frames` then its size: at most `MAX_WINDOWS` windows
per request (clips × windows per clip), else "serve_frames runs at most <MAX_WINDOWS>
windows per request ...: send fewer or shorter clips". The dtype is the signature's
(float32).
"""
import tensorflow as tf

from clar_tf.audio import io as audio_io

# The error of an embedding that is not finite (`clar_tf.embed` recognises it).
OVERFLOW = ("audio samples too large: the embedding is not finite (samples are expected "
            "in [-1, 1]; beyond about 1e17 the frontend's power spectrum overflows)")
# The most windows `serve_frames` runs in one request, all of them one batch: clips ×
# windows per clip (with 1 s clips a 10 s recording has 19 windows, so 53 such
# recordings): what `serving_default` needs for a batch of as many 1 s clips (about 3 GB
# with the default model, from a one-off CPU measurement of 2.8 MB a window; no file).
MAX_WINDOWS = 1024


def _passed(ok, audio, *message):
    """`audio` [batch, samples] when the scalar `ok` holds; otherwise an InvalidArgument
    error of `message` (strings and tensors), and the ops after this get an empty batch.

    The ops after get `audio` through a `tf.cond` on `ok`, not merely after the assertion:
    with a control dependency alone, TF's graph optimizer (Grappler) let shape arithmetic
    run first, and a slice or pad failed with an error of its own ("slice index 1 of
    dimension 0 out of bounds" for a [16000] input of `serve_frames`); work of a refused
    size could start too.
    """
    check = tf.debugging.Assert(ok, list(message), summarize=8)
    with tf.control_dependencies([check]):
        audio = tf.cond(ok, lambda: tf.identity(audio), lambda: tf.zeros([0, 1], audio.dtype))
    audio.set_shape([None, None])
    return audio


def clip_file_metadata(inference, labels):
    """The metadata of an export file that takes one clip per row (TFLite, ONNX): the
    `metadata` signature's values but `frame_hop` (`serve_frames` is the SavedModel's),
    labels as str; JSON-ready."""
    *_, metadata = serving_functions(inference, labels)
    meta = {k: v.numpy().tolist() for k, v in metadata().items() if k != "frame_hop"}
    meta["labels"] = [name.decode() for name in meta["labels"]]
    return meta


def serving_functions(inference, labels, sample_rate=audio_io.SAMPLE_RATE,
                      max_windows=MAX_WINDOWS):
    """The three endpoint functions around `inference`.

    Args:
      inference: Keras model, audio [B, clip_length] → {"embedding"[, "logits"]} (a
        run's `inference.keras`).
      labels: class names in label order; used only when `inference` has logits.
      sample_rate: the rate the model was trained at (Hz).
      max_windows: the most windows `serve_frames` runs per request (clips × windows
        per clip); more are refused with an InvalidArgument error.

    Returns:
      `(serve, serve_frames, metadata)`: `serve(audio)`: float32 [B, any] → the
      `serving_default` outputs of `clar_tf.export`'s docstring; `serve_frames(audio)` →
      those of `serve_frames` there (the windows of `clar_tf.embed`); `metadata()` →
      {"sample_rate", "clip_length", "embedding_size", "frame_hop": int32 [], "labels":
      string [C]}.
    """
    clip_length = int(inference.inputs[0].shape[1])
    embedding_size = int(inference.output["embedding"].shape[-1])
    has_classifier = "logits" in inference.output
    labels = list(labels) if has_classifier else []
    if has_classifier and len(labels) != inference.output["logits"].shape[-1]:
        raise ValueError(f"the run's labels name {len(labels)} classes but the model has "
                         f"{inference.output['logits'].shape[-1]} logits")

    hop = clip_length // 2  # `clar_tf.embed`'s default hop

    def checked(audio):
        # Rank first (see `clar_tf.export`'s docstring), then samples, then values.
        audio = _passed(tf.equal(tf.rank(audio), 2), audio,
                        f"audio must be a [batch, samples] tensor of {sample_rate / 1000:g} "
                        "kHz samples (rank 2); received shape", tf.shape(audio))
        audio = _passed(tf.shape(audio)[1] > 0, audio,
                        "audio has no samples: each clip needs >= 1")
        return tf.debugging.assert_all_finite(
            audio, "audio must hold finite samples, found NaN or inf")

    def windows_of(length):
        """How many windows `serve_frames` cuts from clips of `length` samples."""
        return 1 + (tf.maximum(0, length - clip_length) + hop - 1) // hop

    def run(clips):
        """The model's float32 outputs on clips [N, clip_length] (N >= 0)."""
        n = tf.shape(clips)[0]
        # No clips: one row of silence runs (the model needs a row); none is returned.
        clips = tf.pad(clips, [[0, tf.maximum(0, 1 - n)], [0, 0]])
        out = inference(tf.reshape(clips, [-1, clip_length]), training=False)
        result = {"embedding": tf.debugging.assert_all_finite(
            tf.cast(out["embedding"], tf.float32)[:n], OVERFLOW)}
        if has_classifier:
            logits = tf.cast(out["logits"], tf.float32)[:n]
            result.update(logits=logits, probabilities=tf.nn.softmax(logits),
                          classes=tf.gather(tf.constant(labels, tf.string),
                                            tf.argmax(logits, axis=-1)))
        return result

    def serve(audio):
        audio = checked(audio)
        batch, length = tf.shape(audio)[0], tf.shape(audio)[1]
        # Zeros appended or the right side cut, like audio_io.pad_or_clip.
        clips = tf.pad(audio[:, :clip_length],
                       [[0, 0], [0, tf.maximum(0, clip_length - length)]])
        result = run(clips)
        result["samples_used"] = tf.fill([batch], tf.minimum(length, clip_length))
        return result

    def serve_frames(audio):
        audio = checked(audio)
        batch, length = tf.shape(audio)[0], tf.shape(audio)[1]
        total = tf.cast(batch, tf.int64) * tf.cast(windows_of(length), tf.int64)
        audio = _passed(
            total <= max_windows, audio,
            f"serve_frames runs at most {max_windows} windows per request (clips × "
            f"windows per clip, one window every {hop} samples): send fewer or shorter "
            "clips; received", batch, "clips of", length, "samples:", total, "windows")
        batch, length = tf.shape(audio)[0], tf.shape(audio)[1]
        windows = windows_of(length)
        padded = tf.pad(audio, [[0, 0], [0, (windows - 1) * hop + clip_length - length]])
        frames = tf.signal.frame(padded, clip_length, hop)  # [B, T, clip_length]
        out = run(tf.reshape(frames, [-1, clip_length]))
        shape = tf.stack([batch, windows])
        result = {f"frame_{k}": tf.reshape(v, tf.concat([shape, tf.shape(v)[1:]], 0))
                  for k, v in out.items()}
        result["embedding"] = tf.reduce_mean(result["frame_embedding"], axis=1)
        starts = tf.range(windows) * hop
        seconds = lambda samples: tf.cast(samples, tf.float32) / float(sample_rate)
        result["frame_start_s"] = tf.tile(seconds(starts)[None], [batch, 1])
        result["frame_center_s"] = tf.tile(
            seconds(starts * 2 + clip_length)[None] / 2.0, [batch, 1])
        return result

    def metadata():
        return {"sample_rate": tf.constant(sample_rate, tf.int32),
                "clip_length": tf.constant(clip_length, tf.int32),
                "embedding_size": tf.constant(embedding_size, tf.int32),
                "frame_hop": tf.constant(hop, tf.int32),
                "labels": tf.constant(labels, tf.string, shape=[len(labels)])}

    return serve, serve_frames, metadata
