"""The serving signature every export shares (paper-independent plumbing).

`serving_functions` wraps a run's `inference.keras` into `serve(audio)`, which checks,
pads/clips and runs the model (outputs in `clar_tf.export`'s docstring), and
`metadata()`: the SavedModel's two endpoints (`clar_tf.export`); the TFLite export
(`clar_tf.tflite_export`) writes the same metadata beside its file.
"""
import tensorflow as tf

from clar_tf.audio import io as audio_io

# The error of an embedding that is not finite (`clar_tf.embed` recognises it).
OVERFLOW = ("audio samples too large: the embedding is not finite (samples are expected "
            "in [-1, 1]; beyond about 1e17 the frontend's power spectrum overflows)")


def serving_functions(inference, labels, sample_rate=audio_io.SAMPLE_RATE):
    """The two endpoint functions, `(serve, metadata)`, around `inference`.

    Args:
      inference: Keras model, audio [B, clip_length] → {"embedding"[, "logits"]} (a
        run's `inference.keras`).
      labels: class names in label order; used only when `inference` has logits.
      sample_rate: the rate the model was trained at (Hz).

    Returns:
      `serve(audio)`: float32 [B, any] → the `serving_default` outputs of `clar_tf.export`'s
      docstring; `metadata()` → {"sample_rate", "clip_length", "embedding_size": int32 [],
      "labels": string [C]}.
    """
    clip_length = int(inference.inputs[0].shape[1])
    embedding_size = int(inference.output["embedding"].shape[-1])
    has_classifier = "logits" in inference.output
    labels = list(labels) if has_classifier else []
    if has_classifier and len(labels) != inference.output["logits"].shape[-1]:
        raise ValueError(f"the run's labels name {len(labels)} classes but the model has "
                         f"{inference.output['logits'].shape[-1]} logits")

    def serve(audio):
        # Rank first (see `clar_tf.export`'s docstring), then samples, then pad/clip like
        # audio_io.pad_or_clip.
        check = tf.debugging.assert_rank(audio, 2, message="audio must be a [batch, "
                                         "samples] tensor of 16 kHz samples")
        with tf.control_dependencies([check]):
            check = tf.debugging.assert_positive(
                tf.shape(audio)[1], message="audio has no samples: each clip needs >= 1")
        with tf.control_dependencies([check]):
            audio = tf.debugging.assert_all_finite(
                audio, "audio must hold finite samples, found NaN or inf")[:, :clip_length]
        audio = tf.pad(audio, [[0, 0], [0, clip_length - tf.shape(audio)[1]]])
        # An empty batch runs one row of silence (the model needs a row) and returns none.
        batch = tf.shape(audio)[0]
        audio = tf.pad(audio, [[0, tf.maximum(0, 1 - batch)], [0, 0]])
        audio = tf.reshape(audio, [-1, clip_length])  # static shape for the model
        out = inference(audio, training=False)
        result = {"embedding": tf.debugging.assert_all_finite(
            tf.cast(out["embedding"], tf.float32)[:batch], OVERFLOW)}
        if has_classifier:
            logits = tf.cast(out["logits"], tf.float32)[:batch]
            result.update(logits=logits, probabilities=tf.nn.softmax(logits),
                          classes=tf.gather(tf.constant(labels, tf.string),
                                            tf.argmax(logits, axis=-1)))
        return result

    def metadata():
        return {"sample_rate": tf.constant(sample_rate, tf.int32),
                "clip_length": tf.constant(clip_length, tf.int32),
                "embedding_size": tf.constant(embedding_size, tf.int32),
                "labels": tf.constant(labels, tf.string, shape=[len(labels)])}

    return serve, metadata
